"""`quecc` and `tokenpacker` compute the authors' functions: outputs against the restated authors' modules
(tests/upstream_reference.py) with the same random weights, for every token count a 24x24 grid allows, 1 and 8 heads,
a batch of 3, in float64 (to rounding) and float32; plus the structural facts that the old versions got wrong and
the authors' initialisation, standalone and inside the VLM."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from llava_tc.model.builder import build_model
from llava_tc.model.compressors import VisionFeatures, VisionGeometry, achievable_square_counts, build_compressor
from llava_tc.model.compressors.tokenpacker import bilinear_queries
from tests.tiny import clip_config, llama_config
from tests.upstream_reference import (
    authors_quecc,
    authors_tokenpacker,
    ours_from,
    quecc_inputs,
    tokenpacker_inputs,
)

GEOMETRY = VisionGeometry(grid_size=24, hidden_size=16, num_multi_layers=2)
QUERY_DIM, LLM_WIDTH, BATCH = 12, 20, 3
COUNTS = achievable_square_counts(GEOMETRY.grid_size)  # 1, 4, 9, 16, 36, 64, 144, 576
# Max |ours - authors'| relative to the output's largest magnitude.
TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-5}


def inputs(dtype: torch.dtype, seed: int = 0) -> tuple[VisionFeatures, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    shape = (BATCH, GEOMETRY.grid_size, GEOMETRY.grid_size)
    grid = torch.randn(*shape, GEOMETRY.hidden_size, generator=generator, dtype=torch.float64)
    multi = torch.randn(*shape, GEOMETRY.multi_dim, generator=generator, dtype=torch.float64)
    query = torch.randn(BATCH, QUERY_DIM, generator=generator, dtype=torch.float64)
    return VisionFeatures(grid=grid.to(dtype), multi=multi.to(dtype)), query.to(dtype)


def relative_difference(ours: torch.Tensor, authors: torch.Tensor) -> float:
    return float((ours - authors).abs().max() / authors.abs().max())


@pytest.mark.parametrize("dtype", list(TOLERANCE))
@pytest.mark.parametrize("heads", [1, 8])
@pytest.mark.parametrize("count", COUNTS)
def test_quecc_is_the_authors_module(count: int, heads: int, dtype: torch.dtype) -> None:
    authors = authors_quecc(GEOMETRY, count, QUERY_DIM, heads, seed=count + heads).to(dtype)
    ours, _ = ours_from("quecc", authors, GEOMETRY, count, QUERY_DIM, heads, projector=None)
    features, query = inputs(dtype)
    with torch.no_grad():
        expected = authors(quecc_inputs(features, query))
        got = ours(features, query)
    assert got.shape == expected.shape == (BATCH, count, GEOMETRY.hidden_size)
    assert relative_difference(got, expected) < TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", list(TOLERANCE))
@pytest.mark.parametrize("heads", [1, 8])
@pytest.mark.parametrize("count", COUNTS)
def test_tokenpacker_is_the_authors_module(count: int, heads: int, dtype: torch.dtype) -> None:
    """Upstream's TokenPacker ends in the MLP to the LLM width: ours is the compressor + the mlp2x_gelu projector."""
    authors = authors_tokenpacker(GEOMETRY, count, LLM_WIDTH, heads, seed=count + heads).to(dtype)
    ours, projector = ours_from("tokenpacker", authors, GEOMETRY, count, QUERY_DIM, heads, projector="mlp2x_gelu")
    features, _ = inputs(dtype)
    with torch.no_grad():
        expected = authors(tokenpacker_inputs(features))
        got = projector(ours(features))
    assert got.shape == expected.shape == (BATCH, count, LLM_WIDTH)
    assert relative_difference(got, expected) < TOLERANCE[dtype]


