"""The authors' weights under our names (`convert_upstream_weights`) and in a model folder (`llava-tc
import-projector`): every accepted layout, the round trip to identical outputs, and errors that name the key."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from llava_tc.cli import main
from llava_tc.model import LlavaTCForConditionalGeneration, build_model
from llava_tc.model.compressors import VisionFeatures
from llava_tc.model.compressors.upstream import convert_upstream_weights
from llava_tc.train.weights import save_mm_weights
from tests.tiny import clip_config, llama_config
from tests.upstream_reference import (
    AuthorsQueCC,
    AuthorsTokenPacker,
    quecc_inputs,
    randomize,
    tokenpacker_inputs,
)

COUNT = 4  # on the tiny tower's 12 x 12 grid: windows of 6 x 6


def tiny_model(compressor: str, projector: str = "mlp2x_gelu") -> LlavaTCForConditionalGeneration:
    torch.manual_seed(0)
    return build_model(
        clip_config(), llama_config(), compressor=compressor, num_visual_tokens=COUNT, projector=projector
    ).model


def authors_module(model: LlavaTCForConditionalGeneration, seed: int = 0, count: int = COUNT) -> nn.Module:
    """The authors' module (QueCC: its whole mm_projector) sized for `model`, with random weights."""
    geometry = model.compressor.geometry
    grid, width, llm = geometry.grid_size, geometry.hidden_size, model.config.text_config.hidden_size
    scale = grid // int(count**0.5)
    if model.config.compressor == "quecc":
        module: nn.Module = nn.Sequential(
            AuthorsQueCC(grid, width, geometry.multi_dim, llm, scale),
            nn.Linear(width, llm),
            nn.GELU(),
            nn.Linear(llm, llm),
        )
    else:
        module = AuthorsTokenPacker(grid, width, width, geometry.multi_dim, llm, scale)
    randomize(module, seed)
    return module


def features(model: LlavaTCForConditionalGeneration) -> tuple[VisionFeatures, torch.Tensor]:
    geometry = model.compressor.geometry
    generator = torch.Generator().manual_seed(1)
    shape = (2, geometry.grid_size, geometry.grid_size)
    grid = torch.randn(*shape, geometry.hidden_size, generator=generator)
    multi = torch.randn(*shape, geometry.multi_dim, generator=generator)
    return VisionFeatures(grid, multi), torch.randn(2, model.config.text_config.hidden_size, generator=generator)


def authors_output(authors: nn.Module, compressor: str, feats: VisionFeatures, query: torch.Tensor) -> torch.Tensor:
    return authors(quecc_inputs(feats, query) if compressor == "quecc" else tokenpacker_inputs(feats))


def mm_projector_bin(authors: nn.Module, path) -> None:
    """As LLaVA's trainer saves it: the mm_projector's state dict under `model.mm_projector.`."""
    torch.save({f"model.mm_projector.{k}": v for k, v in authors.state_dict().items()}, path)


@pytest.mark.parametrize("compressor", ["quecc", "tokenpacker"])
def test_authors_state_dict_to_ours_gives_the_authors_outputs(compressor: str) -> None:
    model = tiny_model(compressor)
    authors = authors_module(model)
    for state in (authors.state_dict(), {f"model.mm_projector.{k}": v for k, v in authors.state_dict().items()}):
        converted = convert_upstream_weights(compressor, state)
        assert set(converted) == {
            name for name in model.state_dict() if name.split(".")[0] in ("compressor", "projector")
        }
        model.load_state_dict(converted, strict=False)
        feats, query = features(model)
        with torch.no_grad():
            ours = model.projector(model.compressor(feats, query if compressor == "quecc" else None))
            torch.testing.assert_close(ours, authors_output(authors, compressor, feats, query), rtol=1e-5, atol=1e-6)


def test_quecc_module_alone_and_with_a_linear_projector() -> None:
    model = tiny_model("quecc", projector="linear")
    geometry = model.compressor.geometry
    quecc = AuthorsQueCC(geometry.grid_size, geometry.hidden_size, geometry.multi_dim, 48, 6)
    state = quecc.state_dict()
    alone = convert_upstream_weights("quecc", state)
    assert set(alone) == {name for name in model.state_dict() if name.startswith("compressor.")}
    assert alone["compressor.attention.in_proj_weight"] is state["clip_attn.in_proj_weight"]
    sequential = nn.Sequential(quecc, nn.Linear(geometry.hidden_size, 48))
    state = sequential.state_dict()
    with_linear = convert_upstream_weights("quecc", state)
    assert with_linear["projector.weight"] is state["1.weight"]
    assert set(with_linear) - set(alone) == {"projector.weight", "projector.bias"}


def test_tokenpacker_names_map_onto_ours() -> None:
    state = authors_module(tiny_model("tokenpacker")).state_dict()
    converted = convert_upstream_weights("tokenpacker", state)
    assert converted["compressor.key_mlp.3.weight"] is state["ln_k_1.weight"]
    assert converted["compressor.value_mlp.2.bias"] is state["v_proj_1.2.bias"]
    assert converted["compressor.query_proj.weight"] is state["q_proj_1.weight"]
    assert converted["projector.2.weight"] is state["mlp.2.weight"]


