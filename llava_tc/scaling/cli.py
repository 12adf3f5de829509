"""`llava-tc scaling ...`: inference FLOPs tables, law fits, the optimal (N, V) and the paper's figure.

Every command prints the same text for the same input (fits are deterministic and the bootstrap is seeded).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from llava_tc.scaling.flops import inference_cost, llm_attention_flops, simple_inference_flops
from llava_tc.scaling.io import ScalingPoints, load_paper_points, load_points
from llava_tc.scaling.law import LawFit, fit_law
from llava_tc.scaling.optimal import frontier, optimal_tokens, optimal_tokens_interval, paper_cost
from llava_tc.scaling.params import count_llm_params, count_vision_params
from llava_tc.scaling.shapes import LLMShape, VisionShape, load_llm_shape, load_vision_shape

DEFAULT_MULTI_LAYERS = 4


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _float_list(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", nargs="?", help="scaling CSV or results table (CSV/JSONL); default: the paper's data")
    parser.add_argument("--benchmark", action="append", help="results table: benchmark to average (repeatable)")
    parser.add_argument("--metric", help="results table: metric to use when a benchmark reports several")
    parser.add_argument("--compressor", help="results table: compressor whose runs to fit")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs (0: none)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sub-subcommands: flops, fit, optimal, plot, reproduce."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="action")

    flops = sub.add_parser("flops", help="FLOPs of each inference stage across visual-token counts")
    flops.add_argument("--llm", required=True, help="LLM preset (e.g. qwen1.5-7b) or config.json / folder")
    flops.add_argument("--vision", default="clip-vit-l-14-336", help="vision preset or config.json / folder")
    flops.add_argument("--compressor", help="compressor name (identity, pool, tokenpacker, quecc); default: none")
    flops.add_argument("--tokens", type=_int_list, default=[1, 4, 16, 36, 64, 144, 576], help="visual token counts")
    flops.add_argument("--text-tokens", type=int, default=50, help="text tokens Q in the prompt (and the question)")
    flops.add_argument("--generated-tokens", type=int, default=1, help="tokens generated K (1: prefill only)")
    flops.add_argument("--projector", default="mlp2x_gelu", help="projector kind (linear, mlp2x_gelu, ...)")
    flops.add_argument("--multi-layers", type=int, default=DEFAULT_MULTI_LAYERS, help="vision layers compressors read")

    fit = sub.add_parser("fit", help="fit Y = A N^-alpha V^-beta + D to a results table or scaling CSV")
    _add_data_arguments(fit)
    fit.add_argument("--text-tokens", type=float, default=0.0, help="fit the T = Q + V variant with this Q")
    fit.add_argument("--json", type=Path, help="also write the fit as JSON here")

    opt = sub.add_parser("optimal", help="compute-optimal V* and the best (N, V) per FLOPs budget")
    _add_data_arguments(opt)
    opt.add_argument("--text-tokens", type=float, default=50.0, help="text tokens Q (0: text cached)")
    opt.add_argument("--budgets", type=_float_list, help="FLOPs budgets (default: 8 spanning the data)")
    opt.add_argument("--sizes", type=_float_list, help="available LLM sizes in billions (default: the data's)")
    opt.add_argument("--tokens", type=_float_list, help="available visual-token counts (default: the data's)")

    plot = sub.add_parser("plot", help="draw the frontier, fit and V* figures (PNG + PDF)")
    _add_data_arguments(plot)
    plot.add_argument("--out", type=Path, required=True, help="output folder")
    plot.add_argument("--name", default="scaling", help="file name prefix (default: scaling)")
    plot.add_argument("--text-tokens", type=_float_list, default=[0.0, 50.0], help="Q per frontier panel")

    rep = sub.add_parser("reproduce", help="fit the paper's data and draw its Figure 1")
    rep.add_argument("--out", type=Path, default=Path("docs/figures"), help="figure folder (default docs/figures)")
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--bootstrap", type=int, default=1000)
    rep.add_argument("--json", type=Path, help="also write the fit as JSON here")


def _gflops(value: float) -> str:
    return f"{value / 1e9:.2f}"


def _compressor_cost(name: str, vision: VisionShape, llm: LLMShape, tokens: int, layers: int) -> tuple[int, bool, int]:
    """FLOPs, needs_query and out_dim of a compressor built through the compressors' public contract."""
    from llava_tc.model.compressors import VisionGeometry, build_compressor

    geometry = VisionGeometry(grid_size=vision.grid_size, hidden_size=vision.hidden_size, num_multi_layers=layers)
    compressor = build_compressor(name, geometry, tokens, query_dim=llm.hidden_size)
    return int(compressor.flops(1)), bool(compressor.needs_query), int(compressor.out_dim)


