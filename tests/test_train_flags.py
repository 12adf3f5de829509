"""`llava-tc train` flags (issue 15 item 3): LLaVA's command lines resolve to the same config as our spelling, every
flag has a help line and its default from the schema, bad values fail before any model is built."""

from __future__ import annotations

import argparse
import shlex

import pytest

from llava_tc.cli import main
from llava_tc.train.arguments import FIELD_SECTION, SECTIONS, ConfigError, TrainConfig
from llava_tc.train.flags import add_config_arguments, config_from_args, flag_names
from llava_tc.train.llava_flags import FIXED, NO_EFFECT

# haotian-liu/LLaVA scripts/v1_5/finetune.sh (commit c121f04) after `deepspeed llava/train/train_mem.py`, verbatim.
LLAVA_FINETUNE = """
    --deepspeed ./scripts/zero3.json
    --model_name_or_path lmsys/vicuna-13b-v1.5
    --version v1
    --data_path ./playground/data/llava_v1_5_mix665k.json
    --image_folder ./playground/data
    --vision_tower openai/clip-vit-large-patch14-336
    --pretrain_mm_mlp_adapter ./checkpoints/llava-v1.5-13b-pretrain/mm_projector.bin
    --mm_projector_type mlp2x_gelu
    --mm_vision_select_layer -2
    --mm_use_im_start_end False
    --mm_use_im_patch_token False
    --image_aspect_ratio pad
    --group_by_modality_length True
    --bf16 True
    --output_dir ./checkpoints/llava-v1.5-13b
    --num_train_epochs 1
    --per_device_train_batch_size 16
    --per_device_eval_batch_size 4
    --gradient_accumulation_steps 1
    --evaluation_strategy "no"
    --save_strategy "steps"
    --save_steps 50000
    --save_total_limit 1
    --learning_rate 2e-5
    --weight_decay 0.
    --warmup_ratio 0.03
    --lr_scheduler_type "cosine"
    --logging_steps 1
    --tf32 True
    --model_max_length 2048
    --gradient_checkpointing True
    --dataloader_num_workers 4
    --lazy_preprocess True
    --report_to wandb
"""

OURS_FINETUNE = """
    --deepspeed ./scripts/zero3.json --llm lmsys/vicuna-13b-v1.5 --template vicuna_v1
    --data ./playground/data/llava_v1_5_mix665k.json --image-folder ./playground/data
    --vision openai/clip-vit-large-patch14-336
    --pretrained-mm ./checkpoints/llava-v1.5-13b-pretrain/mm_projector.bin --projector mlp2x_gelu --select-layer -2
    --image-aspect pad --group-by-modality-length --bf16 --output-dir ./checkpoints/llava-v1.5-13b
    --num-train-epochs 1 --per-device-train-batch-size 16 --gradient-accumulation-steps 1 --save-steps 50000
    --save-total-limit 1 --learning-rate 2e-5 --weight-decay 0 --warmup-ratio 0.03 --lr-scheduler-type cosine
    --logging-steps 1 --tf32 --model-max-length 2048 --gradient-checkpointing --dataloader-num-workers 4
    --report-to wandb
"""

# scripts/v1_5/pretrain.sh, the flags that differ from finetune.sh.
LLAVA_PRETRAIN_CHANGES = {
    "--version": "plain",
    "--tune_mm_mlp_adapter": "True",
    "--per_device_train_batch_size": "32",
    "--learning_rate": "1e-3",
    "--deepspeed": "./scripts/zero2.json",
}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llava-tc train")
    add_config_arguments(parser)
    return parser


def resolve(command: str | list[str]) -> TrainConfig:
    argv = shlex.split(command) if isinstance(command, str) else command
    return config_from_args(parser().parse_args(argv))


def test_llava_finetune_command_line_is_our_config():
    theirs, ours = resolve(LLAVA_FINETUNE), resolve(OURS_FINETUNE)
    assert theirs == ours
    assert theirs.stage == "finetune" and theirs.data.template == "vicuna_v1"
    assert theirs.training.learning_rate == 2e-5 and theirs.training.bf16 is True and theirs.training.tf32 is True
    assert theirs.model.llm == "lmsys/vicuna-13b-v1.5" and theirs.data.data == [
        "./playground/data/llava_v1_5_mix665k.json"
    ]
    assert theirs.training.report_to == ["wandb"] and theirs.model.select_layer == -2


def test_llava_pretrain_command_line_selects_the_pretrain_stage():
    argv = shlex.split(LLAVA_FINETUNE)
    for flag, value in LLAVA_PRETRAIN_CHANGES.items():
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    argv = [
        a
        for a in argv
        if a not in ("--pretrain_mm_mlp_adapter", "./checkpoints/llava-v1.5-13b-pretrain/mm_projector.bin")
    ]
    config = resolve(argv)
    ours = OURS_FINETUNE.replace("--template vicuna_v1", "--template plain")
    ours = ours.replace("--pretrained-mm ./checkpoints/llava-v1.5-13b-pretrain/mm_projector.bin", "")
    ours += " --stage pretrain --per-device-train-batch-size 32 --learning-rate 1e-3 --deepspeed ./scripts/zero2.json"
    expected = resolve(ours)
    assert config == expected and config.stage == "pretrain" and config.data.template == "plain"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ("--bf16", True),
        ("--bf16 True", True),
        ("--bf16 false", False),
        ("--bf16 0", False),
        ("--no-bf16", False),
        ("--bf16 --no-bf16", False),
    ],
)
def test_boolean_flag_spellings(argv, expected):
    assert resolve(f"--vision v --llm l --data d.json {argv}").training.bf16 is expected


