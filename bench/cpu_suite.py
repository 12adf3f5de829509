"""CPU suite: our training step and generation side by side with HF LLaVA, compressor step costs, QueCC's query pass.

Shapes are small enough for 2 busy cores but keep LLaVA's structure: a CLIP-like tower on a 24x24 patch grid (so
V = 1, 16, 144, 576 are all valid) and a Qwen2-like LLM. Every comparison is interleaved in one process (see
`bench.harness`) and ratios are medians of per-round ratios.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch

from bench.harness import Stats, interleaved, paired_ratio, summarize
from bench.setups import (
    LLMSpec,
    TextLayout,
    TowerSpec,
    build_hf_twin,
    build_ours,
    count_parameters,
    generation_prompts,
    hf_batch,
    train_step_fn,
    training_batch,
)
from llava_tc.model.query import QueryEncoder

COMPRESSORS = ("pool", "tokenpacker", "quecc", "resampler", "m3", "llava_mini")
# One training step at one V: a nested compressor trains that scale only (its nested step is measured separately).
SINGLE_COUNT_OPTIONS: dict[str, Callable[[int], dict[str, Any]]] = {"m3": lambda count: {"scales": [count]}}


@dataclass(frozen=True)
class CpuConfig:
    tower: TowerSpec
    llm: LLMSpec
    layout: TextLayout
    train_batch: int
    token_counts: tuple[int, ...]
    generate_batches: tuple[int, ...]
    new_tokens: int
    warmup: int
    repeats: int


# The multi-level layers mirror CLIP-L's (12, 16, 22, 23) of 24: the deepest is the select layer (-2), so multi-level
# compressors run the same blocks as the others (the default scaling would pick the last block of a 3-block tower).
FULL = CpuConfig(
    tower=TowerSpec(
        hidden_size=64,
        intermediate_size=256,
        num_layers=3,
        num_heads=4,
        image_size=96,
        patch_size=4,
        multi_layers=(1, 2),
    ),
    llm=LLMSpec(hidden_size=192, intermediate_size=512, num_layers=3, num_heads=6, num_kv_heads=2, vocab_size=8192),
    layout=TextLayout(),
    train_batch=2,
    token_counts=(1, 16, 144),
    generate_batches=(1, 16),
    new_tokens=16,
    warmup=1,
    repeats=7,
)

SMOKE = CpuConfig(
    tower=TowerSpec(hidden_size=32, intermediate_size=64, num_layers=3, num_heads=2, image_size=48, patch_size=4),
    llm=LLMSpec(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2, num_kv_heads=1, vocab_size=256),
    layout=TextLayout(prefix=2, suffix=8, answer=4),
    train_batch=2,
    token_counts=(16,),
    generate_batches=(2,),
    new_tokens=3,
    warmup=0,
    repeats=1,
)


def run_cpu_suite(config: CpuConfig) -> dict[str, Any]:
    """All four measurements (a)-(d) and the target table."""
    torch.manual_seed(0)
    results: dict[str, Any] = {"config": asdict(config)}
    results["a_train_vs_hf"] = train_vs_hf(config)
    results["b_compressors"] = compressor_steps(config)
    results["c_query_pass"] = query_pass_cost(config)
    results["d_generation"] = {str(batch): generation_vs_hf(config, batch) for batch in config.generate_batches}
    results["targets"] = targets(results, config)
    return results


def train_vs_hf(config: CpuConfig) -> dict[str, Any]:
    """(a) identity + mlp2x_gelu vs HF LlavaForConditionalGeneration: same weights, same (expanded) batch."""
    ours = build_ours(config.tower, config.llm, "identity", None)
    theirs = build_hf_twin(ours)
    batch = training_batch(ours, config.train_batch, config.layout)
    ours_inputs = {key: batch[key] for key in ("input_ids", "attention_mask", "labels", "pixel_values")}
    ours_step, ours_trainable = train_step_fn(ours, ours.vision_tower, ours_inputs)
    hf_step, hf_trainable = train_step_fn(theirs, theirs.model.vision_tower, hf_batch(batch))
    first_losses = (ours_step(), hf_step())
    samples = interleaved({"ours": ours_step, "hf": hf_step}, config.warmup, config.repeats)
    return {
        "sequence_length": int(batch["input_ids"].shape[1]) - 1 + ours.num_visual_tokens,
        "batch_size": config.train_batch,
        "trainable_params": {"ours": count_parameters(ours_trainable), "hf": count_parameters(hf_trainable)},
        "first_step_loss": {"ours": first_losses[0], "hf": first_losses[1]},
        "ours_s": summarize(samples["ours"]),
        "hf_s": summarize(samples["hf"]),
        "ratio_ours_over_hf": paired_ratio(samples["ours"], samples["hf"]),
    }


def compressor_steps(config: CpuConfig) -> dict[str, Any]:
    """(b) step time of every compressor at each V, and QueCC in both query modes at V = 16, against identity."""
    side = config.tower.image_size // config.tower.patch_size
    steps = {}
    models = {f"identity@{side * side}": ("identity", None, "llm_last", {})}
    for name in COMPRESSORS:
        for count in config.token_counts:
            options = SINGLE_COUNT_OPTIONS[name](count) if name in SINGLE_COUNT_OPTIONS else {}
            models[f"{name}@{count}"] = (name, count, "llm_last", options)
    models["quecc_embed_mean@16"] = ("quecc", 16, "embed_mean", {})
    # Nested training steps over the suite's counts: M3 runs the LLM once per scale, MQT once (a drawn prefix).
    counts, largest = list(config.token_counts), max(config.token_counts)
    nested = "@" + "/".join(str(count) for count in counts)
    models[f"m3_nested{nested}"] = ("m3", largest, "llm_last", {"scales": counts})
    models[f"resampler_nested{nested}"] = ("resampler", largest, "llm_last", {"nested": True, "nested_counts": counts})
    for label, (name, count, source, options) in models.items():
        model = build_ours(config.tower, config.llm, name, count, query_source=source, compressor_options=options)
        batch = training_batch(model, config.train_batch, config.layout)
        steps[label], _ = train_step_fn(model, model.vision_tower, batch)
    samples = interleaved(steps, config.warmup, config.repeats)
    reference = next(iter(models))
    out: dict[str, Any] = {"reference": reference, "step_s": {}, "ratio_to_identity": {}}
    for label in models:
        out["step_s"][label] = summarize(samples[label])
        out["ratio_to_identity"][label] = paired_ratio(samples[label], samples[reference])
    out["quecc_over_pool_at_16"] = {
        "llm_last": paired_ratio(samples["quecc@16"], samples["pool@16"]),
        "embed_mean": paired_ratio(samples["quecc_embed_mean@16"], samples["pool@16"]),
    }
    return out


def query_pass_cost(config: CpuConfig) -> dict[str, Any]:
    """(c) the question-vector pass alone (no grad, as in training): the paper's LLM pass vs the embedding mean.

    Also counts calls of the LM head during the pass (it must be 0: only the decoder's hidden state is used).
    """
    model = build_ours(config.tower, config.llm, "quecc", 16)
    batch = training_batch(model, config.train_batch, config.layout)
    head_calls = []
    hook = model.get_output_embeddings().register_forward_hook(lambda *_: head_calls.append(1))
    ids, mask = batch["query_input_ids"], batch["query_attention_mask"]
    encoders = {source: QueryEncoder(source) for source in ("llm_last", "embed_mean")}

    def pass_for(source: str):
        def run() -> None:
            with torch.no_grad():
                encoders[source](model.language_model, ids, mask)

        return run

    samples = interleaved({source: pass_for(source) for source in encoders}, config.warmup, config.repeats * 3)
    hook.remove()
    return {
        "question_tokens": int(ids.shape[1]),
        "batch_size": int(ids.shape[0]),
        "llm_last_s": summarize(samples["llm_last"]),
        "embed_mean_s": summarize(samples["embed_mean"]),
        "ratio_llm_last_over_embed_mean": paired_ratio(samples["llm_last"], samples["embed_mean"]),
        "lm_head_calls_during_query_pass": len(head_calls),
    }


def generation_vs_hf(config: CpuConfig, batch_size: int) -> dict[str, Any]:
    """(d) greedy decoding with KV cache, the same number of new tokens for both, outputs compared token by token."""
    ours = build_ours(config.tower, config.llm, "identity", None).eval()
    theirs = build_hf_twin(ours).eval()
    prompts = generation_prompts(ours, batch_size)
    ids, mask = prompts["input_ids"], prompts["attention_mask"]
    options = {
        "max_new_tokens": config.new_tokens,
        "min_new_tokens": config.new_tokens,
        "do_sample": False,
        "suppress_tokens": [ours.config.image_token_id],
        "pad_token_id": 0,
    }
    produced: dict[str, torch.Tensor] = {}

    def ours_generate() -> None:
        produced["ours"] = ours.generate(
            input_ids=prompts["input_ids"],
            attention_mask=prompts["attention_mask"],
            pixel_values=prompts["pixel_values"],
            **options,
        )

    def hf_generate() -> None:
        produced["hf"] = theirs.generate(
            input_ids=ids, attention_mask=mask, pixel_values=prompts["pixel_values"], **options
        )

    samples = interleaved({"ours": ours_generate, "hf": hf_generate}, config.warmup, config.repeats)
    new = batch_size * config.new_tokens
    ours_rate = summarize([new / seconds for seconds in samples["ours"]])
    hf_rate = summarize([new / seconds for seconds in samples["hf"]])
    return {
        "batch_size": batch_size,
        "prompt_length": int(ids.shape[1]),
        "new_tokens": config.new_tokens,
        "identical_outputs": bool(torch.equal(produced["ours"], produced["hf"])),
        "ours_tokens_per_s": ours_rate,
        "hf_tokens_per_s": hf_rate,
        "ratio_ours_over_hf": paired_ratio(samples["hf"], samples["ours"]),
    }


def targets(results: dict[str, Any], config: CpuConfig) -> list[dict[str, Any]]:
    """The issue's CPU targets with the measured medians (and the paired-ratio IQR as spread)."""
    rows = [_target("(a) train step ours / HF LLaVA", "<=", 1.05, results["a_train_vs_hf"]["ratio_ours_over_hf"])]
    for batch in config.generate_batches:
        rows.append(
            _target(
                f"(d) generate tokens/s ours / HF, batch {batch}",
                ">=",
                1.0,
                results["d_generation"][str(batch)]["ratio_ours_over_hf"],
            )
        )
    ratios = results["b_compressors"]["quecc_over_pool_at_16"]
    rows.append(_target("QueCC (llm_last) / pool step, V=16", "<=", 1.3, ratios["llm_last"]))
    rows.append(_target("QueCC (embed_mean) / pool step, V=16", "<=", 1.05, ratios["embed_mean"]))
    return rows


def _target(name: str, relation: str, bound: float, measured: Stats) -> dict[str, Any]:
    value = measured.median
    met = value <= bound if relation == "<=" else value >= bound
    return {
        "target": name,
        "bound": f"{relation} {bound}",
        "median": round(value, 4),
        "q1": round(measured.q1, 4),
        "q3": round(measured.q3, 4),
        "met": met,
    }


def format_table(results: dict[str, Any]) -> str:
    """A plain-text summary for the terminal (the JSON holds every sample)."""
    lines = ["target | bound | median (q1..q3) | met", "--- | --- | --- | ---"]
    for row in results["targets"]:
        lines.append(f"{row['target']} | {row['bound']} | {row['median']} ({row['q1']}..{row['q3']}) | {row['met']}")
    lines.append("")
    lines.append("compressor@V | step s (median) | ratio to identity@576 (median, q1..q3)")
    compressors = results["b_compressors"]
    for label, stats in compressors["step_s"].items():
        ratio = compressors["ratio_to_identity"][label]
        lines.append(f"{label} | {stats.median:.4f} | {ratio.median:.3f} ({ratio.q1:.3f}..{ratio.q3:.3f})")
    query = results["c_query_pass"]
    lines.append("")
    lines.append(
        f"query pass: llm_last {query['llm_last_s'].median * 1e3:.2f} ms, embed_mean "
        f"{query['embed_mean_s'].median * 1e3:.2f} ms (ratio {query['ratio_llm_last_over_embed_mean'].median:.1f}x), "
        f"LM head calls {query['lm_head_calls_during_query_pass']}"
    )
    for batch, gen in results["d_generation"].items():
        lines.append(
            f"generate batch {batch}: ours {gen['ours_tokens_per_s'].median:.1f} tok/s, HF "
            f"{gen['hf_tokens_per_s'].median:.1f} tok/s, identical outputs {gen['identical_outputs']}"
        )
    train = results["a_train_vs_hf"]
    lines.append(
        f"train step identity: ours {train['ours_s'].median:.4f} s, HF {train['hf_s'].median:.4f} s, "
        f"losses {train['first_step_loss']['ours']:.6f} / {train['first_step_loss']['hf']:.6f}"
    )
    return "\n".join(lines)
