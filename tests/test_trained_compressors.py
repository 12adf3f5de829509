"""The trained compressors (resampler/MQT, m3, llava_mini) against references written from their authors' code.

References: gordonhu608/MQT-LLaVA `llava/model/multimodal_projector/builder.py` (92c35d06), mu-cai/matryoshka-mm
`llava/model/llava_arch.py` (ec30cd37), ictnlp/LLaVA-Mini `llavamini/model/llavamini_arch.py` (47da1137). The
position tables are MAE's numpy code; the attention is written out head by head (not nn.MultiheadAttention), in
float64, with non-trivial LayerNorm affines.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from llava_tc.model.compressors import (
    NestedCompressor,
    VisionFeatures,
    VisionGeometry,
    build_compressor,
    get_compressor_class,
    is_nested,
    list_compressors,
)
from llava_tc.model.compressors.base import achievable_square_counts
from llava_tc.model.compressors.nested import format_counts

GEOMETRY = VisionGeometry(grid_size=24, hidden_size=16, num_multi_layers=2)
QUERY_DIM = 12
SQUARES = [side * side for side in range(1, 25)]  # every count a g x g query grid allows, up to 576


def features(batch: int = 2, seed: int = 0, dtype: torch.dtype = torch.float64) -> VisionFeatures:
    generator = torch.Generator().manual_seed(seed)
    grid = torch.randn(batch, 24, 24, GEOMETRY.hidden_size, generator=generator, dtype=dtype)
    multi = torch.randn(batch, 24, 24, GEOMETRY.multi_dim, generator=generator, dtype=dtype)
    return VisionFeatures(grid=grid, multi=multi)


def perturb_norms(module: torch.nn.Module, seed: int = 3) -> None:
    """Non-trivial LayerNorm affines (and biases), so a reference that skips one cannot agree by accident."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, torch.nn.LayerNorm):
                sub.weight.copy_(1 + 0.5 * torch.randn(sub.weight.shape, generator=generator))
                sub.bias.copy_(0.3 * torch.randn(sub.bias.shape, generator=generator))
            if isinstance(sub, torch.nn.MultiheadAttention):
                sub.in_proj_bias.copy_(0.2 * torch.randn(sub.in_proj_bias.shape, generator=generator))
                sub.out_proj.bias.copy_(0.2 * torch.randn(sub.out_proj.bias.shape, generator=generator))


