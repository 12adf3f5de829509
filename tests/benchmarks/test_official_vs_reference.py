"""Every registered benchmark's official score equals, bit for bit, a reference written from the official code, on
seeded generated answers (bench/answer_variants.py), and the two protocols stay apart."""

from __future__ import annotations

import pytest

from bench.answer_variants import GENERATORS, generate
from llava_tc.eval.benchmarks import BENCHMARKS, get_benchmark
from tests.benchmarks.official_references import REFERENCES


def primary(name: str, protocol: str, samples, answers) -> float:
    bench = get_benchmark(name, protocol)
    metrics = bench.score(samples, answers)
    assert {m.protocol for m in metrics} == {protocol}
    return next(m.value for m in metrics if m.name == bench.primary_metric())


def test_every_benchmark_has_a_generator_and_a_reference() -> None:
    assert set(GENERATORS) == set(BENCHMARKS) == set(REFERENCES)


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
@pytest.mark.parametrize("seed", [0, 1])
def test_official_score_equals_the_reference(name: str, seed: int) -> None:
    samples, answers = generate(name, seed, n=240)
    assert primary(name, "official", samples, answers) == REFERENCES[name](samples, answers)


def test_the_lenient_reading_differs_where_documented() -> None:
    """On generated answers the lenient reading changes every score but MME's and synthetic's (same rules there)."""
    same = {
        name
        for name in BENCHMARKS
        if primary(name, "official", *generate(name)) == primary(name, "lenient", *generate(name))
    }
    assert same == {"mme", "synthetic"}


def test_protocol_table_lists_every_benchmark() -> None:
    from bench.scoring_protocols import main

    table = main(["--n", "24", "--seeds", "0"])
    assert [line.split(" | ")[0].lstrip("| ") for line in table.splitlines()[2:]] == sorted(BENCHMARKS)
