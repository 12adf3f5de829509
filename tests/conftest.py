"""Test-session settings shared by every test: offline, deterministic, few threads; and, in an environment with the
CPU-incompatible torchvision wheel (the open_clip job's), its ops defined before anything imports it."""

import os

from llava_tc.torchvision_compat import ensure_torchvision_ops

ensure_torchvision_ops()

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
