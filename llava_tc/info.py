"""`llava-tc info`: library versions, the accelerator, and what is registered (compressors, benchmarks, ...)."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import platform

LIBRARIES = ("torch", "transformers", "accelerate", "peft", "datasets", "safetensors", "deepspeed", "wandb", "gguf")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _registered(module: str, function: str) -> str:
    """Names from a registry that may not be importable in a minimal install (said so instead of failing)."""
    try:
        return ", ".join(getattr(importlib.import_module(module), function)())
    except ImportError as error:
        return f"unavailable ({error})"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def run(args: argparse.Namespace) -> int:
    import torch

    import llava_tc

    print(f"llava_tc {llava_tc.__version__}  (python {platform.python_version()}, {platform.machine()})")
    for package in LIBRARIES:
        print(f"  {package:<13} {_version(package)}")
    device = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu only"
    print(f"accelerator:  {device}")
    print(f"compressors:  {_registered('llava_tc.model.compressors', 'list_compressors')}")
    print("projectors:   linear, mlp<N>x_gelu")
    print("query source: llm_last (paper), embed_mean")
    print(f"benchmarks:   {_registered('llava_tc.eval.benchmarks', 'list_benchmarks')}")
    return 0
