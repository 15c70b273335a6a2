"""Dependency reach, path length, sequential steps and receptive fields (DESIGN.md §4).

Definitions used by budgets:

- span d: the output at an interior position t must depend on the input at t-d (and at t+d for
  non-causal models). path length = fewest layers on such a path. A model covers d when a path
  exists at all.
- reach: the largest d covered, per direction (`directions` = "past" for causal models, "both"
  otherwise); None means unlimited.
- centered CNN reach = Σ_l floor(dil_l*(k_l-1)/2) * Π_{i<l} s_i per direction (= L*(k-1)/2 for
  plain stride-1 layers); causal CNN/TCN reach = Σ_l dil_l*(k_l-1) * Π_{i<l} s_i (past only).
- full and linear attention: reach unlimited, path length 1. Sliding window w (w keys back, and
  forward when not causal): reach L*w, path length ceil(d/w). Local (block) attention, blocks of
  w that attend to themselves and the previous block (and the next when not causal): every
  position reaches at least w further per layer, so reach L*w and path length ceil(d/w) too.
- RNN/GRU/LSTM: reach unlimited, path length d (one recurrent transition per step), sequential
  steps n (per direction; a bidirectional model reaches both ways). Truncated BPTT limits the
  gradient horizon to the truncation length: a dependency longer than that is never trained.

The article's receptive field R = 1 + (k-1)*L (R = 1 + (k-1)*Σ dil_l with dilations) counts the
window width (both sides together); it is reported too, via the closed forms of Araujo et al.
2019, "Computing Receptive Fields of Convolutional Neural Networks", Distill,
https://distill.pub/2019/computing-receptive-fields/ .
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from math import ceil, prod
from typing import TYPE_CHECKING, Literal

from .registry import formula

if TYPE_CHECKING:
    from ..spec.model import Spec

Directions = Literal["past", "both"]


@dataclass(frozen=True)
class PathReport:
    """Reach, path length, coverage and sequential steps of one model for a span."""

    span: int | None
    reach: int | None  # per direction; None = unlimited
    directions: Directions
    path_length: int | None  # None: span not given or not covered
    covered: bool | None  # None: span not given
    sequential_steps: int
    receptive_field: int | None  # convolutional models only
    gradient_horizon: int | None = None  # truncated BPTT length, recurrent models only

    @property
    def unlimited(self) -> bool:
        return self.reach is None


def _cover(
    span: int | None, reach: int | None, path_length: int | None
) -> tuple[int | None, bool | None]:
    if span is None:
        return None, None
    covered = reach is None or reach >= span
    return (path_length if covered else None), covered


# --- convolutions ------------------------------------------------------------------------------


@formula(
    "path.conv_layer_reach",
    "r = floor(dil*(k-1)/2) centered; dil*(k-1) causal",
    "DESIGN.md §4",
)
def conv_layer_reach(kernel: int, dilation: int = 1, centered: bool = True) -> int:
    """How far one stride-1 convolution reaches per direction."""
    span = dilation * (kernel - 1)
    return span // 2 if centered else span


def _layer_reaches(
    kernels: Sequence[int],
    dilations: Sequence[int] | None,
    strides: Sequence[int] | None,
    centered: bool,
) -> Iterator[int]:
    """Each layer's reach in input positions, r_l * Π_{i<l} s_i (dilations, strides default 1)."""
    ones = [1] * len(kernels)
    dil = dilations if dilations is not None else ones
    st = strides if strides is not None else ones
    jump = 1
    for k, d, s in zip(kernels, dil, st, strict=True):
        yield conv_layer_reach(k, d, centered) * jump
        jump *= s


@formula(
    "path.conv_reach",
    "reach = Σ_l r_l * Π_{i<l} s_i",
    "DESIGN.md §4; Araujo et al. 2019 (Distill)",
)
def conv_reach(
    kernels: Sequence[int],
    dilations: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
    centered: bool = True,
) -> int:
    """Reach per direction of a conv stack, in input positions."""
    return sum(_layer_reaches(kernels, dilations, strides, centered))


@formula(
    "path.receptive_field",
    "R = Σ_l (dil_l*(k_l-1)) * Π_{i<l} s_i + 1",
    "Araujo et al. 2019, https://distill.pub/2019/computing-receptive-fields/ (eq. 2)",
)
def receptive_field(
    kernels: Sequence[int],
    dilations: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
) -> int:
    """Receptive-field width R of a conv stack; effective kernel k_eff = dil*(k-1) + 1."""
    # k_eff - 1 = dil*(k-1) is the causal reach of one layer: R = 1 + causal reach of the stack.
    return 1 + conv_reach(kernels, dilations, strides, centered=False)


@formula("path.effective_stride", "S = Π_l s_l", "Araujo et al. 2019 (Distill)")
def effective_stride(strides: Sequence[int]) -> int:
    """Distance in input positions between adjacent outputs of the stack."""
    return prod(strides)


@formula("path.effective_padding", "P = Σ_l p_l * Π_{i<l} s_i", "Araujo et al. 2019 (Distill)")
def effective_padding(paddings: Sequence[int], strides: Sequence[int]) -> int:
    """Left padding of the whole stack, in input positions."""
    total, jump = 0, 1
    for p, s in zip(paddings, strides, strict=True):
        total += p * jump
        jump *= s
    return total