def test_a_bad_or_missing_key_is_an_error_that_names_it() -> None:
    authors = authors_module(tiny_model("quecc"))
    state = {f"model.mm_projector.{k}": v for k, v in authors.state_dict().items()}
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['model.mm_projector.0.k_proj.1.weight'\]"):
        convert_upstream_weights("quecc", state | {"model.mm_projector.0.k_proj.1.weight": torch.zeros(1)})
    del state["model.mm_projector.0.clip_attn.in_proj_bias"]
    with pytest.raises(ValueError, match=r"missing key\(s\) \['0.clip_attn.in_proj_bias'\]"):
        convert_upstream_weights("quecc", state)
    packer = authors_module(tiny_model("tokenpacker")).state_dict()
    del packer["ln_v_1.bias"]
    with pytest.raises(ValueError, match=r"missing key\(s\) \['ln_v_1.bias'\]"):
        convert_upstream_weights("tokenpacker", packer)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['model.embed_tokens.weight'\]"):
        convert_upstream_weights("tokenpacker", packer | {"model.embed_tokens.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="unknown upstream source 'resampler'; valid: quecc, tokenpacker"):
        convert_upstream_weights("resampler", packer)


def test_the_mlp_depth_must_match_the_models_projector() -> None:
    authors = authors_module(tiny_model("quecc"))
    with pytest.raises(ValueError, match=r"linear projector: unknown key\(s\) \['3.bias', '3.weight'\]"):
        convert_upstream_weights("quecc", authors.state_dict(), projector="linear")
    with pytest.raises(ValueError, match="ends in an mlp2x_gelu MLP; the model has 'linear'"):
        convert_upstream_weights(
            "tokenpacker", authors_module(tiny_model("tokenpacker")).state_dict(), projector="linear"
        )


@pytest.mark.parametrize("compressor", ["quecc", "tokenpacker"])
def test_import_projector_writes_a_model_folder_that_reloads_with_the_authors_weights(compressor, tmp_path) -> None:
    model = tiny_model(compressor)
    model.save_pretrained(tmp_path / "model")
    authors = authors_module(model)
    mm_projector_bin(authors, tmp_path / "mm_projector.bin")
    assert (
        main(["import-projector", "--source", compressor, str(tmp_path / "mm_projector.bin"), str(tmp_path / "model")])
        == 0
    )
    reloaded = LlavaTCForConditionalGeneration.from_pretrained(tmp_path / "model")
    for name, value in convert_upstream_weights(compressor, authors.state_dict()).items():
        assert torch.equal(reloaded.get_parameter(name), value), name
    untouched = [n for n in model.state_dict() if n.split(".")[0] not in ("compressor", "projector")]
    assert all(torch.equal(model.state_dict()[n], reloaded.state_dict()[n]) for n in untouched)
    feats, query = features(model)
    with torch.no_grad():
        ours = reloaded.projector(reloaded.compressor(feats, query if compressor == "quecc" else None))
        torch.testing.assert_close(ours, authors_output(authors, compressor, feats, query), rtol=1e-5, atol=1e-6)


def test_import_projector_into_a_pretrain_run_from_a_full_llava_checkpoint(tmp_path, capsys) -> None:
    """A released LLaVA checkpoint holds the LLM too: only the `mm_projector.` keys are read, the rest counted."""
    model = tiny_model("tokenpacker")
    model.config.save_pretrained(tmp_path)
    save_mm_weights(model, tmp_path)
    authors = authors_module(model)
    full = {f"model.mm_projector.{k}": v.contiguous() for k, v in authors.state_dict().items()}
    save_file(full | {"model.embed_tokens.weight": torch.zeros(3, 2)}, str(tmp_path / "llava.safetensors"))
    assert (
        main(["import-projector", "--source", "tokenpacker", str(tmp_path / "llava.safetensors"), str(tmp_path)]) == 0
    )
    assert "left out 1 tensors outside mm_projector." in capsys.readouterr().out
    saved = load_file(str(tmp_path / "mm_projector.safetensors"))
    assert torch.equal(saved["compressor.key_mlp.3.bias"], authors.ln_k_1.bias.detach())
    assert set(saved) == set(convert_upstream_weights("tokenpacker", authors.state_dict()))


def test_import_projector_refuses_a_shape_mismatch_naming_the_tensor_and_writes_nothing(tmp_path, capsys) -> None:
    model = tiny_model("quecc")
    model.save_pretrained(tmp_path / "model")
    before = (tmp_path / "model" / "model.safetensors").read_bytes()
    files = sorted(p.name for p in (tmp_path / "model").iterdir())
    mm_projector_bin(authors_module(model, count=16), tmp_path / "other_v.bin")  # 3 x 3 windows, not 6 x 6
    assert main(["import-projector", "--source", "quecc", str(tmp_path / "other_v.bin"), str(tmp_path / "model")]) == 2
    assert "compressor.downsample.weight has shape (32, 1, 6, 6) here but (32, 1, 3, 3)" in capsys.readouterr().err
    assert (
        main(["import-projector", "--source", "tokenpacker", str(tmp_path / "other_v.bin"), str(tmp_path / "model")])
        == 2
    )
    assert "the model's compressor is 'quecc', not 'tokenpacker'" in capsys.readouterr().err
    assert (tmp_path / "model" / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == files  # no temporary file left behind
