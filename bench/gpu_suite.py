"""GPU suite: training throughput and MFU, inference prefill latency and decode speed, and per-stage time shares.

Full shapes: CLIP ViT-L/14-336 with random-weight Qwen2-0.5B/1.5B-shaped LLMs (training) and 0.5B/1.5B/7B-shaped
(inference), bf16, sdpa. V = 576 uses `identity` (LLaVA-1.5); V < 576 uses `quecc` (the paper's compressor), so the
query pass and the compressor show up in the stage shares. `--small` runs the same code with small shapes, float32 and
on CPU when there is no GPU: it checks the code path, its numbers say nothing about a GPU.

MFU convention (stated in the output too): model FLOPs per step over step time over the peak bf16 matmul rate measured
in the same run. Model FLOPs count matrix products exactly (`llava_tc.scaling.flops`): the LLM forward over every
token (attention as the causal lower triangle, logits at every position) times 3 for forward + backward; the frozen
vision tower forward only (no backward reaches it), up to the deepest layer used; the compressor and projector times 3;
QueCC's no-grad query pass forward only. The common `6 * N * tokens` LLM figure is reported alongside.
"""

from __future__ import annotations

import gc
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from bench.harness import summarize, synchronize, time_once
from bench.setups import LLMSpec, TextLayout, TowerSpec, build_ours, count_parameters, train_step_fn, training_batch
from bench.stages import StageClock, model_stages, shares
from llava_tc.scaling.flops import llm_forward_flops, projector_flops, query_pass_flops, vision_tower_flops
from llava_tc.scaling.shapes import llm_shape_from_config, vision_shape_from_config

MFU_CONVENTION = (
    "model FLOPs / step time / peak bf16 matmul FLOP/s (same run); model FLOPs = 3 x LLM forward (exact matmuls, "
    "causal attention, logits at every token) + vision tower forward (frozen, layers used) + 3 x (compressor + "
    "projector) + query-pass forward; `llm_6nt` = 6 x LLM non-embedding params x tokens"
)
STAGE_ORDER = ("vision_tower", "query_pass", "compressor", "projector", "llm")
STAGE_ORDER_TEXT = "(vision/query/compressor/projector/llm)"
CLIP_L14_336 = TowerSpec(
    hidden_size=1024, intermediate_size=4096, num_layers=24, num_heads=16, image_size=336, patch_size=14
)
QWEN2_SHAPES = {
    "qwen2-0.5b": LLMSpec(896, 4864, 24, 14, 2, 151936, tie_embeddings=True),
    "qwen2-1.5b": LLMSpec(1536, 8960, 28, 12, 2, 151936, tie_embeddings=True),
    "qwen2-7b": LLMSpec(3584, 18944, 28, 28, 4, 152064, tie_embeddings=False),
}
SMALL_TOWER = TowerSpec(
    hidden_size=64, intermediate_size=256, num_layers=3, num_heads=4, image_size=96, patch_size=4, multi_layers=(1, 2)
)
SMALL_SHAPES = {
    "qwen2-0.5b": LLMSpec(64, 172, 2, 4, 2, 2048),
    "qwen2-1.5b": LLMSpec(96, 256, 2, 4, 2, 2048),
    "qwen2-7b": LLMSpec(128, 344, 2, 4, 2, 2048, tie_embeddings=False),
}


@dataclass(frozen=True)
class GpuConfig:
    tower: TowerSpec
    llms: dict[str, LLMSpec]
    train_llms: tuple[str, ...]
    inference_llms: tuple[str, ...]
    token_counts: tuple[int, ...]
    train_batch: dict[str, int]
    layout: TextLayout
    inference_text_tokens: int
    decode_tokens: int
    compressor: str
    dtype: str
    device: str
    peak_matmul_size: int
    warmup: int
    repeats: int
    small: bool


