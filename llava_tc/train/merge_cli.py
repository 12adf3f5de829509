"""`llava-tc merge-lora RUN_DIR OUT_DIR`: fold a LoRA run's adapters into a full, `from_pretrained`-loadable model."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a finished `--stage lora` run directory (holds adapter/)")
    parser.add_argument("out_dir", help="where to write the merged model (+ tokenizer and image processor)")
    parser.add_argument(
        "--base",
        default=None,
        help="full llava_tc model folder the adapters were trained on (default: rebuilt from RUN_DIR/config.yaml)",
    )


def merge_lora(run_dir: str | Path, out_dir: str | Path, base: str | Path | None = None) -> Path:
    """Merge and save; returns the output folder."""
    from llava_tc.model.processing import LlavaTCProcessor
    from llava_tc.train.lora import load_lora_run, merge_adapters

    model, _ = load_lora_run(run_dir, base)
    merged = merge_adapters(model)
    out = Path(out_dir)
    merged.save_pretrained(out)
    LlavaTCProcessor.from_pretrained(str(run_dir)).save_pretrained(out)
    return out


def run(args: argparse.Namespace) -> int:
    out = merge_lora(args.run_dir, args.out_dir, args.base)
    print(f"merged {args.run_dir} -> {out}")
    return 0
