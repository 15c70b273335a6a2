"""Recurrent family: stacked nn.RNN / nn.GRU / nn.LSTM (uni- or bidirectional).

Reference module (families/reference/recurrent.py): token embedding (vocab x d_model) or float
inputs of `in_channels` (else d_model) features -> nn.LSTM / GRU / RNN (batch_first, dropout
between layers) -> an LM head at every step (Linear H·dirs -> vocab, tied to the embedding when
`tied_embeddings` and the shapes allow it: then only its bias is a parameter of its own) or a
classifier on the mean over time (`classes`).

Saved bytes (p: activation bytes, 2 under autocast): token ids b·s·8; the embedding output and
its time-major copy (fp32), or autocast's 16-bit copy; per layer the output s·b·H·dirs·p. LSTM
runs one fused oneDNN kernel per layer and direction whose training workspace holds the gates
and states (runtime.onednn_lstm_workspace, from oneDNN's own sizing); its whole step, forward
and backward, is walked tensor by tensor (`lstm_walk`). GRU and RNN run ATen's native per-step
loop; their forward is walked likewise (`native_rnn_forward`), because its peak is a moment
inside it (a layer's stack / cat, the head, the loss). Every tensor is rounded as the target's
allocator rounds it. The head saves its batch-major input (LM) or the pooled features
(classes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..formulas.params import GATES
from ..formulas.registry import formula
from . import Family, ForwardSaved, Shape, register
from ._base import DEFAULT_VOCAB, LiveBytes, cross_entropy_bytes, head_out

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
    models_cross_entropy = True
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
    "LSTM: activations.lstm | GRU/RNN: walk of the native loop",
    "activations.lstm (LSTM); aten/src/ATen/native/RNN.cpp FullLayer/FullBidirectionalLayer,"
    " GRUCell, SimpleCell (GRU/RNN)",
)
def recurrent_activations(spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
    """Bytes a recurrent model's training forward keeps for backward (see the module docs)."""
    if spec.model.family != "lstm":
        return native_rnn_forward(spec, n, batch, target)
    return lstm_walk(spec, n, batch, target)


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
    # forward returns: its locals (the embedding output, y) die
    w.free("emb")
    w.free("out")
    w.free("pooled")
    extra = width * HD * 4
    if out_el and width:
        # cross-entropy over the head (probe/build.py ProbeLoss): random targets unless an LM
        # over tokens predicts its own ids; under autocast a transient fp32 copy of the logits;
        # log_softmax's fp32 output saved
        rows = out_el // width
        ce = cross_entropy_bytes(rows, width, p, lowp, targets=not (tokens and kind == "lm"))
        if not (tokens and kind == "lm"):
            w.alloc("targets", rows * 8)
        if lowp:
            w.alloc("tmp", out_el * 4)
        w.alloc("logprobs", out_el * 4)
        w.free("tmp")
        # backward: the loss's own (two fp32 gradients beside the saved log-probabilities), or
        # the head's (the logits' gradient, the head's weight and input gradients) beside the
        # logits the loop still holds
        extra = max(ce.backward, ce.held + out_el * p + extra + rows * HD * 4)
    elif lowp if width else hd == 2:  # .float() copies 16-bit outputs for the sum, then frees it
        w.alloc("tmp", out_el * 4)
    w.alloc("loss", 4)
    w.free("tmp")
    acts = w.held["saved"] + w.held.get("wsaved", 0)
    logits = w.held["logits"] + w.held.get("logprobs", 0) + w.held.get("targets", 0)
    logits += w.held["loss"]
    # the end of backward: every gradient, the output the loop holds (+ the scalar loss), and
    # with a tied head the two partial gradients of the shared weight before autograd adds them
    held = ce.held if (out_el and width) else 0
    shared = 2 * (m.vocab or DEFAULT_VOCAB) * m.d_model * 4 if (held and tied(spec)) else 0
    return ForwardSaved(
        acts,
        0,
        logits,
        backward_extra=extra,
        forward_peak=w.peak,
        held_through_backward=held,
        end_backward=shared,
        formula="activations.recurrent",
    )


