"""Every compressor on plain tensors: shapes for the paper's counts, gradients, query conditioning, clear errors."""

import pytest
import torch

from llava_tc.model.compressors import (
    QueCC,
    VisionFeatures,
    VisionGeometry,
    achievable_square_counts,
    build_compressor,
    list_compressors,
)

PAPER_COUNTS = [1, 4, 16, 36, 64, 144, 576]
GEOMETRY = VisionGeometry(grid_size=24, hidden_size=16, num_multi_layers=2)
QUERY_DIM = 12


def features(batch: int = 2, seed: int = 0) -> VisionFeatures:
    generator = torch.Generator().manual_seed(seed)
    grid = torch.randn(batch, 24, 24, GEOMETRY.hidden_size, generator=generator)
    multi = torch.randn(batch, 24, 24, GEOMETRY.multi_dim, generator=generator)
    return VisionFeatures(grid=grid, multi=multi)


def query(batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, QUERY_DIM, generator=torch.Generator().manual_seed(seed))


def test_registry_lists_every_method() -> None:
    assert list_compressors() == [
        "divprune",
        "fastv",
        "identity",
        "llava_mini",
        "m3",
        "pool",
        "quecc",
        "random",
        "resampler",
        "tokenpacker",
        "visionzip",
    ]


@pytest.mark.parametrize("name", ["pool", "tokenpacker", "quecc"])
@pytest.mark.parametrize("count", PAPER_COUNTS)
def test_output_shape_for_every_paper_count(name: str, count: int) -> None:
    compressor = build_compressor(name, GEOMETRY, count, query_dim=QUERY_DIM)
    out = compressor(features(), query() if compressor.needs_query else None)
    assert out.shape == (2, count, compressor.out_dim)
    assert compressor.num_visual_tokens == count
    assert compressor.out_dim == GEOMETRY.hidden_size
    assert compressor.flops(3) == 3 * compressor.flops(1) >= 0


def test_identity_keeps_every_patch() -> None:
    compressor = build_compressor("identity", GEOMETRY, 576)
    grid = features().grid
    assert torch.equal(compressor(grid), grid.reshape(2, 576, GEOMETRY.hidden_size))


def test_average_pool_by_hand() -> None:
    # 2x2 grid of 1-channel tokens [[1, 2], [3, 4]] pooled to one token: (1 + 2 + 3 + 4) / 4 = 2.5; max = 4.
    geometry = VisionGeometry(grid_size=2, hidden_size=1)
    grid = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    assert build_compressor("pool", geometry, 1)(grid).item() == 2.5
    assert build_compressor("pool", geometry, 1, mode="max")(grid).item() == 4.0
    # Four tokens from a 4x4 grid: each output is the mean of its own 2x2 window, in row-major order.
    big = torch.arange(16.0).reshape(1, 4, 4, 1)
    pooled = build_compressor("pool", VisionGeometry(grid_size=4, hidden_size=1), 4)(big).flatten()
    assert pooled.tolist() == [(0 + 1 + 4 + 5) / 4, (2 + 3 + 6 + 7) / 4, (8 + 9 + 12 + 13) / 4, (10 + 11 + 14 + 15) / 4]


@pytest.mark.parametrize("name", ["tokenpacker", "quecc"])
def test_gradients_reach_every_parameter(name: str) -> None:
    compressor = build_compressor(name, GEOMETRY, 16, query_dim=QUERY_DIM)
    compressor(features(), query() if compressor.needs_query else None).square().sum().backward()
    missing = [n for n, p in compressor.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient for {missing}"


def test_quecc_output_depends_on_the_question_and_pool_does_not_take_one() -> None:
    compressor = build_compressor("quecc", GEOMETRY, 4, query_dim=QUERY_DIM)
    feats = features()
    first, second = compressor(feats, query(seed=1)), compressor(feats, query(seed=2))
    assert not torch.allclose(first, second)
    pool = build_compressor("pool", GEOMETRY, 4)
    assert not pool.needs_query
    assert torch.equal(pool(feats), pool(feats, query(seed=2)))


def test_window_locality_each_token_sees_only_its_own_window() -> None:
    compressor = build_compressor("tokenpacker", GEOMETRY, 4)
    feats = features(batch=1)
    before = compressor(feats)
    changed = VisionFeatures(grid=feats.grid.clone(), multi=feats.multi.clone())
    changed.multi[:, :12, :12] += 5.0  # top-left window of a 2x2 output grid
    after = compressor(changed)
    assert not torch.allclose(before[:, 0], after[:, 0])
    assert torch.allclose(before[:, 1:], after[:, 1:])


def test_achievable_counts_of_a_24_grid() -> None:
    assert achievable_square_counts(24) == [1, 4, 9, 16, 36, 64, 144, 576]


@pytest.mark.parametrize("name", ["pool", "tokenpacker", "quecc", "identity"])
def test_impossible_count_lists_the_valid_ones(name: str) -> None:
    with pytest.raises(ValueError, match=r"num_visual_tokens=25 is impossible.*valid"):
        build_compressor(name, GEOMETRY, 25, query_dim=QUERY_DIM)


def test_unknown_compressor_lists_the_known_ones() -> None:
    known = "identity, llava_mini, m3, pool, quecc, random, resampler, tokenpacker, visionzip"
    with pytest.raises(ValueError, match=rf"unknown compressor 'mlp'.*{known}"):
        build_compressor("mlp", GEOMETRY, 4)


def test_query_conditioned_compressor_without_query_is_a_clear_error() -> None:
    compressor = build_compressor("quecc", GEOMETRY, 4, query_dim=QUERY_DIM)
    with pytest.raises(ValueError, match="query-conditioned"):
        compressor(features())
    with pytest.raises(ValueError, match="query_dim"):
        build_compressor("quecc", GEOMETRY, 4)


def test_multi_level_compressor_on_a_plain_tensor_says_what_to_pass() -> None:
    compressor = build_compressor("tokenpacker", GEOMETRY, 4)
    with pytest.raises(ValueError, match="multi-level features"):
        compressor(features().grid)


def test_widths_follow_the_geometry() -> None:
    wide = VisionGeometry(grid_size=6, hidden_size=40, num_multi_layers=3)
    compressor = QueCC(wide, 9, query_dim=7)
    assert compressor.out_dim == 40
    assert compressor.key_mlp[0].in_features == compressor.value_mlp[0].in_features == 120
    assert compressor.question_proj[0].in_features == 7
    assert compressor.downsample.kernel_size == (2, 2)
