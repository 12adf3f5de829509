"""The README's Python examples run as written (in a temporary folder)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


@pytest.mark.parametrize("index", range(2), ids=["model-in-ten-lines", "compressors-standalone"])
def test_readme_python_example_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(BLOCKS[index], f"README.md python block {index}", "exec"), namespace)
    if index == 0:
        assert tuple(namespace["out"].logits.shape[:2]) == (1, 7)
        assert (tmp_path / "my_vlm" / "model.safetensors").exists()
    else:
        assert tuple(namespace["tokens"].shape) == (2, 16, 1024)
