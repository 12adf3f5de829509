"""The demo's progress bar follows runs through their `log.jsonl`, and its memory figure counts worker processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from llava_tc.demo.progress import GridProgress, logged_step
from llava_tc.demo.resources import MemoryWatch


def test_logged_step_reads_the_last_complete_line(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    assert logged_step(log) == 0
    log.write_text('{"step": 20, "loss": 1.0}\n{"step": 40, "loss": 0.9}\n{"step": 6', encoding="utf-8")
    assert logged_step(log) == 40


def test_grid_progress_weights_runs_by_cost() -> None:
    bar = GridProgress({"small": 1.0, "big": 3.0}, enabled=False)
    bar.advance("big", 0.5)
    assert bar.completed == 1.5
    bar.advance("big", 0.25)  # a fraction never goes back
    bar.done("small")
    assert bar.completed == 2.5 and bar.finished == 1
    bar.close()


def test_memory_watch_counts_children() -> None:
    watch = MemoryWatch()
    watch.sample()
    alone = watch.peak_total_mb
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; b = bytearray(300 * 2**20); sys.stdout.write('ok\\n');"
         " sys.stdout.flush(); time.sleep(30)"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ok\n"
        time.sleep(0.2)
        watch.sample()
    finally:
        child.kill()
        child.wait()
    assert watch.peak_total_mb > alone + 250
    assert watch.peak_mb >= watch.peak_total_mb
