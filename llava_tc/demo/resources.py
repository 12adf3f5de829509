"""What the demo measures about itself: wall time per step and per run, and peak memory."""

from __future__ import annotations

import resource
from dataclasses import dataclass, field


@dataclass
class Timings:
    """Wall seconds per pipeline step (and per run for training and evaluation)."""

    steps: dict[str, float] = field(default_factory=dict)
    train: dict[str, float] = field(default_factory=dict)
    evaluate: dict[str, float] = field(default_factory=dict)


def peak_rss_mb() -> float:
    """Peak resident memory of this process and of its (waited-for) children, in MB (Linux reports KB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024
