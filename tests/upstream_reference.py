"""The authors' QueCC and TokenPacker, restated for the tests from their code, with their parameter names.

Written from locuslab/llava-token-compression `llava/model/multimodal_projector/quecc.py` + `builder.py` (commit
bdedebdf8f4bf7a48c916357ec1dc5dc2720b606) and CircleRadon/TokenPacker `llava/model/multimodal_projector/builder.py`
(commit 771a16e7462c3afb908a0c429513ba43f709f2c1), in the straightforward form: every MLP on every patch, the real
depthwise `Conv2d`, `F.interpolate`, and `nn.MultiheadAttention` called on the windows. The widths that upstream
hard-codes (1024, 4096) are constructor arguments. Our modules must compute the same function (see
test_upstream_parity.py and test_quecc_fast_path.py).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from llava_tc.model.compressors import VisionFeatures, build_compressor
from llava_tc.model.compressors.upstream import convert_upstream_weights
from llava_tc.model.projector import build_projector

EPS = 1e-6  # both authors: LayerNorm(eps=1e-6)


def norm(width: int) -> nn.LayerNorm:
    return nn.LayerNorm(width, eps=EPS)


def two_layer(in_dim: int, out_dim: int) -> list[nn.Module]:
    return [nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim)]


class AuthorsQueCC(nn.Module):
    """quecc.py: input (multi-level [B, P, multi], text [B, 1, text_dim], select-layer [B, P, E]) -> [B, V, E]."""

    def __init__(self, grid: int, embed_dim: int, multi_dim: int, text_dim: int, kernel: int, heads: int = 8):
        super().__init__()
        self.grid = grid
        self.clip_attn = nn.MultiheadAttention(embed_dim, heads, batch_first=True)
        self.q_proj = nn.Sequential(*two_layer(embed_dim, embed_dim), norm(embed_dim))
        self.k_proj = nn.Sequential(*two_layer(multi_dim, embed_dim), norm(embed_dim))
        self.v_proj = nn.Sequential(*two_layer(multi_dim, embed_dim), norm(embed_dim))
        self.q_downsample = nn.Conv2d(embed_dim, embed_dim, kernel_size=kernel, stride=kernel, groups=embed_dim)
        self.text_projection = nn.Sequential(nn.Linear(text_dim, embed_dim), norm(embed_dim))

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        multi, text, x = inputs
        x = x + self.text_projection(text)
        batch, _, width = x.shape
        # 'b (h w) d -> b d h w', then the strided depthwise conv: one query per window.
        planes = self.q_proj(x).transpose(1, 2).reshape(batch, width, self.grid, self.grid)
        downsampled = self.q_downsample(planes)
        side = downsampled.shape[-1]
        queries = downsampled.flatten(2).transpose(1, 2).reshape(batch * side * side, 1, width)
        # 'b (i k j l) d -> (b i j) (k l) d': the keys and values of each window form one batch entry.
        keys = window_batches(self.k_proj(multi), self.grid, side)
        values = window_batches(self.v_proj(multi), self.grid, side)
        attended = self.clip_attn(queries, keys, values)[0]
        return attended.reshape(batch, side * side, width)


def window_batches(tokens: torch.Tensor, grid: int, side: int) -> torch.Tensor:
    """[B, grid*grid, D] (row-major) -> [B * side * side, k * k, D], batch-major, then window row, window column."""
    batch, _, width = tokens.shape
    k = grid // side
    blocks = tokens.reshape(batch, side, k, side, k, width).permute(0, 1, 3, 2, 4, 5)
    return blocks.reshape(batch * side * side, k * k, width)


class AuthorsTokenPacker(nn.Module):
    """builder.py `TokenPacker`: input (select-layer [B, P, kv_dim], multi-level [B, P, multi]) -> [B, V, hidden]."""

    def __init__(
        self, raw_grid: int, embed_dim: int, kv_dim: int, multi_dim: int, hidden: int, scale: int, heads: int = 8
    ):
        super().__init__()
        self.raw_grid, self.grid_size, self.scale = raw_grid, raw_grid // scale, scale
        self.q_proj_1 = nn.Linear(kv_dim, embed_dim, bias=False)
        self.k_proj_1 = nn.Sequential(*two_layer(multi_dim, embed_dim))
        self.v_proj_1 = nn.Sequential(*two_layer(multi_dim, embed_dim))
        self.ln_q_1, self.ln_k_1, self.ln_v_1 = norm(embed_dim), norm(embed_dim), norm(embed_dim)
        self.clip_attn = nn.MultiheadAttention(embed_dim, heads)  # sequence-first, as upstream
        self.mlp = nn.Sequential(nn.Linear(embed_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.apply(self.authors_init)

    @staticmethod
    def authors_init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.constant_(module.bias, 0)
        elif isinstance(module, nn.LayerNorm):
            nn.init.constant_(module.bias, 0)
            nn.init.constant_(module.weight, 1.0)

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, multi = inputs
        key = self.ln_k_1(self.k_proj_1(multi)).permute(1, 0, 2)  # [P, B, E]
        value = self.ln_v_1(self.v_proj_1(multi)).permute(1, 0, 2)
        batch = x.shape[0]
        # Upstream interpolates in float32 (`.float()`) and casts back; float64 input keeps its precision here.
        compute = torch.promote_types(x.dtype, torch.float32)
        planes = x.reshape(batch, self.raw_grid, self.raw_grid, -1).to(compute).permute(0, 3, 1, 2)
        low_res = F.interpolate(planes, size=(self.grid_size, self.grid_size), mode="bilinear").permute(0, 2, 3, 1)
        low_res = low_res.reshape(batch, -1, low_res.shape[-1]).to(x.dtype)
        query = self.ln_q_1(self.q_proj_1(low_res)).permute(1, 0, 2)  # [V, B, E]
        out = self.clip_attn(
            sequence_windows(query, self.grid_size, 1),
            sequence_windows(key, self.raw_grid, self.scale),
            sequence_windows(value, self.raw_grid, self.scale),
        )[0]
        out = out.reshape(self.grid_size**2, batch, -1).permute(1, 0, 2)
        return self.mlp(out)


def sequence_windows(tokens: torch.Tensor, grid: int, k: int) -> torch.Tensor:
    """`divide_feature`: [grid*grid, B, D] (row-major) -> [k*k, (window row, window column, B), D]."""
    _, batch, width = tokens.shape
    side = grid // k
    blocks = tokens.reshape(side, k, side, k, batch, width).permute(1, 3, 0, 2, 4, 5)
    return blocks.reshape(k * k, side * side * batch, width)


def randomize(module: nn.Module, seed: int) -> None:
    """Every parameter random and non-trivial: weights N(0, 1/fan_in), norm gains 1 + N(0, 0.09), biases N(0, 0.09)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
            if parameter.ndim >= 2:
                value = noise / math.sqrt(parameter[0].numel())
            elif name.endswith("weight"):
                value = 1.0 + 0.3 * noise
            else:
                value = 0.3 * noise
            parameter.copy_(value)


