"""Checkpoints in for training: `init_from` refuses a checkpoint that would leave a component newly initialised (or
that holds tensors the model does not use) unless allowed by name; `pretrained_mm` takes our pretrain runs and LLaVA's
`mm_projector.bin` (a run directory or the file itself)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import LlavaConfig, LlavaForConditionalGeneration

from llava_tc.data.image_processor import image_processor_for
from llava_tc.model import LlavaTCProcessor, build_model
from llava_tc.train.arguments import ModelArguments, load_config
from llava_tc.train.components import build_components
from llava_tc.train.weights import LLAVA_MM_WEIGHTS, load_init_from, load_mm_weights
from tests.data_fixtures import build_chat_tokenizer
from tests.tiny import clip_config, llama_config


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A finetune-like run directory: model, tokenizer and processor."""
    torch.manual_seed(0)
    tokenizer = build_chat_tokenizer("qwen")
    model = build_model(clip_config(), llama_config(vocab_size=len(tokenizer)), tokenizer=tokenizer).model
    folder = tmp_path / "run"
    model.save_pretrained(folder)
    LlavaTCProcessor.for_model(model, tokenizer, image_processor_for(model.config.vision_config)).save_pretrained(
        folder
    )
    return folder


def drop_tensors(folder: Path, prefix: str) -> list[str]:
    state = load_file(str(folder / "model.safetensors"))
    dropped = sorted(name for name in state if name.startswith(prefix))
    save_file({k: v for k, v in state.items() if not k.startswith(prefix)}, str(folder / "model.safetensors"))
    return dropped


def test_init_from_a_complete_run_loads_every_tensor(run_dir: Path) -> None:
    model, tokenizer, _ = build_components(ModelArguments(init_from=str(run_dir)))
    saved = load_file(str(run_dir / "model.safetensors"))
    own = model.state_dict()
    assert all(torch.equal(own[name], tensor) for name, tensor in saved.items())
    assert tokenizer.convert_tokens_to_ids("<image>") == model.config.image_token_id


def test_init_from_refuses_missing_projector_weights_unless_allowed(run_dir: Path, caplog) -> None:
    dropped = drop_tensors(run_dir, "projector.")
    assert dropped == ["projector.0.bias", "projector.0.weight", "projector.2.bias", "projector.2.weight"]
    with pytest.raises(
        ValueError, match=r"no weights for 4 tensors of \['projector'\].*allow_new_weights: \['projector'\]"
    ):
        load_init_from(run_dir)
    with caplog.at_level(logging.WARNING, logger="llava_tc.train.weights"):
        model = load_init_from(run_dir, allow_new_weights=["projector"])
    assert "4 tensors of ['projector'] newly initialised" in caplog.text
    saved = load_file(str(run_dir / "model.safetensors"))
    assert all(torch.equal(model.state_dict()[name], tensor) for name, tensor in saved.items())


def test_init_from_refuses_unused_tensors(run_dir: Path) -> None:
    state = load_file(str(run_dir / "model.safetensors"))
    save_file({**state, "projector.9.weight": torch.zeros(2, 2)}, str(run_dir / "model.safetensors"))
    with pytest.raises(ValueError, match=r"tensors this model does not use: \['projector.9.weight'\]"):
        load_init_from(run_dir)


def test_init_from_an_hf_llava_folder_points_at_the_import_command(tmp_path: Path) -> None:
    config = LlavaConfig(vision_config=clip_config().to_dict(), text_config=llama_config().to_dict(), image_token_id=5)
    LlavaForConditionalGeneration(config).save_pretrained(tmp_path / "hf")
    with pytest.raises(ValueError, match="llava-tc import-hf-llava"):
        load_init_from(tmp_path / "hf")


def test_allow_new_weights_names_are_checked_with_the_config(tmp_path: Path) -> None:
    values = {"model": {"init_from": "x", "allow_new_weights": ["projecter"]}, "data": {"data": ["d.json"]}}
    with pytest.raises(ValueError, match=r"allow_new_weights = \[.projecter.\]: unknown component\(s\)"):
        load_config(values)


def llava_projector_file(path: Path, in_dim: int, out_dim: int, extra: dict | None = None) -> dict[str, torch.Tensor]:
    """What LLaVA's pretrain writes for mlp2x_gelu: `model.mm_projector.{0,2}.{weight,bias}`."""
    generator = torch.Generator().manual_seed(7)
    state = {
        "model.mm_projector.0.weight": torch.randn(out_dim, in_dim, generator=generator),
        "model.mm_projector.0.bias": torch.randn(out_dim, generator=generator),
        "model.mm_projector.2.weight": torch.randn(out_dim, out_dim, generator=generator),
        "model.mm_projector.2.bias": torch.randn(out_dim, generator=generator),
        **(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state


def test_pretrained_mm_takes_llavas_mm_projector_bin(tmp_path: Path) -> None:
    model = build_model(clip_config(), llama_config()).model
    state = llava_projector_file(tmp_path / "llava-pretrain" / LLAVA_MM_WEIGHTS, 32, 48)
    for source in (tmp_path / "llava-pretrain", tmp_path / "llava-pretrain" / LLAVA_MM_WEIGHTS):
        model.projector.apply(lambda m: torch.nn.init.zeros_(m.weight) if isinstance(m, torch.nn.Linear) else None)
        loaded = load_mm_weights(model, source)
        assert loaded == ["projector.0.bias", "projector.0.weight", "projector.2.bias", "projector.2.weight"]
        assert torch.equal(model.projector[0].weight, state["model.mm_projector.0.weight"])
        assert torch.equal(model.projector[2].bias, state["model.mm_projector.2.bias"])


def test_pretrained_mm_errors_name_the_files(tmp_path: Path) -> None:
    model = build_model(clip_config(), llama_config()).model
    llava_projector_file(tmp_path / "extra" / LLAVA_MM_WEIGHTS, 32, 48, {"model.embed_tokens.weight": torch.zeros(2)})
    with pytest.raises(ValueError, match=r"not LLaVA's mm_projector.*model.embed_tokens.weight"):
        load_mm_weights(model, tmp_path / "extra")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"neither mm_projector.safetensors .* nor mm_projector.bin"):
        load_mm_weights(model, tmp_path / "empty")
    pooled = build_model(clip_config(), llama_config(), compressor="tokenpacker", num_visual_tokens=4).model
    llava_projector_file(tmp_path / "ok" / LLAVA_MM_WEIGHTS, pooled.compressor.out_dim, 48)
    with pytest.raises(ValueError, match=r"model tensors missing from the file: .*compressor"):
        load_mm_weights(pooled, tmp_path / "ok")  # LLaVA's file has no compressor: only `identity` can use it alone
