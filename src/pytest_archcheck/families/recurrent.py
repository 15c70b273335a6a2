"""Recurrent family: stacked nn.RNN / nn.GRU / nn.LSTM (uni- or bidirectional).

Reference module (families/reference/recurrent.py): token embedding (vocab x d_model) or float
inputs of `in_channels` (else d_model) features -> nn.LSTM / GRU / RNN (batch_first, dropout
between layers) -> an LM head at every step (Linear H·dirs -> vocab, tied to the embedding when
`tied_embeddings` and the shapes allow it: then only its bias is a parameter of its own) or a
classifier on the mean over time (`classes`).

Saved bytes (p: activation bytes, 2 under autocast): token ids b·s·8; the embedding output and
its time-major copy (fp32), or autocast's 16-bit copy; per layer the output s·b·H·dirs·p. LSTM
runs one fused kernel whose training workspace (runtime/cpu.py, oneDNN; ~71 % of it in bf16)
holds the gates. GRU and RNN run ATen's native per-step loop; their bytes are walked tensor by
tensor in torch's allocation order (`native_rnn_forward`), because the forward's peak is a
moment inside it (a layer's stack / cat, the head, the loss), with every tensor rounded as the
target's allocator rounds it. The head saves its batch-major input (LM) or the pooled features
(classes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    flops_formula = "flops.recurrent"
    latency_formula = "latency.recurrent"
    path_formula = "path.recurrent"

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
    "ids + inputs + L*s*b*H*dirs*p + LSTM workspace + head | GRU/RNN: walk of the native loop",
    "torch.nn.LSTM saved tensors + oneDNN workspace (runtime/cpu.py); aten/src/ATen/native/"
    "RNN.cpp FullLayer/FullBidirectionalLayer, GRUCell, SimpleCell (GRU/RNN)",
)
def recurrent_activations(spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
    """Bytes a recurrent model's training forward keeps for backward (see the module docs)."""
    from ..runtime import Precision
    from ..runtime.cpu import rnn_workspace

    if spec.model.family != "lstm":
        return native_rnn_forward(spec, n, batch, target)
    m, t = spec.model, spec.train
    pr = Precision.of(spec, target)
    p = pr.act
    b, s, H, L = batch, n, m.hidden_size, m.layers
    d = input_width(m)
    dirs = 2 if m.bidirectional else 1
    drop = t.dropout > 0 and L > 1
    tokens = m.input == "tokens"
    bias = m.bias != "none"
    acts = b * s * 8 if tokens else b * s * d * 4  # token ids / the input, alive all along
    if pr.lowp:
        acts += s * b * d * p  # the 16-bit copy autocast feeds the RNN
    else:
        acts += b * s * d * 4 if tokens else 0  # embedding output
        acts += s * b * d * p  # time-major copy of the input
    out = s * b * H * dirs * p
    kind, width = head_out(m)
    # LSTM: one fused oneDNN kernel per layer and direction (mkldnn_rnn_layer)
    # the first layer sees d inputs, the others H·dirs; 16-bit cells under autocast
    per_dir = rnn_workspace(s, b, d, H, p)
    ws = dirs * per_dir + (L - 1) * dirs * rnn_workspace(s, b, H * dirs, H, p)
    acts += ws + L * out + L * dirs * 2 * b * H * p  # workspace, outputs, (h_n, c_n)
    if pr.lowp:  # 16-bit copies of the weights, biases and zero initial states
        # without biases, aten's mkldnn_rnn passes zero tensors shaped like the two weights
        # in their place (measured), and autocast casts and keeps those too
        acts += (
            2
            * sum(
                4 * H * ((d if i == 0 else H * dirs) + H) * (1 if bias else 2)
                + (8 * H if bias else 0)
                + 2 * b * H
                for i in range(L)
            )
            * dirs
        )
    else:
        acts += 2 * L * dirs * b * H * p * 2  # zero initial states, stacked finals
    if drop:
        acts += (L - 1) * s * b * H * dirs * (pr.mask + p)
    rnn_end = acts
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


class _Walk:
    """Live bytes through a forward pass, allocation by allocation: `alloc` adds a tensor
    (rounded as the target's allocator rounds it) under a key, `free` releases a key; `peak` is
    the largest live total seen."""

    def __init__(self, cuda: bool) -> None:
        from ..runtime.cuda import cuda_alloc_size

        self.rnd = cuda_alloc_size if cuda else (lambda nb: nb)
        self.live = self.peak = 0
        self.held: dict[str, int] = {}

    def alloc(self, key: str, nbytes: int, count: int = 1) -> None:
        nb = self.rnd(nbytes) * count
        self.live += nb
        self.peak = max(self.peak, self.live)
        self.held[key] = self.held.get(key, 0) + nb

    def free(self, key: str) -> None:
        self.live -= self.held.pop(key, 0)