def select_config(small: bool, smoke: bool = False) -> GpuConfig:
    """Full shapes on a GPU; small shapes (float32, CPU unless a GPU is present) for `--small`; tinier for `--smoke`."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if not small:
        if device != "cuda":
            raise SystemExit("the full GPU suite needs a CUDA GPU; run `--suite gpu --small` to check it on CPU")
        return GpuConfig(
            tower=CLIP_L14_336,
            llms=QWEN2_SHAPES,
            train_llms=("qwen2-0.5b", "qwen2-1.5b"),
            inference_llms=("qwen2-0.5b", "qwen2-1.5b", "qwen2-7b"),
            token_counts=(576, 144, 16, 1),
            train_batch={"qwen2-0.5b": 16, "qwen2-1.5b": 8},
            layout=TextLayout(prefix=8, suffix=56, answer=24),
            inference_text_tokens=50,
            decode_tokens=32,
            compressor="quecc",
            dtype="bfloat16",
            device=device,
            peak_matmul_size=8192,
            warmup=3,
            repeats=10,
            small=False,
        )
    config = GpuConfig(
        tower=SMALL_TOWER,
        llms=SMALL_SHAPES,
        train_llms=("qwen2-0.5b", "qwen2-1.5b"),
        inference_llms=("qwen2-0.5b", "qwen2-1.5b", "qwen2-7b"),
        token_counts=(576, 144, 16, 1),
        train_batch={"qwen2-0.5b": 2, "qwen2-1.5b": 2},
        layout=TextLayout(prefix=4, suffix=28, answer=12),
        inference_text_tokens=50,
        decode_tokens=8,
        compressor="quecc",
        dtype="float32",
        device=device,
        peak_matmul_size=512,
        warmup=1,
        repeats=3,
        small=True,
    )
    if smoke:
        config = replace(
            config,
            train_llms=("qwen2-0.5b",),
            inference_llms=("qwen2-0.5b",),
            token_counts=(576, 1),
            decode_tokens=2,
            warmup=0,
            repeats=1,
        )
    return config


def run_gpu_suite(config: GpuConfig) -> dict[str, Any]:
    dtype = getattr(torch, config.dtype)
    results: dict[str, Any] = {
        "config": asdict(config),
        "note": (
            "small shapes, float32, on CPU: checks the code path only, says nothing about a GPU"
            if config.small and config.device == "cpu"
            else f"{config.dtype} on {config.device}"
        ),
        "mfu_convention": MFU_CONVENTION,
    }
    results["peak_matmul_flops_per_s"] = peak_matmul_rate(config.peak_matmul_size, dtype, config.device)
    results["training"] = {
        llm: {str(count): training_point(config, llm, count, dtype) for count in config.token_counts}
        for llm in config.train_llms
    }
    results["inference"] = {
        llm: {str(count): inference_point(config, llm, count, dtype) for count in config.token_counts}
        for llm in config.inference_llms
    }
    results["targets"] = targets(results, config)
    return results


def peak_matmul_rate(size: int, dtype: torch.dtype, device: str, repeats: int = 20) -> float:
    """FLOP/s of a square `size` matmul in `dtype`, best of `repeats` (the denominator of MFU)."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    best = min(time_once(lambda: a @ b, device) for _ in range(repeats))
    return 2 * size**3 / best


def _compressor_for(config: GpuConfig, count: int) -> tuple[str, int | None]:
    side = config.tower.image_size // config.tower.patch_size
    return ("identity", None) if count == side * side else (config.compressor, count)


def _build(config: GpuConfig, llm: str, count: int, dtype: torch.dtype):
    name, tokens = _compressor_for(config, count)
    with torch.device(config.device):
        return build_ours(config.tower, config.llms[llm], name, tokens, dtype=dtype, device=config.device)


def step_flops(model, batch_size: int, sequence: int, question: int) -> dict[str, int]:
    """Model FLOPs of one training step, by stage (see the module docstring for the convention)."""
    llm_shape = llm_shape_from_config(model.config.text_config.to_dict(), "llm")
    vision_shape = vision_shape_from_config(model.config.vision_config.to_dict(), "vision")
    tower = model.vision_tower
    depth = max(tower.select_index, *tower.layers.multi_layers) if model.compressor.needs_multi else tower.select_index
    visual = model.num_visual_tokens
    flops = {
        "llm": 3 * batch_size * llm_forward_flops(llm_shape, sequence, 0, logit_tokens=sequence),
        "vision_tower": batch_size * vision_tower_flops(vision_shape, num_layers=depth),
        "compressor": 3 * model.compressor.flops(batch_size),
        "projector": 3 * batch_size * projector_flops(model.compressor.out_dim, llm_shape.hidden_size, visual),
        "query_pass": batch_size * query_pass_flops(llm_shape, question) if model.compressor.needs_query else 0,
    }
    flops["total"] = sum(flops.values())
    return flops


