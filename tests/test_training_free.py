"""Training-free compressors: each selection against a reference written here from its authors' code, on random
attention maps and features, float64, at every token count the method allows; the tower's attention hook against
HF's eager attention weights."""

from __future__ import annotations

import pytest
import torch
from transformers import CLIPVisionModel, SiglipVisionModel

from llava_tc.model.compressors import TowerAttention, VisionFeatures, VisionGeometry, build_compressor
from llava_tc.model.vision import HFVisionTower
from tests.tiny import clip_config, image_batch, siglip_config

SIDE, WIDTH, HEADS, HEAD_DIM = 6, 10, 3, 4
GEOMETRY = VisionGeometry(grid_size=SIDE, hidden_size=WIDTH)
PATCHES = SIDE * SIDE
ALL_COUNTS = list(range(1, PATCHES + 1))


def random_inputs(batch: int = 3, seed: int = 0, with_cls: bool = True) -> VisionFeatures:
    generator = torch.Generator().manual_seed(seed)
    grid = torch.randn(batch, SIDE, SIDE, WIDTH, generator=generator, dtype=torch.float64)
    cls = torch.randn(batch, WIDTH, generator=generator, dtype=torch.float64)
    logits = torch.randn(batch, HEADS, PATCHES + 1, generator=generator, dtype=torch.float64)
    scores = torch.softmax(logits, dim=-1)[..., 1:]
    keys = torch.randn(batch, PATCHES, HEAD_DIM, generator=generator, dtype=torch.float64)
    attention = TowerAttention(patch_scores=scores, keys=keys, has_cls=with_cls)
    return VisionFeatures(grid=grid, cls=cls if with_cls else None, attention=attention)


