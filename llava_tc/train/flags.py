"""`llava-tc train` flags generated from the config schema: one flag per field, its help line and default from the
field's docstring and default (the schema is their one owner).

Each field `num_visual_tokens` is `--num-visual-tokens` and `--num_visual_tokens` (HF/LLaVA spelling); a boolean
takes `--bf16`, `--bf16 True|false|1|0` or `--no-bf16`; a list takes several values; an inline mapping takes JSON.
Values stay strings here: the schema converts and checks them, so a flag and a config file are validated alike and
an error names the flag. LLaVA's own flag names are added by `llava_tc.train.llava_flags`.
"""

from __future__ import annotations

import argparse
import json
import types
import typing
from typing import Any, Literal

from pydantic.fields import FieldInfo

from llava_tc.train.arguments import FIELD_SECTION, SECTIONS, TOP_LEVEL, TrainConfig, load_config
from llava_tc.train.llava_flags import LLAVA_RENAMES, add_llava_arguments, llava_overrides


def _unwrap(annotation: Any) -> Any:
    """`X | None` and `Annotated[X, ...]` -> X (what decides the flag's shape)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(options[0]) if len(options) == 1 else annotation
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return annotation


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"expected JSON (e.g. '{{\"hidden_size\": 64}}'), got {text!r}") from error


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    default = info.get_default(call_default_factory=True)
    return "none" if default is None else json.dumps(default) if isinstance(default, list | dict) else str(default)


def flag_names(name: str) -> list[str]:
    """Every spelling of the field's flag: ours (dashes), the underscore form, then LLaVA's name if it differs."""
    spellings = [f"--{name.replace('_', '-')}", f"--{name}"]
    return list(dict.fromkeys([*spellings, *LLAVA_RENAMES.get(name, ())]))


SPELLINGS = "_flag_spellings"
"""Namespace attribute: field -> the flag spelling used on the command line (errors name it)."""


class _FieldFlag(argparse.Action):
    """Stores the value (a `--no-X` flag stores "false") and remembers which spelling set it."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: str | None = None
    ) -> None:
        setattr(namespace, self.dest, "false" if self.nargs == 0 else values)
        spellings = dict(getattr(namespace, SPELLINGS, {}))
        spellings[self.dest] = str(option)
        setattr(namespace, SPELLINGS, spellings)


def _add_field_flag(group: argparse._ArgumentGroup, name: str, info: FieldInfo) -> None:
    annotation = _unwrap(info.annotation)
    description = " ".join((info.description or "").split()).replace("%", "%%")
    options: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "action": _FieldFlag}
    origin = typing.get_origin(annotation)
    if annotation is bool:
        options.update(nargs="?", const="true", metavar="BOOL")
        description += f" `--no-{name.replace('_', '-')}` sets false."
        group.add_argument(f"--no-{name.replace('_', '-')}", dest=name, action=_FieldFlag, nargs=0,
                           default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # fmt: skip
    elif origin is list:
        (item,) = typing.get_args(annotation)
        options["nargs"] = "+"
        if typing.get_origin(item) is Literal:
            options["choices"] = typing.get_args(item)
    elif origin is dict:
        options.update(type=_json_value, metavar="JSON")
    elif origin is Literal:
        options["choices"] = typing.get_args(annotation)
    group.add_argument(*flag_names(name), help=f"{description} (default: {_default_text(info)})", **options)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """`--config FILE`, one flag per schema field, and LLaVA's spellings."""
    parser.add_argument(
        "--config", default=None, help="YAML/JSON config file; flags override its values (default: none)"
    )
    top = parser.add_argument_group("run")
    for name in TOP_LEVEL:
        _add_field_flag(top, name, TrainConfig.model_fields[name])
    for section, cls in SECTIONS.items():
        group = parser.add_argument_group(f"{section} (config section `{section}`)")
        for name, info in cls.model_fields.items():
            _add_field_flag(group, name, info)
    add_llava_arguments(parser)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The config file (if any) with every flag given on the command line applied over it, validated."""
    overrides = {key: value for key, value in vars(args).items() if key in FIELD_SECTION}
    flags = dict(getattr(args, SPELLINGS, {}))
    extra, extra_flags = llava_overrides(args, overrides)
    overrides.update(extra)
    flags.update(extra_flags)
    return load_config(args.config if args.config else {}, flags=flags, **overrides)