@formula(
    "path.receptive_field_simple",
    "R = 1 + (k-1)*L; with dilations R = 1 + (k-1)*Σ dil_l",
    "source article",
)
def receptive_field_simple(kernel: int, layers: int, dilations: Sequence[int] | None = None) -> int:
    """The article's receptive field of L stride-1 layers of kernel k."""
    return 1 + (kernel - 1) * (sum(dilations) if dilations is not None else layers)


@formula(
    "path.conv_path_length",
    "smallest L' with Σ_{l<=L'} r_l * Π_{i<l} s_i >= d",
    "DESIGN.md §4",
)
def conv_path_length(
    span: int,
    kernels: Sequence[int],
    dilations: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
    centered: bool = True,
) -> int | None:
    """Fewest conv layers whose cumulative reach covers `span`; None if the stack never does."""
    reaches = accumulate(_layer_reaches(kernels, dilations, strides, centered))
    for layer, total in enumerate(reaches, start=1):
        if total >= span:
            return layer
    return None


@formula(
    "path.layers_needed",
    "L = ceil(d / r), r = floor(dil*(k-1)/2) centered or dil*(k-1) causal",
    "source article (L >= ceil(d/r)); DESIGN.md §4",
)
def layers_needed(span: int, kernel: int, dilation: int = 1, centered: bool = True) -> int | None:
    """Stride-1 layers of one kernel needed to reach `span` per direction (None: r = 0)."""
    r = conv_layer_reach(kernel, dilation, centered)
    return ceil(span / r) if r > 0 else None


@formula("path.layers_for_radius", "L = ceil(d / r)", "source article")
def layers_for_radius(span: int, radius: int) -> int:
    """The article's lower bound: layers of neighbourhood radius r needed to span d."""
    return ceil(span / radius)


@formula(
    "path.layers_for_receptive_field",
    "L = ceil((d - 1) / (dil*(k - 1)))  (R = 1 + (k-1)*L >= d)",
    "source article",
)
def layers_for_receptive_field(span: int, kernel: int, dilation: int = 1) -> int:
    """The article's 'R covers d' layer count: a window d wide, both sides together."""
    return ceil((span - 1) / (dilation * (kernel - 1)))


@formula(
    "path.conv",
    "reach = path.conv_reach; path length = path.conv_path_length; steps = L; R = path.receptive_field",
    "DESIGN.md §4; Araujo et al. 2019 (Distill)",
)
def conv_path(
    span: int | None,
    kernels: Sequence[int],
    dilations: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
    centered: bool = True,
) -> PathReport:
    """Path report of a conv stack (centered: "same"/"valid" padding; else causal)."""
    reach = conv_reach(kernels, dilations, strides, centered)
    pl = conv_path_length(span, kernels, dilations, strides, centered) if span else None
    path_length, covered = _cover(span, reach, pl)
    return PathReport(
        span=span,
        reach=reach,
        directions="both" if centered else "past",
        path_length=path_length,
        covered=covered,
        sequential_steps=len(kernels),
        receptive_field=receptive_field(kernels, dilations, strides),
    )


# --- recurrent ---------------------------------------------------------------------------------


@formula(
    "path.recurrent",
    "reach unlimited; path length d; sequential steps n; gradient horizon = bptt",
    "DESIGN.md §4; Werbos 1990 (BPTT)",
)
def recurrent_path(
    span: int | None, n: int, bidirectional: bool = False, bptt: int | None = None
) -> PathReport:
    """Path report of an RNN/GRU/LSTM: one recurrent transition per position."""
    path_length, covered = _cover(span, None, span)
    return PathReport(
        span=span,
        reach=None,
        directions="both" if bidirectional else "past",
        path_length=path_length,
        covered=covered,
        sequential_steps=n,
        receptive_field=None,
        gradient_horizon=bptt,
    )


@formula("path.decay", "g = rho^steps", "source article; Bengio et al. 1994")
def decay(rho: float, steps: int) -> float:
    """Gradient/memory scale after `steps` factors of spectral radius or forget gate `rho`."""
    return float(rho**steps)


# --- attention ---------------------------------------------------------------------------------


@formula(
    "path.attention",
    "full/linear: reach unlimited, path 1; sliding/local w: reach L*w, path ceil(d/w)",
    "DESIGN.md §4; Vaswani et al. 2017; Beltagy et al. 2020",
)
def attention_path(
    span: int | None,
    layers: int,
    attention: Literal["full", "sliding", "local", "linear"] = "full",
    window: int = 0,
    causal: bool = True,
) -> PathReport:
    """Path report of a Transformer stack."""
    directions: Directions = "past" if causal else "both"
    if attention in ("full", "linear"):
        reach: int | None = None
        pl: int | None = 1
    else:
        reach = layers * window
        pl = ceil(span / window) if (span and window > 0) else None
    path_length, covered = _cover(span, reach, pl)
    return PathReport(
        span=span,
        reach=reach,
        directions=directions,
        path_length=path_length,
        covered=covered,
        sequential_steps=layers,
        receptive_field=None,
    )


def path_from_spec(spec: Spec, span: int | None = None, n: int | None = None) -> PathReport:
    """Path report for the spec (span defaults to [budget] span, n to the family's training n),
    from its family unit (families/*.py `path`)."""
    from ..families import family_of

    fam = family_of(spec)
    span = span if span is not None else spec.budget.span
    n = n if n is not None else fam.train_n(spec)
    return fam.path(spec, span, n)
