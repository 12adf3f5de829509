"""What each stage trains, applied as `requires_grad` flags, and a table of trainable parameters per component.

- `pretrain`: compressor + projector (vision tower and LLM frozen; the LLM still runs QueCC's query pass, no grad),
  and LLaVA-Mini's pre-fusion layers (`prefusion`, part of the compressor's method: upstream trains and saves them
  with the projector);
- `finetune`: + the LLM (and the vision tower with `train_vision_tower`);
- `lora`: compressor + projector fully, the LLM through peft adapters only (the base LLM stays frozen);
- `full`: everything, vision tower included: training tiny models from scratch (the demo), where there is no
  pretrained tower or LLM to keep frozen.
`trainable` overrides the stage with an explicit component list.
"""

from __future__ import annotations

import logging

from torch import nn

logger = logging.getLogger(__name__)

COMPONENTS = ("vision_tower", "compressor", "prefusion", "projector", "language_model")
MM_COMPONENTS = ("compressor", "prefusion", "projector")

STAGE_COMPONENTS: dict[str, tuple[str, ...]] = {
    "pretrain": MM_COMPONENTS,
    "finetune": (*MM_COMPONENTS, "language_model"),
    "lora": MM_COMPONENTS,
    "full": COMPONENTS,
}


def trainable_components(stage: str, train_vision_tower: bool = False, trainable: list[str] | None = None) -> list[str]:
    """Components whose weights train fully (LoRA adapters are added on top in the `lora` stage)."""
    if trainable is not None:
        unknown = sorted(set(trainable) - set(COMPONENTS))
        if unknown:
            raise ValueError(f"training.trainable: unknown component(s) {unknown}; valid: {list(COMPONENTS)}")
        return [name for name in COMPONENTS if name in trainable]
    if stage not in STAGE_COMPONENTS:
        raise ValueError(f"unknown stage {stage!r}; valid: {list(STAGE_COMPONENTS)}")
    chosen = list(STAGE_COMPONENTS[stage])
    if train_vision_tower and stage in ("finetune", "lora") and "vision_tower" not in chosen:
        chosen.insert(0, "vision_tower")
    return chosen


def apply_trainable(model: nn.Module, components: list[str]) -> None:
    """Freeze everything, then unfreeze the chosen components (peft marks its adapters itself, after this)."""
    model.requires_grad_(False)
    for name in components:
        module = getattr(model, name, None)
        if module is not None:  # `prefusion` exists only for compressors with pre-fusion layers
            module.requires_grad_(True)


def _numel(parameter: nn.Parameter) -> int:
    """Parameter count, also for ZeRO-3 partitioned parameters (whose local tensor is empty)."""
    return int(getattr(parameter, "ds_numel", parameter.numel()))


def parameter_table(model: nn.Module) -> list[tuple[str, int, int]]:
    """(component, trainable, total) per component, in model order, plus any other top-level modules."""
    rows = []
    for name, module in model.named_children():
        params = list(module.parameters())
        if not params:
            continue
        rows.append((name, sum(_numel(p) for p in params if p.requires_grad), sum(_numel(p) for p in params)))
    return rows


def format_parameter_table(rows: list[tuple[str, int, int]]) -> str:
    lines = [f"{'component':<16} {'trainable':>14} {'total':>14} {'%':>7}"]
    for name, trainable, total in rows:
        lines.append(f"{name:<16} {trainable:>14,} {total:>14,} {100 * trainable / max(total, 1):>6.1f}%")
    trainable = sum(r[1] for r in rows)
    total = sum(r[2] for r in rows)
    lines.append(f"{'all':<16} {trainable:>14,} {total:>14,} {100 * trainable / max(total, 1):>6.1f}%")
    return "\n".join(lines)
