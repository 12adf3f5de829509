"""Projectors from compressed visual tokens to the LLM width, with LLaVA's names: `linear`, `mlp{N}x_gelu`."""

from __future__ import annotations

import re

from torch import nn

_MLP_PATTERN = re.compile(r"^mlp(\d+)x_gelu$")


def projector_depth(name: str) -> int:
    """Number of Linear layers of the projector called `name` (0 for `linear`); an unknown name is an error."""
    if name == "linear":
        return 0
    match = _MLP_PATTERN.match(name)
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"unknown projector {name!r}; valid: 'linear' or 'mlp<N>x_gelu' with N >= 1 (e.g. mlp2x_gelu)")
    return int(match.group(1))


def build_projector(name: str, in_dim: int, out_dim: int) -> nn.Module:
    """`linear` = one Linear; `mlpNx_gelu` = N Linears with GELU between (LLaVA-1.5 uses mlp2x_gelu)."""
    depth = projector_depth(name)
    if depth == 0:
        return nn.Linear(in_dim, out_dim)
    layers: list[nn.Module] = [nn.Linear(in_dim, out_dim)]
    for _ in range(depth - 1):
        layers += [nn.GELU(), nn.Linear(out_dim, out_dim)]
    return nn.Sequential(*layers)


def projector_flops(name: str, in_dim: int, out_dim: int, num_tokens: int) -> int:
    """Forward FLOPs of the projector over `num_tokens` tokens."""
    if name == "linear":
        return 2 * num_tokens * in_dim * out_dim
    depth = int(_MLP_PATTERN.match(name).group(1)) if _MLP_PATTERN.match(name) else 1
    return 2 * num_tokens * (in_dim * out_dim + (depth - 1) * out_dim * out_dim)
