"""The open_clip backend against real open_clip models (random weights): the selected and multi-level features equal
running open_clip's own modules block by block (float64), and a model with a ViT-B-32-style tower (a small open_clip
config registered for the test) trains a step and round-trips through save/load, also in a fresh interpreter where
open_clip does not know the config (it is saved with the checkpoint).

open_clip needs torchvision, which the core install and the main test environment never have: there these tests skip,
and `.ci/open_clip` runs them in a virtual environment of their own (torchvision pinned to the CPU torch, importable
through `llava_tc.torchvision_compat`).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from llava_tc.model.open_clip_tower import build_open_clip_tower
from tests.tiny import llama_config

HAS_OPEN_CLIP = importlib.util.find_spec("open_clip") is not None
needs_open_clip = pytest.mark.skipif(
    not HAS_OPEN_CLIP, reason="open_clip_torch is not installed here (it needs torchvision); `.ci/open_clip` runs it"
)
REPO = Path(__file__).resolve().parents[1]
SMALL = "llava-tc-test-ViT-B-32"
SMALL_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 3, "width": 64, "head_width": 32, "patch_size": 32},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1},
}


def reference_states(visual: torch.nn.Module, pixels: torch.Tensor) -> list[torch.Tensor]:
    """Hidden states 0..L by hand from open_clip's modules: patch conv, CLS + positions, ln_pre, then each block."""
    x = visual.conv1(pixels).flatten(2).transpose(1, 2)
    cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
    x = visual.ln_pre(visual.patch_dropout(torch.cat([cls, x], dim=1) + visual.positional_embedding.to(x.dtype)))
    states = [x]
    batch_first = getattr(visual.transformer, "batch_first", True)
    for block in visual.transformer.resblocks:
        x = block(x) if batch_first else block(x.transpose(0, 1)).transpose(0, 1)
        states.append(x)
    return states


@needs_open_clip
@pytest.mark.parametrize(("select_layer", "multi_layers"), [(-2, [3, 6, 11, 12]), (-1, [1, 12]), (4, [0, 4])])
def test_features_equal_open_clips_own_blocks(select_layer: int, multi_layers: list[int]) -> None:
    torch.manual_seed(0)
    tower = build_open_clip_tower("open_clip:ViT-B-32", select_layer=select_layer, multi_layers=multi_layers)
    tower = tower.double().eval()
    assert (tower.geometry.grid_size, tower.hidden_size, tower.num_layers) == (7, 768, 12)
    pixels = torch.randn(2, 3, 224, 224, dtype=torch.float64)
    with torch.no_grad():
        features = tower(pixels, with_multi=True)
        states = reference_states(tower.model, pixels)
    grid = states[select_layer % 13][:, 1:].reshape(2, 7, 7, 768)
    multi = torch.cat([states[i][:, 1:].reshape(2, 7, 7, 768) for i in multi_layers], dim=-1)
    assert torch.allclose(features.grid, grid, atol=1e-10, rtol=0)
    assert torch.allclose(features.multi, multi, atol=1e-10, rtol=0)


@pytest.fixture
def small_open_clip(tmp_path: Path) -> str:
    """A ViT-B-32-style open_clip config (same architecture, small sizes), registered through open_clip's public
    `add_model_config`."""
    from llava_tc.torchvision_compat import ensure_torchvision_ops

    ensure_torchvision_ops()
    import open_clip

    path = tmp_path / f"{SMALL}.json"
    path.write_text(json.dumps(SMALL_CONFIG), encoding="utf-8")
    open_clip.add_model_config(path)
    return f"open_clip:{SMALL}"


RELOAD = """
import json, sys
from llava_tc.torchvision_compat import ensure_torchvision_ops

ensure_torchvision_ops()
import torch
import open_clip
from transformers import AutoModelForImageTextToText, AutoProcessor
from PIL import Image

assert open_clip.get_model_config(sys.argv[2]) is None, "the config must come from the checkpoint"
model = AutoModelForImageTextToText.from_pretrained(sys.argv[1]).eval()
processor = AutoProcessor.from_pretrained(sys.argv[1])
inputs = processor(images=Image.new("RGB", (40, 30), (200, 40, 40)), text="<image>\\nWhat is red?")
with torch.no_grad():
    print(json.dumps(model(**inputs).logits[0, -1].tolist()))
"""


@needs_open_clip
def test_vit_b_32_style_model_trains_a_step_and_round_trips(tmp_path: Path, small_open_clip: str) -> None:
    from PIL import Image
    from safetensors.torch import load_file
    from transformers import AutoProcessor

    from llava_tc.model import LlavaTCForConditionalGeneration
    from llava_tc.train import train
    from tests.train_scripts.common import prepare_assets, tiny_config

    assets = prepare_assets(tmp_path / "assets", scenes=4)
    config = tiny_config(assets, tmp_path / "run", stage="full", compressor="identity", max_steps=1)
    del config["model"]["vision_config"]
    config["model"].update(vision=small_open_clip, num_visual_tokens=None)
    result = train(config)
    assert result.global_step == 1 and result.first_loss is not None and result.first_loss > 0

    reloaded = LlavaTCForConditionalGeneration.from_pretrained(result.run_dir).eval()
    assert reloaded.config.vision_config.model_cfg == SMALL_CONFIG and reloaded.num_visual_tokens == 4
    saved = load_file(str(Path(result.run_dir) / "model.safetensors"))
    own = reloaded.state_dict()
    assert {name for name in saved if name.startswith("vision_tower.")} == {
        n for n in own if n.startswith("vision_tower.")
    }
    assert all(torch.equal(own[name], tensor) for name, tensor in saved.items())
    fresh = build_open_clip_tower(small_open_clip)  # the trained tower is not the initial one (stage `full`)
    trained = {name: tensor for name, tensor in reloaded.vision_tower.state_dict().items()}
    assert any(not torch.equal(trained[name], tensor) for name, tensor in fresh.state_dict().items())

    processor = AutoProcessor.from_pretrained(result.run_dir)
    inputs = processor(images=Image.new("RGB", (40, 30), (200, 40, 40)), text="<image>\nWhat is red?")
    with torch.no_grad():
        expected = reloaded(**inputs).logits[0, -1]
    done = subprocess.run(
        [sys.executable, "-c", RELOAD, str(result.run_dir), SMALL],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert torch.allclose(torch.tensor(json.loads(done.stdout.splitlines()[-1])), expected, atol=1e-6)


def test_open_clip_vlm_config_needs_no_open_clip_to_describe() -> None:
    """The config class is light: building a VLM config around an open_clip tower config imports no open_clip."""
    from llava_tc.model.configuration import LlavaTCConfig, OpenClipVisionConfig

    vision = OpenClipVisionConfig(model_name=SMALL, model_cfg=SMALL_CONFIG, hidden_size=64, num_hidden_layers=3)
    config = LlavaTCConfig(vision_config=vision.to_dict(), text_config=llama_config().to_dict())
    assert isinstance(config.vision_config, OpenClipVisionConfig) and config.vision_config.model_cfg == SMALL_CONFIG
    assert "open_clip" not in sys.modules or HAS_OPEN_CLIP


def test_missing_open_clip_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "open_clip", None)
    with pytest.raises(ImportError, match=r"llava-tc\[openclip\]"):
        build_open_clip_tower("open_clip:ViT-L-14-336")
