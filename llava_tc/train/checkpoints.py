"""Checkpoints that are complete by construction, their rotation and selection on resume, and the run's DONE marker.

A save writes `RUN_DIR/.staging/checkpoint-N/` (every rank, every file: model, optimizer, scheduler, RNG, trainer
state, DeepSpeed's `global_stepN/` folder). Then rank 0 checks that every file the run needs is there (`Layout`),
fsyncs them, seals the folder with `COMPLETE` (a manifest: each file's size) and renames it to `RUN_DIR/checkpoint-N`
in one step, so a folder with that name is always whole. Only then are older checkpoints deleted, by step number,
each first renamed out of the `checkpoint-N` namespace (`.trash-...`) so that a kill mid-delete never leaves a
half-deleted folder that still looks like a checkpoint. Leftover `.staging`/`.trash-*` folders are removed by the next
save or resume.

On resume every candidate is checked against its manifest and the run's `Layout` (newest step first); one that lacks
a file or whose file has another size than sealed is refused with the file named, and the previous one is taken
(logged). `DONE` in the run directory is written last, atomically, once the final model is saved: sweeps skip runs
that have it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from shutil import rmtree
from typing import Any

from llava_tc.atomic import write_atomic
from llava_tc.train.weights import TRAINED_WEIGHTS

logger = logging.getLogger(__name__)

COMPLETE = "COMPLETE"
DONE = "DONE"
TRAINER_STATE = "trainer_state.json"
STAGING = ".staging"
TRASH_PREFIX = ".trash-"
OPTIMIZER = "optimizer.pt"
SCHEDULER = "scheduler.pt"
DEEPSPEED_LATEST = "latest"
FULL_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be saved or resumed from, with the folder and file at fault."""


