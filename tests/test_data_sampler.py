"""Modality-length grouped sampler: coverage per epoch under world size 1 and 2, modality purity, determinism."""

from __future__ import annotations

import math
import random

import pytest

from llava_tc.data.sampler import ModalityLengthGroupedSampler


def make_lengths(n_image: int, n_text: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    lengths = [rng.randint(10, 500) for _ in range(n_image)] + [-rng.randint(1, 300) for _ in range(n_text)]
    rng.shuffle(lengths)
    return lengths


@pytest.mark.parametrize(("n_image", "n_text", "batch_size"), [(37, 14, 4), (40, 0, 5), (0, 9, 2), (3, 2, 8)])
def test_world_size_one_is_a_permutation(n_image: int, n_text: int, batch_size: int) -> None:
    lengths = make_lengths(n_image, n_text)
    sampler = ModalityLengthGroupedSampler(lengths, batch_size, seed=3)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        order = list(sampler)
        assert sorted(order) == list(range(len(lengths))) and len(order) == len(sampler)


@pytest.mark.parametrize(("n_image", "n_text", "batch_size"), [(37, 14, 4), (40, 0, 5), (5, 4, 3), (1, 0, 2)])
def test_world_size_two_covers_dataset_once_per_rank(n_image: int, n_text: int, batch_size: int) -> None:
    lengths = make_lengths(n_image, n_text, seed=1)
    n = len(lengths)
    for epoch in range(2):
        ranks = []
        for rank in range(2):
            sampler = ModalityLengthGroupedSampler(lengths, batch_size, world_size=2, rank=rank, seed=7)
            sampler.set_epoch(epoch)
            ranks.append(list(sampler))
        assert len(ranks[0]) == len(ranks[1]) == math.ceil(n / 2) == len(sampler)
        for indices in ranks:
            assert len(set(indices)) == len(indices)  # each index at most once per rank
        union = ranks[0] + ranks[1]
        assert set(union) == set(range(n))  # all ranks together cover the dataset
        assert len(union) - n == (2 - n % 2) % 2  # padding: fewer than world_size repeats, documented


def test_full_batches_hold_one_modality_with_similar_lengths() -> None:
    lengths = make_lengths(64, 32, seed=2)
    batch_size, world_size = 4, 2
    full_batches = (64 // 8) + (32 // 8)  # full mega-batches; each gives every rank one batch
    for rank in range(world_size):
        order = list(ModalityLengthGroupedSampler(lengths, batch_size, world_size=world_size, rank=rank, seed=0))
        batches = [order[i : i + batch_size] for i in range(0, full_batches * batch_size, batch_size)]
        for batch in batches:
            assert len({lengths[i] > 0 for i in batch}) == 1
        kinds = {lengths[b[0]] > 0 for b in batches}
        assert kinds == {True, False}


def test_deterministic_and_changes_with_epoch() -> None:
    lengths = make_lengths(30, 10)
    a = ModalityLengthGroupedSampler(lengths, 4, seed=5)
    b = ModalityLengthGroupedSampler(lengths, 4, seed=5)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)


def test_global_order_shards_into_rank_batches() -> None:
    """rank=None interleaves per-rank batches, as accelerate's per-batch sharding (HF Trainer) expects."""
    lengths = make_lengths(48, 16, seed=4)
    batch_size, world_size = 4, 2
    order = list(ModalityLengthGroupedSampler(lengths, batch_size, world_size=world_size, seed=1))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    for rank in range(world_size):
        expected = list(ModalityLengthGroupedSampler(lengths, batch_size, world_size=world_size, rank=rank, seed=1))
        assert [i for b in batches[rank::world_size] for i in b] == expected


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="non-zero"):
        list(ModalityLengthGroupedSampler([3, 0, -2], 2))
    with pytest.raises(ValueError, match="rank"):
        ModalityLengthGroupedSampler([1, 2], 2, world_size=2, rank=2)
