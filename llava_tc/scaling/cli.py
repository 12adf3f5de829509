"""`llava-tc scaling ...`: inference FLOPs, law fits and form comparisons, the optimal (N, V), frontiers and advice.

Every command prints the same text for the same input (fits are deterministic and the bootstrap is seeded).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from llava_tc.scaling.advise import advise
from llava_tc.scaling.cost import (
    COST_AXES,
    DEFAULT_MULTI_LAYERS,
    LatencyCost,
    PaperCost,
    StageFlopsCost,
    compressor_stage_costs,
    paper_llm_shapes,
    parse_llm_shape,
)
from llava_tc.scaling.flops import (
    STAGES,
    LLMPruning,
    PreFusion,
    inference_cost,
    llm_attention_flops,
    simple_inference_flops,
)
from llava_tc.scaling.forms import FORMS
from llava_tc.scaling.io import (
    DEFAULT_PROTOCOL,
    LEGACY_PROTOCOL,
    PAPER_DATA,
    PROTOCOLS,
    ScalingPoints,
    load_paper_points,
    load_points,
)
from llava_tc.scaling.latency import PARTS, load_latency
from llava_tc.scaling.law import DEFAULT_FORM, LawFit, fit_law
from llava_tc.scaling.normalise import BENCHMARK_SETS, expand_benchmarks, parse_scale
from llava_tc.scaling.optimal import frontier, paper_cost, pareto_configurations
from llava_tc.scaling.params import count_llm_params, count_vision_params
from llava_tc.scaling.report import (
    ci_text,
    format_advice,
    format_comparison,
    format_configurations,
    format_fit,
    v_star_text,
)
from llava_tc.scaling.shapes import load_llm_shape, load_vision_shape
from llava_tc.scaling.validation import validate_forms

BEST_FORM = "best"
"""`--form best`: the form ranked first by held-out error on the data (`llava_tc.scaling.validation`)."""


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


def _pruning(text: str) -> LLMPruning:
    try:
        layer, ratio = text.split(",")
        return LLMPruning(int(layer), float(ratio))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected K,R (layer, share of visual tokens dropped): {err}") from None


def _add_data_arguments(parser: argparse.ArgumentParser, many_families: bool = False) -> None:
    parser.add_argument("input", nargs="?", help="scaling CSV or results table (CSV/JSONL); default: the paper's data")
    family_help = f"task family of the paper's data when no input is given ({', '.join(PAPER_DATA)})"
    if many_families:
        parser.add_argument("--family", action="append", choices=list(PAPER_DATA), help=f"{family_help}; repeatable")
    else:
        parser.add_argument("--family", default="reasoning", choices=list(PAPER_DATA), help=family_help)
    parser.add_argument("--benchmark", action="append", help="results table: benchmark to average (repeatable)")
    parser.add_argument(
        "--benchmark-set", choices=list(BENCHMARK_SETS), help="results table: a named set of benchmarks to average"
    )
    parser.add_argument(
        "--metric", action="append", help="results table: METRIC for every benchmark, or BENCHMARK=METRIC (repeatable)"
    )
    parser.add_argument(
        "--scale", action="append", help="results table: BENCHMARK=MAX score, e.g. mme=2800, gqa=percent (repeatable)"
    )
    parser.add_argument("--compressor", help="results table: compressor whose runs to fit")
    parser.add_argument(
        "--protocol",
        default=DEFAULT_PROTOCOL,
        choices=PROTOCOLS,
        help=f"results table: scoring protocol whose rows to fit, never mixed (default {DEFAULT_PROTOCOL}; rows "
        f"without a protocol column are {LEGACY_PROTOCOL})",
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs (0: none)")


def _add_form_argument(parser: argparse.ArgumentParser, allow_best: bool = False) -> None:
    choices = [*FORMS, BEST_FORM] if allow_best else list(FORMS)
    extra = f"; {BEST_FORM}: the one ranked first by held-out error" if allow_best else ""
    parser.add_argument(
        "--form", default=DEFAULT_FORM, choices=choices, help=f"law form (default {DEFAULT_FORM}{extra})"
    )


def _add_cost_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cost", default="paper", choices=COST_AXES, help="cost axis (default paper: 2N(Q+V))")
    parser.add_argument("--bench", type=Path, help="--cost latency: latency file from `python -m bench.latency`")
    parser.add_argument("--latency-part", default="prefill", choices=PARTS, help="--cost latency: what to count")
    parser.add_argument("--generated-tokens", type=int, default=1, help="tokens generated K (decode cost; 1: none)")
    parser.add_argument(
        "--stages", default=",".join(STAGES), help=f"--cost flops: stages to count ({','.join(STAGES)})"
    )
    parser.add_argument("--vision", default="clip-vit-l-14-336", help="--cost flops: vision preset or config.json")
    parser.add_argument("--cost-compressor", help="--cost flops: compressor whose FLOPs (and query pass) to count")
    parser.add_argument("--prefusion-layers", type=int, default=0, help="--cost flops: LLaVA-Mini pre-fusion layers")
    parser.add_argument("--prune", type=_pruning, help="--cost flops: FastV in-LLM pruning K,R (e.g. 2,0.5)")
    parser.add_argument("--llm-shape", action="append", help="--cost flops: N=PRESET_OR_CONFIG (default: the paper's)")
    parser.add_argument("--multi-layers", type=int, default=DEFAULT_MULTI_LAYERS, help="vision layers compressors read")
    parser.add_argument("--sizes", type=_float_list, help="available LLM sizes in billions (default: the data's)")
    parser.add_argument("--tokens", type=_float_list, help="available visual-token counts (default: the data's)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sub-subcommands: flops, fit, compare, optimal, plot, frontier, advise, reproduce."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="action")

    flops = sub.add_parser("flops", help="FLOPs of each inference stage across visual-token counts")
    flops.add_argument("--llm", required=True, help="LLM preset (e.g. qwen1.5-7b) or config.json / folder")
    flops.add_argument("--vision", default="clip-vit-l-14-336", help="vision preset or config.json / folder")
    flops.add_argument(
        "--compressor",
        help="a registered compressor (identity, pool, quecc, m3, llava_mini, visionzip, fastv, ...); default: none",
    )
    flops.add_argument("--tokens", type=_int_list, default=[1, 4, 16, 36, 64, 144, 576], help="visual token counts")
    flops.add_argument("--text-tokens", type=int, default=50, help="text tokens Q in the prompt (and the question)")
    flops.add_argument("--generated-tokens", type=int, default=1, help="tokens generated K (1: prefill only)")
    flops.add_argument("--projector", default="mlp2x_gelu", help="projector kind (linear, mlp2x_gelu, ...)")
    flops.add_argument("--multi-layers", type=int, default=DEFAULT_MULTI_LAYERS, help="vision layers compressors read")
    flops.add_argument("--prefusion-layers", type=int, default=0, help="LLaVA-Mini pre-fusion layers (0: none)")
    flops.add_argument("--prune", type=_pruning, help="FastV in-LLM pruning K,R: after layer K drop a share R")

    fit = sub.add_parser("fit", help="fit a law form to a results table or scaling CSV")
    _add_data_arguments(fit)
    _add_form_argument(fit)
    fit.add_argument("--text-tokens", type=float, default=0.0, help="fit the T = Q + V variant with this Q")
    fit.add_argument("--json", type=Path, help="also write the fit as JSON here")

    compare = sub.add_parser("compare", help="fit every form, validate held-out, rank the forms")
    _add_data_arguments(compare)
    compare.add_argument("--forms", default=",".join(FORMS), help=f"comma-separated forms (default {','.join(FORMS)})")
    compare.add_argument("--text-tokens", type=float, default=0.0, help="fit the T = Q + V variant with this Q")
    compare.add_argument("--plot", type=Path, help="also draw the forms' fits into this folder (PNG + PDF)")

    opt = sub.add_parser("optimal", help="compute-optimal V* and the best (N, V) per FLOPs budget")
    _add_data_arguments(opt)
    _add_form_argument(opt)
    opt.add_argument("--text-tokens", type=float, default=50.0, help="text tokens Q (0: text cached)")
    opt.add_argument("--budgets", type=_float_list, help="FLOPs budgets (default: 8 spanning the data)")
    opt.add_argument("--sizes", type=_float_list, help="available LLM sizes in billions (default: the data's)")
    opt.add_argument("--tokens", type=_float_list, help="available visual-token counts (default: the data's)")

    plot = sub.add_parser("plot", help="draw the frontier, fit and V* figures (PNG + PDF)")
    _add_data_arguments(plot)
    _add_form_argument(plot)
    plot.add_argument("--out", type=Path, required=True, help="output folder")
    plot.add_argument("--name", default="scaling", help="file name prefix (default: scaling)")
    plot.add_argument("--text-tokens", type=_float_list, default=[0.0, 50.0], help="Q per frontier panel")

    front = sub.add_parser(
        "frontier", help="error against a cost axis (FLOPs model or measured latency): table + figure"
    )
    _add_data_arguments(front)
    _add_form_argument(front, allow_best=True)
    _add_cost_arguments(front)
    front.add_argument("--text-tokens", type=float, default=50.0, help="text tokens Q")
    front.add_argument("--out", type=Path, help="draw <out>/<name>.png and .pdf")
    front.add_argument("--name", default="frontier", help="file name prefix (default: frontier)")

    adv = sub.add_parser("advise", help="the best (N, V) for a FLOPs or latency budget, per task family")
    _add_data_arguments(adv, many_families=True)
    _add_form_argument(adv, allow_best=True)
    _add_cost_arguments(adv)
    adv.add_argument("--budget", type=_float_list, action="extend", required=True, help="budget(s): FLOPs or seconds")
    adv.add_argument("--text-tokens", type=float, default=50.0, help="text tokens Q")

    rep = sub.add_parser("reproduce", help="fit the paper's data and draw its Figure 1")
    rep.add_argument("--out", type=Path, default=Path("docs/figures"), help="figure folder (default docs/figures)")
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--bootstrap", type=int, default=1000)
    rep.add_argument("--json", type=Path, help="also write the fit as JSON here")


def _gflops(value: float) -> str:
    return f"{value / 1e9:.2f}"


def _run_flops(args: argparse.Namespace) -> int:
    llm, vision = load_llm_shape(args.llm), load_vision_shape(args.vision)
    llm_params, vision_params = count_llm_params(llm), count_vision_params(vision)
    print(f"LLM    {llm.name}: N = {llm_params.total:,} total, {llm_params.non_embedding:,} without embeddings")
    print(
        f"vision {vision.name}: {vision_params.total:,} parameters, {vision.num_tokens} tokens "
        f"({vision.grid_size}x{vision.grid_size} patches{' + CLS' if vision.has_class_token else ''})"
    )
    compressors = {
        tokens: compressor_stage_costs(args.compressor, vision, llm, tokens, args.multi_layers)
        for tokens in (args.tokens if args.compressor else [])
    }
    fusion_layers = args.prefusion_layers or max((c.prefusion_layers for c in compressors.values()), default=0)
    extras = []
    if fusion_layers:
        extras.append(f"{fusion_layers} pre-fusion layers over {vision.num_patches} + V + Q tokens")
    if args.prune:
        extras.append(f"FastV pruning after layer {args.prune.layer}, ratio {args.prune.ratio:g} dropped")
    print(
        f"Q = {args.text_tokens} text tokens, K = {args.generated_tokens} generated, compressor = "
        f"{args.compressor or 'none'}, projector = {args.projector}; GFLOPs per inference (multiply-add = 2)"
        + "".join(f"; {e}" for e in extras)
    )
    with_fusion = bool(fusion_layers)
    columns = ["V", "vision", "query", "compress", "project"]
    columns += ["prefuse"] if with_fusion else []
    columns += ["prefill", "(attn)", "decode", "total", "2N(Q+V)"]
    print("".join(f"{c:>11}" for c in columns))
    for tokens in args.tokens:
        compressor = compressors.get(tokens)
        prefusion = args.prefusion_layers or (compressor.prefusion_layers if compressor else 0)
        cost = inference_cost(
            llm,
            vision,
            (compressor.visual_tokens if compressor else None) or tokens,
            args.text_tokens,
            args.generated_tokens,
            compressor_flops=compressor.flops if compressor else 0,
            needs_query=compressor.needs_query if compressor else False,
            compressor_out_dim=compressor.out_dim if compressor else vision.hidden_size,
            projector=args.projector,
            prefusion=PreFusion(prefusion) if prefusion else None,
            pruning=args.prune or (compressor.pruning if compressor else None),
            projected_tokens=compressor.projected_tokens if compressor else None,
        )
        row = [cost.vision, cost.query, cost.compressor, cost.projector]
        row += [cost.prefusion] if with_fusion else []
        row += [
            cost.prefill,
            llm_attention_flops(llm, args.text_tokens + tokens),
            cost.decode,
            cost.total,
            simple_inference_flops(llm_params.non_embedding, args.text_tokens, tokens),
        ]
        print(f"{tokens:>11}" + "".join(f"{_gflops(x):>11}" for x in row))
    print("(attn) is the attention-score part of an unpruned prefill; 2N(Q+V) uses N without embeddings.")
    return 0


def _metrics(specs: list[str] | None) -> tuple[str | None, dict[str, str]]:
    """`--metric` values: one bare METRIC (for every benchmark) and BENCHMARK=METRIC pairs."""
    default, per_benchmark = None, {}
    for spec in specs or []:
        name, sep, metric = spec.partition("=")
        if sep:
            per_benchmark[name.strip()] = metric.strip()
        elif default is not None:
            raise ValueError(f"--metric {spec!r}: a metric for every benchmark is already chosen ({default!r})")
        else:
            default = spec.strip()
    return default, per_benchmark


def _load(args: argparse.Namespace, family: str | None = None) -> ScalingPoints:
    if args.input is None:
        return load_paper_points(family or args.family)
    metric, metrics = _metrics(args.metric)
    scales = dict(parse_scale(text) for text in args.scale or [])
    benchmarks = expand_benchmarks(args.benchmark, args.benchmark_set)
    return load_points(
        args.input, benchmarks, metric, args.compressor, metrics=metrics, scales=scales, protocol=args.protocol
    )


def _write_json(path: Path, payload: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    print(f"wrote {path}")


def _run_fit(args: argparse.Namespace) -> int:
    points = _load(args)
    fit = fit_law(points, seed=args.seed, n_bootstrap=args.bootstrap, text_tokens=args.text_tokens, form=args.form)
    print(format_fit(fit, points))
    if args.json:
        _write_json(args.json, {**fit.to_dict(), "source": points.source, "protocol": points.protocol})
    return 0


def _run_compare(args: argparse.Namespace) -> int:
    points = _load(args)
    forms = [name.strip() for name in args.forms.split(",") if name.strip()]
    report = validate_forms(points, forms, args.text_tokens, seed=args.seed, n_bootstrap=args.bootstrap)
    print(format_comparison(report))
    if args.plot:
        from llava_tc.scaling.plots import plot_forms

        stem = args.plot / f"forms_{Path(points.source).stem}"
        plot_forms(report, points, stem=stem)
        print(f"wrote {stem}.png and .pdf")
    return 0


def _default_budgets(q: float, sizes: list[float], tokens: list[float], count: int = 8) -> list[float]:
    """Budgets log-spaced from the cheapest to the dearest available configuration."""
    costs = [paper_cost(n, q, v) for n in sizes for v in tokens]
    return np.geomspace(min(costs), max(costs), count).tolist()


def _data_grid(args: argparse.Namespace, points: ScalingPoints) -> tuple[list[float], list[float]]:
    return args.sizes or sorted(set(points.n_b.tolist())), args.tokens or sorted(set(points.v.tolist()))


def _run_optimal(args: argparse.Namespace) -> int:
    points = _load(args)
    fit = fit_law(points, seed=args.seed, n_bootstrap=args.bootstrap, holdout=False, form=args.form)
    sizes, tokens = _data_grid(args, points)
    q = args.text_tokens
    budgets = args.budgets or _default_budgets(q, sizes, tokens)
    print(f"data: {points.description}")
    print(
        f"form {fit.form}: alpha = {fit.alpha:.4g}{ci_text(fit, 'alpha')}, beta = {fit.beta:.4g}{ci_text(fit, 'beta')}"
    )
    if fit.form == DEFAULT_FORM:
        print(v_star_text(fit, q))
    else:
        for budget in budgets:
            print(v_star_text(fit, q, budget))
    header = f"best available (N, V) per budget, cost 2N(Q+V), Q = {q:g}:"
    print("\n".join(format_configurations(frontier(fit, budgets, q, sizes, tokens), header, "FLOPs")))
    return 0


def _run_plot(args: argparse.Namespace) -> int:
    from llava_tc.scaling.plots import plot_fit, plot_frontier, plot_vstar

    points = _load(args)
    fit = fit_law(points, seed=args.seed, n_bootstrap=args.bootstrap, holdout=False, form=args.form)
    plot_frontier(fit, points, args.text_tokens, stem=args.out / f"{args.name}_frontier")
    plot_fit(fit, points, stem=args.out / f"{args.name}_fit")
    plot_vstar(fit, stem=args.out / f"{args.name}_vstar")
    for kind in ("frontier", "fit", "vstar"):
        print(f"wrote {args.out / f'{args.name}_{kind}'}.png and .pdf")
    return 0


def _cost_axis(args: argparse.Namespace):
    """The cost axis the arguments describe (with clear errors for missing pieces)."""
    if args.cost == "paper":
        return PaperCost()
    if args.cost == "latency":
        if args.bench is None:
            raise ValueError("--cost latency needs --bench FILE (written by `python -m bench.latency`)")
        return LatencyCost(load_latency(args.bench), args.latency_part, args.generated_tokens)
    shapes = paper_llm_shapes()
    shapes.update(parse_llm_shape(text) for text in args.llm_shape or [])
    return StageFlopsCost(
        llm_shapes=shapes,
        vision=load_vision_shape(args.vision),
        stages=tuple(s.strip() for s in args.stages.split(",") if s.strip()),
        compressor=args.cost_compressor,
        generated_tokens=args.generated_tokens,
        prefusion_layers=args.prefusion_layers,
        pruning=args.prune,
        multi_layers=args.multi_layers,
    )


def _fit_for(args: argparse.Namespace, points: ScalingPoints) -> LawFit:
    form = args.form
    if form == BEST_FORM:
        form = validate_forms(points).best.form
    return fit_law(points, seed=args.seed, n_bootstrap=args.bootstrap, holdout=False, form=form)


def _run_frontier(args: argparse.Namespace) -> int:
    points = _load(args)
    fit = _fit_for(args, points)
    cost = _cost_axis(args)
    sizes, tokens = _data_grid(args, points)
    q = args.text_tokens
    pareto = pareto_configurations(fit, q, sizes, tokens, cost)
    print(f"data: {points.description}; form {fit.form}; cost: {cost.label}; Q = {q:g}")
    header = "available configurations that no cheaper one beats in predicted error (the frontier):"
    print("\n".join(format_configurations(pareto, header, cost.unit, with_budget=False)))
    if args.out:
        from llava_tc.scaling.plots import plot_cost_frontier

        stem = args.out / args.name
        plot_cost_frontier(fit, points, cost, q, sizes, tokens, stem=stem)
        print(f"wrote {stem}.png and .pdf")
    return 0


def _run_advise(args: argparse.Namespace) -> int:
    cost = _cost_axis(args)
    q = args.text_tokens
    families = [None] if args.input else (args.family or list(PAPER_DATA))
    print(f"cost: {cost.label}; Q = {q:g}; {args.bootstrap} bootstrap refits, seed {args.seed}")
    for family in families:
        points = _load(args, family)
        fit = _fit_for(args, points)
        sizes, tokens = _data_grid(args, points)
        label = family or Path(points.source).name
        print(
            f"\n{label}: {points.description}; form {fit.form}: alpha = {fit.alpha:.4g}{ci_text(fit, 'alpha')}, "
            f"beta = {fit.beta:.4g}{ci_text(fit, 'beta')}"
        )
        if isinstance(cost, PaperCost):
            for budget in args.budget if fit.form != DEFAULT_FORM else [None]:
                print(v_star_text(fit, q, budget))
        advice = [advise(fit, budget, q, sizes, tokens, cost) for budget in args.budget]
        print("\n".join(format_advice(advice, cost.unit)))
    return 0


def _run_reproduce(args: argparse.Namespace) -> int:
    from llava_tc.scaling.plots import plot_fit, plot_frontier, plot_vstar

    points = load_paper_points()
    fit = fit_law(points, seed=args.seed, n_bootstrap=args.bootstrap)
    print(format_fit(fit, points))
    print("paper (grid search, no CIs): alpha = 0.077, beta = 0.015, ratio about 5, V* = 1 at Q = 0, 14 at Q = 50")
    sizes, tokens = sorted(set(points.n_b.tolist())), sorted(set(points.v.tolist()))
    for q in (0.0, 50.0):
        print(v_star_text(fit, q))
        header = f"best available (N, V) per budget, cost 2N(Q+V), Q = {q:g}:"
        configs = frontier(fit, _default_budgets(q, sizes, tokens), q, sizes, tokens)
        print("\n".join(format_configurations(configs, header, "FLOPs")))
    plot_frontier(fit, points, (0.0, 50.0), stem=args.out / "paper_frontier")
    plot_fit(fit, points, stem=args.out / "paper_fit")
    plot_vstar(fit, stem=args.out / "paper_vstar")
    print(f"wrote {args.out}/paper_frontier, paper_fit, paper_vstar (.png and .pdf)")
    if args.json:
        _write_json(args.json, {**fit.to_dict(), "source": PAPER_DATA["reasoning"]})
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; bad input raises ValueError with a message naming the file, row and column."""
    actions = {
        "flops": _run_flops,
        "fit": _run_fit,
        "compare": _run_compare,
        "optimal": _run_optimal,
        "plot": _run_plot,
        "frontier": _run_frontier,
        "advise": _run_advise,
        "reproduce": _run_reproduce,
    }
    return actions[args.action](args)