def test_tokenpacker_interpolates_half_precision_in_float32() -> None:
    grid = torch.randn(2, 24, 24, 16, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    for side in (2, 3, 4, 6, 8):
        upstream = nn.functional.interpolate(grid.float().permute(0, 3, 1, 2), size=(side, side), mode="bilinear")
        expected = upstream.permute(0, 2, 3, 1).reshape(2, side * side, 16).to(torch.bfloat16)
        assert torch.equal(bilinear_queries(grid, side), expected)


@pytest.mark.parametrize("name", ["quecc", "tokenpacker"])
def test_no_residual_the_output_is_the_attention_result(name: str) -> None:
    """With the attention's out-projection weight at zero the output is its bias, whatever the input: nothing of
    the query is added back (the old TokenPacker added the low-res query)."""
    compressor = build_compressor(name, GEOMETRY, 16, query_dim=QUERY_DIM)
    with torch.no_grad():
        compressor.attention.out_proj.weight.zero_()
        compressor.attention.out_proj.bias.copy_(torch.linspace(-1, 1, GEOMETRY.hidden_size))
    features, query = inputs(torch.float32)
    out = compressor(features, query if compressor.needs_query else None)
    assert torch.equal(out, compressor.attention.out_proj.bias.expand_as(out))


@pytest.mark.parametrize("name", ["quecc", "tokenpacker"])
def test_keys_and_values_come_from_separate_mlps_each_with_a_layernorm(name: str) -> None:
    """Keys at zero (key MLP's LayerNorm gain and bias zeroed) make each window's attention uniform, so the output is
    the out-projection of the value projection of the window mean of the value MLP, which therefore is separate."""
    compressor = build_compressor(name, GEOMETRY, 16, query_dim=QUERY_DIM).double()
    for mlp in (compressor.key_mlp, compressor.value_mlp):
        assert [type(m) for m in mlp] == [nn.Linear, nn.GELU, nn.Linear, nn.LayerNorm] and mlp[-1].eps == 1e-6
    assert compressor.key_mlp[0].weight is not compressor.value_mlp[0].weight
    with torch.no_grad():
        compressor.key_mlp[-1].weight.zero_()
        compressor.key_mlp[-1].bias.zero_()
        compressor.value_mlp[-1].bias.normal_()
    features, query = inputs(torch.float64)
    out = compressor(features, query if compressor.needs_query else None)
    side, k = 4, 6
    values = compressor.value_mlp(features.multi).reshape(BATCH, side, k, side, k, -1).mean(dim=(2, 4))
    attention = compressor.attention
    value_weight, value_bias = attention.in_proj_weight.chunk(3)[2], attention.in_proj_bias.chunk(3)[2]
    expected = attention.out_proj(nn.functional.linear(values, value_weight, value_bias)).reshape(BATCH, 16, -1)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_authors_defaults_heads_eps_and_bias_free_query_projection() -> None:
    quecc = build_compressor("quecc", GEOMETRY, 16, query_dim=QUERY_DIM)
    packer = build_compressor("tokenpacker", GEOMETRY, 16)
    assert quecc.attention.num_heads == packer.attention.num_heads == 8
    norms = [m for c in (quecc, packer) for m in c.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == 4 + 3 and all(m.eps == 1e-6 for m in norms)
    assert packer.query_proj.bias is None
    with pytest.raises(ValueError, match=r"width 20 .* not divisible by num_heads=8.*1, 2, 4, 5, 10, 20"):
        build_compressor("tokenpacker", VisionGeometry(grid_size=24, hidden_size=20), 16)


def assert_uniform(tensor: torch.Tensor, bound: float, name: str) -> None:
    """U(-bound, bound): within the bound, and the standard deviation of a uniform (bound / sqrt 3) within 10%."""
    assert float(tensor.abs().max()) <= bound, name
    assert abs(float(tensor.std()) / (bound / math.sqrt(3)) - 1) < 0.1, name


def assert_quecc_initialisation(compressor: nn.Module) -> None:
    """PyTorch's defaults (kaiming-uniform weights and uniform biases within 1/sqrt(fan_in); LayerNorms at 1 and 0),
    nn.MultiheadAttention's Xavier in-projection with zero biases."""
    for name, module in compressor.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)) and module is not compressor.attention.out_proj:
            bound = 1 / math.sqrt(module.weight[0].numel())
            assert_uniform(module.weight, bound, name)
            assert float(module.bias.abs().max()) <= bound, name
        elif isinstance(module, nn.LayerNorm):
            assert torch.equal(module.weight, torch.ones_like(module.weight)) and not module.bias.any(), name
    attention = compressor.attention
    width = attention.embed_dim
    assert_uniform(attention.in_proj_weight, math.sqrt(6 / (width + 3 * width)), "in_proj_weight")
    assert not attention.in_proj_bias.any() and not attention.out_proj.bias.any()
    assert_uniform(attention.out_proj.weight, 1 / math.sqrt(width), "out_proj.weight")


def assert_tokenpacker_initialisation(compressor: nn.Module) -> None:
    """Truncated normal std 0.02 with zero bias for every Linear (out-projection too), Xavier in-projection."""
    for name, module in compressor.named_modules():
        if isinstance(module, nn.Linear):
            assert abs(float(module.weight.std()) / 0.02 - 1) < 0.15, name
            assert module.bias is None or not module.bias.any(), name
        elif isinstance(module, nn.LayerNorm):
            assert torch.equal(module.weight, torch.ones_like(module.weight)) and not module.bias.any(), name
    attention = compressor.attention
    assert_uniform(attention.in_proj_weight, math.sqrt(6 / (4 * attention.embed_dim)), "in_proj_weight")
    assert not attention.in_proj_bias.any()


WIDE = VisionGeometry(grid_size=24, hidden_size=64, num_multi_layers=2)


def test_standalone_modules_start_from_the_authors_initialisation() -> None:
    torch.manual_seed(0)
    assert_quecc_initialisation(build_compressor("quecc", WIDE, 1, query_dim=48))
    assert_tokenpacker_initialisation(build_compressor("tokenpacker", WIDE, 1))


@pytest.mark.parametrize("name", ["quecc", "tokenpacker"])
def test_the_vlm_keeps_the_authors_initialisation_and_loads_over_it(name: str, tmp_path) -> None:
    """HF's generic init (normal(0.02) for every Linear and Conv) must not replace the compressor's own; a saved model
    reloads with its own values, not re-initialised ones."""
    torch.manual_seed(0)
    vision = clip_config(hidden_size=64, intermediate_size=64)
    model = build_model(vision, llama_config(), compressor=name, num_visual_tokens=1).model
    (assert_quecc_initialisation if name == "quecc" else assert_tokenpacker_initialisation)(model.compressor)
    model.save_pretrained(tmp_path)
    reloaded = type(model).from_pretrained(tmp_path)
    for (key, saved), loaded in zip(model.state_dict().items(), reloaded.state_dict().values(), strict=True):
        assert torch.equal(saved, loaded), key
