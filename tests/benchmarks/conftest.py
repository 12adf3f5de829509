from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "benchmarks"


@pytest.fixture
def data_root() -> Path:
    """The benchmark fixtures, laid out as a real data root."""
    return FIXTURES
