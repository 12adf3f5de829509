"""What the demo measures about itself: wall time per step and per run, and peak memory."""

from __future__ import annotations

import resource
from dataclasses import dataclass, field

import psutil


@dataclass
class Timings:
    """Wall seconds per pipeline step (and per run for training and evaluation)."""

    steps: dict[str, float] = field(default_factory=dict)
    train: dict[str, float] = field(default_factory=dict)
    evaluate: dict[str, float] = field(default_factory=dict)


class MemoryWatch:
    """Peak resident memory of the demo: this process and its worker processes together. The workers run at the
    same time, so the peak of each process alone would understate it; the sum is sampled whenever `sample` is called
    (every second while runs train) and never falls below this process's own kernel-recorded peak."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak_total_mb = 0.0

    def sample(self) -> None:
        total = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:  # a worker that exited between listing and reading
                continue
        self.peak_total_mb = max(self.peak_total_mb, total / 2**20)

    @property
    def peak_mb(self) -> float:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KB
        return max(self.peak_total_mb, own)
