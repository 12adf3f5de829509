"""One nested model trained once vs one model per token count, at equal steps, on the demo's data (CPU, tiny).

    python -m bench.nested_vs_separate --out nested_out [--steps 300] [--counts 1,4,16] [--compressors m3,resampler]
        [--llm medium] [--train-scenes 2000] [--tower-steps 800]

For each compressor: a nested run (`m3` with `scales` = the counts, its loss the mean over them every step;
`resampler` with `nested: true`, `nested_counts` = the counts, MQT's drawn prefix per step) trained once and
evaluated at every count with `--num-visual-tokens`, against one run per count (`m3` with that single scale,
`resampler` with V_max = V) trained for the same number of steps. Everything else is the demo's: its dataset, its
tower (trained once here), its tokenizer and its `finetune` recipe (`llava_tc.demo.grid.sweep_spec`), with one of
the demo's LLMs (default the middle one); `--train-scenes`/`--tower-steps` shrink the demo's data and tower. Runs
are trained one after another in this process, so their times compare (say the load).
Prints a markdown table (accuracy per count, training seconds) and writes `OUT/nested_vs_separate.json`.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

NESTED_OPTIONS = {
    "m3": lambda counts: {"scales": counts},
    "resampler": lambda counts: {"nested": True, "nested_counts": counts},
}
SINGLE_OPTIONS = {
    "m3": lambda count: {"scales": [count]},
    "resampler": lambda count: {"max_visual_tokens": count},
}


def run_config(
    spec: dict[str, Any], out: Path, llm: dict[str, Any], compressor: str, count: int, options: dict[str, Any]
) -> dict:
    from llava_tc.demo.grid import STAGE

    config = copy.deepcopy(spec["base"])
    config["stage"] = STAGE
    config["output_dir"] = str(out)
    config["model"].update(llm_config=llm, compressor=compressor, num_visual_tokens=count, compressor_options=options)
    return config


def train_and_score(config: dict, data_dir: Path, counts: list[int | None], results: Path) -> tuple[float, dict]:
    from llava_tc.eval.runner import evaluate
    from llava_tc.train import train

    out = Path(config["output_dir"])
    start = time.perf_counter()
    if not (out / "DONE").is_file():
        train(config)
    seconds = time.perf_counter() - start
    scores = {}
    for count in counts:
        metrics = evaluate(
            out,
            "synthetic",
            data_dir,
            out / "eval" / f"v{count}",
            results_path=results,
            num_visual_tokens=count,
            batch_size=128,
            progress=False,
            overwrite=True,
        )
        scores[count] = next(m.value for m in metrics if m.name == "accuracy")
    return seconds, scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="nested_out")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--counts", default="1,4,16")
    parser.add_argument("--compressors", default="m3,resampler")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--llm", choices=("small", "medium", "large"), default="medium")
    parser.add_argument("--train-scenes", type=int, default=None, help="default: the demo's (2000)")
    parser.add_argument("--tower-steps", type=int, default=None, help="default: the demo's (800)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from llava_tc.demo.grid import LARGE, MEDIUM, PLANS, SMALL, sweep_spec
    from llava_tc.demo.pipeline import _make_dataset, _make_tokenizer, _pretrain_tower

    torch.set_num_threads(1)
    counts = [int(c) for c in args.counts.split(",")]
    plan = PLANS["default"]
    plan = dataclasses.replace(
        plan,
        max_steps=args.steps,
        num_train_scenes=args.train_scenes or plan.num_train_scenes,
        tower_steps=args.tower_steps or plan.tower_steps,
    )
    llm = {"small": SMALL, "medium": MEDIUM, "large": LARGE}[args.llm].config()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    _make_dataset(plan, out / "data", args.seed)
    _make_tokenizer(out)
    _pretrain_tower(plan, out, args.seed)
    spec = sweep_spec(plan, out, args.seed)
    results = out / "results.jsonl"
    table: dict[str, dict[str, Any]] = {}
    for compressor in args.compressors.split(","):
        options = NESTED_OPTIONS[compressor](counts)
        nested = run_config(spec, out / "runs" / f"{compressor}-nested", llm, compressor, max(counts), options)
        seconds, scores = train_and_score(nested, out / "data", counts, results)
        table[f"{compressor} nested"] = {"train_s": seconds, "accuracy": scores}
        separate: dict[str, Any] = {"train_s": 0.0, "accuracy": {}, "train_s_per_count": {}}
        for count in counts:
            config = run_config(
                spec, out / "runs" / f"{compressor}-v{count}", llm, compressor, count, SINGLE_OPTIONS[compressor](count)
            )
            seconds, scores = train_and_score(config, out / "data", [None], results)
            separate["train_s"] += seconds
            separate["train_s_per_count"][count] = seconds
            separate["accuracy"][count] = scores[None]
        table[f"{compressor} separate"] = separate
        print(json.dumps({k: table[k] for k in table if k.startswith(compressor)}, default=str), flush=True)
    settings = {"steps": args.steps, "llm": args.llm, "scenes": plan.num_train_scenes, "tower": plan.tower_steps}
    (out / "nested_vs_separate.json").write_text(json.dumps({**settings, "table": table}, indent=1, default=str))
    header = "| run | " + " | ".join(f"V={c}" for c in counts) + " | training s |"
    lines = [header, "|" + " --- |" * (len(counts) + 2)]
    for name, row in table.items():
        cells = " | ".join(f"{100 * row['accuracy'][c]:.1f}" for c in counts)
        lines.append(f"| {name} | {cells} | {row['train_s']:.0f} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
