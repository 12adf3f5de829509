"""`llava-tc tower pretrain`: a small CLIP vision tower pretrained on your own LLaVA-JSON image-caption pairs."""

from __future__ import annotations

import argparse

OBJECTIVES = ("contrastive", "heads", "both")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from llava_tc.tower.settings import TOWER_VISION, TowerSettings

    defaults = TowerSettings()
    commands = parser.add_subparsers(dest="tower_command", required=True, metavar="{pretrain}")
    pretrain = commands.add_parser("pretrain", help="CLIP's contrastive loss on image-caption pairs (+ scene heads)")
    pretrain.add_argument("--data", required=True, nargs="+", help="LLaVA .json/.jsonl files or folders of them")
    pretrain.add_argument("--out", required=True, help="output folder: a CLIPVisionModel + its image processor")
    pretrain.add_argument("--image-folder", default=None, help="image root (default: each data file's folder)")
    pretrain.add_argument("--eval-data", nargs="+", default=None, help="held-out pairs (default: a split of --data)")
    pretrain.add_argument("--held-out-fraction", type=float, default=0.1, help="images held out without --eval-data")
    pretrain.add_argument(
        "--scene-labels", default=None, help="scenes.json of `llava-tc data synth`: adds the supervised heads"
    )
    pretrain.add_argument(
        "--objective", choices=OBJECTIVES, default=None, help="default: both with --scene-labels, else contrastive"
    )
    pretrain.add_argument("--grid-size", type=int, default=defaults.grid_size, help="the scenes' object grid side")
    pretrain.add_argument("--steps", type=int, default=defaults.steps)
    pretrain.add_argument("--batch-size", type=int, default=defaults.batch_size)
    pretrain.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    pretrain.add_argument("--image-size", type=int, default=TOWER_VISION["image_size"])
    pretrain.add_argument("--patch-size", type=int, default=TOWER_VISION["patch_size"])
    pretrain.add_argument("--hidden-size", type=int, default=TOWER_VISION["hidden_size"])
    pretrain.add_argument("--layers", type=int, default=TOWER_VISION["num_hidden_layers"])
    pretrain.add_argument("--seed", type=int, default=0)


def _objective(args: argparse.Namespace) -> str:
    objective = args.objective or ("both" if args.scene_labels else "contrastive")
    if objective != "contrastive" and not args.scene_labels:
        raise ValueError(f"--objective {objective} needs --scene-labels (the heads learn from scene labels)")
    return objective


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from llava_tc.tower import (
        TOWER_VISION,
        TowerSettings,
        pairs_data,
        pretrain_tower,
        read_pairs,
        split_pairs,
        tower_processor,
    )

    objective = _objective(args)
    if args.image_size % args.patch_size:
        raise ValueError(f"--image-size {args.image_size} is not a multiple of --patch-size {args.patch_size}")
    heads = TOWER_VISION["num_attention_heads"]
    if args.hidden_size % heads:
        raise ValueError(f"--hidden-size {args.hidden_size} must be a multiple of the tower's {heads} attention heads")
    vision = {
        **TOWER_VISION,
        "image_size": args.image_size,
        "patch_size": args.patch_size,
        "hidden_size": args.hidden_size,
        "intermediate_size": 2 * args.hidden_size,
        "num_hidden_layers": args.layers,
    }
    pairs = read_pairs(args.data, args.image_folder)
    if args.eval_data:
        train, held_out = pairs, read_pairs(args.eval_data, args.image_folder)
    else:
        train, held_out = split_pairs(pairs, args.held_out_fraction, args.seed)
    processor = tower_processor(vision)
    train_data = pairs_data(train, processor, args.scene_labels, args.grid_size)
    held_data = pairs_data(held_out, processor, args.scene_labels, args.grid_size)
    if objective == "heads":
        train_data, held_data = replace(train_data, captions=None), replace(held_data, captions=None)
    elif objective == "contrastive":
        train_data, held_data = replace(train_data, labels=None), replace(held_data, labels=None)
    settings = TowerSettings(args.steps, args.batch_size, args.learning_rate, args.grid_size)
    print(f"tower: {objective} on {len(train)} pairs, {len(held_out)} held out, {args.steps} steps")
    report = pretrain_tower(vision, train_data, held_data, args.out, settings, args.seed, processor)
    retrieval = report.get("held_out_retrieval")
    if retrieval:
        print(
            f"held-out image->caption retrieval: {retrieval['image_to_caption']:.1%} "
            f"(chance {retrieval['chance']:.1%}, {retrieval['num_captions']} captions)"
        )
    if "held_out_accuracy" in report:
        print("held-out heads: " + ", ".join(f"{k} {v:.1%}" for k, v in report["held_out_accuracy"].items()))
    print(f"saved to {args.out} ({report['train_seconds']:.0f} s); use it as `model.vision: {args.out}`")
    return 0
