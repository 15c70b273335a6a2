"""Training peak memory of one steady-state step, from the spec alone (pure Python, no torch).

Steady state (what probe/step.py measures): optimizer state exists, gradients were released by
zero_grad(set_to_none=True). The peak is then the largest of three moments:

1. end of forward: params + optimizer + saved activations + attention scores + logits;
2. early backward: the logits are gone, the output-layer weight gradient and the first
   activation gradients are alive (for CNNs: the last block's input gradient); late backward
   (transformers): nearly all parameter gradients exist while the first layer (recomputed,
   with checkpointing) is differentiated;
3. optimizer step: params + grads + optimizer + the step's temporaries (CPU for-loop: two
   tensors of the largest parameter; CUDA foreach: a copy of the second moments).

Conventions follow formulas/states.py: fp32 master weights (4 B/param), fp32 grads (4), Adam/
AdamW moments (8) plus one 4-byte step counter per parameter tensor; mixed precision (bf16/fp16)
runs under autocast, whose 16-bit weight copies count as activations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..spec.model import RECURRENT, Spec
from .activations import forward_saved

Shape = tuple[int, ...]


def param_shapes(spec: Spec) -> list[Shape]:
    """Parameter tensors of the reference implementation of the spec's family (probe/zoo.py)."""
    m = spec.model
    out: list[Shape] = []
    if m.input == "image":
        chans = m.channel_list()
        out += [(chans[0], m.in_channels or 3, 3, 3), (chans[0],), (chans[0],)]
        c_in = chans[0]
        for c, st in zip(chans, m.stride_list(), strict=True):
            out += [(c, c_in, 3, 3), (c,), (c,), (c, c, 3, 3), (c,), (c,)]
            if st != 1 or c_in != c:
                out += [(c, c_in, 1, 1), (c,), (c,)]
            c_in = c
        return [*out, (m.classes or 10, c_in), (m.classes or 10,)]
    if m.family in RECURRENT:
        gates = {"lstm": 4, "gru": 3, "rnn": 1}[m.family]
        H, dirs = m.hidden_size, 2 if m.bidirectional else 1
        if m.input == "tokens":
            out.append((m.vocab or 1000, m.d_model))
        for layer in range(m.layers):
            inp = m.d_model if layer == 0 else H * dirs
            out += [(gates * H, inp), (gates * H, H), (gates * H,), (gates * H,)] * dirs
        if m.vocab is not None:
            out += [(m.vocab, H * dirs), (m.vocab,)]
        return out
    if m.family in ("cnn", "tcn"):
        c_in = m.d_model if m.input == "tokens" else (m.in_channels or m.d_model)
        if m.input == "tokens":
            out.append((m.vocab or 1000, c_in))
        for k, c in zip(m.kernel_list(), m.channel_list(), strict=True):
            out += [(c, c_in, k), (c,)]
            c_in = c
        if m.vocab is not None:
            out += [(m.vocab, c_in), (m.vocab,)]
        return out
    h, a, kv, hd, f = m.d_model, m.head_count, m.kv_head_count, m.head_dim, m.ffn_dim
    norm: list[Shape] = [(h,)] if m.norm == "rmsnorm" or m.bias != "all" else [(h,), (h,)]
    tokens = m.input == "tokens"
    if tokens:
        out.append((m.vocab or 1000, h))
    if m.positional == "learned":
        out.append((m.max_positions or max(spec.train_n, spec.infer_n), h))
    all_b, qkv_b = m.bias == "all", m.bias in ("all", "qkv")
    for _ in range(m.layers):
        out += norm
        out.append(((a + 2 * kv) * hd, h))
        if qkv_b:
            out.append(((a + 2 * kv) * hd,))
        out.append((h, a * hd))
        if all_b:
            out.append((h,))
        out += norm
        up = 2 * f if m.mlp == "swiglu" else f
        out.append((up, h))
        if all_b:
            out.append((up,))
        out.append((h, f))
        if all_b:
            out.append((h,))
    out += norm
    if m.vocab is not None and not (m.tied_embeddings and tokens):
        out.append((m.vocab, h))
    return out


def _numel(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def param_count(spec: Spec) -> int:
    return sum(_numel(s) for s in param_shapes(spec))


def buffer_bytes(spec: Spec) -> int:
    """BatchNorm running statistics (+ the int64 batch counter) of the image reference."""
    if spec.model.input != "image":
        return 0
    shapes = param_shapes(spec)
    bns = [
        s
        for i, s in enumerate(shapes)
        if len(s) == 1 and i + 1 < len(shapes) and shapes[i + 1] == s
    ]
    return sum(2 * 4 * s[0] + 8 for s in bns)


def optimizer_bytes(spec: Spec, shapes: list[Shape]) -> int:
    opt = spec.train.optimizer
    P = sum(_numel(s) for s in shapes)
    if opt == "sgd":
        return 0
    if opt == "sgd-momentum":
        return 4 * P
    if opt == "adafactor":
        total = 0
        for s in shapes:
            total += 4 * (s[-2] + s[-1]) if len(s) >= 2 else 4 * _numel(s)
        return total + 4 * len(shapes)
    return 8 * P + 4 * len(shapes)


@dataclass(frozen=True)
class TrainMemory:
    """Bytes of one training step's peak and its parts (ints)."""

    params: int
    grads: int
    optimizer: int
    activations: int
    attention_scores: int
    logits: int
    total: int
    moment: str  # "forward" | "backward" | "late-backward" | "optimizer": where the peak falls

    def to_json(self) -> dict[str, int | str]:
        return asdict(self)


def train_memory(
    spec: Spec,
    n: int | None = None,
    batch: int | None = None,
    *,
    device: str | None = None,
    attention_kernel: str | None = None,
) -> TrainMemory:
    """Peak bytes of one steady-state training step at (batch, n).

    device: "cuda" (default unless [budget] device is "cpu") or "cpu": which kernels run
    (CPU: flash refuses dropout, dropout masks as wide as the activation).
    attention_kernel overrides [train] attention_kernel.
    """
    n = n or (spec.model.image_size if spec.model.input == "image" else None) or spec.train_n
    batch = batch or spec.train.batch
    if device is None:
        device = "cpu" if (spec.budget.device or "").lower() == "cpu" else "cuda"
    shapes = param_shapes(spec)
    P = sum(_numel(s) for s in shapes)
    params = 4 * P + buffer_bytes(spec)
    grads = 4 * P
    opt = optimizer_bytes(spec, shapes)
    fw = forward_saved(spec, n, batch, device, attention_kernel)
    largest = max((_numel(s) for s in shapes), default=0)
    if spec.train.optimizer in ("adam", "adamw"):
        step_tmp = 4 * P if device == "cuda" else 2 * 4 * largest
    else:
        step_tmp = 4 * largest
    moments = {
        "forward": fw.total,
        "backward": fw.activations + fw.attention_scores + fw.backward_extra,
        "optimizer": grads + step_tmp,
    }
    if fw.late_activations:
        moments["late-backward"] = fw.late_activations + grads - fw.late_missing_grads
    moment = max(moments, key=lambda k: moments[k])
    return TrainMemory(
        params=params,
        grads=grads,
        optimizer=opt,
        activations=fw.activations,
        attention_scores=fw.attention_scores,
        logits=fw.logits,
        total=params + opt + moments[moment],
        moment=moment,
    )
