"""`llava-tc demo --compressors ...`: any registered compressors; a nested one trains once per LLM and is evaluated
at every token count under the grid's run names (no training here: the plan, the sweep and the jobs)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llava_tc.cli import main
from llava_tc.demo.grid import PLANS, run_id, sweep_spec
from llava_tc.demo.pipeline import run_job
from llava_tc.train.sweep import Sweep


def test_default_plan_is_unchanged() -> None:
    assert PLANS["default"].compressors == ("pool", "quecc") and PLANS["default"].num_runs == 24


def test_a_nested_compressor_trains_once_per_llm_and_is_evaluated_at_every_count(tmp_path: Path) -> None:
    plan = PLANS["quick"].with_compressors(["pool", "m3", "llava_mini"])
    assert plan.num_runs == 2 * 3 + 2 * 1 + 2 * 3  # pool and llava_mini per (LLM, V); m3 once per LLM
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep_spec(plan, tmp_path, seed=0)))
    runs = Sweep.load(path).runs()
    assert len(runs) == plan.num_runs
    jobs = [run_job(run, plan, tmp_path) for run in runs]
    names = {evaluation.run_name for job in jobs for evaluation in job.evaluations}
    expected = {run_id(c, s, v) for c in plan.compressors for s in plan.sizes for v in plan.token_counts}
    assert names == expected  # the report sees one row per (compressor, LLM, V), as for any compressor
    nested = [job for job in jobs if job.run_id.startswith("m3-")]
    assert [e.num_visual_tokens for e in nested[0].evaluations] == list(plan.token_counts)
    assert {e.num_visual_tokens for job in jobs if not job.run_id.startswith("m3-") for e in job.evaluations} == {None}


def test_an_unknown_compressor_is_refused_before_anything_runs(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--quick", "--out", str(tmp_path), "--compressors", "pool,nope"]) == 2
    assert "unknown compressor 'nope'" in capsys.readouterr().out
    with pytest.raises(ValueError, match="at least one"):
        PLANS["quick"].with_compressors([])
