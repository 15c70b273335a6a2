"""ARC210: LSTM forget-gate bias at initialisation, for a long span.

PyTorch stores the four LSTM gates as rows i, f, g, o of bias_ih and bias_hh, so the forget
gate's effective bias is bias_ih[H:2H] + bias_hh[H:2H]. The default init is uniform around 0,
so the gate starts near σ(0) = 0.5 and keeps 0.5^d of the cell state over d steps, which
drops below 1e-3 at d = 10: a span >= 10 counts as long. b_f = 1 (Gers et al. 2000;
Jozefowicz et al. 2015) is the usual fix. Default init averages 0 ± ~1/√(3H), so "positive"
means deliberately positive: a mean below MIN_BIAS = 0.5 (half the customary 1) is flagged.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..findings import Finding
from ..spec.model import Spec
from ._codes import Locations, finding

LONG_SPAN = 10
MIN_BIAS = 0.5


def forget_biases(model: nn.Module) -> list[tuple[str, float]]:
    """(parameter label, mean forget-gate bias) for every LSTM layer and direction."""
    out = []
    for name, m in model.named_modules():
        if isinstance(m, nn.LSTM | nn.LSTMCell):
            h = m.hidden_size
            suffixes = (
                [""]
                if isinstance(m, nn.LSTMCell)
                else [
                    f"_l{layer}{sfx}"
                    for layer in range(m.num_layers)
                    for sfx in (["", "_reverse"] if m.bidirectional else [""])
                ]
            )
            for sfx in suffixes:
                total = torch.zeros(h, dtype=torch.float64)
                for kind in ("ih", "hh"):
                    b = getattr(m, f"bias_{kind}{sfx}", None)
                    if b is not None:
                        total = total + b.detach().double().cpu()[h : 2 * h]
                out.append((f"{name or 'lstm'}.bias_ih{sfx} + bias_hh{sfx}", float(total.mean())))
    return out


def check_forget_gate(
    model: nn.Module, spec: Spec, path: str, locations: Locations | None = None
) -> list[Finding]:
    """ARC210: mean forget-gate bias below MIN_BIAS when budget.span >= LONG_SPAN."""
    span = spec.budget.span
    if span is None or span < LONG_SPAN:
        return []
    bad = [(label, b) for label, b in forget_biases(model) if b < MIN_BIAS]
    if not bad:
        return []
    label, b = bad[0]
    keep = (1 / (1 + math.exp(-b))) ** span
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    return [
        finding(
            "ARC210",
            f"LSTM forget-gate bias {label}[H:2H] (gate order i, f, g, o) averages {b:.3f} "
            f"< {MIN_BIAS}{more}: the gate starts near σ({b:.2f}) and keeps "
            f"σ^{span} ≈ {keep:.1e} of the cell state across budget.span = {span}",
            path=path,
            model=spec.name,
            locations=locations,
            keys=("model.forget_bias", "budget.span"),
            fix="initialise the forget-gate bias to 1: bias_ih[H:2H] = 1, bias_hh[H:2H] = 0",
            severity="warning",
            data={"parameter": label, "mean_bias": b, "retention": keep, "layers": len(bad)},
        )
    ]