def mae_sincos(dim: int, side: int) -> np.ndarray:
    """facebookresearch/mae util/pos_embed.py, as both authors copy it."""

    def one_d(embed_dim: int, pos: np.ndarray) -> np.ndarray:
        omega = np.arange(embed_dim // 2, dtype=np.float32)
        omega /= embed_dim / 2.0
        omega = 1.0 / 10000**omega
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    grid_h = np.arange(side, dtype=np.float32)
    grid_w = np.arange(side, dtype=np.float32)
    grid = np.stack(np.meshgrid(grid_w, grid_h), axis=0).reshape([2, 1, side, side])
    return np.concatenate([one_d(dim // 2, grid[0]), one_d(dim // 2, grid[1])], axis=1)


def layer_norm(x: torch.Tensor, norm: torch.nn.LayerNorm) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mha: torch.nn.MultiheadAttention) -> torch.Tensor:
    """nn.MultiheadAttention's maths written out: in-projections, per-head softmax(q k^T / sqrt(d)) v, out-proj."""
    w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
    b_q, b_k, b_v = mha.in_proj_bias.chunk(3)
    heads = mha.num_heads
    q, k, v = q @ w_q.T + b_q, k @ w_k.T + b_k, v @ w_v.T + b_v
    batch, width = v.shape[0], v.shape[-1]
    head = width // heads

    def split(x: torch.Tensor) -> torch.Tensor:
        return x.expand(batch, -1, -1).reshape(batch, x.shape[-2], heads, head).transpose(1, 2)

    scores = split(q) @ split(k).transpose(-1, -2) / head**0.5
    mixed = (scores.softmax(-1) @ split(v)).transpose(1, 2).reshape(batch, -1, width)
    return mixed @ mha.out_proj.weight.T + mha.out_proj.bias


def bicubic(table: torch.Tensor, side: int) -> torch.Tensor:
    """Upstream's get_abs_pos: F.interpolate bicubic, align_corners=False, in float."""
    source = round(table.shape[0] ** 0.5)
    grid = table.float().reshape(1, source, source, -1).permute(0, 3, 1, 2)
    out = F.interpolate(grid, size=(side, side), mode="bicubic", align_corners=False)
    return out.permute(0, 2, 3, 1).flatten(0, 2).to(table.dtype)


def mqt_reference(module, feats: VisionFeatures, count: int) -> torch.Tensor:
    """MQT-LLaVA Resampler.forward (one layer): attn(ln_q(q + pos[:n]), ln_k(pos on the patch grid), ln_v(x)) @ proj;
    the table stored in float16 (`.half()`)."""
    layer = module.layers[0]
    pos = torch.from_numpy(mae_sincos(GEOMETRY.hidden_size, module.query_side)).half().to(torch.float64)
    x = feats.grid.flatten(1, 2)
    q = layer_norm(module.query[:count] + pos[:count], layer.ln_q)[None]
    k = layer_norm(bicubic(pos, 24), layer.ln_k)[None]
    return attention(q, k, layer_norm(x, layer.ln_v), layer.attn) @ module.proj


def llava_mini_reference(module, feats: VisionFeatures) -> torch.Tensor:
    """LLaVA-Mini Resampler.forward: attn(ln_q(Q) + pos, ln_kv(x) + pos on the patch grid, ln_kv(x))."""
    side = round(module.num_visual_tokens**0.5)
    pos = torch.from_numpy(mae_sincos(GEOMETRY.hidden_size, side)).to(torch.float64)
    x = layer_norm(feats.grid.flatten(1, 2), module.ln_kv)
    key_pos = pos if side == 24 else bicubic(pos, 24)
    q = (layer_norm(module.query, module.ln_q) + pos)[None]
    return attention(q, x + key_pos, x, module.attn)


def m3_reference(grid: torch.Tensor, count: int) -> torch.Tensor:
    """matryoshka_vis_token_process: avg_pool2d with pool_size = stride = int(sqrt(H*W / scale))."""
    n, h, w, c = grid.shape
    pool = int(np.sqrt(h * w / count))
    return F.avg_pool2d(grid.permute(0, 3, 1, 2), kernel_size=pool, stride=pool).permute(0, 2, 3, 1).reshape(n, -1, c)


def relative(ours: torch.Tensor, reference: torch.Tensor) -> float:
    with torch.no_grad():
        return float((ours - reference).abs().max() / reference.abs().max())


@pytest.mark.parametrize("count", SQUARES)
def test_resampler_is_mqt_at_every_query_grid(count: int) -> None:
    torch.manual_seed(count)
    module = build_compressor("resampler", GEOMETRY, count, num_heads=4).double()
    perturb_norms(module)
    feats = features()
    assert relative(module(feats), mqt_reference(module, feats, count)) < 1e-12


@pytest.mark.parametrize("count", SQUARES)
def test_llava_mini_compressor_is_the_authors_at_every_query_grid(count: int) -> None:
    torch.manual_seed(count)
    module = build_compressor("llava_mini", GEOMETRY, count, num_heads=2).double()
    perturb_norms(module)
    feats = features()
    assert relative(module(feats), llava_mini_reference(module, feats)) < 1e-10


@pytest.mark.parametrize("count", achievable_square_counts(24))
def test_m3_is_the_authors_pooling_at_every_scale(count: int) -> None:
    module = build_compressor("m3", GEOMETRY, count)
    feats = features()
    assert torch.equal(module(feats), m3_reference(feats.grid, count))
    assert module.servable_counts() == achievable_square_counts(24)


def test_nested_resampler_prefix_is_the_full_models_first_queries() -> None:
    """Every m <= V_max: the m-token output is what the V_max model computes with its first m queries."""
    torch.manual_seed(0)
    full = build_compressor("resampler", GEOMETRY, 36, nested=True).double()
    perturb_norms(full)
    feats = features()
    everything = full(feats)
    for count in range(1, 37):
        full.use_token_count(count)
        out = full(feats)
        assert out.shape == (2, count, GEOMETRY.hidden_size)
        assert torch.allclose(out, everything[:, :count], rtol=0, atol=1e-12), count
        assert relative(out, mqt_reference(full, feats, count)) < 1e-12
    # Same parameters at every m: a V=4 module with the V_max=36 weights is the V_max module at 4.
    small = build_compressor("resampler", GEOMETRY, 4, max_visual_tokens=36, nested=True).double()
    small.load_state_dict(full.state_dict())
    assert torch.allclose(small(feats), everything[:, :4], rtol=0, atol=1e-12)


def test_resampler_extensions_change_the_function_and_keep_the_prefix() -> None:
    torch.manual_seed(0)
    base = build_compressor("resampler", GEOMETRY, 16).double()
    content = build_compressor("resampler", GEOMETRY, 16, keys="content").double()
    content.load_state_dict(base.state_dict())
    feats = features()
    assert not torch.allclose(base(feats), content(feats))
    deep = build_compressor("resampler", GEOMETRY, 16, num_layers=2).double()
    everything = deep(feats)
    deep.use_token_count(5)
    assert torch.allclose(deep(feats), everything[:, :5], rtol=0, atol=1e-12)


def test_mqt_keys_are_positions_only_so_attention_weights_ignore_content() -> None:
    """Upstream's rule (keys = LayerNorm(positions)): scaling an image's patches changes no attention weight, so the
    output moves linearly with the values' LayerNorm output only."""
    torch.manual_seed(0)
    module = build_compressor("resampler", GEOMETRY, 4).double()
    feats = features(batch=1)
    shifted = VisionFeatures(grid=feats.grid * 3.0 + 1.0)  # LayerNorm(3x + 1) == LayerNorm(x) up to eps
    assert torch.allclose(module(feats), module(shifted), atol=1e-6)


def test_authors_defaults_and_initialisation() -> None:
    torch.manual_seed(0)
    mqt = build_compressor("resampler", VisionGeometry(grid_size=24, hidden_size=64), 256)
    layer = mqt.layers[0]
    assert layer.attn.num_heads == 16 and layer.ln_q.eps == layer.ln_k.eps == layer.ln_v.eps == 1e-6
    assert mqt.nested_counts == list(range(2, 258, 2))  # get_matry_n('second_stage')
    # trunc_normal_(std=.02) truncates at +-2 in absolute terms (torch's default a, b): a plain normal(0, 0.02).
    assert float(mqt.query.detach().std()) == pytest.approx(0.02, rel=0.1)
    assert float(mqt.proj.detach().std()) == pytest.approx(64**-0.5, rel=0.1)
    assert torch.count_nonzero(layer.attn.in_proj_bias) == 0 and torch.count_nonzero(layer.attn.out_proj.bias) == 0
    half = torch.from_numpy(mae_sincos(64, 16)).half().float()
    assert torch.equal(mqt.pos_embed, half)
    mini = build_compressor("llava_mini", VisionGeometry(grid_size=24, hidden_size=64), 4)
    assert mini.attn.num_heads == 8 and mini.ln_q.eps == 1e-5 and mini.prefusion_layers == 4
    assert float(mini.query.detach().std()) == pytest.approx(0.02, rel=0.5)
    bound = 1 / 64**0.5  # nn.Linear's default (kaiming uniform, a=sqrt(5)) on the out-projection
    assert float(mini.attn.out_proj.weight.detach().abs().max()) <= bound


def trainable_compressors() -> list[str]:
    """Every registered compressor that has parameters of its own (driven by the registry)."""
    names = []
    for name in list_compressors():
        module = build_compressor(name, GEOMETRY, default_count(name), query_dim=QUERY_DIM)
        if any(True for _ in module.parameters()):
            names.append(name)
    return names


def default_count(name: str) -> int:
    return 576 if name == "identity" else 16


def test_every_compressor_with_parameters_is_covered() -> None:
    assert {"resampler", "llava_mini", "quecc", "tokenpacker"} <= set(trainable_compressors())


@pytest.mark.parametrize("name", trainable_compressors())
def test_gradients_reach_every_trainable_parameter(name: str) -> None:
    compressor = build_compressor(name, GEOMETRY, default_count(name), query_dim=QUERY_DIM)
    query = torch.randn(2, QUERY_DIM) if compressor.needs_query else None
    compressor(features(dtype=torch.float32), query).square().sum().backward()
    missing = [n for n, p in compressor.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"{name}: no gradient for {missing}"


NESTED = [name for name in list_compressors() if issubclass(get_compressor_class(name), NestedCompressor)]


@pytest.mark.parametrize("name", NESTED)
def test_nested_compressors_serve_every_servable_count(name: str) -> None:
    compressor = build_compressor(name, GEOMETRY, 36)
    assert is_nested(compressor)
    feats = features(batch=1, dtype=torch.float32)
    for count in compressor.servable_counts():
        compressor.use_token_count(count)
        assert compressor(feats).shape == (1, count, compressor.out_dim)
    assert set(compressor.training_counts()) <= set(compressor.servable_counts())
    with pytest.raises(ValueError, match="valid counts are"):
        compressor.use_token_count(max(compressor.servable_counts()) + 1)


def test_step_counts_follow_each_authors_rule() -> None:
    torch.manual_seed(0)
    mqt = build_compressor("resampler", GEOMETRY, 16, nested=True, nested_counts=[1, 4, 16])
    drawn = {mqt.step_token_counts()[0] for _ in range(60)}
    assert drawn == {1, 4, 16}
    assert build_compressor("resampler", GEOMETRY, 16).step_token_counts() == [16]  # not nested: V_max only
    m3 = build_compressor("m3", GEOMETRY, 36, scales=[1, 9, 36])
    assert m3.step_token_counts() == [1, 9, 36]  # mean over the scales, every step
    sampled = build_compressor("m3", GEOMETRY, 36, scales=[1, 9, 36], mode="sample")
    assert {sampled.step_token_counts()[0] for _ in range(60)} == {1, 9, 36}


@pytest.mark.parametrize(
    ("name", "count", "options", "message"),
    [
        ("resampler", 10, {}, r"max_visual_tokens=10 must be a square.*9 and 16"),
        ("resampler", 4, {"max_visual_tokens": 16, "nested_counts": [0, 4]}, r"nested_counts"),
        ("resampler", 20, {"max_visual_tokens": 16}, r"num_visual_tokens=20 is not one.*1, 2, \.\.\., 16"),
        ("resampler", 4, {"keys": "both"}, r"keys='both'"),
        ("llava_mini", 8, {}, r"num_visual_tokens=8 must be a square"),
        ("m3", 25, {}, r"num_visual_tokens=25 .*valid counts are 1, 4, 9"),
        ("m3", 4, {"scales": [1, 25]}, r"num_visual_tokens=25 is impossible"),
        ("m3", 4, {"scales": [1, 9]}, r"num_visual_tokens=4 is not one.*1, 9"),
        ("m3", 4, {"mode": "all"}, r"mode 'all'"),
    ],
)
def test_impossible_settings_are_clear_errors(name: str, count: int, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_compressor(name, GEOMETRY, count, **options)


def test_counts_are_listed_compactly() -> None:
    assert format_counts(list(range(1, 577))) == "1, 2, ..., 576"
    assert format_counts(list(range(2, 258, 2))) == "2, 4, ..., 256 (every 2)"
    assert format_counts([1, 9, 36]) == "1, 9, 36"


def test_the_compressor_page_example_runs() -> None:
    """docs/compressors.md's Python example, as written."""
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "compressors.md"
    (block,) = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    namespace: dict = {}
    exec(compile(block, "docs/compressors.md", "exec"), namespace)
    assert tuple(namespace["mini"](namespace["patches"]).shape) == (2, 1, 1024)
