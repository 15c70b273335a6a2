"""The article's selection guide as data: span x budget quadrant, length regime, latency check.

Thresholds, all from the source article:

- span d: small when d <= 128, large when d >= 512; RNN/LSTM start to struggle beyond 256, which
  is the line the 2x2 uses ("is d clearly greater than 256?").
- budget: large when the attention matrix B*h*n^2*bytes times a peak multiplier fits memory; the
  article gives 4-8x, we use 8x (conservative). This is the article's one-matrix rule; the
  matrices of all layers (kept for backward by the math kernel) are reported alongside.
- 2x2: small d + small budget -> CNN/LSTM; small d + large budget -> small Transformer or CNN;
  large d + small budget -> local attention / hybrid; large d + large budget -> full Transformer.
- length: n <= 256 full attention is cheap; n <= 2048 full attention is fine; 2048 < n <= 8192
  use FlashAttention or blockwise attention; n > 8192 sparse/linear attention or retrieval.
- latency: an RNN needs n sequential steps; if n x step time exceeds the latency budget,
  sequential models are excluded.

When d is large (> 256) the guide also proposes concrete designs -- the article's "compress +
local + a little global" -- each as a spec the family units estimate (`designs`, docs/hybrid.md):
a strided conv stem (S = 4) then sliding-window blocks with the layers the window needs to
cover d after downsampling; a local/global stack (every third layer global); and plain full
attention for comparison. Each carries n after downsampling, window, layers (and the layers d
needs), reach, the training peak at (batch, n) by the same formulas as `estimate`, whether it
fits, and its latency on the device when one is given. In the "large span, small budget"
quadrant `proposal` names the first that covers d and fits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from .attention import attention_matrix_bytes, window_saving
from .devices import Device, lookup_device
from .latency import KERNEL_OVERHEAD_S, recurrent_latency
from .limits import sqrt_rule_n_max
from .path import layers_for_receptive_field, layers_needed
from .registry import formula

PEAK_MULTIPLIER = 8
ARTICLE_STEP_S = 0.2e-3  # the article's "single step about 0.2 ms" when no device is given
SpanClass = Literal["small", "medium", "large"]


@dataclass(frozen=True)
class Advice:
    """The selection guide's verdict and every number behind it."""

    span: int
    n: int
    memory_bytes: int
    span_class: SpanClass
    span_large: bool  # d > 256: the 2x2's span axis
    attention_bytes: int  # B*h*n^2*bytes, one layer (the article's formula)
    attention_bytes_all_layers: int
    peak_multiplier: int
    budget_large: bool  # attention_bytes * peak_multiplier <= memory
    quadrant: str
    recommendation: str
    length_regime: str
    cnn_layers_centered: int | None  # k=3 stride-1 layers to reach d per direction
    cnn_layers_causal: int | None
    cnn_layers_receptive_field: int  # the article's R = 1 + 2L >= d count
    window: int
    window_layers: int  # ceil(d / w) layers of sliding attention
    window_saving: float  # n / w
    sqrt_rule_n_max: int
    sqrt_rule_n_max_with_margin: int
    rnn_step_s: float
    rnn_latency_s: float
    transformer_latency_s: float
    latency_s: float | None
    rnn_latency_ok: bool | None
    device: str | None
    notes: tuple[str, ...]
    designs: tuple[Design, ...] = ()
    proposal: str | None = None  # the design the "large span, small budget" quadrant proposes

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (bytes as integers, seconds as floats, notes as a list)."""
        d = asdict(self)
        d["notes"] = list(self.notes)
        d["designs"] = [x.to_json() for x in self.designs]
        return d


@dataclass(frozen=True)
class Design:
    """One concrete design for a large span, with the numbers `estimate` would print."""

    name: str
    family: str
    n_attention: int  # positions the attention sees (n after the stem)
    stride: int  # the stem's downsampling S (1: none)
    window: int | None  # None: full attention
    global_every: int | None
    layers: int  # attention layers
    layers_needed: int | None  # windowed layers d needs (None: a global layer covers it)
    reach: int | None  # per direction, input positions; None = unlimited
    covered: bool
    params: int
    memory_bytes: int  # training peak at (batch, n)
    fits: bool
    latency_s: float | None
    model: dict[str, Any]  # the [model] table (and stages) to paste

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _span_class(span: int) -> SpanClass:
    if span <= 128:
        return "small"
    return "large" if span >= 512 else "medium"


def _length_regime(n: int) -> str:
    if n <= 256:
        return "full attention is cheap (n <= 256)"
    if n <= 2048:
        return "full attention is fine (n <= 2048)"
    if n <= 8192:
        return "use FlashAttention or blockwise attention (2048 < n <= 8192)"
    return "use sparse/linear attention or retrieval (n > 8192)"


QUADRANTS: dict[tuple[bool, bool], tuple[str, str]] = {
    (False, False): ("small span, small budget", "CNN/LSTM"),
    (False, True): ("small span, large budget", "small Transformer or CNN"),
    (True, False): ("large span, small budget", "local attention / hybrid"),
    (True, True): ("large span, large budget", "full Transformer"),
}


STEM = {"family": "cnn", "layers": 2, "kernel": 5, "strides": [2, 2]}
STEM_STRIDE = 4
STEM_REACH = 2 + 2 * 2  # centred kernel 5, strides 2, 2: floor(4/2) * (1 + 2)
GLOBAL_EVERY = 3


@formula(
    "advise.designs",
    "stem: n/S attended, L = max(layers, ceil(ceil((d - r_stem)/S)/w)); local/global: window "
    "w, every 3rd layer global; peak = memory.training_peak of each design",
    "source article ('compress + local + a little global'); Beltagy et al. 2020; Gemma-2",
)
def designs(
    span: int,
    n: int,
    memory_bytes: int,
    *,
    batch: int,
    heads: int,
    d_model: int,
    layers: int,
    window: int,
    dtype: str,
    device: Device | None,
) -> tuple[Design, ...]:
    """Concrete designs for span d at n, each estimated by its family unit (no torch)."""
    from math import ceil

    from ..families import family_of
    from ..spec.model import Spec
    from .params import params_from_spec
    from .peak import train_memory

    block = {"heads": heads, "d_ff": 4 * d_model, "positional": "rotary"}
    rest = ceil(max(0, span - STEM_REACH) / STEM_STRIDE)
    stem_layers = max(layers, ceil(rest / window))
    plans: list[tuple[str, dict[str, Any], int | None]] = [
        (
            "conv stem + sliding window",
            {
                "family": "hybrid",
                "d_model": d_model,
                "causal": False,
                "stage": [
                    {**STEM, "channels": d_model},
                    {"family": "transformer", "layers": stem_layers, **block,
                     "attention": "sliding", "window": window},
                ],
            },
            ceil(rest / window),
        ),
        (
            "local + global",
            {"family": "transformer", "layers": max(layers, GLOBAL_EVERY), "d_model": d_model,
             **block, "attention": "sliding", "window": window, "global_every": GLOBAL_EVERY},
            None,
        ),
        (
            "full attention",
            {"family": "transformer", "layers": layers, "d_model": d_model, **block},
            None,
        ),
    ]  # fmt: skip
    out: list[Design] = []
    for name, model, needed in plans:
        spec = Spec.model_validate(
            {
                "model": {"input": "embeddings", "head": "none", **model},
                "train": {"batch": batch, "seq_len": n, "dtype": dtype},
                "budget": {"max_n": n, "span": span},
            }
        )
        fam = family_of(spec)
        path = fam.path(spec, span, n)
        peak = train_memory(spec, n, batch, target=_target(device)).total
        lat = fam.latency(spec, device, KERNEL_OVERHEAD_S) if device is not None else None
        blocks = model["stage"][-1] if "stage" in model else model
        stride = STEM_STRIDE if "stage" in model else 1
        out.append(
            Design(
                name=name,
                family=model["family"],
                n_attention=fam.output_length(spec, n),
                stride=stride,
                window=blocks.get("window"),
                global_every=blocks.get("global_every"),
                layers=blocks["layers"],
                layers_needed=needed,
                reach=path.reach,
                covered=bool(path.covered),
                params=params_from_spec(spec),
                memory_bytes=peak,
                fits=peak <= memory_bytes,
                latency_s=lat.seconds if lat is not None else None,
                model=model,
            )
        )
    return tuple(out)


def _target(device: Device | None) -> Any:
    from ..runtime import Target

    return Target("cuda", device.name if device is not None else None)


@formula(
    "advise.guide",
    "quadrant = (d > 256, B*h*n^2*bytes*8 <= memory); regime by n; RNN latency = n * t_step",
    "source article, selection guide",
)
def advise(
    span: int,
    n: int,
    memory_bytes: int,
    *,
    latency_s: float | None = None,
    device: Device | str | None = None,
    batch: int = 1,
    heads: int = 8,
    bytes: int = 2,
    d_model: int = 512,
    layers: int = 6,
    window: int = 256,
    step_time_s: float | None = None,
) -> Advice:
    """The article's selection guide with numbers.

    Per-step time: `step_time_s`, else a roofline estimate of one LSTM step (d_model wide, plus
    the launch overhead) on `device`, else the article's 0.2 ms.
    """
    notes: list[str] = []
    dev = lookup_device(device) if isinstance(device, str) else device
    span_large = span > 256
    attn = attention_matrix_bytes(batch, heads, n, bytes)
    budget_large = attn * PEAK_MULTIPLIER <= memory_bytes
    quadrant, rec = QUADRANTS[(span_large, budget_large)]

    if step_time_s is not None:
        step = step_time_s
    elif dev is not None:
        dtype = "fp32" if bytes == 4 else "bf16"
        est = recurrent_latency(
            dev, dtype, "lstm", 1, batch, n=1, input_size=d_model, hidden=d_model
        )
        step = est.seconds
    else:
        step = ARTICLE_STEP_S
        notes.append("per-step time is the article's 0.2 ms example; pass a device to estimate")
    rnn_latency = n * step
    rnn_ok = None if latency_s is None else rnn_latency <= latency_s
    if rnn_ok is False:
        notes.append(
            f"an RNN/LSTM needs {n} sequential steps (~{rnn_latency * 1e3:.1f} ms) over the "
            "latency budget: sequential models are excluded"
        )
        if rec == "CNN/LSTM":
            rec = "CNN"
    if 256 < span < 512:
        notes.append(
            "span between 256 and 512: RNN/LSTM struggle, Transformer not yet clearly ahead"
        )
    if n > 2048 and "full Transformer" in rec:
        rec = "full Transformer with FlashAttention" if n <= 8192 else "sparse/linear attention"
    found: tuple[Design, ...] = ()
    proposal = None
    if span_large:
        found = designs(
            span, n, memory_bytes, batch=batch, heads=heads, d_model=d_model, layers=layers,
            window=window, dtype="fp32" if bytes == 4 else "bf16", device=dev,
        )  # fmt: skip
        if not budget_large:
            ok = [x for x in found[:2] if x.covered and x.fits]
            proposal = ok[0].name if ok else None
            if not ok:
                notes.append(
                    "no proposed design both covers the span and fits: fewer layers or a "
                    "smaller batch, or checkpointing (estimate each with `archcheck estimate`)"
                )

    return Advice(
        span=span,
        n=n,
        memory_bytes=memory_bytes,
        span_class=_span_class(span),
        span_large=span_large,
        attention_bytes=attn,
        attention_bytes_all_layers=attn * layers,
        peak_multiplier=PEAK_MULTIPLIER,
        budget_large=budget_large,
        quadrant=quadrant,
        recommendation=rec,
        length_regime=_length_regime(n),
        cnn_layers_centered=layers_needed(span, 3, centered=True),
        cnn_layers_causal=layers_needed(span, 3, centered=False),
        cnn_layers_receptive_field=layers_for_receptive_field(span, 3),
        window=window,
        window_layers=-(-span // window),
        window_saving=window_saving(n, window),
        sqrt_rule_n_max=sqrt_rule_n_max(memory_bytes, batch, heads, bytes),
        sqrt_rule_n_max_with_margin=sqrt_rule_n_max(
            memory_bytes // PEAK_MULTIPLIER, batch, heads, bytes
        ),
        rnn_step_s=step,
        rnn_latency_s=rnn_latency,
        transformer_latency_s=layers * step,
        latency_s=latency_s,
        rnn_latency_ok=rnn_ok,
        device=dev.name if dev is not None else None,
        notes=tuple(notes),
        designs=found,
        proposal=proposal,
    )


def render_text(a: Advice) -> None:
    """Print the advice as a rich table (the CLI's text format); imports rich lazily."""
    from rich.console import Console
    from rich.table import Table

    from ..units import format_bytes, format_seconds

    def yes(v: bool | None) -> str:
        return "n/a" if v is None else ("yes" if v else "no")

    t = Table(title=f"span {a.span}, n {a.n}, memory {format_bytes(a.memory_bytes)}")
    t.add_column("question")
    t.add_column("answer", justify="right")
    t.add_column("because", style="dim")
    rows = [
        ("recommendation", a.recommendation, a.quadrant),
        ("span", a.span_class, "small <= 128, large >= 512; RNN/LSTM struggle past 256"),
        ("attention matrix (1 layer)", format_bytes(a.attention_bytes), "B*h*n^2*bytes"),
        (f"x{a.peak_multiplier} peak fits memory", yes(a.budget_large), "article: 4-8x, we use 8x"),
        ("length regime", a.length_regime, "n <= 2048 / <= 8192 / beyond"),
        ("k=3 CNN layers (centered / causal)", f"{a.cnn_layers_centered} / {a.cnn_layers_causal}",
         "ceil(d / r), r = 1 or 2"),
        ("k=3 CNN layers (R >= d)", str(a.cnn_layers_receptive_field), "ceil((d-1)/(k-1))"),
        (f"window {a.window}: layers / saving", f"{a.window_layers} / {a.window_saving:g}x",
         "ceil(d/w), n/w"),
        ("sqrt-rule n_max (x8 margin)", f"{a.sqrt_rule_n_max} ({a.sqrt_rule_n_max_with_margin})",
         "sqrt(M / (B*h*bytes))"),
        ("RNN latency (estimate)", format_seconds(a.rnn_latency_s),
         f"{a.n} steps x {format_seconds(a.rnn_step_s)}"),
        ("RNN within latency budget", yes(a.rnn_latency_ok), format_seconds(a.latency_s)),
    ]  # fmt: skip
    for row in rows:
        t.add_row(*row)
    console = Console(markup=False)  # labels are text: "KV cache [infer]" keeps [infer]
    console.print(t)
    if a.designs:
        d = Table(title=f"designs for span {a.span} at n {a.n} (training peak, batch x n)")
        for col in ("design", "n attended", "window", "layers (d needs)", "reach", "memory",
                    "fits", "latency"):  # fmt: skip
            d.add_column(col, justify="left" if col == "design" else "right")
        for x in a.designs:
            window = "full" if x.window is None else str(x.window)
            if x.global_every:
                window += f", 1 in {x.global_every} global"
            needed = "" if x.layers_needed is None else f" ({x.layers_needed})"
            mark = " *" if x.name == a.proposal else ""
            d.add_row(
                x.name + mark, f"{x.n_attention:,}" + (f" (n/{x.stride})" if x.stride > 1 else ""),
                window, f"{x.layers}{needed}",
                "unlimited" if x.reach is None else f"{x.reach:,}", format_bytes(x.memory_bytes),
                yes(x.fits), format_seconds(x.latency_s) if x.latency_s is not None else "n/a",
            )  # fmt: skip
        console.print(d)
        if a.proposal:
            console.print(f"proposed: {a.proposal} (*); docs/hybrid.md shows it as a spec")
    for note in a.notes:
        console.print(f"note: {note}")


__all__ = [
    "KERNEL_OVERHEAD_S",
    "PEAK_MULTIPLIER",
    "Advice",
    "Design",
    "advise",
    "designs",
    "render_text",
]
