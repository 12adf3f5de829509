"""Data-parallel evaluation: two ranks' shards merge into the single-process answers file (in process, fake ranks),
and a real `torchrun --nproc_per_node 2` run (gloo on CPU) gives the same file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llava_tc.eval.answers import ANSWERS_FILE, merge_answers
from llava_tc.eval.benchmarks import get_benchmark
from llava_tc.eval.distributed import Shard
from llava_tc.eval.loading import load_for_eval
from llava_tc.eval.runner import AnswerGenerator, evaluate, generate_answers
from tests.eval_fixtures import save_run, synthetic_dataset, tiny_eval_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_dataset(str(tmp_path_factory.mktemp("dist") / "synthetic"), 2)


def test_two_ranks_merge_to_the_single_process_answers(tmp_path: Path, data_dir: Path) -> None:
    loaded = tiny_eval_model(data_dir, "tokenpacker")
    evaluate(
        loaded, "synthetic", data_dir, tmp_path / "single", batch_size=3, max_new_tokens=3, limit=5, progress=False
    )

    samples = get_benchmark("synthetic").load(data_dir)[:5]
    generator = AnswerGenerator(loaded)
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    for rank in (1, 0):
        generate_answers(generator, samples, sharded, Shard(rank, 2), batch_size=3, max_new_tokens=3, progress=False)
    assert sorted(p.name for p in sharded.iterdir()) == ["answers.rank0.jsonl", "answers.rank1.jsonl"]
    merge_answers(sharded, [s.id for s in samples])
    assert (sharded / ANSWERS_FILE).read_bytes() == (tmp_path / "single" / ANSWERS_FILE).read_bytes()


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path: Path, data_dir: Path) -> None:
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    if torchrun is None:
        pytest.skip("torchrun is not installed next to this Python")
    run = save_run(data_dir, tmp_path / "run", "identity")
    common = ["--model", str(run), "--benchmark", "synthetic", "--data-root", str(data_dir), "--batch-size", "4"]
    common += ["--max-new-tokens", "3", "--limit", "6", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    launch = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "llava_tc", "eval"]
    done = subprocess.run(
        [*launch, *common, "--out", str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert not list((tmp_path / "two").glob("answers.rank*.jsonl"))
    one = tmp_path / "one"
    evaluate(load_for_eval(run), "synthetic", data_dir, one, max_new_tokens=3, limit=6, progress=False)
    assert (tmp_path / "two" / ANSWERS_FILE).read_bytes() == (one / ANSWERS_FILE).read_bytes()