def training_point(config: GpuConfig, llm: str, count: int, dtype: torch.dtype) -> dict[str, Any]:
    """Step time, tokens/s, FLOPs and MFU, and the stage shares of one instrumented step, at one (LLM, V)."""
    model = _build(config, llm, count, dtype)
    batch_size = config.train_batch[llm]
    batch = training_batch(model, batch_size, config.layout)
    step, trainable = train_step_fn(model, model.vision_tower, batch)
    for _ in range(config.warmup):
        step()
    seconds = summarize([time_once(step, config.device) for _ in range(config.repeats)])
    with StageClock(model_stages(model), config.device) as clock:
        total = time_once(step, config.device)
        stage_seconds = clock.seconds()
    sequence = batch["input_ids"].shape[1] - 1 + model.num_visual_tokens
    flops = step_flops(model, batch_size, sequence, config.layout.question_tokens)
    llm_params = count_parameters(list(model.language_model.parameters()))
    embedding = model.language_model.get_input_embeddings().weight.numel()
    out = {
        "compressor": model.config.compressor,
        "batch_size": batch_size,
        "sequence_length": sequence,
        "trainable_params": count_parameters(trainable),
        "llm_params_without_embedding": llm_params - embedding,
        "step_s": seconds,
        "tokens_per_s": batch_size * sequence / seconds.median,
        "flops_per_step": flops,
        "llm_6nt_flops_per_step": 6 * (llm_params - embedding) * batch_size * sequence,
        "stage_shares_of_one_step": shares(stage_seconds, total),
    }
    _free(model, batch, step)
    return out


def inference_point(config: GpuConfig, llm: str, count: int, dtype: torch.dtype) -> dict[str, Any]:
    """Batch-1 prefill latency (image + Q text tokens, logits at the last position) and KV-cached decode tokens/s."""
    model = _build(config, llm, count, dtype).eval()
    prompt = _inference_prompt(model, config.inference_text_tokens, config.device)

    def prefill() -> Any:
        with torch.no_grad():
            return model(**prompt, use_cache=True, logits_to_keep=1)

    def decode() -> None:
        with torch.no_grad():
            out = model(**prompt, use_cache=True, logits_to_keep=1)
            cache, token = out.cache, out.logits[:, -1:].argmax(-1)
            synchronize(config.device)
            start = _clock_start(config.device)
            for _ in range(config.decode_tokens):
                out = model(input_ids=token, cache=cache, use_cache=True, logits_to_keep=1)
                cache, token = out.cache, out.logits[:, -1:].argmax(-1)
            decode_seconds.append(_clock_stop(start, config.device))

    decode_seconds: list[float] = []
    for _ in range(config.warmup):
        prefill()
        decode()
    decode_seconds.clear()
    prefill_seconds = summarize([time_once(prefill, config.device) for _ in range(config.repeats)])
    for _ in range(config.repeats):
        decode()
    with StageClock(model_stages(model), config.device) as clock:
        total = time_once(prefill, config.device)
        stage_seconds = clock.seconds()
    out = {
        "compressor": model.config.compressor,
        "prompt_tokens": config.inference_text_tokens + model.num_visual_tokens,
        "prefill_s": prefill_seconds,
        "decode_tokens_per_s": summarize([config.decode_tokens / seconds for seconds in decode_seconds]),
        "stage_shares_of_prefill": shares(stage_seconds, total),
    }
    _free(model, prompt)
    return out


