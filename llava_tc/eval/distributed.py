"""Data-parallel evaluation: who am I (rank), how many are we (world size), and a barrier.

Evaluation shards questions across processes started by `torchrun` or `accelerate launch` (both set RANK/WORLD_SIZE/
LOCAL_RANK). Each process needs only its rank, its device and one barrier before rank 0 merges the shards, so this is
a thin layer over `torch.distributed` (NCCL on GPUs, gloo on CPU) and a no-op for a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Shard:
    """This process's place in the evaluation: rank `rank` of `world_size` takes samples[rank::world_size]."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def take(self, items: list) -> list:
        """This rank's share of `items` (every world_size-th, starting at rank), order kept."""
        return items[self.rank :: self.world_size]

    def barrier(self) -> None:
        if self.world_size > 1 and dist.is_available() and dist.is_initialized():
            dist.barrier()


def local_rank() -> int:
    """This process's index on its machine, as set by torchrun / accelerate (0 for a plain process)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def current_shard() -> Shard:
    """The shard of this process: from an initialised process group, else from torchrun's environment (initialising
    the group, gloo on CPU, NCCL when CUDA is available), else a single process."""
    if dist.is_available() and dist.is_initialized():
        return Shard(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank())
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Shard()
    if not dist.is_available():
        raise RuntimeError(f"WORLD_SIZE={world_size} but this torch build has no torch.distributed")
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return Shard(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank())


def default_device(shard: Shard) -> torch.device:
    """This rank's GPU when there is one, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", shard.local_rank)
    return torch.device("cpu")
