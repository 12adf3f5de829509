"""The paper sweep with nested compressors: one training per LLM, one evaluation per token count."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llava_tc.cli import main
from llava_tc.train.sweep import Sweep

PAPER = Path(__file__).resolve().parents[1] / "configs" / "sweeps" / "paper.yaml"


def paper_with(compressors: list, tmp_path: Path) -> Path:
    spec = yaml.safe_load(PAPER.read_text())
    spec["compressors"] = compressors
    spec["root"] = str(tmp_path / "runs")
    path = tmp_path / "paper.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize("entry", ["m3", {"name": "resampler", "options": {"nested": True}}], ids=["m3", "mqt"])
def test_paper_plan_for_a_nested_compressor_is_4_trainings_and_28_evaluations(entry, tmp_path, capsys) -> None:
    path = paper_with([entry], tmp_path)
    runs = Sweep.load(path).runs()
    benchmarks = yaml.safe_load(PAPER.read_text())["eval"]["benchmarks"]
    assert len(runs) == 4 and sum(run.evaluations for run in runs) == 28
    for run in runs:
        assert run.num_visual_tokens == 576 and run.eval_counts == [1, 4, 16, 36, 64, 144, 576]
        trainings = [step for step in run.steps if step.config_path is not None]
        assert [step.kind for step in trainings] == ["pretrain", "finetune"]
        evals = [step for step in run.steps if step.config_path is None]
        assert len(evals) == 7 * len(benchmarks)
        gqa_at_4 = next(step for step in evals if step.kind == "eval:gqa@v4")
        assert gqa_at_4.command[-4:] == ["--num-visual-tokens", "4", "--run-name", run.run_id[: -len("nested")] + "v4"]
        assert gqa_at_4.out_dir == run.steps[1].out_dir / "eval" / "v4" / "gqa"
    model = runs[0].configs["finetune"]["model"]
    if entry == "m3":
        assert model["compressor_options"] == {"scales": [1, 4, 16, 36, 64, 144, 576]}
    else:
        assert model["compressor_options"] == {"nested": True}
    assert main(["sweep", "plan", str(path)]) == 0
    assert "# 4 trainings, 28 evaluations" in capsys.readouterr().out


def test_non_nested_compressors_keep_one_training_per_count(tmp_path) -> None:
    runs = Sweep.load(paper_with(["quecc", {"name": "resampler", "options": {"num_heads": 8}}], tmp_path)).runs()
    assert len(runs) == 56 and sum(run.evaluations for run in runs) == 56
    assert runs[-1].configs["pretrain"]["model"]["compressor_options"] == {"num_heads": 8}


def test_a_bad_compressor_entry_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="a compressors entry is a name or"):
        Sweep.load(paper_with([{"compressor": "m3"}], tmp_path)).runs()
