"""Recurrent family: stacked nn.RNN / nn.GRU / nn.LSTM (uni- or bidirectional).

Reference module (families/reference/recurrent.py): token embedding (vocab x d_model) or float
inputs of `in_channels` (else d_model) features -> nn.LSTM / GRU / RNN (batch_first, dropout
between layers) -> an LM head at every step (Linear H·dirs -> vocab, tied to the embedding when
`tied_embeddings` and the shapes allow it: then only its bias is a parameter of its own) or a
classifier on the mean over time (`classes`).

Saved bytes (p: activation bytes, 2 under autocast): token ids b·s·8; the embedding output and
its time-major copy (fp32), or autocast's 16-bit copy; per layer the output s·b·H·dirs·p. LSTM
runs one fused kernel whose training workspace (runtime/cpu.py, oneDNN; ~71 % of it in bf16)
holds the gates; GRU and RNN run the native per-step loop, keeping per step and layer the gate
pre-activations and nonlinear outputs s·b·H·p·(2·gates + 2). Dropout between layers keeps a mask
and its output. The head saves its batch-major input (LM) or the pooled features (classes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ..formulas.params import GATES
from ..formulas.registry import formula
from . import Family, ForwardSaved, Shape, register
from ._base import DEFAULT_VOCAB, head_out

if TYPE_CHECKING:
    from ..formulas.devices import Device
    from ..formulas.flops import Flops
    from ..formulas.latency import LatencyEstimate
    from ..formulas.path import PathReport
    from ..runtime import Target
    from ..spec.model import ModelTable, Spec


def input_width(m: ModelTable) -> int:
    """Features the first recurrent layer reads: the embedding width for tokens, else
    `in_channels` when set (else d_model)."""
    return m.in_channels if (m.input != "tokens" and m.in_channels) else m.d_model


def tied(spec: Spec) -> bool:
    """The LM head shares the embedding's weight: asked for, and the shapes agree."""
    m = spec.model
    dirs = 2 if m.bidirectional else 1
    kind, _ = head_out(m)
    return bool(
        m.tied_embeddings
        and m.input == "tokens"
        and kind == "lm"
        and m.hidden_size * dirs == m.d_model
    )