def native_rnn_forward(spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
    """GRU / RNN on ATen's native loop (aten/src/ATen/native/RNN.cpp, the CPU path; the fake
    probe's CUDA emulation runs the same kernels, every tensor rounded to the allocator's 512-byte
    blocks). Walked tensor by tensor in the order torch allocates and frees them, because the
    forward's peak is a moment inside it (a layer's stack/cat, the loss), not its end.

    Per layer and direction (FullLayer / FullBidirectionalLayer::operator(), CPU branch):
    - the input projection `linear_ih(input)` of the whole sequence (s·b·gates·H), alive until
      the layer returns (bidirectional: the forward one until the reverse one exists). Its mm
      saves its input for the weight gradient: a batch-first input at b > 1 is a transposed,
      non-contiguous view that matmul copies (fp32) -- under autocast the 16-bit cast is what is
      copied and saved (the cast itself is freed); later layers read a contiguous time-major
      output, saved as is (fp32, or RNN's 16-bit output) or as its 16-bit cast (GRU's fp32
      output under autocast). Each direction makes its own copy.
    - per step, GRUCell (pre-computed input): the hidden matmul's gates b·gH (p, saved: the
      sigmoids run in place on its chunks), a clone of its third chunk before mul_(reset)
      (autograd keeps the original of an in-place mul), the new gate (add + tanh_, saved),
      h − n in the hidden's dtype (fp32: the zero initial state is fp32 and sub promotes) and
      its clone before mul_(update); the result (the sub) is h_t. Under autocast the mm casts
      h_{t-1} to 16 bits (saved); in fp32 it saves h_{t-1} itself, so the h_t stay alive;
      under autocast they die when the layer returns (only the stack of them is kept).
    - per step, RNN cell: tanh(linear_hh(h) + input) saves its output h_t (16-bit under
      autocast after the first step, whose fp32 h_0 is cast once).
    - the outputs stacked (s·b·H), both directions concatenated (the stacks then die).
    Dropout between layers (CPU at::dropout: a noise tensor of the output's size and dtype --
    CUDA's fused kernel a 1-byte mask -- and the product). h_n is stacked from the finals;
    the fp32 zero initial state is saved by the first steps' mm in fp32, freed under autocast.
    Autocast's 16-bit weight copies live until autocast exits (the first layer's w_ih is not
    saved when the input needs no gradient).
    """
    from ..runtime import Precision

    m, t = spec.model, spec.train
    pr = Precision.of(spec, target)
    p, lowp = pr.act, pr.lowp
    b, s, H, L = batch, n, m.hidden_size, m.layers
    g = GATES[m.family]
    gru = m.family == "gru"
    d = input_width(m)
    dirs = 2 if m.bidirectional else 1
    bias = m.bias != "none"
    drop = t.dropout > 0 and L > 1
    tokens = m.input == "tokens"
    hd = 4 if gru or not lowp else 2  # bytes of h_t (t >= 1) and of the layer outputs
    w = _Walk(target.cuda)
    w.alloc("input", b * s * 8 if tokens else b * s * d * 4)  # token ids / features
    if tokens:
        w.alloc("emb", b * s * d * 4)  # the embedding's output (fp32 under autocast too)
    w.alloc("h0", L * dirs * b * H * 4)  # zeros(L·dirs, b, H) in the input's dtype
    in_el = 4
    for layer in range(L):
        inp = d if layer == 0 else H * dirs
        contiguous = layer > 0 or b == 1
        for k in range(dirs):
            if lowp:  # autocast's 16-bit weights, cached until it exits
                saved_w = layer > 0 or tokens
                w.alloc("wsaved" if saved_w else "wcache", g * H * inp * 2)
                w.alloc("wsaved", g * H * H * 2)
                if bias:
                    w.alloc("wcache", g * H * 2, 2)
            if lowp and in_el == 4:
                if not contiguous:
                    w.alloc("tmp", s * b * inp * 2)  # the cast, still transposed
                w.alloc("saved", s * b * inp * 2)  # (its contiguous copy) saved by the mm
            elif not contiguous:
                w.alloc("saved", s * b * inp * in_el)  # matmul's contiguous copy, saved
            w.alloc(f"iw{k}", s * b * g * H * p)
            if bias and not contiguous:
                # linear_ih on a non-contiguous input is matmul, then the bias add. Eager adds
                # in place; under a TorchDispatchMode -- the probe's tracker -- at::linear sees
                # a subclass-like bias and adds out of place (Linear.cpp), so the mm result
                # lives until the sum exists. Counted as the probe measures it.
                w.alloc("tmp", s * b * g * H * p)
            w.free("tmp")  # (autocast's cast of the input lives until the linear returns)
            if k == 1:
                w.free("iw0")
            if gru:
                per = [g * H * p, H * p, H * p, H * 4]  # gates, clone, new gate, clone of h − n
                if lowp:
                    per.append(H * 2)  # h_{t-1} cast for the mm
                for nb in per:
                    w.alloc("saved", b * nb, s)
                w.alloc("ht" if lowp else "saved", b * H * 4, s - 1)
                w.alloc("final", b * H * 4)  # h_T: the layer's final hidden
            else:
                if lowp:
                    w.alloc("saved", b * H * 2)  # h_0 cast once
                w.alloc("saved", b * H * p, s)  # tanh outputs (h_t), saved
            w.alloc(f"stack{k}", s * b * H * hd)
        if dirs == 2:
            w.alloc("out", s * b * 2 * H * hd)
            w.free("stack0")
            w.free("stack1")
        else:
            w.held["out"] = w.held.pop("stack0")
        w.free("iw0")
        w.free("iw1")
        w.free("ht")
        # the previous layer's input: saved by this layer's mm, except GRU's fp32 output under
        # autocast (its 16-bit cast is saved instead)
        if not (lowp and in_el == 4 and layer > 0):
            w.held["saved"] += w.held.pop("lin", 0)
        w.free("lin")
        if drop and layer < L - 1:
            w.alloc("saved", s * b * H * dirs * (1 if target.cuda else hd))  # noise / mask
            w.alloc("lin", s * b * H * dirs * hd)
            w.free("out")
        elif layer < L - 1:
            w.held["lin"] = w.held.pop("out")
        in_el = hd
    w.alloc("hn", L * dirs * b * H * hd)  # h_n, stacked from the finals
    w.free("final")  # GRU's h_T: saved by no op
    if lowp:
        w.free("h0")  # the first steps saved its 16-bit casts
    else:
        w.held["saved"] += w.held.pop("h0")  # the first steps' mm saved h_0 itself
    w.free("hn")  # `y, _ = self.rnn(h)` drops h_n
    # The inputs: token ids are saved by the embedding; a batch-first input the first mm read
    # in place (fp32, b = 1) is saved by it; otherwise a copy or cast was saved instead and
    # the input dies with forward's locals (the embedding output) or with the step's inputs.
    first_in = "emb" if tokens else "input"
    if tokens:
        w.held["saved"] += w.held.pop("input")
    if not lowp and b == 1:
        w.held["saved"] += w.held.pop(first_in)
    HD = H * dirs
    kind, head_width = head_out(m)
    width = head_width or 0
    if kind == "classes" and width:
        w.alloc("pooled", b * HD * hd)  # y.mean(dim=1) saves no input: y dies
        w.free("out")
        out_el, head_in = b * width, "pooled"
    elif kind == "lm" and width:
        out_el, head_in = s * b * width, "out"
    else:
        out_el, head_in = 0, "out"
    if out_el:
        rows = out_el // width
        if lowp:
            w.alloc("wsaved", width * HD * 2)  # the head's 16-bit weight (saved) and bias
            w.alloc("wcache", width * 2)
            if hd == 4:  # the fp32 output is cast; a transposed cast is copied by matmul
                if kind == "lm" and b > 1:
                    w.alloc("tmp", rows * HD * 2)
                w.alloc("saved", rows * HD * 2)
            elif kind == "lm" and b > 1:
                w.alloc("saved", rows * HD * 2)  # matmul's contiguous copy of the view
            else:
                w.held["saved"] += w.held.pop(head_in)
        elif kind == "lm" and b > 1:
            w.alloc("saved", rows * HD * 4)  # matmul's contiguous copy, then add_(bias)
        else:
            w.held["saved"] += w.held.pop(head_in)
        w.alloc("logits", out_el * p)
        if lowp and kind == "lm" and b > 1:
            # the same out-of-place bias add (autocast keeps F.linear, probe/step.py)
            w.alloc("tmp", out_el * p)
        w.free("tmp")  # autocast's cast of the input dies when the linear returns
        w.free(head_in)
    else:  # no head: the RNN's output is the model's output
        w.held["logits"] = w.held.pop("out")
        out_el = s * b * HD
    # forward returns: its locals (the embedding output, y) die; the loss sums a fp32 view
    w.free("emb")
    w.free("out")
    w.free("pooled")
    if lowp if width else hd == 2:  # .float() copies 16-bit logits for the sum, then frees it
        w.alloc("tmp", out_el * 4)
    w.alloc("loss", 4)
    w.free("tmp")
    acts = w.held["saved"] + w.held.get("wsaved", 0)
    logits = w.held["logits"] + w.held["loss"]
    return ForwardSaved(
        acts,
        0,
        logits,
        backward_extra=width * HD * 4,
        forward_peak=w.peak,
        formula="activations.recurrent",
    )