def test_image_aspect_and_lora_spellings():
    config = resolve(
        "--vision v --llm l --data d.json --image_aspect_ratio square --lora_enable True --mm_projector_lr 2e-5"
    )
    assert config.data.image_aspect == "crop" and config.stage == "lora" and config.training.mm_learning_rate == 2e-5


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ("--bf16 maybe", "flag --bf16: training.bf16 = 'maybe': Input should be a valid boolean"),
        ("--learning_rate 2e-5x", "flag --learning_rate: training.learning_rate = '2e-5x': Input should be a valid"),
        ("--save-steps 0", "flag --save-steps: training.save_steps = '0': Input should be greater than 0"),
        ("--version v2", "flag --version: data.template = 'v2': unknown conversation template 'v2'"),
        ("--template chatt", "flag --template: data.template = 'chatt': unknown conversation template"),
        (
            "--mm_projector_type mlp2x_gleu",
            "flag --mm_projector_type: model.projector = 'mlp2x_gleu': unknown projector",
        ),
        ("--compressor quec", "flag --compressor: model.compressor = 'quec': unknown compressor 'quec'"),
        (
            "--compressor quecc --compressor-options '{\"heads\": 2}'",
            "model.compressor_options.heads = 2: not an option",
        ),
        ("--mm_use_im_start_end True", "flag --mm_use_im_start_end True: only False is accepted (image start/end"),
        ("--tune_mm_mlp_adapter True --stage finetune", "flag --tune_mm_mlp_adapter sets stage='pretrain' but stage="),
        ("--tune_mm_mlp_adapter True --lora_enable True", "flag --lora_enable sets stage='lora' but --tune_mm_mlp"),
        ("--lazy_preprocess maybe", "flag --lazy_preprocess: expected a bool, got 'maybe'"),
    ],
)
def test_bad_flag_values_name_the_flag(argv, message):
    with pytest.raises(ValueError) as error:
        resolve(f"--vision v --llm l --data d.json {argv}")
    assert message in str(error.value)


@pytest.mark.parametrize("argv", ["--image-aspect padd", "--report-to jsonl wanbd", "--on_bad_sample skp"])
def test_typo_in_a_literal_choice_is_an_argparse_error(argv, capsys):
    with pytest.raises(SystemExit):
        resolve(f"--vision v --llm l --data d.json {argv}")
    assert "invalid choice" in capsys.readouterr().err


def test_every_field_flag_has_its_docstring_and_default_in_help():
    actions = {a.dest: a for a in parser()._actions if a.help != argparse.SUPPRESS}
    for name, section in FIELD_SECTION.items():
        info = (SECTIONS[section] if section else TrainConfig).model_fields[name]
        action = actions[name]
        assert set(flag_names(name)) == set(action.option_strings)
        assert " ".join(info.description.split()) in action.help.replace("%%", "%")
        default = "required" if info.is_required() else info.get_default(call_default_factory=True)
        assert f"(default: {'none' if default is None else default}".replace("'", '"') in action.help.replace("'", '"')
    for action in actions.values():
        assert action.dest == "help" or "(default: " in action.help, action.option_strings


def test_mistyped_value_fails_before_any_model_is_built(tmp_path, monkeypatch, capsys):
    import llava_tc.train.run as run

    def never(*args, **kwargs):
        raise AssertionError("a model was built for an invalid config")

    monkeypatch.setattr(run, "build_components", never)
    config = tmp_path / "run.yaml"
    config.write_text("model: {vision: v, llm: l}\ndata: {data: d.json}\ntraining: {bf16: 'flase'}\n")
    assert main(["train", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"llava-tc train: error: {config}: training.bf16 = 'flase': Input should be a valid boolean" in err
    with pytest.raises(ConfigError, match=r"flag --version: data\.template = 'v0'"):
        resolve(f"--config {config} --bf16 --version v0")


@pytest.mark.parametrize("flag", sorted(FIXED))
def test_each_fixed_llava_flag_takes_only_llava_1_5s_value(flag):
    value, _ = FIXED[flag]
    base = resolve("--vision v --llm l --data d.json")
    assert resolve(["--vision", "v", "--llm", "l", "--data", "d.json", flag, str(value)]) == base
    other = str(not value) if isinstance(value, bool) else str(value + 1) if isinstance(value, int) else f"{value}x"
    with pytest.raises(ValueError, match=f"flag {flag} {other}: only {value} is accepted"):
        resolve(["--vision", "v", "--llm", "l", "--data", "d.json", flag, other])


@pytest.mark.parametrize("flag", sorted(NO_EFFECT))
def test_each_no_effect_llava_flag_is_logged(flag, caplog):
    caplog.set_level("INFO", logger="llava_tc.train.llava_flags")
    value = {bool: "True", int: "4"}[NO_EFFECT[flag][0]]
    base = resolve("--vision v --llm l --data d.json")
    assert resolve(["--vision", "v", "--llm", "l", "--data", "d.json", flag, value]) == base
    assert f"flag {flag} {value} has no effect" in caplog.text
