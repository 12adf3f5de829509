"""Modality-length grouped sampling (LLaVA's `group_by_modality_length`), usable with or without distributed training.

Per epoch (seeded by `seed + epoch`):
1. indices are split by modality (positive length: with image; negative: text-only), each group shuffled;
2. each group is cut into mega-batches of `batch_size * world_size`; a mega-batch is sorted by length and dealt to the
   ranks so that each rank gets one batch of `batch_size` of similar total length. Every full batch therefore holds a
   single modality and similar lengths (less padding, and no image/text mixing inside a batch);
3. mega-batches are shuffled; each group's incomplete last mega-batch goes at the end of the epoch, dealt round-robin
   so rank sizes differ by at most one (only these final batches may mix modalities, like LLaVA's "additional batch");
4. ranks left one short are padded with an index from another rank, so every rank has `ceil(N / world_size)`
   indices: each index appears exactly once per rank, all ranks together cover the dataset, and fewer than
   `world_size` indices are seen twice per epoch (the same convention as `DistributedSampler`).

`rank=None` yields the global order (rank 0's first batch, rank 1's first batch, ...), for a DataLoader that is
sharded per batch afterwards (HF Trainer / accelerate); an integer `rank` yields only that rank's indices.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


def _deal(megabatch: list[int], lengths: Sequence[int], batch_size: int, world_size: int) -> list[list[int]]:
    """Split a full mega-batch into `world_size` batches of `batch_size`, longest first to the lightest rank."""
    chunks: list[list[int]] = [[] for _ in range(world_size)]
    totals = [0] * world_size
    for index in sorted(megabatch, key=lambda i: -abs(lengths[i])):
        rank = min((r for r in range(world_size) if len(chunks[r]) < batch_size), key=lambda r: totals[r])
        chunks[rank].append(index)
        totals[rank] += abs(lengths[index])
    return chunks


def modality_grouped_indices(
    lengths: Sequence[int], batch_size: int, world_size: int, generator: torch.Generator
) -> list[list[int]]:
    """Per-rank index lists for one epoch (see the module docstring); all lists have `ceil(N / world_size)` entries."""
    if batch_size < 1 or world_size < 1:
        raise ValueError(f"batch_size and world_size must be >= 1, got {batch_size} and {world_size}")
    if not lengths:
        raise ValueError("cannot sample from an empty dataset")
    if any(length == 0 for length in lengths):
        raise ValueError("lengths must be non-zero: positive for samples with an image, negative for text-only")
    megabatch_size = batch_size * world_size
    full: list[list[int]] = []
    tails: list[list[int]] = []
    for group in ([i for i, n in enumerate(lengths) if n > 0], [i for i, n in enumerate(lengths) if n < 0]):
        if not group:
            continue
        shuffled = [group[k] for k in torch.randperm(len(group), generator=generator).tolist()]
        cut = len(shuffled) // megabatch_size * megabatch_size
        full += [shuffled[s : s + megabatch_size] for s in range(0, cut, megabatch_size)]
        if cut < len(shuffled):
            tails.append(sorted(shuffled[cut:], key=lambda i: -abs(lengths[i])))
    per_rank: list[list[int]] = [[] for _ in range(world_size)]
    for k in torch.randperm(len(full), generator=generator).tolist():
        for rank, chunk in enumerate(_deal(full[k], lengths, batch_size, world_size)):
            per_rank[rank] += chunk
    if len(tails) == 2 and torch.rand(1, generator=generator).item() < 0.5:
        tails.reverse()
    rank = 0
    for tail in tails:
        for index in tail:
            per_rank[rank].append(index)
            rank = (rank + 1) % world_size
    target = math.ceil(len(lengths) / world_size)
    for r in range(world_size):
        if len(per_rank[r]) < target:
            donor = next(d for d in range(world_size) if len(per_rank[d]) == target)
            per_rank[r].append(per_rank[donor][0])
    return per_rank


class ModalityLengthGroupedSampler(Sampler[int]):
    """Grouped sampler for `LlavaJsonDataset.modality_lengths`; call `set_epoch` each epoch for a new order."""

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        world_size: int = 1,
        rank: int | None = None,
        seed: int = 0,
    ) -> None:
        if rank is not None and not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.world_size = world_size
        self.rank = rank
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        per_rank = math.ceil(len(self.lengths) / self.world_size)
        return per_rank if self.rank is not None else per_rank * self.world_size

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        per_rank = modality_grouped_indices(self.lengths, self.batch_size, self.world_size, generator)
        if self.rank is not None:
            return iter(per_rank[self.rank])
        steps = math.ceil(len(per_rank[0]) / self.batch_size)
        order = [
            index
            for step in range(steps)
            for rank_indices in per_rank
            for index in rank_indices[step * self.batch_size : (step + 1) * self.batch_size]
        ]
        return iter(order)
