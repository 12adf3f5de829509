"""Session fixtures for the training tests (registered with `pytest_plugins`): the tokenizer + dataset folder.

PYTEST_DONT_REWRITE: imported as a plugin by several test modules; it holds no assertions.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.train_scripts.common import prepare_assets


@pytest.fixture(scope="session")
def train_assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    # Tiny matrices: one thread avoids oversubscribing small CI machines (and is faster at this size).
    torch.set_num_threads(1)
    return prepare_assets(tmp_path_factory.mktemp("train_assets"))
