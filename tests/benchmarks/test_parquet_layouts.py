"""Every benchmark with a parquet layout loads the same items from its lmms-lab parquet release as from its original
files, and scores them identically; the layout is detected or chosen, and bad releases name the file and column."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from llava_tc.eval.benchmarks import BENCHMARKS, Benchmark, EvalSample, get_benchmark
from tests.benchmarks.conftest import FIXTURES
from tests.benchmarks.lmms_lab_releases import RELEASES, RENUMBERED

WITH_PARQUET = sorted(name for name, cls in BENCHMARKS.items() if cls.parquet is not None)


def test_every_parquet_layout_has_a_reference_release() -> None:
    assert set(RELEASES) == set(WITH_PARQUET)
    assert len({BENCHMARKS[name].parquet.repo for name in WITH_PARQUET}) == 12


def original_root(tmp_path: Path, name: str) -> Path:
    """The fixtures' original layout with a distinct generated image at every path a sample names."""
    root = tmp_path / "original"
    shutil.copytree(FIXTURES, root)
    bench = get_benchmark(name)
    for sample in (s for split in bench.splits if loadable(bench, root, split) for s in bench.load(root, split)):
        if sample.image is not None and not sample.image.exists():
            sample.image.parent.mkdir(parents=True, exist_ok=True)
            colour = hashlib.sha256(str(sample.image).encode()).digest()[:3]
            Image.new("RGB", (6, 5), tuple(colour)).save(sample.image, format="PNG")
    return root


def loadable(bench: Benchmark, root: Path, split: str) -> bool:
    try:
        bench.load(root, split)
    except (FileNotFoundError, ValueError):  # a split the fixtures do not have
        return False
    return True


def parquet_root(tmp_path: Path, name: str, original: Path) -> Path:
    """The release rebuilt from the original files, as `huggingface-cli download` leaves it in DATA/<repo name>."""
    folder = tmp_path / "hub" / BENCHMARKS[name].parquet.folder_name
    for release in RELEASES[name](original):
        release.write(folder)
    return tmp_path / "hub"


def image_of(sample: EvalSample) -> bytes:
    return sample.image_bytes if sample.image_bytes is not None else sample.image.read_bytes()


def both_layouts(tmp_path: Path, name: str) -> tuple[list[EvalSample], list[EvalSample]]:
    original = original_root(tmp_path, name)
    from_files = get_benchmark(name).load(original)
    from_parquet = get_benchmark(name).load(parquet_root(tmp_path, name, original))
    return from_files, from_parquet


@pytest.mark.parametrize("name", WITH_PARQUET)
def test_parquet_release_loads_the_same_items(tmp_path: Path, name: str) -> None:
    from_files, from_parquet = both_layouts(tmp_path, name)
    assert from_files and len(from_parquet) == len(from_files)
    assert all(s.image is None and s.image_bytes for s in from_parquet)
    if name not in RENUMBERED:  # matched by id (a release may order its rows otherwise)
        by_id = {s.id: s for s in from_parquet}
        assert set(by_id) == {s.id for s in from_files}
        from_parquet = [by_id[s.id] for s in from_files]
    for a, b in zip(from_files, from_parquet, strict=True):
        assert (a.prompt, a.meta) == (b.prompt, b.meta), a.id
        assert image_of(a) == image_of(b), a.id


def answers_for(samples: list[EvalSample]) -> dict[str, str]:
    """Right-looking answers for every other sample, a wrong one for the rest (same by position in both layouts)."""
    out = {}
    for k, s in enumerate(samples):
        gold = s.meta.get("answer") or s.meta.get("label") or (s.meta.get("answers") or ["?"])[0]
        out[s.id] = str(gold if not isinstance(gold, list) else gold[0]) if k % 2 == 0 else "zzz"
    return out


@pytest.mark.parametrize("name", WITH_PARQUET)
@pytest.mark.parametrize("protocol", ["official", "lenient"])
def test_both_layouts_score_identically(tmp_path: Path, name: str, protocol: str) -> None:
    from_files, from_parquet = both_layouts(tmp_path, name)
    answers = answers_for(from_files)
    if name in RENUMBERED:
        answers_parquet = {b.id: answers[a.id] for a, b in zip(from_files, from_parquet, strict=True)}
    else:
        answers_parquet = {b.id: answers[b.id] for b in from_parquet}
    bench = get_benchmark(name, protocol)
    scored = bench.score(from_files, answers)
    assert scored == bench.score(from_parquet, answers_parquet)
    assert any(m.value > 0 for m in scored)


def test_layout_is_detected_or_chosen(tmp_path: Path) -> None:
    original = original_root(tmp_path, "pope")
    hub = parquet_root(tmp_path, "pope", original)
    assert get_benchmark("pope", data_layout="original").load(original)[0].image is not None
    assert get_benchmark("pope").load(hub / "POPE")[0].image_bytes  # the dataset folder itself works too
    with pytest.raises(FileNotFoundError, match=r"no data/test-\*\.parquet under .*lmms-lab/POPE"):
        get_benchmark("pope", data_layout="parquet").load(original)
    with pytest.raises(ValueError, match="synthetic has no parquet layout"):
        get_benchmark("synthetic", data_layout="parquet")
    with pytest.raises(ValueError, match="unknown data layout 'hub'; valid layouts: auto, original, parquet"):
        get_benchmark("pope", data_layout="hub")


def test_a_release_without_a_column_names_file_and_column(tmp_path: Path) -> None:
    original = original_root(tmp_path, "chartqa")
    release = RELEASES["chartqa"](original)[0]
    for row in release.rows:
        del row["type"]
    release.write(tmp_path / "hub" / "ChartQA")
    with pytest.raises(ValueError, match=r"chartqa: .*test-00000-of-00001\.parquet has no column 'type' \(columns: "):
        get_benchmark("chartqa").load(tmp_path / "hub")


def test_parquet_images_decode_as_the_runner_reads_them(tmp_path: Path) -> None:
    _, from_parquet = both_layouts(tmp_path, "mathvista")
    with Image.open(io.BytesIO(from_parquet[0].image_bytes)) as picture:
        assert picture.size == (6, 5)


def test_cli_scores_pope_identically_from_both_layouts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The real CLI with a fixed tiny model: the same answers and scores from the original files and the release."""
    from llava_tc.cli import main
    from llava_tc.eval.runner import SCORES_FILE
    from tests.eval_fixtures import save_run, synthetic_dataset

    run = save_run(synthetic_dataset(str(tmp_path / "synthetic"), 2), tmp_path / "tiny-pool", "pool")
    original = original_root(tmp_path, "pope")
    roots = {"original": original, "parquet": parquet_root(tmp_path, "pope", original)}
    scores, answers = {}, {}
    for layout, root in roots.items():
        out = tmp_path / f"out-{layout}"
        args = ["eval", "--model", str(run), "--benchmark", "pope", "--data-root", str(root), "--out", str(out)]
        assert main([*args, "--layout", layout, "--max-new-tokens", "2", "--no-progress"]) == 0
        scores[layout] = json.loads((out / SCORES_FILE).read_text())["metrics"]
        answers[layout] = (out / "answers.jsonl").read_text()
    capsys.readouterr()
    assert scores["original"] == scores["parquet"] and answers["original"] == answers["parquet"]
    assert {m["name"] for m in scores["parquet"]} >= {"f1", "accuracy/random", "yes_ratio/adversarial"}