def _run_flops(args: argparse.Namespace) -> int:
    llm, vision = load_llm_shape(args.llm), load_vision_shape(args.vision)
    llm_params, vision_params = count_llm_params(llm), count_vision_params(vision)
    print(f"LLM    {llm.name}: N = {llm_params.total:,} total, {llm_params.non_embedding:,} without embeddings")
    print(
        f"vision {vision.name}: {vision_params.total:,} parameters, {vision.num_tokens} tokens "
        f"({vision.grid_size}x{vision.grid_size} patches{' + CLS' if vision.has_class_token else ''})"
    )
    print(
        f"Q = {args.text_tokens} text tokens, K = {args.generated_tokens} generated, compressor = "
        f"{args.compressor or 'none'}, projector = {args.projector}; GFLOPs per inference (multiply-add = 2)"
    )
    columns = ("V", "vision", "query", "compress", "project", "prefill", "(attn)", "decode", "total", "2N(Q+V)")
    print("".join(f"{c:>11}" for c in columns))
    for tokens in args.tokens:
        compressor_flops, needs_query, out_dim = 0, False, vision.hidden_size
        if args.compressor:
            compressor_flops, needs_query, out_dim = _compressor_cost(
                args.compressor, vision, llm, tokens, args.multi_layers
            )
        cost = inference_cost(
            llm,
            vision,
            tokens,
            args.text_tokens,
            args.generated_tokens,
            compressor_flops=compressor_flops,
            needs_query=needs_query,
            compressor_out_dim=out_dim,
            projector=args.projector,
        )
        prompt = args.text_tokens + tokens
        row = (
            cost.vision,
            cost.query,
            cost.compressor,
            cost.projector,
            cost.prefill,
            llm_attention_flops(llm, prompt),
            cost.decode,
            cost.total,
            simple_inference_flops(llm_params.non_embedding, args.text_tokens, tokens),
        )
        print(f"{tokens:>11}" + "".join(f"{_gflops(x):>11}" for x in row))
    print("(attn) is the attention-score part of prefill; 2N(Q+V) uses N without embeddings.")
    return 0


def _load(args: argparse.Namespace) -> ScalingPoints:
    if args.input is None:
        return load_paper_points()
    return load_points(args.input, benchmarks=args.benchmark, metric=args.metric, compressor=args.compressor)


def _ci(fit: LawFit, name: str) -> str:
    if name not in fit.ci:
        return ""
    low, high = fit.ci[name]
    return f"  [{low:.4g}, {high:.4g}]"


def format_fit(fit: LawFit, points: ScalingPoints) -> str:
    """A fixed-format report of a fit: parameters with CIs, fit quality, residuals and the hold-out check."""
    token_name = f"(V + {fit.text_tokens:g})" if fit.text_tokens else "V"
    lines = [
        f"data: {points.source} ({fit.n_points} points, LLM sizes {sorted(set(points.n_b.tolist()))} B)",
        f"law: Y = A * N^-alpha * {token_name}^-beta + D   (Y = 1 - accuracy, N in billions)",
    ]
    if fit.ci:
        level = f"{fit.ci_level:.0%}"
        lines.append(f"CIs: {level} percentile, residual bootstrap, {fit.n_bootstrap} resamples, seed {fit.seed}")
    for name, value in (("A", fit.A), ("alpha", fit.alpha), ("beta", fit.beta), ("D", fit.D)):
        lines.append(f"  {name:<6}= {value:.4g}{_ci(fit, name)}")
    lines.append(f"  alpha/beta = {fit.ratio:.3g}{_ci(fit, 'ratio')}")
    lines.append(f"R^2 = {fit.r2:.4f}   RMSE = {fit.rmse:.5f}   max |residual| = {max(map(abs, fit.residuals)):.5f}")
    lines.append("residuals (observed - fitted error):")
    for n_b in sorted(set(points.n_b.tolist())):
        mask = points.n_b == n_b
        residuals = np.array(fit.residuals)[mask]
        cells = " ".join(f"V={v:g}:{r:+.4f}" for v, r in zip(points.v[mask], residuals, strict=True))
        lines.append(f"  {n_b:g}B  {cells}")
    if fit.holdout is not None:
        h = fit.holdout
        lines.append(
            f"hold-out: fit without {h.held_out_n_b:g}B, predict it: mean |error gap| = {h.mean_abs_error:.4f}, "
            f"max = {h.max_abs_error:.4f}, mean relative = {h.mean_rel_error:.2%} "
            f"(alpha = {h.params[1]:.4g}, beta = {h.params[2]:.4g})"
        )
    return "\n".join(lines)


def _write_json(path: Path, fit: LawFit, extra: dict[str, object] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**fit.to_dict(), **(extra or {})}
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    print(f"wrote {path}")


