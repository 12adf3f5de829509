"""Training throughput (samples/s) of `llava_tc.train.train` on tiny models and the synthetic dataset, on CPU or GPU.

Run `python -m bench.train_throughput [--steps 30] [--compressors tokenpacker quecc] [--stages full pretrain]`.
Each row is one short run (plain Trainer, no DeepSpeed) with the offline chatml tokenizer and 48 px images; the rate
is the run's `samples_per_s` (as in `DONE`: from the start of training to the last log line, data loading and the
optimizer included). Results go to `bench/results/train_throughput.json`.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from llava_tc.train import train
from tests.train_scripts.common import prepare_assets, tiny_config

RESULTS = Path(__file__).parent / "results" / "train_throughput.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--compressors", nargs="+", default=["tokenpacker", "quecc"])
    parser.add_argument("--stages", nargs="+", default=["full", "pretrain"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        assets = prepare_assets(Path(folder), scenes=64)
        for compressor in args.compressors:
            for stage in args.stages:
                start = time.perf_counter()
                result = train(
                    tiny_config(
                        assets,
                        Path(folder) / f"{compressor}-{stage}",
                        stage,
                        compressor,
                        max_steps=args.steps,
                        per_device_train_batch_size=args.batch_size,
                        report_to=["none"],
                    )
                )
                rows.append(
                    {
                        "compressor": compressor,
                        "stage": stage,
                        "steps": result.global_step,
                        "batch_size": args.batch_size,
                        "samples_per_s": round(result.samples_per_s, 2),
                        "train_runtime_s": round(result.train_runtime_s, 2),
                        "wall_s_with_setup": round(time.perf_counter() - start, 2),
                    }
                )
    print(f"{'compressor':<12} {'stage':<9} {'steps':>5} {'batch':>5} {'samples/s':>10} {'train s':>8} {'wall s':>7}")
    for r in rows:
        print(
            f"{r['compressor']:<12} {r['stage']:<9} {r['steps']:>5} {r['batch_size']:>5} {r['samples_per_s']:>10}"
            f" {r['train_runtime_s']:>8} {r['wall_s_with_setup']:>7}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "torch": torch.__version__,
        "threads": args.threads,
        "machine": platform.machine(),
        "cuda": torch.cuda.is_available(),
    }
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
