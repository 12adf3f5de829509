"""A training child that a test kills with SIGKILL while it saves a checkpoint (run in a forkserver process).

`child(config, phase, reached, slow_s, step)` trains `config`; at the save of `step` the chosen phase of the save is
slowed down to about `slow_s` seconds (a slow disk: files are written in two halves with a pause between, folders
deleted file by file) and `reached` is set when it begins, so the parent's kill lands before, inside or after it.

PYTEST_DONT_REWRITE: imported by a forkserver, it holds no assertions.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PHASES = ("model", "optimizer", "scheduler", "rng", "trainer_state", "seal", "publish", "rotate")
_FILE_PHASES = {"optimizer.pt": "optimizer", "scheduler.pt": "scheduler", "rng_state.pth": "rng"}


def _write_slowly(path: str | Path, data: bytes, slow_s: float) -> None:
    with open(path, "wb") as handle:
        handle.write(data[: len(data) // 2])
        handle.flush()
        time.sleep(slow_s)
        handle.write(data[len(data) // 2 :])


def child(config: dict[str, Any], phase: str, reached: Any, slow_s: float, step: int) -> None:
    import safetensors.torch
    import torch
    from transformers import TrainerCallback, TrainerState

    import llava_tc.train.checkpoints as checkpoints
    import llava_tc.train.trainer as trainer
    import llava_tc.train.weights as weights
    from llava_tc.train import train

    torch.set_num_threads(1)
    armed = {"on": False}

    def hit(name: str) -> bool:
        if armed["on"] and name == phase and not reached.is_set():
            reached.set()
            return True
        return False

    real_torch_save = torch.save

    def torch_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        name = _FILE_PHASES.get(Path(f).name) if isinstance(f, (str, Path)) else None
        if name is None or not hit(name):
            real_torch_save(obj, f, *args, **kwargs)
            return
        buffer = io.BytesIO()
        real_torch_save(obj, buffer, *args, **kwargs)
        _write_slowly(f, buffer.getvalue(), slow_s)

    real_save_file = weights.save_file

    def save_file(tensors: dict, filename: str, metadata: dict | None = None) -> None:
        if not hit("model"):
            real_save_file(tensors, filename, metadata=metadata)
            return
        _write_slowly(filename, safetensors.torch.save(tensors, metadata=metadata), slow_s)

    real_save_to_json = TrainerState.save_to_json

    def save_to_json(self: TrainerState, json_path: str) -> None:
        if not hit("trainer_state"):
            real_save_to_json(self, json_path)
            return
        staged = Path(json_path + ".whole")
        real_save_to_json(self, str(staged))
        data = staged.read_bytes()
        staged.unlink()
        _write_slowly(json_path, data, slow_s)

    def paused(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not hit(name):
                return function(*args, **kwargs)
            time.sleep(slow_s / 2)
            result = function(*args, **kwargs)
            time.sleep(slow_s / 2)
            return result

        return wrapper

    real_rmtree = checkpoints.rmtree

    def rmtree_slowly(path: Path) -> None:
        if phase == "rotate" and reached.is_set():
            files = [p for p in Path(path).rglob("*") if p.is_file()]
            for file in files:
                file.unlink()
                time.sleep(slow_s / max(len(files), 1))
        real_rmtree(path)

    real_rotate = trainer.rotate

    def rotate(*args: Any, **kwargs: Any) -> Any:
        hit("rotate")
        return real_rotate(*args, **kwargs)

    torch.save = torch_save
    weights.save_file = save_file
    TrainerState.save_to_json = save_to_json
    trainer.seal = paused("seal", trainer.seal)
    trainer.publish = paused("publish", trainer.publish)
    trainer.rotate = rotate
    checkpoints.rmtree = rmtree_slowly

    class Arm(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            armed["on"] = state.global_step == step

    train(config, callbacks=[Arm()])