def _inference_prompt(model, text_tokens: int, device: str) -> dict[str, torch.Tensor]:
    """One sample: 2 text ids, the V `<image>` ids, then the rest of the Q text ids; the question is the text after
    the image."""
    generator = torch.Generator().manual_seed(0)
    vocab = min(int(model.config.text_config.vocab_size), int(model.config.image_token_id))
    text = torch.randint(3, vocab, (1, text_tokens), generator=generator)
    image = torch.full((1, model.num_visual_tokens), model.config.image_token_id)
    vision = model.config.vision_config
    prompt = {
        "input_ids": torch.cat([text[:, :2], image, text[:, 2:]], dim=1),
        "pixel_values": torch.randn(1, 3, vision.image_size, vision.image_size, generator=generator).to(model.dtype),
        "query_input_ids": text[:, 2:],
    }
    return {key: value.to(device) for key, value in prompt.items()}


def _clock_start(device: str) -> float:
    synchronize(device)
    return time.perf_counter()


def _clock_stop(start: float, device: str) -> float:
    synchronize(device)
    return time.perf_counter() - start


def _free(*objects: Any) -> None:
    """Drop a point's model before building the next (a 7B model and its optimizer state do not fit twice)."""
    del objects
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def mfu(point: dict[str, Any], peak: float) -> float:
    return point["flops_per_step"]["total"] / point["step_s"].median / peak


def targets(results: dict[str, Any], config: GpuConfig) -> list[dict[str, Any]]:
    """MFU at V = 576 for the 1.5B-shaped LLM (>= 45%); 7B prefill speed-up V = 1 over V = 576 (>= 5x)."""
    side = config.tower.image_size // config.tower.patch_size
    full, rows = str(side * side), []
    peak = results["peak_matmul_flops_per_s"]
    if "qwen2-1.5b" in results["training"] and full in results["training"]["qwen2-1.5b"]:
        value = mfu(results["training"]["qwen2-1.5b"][full], peak)
        rows.append(
            {"target": f"training MFU, 1.5B, V={full}", "bound": ">= 0.45", "value": value, "met": value >= 0.45}
        )
    if "qwen2-7b" in results["inference"] and {full, "1"} <= set(results["inference"]["qwen2-7b"]):
        points = results["inference"]["qwen2-7b"]
        value = points[full]["prefill_s"].median / points["1"]["prefill_s"].median
        rows.append(
            {"target": f"prefill speed-up V=1 over V={full}, 7B", "bound": ">= 5", "value": value, "met": value >= 5}
        )
    return rows


def format_table(results: dict[str, Any]) -> str:
    peak = results["peak_matmul_flops_per_s"]
    lines = [f"NOTE: {results['note']}", f"peak matmul: {peak / 1e12:.3f} TFLOP/s", ""]
    lines.append("training | V | compressor | step s | tokens/s | MFU | LLM 6NT MFU | shares " + STAGE_ORDER_TEXT)
    for llm, points in results["training"].items():
        for count, point in points.items():
            share = point["stage_shares_of_one_step"]
            lines.append(
                f"{llm} | {count} | {point['compressor']} | {point['step_s'].median:.4f} | "
                f"{point['tokens_per_s']:.0f} | {mfu(point, peak):.3f} | "
                f"{point['llm_6nt_flops_per_step'] / point['step_s'].median / peak:.3f} | {_share_text(share)}"
            )
    lines.append("")
    lines.append("inference | V | compressor | prefill ms | decode tok/s | prefill shares " + STAGE_ORDER_TEXT)
    for llm, points in results["inference"].items():
        for count, point in points.items():
            lines.append(
                f"{llm} | {count} | {point['compressor']} | {point['prefill_s'].median * 1e3:.2f} | "
                f"{point['decode_tokens_per_s'].median:.1f} | {_share_text(point['stage_shares_of_prefill'])}"
            )
    lines.append("")
    for row in results["targets"]:
        lines.append(f"{row['target']}: {row['value']:.3f} (target {row['bound']}) met={row['met']}")
    return "\n".join(lines)


def _share_text(share: dict[str, float]) -> str:
    return "/".join(f"{share.get(name, 0.0):.2f}" for name in STAGE_ORDER)