def authors_quecc(geometry, count: int, query_dim: int, heads: int, seed: int) -> AuthorsQueCC:
    kernel = geometry.grid_size // math.isqrt(count)
    module = AuthorsQueCC(geometry.grid_size, geometry.hidden_size, geometry.multi_dim, query_dim, kernel, heads)
    randomize(module, seed)
    return module


def authors_tokenpacker(geometry, count: int, hidden: int, heads: int, seed: int) -> AuthorsTokenPacker:
    scale = geometry.grid_size // math.isqrt(count)
    width = geometry.hidden_size
    module = AuthorsTokenPacker(geometry.grid_size, width, width, geometry.multi_dim, hidden, scale, heads)
    randomize(module, seed)
    return module


def ours_from(
    source: str, authors: nn.Module, geometry, count: int, query_dim: int, heads: int, projector: str | None
) -> tuple[nn.Module, nn.Module | None]:
    """Our compressor (+ projector) holding the authors' weights, converted by `convert_upstream_weights`."""
    dtype = next(authors.parameters()).dtype
    compressor = build_compressor(source, geometry, count, query_dim=query_dim, num_heads=heads).to(dtype)
    converted = convert_upstream_weights(source, authors.state_dict(), projector=projector)
    compressor.load_state_dict(part(converted, "compressor"))
    if projector is None:
        return compressor, None
    first = converted["projector.0.weight" if projector != "linear" else "projector.weight"]
    mlp = build_projector(projector, first.shape[1], first.shape[0]).to(dtype)
    mlp.load_state_dict(part(converted, "projector"))
    return compressor, mlp


def part(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {name.removeprefix(f"{prefix}."): value for name, value in state.items() if name.startswith(f"{prefix}.")}


def flat(grid: torch.Tensor) -> torch.Tensor:
    """[B, H, W, C] -> [B, H * W, C] row-major, the tower's token order."""
    return grid.flatten(1, 2)


def quecc_inputs(features: VisionFeatures, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What upstream's tower hands `mm_projector`: (multi-level, text vector [B, 1, D], select layer)."""
    return flat(features.multi), query[:, None, :], flat(features.grid)


def tokenpacker_inputs(features: VisionFeatures) -> tuple[torch.Tensor, torch.Tensor]:
    return flat(features.grid), flat(features.multi)
