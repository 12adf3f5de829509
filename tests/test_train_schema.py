"""The config schema (issue 14 item 2): YAML's number strings are numbers, booleans are never guessed, ranges and
choices are enforced, inline HF configs and compressor options are checked key by key, and every error names the
file, the dotted key, the value and what is valid."""

from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml

from llava_tc.model.compressors import get_compressor_class, list_compressors
from llava_tc.train.arguments import (
    COMPRESSOR_BUILD_ARGUMENTS,
    FIELD_SECTION,
    SECTIONS,
    ConfigError,
    TrainConfig,
    load_config,
)

MINIMAL: dict[str, Any] = {"model": {"vision": "clip", "llm": "qwen"}, "data": {"data": ["train.json"]}}


def with_values(**sections: dict[str, Any]) -> dict[str, Any]:
    config = copy.deepcopy(MINIMAL)
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    return config


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_number_strings_are_numbers(tmp_path):
    # PyYAML 1.1 reads `1e-3` (no dot) as a string: the run crashed after the model was built.
    text = yaml.safe_dump(MINIMAL) + "training: {learning_rate: 1e-3, warmup_ratio: 3e-2}\n"
    path = write_yaml(tmp_path / "run.yaml", text)
    assert yaml.safe_load(path.read_text())["training"]["learning_rate"] == "1e-3"
    config = load_config(path)
    assert config.training.learning_rate == 1e-3 and isinstance(config.training.learning_rate, float)
    assert config.training.warmup_ratio == 0.03


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("training", "bf16", "false", False),  # was True: a non-empty string is truthy
        ("training", "bf16", "False", False),
        ("training", "bf16", "yes", True),
        ("training", "bf16", 0, False),
        ("model", "num_visual_tokens", "4", 4),
        ("training", "per_device_train_batch_size", "4", 4),
        ("training", "per_device_train_batch_size", 8.0, 8),
        ("data", "data", "file.json", ["file.json"]),  # was "data file not found: f"
        ("training", "report_to", "wandb", ["wandb"]),
        ("model", "compressor_options", {"num_heads": "4"}, {"num_heads": 4}),
    ],
)
def test_values_are_converted_to_their_types(section, key, value, expected):
    values = with_values(**{section: {key: value}})
    if key == "compressor_options":
        values["model"]["compressor"] = "quecc"
    config = load_config(values)
    got = getattr(getattr(config, section), key)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("training", "bf16", "maybe", "training.bf16 = 'maybe': Input should be a valid boolean"),
        ("training", "save_steps", 0, "training.save_steps = 0: Input should be greater than 0"),
        ("training", "learning_rate", "2e-5x", "training.learning_rate = '2e-5x': Input should be a valid number"),
        ("training", "per_device_train_batch_size", 4.5, "per_device_train_batch_size = 4.5: Input should be a valid"),
        ("training", "warmup_ratio", 1.5, "training.warmup_ratio = 1.5: Input should be less than 1"),
        ("training", "report_to", ["jsonl", "wandbb"], "training.report_to.1 = 'wandbb': Input should be 'jsonl', "),
        ("training", "lr_scheduler_type", "cosin", "training.lr_scheduler_type = 'cosin': unknown scheduler"),
        ("training", "trainable", ["llm"], "training.trainable = ['llm']: unknown component(s) ['llm']; valid: ["),
        ("training", "learning_rte", 1, "training.learning_rte = 1: unknown key (did you mean 'learning_rate'?)"),
        ("data", "template", "vicuna", "data.template = 'vicuna': unknown conversation template 'vicuna'; valid:"),
        ("data", "image_aspect", "square", "data.image_aspect = 'square': Input should be 'pad', 'resize' or 'crop'"),
        ("data", "on_bad_sample", "ignore", "data.on_bad_sample = 'ignore': Input should be 'raise' or 'skip'"),
        ("data", "data", [], "data.data = []: Value should have at least 1 item"),
        ("model", "num_visual_tokens", "four", "model.num_visual_tokens = 'four': Input should be a valid integer"),
        ("model", "compressor", "quec", "model.compressor = 'quec': unknown compressor 'quec'; known compressors:"),
        ("model", "projector", "mlp2x_gel", "model.projector = 'mlp2x_gel': unknown projector 'mlp2x_gel'"),
        ("model", "query_source", "llm", "model.query_source = 'llm': Input should be 'llm_last' or 'embed_mean'"),
        (
            "model",
            "vision_config",
            {"model_type": "clip_vision_model", "hidden_sise": 32},
            "model.vision_config.hidden_sise = 32: not a CLIPVisionConfig key (did you mean 'hidden_size'?)",
        ),
        (
            "model",
            "llm_config",
            {"model_type": "qwen2", "num_hiden_layers": 2},
            "model.llm_config.num_hiden_layers = 2: not a Qwen2Config key (did you mean 'num_hidden_layers'?)",
        ),
        (
            "model",
            "vision_config",
            {"model_type": "clip_vison_model"},
            "model.vision_config.model_type = 'clip_vison_model': needs a valid `model_type`",
        ),
    ],
)
def test_bad_values_name_file_key_value_and_what_is_valid(tmp_path, section, key, value, message):
    values = with_values(**{section: {key: value}})
    if key == "llm_config":
        values["model"]["tokenizer"] = "tok"
    path = write_yaml(tmp_path / "run.yaml", yaml.safe_dump(values))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def test_compressor_option_of_the_wrong_type():
    values = with_values(model={"compressor": "quecc", "compressor_options": {"num_heads": "eight"}})
    with pytest.raises(ConfigError) as error:
        load_config(values)
    assert "config: model.compressor_options.num_heads = 'eight': Input should be a valid integer" in str(error.value)


