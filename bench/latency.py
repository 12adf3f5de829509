"""`python -m bench.latency`: LLM prefill and decode latency per (LLM shape, V), written for the scaling frontier.

    python -m bench.latency --shapes cpu --tokens 1,4,16,36,64,144,576 --text-tokens 50 --out bench/results
    llava-tc scaling frontier --cost latency --bench bench/results/latency_latest.json --out figures

What is timed: the LLM alone, batch 1, with random weights built from its config (no download). The prompt is V
visual embeddings (random vectors of the LLM's width, standing in for the projector's output) followed by Q text
ids, fed as `inputs_embeds`. Prefill is one forward over the Q + V positions with a KV cache and logits at the last
position; decode is K single-token steps on that cache (seconds per step). The vision tower, the query pass and the
compressor do not depend on N and are left out (their FLOPs are in `llava-tc scaling flops`).

Shapes (`--shapes`): `paper` is the paper's Qwen-1.5 0.5/1.8/4/7B presets at full size (a GPU job); `cpu` is the same
four at 1/8 of their width (same depth and vocabulary, 64-wide heads), labelled with the full models' nominal N so
the file joins the paper's law. The `cpu` seconds show how the latency axis works on a CPU; they are not what those
LLMs cost on a GPU. Any preset name or config.json can be listed instead. Rows are written as JSON
(`{"machine": ..., "rows": [...]}`, read by `llava_tc.scaling.latency.load_latency`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from bench.harness import machine_description, summarize, synchronize, time_once, utc_now, write_results
from llava_tc.scaling.params import count_llm_params
from llava_tc.scaling.presets import PAPER_NOMINAL_PARAMS_B
from llava_tc.scaling.shapes import llm_shape_from_config, read_llm_config

RESULTS = Path(__file__).parent / "results"
HEAD_DIM = 64
SHAPE_SETS = {"paper": tuple(PAPER_NOMINAL_PARAMS_B), "cpu": tuple(PAPER_NOMINAL_PARAMS_B)}
WIDTH_DIVISORS = {"cpu": 8}


def narrowed(config: dict[str, Any], divisor: int) -> dict[str, Any]:
    """The same LLM at 1/divisor of its width and MLP width (heads of HEAD_DIM, no GQA), depth and vocab unchanged."""
    hidden = config["hidden_size"] // divisor
    heads = max(1, hidden // HEAD_DIM)
    return {
        **config,
        "hidden_size": heads * HEAD_DIM,
        "intermediate_size": config["intermediate_size"] // divisor,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
    }


def shape_rows(shapes: str, layers: int | None) -> list[tuple[str, float, dict[str, Any]]]:
    """(label, N in billions for the law, HF config dict) for each LLM to time."""
    names = SHAPE_SETS.get(shapes, tuple(s for s in shapes.split(",") if s.strip()))
    out = []
    for spec in names:
        config, source = read_llm_config(spec.strip())
        label = source
        if shapes in WIDTH_DIVISORS:
            divisor = WIDTH_DIVISORS[shapes]
            config, label = narrowed(config, divisor), f"{source}/width{divisor}"
        if layers is not None:
            config = {**config, "num_hidden_layers": layers}
        n_b = PAPER_NOMINAL_PARAMS_B.get(source) or count_llm_params(llm_shape_from_config(config, source)).total / 1e9
        out.append((label, float(n_b), config))
    return out


def build_llm(config: dict[str, Any], dtype: torch.dtype, device: str) -> torch.nn.Module:
    fields = {k: v for k, v in config.items() if k != "model_type"}
    hf_config = AutoConfig.for_model(config["model_type"], **fields, attn_implementation="sdpa")
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(hf_config, dtype=dtype)
    return model.eval()


def time_point(model, text_tokens: int, visual_tokens: int, generated: int, warmup: int, repeats: int, device: str):
    """Median prefill seconds and median seconds per decode step at one (Q, V)."""
    generator = torch.Generator().manual_seed(0)
    width = model.config.hidden_size
    embed = model.get_input_embeddings()
    text = torch.randint(3, model.config.vocab_size, (1, text_tokens), generator=generator).to(device)
    dtype = embed.weight.dtype
    visual = torch.randn(1, visual_tokens, width, generator=generator).to(device=device, dtype=dtype) * 0.02
    with torch.no_grad():
        prompt = torch.cat([visual, embed(text)], dim=1)

    def prefill():
        with torch.no_grad():
            return model(inputs_embeds=prompt, use_cache=True, logits_to_keep=1)

    decode_seconds: list[float] = []

    def decode() -> None:
        """Greedy KV-cached steps after a prefill; only the steps are timed."""
        with torch.no_grad():
            out = prefill()
            cache, token = out.cache, out.logits[:, -1:].argmax(-1)
            synchronize(device)
            start = time.perf_counter()
            for _ in range(generated):
                out = model(input_ids=token, cache=cache, use_cache=True, logits_to_keep=1)
                cache, token = out.cache, out.logits[:, -1:].argmax(-1)
            synchronize(device)
            decode_seconds.append((time.perf_counter() - start) / generated)

    for _ in range(warmup):
        prefill()
        decode()
    decode_seconds.clear()
    prefill_stats = summarize([time_once(prefill, device) for _ in range(repeats)])
    for _ in range(repeats):
        decode()
    return prefill_stats, summarize(decode_seconds)


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
    dtype = getattr(torch, args.dtype or ("bfloat16" if device == "cuda" else "float32"))
    rows = []
    for label, n_b, config in shape_rows(args.shapes, args.layers):
        model = build_llm(config, dtype, device)
        # first touches of the weights and the allocator's growth happen here, not in the first timed point
        time_point(model, args.text_tokens, max(args.tokens), 1, args.warmup, 1, device)
        for tokens in args.tokens:
            prefill, decode = time_point(
                model, args.text_tokens, tokens, args.generated_tokens, args.warmup, args.repeats, device
            )
            rows.append(
                {
                    "llm": label,
                    "llm_params_b": n_b,
                    "layers": int(config["num_hidden_layers"]),
                    "hidden_size": int(config["hidden_size"]),
                    "text_tokens": args.text_tokens,
                    "num_visual_tokens": tokens,
                    "prefill_s": prefill.median,
                    "prefill_iqr_s": prefill.iqr,
                    "decode_s_per_token": decode.median,
                    "decode_iqr_s": decode.iqr,
                    "generated_tokens": args.generated_tokens,
                    "repeats": args.repeats,
                    "dtype": str(dtype).removeprefix("torch."),
                    "device": device,
                }
            )
            print(
                f"{label:>28} N={n_b:g}B V={tokens:>4}: prefill {prefill.median * 1e3:9.2f} ms, "
                f"decode {decode.median * 1e3:8.2f} ms/token",
                flush=True,
            )
        del model
    return {"rows": rows}


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="cpu", help="'cpu', 'paper', or comma-separated presets / config.json")
    parser.add_argument("--tokens", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 16, 36, 64, 144, 576])
    parser.add_argument("--text-tokens", type=int, default=50, help="text tokens Q in the prompt")
    parser.add_argument("--generated-tokens", type=int, default=8, help="decode steps timed after each prefill")
    parser.add_argument("--layers", type=int, default=None, help="build only this many decoder layers")
    parser.add_argument("--dtype", default=None, help="float32 / bfloat16 / float16 (default: bf16 on GPU, fp32 CPU)")
    parser.add_argument("--cpu", action="store_true", help="time on CPU even when a GPU is present")
    parser.add_argument("--warmup", type=int, default=1, help="untimed prefill + decode runs before each point")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for latency_<time>.json and latency_latest")
    parser.add_argument("--name", default="latency", help="file name prefix (default latency)")
    args = parser.parse_args(argv)
    if args.generated_tokens < 1 or args.repeats < 1 or args.text_tokens < 0:
        parser.error("--generated-tokens and --repeats must be >= 1, --text-tokens >= 0")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    started = utc_now()
    machine = machine_description()
    results = run(args)
    payload = {"suite": args.name, "started": started, "finished": utc_now(), "machine": machine, **results}
    path = write_results(args.out, args.name, payload)
    print(f"wrote {path} (and {args.name}_latest.json)")
    return path


if __name__ == "__main__":
    main()
