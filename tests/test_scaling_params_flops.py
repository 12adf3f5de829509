"""Parameter counts and FLOPs of the cost model, against published counts, hand calculations and torch's counter."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from llava_tc.scaling.flops import (
    LLMPruning,
    PreFusion,
    decode_flops,
    inference_cost,
    llm_attention_flops,
    llm_forward_flops,
    llm_layers_flops,
    prefill_flops,
    projector_flops,
    query_pass_flops,
    simple_inference_flops,
    vision_tower_flops,
)
from llava_tc.scaling.params import count_llm_params, count_vision_params, llm_layer_matmul_params
from llava_tc.scaling.presets import LLM_PRESETS, VISION_PRESETS
from llava_tc.scaling.shapes import llm_shape_from_config, load_llm_shape, load_vision_shape, vision_shape_from_config

TINY_QWEN = {
    "model_type": "qwen2",
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 96,
    "vocab_size": 100,
    "tie_word_embeddings": False,
}
TINY_CLIP = {
    "model_type": "clip_vision_model",
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 48,
    "image_size": 28,
    "patch_size": 7,
    "num_channels": 3,
}


def _hf(config: dict) -> dict:
    return {key: value for key, value in config.items() if key != "model_type"}


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("vicuna-7b", 6_738_415_616),  # Llama-2-7B, the published count
        ("qwen2-0.5b", 494_032_768),  # GQA (14 q / 2 kv heads), tied embeddings, q/k/v biases
        ("qwen1.5-7b", 7_721_324_544),
        ("qwen1.5-0.5b", 619_570_176),
    ],
)
def test_llm_param_count_matches_published_and_meta_model(preset: str, expected: int) -> None:
    config = LLM_PRESETS[preset]
    assert count_llm_params(load_llm_shape(preset)).total == expected
    model_cls, config_cls = (
        (LlamaForCausalLM, LlamaConfig) if config["model_type"] == "llama" else (Qwen2ForCausalLM, Qwen2Config)
    )
    with torch.device("meta"):
        model = model_cls(config_cls(**_hf(config)))
    assert sum(p.numel() for p in model.parameters()) == expected


def test_embedding_split_tied_and_untied() -> None:
    untied = count_llm_params(load_llm_shape("qwen1.5-7b"))
    assert untied.embedding == 2 * 151936 * 4096
    tied = count_llm_params(load_llm_shape("qwen2-0.5b"))
    assert tied.embedding == 151936 * 896
    assert tied.non_embedding == tied.total - tied.embedding


def test_vision_param_count_matches_meta_model() -> None:
    shape = load_vision_shape("clip-vit-l-14-336")
    with torch.device("meta"):
        model = CLIPVisionModel(CLIPVisionConfig(**_hf(VISION_PRESETS["clip-vit-l-14-336"])))
    assert count_vision_params(shape).total == sum(p.numel() for p in model.parameters()) == 303_507_456


def test_llm_prefill_hand_calculation() -> None:
    shape = llm_shape_from_config(TINY_QWEN)
    tokens = 10
    # per layer: q 64x64, k 64x32, v 64x32, o 64x64, gate/up/down 64x96 each
    matmul_per_layer = 64 * 64 + 64 * 32 + 64 * 32 + 64 * 64 + 3 * 64 * 96
    linear = 2 * tokens * 2 * matmul_per_layer
    bias = tokens * 2 * (64 + 32 + 32)
    attention = 4 * 2 * 64 * (tokens * (tokens + 1) // 2)  # causal pairs: 1 + 2 + ... + 10 = 55
    head = 2 * 64 * 100  # logits for the last position only
    assert prefill_flops(shape, tokens) == linear + bias + attention + head == 1_272_320
    assert llm_attention_flops(shape, tokens) == attention


def test_prefill_is_2nt_plus_attention() -> None:
    shape = load_llm_shape("qwen1.5-7b")
    n_matmul = shape.num_layers * llm_layer_matmul_params(shape)
    for tokens in (51, 626):
        simple = simple_inference_flops(n_matmul, tokens, 0)
        gap = prefill_flops(shape, tokens) - simple
        attention = llm_attention_flops(shape, tokens)
        head_and_bias = 2 * shape.hidden_size * shape.vocab_size + tokens * shape.num_layers * 3 * shape.hidden_size
        assert gap == attention + head_and_bias
        assert 0 < attention / simple < 0.02  # the attention term is small next to 2NT at these lengths


def test_llm_forward_matches_torch_flop_counter() -> None:
    """torch counts matmuls (no bias adds) and, with eager attention, the full T x T score matrix."""
    model = Qwen2ForCausalLM(Qwen2Config(**_hf(TINY_QWEN), attn_implementation="eager")).eval()
    shape = llm_shape_from_config(TINY_QWEN)
    tokens = 9
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, tokens, dtype=torch.long), logits_to_keep=1)
    ours = prefill_flops(shape, tokens)
    bias = tokens * shape.num_layers * (shape.q_dim + 2 * shape.kv_dim)
    full_square = 4 * shape.num_layers * shape.q_dim * tokens * tokens
    assert counter.get_total_flops() == ours - bias - llm_attention_flops(shape, tokens) + full_square


def test_vision_tower_matches_torch_flop_counter() -> None:
    model = CLIPVisionModel(CLIPVisionConfig(**_hf(TINY_CLIP), attn_implementation="eager")).eval()
    shape = vision_shape_from_config(TINY_CLIP)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, 28, 28))
    tokens, d = 17, 32
    bias = 2 * tokens * (4 * d + 48 + d)
    assert counter.get_total_flops() == vision_tower_flops(shape) - bias


def test_clip_vit_l_336_flops_formula() -> None:
    shape = load_vision_shape("clip-vit-l-14-336")
    t, d, inter = 577, 1024, 4096
    per_layer = 2 * t * (4 * d * d + 2 * d * inter) + 4 * t * t * d + t * (4 * d + inter + d)
    patch = 2 * 576 * 3 * 14 * 14 * d
    assert vision_tower_flops(shape) == patch + 24 * per_layer == 382_045_839_360


def test_decode_grows_with_kv_cache() -> None:
    shape = llm_shape_from_config(TINY_QWEN)
    prompt, generated = 20, 4
    # token 1 comes from prefill; steps 2..4 each feed one token that attends to prompt + earlier tokens
    expected = sum(llm_forward_flops(shape, 1, prompt + j) for j in range(3))
    assert decode_flops(shape, prompt, generated) == expected
    assert decode_flops(shape, prompt, 1) == 0
    one_step = llm_forward_flops(shape, 1, prompt)
    assert llm_forward_flops(shape, 1, prompt + 1) - one_step == 4 * shape.num_layers * shape.q_dim


def test_inference_cost_stages() -> None:
    llm, vision = llm_shape_from_config(TINY_QWEN), vision_shape_from_config(TINY_CLIP)
    plain = inference_cost(llm, vision, visual_tokens=4, text_tokens=6, generated_tokens=3)
    queried = inference_cost(
        llm, vision, 4, 6, 3, compressor_flops=1234, needs_query=True, compressor_out_dim=16, projector="linear"
    )
    assert plain.query == 0 and plain.compressor == 0
    assert queried.query == query_pass_flops(llm, 6) == llm_forward_flops(llm, 6, logit_tokens=0)
    assert queried.compressor == 1234
    assert queried.projector == projector_flops(16, 64, 4, "linear") == 4 * (2 * 16 * 64 + 64)
    assert plain.projector == 4 * (2 * (32 * 64 + 64 * 64) + 2 * 64)
    assert plain.prefill == prefill_flops(llm, 10)
    assert plain.total == sum(v for k, v in plain.as_dict().items() if k != "total")
    assert plain.prefusion == 0 and plain.of(("prefill", "decode")) == plain.prefill + plain.decode
    with pytest.raises(ValueError, match="unknown stage"):
        plain.of(("llm",))
    with pytest.raises(ValueError, match="mlp"):
        projector_flops(16, 64, 4, "conv")


def test_config_json_file_and_folder(tmp_path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava", "text_config": TINY_QWEN}))
    assert load_llm_shape(str(tmp_path)).hidden_size == 64
    assert load_llm_shape(str(tmp_path / "config.json")).qkv_bias
    with pytest.raises(ValueError, match="preset"):
        load_llm_shape(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="model_type 'gpt2'"):
        llm_shape_from_config({"model_type": "gpt2"})
    with pytest.raises(ValueError, match="intermediate_size"):
        llm_shape_from_config({k: v for k, v in TINY_QWEN.items() if k != "intermediate_size"})


def _eager_tiny_qwen() -> Qwen2ForCausalLM:
    return Qwen2ForCausalLM(Qwen2Config(**_hf(TINY_QWEN), attn_implementation="eager")).eval()


def _run_layers(model: Qwen2ForCausalLM, hidden: torch.Tensor, layers, positions: torch.Tensor) -> torch.Tensor:
    """Decoder layers of the HF model applied by hand (no mask: eager attention computes the full square)."""
    embeddings = model.model.rotary_emb(hidden, positions)
    for layer in layers:
        out = layer(hidden, position_embeddings=embeddings, position_ids=positions)
        hidden = out[0] if isinstance(out, tuple) else out
    return hidden


def _counted_by_torch(shape, layers: int, tokens: int) -> int:
    """What FlopCounterMode reports for `layers` layers over `tokens`: ours minus bias adds, with the full square."""
    bias = tokens * layers * (shape.q_dim + 2 * shape.kv_dim)
    causal = 4 * layers * shape.q_dim * (tokens * (tokens + 1) // 2)
    return llm_layers_flops(shape, layers, tokens) - bias - causal + 4 * layers * shape.q_dim * tokens * tokens


@pytest.mark.parametrize(("layer", "ratio"), [(1, 0.5), (0, 0.75), (2, 0.5)])
def test_fastv_pruned_prefill_matches_torch_flop_counter(layer: int, ratio: float) -> None:
    """Layers [0, K) over Q + V tokens, then only the kept visual tokens go on (FastV's prefill)."""
    model, shape = _eager_tiny_qwen(), llm_shape_from_config(TINY_QWEN)
    text, visual = 5, 12
    pruning = LLMPruning(layer, ratio)
    kept = pruning.kept(visual)
    tokens = text + visual
    hidden = torch.randn(1, tokens, shape.hidden_size)
    positions = torch.arange(tokens)[None]
    keep = torch.cat([torch.arange(text), text + torch.arange(kept)])  # which ones FastV keeps is irrelevant here
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        hidden = _run_layers(model, hidden, model.model.layers[:layer], positions)
        hidden, positions = hidden[:, keep], positions[:, keep]
        hidden = _run_layers(model, hidden, model.model.layers[layer:], positions)
        model.lm_head(model.model.norm(hidden[:, -1:]))
    before, after = min(layer, 2), 2 - min(layer, 2)
    expected = _counted_by_torch(shape, before, tokens) + _counted_by_torch(shape, after, text + kept)
    assert counter.get_total_flops() == expected + 2 * shape.hidden_size * shape.vocab_size
    assert prefill_flops(shape, tokens, pruning, visual) == (
        llm_layers_flops(shape, before, tokens)
        + llm_layers_flops(shape, after, text + kept)
        + 2 * shape.hidden_size * shape.vocab_size
    )
    assert prefill_flops(shape, tokens, LLMPruning(0, 0.0), visual) == prefill_flops(shape, tokens)


def test_fastv_decode_attends_to_the_pruned_cache_after_layer_k() -> None:
    shape = llm_shape_from_config(TINY_QWEN)
    prompt, visual, generated = 30, 20, 4
    pruning = LLMPruning(1, 0.75)
    first, rest = dataclasses.replace(shape, num_layers=1), dataclasses.replace(shape, num_layers=1)
    pruned = prompt - visual + 5
    expected = sum(
        llm_forward_flops(first, 1, prompt + j, logit_tokens=0) + llm_forward_flops(rest, 1, pruned + j)
        for j in range(3)
    )
    assert decode_flops(shape, prompt, generated, pruning, visual) == expected
    assert decode_flops(shape, prompt, generated, pruning, visual) < decode_flops(shape, prompt, generated)


def test_prefusion_layers_match_torch_flop_counter() -> None:
    """LLaVA-Mini's pre-fusion: decoder layers of the LLM's shape over uncompressed + compressed visual + text."""
    model, shape = _eager_tiny_qwen(), llm_shape_from_config(TINY_QWEN)
    vision = vision_shape_from_config(TINY_CLIP)
    uncompressed, visual, text = vision.num_patches, 1, 6
    tokens = uncompressed + visual + text
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        _run_layers(
            model, torch.randn(1, tokens, shape.hidden_size), model.model.layers[:2], torch.arange(tokens)[None]
        )
    assert counter.get_total_flops() == _counted_by_torch(shape, 2, tokens)
    cost = inference_cost(shape, vision, visual, text, prefusion=PreFusion(2))
    projection = projector_flops(vision.hidden_size, shape.hidden_size, uncompressed)
    assert cost.prefusion == llm_layers_flops(shape, 2, tokens) + projection
    assert inference_cost(shape, vision, visual, text, prefusion=PreFusion(2, visual_tokens=4)).prefusion == (
        llm_layers_flops(shape, 2, 4 + visual + text) + projector_flops(vision.hidden_size, shape.hidden_size, 4)
    )
    with pytest.raises(ValueError, match="ratio R in"):
        LLMPruning(2, 1.5)