@formula(
    "activations.lstm",
    "walk: ids/input, time-major copy, zero states; per layer and direction oneDNN's output,"
    " h, c and workspace (+ autocast casts, zero biases); cats, dropout; head; backward walked",
    "aten/src/ATen/native/mkldnn/RNN.cpp (mkldnn_rnn_layer per layer and direction) and"
    " autograd's order, measured with the probe's tracker on torch 2.13 (families/recurrent.py)",
)
def lstm_walk(spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
    """The reference LSTM's training step walked tensor by tensor (the fake probe's timeline).

    Forward: token ids and the embedding (or the float input); the zero initial h0 and c0
    (fp32, all layers); the time-major copy of the input. Per layer and direction, one
    `mkldnn_rnn_layer`: without biases aten passes zero tensors shaped like the two weights
    in their place; under autocast 16-bit copies of h0, c0, the weights, the biases (or those
    zeros, whose fp32 originals then die) and, at layer 0, of the input (once per direction)
    are made and saved; its outputs y, h_n, c_n and the oneDNN workspace
    (runtime.onednn_lstm_workspace) are saved. Bidirectional layers concatenate the two y;
    dropout between layers keeps its noise and output (the concatenation dies). Then the
    stacked h_n, c_n; under autocast the fp32 time-major copy and zero states die (their casts
    are saved). The head as in the 1-D conv unit (activations.conv1d_backward): LM head on a
    batch-major copy (a view at b = 1), classifier on the mean, or none; the embedding output,
    the last concatenation and the stacks die when forward returns.

    Backward, last layer first, directions in reverse: `mkldnn_rnn_layer_backward` returns
    fp32 input, weight and bias gradients and dh0, dc0 (dropped: the zero states need none,
    nor do zero biases); under autocast they are cast to 16 bits, the layer's saved tensors
    die, then ToCopyBackward makes the fp32 weight (and bias) gradients; the two directions'
    input gradients are summed; dropout's mul backward; the embedding gradient (tied: added
    to the head's into a new tensor)."""
    from ..runtime import Precision
    from ..runtime.cpu import rnn_workspace

    m, t = spec.model, spec.train
    pr = Precision.of(spec, target)
    p, lowp = pr.act, pr.lowp
    b, s, H, L = batch, n, m.hidden_size, m.layers
    d = input_width(m)
    dirs = 2 if m.bidirectional else 1
    HD = H * dirs
    drop = t.dropout > 0 and L > 1
    tokens = m.input == "tokens"
    bias = m.bias != "none"
    kind, width = head_out(m)
    V = width or 0
    is_tied = tied(spec)
    w = LiveBytes(target.cuda)

    # ---- forward -------------------------------------------------------------------------
    if tokens:
        w.alloc("ids", b * s * 8)
        w.alloc("emb", b * s * d * 4)
    else:
        w.alloc("x", b * s * d * 4)
    src = "emb" if tokens else "x"
    w.alloc("h0", L * dirs * b * H * 4)
    w.alloc("c0", L * dirs * b * H * 4)
    # the time-major input: at batch 1 the transpose is already contiguous, so the copy is the
    # input map itself (its storage then lives as long as the layer saves it)
    xt = "xt" if b > 1 else src
    if b > 1:
        w.alloc("xt", s * b * d * 4)
    for layer in range(L):
        inp = d if layer == 0 else HD
        for k in range(dirs):
            tag = f"{layer}.{k}"
            if not bias:
                w.alloc(f"{tag}.zero", 4 * 4 * H * inp)
                w.alloc(f"{tag}.zero", 4 * 4 * H * H)
            if lowp:
                w.alloc(f"{tag}.cast", 2 * b * H)  # h0
                w.alloc(f"{tag}.cast", 2 * b * H)  # c0
                for elems in (4 * H * inp, 4 * H * H):
                    w.alloc(f"{tag}.cast", 2 * elems)
                for elems in (4 * H, 4 * H) if bias else (4 * H * inp, 4 * H * H):
                    w.alloc(f"{tag}.cast", 2 * elems)
                if layer == 0:
                    w.alloc(f"{tag}.cast", 2 * s * b * d)
            w.alloc(f"{tag}.out", s * b * H * p)  # y
            w.alloc(f"{tag}.out", b * H * p)  # h_n
            w.alloc(f"{tag}.out", b * H * p)  # c_n
            w.alloc(f"{tag}.out", rnn_workspace(s, b, inp, H, p))
            if lowp:
                w.free(f"{tag}.zero")
        if dirs == 2:
            w.alloc(f"{layer}.cat", s * b * HD * p)
        if drop and layer < L - 1:
            w.alloc(f"{layer}.noise", s * b * HD * pr.mask)
            w.alloc(f"{layer}.drop", s * b * HD * p)
            w.free(f"{layer}.cat")
    w.alloc("stacks", L * dirs * b * H * p)
    w.alloc("stacks", L * dirs * b * H * p)
    if lowp:
        w.free("xt", "h0", "c0")
    # fp32 at batch 1: layer 0 saved the input map itself (`xt` above)
    keep = src if xt == src and not lowp else ""
    last = f"{L - 1}.cat" if dirs == 2 else ""  # the model's last map when nothing saves it
    if kind == "lm" and V:
        if lowp:
            w.alloc("head.bcast", 2 * V)
            w.alloc("head.wcast", 2 * V * HD)
        if b > 1:
            w.alloc("bm", b * s * HD * p)  # the batch-major copy mm saves
        if lowp:  # autocast's linear: mm, then the bias added out of place
            w.alloc("mm", b * s * V * p)
            w.alloc("logits", b * s * V * p)
            w.free("mm")
        else:  # mm, the bias added in place (eager at::linear)
            w.alloc("logits", b * s * V * p)
        w.free("stacks", last if b > 1 else "", *(() if keep == "emb" else ("emb",)))
    elif kind == "classes" and V:
        w.alloc("pooled", b * HD * p)
        w.free(last)
        if lowp:
            w.alloc("head.bcast", 2 * V)
            w.alloc("head.wcast", 2 * V * HD)
        w.alloc("logits", b * V * p)
        w.free("stacks", *(() if keep == "emb" else ("emb",)))
    else:
        w.free("stacks", *(() if keep == "emb" else ("emb",)))
    rows = b * s if kind != "classes" else b
    ce = kind in ("lm", "classes") and V > 0
    if ce:
        # cross-entropy (probe/build.py ProbeLoss): random targets unless an LM over tokens
        # predicts its own ids, a transient fp32 copy under autocast, the saved log-probs
        if not (tokens and kind == "lm"):
            w.alloc("targets", rows * 8)
        if lowp:
            w.alloc("f32", rows * V * 4)
        w.alloc("logprobs", rows * V * 4)
        w.free("f32")
    elif lowp:
        w.alloc("logits", rows * HD * 4)  # the sum's fp32 copy of the output
    w.alloc("loss", 4, rounded=False)
    forward_peak = w.peak
    logits = w.held.get("logits", 0) + w.held.get("logprobs", 0) + w.held.get("targets", 0) + 4
    acts = w.live - logits
    # ---- backward ------------------------------------------------------------------------
    # the loop holds cross-entropy's logits through backward; the sum's copy dies
    # the float input dies with forward's locals unless layer 0 saved it (keep)
    w.free("loss", "head.bcast", *(() if ce else ("logits",)), "" if keep == "x" else "x")
    if not ce:
        w.free(last)
    w.alloc("loss", 4, rounded=False)
    w.mark()
    w.alloc("dloss", 4)
    gp = 2 if lowp else 4
    g = ""
    if ce:
        # nll_loss's and log_softmax's gradients; then the log-probs die; autocast casts the
        # fp32 gradient of the logits to 16 bits for the head
        w.alloc("dnll", rows * V * 4)
        w.alloc("dlogits", rows * V * 4)
        w.free("dnll", "logprobs", "targets")
        if lowp:
            w.alloc("dlogits16", rows * V * 2)
            w.free("dlogits")
        if kind == "classes":
            w.alloc("gin", rows * HD * p)
            w.alloc("head.wg", V * HD * gp)
            w.alloc("head.bg", V * gp)
        else:
            w.alloc("head.bg", V * gp)
            w.alloc("head.wg", V * HD * gp)
            w.alloc("gin", rows * HD * p)
        w.free("dlogits16", "dlogits", "pooled", "head.wcast", "bm")
        if kind == "lm" and b == 1:
            w.free(last)  # the view mm saved
        if lowp:
            for key, elems in (("head.wg", V * HD), ("head.bg", V)):
                w.alloc(f"{key}32", elems * 4)
                w.free(key)
        g = "gin"
        if kind == "classes":
            w.alloc("div", b * s * HD * p)  # mean's backward
            w.free("gin")
            g = "div"
    elif lowp:
        w.alloc("g16", b * s * HD * 2)  # ToCopyBackward of output.float()
        g = "g16"
    for layer in range(L - 1, -1, -1):
        inp = d if layer == 0 else HD
        gx = []
        for k in range(dirs - 1, -1, -1):
            tag = f"{layer}.{k}"
            # the op's fp32 outputs: input, w_ih, w_hh, b_ih, b_hh gradients, dh0, dc0
            grads = [("gx", s * b * inp), ("gwi", 4 * H * inp), ("gwh", 4 * H * H)]
            grads += [("gbi", 4 * H), ("gbh", 4 * H)]
            for key, elems in grads:
                w.alloc(f"{tag}.{key}", elems * 4)
            w.alloc("dh0", b * H * 4)
            w.alloc("dh0", b * H * 4)
            # autograd drops what nothing needs at once: the zero states', the zero biases',
            # and the float input's gradient (layer 0 without an embedding)
            needs_gx = layer > 0 or tokens
            w.free("dh0", "" if needs_gx else f"{tag}.gx")
            if not bias:
                w.free(f"{tag}.gbi", f"{tag}.gbh")
            kept = [(key, elems) for key, elems in grads if bias or key[:2] != "gb"]
            kept = [(key, e) for key, e in kept if needs_gx or key != "gx"]
            if lowp:
                # validate_outputs casts each gradient to its input's 16-bit dtype in turn,
                # the fp32 one dying as its copy replaces it
                for key, elems in kept:
                    w.alloc(f"{tag}.{key}16", elems * 2)
                    w.free(f"{tag}.{key}")
            if needs_gx:
                gx.append(f"{tag}.gx16" if lowp else f"{tag}.gx")
            w.free(f"{tag}.cast", f"{tag}.out", f"{tag}.zero")
            if layer == 0 and not lowp and k == 0:
                w.free("h0", "c0", xt)
            if lowp:
                # ToCopyBackward of the weight casts: the fp32 gradients, one by one
                for key, elems in kept:
                    if key != "gx":
                        w.alloc(f"{tag}.{key}32", elems * 4)
                        w.free(f"{tag}.{key}16")
        w.free(g)
        if layer > 0:
            w.free(f"{layer - 1}.drop" if drop else f"{layer - 1}.cat")
        if not gx:  # layer 0 under a float input: no gradient goes further
            g = ""
        elif dirs == 2:
            w.alloc("gsum", s * b * inp * gp)
            w.free(*gx)
            g = "gsum"
        else:
            g = gx[0]
        if layer > 0 and drop:
            w.alloc("gdrop", s * b * inp * p)
            w.free(g, f"{layer - 1}.noise")
            g = "gdrop"
    if tokens:
        w.alloc("emb.grad", (m.vocab or DEFAULT_VOCAB) * d * 4)
        w.free(g)
        if is_tied:  # accumulated into the head's gradient as a new tensor
            w.alloc("emb.acc", (m.vocab or DEFAULT_VOCAB) * d * 4)
    extra = w.peak - acts
    return ForwardSaved(
        acts,
        0,
        logits,
        backward_extra=extra,
        forward_peak=forward_peak if forward_peak > acts + logits else 0,
        formula="activations.lstm",
    )
