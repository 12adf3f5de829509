"""Issue 14 item 3 for evaluation and export: a run's own checkpoint with a tensor missing, an extra tensor, a tensor
of another shape, or a truncated weights file is refused with the file and tensor named (before: the missing tensor
was evaluated with random weights and scored, truncation gave a traceback that named no file)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from llava_tc.eval.loading import load_for_eval
from llava_tc.model import LlavaTCForConditionalGeneration
from llava_tc.model.strict_load import load_pretrained_strict, verify_safetensors
from tests.eval_fixtures import save_run, synthetic_dataset


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("load_faults")
    return save_run(synthetic_dataset(str(root / "data"), 1), root / "run", "pool")


def _damaged(run_dir: Path, tmp_path: Path, edit) -> Path:
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for path in run_dir.iterdir():
        if path.is_file():
            (damaged / path.name).write_bytes(path.read_bytes())
    weights = load_file(str(damaged / "model.safetensors"))
    save_file(edit(weights), str(damaged / "model.safetensors"), metadata={"format": "pt"})
    return damaged


def _first(weights: dict[str, torch.Tensor], prefix: str) -> str:
    return sorted(name for name in weights if name.startswith(prefix))[0]


def test_the_intact_run_loads(run_dir: Path) -> None:
    assert load_for_eval(run_dir).model.num_visual_tokens == 4


def test_missing_tensor_is_named(run_dir: Path, tmp_path: Path) -> None:
    dropped: list[str] = []

    def drop(weights):
        dropped.append(_first(weights, "language_model."))
        return {k: v for k, v in weights.items() if k != dropped[0]}

    damaged = _damaged(run_dir, tmp_path, drop)
    with pytest.raises(ValueError, match=rf"damaged: refusing a partial load: tensors missing .*{dropped[0]}"):
        load_for_eval(damaged)
    with pytest.raises(ValueError, match="tensors missing"):  # export and merge-lora load through the same door
        load_pretrained_strict(LlavaTCForConditionalGeneration, damaged)


def test_unexpected_tensor_is_named(run_dir: Path, tmp_path: Path) -> None:
    damaged = _damaged(run_dir, tmp_path, lambda w: {**w, "projector.extra.weight": torch.zeros(2)})
    with pytest.raises(ValueError, match=r"tensors the model does not have \(1: \['projector.extra.weight'\]"):
        load_for_eval(damaged)


def test_tensor_of_another_shape_is_named(run_dir: Path, tmp_path: Path) -> None:
    def reshape(weights):
        name = _first(weights, "projector.")
        return {**weights, name: torch.zeros(weights[name].shape[0] + 1, *weights[name].shape[1:])}

    with pytest.raises(ValueError, match=r"damaged: .*projector\."):
        load_for_eval(_damaged(run_dir, tmp_path, reshape))


@pytest.mark.parametrize("keep", [4, 200, -10])
def test_truncated_weights_file_is_named(run_dir: Path, tmp_path: Path, keep: int) -> None:
    """Cut inside the length prefix, inside the header, and 10 bytes before the end of the data."""
    damaged = _damaged(run_dir, tmp_path, dict)
    weights = damaged / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:keep])
    with pytest.raises(ValueError, match=r"damaged/model\.safetensors: \d+ bytes"):
        load_for_eval(damaged)
    with pytest.raises(ValueError, match="truncated"):
        verify_safetensors(weights)
