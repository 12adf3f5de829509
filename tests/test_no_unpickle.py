"""Issue 14 item 9: evaluating or importing a folder never unpickles anything. Every `torch.load` in the package
passes `weights_only=True`, nothing calls `pickle.load(s)`, and a booby-trapped `.bin` (a pickle whose loading would
create a file) is refused by the eval loader and the upstream-projector importers without running its payload.
Resuming training does unpickle DeepSpeed/torch files (docs/training.md: a run folder must be trusted)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from llava_tc.eval.loading import load_for_eval
from llava_tc.model.import_projector_cli import load_upstream
from llava_tc.train.weights import llava_projector_state
from tests.eval_fixtures import save_run, synthetic_dataset

PACKAGE = Path(__file__).resolve().parents[1] / "llava_tc"


class Payload:
    """Unpickling this calls `open(path, "w")`: the file appears only if something unpickled it unsafely."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def _calls(tree: ast.AST, attribute: str, owner: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == attribute
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == owner
    ]


def test_every_torch_load_is_weights_only_and_nothing_calls_pickle() -> None:
    checked = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in _calls(tree, "load", "torch"):
            flags = {k.arg: k.value for k in call.keywords}
            ok = isinstance(flags.get("weights_only"), ast.Constant) and flags["weights_only"].value is True
            assert ok, f"{path}:{call.lineno}: torch.load without weights_only=True"
            checked += 1
        for name in ("load", "loads", "Unpickler"):
            assert not _calls(tree, name, "pickle"), f"{path}: pickle.{name}"
    assert checked >= 2  # the LLaVA projector and the upstream QueCC/TokenPacker importers


def test_a_trapped_pickle_is_refused_everywhere_a_folder_is_only_read(tmp_path: Path) -> None:
    sentinel = tmp_path / "payload-ran"
    trap = tmp_path / "trap.bin"
    torch.save({"model.mm_projector.0.weight": Payload(sentinel)}, trap)

    run = save_run(synthetic_dataset(str(tmp_path / "data"), 1), tmp_path / "run")
    (run / "model.safetensors").unlink()
    (run / "pytorch_model.bin").write_bytes(trap.read_bytes())
    with pytest.raises(ValueError, match=r"run: cannot load the model weights \(UnpicklingError"):
        load_for_eval(run)
    with pytest.raises(Exception, match="Weights only load failed"):
        llava_projector_state(trap)
    with pytest.raises(Exception, match="Weights only load failed"):
        load_upstream(trap)
    assert not sentinel.exists()
