"""Bytes a training forward keeps for backward, per family (pure Python, no torch).

The transformer count generalises Korthikanti et al. 2022, "Reducing Activation Recomputation in
Large Transformer Models" (per layer s·b·h·(34 + 5·a·s/h) bytes: fp16 activations, 1-byte
dropout masks, scores stored) to p-byte activations and m-byte dropout masks, and replaces the
paper's Megatron layout by the tensors our reference implementations (probe/zoo.py) and torch's
kernels actually save. Notation: b batch, s sequence, h d_model, a heads, kv kv-heads, f d_ff,
V vocab, L layers; sbh = s·b·h.

Per transformer layer (fp32: p = 4; mixed precision under autocast: matmul/attention outputs 2,
norm statistics and residual stream 4):

- norm (x2): LayerNorm saves its input (the residual, counted there) and mean + rstd (2·sb·4);
  its output is saved by the next matmul: sbh·p. RMSNorm (at::_fused_rms_norm decomposes on
  CPU) saves rsqrt (sb·4), x·rsqrt (sbh·4) and the output (sbh·p); CUDA's fused kernel saves
  only its input and the fp32 1/rms (sb·4), plus the output kept by the next matmul.
- attention, fused kernel (flash / efficient): the q, k, v views keep the whole qkv projection
  alive, (a + 2·kv)/a · sbh·p; rotary adds the rotated q and k; the kernel saves its output
  sbh·p and the fp32 log-sum-exp b·a·s·4. No s² term.
- attention, math kernel: contiguous copies of q, k, v (repeated to a heads) and of the output,
  4·sbh·p; softmax probabilities b·a·s²·p; dropout adds its mask b·a·s²·m and the dropped
  probabilities b·a·s²·p. The qkv projection itself is freed.
- dropout after the attention projection and after the MLP: masks only, 2·sbh·m.
- residual adds: 2·sbh·p_residual.
- MLP: GELU saves its input and output (2·sbf·p); ReLU its output (sbf·p); SwiGLU the fused
  up-projection, silu(gate) and the product (4·sbf·p).

On CPU a dropout mask has the activation's dtype (m = p); CUDA's fused dropout keeps 1 byte.
With checkpointing only each layer's input (sbh·p_residual) is kept, plus one layer recomputed
during backward.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.model import RECURRENT, Spec
from .params import GATES


@dataclass(frozen=True)
class Precision:
    """Bytes per element of the tensors a forward saves."""

    act: int  # matmul / attention / MLP outputs
    norm: int  # norm statistics, residual stream, embeddings (fp32 under autocast)
    mask: int  # dropout masks
    lowp: bool  # autocast (bf16/fp16) with fp32 master weights

    @classmethod
    def of(cls, spec: Spec, device: str) -> Precision:
        lowp = spec.train.dtype in ("bf16", "fp16")
        act = 2 if lowp else 4
        mask = act if device == "cpu" else 1
        return cls(act=act, norm=4, mask=mask, lowp=lowp)


@dataclass(frozen=True)
class ForwardSaved:
    """What is alive at the end of the forward pass (bytes)."""

    activations: int  # everything saved for backward except attention scores and logits
    attention_scores: int  # the s² tensors (math kernel only)
    logits: int  # model output (+ its fp32 copy under autocast) and the scalar loss
    backward_extra: int = 0  # transient bytes on top of the saved ones early in backward
    # Late backward (first layer being differentiated): activations still alive, and the bytes
    # of parameter gradients *not yet* produced (first layer + embeddings).
    late_activations: int = 0
    late_missing_grads: int = 0

    @property
    def total(self) -> int:
        return self.activations + self.attention_scores + self.logits


def cuda_sdpa_backend(
    *, lowp: bool, head_dim: int, gqa: bool, attn_mask: bool, prefer: str = "flash"
) -> str:
    """The SDPA backend CUDA runs for a dense training call (sm80+, torch 2.11), by the rules of
    select_sdp_backend in aten/src/ATen/native/transformers/cuda/sdp_utils.cpp:

    - flash (can_use_flash_attention): fp16/bf16 only (check_dtypes_low_precision), head_dim
      <= 256 (check_head_dim_size_flash), no attn_mask (check_for_attn_mask); GQA and dropout
      are supported. Stores output + fp32 log-sum-exp; dropout regenerated from a Philox seed.
    - efficient (can_use_mem_efficient_attention): fp32/fp16/bf16 on sm80+, head_dim a multiple
      of minimum_gemm_alignment (4 for fp32, 8 for fp16/bf16), attn_mask and dropout supported,
      but not enable_gqa (torch <= 2.13: "GQA ... works only for Flash_attention and math kernel
      on CUDA", torch/nn/functional.py; fp32 GQA therefore runs math). Same storage as flash.
    - cuDNN attention (sm90/sm100 with cuDNN > 9.15 puts it first in the default priority,
      priority_order()): fp16/bf16, GQA; memory like flash (output + log-sum-exp), so it is
      folded into "flash" here; the probes report the kernel that ran.
    - otherwise math: materialised s² scores (softmax output, dropout mask, dropped probs).

    `prefer` is the first fused backend tried ([train] attention_kernel, probe/step.py's
    sdpa_context order); the other fused backend is the fallback before math.
    """
    flash_ok = lowp and head_dim <= 256 and not attn_mask
    eff_ok = not gqa and head_dim % (8 if lowp else 4) == 0
    order = ("efficient", "flash") if prefer == "efficient" else ("flash", "efficient")
    for k in order:
        if (k == "flash" and flash_ok) or (k == "efficient" and eff_ok):
            return k
    return "math"


def effective_kernel(spec: Spec, device: str, kernel: str | None = None) -> str:
    """The attention kernel that actually runs: CPU has one fused kernel (flash) which refuses
    dropout (math runs instead); CUDA follows cuda_sdpa_backend's rules."""
    k = kernel or spec.train.attention_kernel
    if k == "math":
        return "math"
    if device == "cpu":
        return "math" if spec.train.dropout > 0 else "flash"
    m = spec.model
    return cuda_sdpa_backend(
        lowp=spec.train.dtype in ("bf16", "fp16"),
        head_dim=m.head_dim,
        gqa=m.kv_head_count != m.head_count,
        attn_mask=bool(m.attention in ("sliding", "local") and m.window),
        prefer=k,
    )


@dataclass(frozen=True)
class _TConsts:
    """The (n, batch)-independent inputs of `transformer` (cached per spec; specs are frozen)."""

    pr: Precision
    h: int
    L: int
    a: int
    kv: int
    hd: int
    f: int
    kernel: str
    emb_positions: int
    layer_weights: int  # elements of one layer's matmul weights
    matmul_weights: int  # ... of all layers and the LM head


_TCACHE: dict[tuple[int, str, str | None], tuple[Spec, _TConsts]] = {}


def _tconsts(spec: Spec, device: str, kernel: str | None) -> _TConsts:
    key = (id(spec), device, kernel)
    hit = _TCACHE.get(key)
    if hit is not None and hit[0] is spec:
        return hit[1]
    m = spec.model
    h, a, kv, hd, f = m.d_model, m.head_count, m.kv_head_count, m.head_dim, m.ffn_dim
    layer_weights = h * (a + 2 * kv) * hd + a * hd * h + h * f * (3 if m.mlp == "swiglu" else 2)
    c = _TConsts(
        pr=Precision.of(spec, device),
        h=h,
        L=m.layers,
        a=a,
        kv=kv,
        hd=hd,
        f=f,
        kernel=effective_kernel(spec, device, kernel),
        emb_positions=m.max_positions or max(spec.train_n, spec.infer_n),
        layer_weights=layer_weights,
        matmul_weights=m.layers * layer_weights + (m.vocab or 0) * h,
    )
    if len(_TCACHE) >= 512:
        _TCACHE.clear()
    _TCACHE[key] = (spec, c)  # the spec is kept alive, so its id is not reused
    return c


def transformer(spec: Spec, n: int, batch: int, device: str, kernel: str | None) -> ForwardSaved:
    m, t = spec.model, spec.train
    c = _tconsts(spec, device, kernel)
    pr = c.pr
    b, s, h, L = batch, n, c.h, c.L
    a, kv, hd, f = c.a, c.kv, c.hd, c.f
    sb, sbh = s * b, s * b * h
    p, pn, mk = pr.act, pr.norm, pr.mask
    drop = t.dropout > 0
    k = c.kernel

    # One norm's saved bytes.
    if m.norm == "rmsnorm":  # CUDA's fused kernel keeps no x·rsqrt (see module docs)
        norm = sb * 4 + (sbh * 4 if device == "cpu" else 0) + sbh * p
    else:
        norm = 2 * sb * 4 + (sbh * p if pr.lowp else sbh * pn)

    attn = 0
    scores = 0
    full = b * s * a * hd  # q (or k, v) at a heads
    if k == "math":
        attn += 4 * full * p
        scores = b * a * s * s * p
        if drop:
            scores += b * a * s * s * (mk + p)
    else:
        attn += b * s * (a + 2 * kv) * hd * p  # the qkv projection, kept by the q/k/v views
        if m.positional == "rotary":
            attn += b * s * (a + kv) * hd * p  # rotated q and k
        attn += full * p + b * a * s * 4  # output + log-sum-exp
    if m.attention in ("sliding", "local") and m.window:
        attn += s * s  # boolean band mask
    if m.mlp == "swiglu":
        mlp = 4 * sb * f * p
    elif m.mlp == "gelu":
        mlp = 2 * sb * f * p
    else:
        mlp = sb * f * p
    resid = 2 * sbh * pn
    masks = 2 * sbh * mk if drop else 0
    layer = 2 * norm + attn + mlp + resid + masks

    tokens = m.input == "tokens"
    emb = sbh * pn  # h0 (embedding output, positional add, or dropout output)
    if tokens:
        emb += sb * 8  # token ids, saved by the embedding backward
    if m.positional == "learned":
        emb += s * 8  # position ids
    if m.positional == "rotary":
        emb += 2 * s * hd * 4  # cos / sin tables
    if drop:
        emb += sbh * mk

    if t.checkpointing:
        body = L * sbh * pn  # each block's input; one block is recomputed during backward
    else:
        body = L * layer
        scores *= L
    acts = emb + body + norm
    logits = 4  # the loss
    if m.vocab is not None:
        logits += sb * m.vocab * p
        if pr.lowp:
            logits += sb * m.vocab * 4  # loss = output.float().sum()
    if pr.lowp:
        acts += 2 * c.matmul_weights  # autocast's cached 16-bit weight copies
    head_grad = (m.vocab or 0) * h * 4
    extra = head_grad + 2 * sbh * 4
    if k == "math":
        # Backward of the last layer's attention: the gradients of the (dropped) probabilities
        # and of the scores are s²-sized; the layer's MLP half and the final norm are freed.
        post = 2 * norm + 2 * sbh * pn + mlp + full * p + masks
        temps = (1 if drop else 2) * b * a * s * s * p + full * 4 + sbh * 4
        temps += sbh * 4 if drop else 0
        up = 2 * f if m.mlp == "swiglu" else f  # the fused gate + up projection
        grads_last = 4 * (h * up + f * h + a * hd * h)
        extra = temps + grads_last + head_grad - post
    if t.checkpointing:
        extra += layer  # the recomputed last block (its scores are in `scores`)
    emb_params = ((m.vocab or 1000) * h if tokens else 0) + (
        c.emb_positions * h if m.positional == "learned" else 0
    )
    late = emb + layer + (scores // L if not t.checkpointing else scores) + 3 * sbh * 4
    late += head_grad if (m.tied_embeddings and tokens) else 0
    return ForwardSaved(
        acts,
        scores,
        logits,
        backward_extra=extra,
        late_activations=late,
        late_missing_grads=4 * (c.layer_weights + emb_params),
    )


def rnn_workspace(seq: int, batch: int, inp: int, hidden: int) -> int:
    """oneDNN LSTM training workspace per layer and direction, bytes (fit on torch 2.13 x86:
    within 2% for s >= 128; the library sizes it internally)."""
    return seq * batch * (6 * max(inp, hidden) + 9 * hidden + 18) * 4


def recurrent(spec: Spec, n: int, batch: int, device: str) -> ForwardSaved:
    m, t = spec.model, spec.train
    pr = Precision.of(spec, device)
    p = pr.act
    b, s, d, H, L = batch, n, m.d_model, m.hidden_size, m.layers
    dirs = 2 if m.bidirectional else 1
    drop = t.dropout > 0 and L > 1
    acts = b * s * 8 if m.input == "tokens" else 0  # token ids
    if pr.lowp:
        acts += s * b * d * p  # the 16-bit copy autocast feeds the RNN
    else:
        acts += b * s * d * 4 if m.input == "tokens" else 0  # embedding output
        acts += s * b * d * p  # time-major copy of the input
    out = s * b * H * dirs * p
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
        gates = GATES[m.family]
        # per step per layer: gate pre-activations and nonlinear outputs (native loop)
        acts += L * dirs * s * b * H * p * (2 * gates + 2) + L * dirs * b * H * p * 2
    if drop:
        acts += (L - 1) * s * b * H * dirs * (pr.mask + p)
    logits = 4
    if m.vocab is not None:
        acts += s * b * H * dirs * p  # batch-major copy for the head
        logits += _head_logits(b * s * m.vocab, pr)
        if pr.lowp:
            acts += 2 * m.vocab * (H * dirs + 1)  # autocast copies of the head weight, bias
    return ForwardSaved(acts, 0, logits, backward_extra=(m.vocab or 0) * H * dirs * 4)


def _head_logits(elems: int, pr: Precision) -> int:
    """A biased head on a batch-major view: fp32 runs mm and adds the bias in place (one
    tensor; at::linear on a non-contiguous input); autocast runs one 16-bit addmm, then the loss
    takes a fp32 copy."""
    return elems * (pr.act + 4) if pr.lowp else elems * pr.act


def conv1d(spec: Spec, n: int, batch: int, device: str) -> ForwardSaved:
    m, t = spec.model, spec.train
    pr = Precision.of(spec, device)
    p = pr.act
    b = batch
    chans = m.channel_list()
    c_first = m.d_model if m.input == "tokens" else (m.in_channels or m.d_model)
    c_in = c_first
    acts = b * n * 8 if m.input == "tokens" else 0
    s = n
    drop = t.dropout > 0
    for i, (k, dil, st, c) in enumerate(
        zip(m.kernel_list(), m.dilation_list(), m.stride_list(), chans, strict=True)
    ):
        total = dil * (k - 1)
        if m.padding == "valid":
            pad = 0
        elif isinstance(m.padding, int) and not isinstance(m.padding, bool):
            pad = 2 * m.padding
        else:
            pad = total
        if pad:
            acts += b * c_in * (s + pad) * p  # the padded copy the conv saves
        elif i == 0:
            acts += b * c_in * s * 4  # the conv saves the (embedding) input itself
        s = (s + pad - total - 1) // st + 1
        acts += b * c * s * p  # ReLU output
        if drop:
            acts += b * c * s * pr.mask
        c_in = c
    if drop:
        acts += b * c_in * s * p  # the last dropout output (kept by the head's reshape)
    logits = 4
    if m.vocab is not None:
        acts += b * s * c_in * p  # batch-major copy for the head
        logits += _head_logits(b * s * m.vocab, pr)
    if pr.lowp:  # autocast copies of the conv and head weights
        c_prev = c_first
        for k, c in zip(m.kernel_list(), chans, strict=True):
            acts += 2 * c * c_prev * k
            c_prev = c
        acts += 2 * (m.vocab or 0) * c_prev
    return ForwardSaved(acts, 0, logits, backward_extra=(m.vocab or 0) * c_in * 4)


def resnet(spec: Spec, n: int, batch: int, device: str) -> ForwardSaved:
    m = spec.model
    p = Precision.of(spec, device).act
    b = batch
    chans = m.channel_list()
    c0 = chans[0]
    acts = b * (m.in_channels or 3) * n * n * 4  # the image
    acts += 2 * b * c0 * n * n * p + 2 * c0 * 4  # stem conv out (kept by BN), ReLU out, stats
    c_in, side = c0, n
    last_in = last_out = 0
    for c, st in zip(chans, m.stride_list(), strict=True):
        out_side = (side + 2 - 3) // st + 1
        o = b * c * out_side * out_side * p
        acts += 4 * o + 2 * 2 * c * 4  # c1 out, ReLU, c2 out, final ReLU; two BNs' stats
        short = st != 1 or c_in != c
        if short:
            acts += o + 2 * c * 4
        last_in, last_out = b * c_in * side * side * p, o
        last_short = short
        c_in, side = c, out_side
    acts += b * c_in * p  # pooled features
    logits = b * (m.classes or 10) * p + 4
    # Backward of the last block: its output gradient and one BN gradient are alive while the
    # shortcut (or identity path) produces the input gradient.
    extra = last_in if last_short else last_out
    return ForwardSaved(acts, 0, logits, backward_extra=extra)


def forward_saved(
    spec: Spec, n: int, batch: int, device: str = "cuda", kernel: str | None = None
) -> ForwardSaved:
    m = spec.model
    if m.input == "image":
        return resnet(spec, n, batch, device)
    if m.family in RECURRENT:
        return recurrent(spec, n, batch, device)
    if m.family in ("cnn", "tcn"):
        return conv1d(spec, n, batch, device)
    return transformer(spec, n, batch, device, kernel)
