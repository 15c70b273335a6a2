"""`archcheck estimate`: every formula applied to one spec, in the JSON shape of DESIGN.md §5.

This file only wires spec fields into `formulas/`; each number's equation lives there (see
docs/formulas.md). Pure Python: no torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from .spec.model import Spec
from .units import format_bytes, format_count, format_seconds


@dataclass(frozen=True)
class MemoryBreakdown:
    params: int
    grads: int
    optimizer: int
    activations: int
    attention_scores: int | None
    logits: int | None
    total: int


@dataclass(frozen=True)
class PathInfo:
    span: int | None
    reach: int | None  # positions per direction; None = unlimited
    path_length: int | None  # fewest layers (or steps) on a path of length span; None = no path
    covered: bool | None  # None when no span is declared
    sequential_steps: int
    receptive_field: int | None  # None = unlimited
    layers_needed: int | None = None
    gradient_horizon: int | None = None  # truncated BPTT
    directions: str = "both"  # "past" for causal models: reach counts positions before t


@dataclass(frozen=True)
class LatencyEstimate:
    seconds: float
    sequential_steps: int
    device: str
    label: str = "estimate"


class Estimate:
    """Every formula for one spec at (batch, n), each computed on first use.

    Rules read only what they need (the linter runs on thousands of files per second), while
    `to_json` and `render_text` compute everything.
    """

    def __init__(
        self, spec: Spec, n: int | None = None, batch: int | None = None, path: str | None = None
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.path = path
        self.family = spec.model.family
        self.n = n or spec.train_n
        self.batch = batch or spec.train.batch

    @cached_property
    def params(self) -> int:
        from .formulas.params import params_from_spec

        return params_from_spec(self.spec)

    @cached_property
    def memory(self) -> MemoryBreakdown:
        return train_memory(self.spec, self.n, self.batch)

    @cached_property
    def kv_cache(self) -> int | None:
        from .formulas.kvcache import kv_cache_from_spec

        return kv_cache_from_spec(self.spec)

    @cached_property
    def infer_weights(self) -> int:
        from .formulas.states import inference_weight_bytes_from_spec

        return inference_weight_bytes_from_spec(self.spec, self.params)

    @cached_property
    def infer_memory(self) -> int:
        """Weights plus KV cache at the [infer] shape."""
        return self.infer_weights + (self.kv_cache or 0)

    @cached_property
    def flops(self) -> tuple[int, int]:
        from .formulas.flops import flops_from_spec

        f = flops_from_spec(self.spec, n=self.n, batch=self.batch)
        return f.forward, f.train_step

    @property
    def flops_forward(self) -> int:
        return self.flops[0]

    @property
    def flops_train_step(self) -> int:
        return self.flops[1]

    @cached_property
    def path_info(self) -> PathInfo:
        from .formulas import path as pathf

        spec = self.spec
        p = pathf.path_from_spec(spec, n=self.n)
        need = None
        if (
            p.covered is False
            and spec.budget.span is not None
            and spec.model.family in ("cnn", "tcn")
        ):
            m = spec.model
            need = pathf.layers_needed(
                spec.budget.span,
                m.kernel_list()[0],
                1,
                centered=m.family == "cnn" and m.padding != "causal",
            )
        return PathInfo(
            span=p.span,
            reach=p.reach,
            path_length=p.path_length,
            covered=p.covered,
            sequential_steps=p.sequential_steps,
            receptive_field=p.receptive_field,
            layers_needed=need,
            gradient_horizon=p.gradient_horizon,
            directions=p.directions,
        )

    @cached_property
    def n_max(self) -> int | None:
        return n_max_for(self.spec, self.batch)

    @cached_property
    def secondary(self) -> dict[str, int] | None:
        """The article's rules of thumb for Transformers, printed beside the exact figures:
        its attention-only n_max (scores alone fill the budget) and the n beyond which
        attention outweighs the FFN (n > 2·d_ff)."""
        from .formulas.limits import attention_dominates_threshold, sqrt_rule_n_max
        from .spec.model import DTYPE_BYTES

        m = self.spec.model
        if m.family != "transformer":
            return None
        out = {"attention_dominates_above_n": attention_dominates_threshold(m.ffn_dim)}
        if self.spec.budget.memory is not None:
            out["sqrt_rule_n_max"] = sqrt_rule_n_max(
                self.spec.budget.memory,
                self.batch,
                m.head_count,
                DTYPE_BYTES[self.spec.train.dtype],
            )
        return out

    @cached_property
    def latency(self) -> LatencyEstimate | None:
        from .formulas.latency import latency_from_spec

        lat = latency_from_spec(self.spec)
        return (
            None if lat is None else LatencyEstimate(lat.seconds, lat.sequential_steps, lat.device)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "family": self.family,
            "n": self.n,
            "batch": self.batch,
            "params": self.params,
            "memory": asdict(self.memory),
            "kv_cache": self.kv_cache,
            "infer_memory": self.infer_memory,
            "flops": {"forward": self.flops_forward, "train_step": self.flops_train_step},
            "dependency": asdict(self.path_info),
            "n_max": self.n_max,
            "rules_of_thumb": self.secondary,
            "latency": None
            if self.latency is None
            else {
                "estimate_ms": self.latency.seconds * 1e3,
                "sequential_steps": self.latency.sequential_steps,
                "device": self.latency.device,
                "label": self.latency.label,
            },
        }


def train_memory(spec: Spec, n: int, batch: int) -> MemoryBreakdown:
    """Training-step peak per device at (batch, n): see formulas/peak.py."""
    from .formulas.peak import train_memory as peak

    m = peak(spec, n, batch)
    return MemoryBreakdown(
        params=m.params,
        grads=m.grads,
        optimizer=m.optimizer,
        activations=m.activations,
        attention_scores=m.attention_scores,
        logits=m.logits,
        total=m.total,
    )


def n_max_for(spec: Spec, batch: int) -> int | None:
    """Largest n (multiple of budget.granularity) whose training peak fits budget.memory."""
    from .formulas.limits import n_max

    budget = spec.budget.memory
    if budget is None:
        return None
    return n_max(lambda n: train_memory(spec, n, batch).total, budget, spec.budget.granularity)


def estimate(
    spec: Spec, n: int | None = None, batch: int | None = None, path: str | None = None
) -> Estimate:
    """All formulas for one spec at sequence length n (default: [train] seq_len)."""
    return Estimate(spec, n=n, batch=batch, path=path)


def render_text(e: Estimate) -> None:
    """Rich table of one estimate."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{e.name} ({e.family}) at batch {e.batch} × n {e.n}", show_header=True)
    t.add_column("quantity")
    t.add_column("value", justify="right")
    t.add_column("formula", style="dim")
    m = e.memory
    rows: list[tuple[str, str, str]] = [
        ("parameters", format_count(e.params) + f" ({e.params:,})", "params.*"),
        ("weights (fp32)", format_bytes(m.params), "peak.train_memory"),
        ("gradients live at the peak", format_bytes(m.grads), "peak.train_memory"),
        ("optimizer state", format_bytes(m.optimizer), "peak.optimizer_bytes"),
        ("activations", format_bytes(m.activations), "activations.*"),
        ("attention scores", format_bytes(m.attention_scores), "activations.*"),
        ("logits + loss", format_bytes(m.logits), "activations.*"),
        ("training peak", format_bytes(m.total), "peak.train_memory"),
        ("n_max (fits memory)", "n/a" if e.n_max is None else f"{e.n_max:,}", "limits.n_max"),
        ("KV cache [infer]", format_bytes(e.kv_cache), "kvcache.kv_cache"),
        ("inference memory", format_bytes(e.infer_memory), "weights + KV cache"),
        ("forward FLOPs", format_count(e.flops_forward), "flops.*"),
        ("train-step FLOPs", format_count(e.flops_train_step), "3 × forward"),
    ]
    p = e.path_info
    rows += [
        ("reach per direction", "unlimited" if p.reach is None else f"{p.reach:,}", "path.*"),
        (
            "receptive field",
            "unlimited" if p.receptive_field is None else f"{p.receptive_field:,}",
            "path.*",
        ),
        ("sequential steps", f"{p.sequential_steps:,}", "path.*"),
    ]
    if p.span is not None:
        rows.append((f"span {p.span} covered", "yes" if p.covered else "NO", "path.*"))
        rows.append(
            ("path length", "none" if p.path_length is None else f"{p.path_length:,}", "path.*")
        )
    for key, label in (
        ("sqrt_rule_n_max", "article's attention-only n_max"),
        ("attention_dominates_above_n", "attention outweighs FFN above n"),
    ):
        if e.secondary and key in e.secondary:
            rows.append((label, f"{e.secondary[key]:,}", f"limits.{key}"))
    if e.latency is not None:
        rows.append(
            (
                f"latency on {e.latency.device} (estimate)",
                format_seconds(e.latency.seconds),
                "latency.roofline",
            )
        )
    for r in rows:
        t.add_row(*r)
    Console().print(t)
