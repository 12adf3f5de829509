"""QueCC and TokenPacker evaluate the authors' maths in a cheaper order; these tests hold their gradients to it.

The reference is the restated authors' module (tests/upstream_reference.py: MLPs on every patch, the real depthwise
`Conv2d`, `nn.MultiheadAttention` on the windows) with the same weights. Outputs and every parameter's gradient
must match, mapped to our names by `convert_upstream_weights`, for one key per window (V = 576) up to one window per
image (V = 1), with one or several heads: in float64 to rounding level, in float32 to ~1e-5.
"""

from collections.abc import Callable

import pytest
import torch
from torch import nn

from llava_tc.model.compressors import VisionFeatures, VisionGeometry
from llava_tc.model.compressors.upstream import convert_upstream_weights
from tests.upstream_reference import (
    authors_quecc,
    authors_tokenpacker,
    ours_from,
    part,
    quecc_inputs,
    tokenpacker_inputs,
)

QUERY_DIM, LLM_WIDTH = 12, 20


def inputs(geometry: VisionGeometry, dtype: torch.dtype, seed: int = 0) -> tuple[VisionFeatures, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    side, width = geometry.grid_size, geometry.hidden_size
    grid = torch.randn(2, side, side, width, generator=generator, dtype=dtype)
    multi = torch.randn(2, side, side, geometry.multi_dim, generator=generator, dtype=dtype)
    return VisionFeatures(grid=grid, multi=multi), torch.randn(2, QUERY_DIM, generator=generator, dtype=dtype)


Result = tuple[torch.Tensor, dict[str, torch.Tensor]]


def outputs_and_gradients(modules: list[nn.Module], run: Callable[[], torch.Tensor]) -> Result:
    for module in modules:
        module.zero_grad(set_to_none=True)
    out = run()
    (out * torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
    return out.detach(), {name: p.grad.clone() for module in modules for name, p in module.named_parameters()}


# (relative tolerance of outputs, of gradients, absolute floor) per dtype.
TOLERANCES = {torch.float64: (1e-10, 1e-10, 1e-12), torch.float32: (1e-5, 1e-4, 1e-6)}


def assert_close_to(
    fast: torch.Tensor, reference: torch.Tensor, relative: float, floor: float, name: str, context: float = 0.0
) -> None:
    """The two forms sum in different orders: compare against the tensor's own scale, or a share of `context` (the
    largest gradient) for sums with heavy cancellation, whose rounding error follows their terms, not their total."""
    scale = max(float(reference.abs().max()), context)
    torch.testing.assert_close(fast, reference, rtol=0.0, atol=relative * scale + floor, msg=lambda m: f"{name}: {m}")


def split_zero_gradients(gradients: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Gradients that are 0 in exact arithmetic (the key LayerNorm's bias and the key part of the in-projection bias
    each add one constant to every score of a window, which the softmax ignores), apart from the rest: both forms
    give rounding noise there, so those are only held to be small."""
    rest = dict(gradients)
    query_part, key_part, value_part = rest.pop("attention.in_proj_bias").chunk(3)
    rest["attention.in_proj_bias[query, value]"] = torch.cat([query_part, value_part])
    return rest, torch.cat([key_part, rest.pop("key_mlp.3.bias")])


def assert_same(fast: Result, reference: Result, dtype: torch.dtype) -> None:
    output_tolerance, gradient_tolerance, floor = TOLERANCES[dtype]
    assert_close_to(fast[0], reference[0], output_tolerance, floor, "output")
    assert set(fast[1]) == set(reference[1])
    (fast_grads, fast_zero), (reference_grads, reference_zero) = map(split_zero_gradients, (fast[1], reference[1]))
    largest = max(float(grad.abs().max()) for grad in reference_grads.values())
    for name, grad in reference_grads.items():
        assert_close_to(fast_grads[name], grad, gradient_tolerance, floor, name, context=0.05 * largest)
    assert max(float(fast_zero.abs().max()), float(reference_zero.abs().max())) < gradient_tolerance * largest + floor


def our_names(source: str, gradients: dict[str, torch.Tensor], projector: str | None) -> dict[str, torch.Tensor]:
    """The reference's gradients under our parameter names (compressor's first, then the projector's)."""
    converted = convert_upstream_weights(source, gradients, projector=projector)
    return part(converted, "compressor") | {f"mlp.{k}": v for k, v in part(converted, "projector").items()}


# (hidden size, heads, V): one window per image (V = 1) down to one key per window (V = 576).
CASES = [(8, 1, 1), (8, 1, 16), (8, 1, 144), (8, 1, 576), (16, 8, 1), (16, 8, 16), (16, 8, 144), (16, 8, 576)]


@pytest.mark.parametrize("dtype", list(TOLERANCES))
@pytest.mark.parametrize(("width", "heads", "count"), CASES)
def test_quecc_matches_the_reference_maths(width: int, heads: int, count: int, dtype: torch.dtype) -> None:
    geometry = VisionGeometry(grid_size=24, hidden_size=width, num_multi_layers=2)
    authors = authors_quecc(geometry, count, QUERY_DIM, heads, seed=1).to(dtype)
    ours, _ = ours_from("quecc", authors, geometry, count, QUERY_DIM, heads, projector=None)
    features, query = inputs(geometry, dtype)
    fast = outputs_and_gradients([ours], lambda: ours(features, query))
    reference = outputs_and_gradients([authors], lambda: authors(quecc_inputs(features, query)))
    assert_same(fast, (reference[0], our_names("quecc", reference[1], None)), dtype)


@pytest.mark.parametrize("dtype", list(TOLERANCES))
@pytest.mark.parametrize(("width", "heads", "count"), CASES)
def test_tokenpacker_matches_the_reference_maths(width: int, heads: int, count: int, dtype: torch.dtype) -> None:
    geometry = VisionGeometry(grid_size=24, hidden_size=width, num_multi_layers=2)
    authors = authors_tokenpacker(geometry, count, LLM_WIDTH, heads, seed=1).to(dtype)
    ours, mlp = ours_from("tokenpacker", authors, geometry, count, QUERY_DIM, heads, projector="mlp2x_gelu")
    features, _ = inputs(geometry, dtype)
    model = nn.ModuleDict({"compressor": ours, "mlp": mlp})
    fast = outputs_and_gradients([model], lambda: mlp(ours(features)))
    reference = outputs_and_gradients([authors], lambda: authors(tokenpacker_inputs(features)))
    fast_named = {name.removeprefix("compressor."): grad for name, grad in fast[1].items()}
    assert_same((fast[0], fast_named), (reference[0], our_names("tokenpacker", reference[1], "mlp2x_gelu")), dtype)


def test_gradients_reach_frozen_inputs_when_they_require_them() -> None:
    geometry = VisionGeometry(grid_size=24, hidden_size=16, num_multi_layers=2)
    authors = authors_quecc(geometry, 16, QUERY_DIM, 8, seed=2)
    ours, _ = ours_from("quecc", authors, geometry, 16, QUERY_DIM, 8, projector=None)
    features, query = inputs(geometry, torch.float32)
    grads = []
    for run in (lambda f: ours(f, query), lambda f: authors(quecc_inputs(f, query))):
        leaves = VisionFeatures(
            grid=features.grid.clone().requires_grad_(), multi=features.multi.clone().requires_grad_()
        )
        run(leaves).square().sum().backward()
        grads.append((leaves.grid.grad, leaves.multi.grad))
    for fast, reference, name in zip(*grads, ("grid", "multi"), strict=True):
        assert_close_to(fast, reference, *TOLERANCES[torch.float32][1:], name)
