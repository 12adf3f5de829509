"""Timing utilities shared by the suites: warm-up, repeats, interleaved rounds, robust statistics, machine facts.

Why interleave: on a shared machine the load drifts over seconds. Running A B A B ... (with the order flipped every
other round) exposes every contender to the same drift, and the per-round ratio B/A cancels most of it, so ratios are
reported as the median of paired per-round ratios rather than the ratio of two medians.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True)
class Stats:
    """Summary of repeated measurements (seconds, or whatever unit the samples carry)."""

    median: float
    q1: float
    q3: float
    min: float
    max: float
    n: int
    samples: tuple[float, ...]

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "iqr": self.iqr, "samples": list(self.samples)}


def summarize(samples: list[float]) -> Stats:
    """Median, quartiles and range; quartiles fall back to min/max when there are too few samples to split."""
    if not samples:
        raise ValueError("no samples to summarize")
    ordered = sorted(samples)
    if len(ordered) >= 4:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1, q3 = ordered[0], ordered[-1]
    return Stats(
        median=statistics.median(ordered),
        q1=q1,
        q3=q3,
        min=ordered[0],
        max=ordered[-1],
        n=len(ordered),
        samples=tuple(samples),
    )


def synchronize(device: torch.device | str) -> None:
    """Wait for queued device work, so a wall-clock reading covers it (a no-op on CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_once(fn: Callable[[], Any], device: torch.device | str = "cpu") -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def interleaved(
    contenders: dict[str, Callable[[], Any]],
    warmup: int,
    repeats: int,
    device: torch.device | str = "cpu",
) -> dict[str, list[float]]:
    """Seconds per call of each contender, measured in rounds that run every contender once, order flipped each round.

    Warm-up runs each contender `warmup` times first (allocator, autograd graph and kernel caches settle).
    """
    names = list(contenders)
    for name in names:
        for _ in range(warmup):
            contenders[name]()
    synchronize(device)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(repeats):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            samples[name].append(time_once(contenders[name], device))
    return samples


def paired_ratio(numerator: list[float], denominator: list[float]) -> Stats:
    """Per-round ratios numerator/denominator from an interleaved run (same round = same machine load)."""
    return summarize([a / b for a, b in zip(numerator, denominator, strict=True)])


def machine_description() -> dict[str, Any]:
    """What the numbers were measured on: CPU model and cores, threads, load, library versions, GPU if any."""
    import transformers

    cpu_model = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    description: dict[str, Any] = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cpu_model": cpu_model,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "torch_threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "memory_gib": _memory_gib(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        description.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            cuda_version=torch.version.cuda,
            gpu_count=torch.cuda.device_count(),
        )
    return description


def _memory_gib() -> float | None:
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return None
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return None


def write_results(directory: Path, suite: str, payload: dict[str, Any]) -> Path:
    """Write `<suite>_<UTC timestamp>.json` and a `<suite>_latest.json` copy; returns the timestamped path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(payload, indent=2, sort_keys=False, default=_jsonable)
    path = directory / f"{suite}_{stamp}.json"
    path.write_text(text + "\n")
    (directory / f"{suite}_latest.json").write_text(text + "\n")
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, Stats):
        return value.as_dict()
    if isinstance(value, (torch.dtype, torch.device)):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
