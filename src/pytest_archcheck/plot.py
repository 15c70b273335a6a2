"""`archcheck plot SPEC -o FILE`: the training peak versus n, stacked by component, with the
memory budget and n_max marked; latency versus n beside it when a latency budget exists.

Every point is the same formula `estimate` prints (formulas/peak.py at each n), so the n_max
marker sits where `estimate` says and the stacked parts add up to the peak at every n. With
matplotlib (the `plot` extra) it writes SVG or PNG by the file's suffix; without it, or with no
`-o`, it draws a bar chart in the terminal with rich. `--format json` prints the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .units import format_bytes

if TYPE_CHECKING:
    from .spec.model import Spec

POINTS = 48  # samples along n (log-spaced): smooth enough for a curve that bends at n_max
LABELS = {
    "params": "weights",
    "grads": "gradients",
    "optimizer": "optimizer state",
    "activations": "activations",
    "attention_scores": "attention scores",
    "logits": "logits + loss",
    "backward_transients": "backward transients",
    "forward_transients": "forward transients",
    "step_temporaries": "optimizer-step temporaries",
    "allocator": "workspaces + allocator",
}


def _grid(lo: int, hi: int, points: int = POINTS) -> list[int]:
    """Log-spaced integer n from lo to hi inclusive, without duplicates."""
    if hi <= lo:
        return [lo]
    ratio = (hi / lo) ** (1 / (points - 1))
    return sorted({round(lo * ratio**i) for i in range(points)} | {lo, hi})


def plot_data(
    spec: Spec,
    batch: int | None = None,
    target: str | None = None,
    n_range: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The curves: parts and total per n, the budget, n_max, max_n, and latency per n."""
    from .estimate import estimate, train_memory
    from .formulas.latency import latency_from_spec

    e = estimate(spec, batch=batch, target=target)
    marks = [x for x in (e.n, e.n_max, spec.budget.max_n) if x]
    lo, hi = n_range or (max(1, min(marks) // 8), max(marks) * 2)
    ns = sorted(set(_grid(lo, hi)) | ({e.n_max} if e.n_max and lo <= e.n_max <= hi else set()))
    parts: dict[str, list[int]] = {k: [] for k in LABELS}
    total: list[int] = []
    for n in ns:
        m = train_memory(spec, n, e.batch, e.target)
        for k in LABELS:
            parts[k].append(getattr(m, k))
        total.append(m.total)
    data: dict[str, Any] = {
        "schema_version": 1,
        "name": spec.name,
        "batch": e.batch,
        "target": e.target.label,
        "n": ns,
        "parts": {k: v for k, v in parts.items() if any(v)},
        "total": total,
        "memory_budget": spec.budget.memory,
        "n_max": e.n_max,
        "max_n": spec.budget.max_n,
        "latency": None,
    }
    if spec.budget.p95_latency is not None and spec.budget.device is not None:
        ms: list[float | None] = []
        for n in ns:
            infer = spec.infer.model_copy(update={"seq_len": n})
            lat = latency_from_spec(spec.model_copy(update={"infer": infer}))
            ms.append(None if lat is None else lat.seconds * 1e3)
        data["latency"] = {"ms": ms, "budget_ms": spec.budget.p95_latency * 1e3}
    return data


def render_file(data: dict[str, Any], out: Path) -> None:
    """SVG or PNG with matplotlib: stacked parts, the budget line, n_max and max_n markers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: searchable, testable
    plt.rcParams["svg.hashsalt"] = "archcheck"  # stable ids: the same spec gives the same file
    has_latency = data["latency"] is not None
    fig, axes = plt.subplots(1, 2 if has_latency else 1, figsize=(12 if has_latency else 7, 4.5))
    ax = axes[0] if has_latency else axes
    ns = data["n"]
    gib = 2**30
    keys = list(data["parts"])
    ax.stackplot(
        ns,
        [[v / gib for v in data["parts"][k]] for k in keys],
        labels=[LABELS[k] for k in keys],
        alpha=0.85,
    )
    if data["memory_budget"]:
        ax.axhline(
            data["memory_budget"] / gib,
            color="black",
            lw=1.2,
            gid="memory_budget",
            label=f"budget {format_bytes(data['memory_budget'])}",
        )
    if data["n_max"]:
        ax.axvline(
            data["n_max"], color="red", lw=1.2, gid="n_max", label=f"n_max {data['n_max']:,}"
        )
    if data["max_n"]:
        ax.axvline(
            data["max_n"],
            color="grey",
            lw=1,
            ls="--",
            gid="max_n",
            label=f"max_n {data['max_n']:,}",
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("sequence length n")
    ax.set_ylabel("training peak (GiB)")
    ax.set_title(f"{data['name']}: batch {data['batch']}, target {data['target']}")
    ax.legend(fontsize=7, loc="upper left")
    if has_latency:
        lx = axes[1]
        pts = [(n, v) for n, v in zip(ns, data["latency"]["ms"], strict=True) if v is not None]
        lx.plot([p[0] for p in pts], [p[1] for p in pts], color="tab:blue", label="estimate")
        lx.axhline(
            data["latency"]["budget_ms"],
            color="black",
            lw=1.2,
            gid="latency_budget",
            label=f"P95 budget {data['latency']['budget_ms']:g} ms",
        )
        lx.set_xscale("log", base=2)
        lx.set_xlabel("sequence length n")
        lx.set_ylabel("latency (ms)")
        lx.legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, metadata={"Date": None} if out.suffix.lower() == ".svg" else None)
    plt.close(fig)


def render_terminal(data: dict[str, Any], width: int = 48) -> list[str]:
    """A bar per n (a dozen of the points) in the terminal: total against the budget."""
    top = max(*data["total"], data["memory_budget"] or 0)
    step = max(1, len(data["n"]) // 12)
    lines = [f"{data['name']}: training peak vs n (batch {data['batch']}, {data['target']})"]
    budget = data["memory_budget"]
    for i in range(0, len(data["n"]), step):
        n, t = data["n"][i], data["total"][i]
        bar = "█" * max(1, round(width * t / top))
        over = " over budget" if budget and t > budget else ""
        lines.append(f"n {n:>8,} {bar:<{width}} {format_bytes(t)}{over}")
    if budget:
        lines.append(
            f"budget {format_bytes(budget)}; n_max {data['n_max'] or 'none':,}"
            if isinstance(data["n_max"], int)
            else f"budget {format_bytes(budget)}; no n fits"
        )
    return lines


def add_parser(sub: Any) -> None:
    p = sub.add_parser("plot", help="training peak (and latency) versus n, as SVG/PNG or text")
    p.add_argument("spec", type=Path)
    p.add_argument("-o", "--output", type=Path, default=None, help="FILE.svg or FILE.png")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--target", choices=["cpu", "cuda"], default=None)
    p.add_argument("--format", choices=["text", "json"], default="text")


def command(args: Any) -> int:
    import json

    from .findings import ArchcheckError

    if args.batch is not None and args.batch < 1:
        raise ArchcheckError(f"--batch must be at least 1, got {args.batch}")
    if args.output is not None and args.output.suffix.lower() not in (".svg", ".png"):
        raise ArchcheckError(f"--output must end in .svg or .png, got {args.output.name!r}")
    from .cli import _load_one

    loaded = _load_one(args.spec)
    docs = [plot_data(s.spec, args.batch, args.target) for s in loaded]
    if args.format == "json":
        print(json.dumps({"schema_version": 1, "models": docs}, indent=2))
        return 0
    if args.output is None:
        for d in docs:
            print("\n".join(render_terminal(d)))
        return 0
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ArchcheckError(
            "writing a plot file needs matplotlib: pip install "
            "'pytest-archcheck[plot]' (without -o, the chart is drawn here)"
        ) from None
    for d in docs:
        out = args.output
        if len(docs) > 1:  # one file per model of a multi-model spec file
            out = out.with_name(f"{out.stem}-{d['name']}{out.suffix}")
        render_file(d, out)
        print(f"wrote {out}")
    return 0
