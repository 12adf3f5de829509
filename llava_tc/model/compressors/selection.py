"""Shared by the training-free compressors: keep a subset of patch tokens, in their original (row-major) order."""

from __future__ import annotations

import torch


def check_kept_count(name: str, num_patches: int, num_visual_tokens: int) -> None:
    """A selection keeps 1..P tokens; any other count is a clear error naming the valid range."""
    if not 1 <= num_visual_tokens <= num_patches:
        raise ValueError(
            f"{name}: num_visual_tokens={num_visual_tokens} is impossible with {num_patches} patches; "
            f"valid counts are 1..{num_patches}"
        )


def gather_tokens(tokens: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """`tokens` [B, P, C] at `indices` [B, K] -> [B, K, C]."""
    return tokens.gather(1, indices.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


def selection_mask(indices: torch.Tensor, num_tokens: int) -> torch.Tensor:
    """[B, K] indices -> [B, num_tokens] boolean mask of the chosen positions."""
    mask = torch.zeros(indices.shape[0], num_tokens, dtype=torch.bool, device=indices.device)
    return mask.scatter(1, indices, True)
