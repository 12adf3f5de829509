"""`llava-tc export MODEL_DIR OUT_DIR`: write an `identity` + `mlp2x_gelu` model as an HF LLaVA checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", type=Path, help="a saved llava_tc model (run directory or save_pretrained folder)")
    parser.add_argument("out_dir", type=Path, help="where to write the LlavaForConditionalGeneration checkpoint")


def run(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    from llava_tc.model import LlavaTCForConditionalGeneration
    from llava_tc.model.export import export_to_hf_llava

    if not (args.model_dir / "config.json").exists():
        raise SystemExit(f"{args.model_dir}: no config.json here; expected a folder written by save_pretrained")
    model = LlavaTCForConditionalGeneration.from_pretrained(args.model_dir)
    tokenizer = (
        AutoTokenizer.from_pretrained(args.model_dir) if (args.model_dir / "tokenizer_config.json").exists() else None
    )
    export_to_hf_llava(model, str(args.out_dir), tokenizer=tokenizer)
    print(
        f"wrote an HF LlavaForConditionalGeneration checkpoint to {args.out_dir} "
        f"(image_seq_length={model.num_visual_tokens})"
    )
    return 0
