"""`llava-tc export MODEL_DIR OUT_DIR`: an `identity` + `mlp2x_gelu` run as an HF LLaVA checkpoint + processor."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", type=Path, help="a saved llava_tc model (run directory or save_pretrained folder)")
    parser.add_argument("out_dir", type=Path, help="where to write the LlavaForConditionalGeneration checkpoint")


def run(args: argparse.Namespace) -> int:
    from llava_tc.eval.loading import load_processor
    from llava_tc.model.export import export_to_hf_llava
    from llava_tc.model.modeling import LlavaTCForConditionalGeneration
    from llava_tc.model.strict_load import load_pretrained_strict

    if not (args.model_dir / "config.json").exists():
        raise FileNotFoundError(f"{args.model_dir}: no config.json here; expected a folder written by save_pretrained")
    model = load_pretrained_strict(LlavaTCForConditionalGeneration, args.model_dir)
    export_to_hf_llava(model, args.out_dir, processor=load_processor(args.model_dir, model))
    print(
        f"wrote an HF LlavaForConditionalGeneration checkpoint with its LlavaProcessor to {args.out_dir} "
        f"(image_seq_length={model.num_visual_tokens})"
    )
    return 0
