"""Training-side faults (issue 14, items 5 and 8): bad data found before the model is built, our error text through
the Trainer's DataLoader workers, `log.jsonl` without duplicated steps after a kill, and `DONE` throughput over every
segment of a resumed run."""

from __future__ import annotations

import json
import logging
import re

import pytest

import llava_tc.train.run as run_module
from llava_tc.data.errors import BadSampleError
from llava_tc.train import train
from llava_tc.train.logs import LOG_FILE, TRAIN_BEGIN, read_log, training_seconds, truncate_log
from tests.train_scripts.common import KillAt, Killed, tiny_config

pytest_plugins = ["tests.train_scripts.fixtures"]


class ModelBuilt(RuntimeError):
    pass


def _refuse_model(*args, **kwargs):
    raise ModelBuilt("the model was built")


def with_records(train_assets, tmp_path, edit) -> str:
    """A copy of the synthetic train.json (images alongside) with `edit(records)` applied; returns its path."""
    source = train_assets["data"] / "train.json"
    records = json.loads(source.read_text())
    edit(records)
    path = tmp_path / "train.json"
    path.write_text(json.dumps(records))
    (tmp_path / "images").symlink_to(train_assets["data"] / "images")
    return str(path)


def test_bad_data_stops_the_run_before_the_model(train_assets, tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.setattr(run_module, "build_components", _refuse_model)
    data = with_records(train_assets, tmp_path, lambda r: r[5]["conversations"][0].pop("from"))
    config = tiny_config(train_assets, tmp_path / "run", data=[data])
    sample_id = json.loads((tmp_path / "train.json").read_text())[5]["id"]
    with pytest.raises(BadSampleError) as error:
        train(config)
    assert str(error.value).startswith(f"{data} record 5 (id {sample_id!r}), field 'conversations[0].from': ")

    with caplog.at_level(logging.WARNING, logger="llava_tc.data.records"), pytest.raises(ModelBuilt):
        train(config, on_bad_sample="skip", output_dir=str(tmp_path / "run-skip"))
    assert "1 of" in caplog.text and "{'malformed': 1}" in caplog.text

    (tmp_path / "broken.json").write_text('[{"id": "a"},\n {"id": ')
    with pytest.raises(ValueError, match=r"broken\.json:2: invalid JSON"):
        train(config, data=[str(tmp_path / "broken.json")], output_dir=str(tmp_path / "run-broken"))


@pytest.mark.slow
def test_bad_image_through_trainer_workers_reads_as_without(train_assets, tmp_path) -> None:
    def corrupt_all(records):  # the shuffled sampler decides which one a worker meets first
        for record in records:
            record["image"] = "corrupt.png"

    data = with_records(train_assets, tmp_path, corrupt_all)
    (tmp_path / "corrupt.png").write_bytes(b"GIF89a-broken")
    records = json.loads((tmp_path / "train.json").read_text())
    config = tiny_config(train_assets, tmp_path / "run", data=[data], max_steps=4, dataloader_num_workers=2)
    with pytest.raises(BadSampleError) as error:
        train(config)
    message = str(error.value)
    found = re.fullmatch(
        rf"{re.escape(data)} record (\d+) \(id '([^']+)'\), field 'image': (.+) \[corrupt_image\]", message
    )
    assert found, message
    assert records[int(found.group(1))]["id"] == found.group(2)
    assert found.group(3).startswith(f"cannot decode image {tmp_path / 'corrupt.png'}: ")
    assert "Traceback" not in message and "worker" not in message
    assert error.value.reason == "corrupt_image" and "DataLoader worker" in error.value.worker_traceback


@pytest.mark.slow
def test_kill_before_first_checkpoint_logs_each_step_once(train_assets, tmp_path, caplog) -> None:
    config = tiny_config(train_assets, tmp_path / "run", max_steps=4, save_steps=1000)
    with pytest.raises(Killed):
        train(config, callbacks=[KillAt(3)])
    assert [r["step"] for r in read_log(tmp_path / "run") if "loss" in r] == [1, 2]  # killed before step 3 logs
    with caplog.at_level(logging.WARNING, logger="llava_tc.train.run"):
        result = train(config, resume=True)  # no checkpoint: trains from step 0 again
    assert "dropped 2 line(s) after step 0" in caplog.text  # the two loss lines
    assert [r["step"] for r in read_log(tmp_path / "run") if "loss" in r] == list(range(1, 5))
    assert [s for s, _ in result.losses] == list(range(1, 5))


def test_done_throughput_covers_every_segment(train_assets, tmp_path) -> None:
    run_dir = tmp_path / "run"
    config = tiny_config(train_assets, run_dir, max_steps=8, save_steps=4, save_total_limit=None)
    with pytest.raises(Killed):
        train(config, callbacks=[KillAt(6)])
    train(config, resume=True)
    done = json.loads((run_dir / "DONE").read_text())
    log = read_log(run_dir)
    begins = [k for k, r in enumerate(log) if r.get("event") == TRAIN_BEGIN]
    assert [log[k]["step"] for k in begins] == [0, 4]
    first = log[begins[1] - 1]["time"] - log[begins[0]]["time"]  # up to the checkpoint's step: steps 5-6 were redone
    second = log[-1]["time"] - log[begins[1]]["time"]
    assert log[begins[1] - 1]["step"] == 4
    assert done["segments"] == 2 and done["train_runtime_s"] == pytest.approx(first + second, abs=2e-3)
    last_segment_only = next(r["train_runtime"] for r in log if "train_runtime" in r)
    assert done["train_runtime_s"] > last_segment_only
    assert done["samples_per_s"] == pytest.approx(8 * 4 / done["train_runtime_s"], rel=1e-3)
    assert done["bad_samples"] == {} and done["truncated_samples"] == 0


def test_training_seconds_and_torn_log(tmp_path) -> None:
    records = [
        {"step": 0, "time": 100.0, "event": TRAIN_BEGIN},
        {"step": 1, "time": 103.0, "loss": 1.0},
        {"step": 2, "time": 104.5, "loss": 0.9},
        {"step": 2, "time": 900.0, "event": TRAIN_BEGIN},  # resumed much later: the gap is not training
        {"step": 3, "time": 902.0, "loss": 0.8},
    ]
    assert training_seconds(records) == (4.5 + 2.0, 2)
    assert training_seconds([{"step": 1, "time": 5.0, "loss": 1.0}]) == (0.0, 0)  # a log from before segments

    lines = "".join(json.dumps(r) + "\n" for r in records) + '{"step": 4, "ti'  # a kill mid-write
    (tmp_path / LOG_FILE).write_text(lines)
    assert read_log(tmp_path) == records
    assert truncate_log(tmp_path, 2) == 2  # step 3 and the torn line
    assert read_log(tmp_path) == records[:4]
    (tmp_path / LOG_FILE).write_text('{"step": 1}\n{"step": \n{"step": 2}\n')
    with pytest.raises(ValueError, match=r"log\.jsonl:2"):
        read_log(tmp_path)