def checkpoint_dirs(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of every `checkpoint-N` directory, oldest step first, complete or not."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))]
    return sorted(found)


def checkpoint_step(checkpoint: Path) -> int:
    match = _CHECKPOINT.match(checkpoint.name)
    if match is None:
        raise ValueError(f"{checkpoint} is not a checkpoint-N folder")
    return int(match.group(1))


@dataclass(frozen=True)
class Layout:
    """The files a checkpoint of this run must hold to resume it exactly: decided by how the run trains."""

    deepspeed: bool = False
    partial: bool = False
    """Pretrain / LoRA: `trained.safetensors` holds the trained tensors; the frozen rest is rebuilt from sources."""
    world_size: int = 1

    def missing(self, checkpoint: Path) -> list[str]:
        """What `checkpoint` lacks, one entry per missing file (or group of alternatives)."""

        def absent(name: str) -> bool:
            return not (checkpoint / name).is_file()

        missing = [TRAINER_STATE] if absent(TRAINER_STATE) else []
        if self.partial:
            missing += [TRAINED_WEIGHTS] if absent(TRAINED_WEIGHTS) else []
        elif not self.deepspeed and all(absent(name) for name in FULL_WEIGHTS):
            missing.append(" or ".join(FULL_WEIGHTS))
        rng = ["rng_state.pth"] if self.world_size <= 1 else [f"rng_state_{r}.pth" for r in range(self.world_size)]
        missing += [name for name in rng if absent(name)]
        if self.deepspeed:
            missing += self._missing_deepspeed(checkpoint)
        else:
            missing += [name for name in (OPTIMIZER, SCHEDULER) if absent(name)]
        return missing

    def _missing_deepspeed(self, checkpoint: Path) -> list[str]:
        """DeepSpeed's `latest` names its tag folder, which holds the module states and one optimizer shard per rank."""
        latest = checkpoint / DEEPSPEED_LATEST
        if not latest.is_file():
            return [DEEPSPEED_LATEST]
        tag = latest.read_text(encoding="utf-8").strip()
        folder = checkpoint / tag
        missing = [] if any(folder.glob("*model_states.pt")) else [f"{tag}/*model_states.pt"]
        shards = len(list(folder.glob("*optim_states.pt")))
        if shards < self.world_size:
            missing.append(f"{tag}/*optim_states.pt ({shards} of {self.world_size} ranks)")
        return missing


def _files(folder: Path) -> dict[str, int]:
    """Relative path -> size of every file under `folder` but the manifest."""
    return {
        path.relative_to(folder).as_posix(): path.stat().st_size
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != COMPLETE
    }


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_tree(folder: Path) -> None:
    """Files first, then the folders that name them (deepest first)."""
    for path in [*sorted(folder.rglob("*"), reverse=True), folder]:
        _fsync(path)


def seal(staging: Path, step: int, layout: Layout) -> None:
    """Verify the staged checkpoint against `layout`, flush it to disk and write its manifest (`COMPLETE`) last."""
    missing = layout.missing(staging)
    if missing:
        raise CheckpointError(f"saving checkpoint-{step}: {staging} lacks {', '.join(missing)} after every rank saved")
    _fsync_tree(staging)
    manifest = {"global_step": step, "files": _files(staging)}
    write_atomic(staging / COMPLETE, json.dumps(manifest, indent=1) + "\n")


def discard(path: Path) -> None:
    """Delete a checkpoint folder: first renamed out of the `checkpoint-N` namespace, so it never looks half-there."""
    trash = path.with_name(f"{TRASH_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}")
    os.replace(path, trash)
    rmtree(trash)


def publish(staging: Path, final: Path) -> None:
    """Rename the sealed checkpoint into place (replacing a refused, unsealed one of the same step)."""
    if final.exists():
        logger.warning("replacing %s, which resume refused, with the new save of that step", final)
        discard(final)
    os.replace(staging, final)
    _fsync(final.parent)


def rotate(run_dir: Path, newest: Path, keep: int | None) -> list[Path]:
    """Keep the `keep` newest checkpoints up to `newest` (by step, never mtime); delete the older ones."""
    if keep is None or keep <= 0:
        return []
    step = checkpoint_step(newest)
    older = [path for s, path in checkpoint_dirs(run_dir) if s <= step]
    doomed = older[: max(len(older) - keep, 0)]
    for path in doomed:
        logger.info("deleting %s (save_total_limit=%d)", path, keep)
        discard(path)
    return doomed


def clear_leftovers(run_dir: Path) -> None:
    """Remove what a killed save or rotation left: the staging folder and renamed-away checkpoints."""
    if not run_dir.is_dir():
        return
    for path in run_dir.iterdir():
        if path.is_dir() and (path.name == STAGING or path.name.startswith(TRASH_PREFIX)):
            logger.info("removing %s, left by an interrupted save", path)
            rmtree(path)


def problems(checkpoint: Path, layout: Layout) -> list[str]:
    """Why `checkpoint` cannot be resumed from ([] when it can): unsealed, a file missing or not its sealed size."""
    if not (checkpoint / COMPLETE).is_file():
        return [f"no {COMPLETE} manifest (its save did not finish)"]
    try:
        manifest = json.loads((checkpoint / COMPLETE).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return [f"unreadable {COMPLETE} manifest ({exc})"]
    found = []
    for name, size in (manifest.get("files") or {}).items():
        path = checkpoint / name
        if not path.is_file():
            found.append(f"{name} is missing")
        elif path.stat().st_size != size:
            found.append(f"{name} is {path.stat().st_size} bytes, sealed at {size} (truncated or overwritten)")
    found += [f"{name} is missing" for name in layout.missing(checkpoint)]
    return list(dict.fromkeys(found))


def latest_complete_checkpoint(run_dir: str | Path, layout: Layout | None = None) -> Path | None:
    """The newest checkpoint this run can resume from exactly; each newer one refused is logged with its reason.
    None when the run has no checkpoint; a `CheckpointError` naming every refusal when it has some but none is whole.
    """
    layout = layout or Layout()
    refused = []
    for step, path in reversed(checkpoint_dirs(run_dir)):
        reasons = problems(path, layout)
        if not reasons:
            if refused:
                logger.warning("resuming from %s, the newest complete checkpoint", path)
            return path
        logger.warning("refusing checkpoint %s (step %d): %s", path, step, "; ".join(reasons))
        refused.append(f"{path.name}: {'; '.join(reasons)}")
    if refused:
        raise CheckpointError(
            f"{run_dir}: no checkpoint can be resumed exactly ({' | '.join(refused)}); move the checkpoint-N folders"
            " away to train from the start"
        )
    return None


def write_done(run_dir: Path, summary: dict[str, Any]) -> None:
    write_atomic(run_dir / DONE, json.dumps(summary, indent=1) + "\n")


def is_done(run_dir: str | Path) -> bool:
    return (Path(run_dir) / DONE).is_file()