def visionzip_reference(features: VisionFeatures, dominant: int, contextual: int) -> torch.Tensor:
    """VisionZip's `CLIPVisionTower_VisionZip.forward`, line by line, on a [CLS] + patches sequence."""
    hidden = torch.cat([features.cls[:, None], features.grid.flatten(1, 2)], dim=1)
    batch, tokens, width = hidden.shape
    metric = torch.cat([torch.zeros(batch, 1, HEAD_DIM, dtype=hidden.dtype), features.attention.keys], dim=1)
    dominant_num = dominant - 1
    cls_attention_sum = features.attention.patch_scores.sum(dim=1)
    topk_indices = cls_attention_sum.topk(dominant_num, dim=1).indices + 1
    all_indices = torch.cat([torch.zeros((batch, 1), dtype=topk_indices.dtype), topk_indices], dim=1)
    mask = torch.ones_like(hidden[:, :, 0], dtype=torch.bool).scatter_(1, all_indices, False)
    dominant_tokens = hidden.masked_select(~mask.unsqueeze(-1)).view(batch, dominant_num + 1, width)
    if contextual == 0:
        return dominant_tokens
    metric_filtered = metric[mask].view(batch, tokens - (dominant_num + 1), metric.shape[2])
    hidden_filtered = hidden.masked_select(mask.unsqueeze(-1)).view(batch, tokens - (dominant_num + 1), width)
    metric_normalized = metric_filtered / metric_filtered.norm(dim=-1, keepdim=True)
    step = max(1, metric_normalized.shape[1] // contextual)
    target_indices = torch.arange(0, metric_normalized.shape[1], step)[:contextual]
    target_tokens = metric_normalized[:, target_indices, :]
    others = ~torch.isin(torch.arange(metric_normalized.shape[1]), target_indices)
    similarity = torch.bmm(metric_normalized[:, others, :], target_tokens.transpose(1, 2))
    assign_one_hot = torch.zeros(batch, int(others.sum()), contextual, dtype=hidden.dtype)
    assign_one_hot.scatter_(2, similarity.argmax(dim=2).unsqueeze(-1), 1)
    counts = assign_one_hot.sum(dim=1).clamp(min=1).unsqueeze(-1)
    aggregated = torch.bmm(assign_one_hot.transpose(1, 2), hidden_filtered[:, others, :]) / counts
    contextual_tokens = hidden_filtered[:, target_indices, :] + aggregated
    return torch.cat([dominant_tokens, contextual_tokens], dim=1)


@pytest.mark.parametrize("count", ALL_COUNTS)
def test_visionzip_equals_the_authors_rule(count: int) -> None:
    features = random_inputs(seed=count)
    compressor = build_compressor("visionzip", GEOMETRY, count)
    assert compressor.dominant + compressor.contextual == count
    expected = visionzip_reference(features, compressor.dominant, compressor.contextual)
    assert torch.equal(compressor(features), expected)


@pytest.mark.parametrize("count,contextual", [(64, 10), (128, 20), (192, 30), (16, 2), (1, 0)])
def test_visionzip_split_follows_the_authors_settings(count: int, contextual: int) -> None:
    geometry = VisionGeometry(grid_size=24, hidden_size=8)
    compressor = build_compressor("visionzip", geometry, count)
    assert (compressor.dominant, compressor.contextual) == (count - contextual, contextual)


def test_visionzip_without_cls_takes_every_dominant_token_from_the_patches() -> None:
    features = random_inputs(with_cls=False)
    compressor = build_compressor("visionzip", GEOMETRY, 8, contextual=3)
    out = compressor(features)
    order = features.attention.patch_scores.sum(1).topk(5, dim=1).indices.sort(dim=1).values
    expected = features.grid.flatten(1, 2).gather(1, order[..., None].expand(-1, -1, WIDTH))
    assert out.shape == (3, 8, WIDTH) and torch.equal(out[:, :5], expected)


def divprune_reference(tokens: torch.Tensor, count: int) -> torch.Tensor:
    """DivPrune's `DivPrune` + `pairwise_cosine_similarity` for one image, then the kept indices sorted."""
    norm_matrix = tokens / tokens.norm(dim=1, keepdim=True)
    cosine_matrix = 1.0 - torch.mm(norm_matrix, norm_matrix.t())
    s = torch.empty(count, dtype=torch.long)
    for i in range(count):
        if i == 0:
            scores = torch.topk(cosine_matrix, 2, dim=0, largest=False).values[1, :]
        else:
            scores = torch.min(torch.index_select(cosine_matrix, 0, s[:i]), dim=0).values
        s[i] = torch.argmax(scores)
    return s.sort().values


@pytest.mark.parametrize("count", ALL_COUNTS)
def test_divprune_equals_the_authors_rule(count: int) -> None:
    features = random_inputs(seed=100 + count)
    out = build_compressor("divprune", GEOMETRY, count)(features)
    tokens = features.grid.flatten(1, 2)
    expected = torch.stack([tokens[b, divprune_reference(tokens[b], count)] for b in range(tokens.shape[0])])
    assert torch.equal(out, expected)


@pytest.mark.parametrize("count", [1, 7, PATCHES])
def test_random_is_a_seeded_subset_in_order(count: int) -> None:
    features = random_inputs()
    out = build_compressor("random", GEOMETRY, count, seed=3)(features)
    chosen = torch.randperm(PATCHES, generator=torch.Generator().manual_seed(3))[:count].sort().values
    assert torch.equal(out, features.grid.flatten(1, 2)[:, chosen])
    assert torch.equal(out, build_compressor("random", GEOMETRY, count, seed=3)(random_inputs()))
    if count == 7:  # another seed, another subset
        assert not torch.equal(out, build_compressor("random", GEOMETRY, count, seed=4)(features))


@pytest.mark.parametrize("name", ["random", "visionzip", "divprune", "fastv"])
def test_impossible_counts_name_the_valid_range(name: str) -> None:
    for count in (0, PATCHES + 1):
        with pytest.raises(ValueError, match=f"valid counts are 1..{PATCHES}"):
            build_compressor(name, GEOMETRY, count)


def test_visionzip_without_attention_says_what_to_pass() -> None:
    with pytest.raises(ValueError, match="TowerAttention"):
        build_compressor("visionzip", GEOMETRY, 4)(torch.randn(1, SIDE, SIDE, WIDTH))


def eager(model_class, config):
    torch.manual_seed(0)
    config._attn_implementation = "eager"
    return model_class(config).eval().double()


def captured_keys(model, block_index: int, pixels: torch.Tensor) -> torch.Tensor:
    """The select block's k_proj output during HF's own forward, [B, T, heads, head_dim]."""
    captured = {}
    block = model.encoder.layers[block_index]
    handle = block.self_attn.k_proj.register_forward_hook(lambda m, i, o: captured.setdefault("k", o))
    with torch.no_grad():
        out = model(pixels, output_attentions=True, output_hidden_states=True)
    handle.remove()
    heads = model.config.num_attention_heads
    keys = captured["k"]
    return out, keys.view(*keys.shape[:2], heads, -1)


@pytest.mark.parametrize("select_layer", [-2, 2, 1])
def test_tower_cls_row_and_keys_equal_hf_eager_attention(select_layer: int) -> None:
    model = eager(CLIPVisionModel, clip_config())
    tower = HFVisionTower(model, select_layer=select_layer)
    pixels = image_batch(2).double()
    block = tower.select_index - 1
    out, keys = captured_keys(model, block, pixels)
    with torch.no_grad():
        features = tower(pixels, with_attention=True)
    assert torch.allclose(features.attention.patch_scores, out.attentions[block][:, :, 0, 1:], atol=1e-12)
    assert torch.allclose(features.attention.keys, keys[:, 1:].mean(dim=2), atol=1e-12)
    assert torch.allclose(features.cls, out.hidden_states[tower.select_index][:, 0], atol=1e-12)
    assert features.attention.has_cls


def test_siglip_has_no_cls_row_patches_are_scored_by_mean_received_attention() -> None:
    model = eager(SiglipVisionModel, siglip_config())
    tower = HFVisionTower(model)
    pixels = image_batch(2).double()
    block = tower.select_index - 1
    out, keys = captured_keys(model, block, pixels)
    with torch.no_grad():
        features = tower(pixels, with_attention=True)
    assert features.cls is None and not features.attention.has_cls
    assert torch.allclose(features.attention.patch_scores, out.attentions[block].mean(dim=2), atol=1e-12)
    assert torch.allclose(features.attention.keys, keys.mean(dim=2), atol=1e-12)


@pytest.fixture(scope="module")
def identity_run(tmp_path_factory: pytest.TempPathFactory):
    from tests.eval_fixtures import save_run, synthetic_dataset

    root = tmp_path_factory.mktemp("training-free")
    data_dir = synthetic_dataset(str(root / "synthetic"), 2)
    return data_dir, save_run(data_dir, root / "tiny-identity", "identity")


@pytest.mark.parametrize("name,options", [("visionzip", []), ("fastv", ["--compressor-option", "layer=1"])])
def test_eval_applies_a_training_free_compressor_to_an_identity_run(identity_run, tmp_path, name, options) -> None:
    from llava_tc.cli import main
    from llava_tc.eval.results import read_results

    data_dir, run_dir = identity_run
    results = tmp_path / "results.csv"
    args = ["eval", "--model", str(run_dir), "--benchmark", "synthetic", "--data-root", str(data_dir)]
    args += ["--out", str(tmp_path / "out"), "--results", str(results), "--limit", "4", "--max-new-tokens", "3"]
    args += ["--no-progress", "--compressor", name, "--num-visual-tokens", "16", *options]
    assert main(args) == 0
    row = read_results(results)[0]
    assert (row.run, row.compressor, row.num_visual_tokens) == (f"tiny-identity+{name}-v16", name, 16)
    # The same folder with another compressor is refused, not silently resumed.
    assert main([*args[: -4 - len(options)], "--compressor", "random", "--num-visual-tokens", "16"]) == 1


def test_a_compressor_with_parameters_cannot_be_swapped_in(identity_run) -> None:
    from llava_tc.eval.loading import CompressorSwap, load_for_eval, swapped_compressor

    loaded = load_for_eval(identity_run[1])
    with (
        pytest.raises(ValueError, match="parameters that this run"),
        swapped_compressor(loaded, CompressorSwap("tokenpacker", 16)),
    ):
        pass
    with swapped_compressor(loaded, CompressorSwap("fastv", 16)) as swapped:
        assert swapped.name == "tiny-identity+fastv-v16" and swapped.processor.num_image_tokens == 144
        assert swapped.model.config.num_visual_tokens == 16
    assert loaded.model.config.compressor == "identity" and loaded.model.compressor.llm_pruning is None
    assert loaded.model.config.num_visual_tokens == 144


def test_compare_writes_a_method_by_token_table_with_flops(identity_run, tmp_path) -> None:
    from llava_tc.cli import main
    from llava_tc.eval.compare import MethodSpec, inference_flops
    from llava_tc.eval.loading import load_for_eval
    from llava_tc.eval.results import read_results

    data_dir, run_dir = identity_run
    out = tmp_path / "compare"
    args = ["compare", "--model", str(run_dir), "--benchmark", "synthetic", "--data-root", str(data_dir)]
    args += ["--out", str(out), "--methods", "random", "fastv:layer=1", "--tokens", "1", "16", "--limit", "3"]
    assert main([*args, "--max-new-tokens", "2", "--no-progress"]) == 0
    lines = (out / "comparison.csv").read_text().splitlines()
    assert lines[0] == "llm,method,V=1 synthetic,V=1 GFLOPs,V=16 synthetic,V=16 GFLOPs"
    assert [line.split(",")[1] for line in lines[1:]] == ["random", "fastv"]
    config = load_for_eval(run_dir).model.config
    fastv_16 = inference_flops(config, MethodSpec("fastv", {"layer": 1}), 16, 50)
    assert float(lines[2].split(",")[5]) == pytest.approx(fastv_16 / 1e9, rel=1e-3)
    assert fastv_16 > inference_flops(config, MethodSpec("random"), 16, 50)  # layer 0 sees every patch
    runs = {row.run for row in read_results(out / "results.csv")}
    assert runs == {f"tiny-identity+{m}-v{v}" for m in ("random", "fastv") for v in (1, 16)}
    assert MethodSpec.parse("fastv:layer=3,ratio=0.5") == MethodSpec("fastv", {"layer": 3, "ratio": 0.5})


def parameter_free() -> list[str]:
    from llava_tc.model.compressors import list_compressors

    probe = VisionGeometry(grid_size=4, hidden_size=16)
    return [n for n in list_compressors() if not list(build_compressor(n, probe, 16, query_dim=4).parameters())]


@pytest.mark.parametrize("name", parameter_free())
def test_every_parameter_free_compressor_on_plain_tensors(name: str) -> None:
    compressor = build_compressor(name, GEOMETRY, PATCHES if name == "identity" else 9)
    out = compressor(random_inputs())
    assert out.shape == (3, compressor.num_visual_tokens, compressor.out_dim)
    assert compressor.kept_visual_tokens == (PATCHES if name == "identity" else 9)
    assert compressor.flops(3) == 3 * compressor.flops(1) >= 0


@pytest.mark.parametrize("name", [n for n in parameter_free() if n != "identity"])
def test_every_training_free_compressor_generates_cached_as_uncached_in_the_vlm(name: str) -> None:
    from llava_tc.model import build_model
    from tests.batches import pad
    from tests.test_fastv import uncached_greedy
    from tests.tiny import llama_config

    torch.manual_seed(0)
    model = build_model(clip_config(), llama_config(), compressor="identity").model.eval()
    model.replace_compressor(name, 9, **({"layer": 1} if name == "fastv" else {}))
    img = [model.config.image_token_id] * model.num_visual_tokens
    ids, mask = pad([[1, 11, *img, 12, 13], [1, *img, 31]], "left")
    batch = {"input_ids": ids, "attention_mask": mask, "pixel_values": image_batch(2)}
    steps = 4
    generated = model.generate(**batch, max_new_tokens=steps, do_sample=False, min_new_tokens=steps)[:, -steps:]
    assert torch.equal(generated, uncached_greedy(model, batch, steps))
