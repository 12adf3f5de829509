"""The authors' QueCC and TokenPacker weights under our names: `convert_upstream_weights(source, state_dict)`.

Accepted layouts, for `source` in `SOURCES`:
- the module's own `state_dict()`: QueCC's (locuslab/llava-token-compression, `multimodal_projector/quecc.py`) or
  TokenPacker's (CircleRadon/TokenPacker, `multimodal_projector/builder.py`, which includes the final MLP);
- QueCC's `mm_projector`, the `nn.Sequential` that `builder.py` builds: QueCC at index 0, then LLaVA's projector
  (Linear, GELU, Linear, ...) at 1, 2, ...;
- either of them as LLaVA saves them in `mm_projector.bin`: every key prefixed with `model.mm_projector.` (any prefix
  up to `mm_projector.` is removed, as LLaVA's own loader does).

The result uses the state-dict names of `LlavaTCForConditionalGeneration`: `compressor.*`, and `projector.*` when
the file holds the MLP. A key that is not part of the layout, or a parameter the layout needs and the file lacks, is
a `ValueError` that names it. Shapes are not checked here: they depend on the model the weights go into
(`llava_tc.model.import_projector_cli` checks them against it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from llava_tc.model.compressors.base import TokenCompressor, VisionGeometry
from llava_tc.model.compressors.quecc import QueCC
from llava_tc.model.compressors.tokenpacker import TokenPackerCompressor
from llava_tc.model.projector import build_projector

SOURCES = ("quecc", "tokenpacker")
MM_PROJECTOR = "mm_projector."

# Upstream module prefix -> our prefix; the longest matching prefix wins (`ln_k_1.` is the key MLP's last layer).
PREFIXES: dict[str, dict[str, str]] = {
    "quecc": {
        "text_projection.": "compressor.question_proj.",
        "q_proj.": "compressor.token_mlp.",
        "q_downsample.": "compressor.downsample.",
        "k_proj.": "compressor.key_mlp.",
        "v_proj.": "compressor.value_mlp.",
        "clip_attn.": "compressor.attention.",
    },
    "tokenpacker": {
        "q_proj_1.": "compressor.query_proj.",
        "ln_q_1.": "compressor.query_norm.",
        "k_proj_1.": "compressor.key_mlp.",
        "ln_k_1.": "compressor.key_mlp.3.",
        "v_proj_1.": "compressor.value_mlp.",
        "ln_v_1.": "compressor.value_mlp.3.",
        "clip_attn.": "compressor.attention.",
        "mlp.": "projector.",
    },
}
TOKENPACKER_PROJECTOR = "mlp2x_gelu"  # TokenPacker's `mlp`: Linear, GELU, Linear
_SEQUENTIAL_INDEX = re.compile(r"^(\d+)\.")


def convert_upstream_weights(
    source: str, state_dict: Mapping[str, torch.Tensor], *, projector: str | None = None
) -> dict[str, torch.Tensor]:
    """The authors' tensors under our names (the same tensor objects, not copies).

    `projector` is the target model's projector (`linear`, `mlpNx_gelu`); a file whose MLP has another depth is an
    error. Without it, the depth of the file's MLP decides (one Linear: `linear`, LLaVA's name for it).
    """
    if source not in SOURCES:
        raise ValueError(f"unknown upstream source {source!r}; valid: {', '.join(SOURCES)}")
    originals: dict[str, list[str]] = {}
    for key in state_dict:
        originals.setdefault(_module_key(key), []).append(key)
    if not originals:
        raise ValueError(f"{source}: the state dict is empty")
    clashes = [names for names in originals.values() if len(names) > 1]
    if clashes:
        raise ValueError(f"{source}: keys that name the same parameter: {clashes}")
    weights = {key: (names[0], state_dict[names[0]]) for key, names in originals.items()}
    prefixes = dict(PREFIXES[source])
    if source == "tokenpacker":
        if projector not in (None, TOKENPACKER_PROJECTOR):
            raise ValueError(
                f"tokenpacker: the authors' module ends in an {TOKENPACKER_PROJECTOR} MLP; the model has {projector!r}"
            )
        projector = TOKENPACKER_PROJECTOR
    elif any(_SEQUENTIAL_INDEX.match(key) for key in weights):
        # upstream's mm_projector = nn.Sequential(QueCC, Linear, GELU, Linear, ...)
        prefixes = {f"0.{upstream}": ours for upstream, ours in prefixes.items()}
        if projector is None:
            depth = len({int(m.group(1)) for m in map(_SEQUENTIAL_INDEX.match, weights) if m and m.group(1) != "0"})
            projector = "linear" if depth <= 1 else f"mlp{depth}x_gelu"
        prefixes |= _sequential_projector_prefixes(projector)
    else:
        projector = None
    expected = _our_names(source, projector)
    converted = {_rename(key, prefixes): value for key, (_, value) in weights.items()}
    problems = []
    unknown = [original for key, (original, _) in weights.items() if _rename(key, prefixes) not in expected]
    if unknown:
        problems.append(f"unknown key(s) {sorted(unknown)}")
    inverse = {ours: upstream for upstream, ours in prefixes.items()}
    missing = [_rename(name, inverse) for name in sorted(expected - set(converted))]
    if missing:
        problems.append(f"missing key(s) {missing}")
    if problems:
        layout = f" + a {projector} projector" if projector else ""
        raise ValueError(f"{source}: the weights do not match the authors' module{layout}: " + "; ".join(problems))
    return converted


def _module_key(key: str) -> str:
    """`model.mm_projector.0.q_proj.0.weight` -> `0.q_proj.0.weight` (LLaVA's `get_w` rule); other keys unchanged."""
    return key.split(MM_PROJECTOR, 1)[1] if MM_PROJECTOR in key else key


def _rename(key: str, prefixes: Mapping[str, str]) -> str:
    """Replace the longest prefix of `key` found in `prefixes`; a key with none is returned as is."""
    for prefix in sorted(prefixes, key=len, reverse=True):
        if key.startswith(prefix):
            return prefixes[prefix] + key[len(prefix) :]
    return key


def _sequential_projector_prefixes(projector: str) -> dict[str, str]:
    """Upstream's Linears sit at 1, 3, 5, ... (after QueCC at 0, GELUs between); ours are a bare Linear for `linear`,
    else an nn.Sequential with Linears at 0, 2, 4, ..."""
    if projector == "linear":
        return {"1.": "projector."}
    linears = [name.split(".", 1)[0] for name in _projector_names(projector) if name.endswith(".weight")]
    return {f"{int(index) + 1}.": f"projector.{index}." for index in linears}


def _our_names(source: str, projector: str | None) -> set[str]:
    """Our parameter names for the module (and its MLP), read from a minimal instance: the module owns its names."""
    geometry = VisionGeometry(grid_size=1, hidden_size=8)
    module: TokenCompressor = (
        QueCC(geometry, 1, query_dim=1) if source == "quecc" else TokenPackerCompressor(geometry, 1)
    )
    names = {f"compressor.{name}" for name in module.state_dict()}
    return names | {f"projector.{name}" for name in _projector_names(projector)} if projector else names


def _projector_names(projector: str) -> set[str]:
    return set(build_projector(projector, 1, 1).state_dict())