def _run_fit(args: argparse.Namespace) -> int:
    points = _load(args)
    fit = fit_law(points, seed=args.seed, n_bootstrap=args.bootstrap, text_tokens=args.text_tokens)
    print(format_fit(fit, points))
    if args.json:
        _write_json(args.json, fit, {"source": points.source})
    return 0


def _v_star_text(fit: LawFit, text_tokens: float) -> str:
    v_star = optimal_tokens(fit.alpha, fit.beta, text_tokens)
    if math.isinf(v_star):
        return f"V*(Q={text_tokens:g}) = unbounded: beta >= alpha, more visual tokens are always better"
    formula = "smallest V (one token)" if text_tokens == 0 else f"Q*beta/(alpha-beta) = {v_star:.2f}"
    interval = optimal_tokens_interval(fit, text_tokens)
    ci = f"  [{interval[0]:.3g}, {interval[1]:.3g}] ({fit.ci_level:.0%} bootstrap)" if interval else ""
    return f"V*(Q={text_tokens:g}) = {formula}{ci}"


def _format_frontier(fit: LawFit, points: ScalingPoints, q: float, budgets, sizes, tokens) -> list[str]:
    lines = [
        f"best available (N, V) per budget, cost 2N(Q+V), Q = {q:g}:",
        f"{'budget':>12}{'N (B)':>8}{'V':>7}{'FLOPs':>12}{'pred. error':>13}",
    ]
    for config in frontier(fit, budgets, q, sizes, tokens):
        lines.append(f"{config.budget:>12.3g}{config.n_b:>8g}{config.v:>7g}{config.flops:>12.3g}{config.error:>13.4f}")
    return lines


def _default_budgets(q: float, sizes: list[float], tokens: list[float], count: int = 8) -> list[float]:
    """Budgets log-spaced from the cheapest to the dearest available configuration."""
    costs = [paper_cost(n, q, v) for n in sizes for v in tokens]
    return np.geomspace(min(costs), max(costs), count).tolist()


def _run_optimal(args: argparse.Namespace) -> int:
    points = _load(args)
    fit = fit_law(points, seed=args.seed, n_bootstrap=args.bootstrap, holdout=False)
    sizes = args.sizes or sorted(set(points.n_b.tolist()))
    tokens = args.tokens or sorted(set(points.v.tolist()))
    q = args.text_tokens
    budgets = args.budgets or _default_budgets(q, sizes, tokens)
    print(f"data: {points.source}")
    print(f"alpha = {fit.alpha:.4g}{_ci(fit, 'alpha')}, beta = {fit.beta:.4g}{_ci(fit, 'beta')}")
    print(_v_star_text(fit, q))
    print("\n".join(_format_frontier(fit, points, q, budgets, sizes, tokens)))
    return 0


def _run_plot(args: argparse.Namespace) -> int:
    from llava_tc.scaling.plots import plot_fit, plot_frontier, plot_vstar

    points = _load(args)
    fit = fit_law(points, seed=args.seed, n_bootstrap=args.bootstrap, holdout=False)
    plot_frontier(fit, points, args.text_tokens, stem=args.out / f"{args.name}_frontier")
    plot_fit(fit, points, stem=args.out / f"{args.name}_fit")
    plot_vstar(fit, stem=args.out / f"{args.name}_vstar")
    for kind in ("frontier", "fit", "vstar"):
        print(f"wrote {args.out / f'{args.name}_{kind}'}.png and .pdf")
    return 0


def _run_reproduce(args: argparse.Namespace) -> int:
    from llava_tc.scaling.plots import plot_fit, plot_frontier, plot_vstar

    points = load_paper_points()
    fit = fit_law(points, seed=args.seed, n_bootstrap=args.bootstrap)
    print(format_fit(fit, points))
    print("paper (grid search, no CIs): alpha = 0.077, beta = 0.015, ratio about 5, V* = 1 at Q = 0, 14 at Q = 50")
    sizes = sorted(set(points.n_b.tolist()))
    tokens = sorted(set(points.v.tolist()))
    for q in (0.0, 50.0):
        print(_v_star_text(fit, q))
        print("\n".join(_format_frontier(fit, points, q, _default_budgets(q, sizes, tokens), sizes, tokens)))
    plot_frontier(fit, points, (0.0, 50.0), stem=args.out / "paper_frontier")
    plot_fit(fit, points, stem=args.out / "paper_fit")
    plot_vstar(fit, stem=args.out / "paper_vstar")
    print(f"wrote {args.out}/paper_frontier, paper_fit, paper_vstar (.png and .pdf)")
    if args.json:
        _write_json(args.json, fit, {"source": "paper_visual_reasoning.csv"})
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; bad input raises ValueError with a message naming the file, row and column."""
    actions = {
        "flops": _run_flops,
        "fit": _run_fit,
        "optimal": _run_optimal,
        "plot": _run_plot,
        "reproduce": _run_reproduce,
    }
    return actions[args.action](args)