def test_every_problem_is_reported_at_once():
    values = with_values(training={"bf16": "maybe", "save_steps": 0}, data={"template": "x"})
    with pytest.raises(ConfigError) as error:
        load_config(values)
    lines = str(error.value).splitlines()
    assert len(lines) == 3 and {line.split(" = ")[0] for line in lines} == {
        "config: data.template",
        "config: training.bf16",
        "config: training.save_steps",
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"data": {"data": ["x"]}}, "config: model: give `vision` (a tower folder)"),
        ({"model": {"vision": "v"}, "data": {"data": ["x"]}}, "config: model: give `llm`"),
        ({"model": {"vision": "v", "llm_config": {"model_type": "qwen2"}}, "data": {"data": ["x"]}}, "`tokenizer`"),
        ({"model": {"vision": "v", "llm": "l"}}, "config: data.data: Field required"),
        (
            {**MINIMAL, "stage": "pretrain", "model": {**MINIMAL["model"], "pretrained_mm": "r"}},
            "not valid in pretrain",
        ),
        (
            {**MINIMAL, "model": {"init_from": "r", "allow_new_weights": "projecter"}},
            "unknown component(s) ['projecter']",
        ),
        (
            {**MINIMAL, "data": "train.json"},
            "config: data = 'train.json': the `data` section must be a mapping of its fields, got str",
        ),
    ],
)
def test_cross_field_rules_live_in_the_schema(values, message):
    with pytest.raises(ConfigError, match=None) as error:
        load_config(values)
    assert message in str(error.value)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = write_yaml(tmp_path / "broken.yaml", "model:\n  vision: clip\n  llm: [qwen\ndata: {data: [x]}\n")
    with pytest.raises(ConfigError, match=rf"^{path}: YAML syntax error at line 4, column 5: "):
        load_config(path)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"model: \xff\xfe\n")
    with pytest.raises(ConfigError, match=rf"^{binary}: not UTF-8 text"):
        load_config(binary)


@pytest.mark.parametrize("name", list_compressors())
def test_compressor_options_follow_each_registered_constructor(name):
    parameters = inspect.signature(get_compressor_class(name).__init__).parameters
    options = [key for key in parameters if key not in COMPRESSOR_BUILD_ARGUMENTS]
    values = with_values(model={"compressor": name, "compressor_options": {"not_an_option": 1}})
    with pytest.raises(ConfigError) as error:
        load_config(values)
    assert f"model.compressor_options.not_an_option = 1: not an option of compressor {name}" in str(error.value)
    assert f"(its options: {', '.join(options) or 'none'})" in str(error.value)
    defaults = {key: parameters[key].default for key in options if parameters[key].default is not inspect._empty}
    config = load_config(with_values(model={"compressor": name, "compressor_options": defaults}))
    assert config.model.compressor_options == defaults


def test_every_field_is_documented_and_named_once():
    for section, cls in {"": TrainConfig, **SECTIONS}.items():
        for name, info in cls.model_fields.items():
            if name in SECTIONS and not section:
                continue
            assert info.description, f"{section or 'top level'}.{name} has no docstring (its --help line)"
            assert FIELD_SECTION[name] == section


def test_resolved_config_round_trips(tmp_path):
    config = load_config(with_values(training={"learning_rate": "1e-3", "report_to": "wandb"}))
    config.dump(tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config
