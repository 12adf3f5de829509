"""Exact-name registry of token compressors (never substring matching: `mlp` must not match `mof_mlp`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from llava_tc.model.compressors.base import TokenCompressor, VisionGeometry

_REGISTRY: dict[str, type[TokenCompressor]] = {}

CompressorClass = TypeVar("CompressorClass", bound=type[TokenCompressor])


def register_compressor(name: str) -> Callable[[CompressorClass], CompressorClass]:
    """Class decorator: make a compressor buildable by `build_compressor(name, ...)`."""

    def decorate(cls: CompressorClass) -> CompressorClass:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"compressor name {name!r} is already registered to {_REGISTRY[name].__name__}")
        _REGISTRY[name] = cls
        return cls

    return decorate


def list_compressors() -> list[str]:
    return sorted(_REGISTRY)


def get_compressor_class(name: str) -> type[TokenCompressor]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown compressor {name!r}; known compressors: {', '.join(list_compressors())}")
    return _REGISTRY[name]


def build_compressor(
    name: str,
    geometry: VisionGeometry,
    num_visual_tokens: int,
    query_dim: int | None = None,
    **options: Any,
) -> TokenCompressor:
    """Build the compressor registered as `name` for a tower of this geometry."""
    cls = get_compressor_class(name)
    if cls.needs_query:
        if query_dim is None:
            raise ValueError(f"compressor {name!r} is query-conditioned: pass query_dim (the question vector's width)")
        options["query_dim"] = query_dim
    return cls(geometry, num_visual_tokens, **options)
