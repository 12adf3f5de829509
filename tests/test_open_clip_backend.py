"""The open_clip backend's hidden-state capture, on a stand-in module shaped like open_clip's VisionTransformer.

open_clip itself cannot be installed on CPU-only CI (it needs torchvision), so a minimal fake `open_clip` module with
the same attribute layout (conv1, ln_pre, transformer.resblocks, grid_size, image_size) checks the hook logic, the
geometry and the HF-native round trip; the real package is exercised on GPU machines.
"""

import sys
import types

import pytest
import torch
from torch import nn

from llava_tc.model import build_model
from llava_tc.model.open_clip_tower import build_open_clip_tower
from tests.tiny import llama_config

WIDTH, LAYERS, IMAGE, PATCH = 16, 3, 32, 8


class FakeBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(WIDTH, WIDTH)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        return x + self.linear(x)


class FakeVisual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, WIDTH, PATCH, PATCH)
        self.class_embedding = nn.Parameter(torch.randn(WIDTH))
        self.ln_pre = nn.LayerNorm(WIDTH)
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.ModuleList(FakeBlock() for _ in range(LAYERS))
        self.grid_size = (IMAGE // PATCH, IMAGE // PATCH)
        self.image_size = (IMAGE, IMAGE)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.conv1(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_embedding.expand(x.shape[0], 1, WIDTH), x], dim=1)
        x = self.ln_pre(x).transpose(0, 1)  # open_clip's older sequence-first layout
        for block in self.transformer.resblocks:
            x = block(x)
        return x[0]


@pytest.fixture
def fake_open_clip(monkeypatch):
    module = types.ModuleType("open_clip")
    module.create_model = lambda name, pretrained=None: types.SimpleNamespace(visual=FakeVisual())
    monkeypatch.setitem(sys.modules, "open_clip", module)
    return module


def test_hidden_states_are_captured_per_block(fake_open_clip) -> None:
    torch.manual_seed(0)
    tower = build_open_clip_tower("open_clip:Fake-ViT", select_layer=-1, multi_layers=[1, 3])
    pixels = torch.randn(2, 3, IMAGE, IMAGE)
    features = tower(pixels, with_multi=True)
    assert tower.geometry.grid_size == 4 and tower.hidden_size == WIDTH
    assert features.grid.shape == (2, 4, 4, WIDTH)
    assert features.multi.shape == (2, 4, 4, 2 * WIDTH)
    # Reference: run the blocks by hand in batch-first layout.
    visual = tower.model
    x = visual.conv1(pixels).flatten(2).transpose(1, 2)
    x = visual.ln_pre(torch.cat([visual.class_embedding.expand(2, 1, WIDTH), x], dim=1))
    states = [x]
    for block in visual.transformer.resblocks:
        x = block(x)
        states.append(x)
    assert torch.allclose(features.grid, states[3][:, 1:].reshape(2, 4, 4, WIDTH), atol=1e-6)
    assert torch.allclose(features.multi[..., :WIDTH], states[1][:, 1:].reshape(2, 4, 4, WIDTH), atol=1e-6)


def test_open_clip_vlm_round_trips(fake_open_clip, tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model("open_clip:Fake-ViT", llama_config(), compressor="pool", num_visual_tokens=4).model.eval()
    image = model.config.image_token_id
    batch = {"input_ids": torch.tensor([[1, image, 5]]), "pixel_values": torch.randn(1, 3, IMAGE, IMAGE)}
    model.save_pretrained(tmp_path)
    reloaded = type(model).from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, reloaded(**batch).logits)


def test_missing_open_clip_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "open_clip", None)
    with pytest.raises(ImportError, match=r"llava-tc\[openclip\]"):
        build_open_clip_tower("open_clip:ViT-L-14-336")