@register
class Recurrent(Family):
    name = "recurrent"
    serves = ("lstm", "gru", "rnn")
    summary = "nn.LSTM / nn.GRU / nn.RNN stacks with an LM or classifier head"
    recurrent = True
    formula_names: ClassVar[dict[str, str]] = {
        "flops": "flops.recurrent",
        "reach": "path.recurrent",
        "receptive_field": "path.recurrent",
        "path_length": "path.recurrent",
        "sequential_steps": "path.recurrent",
        "latency": "latency.recurrent",
    }

    def has_forget_gate(self, spec: Spec) -> bool:
        return spec.model.family == "lstm"

    def param_shapes(self, spec: Spec) -> list[Shape]:
        m = spec.model
        g, H, dirs = GATES[m.family], m.hidden_size, 2 if m.bidirectional else 1
        bias = m.bias != "none"
        out: list[Shape] = []
        if m.input == "tokens":
            out.append((m.vocab or DEFAULT_VOCAB, m.d_model))
        for layer in range(m.layers):
            inp = input_width(m) if layer == 0 else H * dirs
            for _ in range(dirs):
                out += [(g * H, inp), (g * H, H)]
                out += [(g * H,), (g * H,)] if bias else []
        _, width = head_out(m)
        if width:
            if not tied(spec):
                out.append((width, H * dirs))
            out.append((width,))
        return out

    def forward_saved(self, spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
        return recurrent_activations(spec, n, batch, target)

    def flops(self, spec: Spec, n: int, batch: int, convention: str = "archcheck") -> Flops:
        from ..formulas.flops import recurrent_flops

        m = spec.model
        kind, width = head_out(m)
        return recurrent_flops(
            m.family, m.layers, batch, n, input_size=input_width(m),  # type: ignore[arg-type]
            hidden=m.hidden_size, bidirectional=m.bidirectional, head_out=width,
            pooled_head=kind == "classes",
        )  # fmt: skip

    def path(self, spec: Spec, span: int | None, n: int) -> PathReport:
        from ..formulas.path import recurrent_path

        return recurrent_path(span, n, spec.model.bidirectional, spec.train.bptt)

    def latency(self, spec: Spec, device: Device, overhead_s: float) -> LatencyEstimate:
        from ..formulas.latency import recurrent_latency

        m, inf = spec.model, spec.infer
        kind, width = head_out(m)
        return recurrent_latency(
            device, inf.dtype or spec.train.dtype, m.family, m.layers,  # type: ignore[arg-type]
            inf.batch, n=spec.infer_n, input_size=input_width(m), hidden=m.hidden_size,
            bidirectional=m.bidirectional, head_out=width, overhead_s=overhead_s,
            pooled_head=kind == "classes",
        )  # fmt: skip

    def is_causal(self, spec: Spec) -> bool:
        m = spec.model
        return m.causal if "causal" in m.model_fields_set else not m.bidirectional

    def input_width(self, spec: Spec) -> int:
        return input_width(spec.model)

    def reference_module(self, spec: Spec) -> Any:
        from .reference.recurrent import RecurrentLM

        return RecurrentLM(spec)


@formula(
    "activations.recurrent",
    "ids + inputs + L*s*b*H*dirs*p + LSTM workspace | GRU/RNN s*b*H*p*(2*gates+2) + head",
    "torch.nn.LSTM/GRU/RNN saved tensors; oneDNN workspace (runtime/cpu.py)",
)
def recurrent_activations(spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
    """Bytes a recurrent model's training forward keeps for backward (see the module docs)."""
    from ..runtime import Precision
    from ..runtime.cpu import rnn_workspace

    m, t = spec.model, spec.train
    pr = Precision.of(spec, target)
    p = pr.act
    b, s, H, L = batch, n, m.hidden_size, m.layers
    d = input_width(m)
    dirs = 2 if m.bidirectional else 1
    drop = t.dropout > 0 and L > 1
    tokens = m.input == "tokens"
    acts = b * s * 8 if tokens else b * s * d * 4  # token ids / the input, alive all along
    transient = 0
    if pr.lowp:
        acts += s * b * d * p  # the 16-bit copy autocast feeds the RNN
    else:
        acts += b * s * d * 4 if tokens else 0  # embedding output
        acts += s * b * d * p  # time-major copy of the input
    out = s * b * H * dirs * p
    kind, width = head_out(m)
    pooled = kind == "classes" and bool(width)
    if m.family == "lstm":
        per_dir = rnn_workspace(s, b, d, H)  # first layer; others see H·dirs inputs
        ws = dirs * per_dir + (L - 1) * dirs * rnn_workspace(s, b, H * dirs, H)
        if pr.lowp:
            ws = ws * 71 // 100  # oneDNN's bf16 workspace, fit (rough)
        acts += ws + L * out + L * dirs * 2 * b * H * p  # workspace, outputs, (h_n, c_n)
        if pr.lowp:  # 16-bit copies of the weights, biases and zero initial states
            acts += (
                2
                * sum(4 * H * ((d if i == 0 else H * dirs) + H + 2) + 2 * b * H for i in range(L))
                * dirs
            )
        else:
            acts += 2 * L * dirs * b * H * p * 2  # zero initial states, stacked finals
    else:
        # GRU / RNN run ATen's native loop (aten/src/ATen/native/RNN.cpp: the input projection
        # of the whole sequence first, then one cell per step). What autograd keeps, per layer
        # and direction (counted with saved_tensors_hooks, torch 2.13 CPU):
        # - per step: RNN the tanh output (b·H·p); GRU six b·H tensors in the activation dtype
        #   (gates, new gate, h - n, the addmm of h) and one fp32 b·H (6p + 4 bytes per b·H);
        # - the zero initial state (b·H·p);
        # - the input its projection saves: in the first layer each direction folds the
        #   batch-first input into its own time-major copy (one is counted above); later layers
        #   save the previous layer's output (or the dropout output between them) itself;
        # - the layer output (stack of the steps, or cat of both directions): saved by the next
        #   layer unless dropout sits in between, and the last one is the model's output unless
        #   a classifier pools it away; h_n (stacked finals) lives until forward returns.
        u = p if m.family == "rnn" else 6 * p + 4
        acts += (dirs - 1) * s * b * d * p
        for layer in range(L):
            acts += dirs * (s * b * H * u + b * H * p)
            if (layer == L - 1 and not pooled) or (layer < L - 1 and not drop):
                acts += s * b * H * dirs * p
        acts += L * dirs * b * H * p  # h_n
        # The last direction's input projection (s·b·gates·H) is alive while its steps are
        # stacked -- with the token embedding the RNN was called on: a forward transient.
        transient = s * b * GATES[m.family] * H * p
        if pr.lowp and tokens:
            transient += b * s * d * 4
        if pooled:
            transient += s * b * H * dirs * p  # the last output, until the mean is taken
    if drop:
        acts += (L - 1) * s * b * H * dirs * (pr.mask + p)
    rnn_end = acts + transient
    logits = 4
    if kind == "lm" and width:
        if b > 1:  # batch-major copy for the head (at b = 1 the fold is a view)
            acts += s * b * H * dirs * p
        logits += head_logits(b * s * width, pr.act, pr.lowp)
    elif width:
        acts += b * H * dirs * p  # the pooled features the classifier saves
        logits += head_logits(b * width, pr.act, pr.lowp)
    if width and pr.lowp:
        acts += 2 * width * (H * dirs + 1)  # autocast copies of the head weight, bias
    return ForwardSaved(
        acts,
        0,
        logits,
        backward_extra=(width or 0) * H * dirs * 4,
        forward_peak=rnn_end if rnn_end > acts + logits else 0,
        formula="activations.recurrent",
    )


def head_logits(elems: int, act: int, lowp: bool) -> int:
    """A biased head on a batch-major view: fp32 runs mm and adds the bias in place (one
    tensor; at::linear on a non-contiguous input); autocast runs one 16-bit addmm, then the loss
    takes a fp32 copy."""
    return elems * (act + 4) if lowp else elems * act
