from pathlib import Path

import pytest

from llava_tc.eval.benchmarks import BENCHMARKS, Benchmark, get_benchmark, list_benchmarks


def test_every_registered_benchmark_is_named_by_its_key() -> None:
    for name, cls in BENCHMARKS.items():
        bench = get_benchmark(name)
        assert isinstance(bench, Benchmark) and bench.name == name == cls.name
        assert bench.default_split in bench.splits
        assert bench.primary_metric()
    assert list_benchmarks() == sorted(BENCHMARKS)


def test_lookup_is_exact_and_lists_known_names() -> None:
    with pytest.raises(ValueError, match=r"unknown benchmark 'mmbench_dev'.*known benchmarks: .*mmbench"):
        get_benchmark("mmbench_dev")


def test_missing_file_error_names_file_and_layout(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"coco_pope_random\.json(.|\n)*Expected layout(.|\n)*coco/val2014"):
        get_benchmark("pope").load(tmp_path)


def test_unknown_split_lists_valid_splits(data_root: Path) -> None:
    with pytest.raises(ValueError, match="unknown split 'train'; valid splits: test, random, popular, adversarial"):
        get_benchmark("pope").load(data_root, "train")


def test_missing_answers_are_an_error_not_a_skip(data_root: Path) -> None:
    bench = get_benchmark("gqa")
    samples = bench.load(data_root)
    with pytest.raises(KeyError, match=r"no answer for 2 of 4 samples \(e.g. 202225914, 20968379\)"):
        bench.score(samples, {samples[0].id: "yes", samples[1].id: "left"})


def test_protocol_is_chosen_by_name_and_official_by_default() -> None:
    for name in BENCHMARKS:
        assert get_benchmark(name).protocol == "official" and get_benchmark(name, "lenient").protocol == "lenient"
    with pytest.raises(ValueError, match="unknown scoring protocol 'strict'; valid protocols: official, lenient"):
        get_benchmark("gqa", "strict")
