"""QueCC and TokenPacker evaluate their published maths in a cheaper order; these tests hold them to that maths.

The reference below is the straightforward form: MLPs on every patch, the depthwise `Conv2d` itself, key and value
projections of every patch, and `scaled_dot_product_attention` over each window. The compressors must match it in
outputs and in every parameter's gradient, for windows where the key/value MLP's last Linear is folded into the query
side and where it is not, and with one or several heads: in float64 to rounding level, in float32 to ~1e-5.
"""

from collections.abc import Callable

import pytest
import torch
from torch.nn import functional as F

from llava_tc.model.compressors import QueCC, VisionFeatures, VisionGeometry, build_compressor
from llava_tc.model.compressors.windows import WindowCrossAttention, to_windows

QUERY_DIM = 12


def reference_attention(
    attention: WindowCrossAttention, queries: torch.Tensor, key_values: torch.Tensor, side: int
) -> torch.Tensor:
    batch, count, dim = queries.shape
    heads, head_dim = attention.num_heads, dim // attention.num_heads
    windows = to_windows(key_values, side)
    q = attention.q_proj(queries).reshape(batch * count, 1, heads, head_dim).transpose(1, 2)
    k = attention.k_proj(windows).reshape(batch * count, -1, heads, head_dim).transpose(1, 2)
    v = attention.v_proj(windows).reshape(batch * count, -1, heads, head_dim).transpose(1, 2)
    attended = F.scaled_dot_product_attention(q, k, v)
    return attention.out_proj(attended.transpose(1, 2).reshape(batch, count, dim))


def reference_quecc(model: QueCC, features: VisionFeatures, query: torch.Tensor) -> torch.Tensor:
    question = model.query_norm(model.query_proj(query))
    conditioned = model.token_mlp(features.grid + question[:, None, None, :])
    queries = model.downsample(conditioned.permute(0, 3, 1, 2)).flatten(2).transpose(1, 2)
    return reference_attention(model.attention, queries, model.key_value_mlp(features.multi), model.side)


def reference_tokenpacker(model: torch.nn.Module, features: VisionFeatures) -> torch.Tensor:
    low_res = F.interpolate(
        features.grid.permute(0, 3, 1, 2), size=(model.side, model.side), mode="bilinear", align_corners=False
    )
    queries = low_res.flatten(2).transpose(1, 2)
    key_values = model.key_value_mlp(features.multi)
    return queries + reference_attention(model.attention, model.query_norm(queries), key_values, model.side)


def inputs(
    geometry: VisionGeometry, dtype: torch.dtype = torch.float32, seed: int = 0
) -> tuple[VisionFeatures, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    side, width = geometry.grid_size, geometry.hidden_size
    grid = torch.randn(2, side, side, width, generator=generator, dtype=dtype)
    multi = torch.randn(2, side, side, geometry.multi_dim, generator=generator, dtype=dtype)
    return VisionFeatures(grid=grid, multi=multi), torch.randn(2, QUERY_DIM, generator=generator, dtype=dtype)


Result = tuple[torch.Tensor, dict[str, torch.Tensor]]


def outputs_and_gradients(model: torch.nn.Module, run: Callable[[], torch.Tensor]) -> Result:
    model.zero_grad(set_to_none=True)
    out = run()
    (out * torch.linspace(-1.0, 1.0, out.numel()).view_as(out)).sum().backward()
    return out.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


# (relative tolerance of outputs, of gradients, absolute floor) per dtype. The floor covers gradients that are 0 in
# exact arithmetic (e.g. the query side's when each window holds a single key), where both forms give rounding noise.
TOLERANCES = {torch.float64: (1e-10, 1e-10, 1e-12), torch.float32: (1e-5, 1e-4, 1e-6)}


def assert_close_to(fast: torch.Tensor, reference: torch.Tensor, relative: float, floor: float, name: str) -> None:
    """The two forms sum in different orders: compare against the tensor's own scale."""
    scale = float(reference.abs().max())
    torch.testing.assert_close(fast, reference, rtol=0.0, atol=relative * scale + floor, msg=lambda m: f"{name}: {m}")


def assert_same(fast: Result, reference: Result, dtype: torch.dtype) -> None:
    output_tolerance, gradient_tolerance, floor = TOLERANCES[dtype]
    assert_close_to(fast[0], reference[0], output_tolerance, floor, "output")
    for name, grad in reference[1].items():
        if name.endswith("k_proj.bias"):
            # Its true gradient is 0 (a constant added to every score of a window): both forms give rounding noise.
            assert fast[1][name].abs().max() < 1e3 * floor and grad.abs().max() < 1e3 * floor
            continue
        assert_close_to(fast[1][name], grad, gradient_tolerance, floor, name)


# (hidden size, heads, V). The key/value MLP's last Linear is folded into the query side when 2 * heads < keys per
# window: one head at V = 1 (one 24x24 window), 16 and 144, four heads at V = 16. It is applied to the keys first at
# V = 576 (one key per window) and for four heads at V = 144 (4 keys per window).
CASES = [(8, None, 1), (8, None, 16), (8, None, 144), (8, None, 576), (16, 4, 16), (16, 4, 144), (16, 4, 576)]


@pytest.mark.parametrize("dtype", list(TOLERANCES))
@pytest.mark.parametrize(("width", "heads", "count"), CASES)
def test_quecc_matches_the_reference_maths(width: int, heads: int | None, count: int, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    geometry = VisionGeometry(grid_size=24, hidden_size=width, num_multi_layers=2)
    model = build_compressor("quecc", geometry, count, query_dim=QUERY_DIM, num_heads=heads).to(dtype)
    features, query = inputs(geometry, dtype)
    fast = outputs_and_gradients(model, lambda: model(features, query))
    reference = outputs_and_gradients(model, lambda: reference_quecc(model, features, query))
    assert_same(fast, reference, dtype)


@pytest.mark.parametrize("dtype", list(TOLERANCES))
@pytest.mark.parametrize(("width", "heads", "count"), CASES)
def test_tokenpacker_matches_the_reference_maths(width: int, heads: int | None, count: int, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    geometry = VisionGeometry(grid_size=24, hidden_size=width, num_multi_layers=2)
    model = build_compressor("tokenpacker", geometry, count, num_heads=heads).to(dtype)
    features, _ = inputs(geometry, dtype)
    fast = outputs_and_gradients(model, lambda: model(features))
    reference = outputs_and_gradients(model, lambda: reference_tokenpacker(model, features))
    assert_same(fast, reference, dtype)


def test_gradients_reach_frozen_inputs_when_they_require_them() -> None:
    geometry = VisionGeometry(grid_size=24, hidden_size=16, num_multi_layers=2)
    model = build_compressor("quecc", geometry, 16, query_dim=QUERY_DIM)
    features, query = inputs(geometry)
    grads = []
    for run in (lambda f: model(f, query), lambda f: reference_quecc(model, f, query)):
        leaves = VisionFeatures(
            grid=features.grid.clone().requires_grad_(), multi=features.multi.clone().requires_grad_()
        )
        run(leaves).square().sum().backward()
        grads.append((leaves.grid.grad, leaves.multi.grad))
    for fast, reference, name in zip(*grads, ("grid", "multi"), strict=True):
        assert_close_to(fast, reference, *TOLERANCES[torch.float32][1:], name)
