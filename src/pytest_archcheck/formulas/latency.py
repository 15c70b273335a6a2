"""Roofline latency estimates (always labelled "estimate"; the probe measures the real thing).

Each sequential step costs max(flops / peak_flops, bytes_moved / bandwidth) (the roofline model,
Williams et al. 2009, doi:10.1145/1498765.1498785) plus a fixed launch overhead, and the steps
of one call are summed because each waits for the previous one:

    t = Σ_steps [ max(F_s / peak, B_s / bandwidth) + overhead ]

A step is one layer of a Transformer or CNN (plus one for the output head), and one time step of
one layer of an RNN (n * layers steps: the n sequential steps each pay the overhead and their own
roofline, which is why RNNs lose on latency). The default overhead is 10 us per step, a
coarse stand-in for the kernel launches of one fused layer; eager PyTorch launches 10-20 kernels
per Transformer block (~5-10 us each), CUDA graphs / torch.compile come closer to this bound.

Generation with a KV cache = prefill (one forward over the prompt) + one decode step per new
token. Decode is bandwidth-bound: every step reads all weights and the KV cache so far
(Pope et al. 2022, arXiv:2211.05102). Without a cache each new token re-runs the forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .devices import Device, lookup_device
from .flops import (
    AttentionKind,
    Padding,
    attention_core_flops,
    attention_keys,
    conv_output_length,
    dense_flops,
    matmul_flops,
    transformer_decode_step_flops,
    transformer_layer_forward_flops,
)
from .params import (
    GATES,
    MLPKind,
    RecurrentKind,
    kv_heads_and_head_dim,
)
from .registry import formula
from .states import DTYPE_BYTES

if TYPE_CHECKING:
    from ..spec.model import Spec

KERNEL_OVERHEAD_S = 10e-6


@dataclass(frozen=True)
class LatencyEstimate:
    """An estimated per-call latency and how it splits; `label` is always "estimate"."""

    seconds: float
    steps: int
    compute_s: float  # Σ flops / peak over steps (whether or not it was the binding term)
    memory_s: float  # Σ bytes / bandwidth over steps
    overhead_s: float
    device: str
    label: str = "estimate"
    ops: int = 0  # eager ops dispatched (per-op model only; 0 = the per-step roofline)

    @property
    def sequential_steps(self) -> int:
        """Alias of `steps`: the sequential steps the estimate summed."""
        return self.steps

    @property
    def bound(self) -> Literal["compute", "memory", "overhead"]:
        terms: dict[Literal["compute", "memory", "overhead"], float] = {
            "compute": self.compute_s,
            "memory": self.memory_s,
            "overhead": self.overhead_s,
        }
        best: Literal["compute", "memory", "overhead"] = "compute"
        for k, v in terms.items():
            if v > terms[best]:
                best = k
        return best


@formula(
    "latency.roofline",
    "t = max(F / peak_flops, B / bandwidth)",
    "Williams et al. 2009, doi:10.1145/1498765.1498785",
)
def roofline_seconds(
    flops: float, bytes_moved: float, peak_flops: float, bandwidth: float
) -> float:
    """Time of one step under the roofline model."""
    return max(flops / peak_flops, bytes_moved / bandwidth)


@formula(
    "latency.gemm_rate",
    "rate(F) = peak * F / (F + F_half)",
    "Hockney & Jesshope, Parallel Computers 2 (1988), the half-performance length n_1/2",
    latex=r"\text{rate}(F) = \text{peak}\,\frac{F}{F + F_{1/2}}",
)
def gemm_rate(flops: float, peak_flops: float, half_flops: float) -> float:
    """FLOP/s a GEMM of `flops` reaches: Hockney's half-performance model. Why: a small GEMM
    (128 rows, k 256 on a 2-core host) runs at about half the large-GEMM rate; the model reads
    that as a fixed start-up time F_half / peak added to every GEMM, so rate(F_half) = peak / 2."""
    return peak_flops * flops / (flops + half_flops)


@formula(
    "latency.gemm_rows_rate",
    "rate(m) = peak * m / (m + m_half)",
    "Hockney & Jesshope 1988, n_1/2 taken over the GEMM's rows; fitted by `archcheck calibrate`",
    latex=r"\text{rate}(m) = \text{peak}\,\frac{m}{m + m_{1/2}}",
)
def gemm_rows_rate(rows: int, peak_flops: float, half_rows: float) -> float:
    """FLOP/s an (m x k) @ (k x n) GEMM reaches on a CPU, by its rows m alone. Why: measured
    on the 2-core EPYC (torch 2.13, F.linear with bias, medians), the rate at a given m hardly
    depends on k and n while the weight stays in the last-level cache (m = 128: 144-172
    GFLOP/s for weights of 0.25-16 MiB; m = 8: 44-71; m = 512: 165-196), so a start-up in
    FLOPs (`gemm_rate`), which grows with the weight, does not fit; one in rows does."""
    return peak_flops * rows / (rows + half_rows)


@formula(
    "latency.op",
    "t_op = max(F / rate(F), B / bw_eff) + op_overhead; bw_eff = llc_bandwidth if B_w <= llc",
    "roofline (Williams et al. 2009) per eager op; Hockney & Jesshope 1988 for rate(F)",
    latex=r"t_{\text{op}} = \max\big(F/\text{rate}(F),\ B/\text{bw}_{\text{eff}}\big)"
    r" + \text{op\_overhead},\quad \text{bw}_{\text{eff}} = \text{llc\_bandwidth}"
    r"\ \text{if}\ B_w \le \text{llc}",
)
def op_seconds(
    device: Device,
    dtype: str,
    flops: float,
    bytes_moved: float,
    *,
    resident_bytes: float = 0.0,
    start_up: bool = True,
    rows: int | None = None,
) -> float:
    """Time of one eager op on a per-op device (`Device.per_op`), without its dispatch cost:
    the roofline with the GEMM rate of `gemm_rate` and, when the bytes re-read every call
    (`resident_bytes`, e.g. a recurrent weight matrix) fit in the last-level cache, those
    bytes read at the LLC's rate. The caller adds `op_overhead_s` once per op it dispatches.
    `start_up=False` drops Hockney's start-up (F_half / peak) for a GEMM that runs inside one
    library call on pre-packed weights (oneDNN's per-step GEMM of an LSTM): the start-up is a
    per-call cost (packing, thread fork), not a per-iteration one. `rows`: a GEMM's m, which
    on a device with `gemm_half_rows` decides its rate (`gemm_rows_rate`) instead."""
    peak = device.flops_for(dtype)
    if flops > 0 and start_up and rows and device.gemm_half_rows is not None:
        rate = gemm_rows_rate(rows, peak, device.gemm_half_rows)
    else:
        half = (device.gemm_half_flops or 0.0) if start_up else 0.0
        rate = gemm_rate(flops, peak, half) if flops > 0 else peak
    compute = flops / rate if flops > 0 else 0.0
    llc, llc_bw = device.llc_bytes, device.llc_bandwidth
    if llc is not None and llc_bw is not None and 0 < resident_bytes <= llc:
        memory = resident_bytes / llc_bw + max(bytes_moved - resident_bytes, 0.0) / device.bandwidth
    else:
        memory = bytes_moved / device.bandwidth
    return max(compute, memory)


class _Acc:
    """Sums steps: roofline time, its two terms and the per-step overhead."""

    def __init__(self, device: Device, dtype: str, overhead_s: float) -> None:
        self.peak = device.flops_for(dtype)
        self.bw = device.bandwidth
        self.overhead = overhead_s
        self.device = device.name
        self.t = self.c = self.m = 0.0
        self.steps = 0

    def add(self, flops: float, bytes_moved: float, repeat: int = 1) -> None:
        c, m = flops / self.peak, bytes_moved / self.bw
        self.t += repeat * (max(c, m) + self.overhead)
        self.c += repeat * c
        self.m += repeat * m
        self.steps += repeat

    def result(self) -> LatencyEstimate:
        return LatencyEstimate(
            self.t, self.steps, self.c, self.m, self.steps * self.overhead, self.device
        )


@formula(
    "latency.sequential",
    "t = steps * (max(F_step / peak, B_step / bw) + overhead)",
    "source article (0.3 ms x 512 = 153.6 ms); roofline",
)
def sequential_latency(
    steps: int,
    flops_per_step: float,
    bytes_per_step: float,
    device: Device,
    *,
    dtype: str = "fp32",
    overhead_s: float = KERNEL_OVERHEAD_S,
) -> LatencyEstimate:
    """Latency of `steps` identical sequential steps."""
    acc = _Acc(device, dtype, overhead_s)
    acc.add(flops_per_step, bytes_per_step, steps)
    return acc.result()


@formula(
    "latency.transformer",
    "prefill: Σ_layers roofline(F_layer, W_layer + acts) + head; decode: Σ_tokens Σ_layers "
    "roofline(F_dec, W_layer + KV_layer(ctx))",
    "Pope et al. 2022, arXiv:2211.05102",
)
def transformer_latency(
    device: Device,
    dtype: str,
    layers: int,
    batch: int,
    n: int,
    *,
    d_model: int,
    heads: int,
    d_ff: int,
    layer_params: int,
    vocab: int | None = None,
    kv_heads: int | None = None,
    head_dim: int | None = None,
    mlp: MLPKind = "gelu",
    attention: AttentionKind = "full",
    window: int = 0,
    causal: bool = True,
    new_tokens: int = 0,
    kv_cache: bool = True,
    overhead_s: float = KERNEL_OVERHEAD_S,
    ops: Block | None = None,
) -> LatencyEstimate:
    """Latency of one inference call: a forward over n positions, then `new_tokens` tokens.
    On a per-op device (`Device.per_op`, a calibrated host) each eager op is timed instead
    (`transformer_op_latency`) when `ops` describes the block (None: the roofline)."""
    if device.per_op and ops is not None:
        return transformer_op_latency(
            device, dtype, layers, batch, n, d_model=d_model, heads=heads, d_ff=d_ff,
            vocab=vocab, kv_heads=kv_heads, head_dim=head_dim, mlp=mlp, attention=attention,
            window=window, causal=causal, new_tokens=new_tokens, kv_cache=kv_cache,
            block=ops,
        )  # fmt: skip
    b = DTYPE_BYTES[dtype]
    kv, hd = kv_heads_and_head_dim(d_model, heads, kv_heads, head_dim)
    acc = _Acc(device, dtype, overhead_s)

    def forward(length: int) -> None:
        f = transformer_layer_forward_flops(
            batch, length, d_model, heads, d_ff, kv_heads=kv, head_dim=hd, mlp=mlp,
            attention=attention, window=window, causal=causal,
        )  # fmt: skip
        acts = 2 * batch * length * d_model * b + 2 * batch * length * kv * hd * b
        acc.add(f, layer_params * b + acts, layers)
        if vocab:
            head_bytes = (vocab * d_model + batch * length * vocab) * b
            acc.add(matmul_flops(batch * length, d_model, vocab), head_bytes)

    forward(n)
    for i in range(new_tokens):
        if not kv_cache:
            forward(n + i + 1)
            continue
        ctx = n + i + 1
        if attention == "sliding" and window > 0:
            ctx = min(ctx, window)
        f = transformer_decode_step_flops(
            1, batch, ctx, d_model, heads, d_ff=d_ff, kv_heads=kv, head_dim=hd, mlp=mlp
        )
        acc.add(f, layer_params * b + 2 * batch * kv * ctx * hd * b, layers)
        if vocab:
            acc.add(matmul_flops(batch, d_model, vocab), (vocab * d_model + batch * vocab) * b)
    return acc.result()


@dataclass(frozen=True)
class Block:
    """How a Transformer block is written, as far as its eager ops differ: fused or separate
    q/k/v (and gate/up) projections, LayerNorm (one aten op) or an RMSNorm written out in
    elementwise ops (Llama's: pow, mean, add, rsqrt, mul, mul), rotary embeddings applied to
    q and k (mul, neg, cat, mul, add each: rotate_half), and learned positions added once.
    `ends`: the embeddings and the final norm are part of this call (not for the second call
    of a local/global stack, whose first call counted them)."""

    fused: bool = True
    norm: Literal["layernorm", "rmsnorm", "none"] = "layernorm"
    rotary: bool = False
    learned_positions: bool = False
    ends: bool = True


# eager ops a block dispatches besides its GEMMs, attention and elementwise math: views,
# transposes, splits and the weights' `t` that reshape q/k/v into heads and back. Counted
# with a TorchDispatchMode per block: the reference GPT-2 block 31 ops, transformers'
# GPT2Block 38; this model 34 (tests/families/test_latency_op_count.py). Each costs its
# dispatch only (~1 us), a few per cent of a small block's time.
_RESHAPE_OPS = 24
# rotary embeddings on q and k as transformers writes them (unsqueeze cos/sin, and per
# tensor: mul, slice x2, neg, cat, mul, add), moving ~11 values per element of q and k
_ROTARY_OPS, _ROTARY_TRAFFIC = 20, 11
# elementwise ops of Llama's written-out RMSNorm, and the bytes they move per element of x
_RMSNORM_OPS, _RMSNORM_TRAFFIC = 6, 7


class _Ops:
    """Sums eager ops on a per-op device: each op's `op_seconds` plus its dispatch."""

    def __init__(self, device: Device, dtype: str, resident_weights: bool) -> None:
        self.device, self.dtype = device, dtype
        self.b = DTYPE_BYTES[dtype]
        self.peak = device.flops_for(dtype)
        self.resident = resident_weights  # every weight stays in the LLC between calls
        self.t = self.c = self.m = 0.0
        self.ops = 0

    def gemm(self, m: int, k: int, n: int, repeat: int = 1) -> None:
        """x (m x k) @ W (k x n): the weights from DRAM, or from the LLC when they all fit."""
        f = matmul_flops(m, k, n)
        w = k * n * self.b
        moved = w + m * (k + n) * self.b
        t = op_seconds(
            self.device, self.dtype, f, moved, resident_bytes=w if self.resident else 0, rows=m
        )
        self._add(t, f, moved, repeat)

    def attention(self, f: float, moved: float, repeat: int = 1) -> None:
        """One fused attention call (SDPA): its FLOPs at the GEMM rate, start-up included."""
        self._add(op_seconds(self.device, self.dtype, f, moved), f, moved, repeat)

    def elementwise(
        self, elements: float, traffic: int = 2, ops: int = 1, repeat: int = 1, cached: bool = True
    ) -> None:
        """`ops` elementwise ops moving `traffic` values per element in all: activations read
        from the cache where they fit (`resident_bytes`), or through DRAM (`cached=False`)."""
        moved = elements * traffic * self.b
        t = op_seconds(self.device, self.dtype, 0.0, moved, resident_bytes=moved if cached else 0)
        self._add(t, 0.0, moved, repeat, ops)

    def conv(self, flops: float) -> None:
        """One convolution call (`latency.conv_op`)."""
        self._add(conv_op_seconds(self.device, flops), flops, 0.0, 1)

    def dispatch(self, ops: int, repeat: int = 1) -> None:
        """Ops that move no data (views, transposes, splits): their dispatch only."""
        self._add(0.0, 0.0, 0.0, repeat, ops)

    def _add(self, t: float, f: float, moved: float, repeat: int, ops: int = 1) -> None:
        overhead = self.device.op_overhead_s or 0.0
        self.t += repeat * (t + ops * overhead)
        self.c += repeat * f / self.peak
        self.m += repeat * moved / self.device.bandwidth
        self.ops += repeat * ops

    def result(self, steps: int) -> LatencyEstimate:
        overhead = self.ops * (self.device.op_overhead_s or 0.0)
        return LatencyEstimate(
            self.t, steps, self.c, self.m, overhead, self.device.name, ops=self.ops
        )


@formula(
    "latency.transformer_ops",
    "t = Σ_layers [Σ_GEMMs t_op(2mkn, W + X) + t_op(F_core, q,k,v,o) + Σ_elementwise "
    "t_op(0, X) + ops * op_overhead] + final norm + head",
    "roofline per eager op (latency.op); Hockney & Jesshope 1988 for each GEMM's start-up",
    latex=r"t = \sum_{\text{layers}} \Big[\sum_{\text{GEMMs}} t_{\text{op}}(2mkn,\ W + X)"
    r" + t_{\text{op}}(F_{\text{core}},\ q,k,v,o) + \sum_{\text{elementwise}}"
    r" t_{\text{op}}(0,\ X) + \text{ops}\cdot\text{op\_overhead}\Big]"
    r" + \text{final norm} + \text{head}",
)
def transformer_op_latency(
    device: Device,
    dtype: str,
    layers: int,
    batch: int,
    n: int,
    *,
    d_model: int,
    heads: int,
    d_ff: int,
    vocab: int | None = None,
    kv_heads: int | None = None,
    head_dim: int | None = None,
    mlp: MLPKind = "gelu",
    attention: AttentionKind = "full",
    window: int = 0,
    causal: bool = True,
    new_tokens: int = 0,
    kv_cache: bool = True,
    block: Block | None = None,
) -> LatencyEstimate:
    """A Transformer's inference call on a per-op device (a calibrated CPU host), op by op as
    eager PyTorch dispatches them. Why: on a CPU each op runs to completion before the next,
    so the call takes the sum of its ops, not a roofline of the whole layer: every GEMM at
    the rate its rows reach (`gemm_rows_rate` where the device has `gemm_half_rows`, else
    `gemm_rate`: 128 tokens reach ~0.8 of a long GEMM's rate), the fused attention kernel at
    the FLOP-size rate of its FLOPs (`gemm_rate`), the norms,
    residual adds, activations and rotary embeddings as elementwise ops over activations that
    sit in the cache, and every op's dispatch. Attention counts all n² scores of a causal
    model (the CPU flash kernel skips only whole blocks above the diagonal: at n = 128
    causal and full masks measured the same time).

    Decode steps (`new_tokens`) run the same ops over one token per sequence against the
    cached keys and values (the whole prefix without a KV cache)."""
    blk = block or Block()
    kv, hd = kv_heads_and_head_dim(d_model, heads, kv_heads, head_dim)
    q_dim, kv_dim = heads * hd, kv * hd
    # every weight stays in the LLC between calls when they all fit: one token's dense FLOPs
    # are two per projection and MLP weight
    weights = layers * dense_flops(1, d_model, heads, kv, hd, d_ff, mlp) // 2
    weights += vocab * d_model if vocab else 0
    llc = device.llc_bytes
    ops = _Ops(device, dtype, llc is not None and weights * DTYPE_BYTES[dtype] <= llc)

    def norm(tokens: int, repeat: int) -> None:
        if blk.norm == "layernorm":
            ops.elementwise(tokens * d_model, 2, 1, repeat)
        elif blk.norm == "rmsnorm":
            ops.elementwise(tokens * d_model, _RMSNORM_TRAFFIC, _RMSNORM_OPS, repeat)

    def forward(length: int, ctx: int, tokens: int) -> None:
        """`tokens` = batch x length query positions against `ctx` keys, every layer."""
        L = layers
        norm(tokens, 2 * L)
        if blk.fused:
            ops.gemm(tokens, d_model, q_dim + 2 * kv_dim, L)
        else:
            ops.gemm(tokens, d_model, q_dim, L)
            ops.gemm(tokens, d_model, kv_dim, 2 * L)
        if blk.rotary:  # q and k: x*cos + rotate_half(x)*sin
            ops.elementwise(tokens * (q_dim + kv_dim), _ROTARY_TRAFFIC, _ROTARY_OPS, L)
        core = attention_core_flops(batch, heads, length, ctx, hd)
        ops.attention(core, (2 * tokens * q_dim + 2 * batch * ctx * kv_dim) * ops.b, L)
        ops.dispatch(_RESHAPE_OPS, L)
        ops.gemm(tokens, q_dim, d_model, L)
        ops.elementwise(tokens * d_model, 3, 1, 2 * L)  # the two residual adds
        if mlp == "swiglu":
            if blk.fused:
                ops.gemm(tokens, d_model, 2 * d_ff, L)
            else:
                ops.gemm(tokens, d_model, d_ff, 2 * L)
            ops.elementwise(tokens * d_ff, 5, 2, L)  # silu(gate) * up
        else:
            ops.gemm(tokens, d_model, d_ff, L)
            ops.elementwise(tokens * d_ff, 2, 1, L)  # the activation
        ops.gemm(tokens, d_ff, d_model, L)
        if blk.ends:  # embeddings (a gather; learned positions added), the final norm
            ops.elementwise(tokens * d_model, 2 + (3 if blk.learned_positions else 0),
                            1 + blk.learned_positions)  # fmt: skip
            norm(tokens, 1)
        if vocab:
            ops.gemm(tokens, d_model, vocab)

    n_k = attention_keys(n, attention, window, causal)
    forward(n, n_k, batch * n)
    steps = layers + 1
    for i in range(new_tokens):
        ctx = n + i + 1
        if attention == "sliding" and window > 0:
            ctx = min(ctx, window)
        if kv_cache:
            forward(1, ctx, batch)
        else:
            forward(ctx, ctx, batch * ctx)
        steps += layers + 1
    return ops.result(steps)


@formula(
    "latency.recurrent",
    "t = n*layers*(max(F_step/peak, W_layer/bw) + overhead) + head",
    "source article: sequential steps decide latency",
)
def recurrent_latency(
    device: Device,
    dtype: str,
    kind: RecurrentKind,
    layers: int,
    batch: int,
    *,
    n: int,
    input_size: int,
    hidden: int,
    bidirectional: bool = False,
    head_out: int | None = None,
    overhead_s: float = KERNEL_OVERHEAD_S,
    pooled_head: bool = False,
) -> LatencyEstimate:
    """Latency of one RNN/GRU/LSTM forward: n sequential steps per layer, then the head.

    Each step reads the layer's weights (the conservative case: no persistent kernel keeps them
    on chip); the two directions of a bidirectional layer run side by side in one step.
    """
    b = DTYPE_BYTES[dtype]
    g, dirs = GATES[kind], (2 if bidirectional else 1)
    if device.per_op and kind == "lstm":
        return lstm_fused_latency(
            device, dtype, layers, batch, n=n, input_size=input_size, hidden=hidden,
            bidirectional=bidirectional, head_out=head_out, pooled_head=pooled_head,
        )  # fmt: skip
    acc = _Acc(device, dtype, overhead_s)
    for layer in range(layers):
        layer_in = input_size if layer == 0 else hidden * dirs
        f = dirs * g * matmul_flops(batch, layer_in + hidden, hidden)
        w = dirs * g * hidden * (layer_in + hidden) * b
        acc.add(f, w + 2 * batch * hidden * dirs * b, n)
    if head_out:
        rows = batch if pooled_head else batch * n
        acc.add(matmul_flops(rows, hidden * dirs, head_out), head_out * hidden * dirs * b)
    return acc.result()


@formula(
    "latency.lstm_fused",
    "t = Σ_layers,dirs [ t_op(F_ih, W_ih + X) + n * t_op(F_hh, W_hh; W_hh resident) + op_overhead ]"
    " + head",
    "aten::mkldnn_rnn_layer (one oneDNN call per layer and direction, counted with a "
    "TorchDispatchMode); oneDNN RNN primitive: input GEMM over all steps, then one GEMM per step",
    latex=r"t = \sum_{\text{layers, dirs}} \big[t_{\text{op}}(F_{ih}, W_{ih} + X)"
    r" + n\,t_{\text{op}}(F_{hh}, W_{hh}) + \text{op\_overhead}\big] + \text{head}",
)
def lstm_fused_latency(
    device: Device,
    dtype: str,
    layers: int,
    batch: int,
    *,
    n: int,
    input_size: int,
    hidden: int,
    bidirectional: bool = False,
    head_out: int | None = None,
    pooled_head: bool = False,
) -> LatencyEstimate:
    """nn.LSTM on a per-op device (`Device.per_op`): eager PyTorch on the CPU dispatches one
    `mkldnn_rnn_layer` per layer and direction for the whole sequence, so the dispatch cost is
    paid once per layer, not per step. Inside, oneDNN multiplies the input of all n steps by
    W_ih in one GEMM, then steps n times through h @ W_hh; W_hh is re-read every step, at the
    last-level cache's rate when it fits there (a hidden-256 layer's W_hh is 1 MiB in fp32).
    The gates' elementwise work (8 values per hidden unit per step) is counted as bytes.

    Only LSTM: GRU and RNN run ATen's native loop on the CPU (14 ops per layer-step for GRU,
    measured), which `recurrent_latency`'s per-step model covers."""
    b = DTYPE_BYTES[dtype]
    dirs = 2 if bidirectional else 1
    g = GATES["lstm"]
    overhead = device.op_overhead_s or 0.0
    t = c = m = 0.0
    ops = steps = 0
    peak = device.flops_for(dtype)
    for layer in range(layers):
        layer_in = input_size if layer == 0 else hidden * dirs
        f_ih = matmul_flops(batch * n, layer_in, g * hidden)
        b_ih = (g * hidden * layer_in + batch * n * (layer_in + g * hidden)) * b
        f_hh = matmul_flops(batch, hidden, g * hidden)
        w_hh = g * hidden * hidden * b
        b_step = w_hh + batch * (2 * g * hidden + 3 * hidden) * b
        per_dir = (
            op_seconds(device, dtype, f_ih, b_ih, rows=batch * n)
            + n * op_seconds(device, dtype, f_hh, b_step, resident_bytes=w_hh, start_up=False)
            + overhead
        )
        t += dirs * per_dir
        c += dirs * (f_ih + n * f_hh) / peak
        m += dirs * (b_ih + n * b_step) / device.bandwidth
        ops += dirs
        steps += n
    if head_out:
        rows = batch if pooled_head else batch * n
        f = matmul_flops(rows, hidden * dirs, head_out)
        by = (head_out * hidden * dirs + rows * (hidden * dirs + head_out)) * b
        t += op_seconds(device, dtype, f, by, rows=rows) + overhead
        c += f / peak
        m += by / device.bandwidth
        ops += 1
        steps += 1
    return LatencyEstimate(t, steps, c, m, ops * overhead, device.name, ops=ops)


@formula(
    "latency.conv_stack",
    "t = Σ_layers (max(F_l/peak, (W_l + acts_l)/bw) + overhead) + head",
    "roofline",
)
def conv_latency(
    device: Device,
    dtype: str,
    batch: int,
    n: int,
    *,
    in_channels: int,
    channels: list[int],
    kernels: list[int],
    strides: list[int] | None = None,
    dilations: list[int] | None = None,
    padding: Padding = "same",
    dims: int = 1,
    overhead_s: float = KERNEL_OVERHEAD_S,
    head_out: int | None = None,
    pooled_head: bool = False,
) -> LatencyEstimate:
    """Latency of one conv stack forward, one step per layer (dims=2: square images of side n),
    then the output head: a Linear to `head_out` at every remaining position (an LM head over a
    vocabulary) or once per sample after pooling (`pooled_head`, a classifier). The head is one
    more step: over a vocabulary it can cost more than the stack (a TCN with 64 channels and a
    1,000-word vocabulary spends 2·n·64·1000 FLOPs there, the flop counter agrees)."""
    b = DTYPE_BYTES[dtype]
    strides = strides or [1] * len(channels)
    dilations = dilations or [1] * len(channels)
    acc = _Acc(device, dtype, overhead_s)
    c_prev, length = in_channels, n
    for c, k, s, dil in zip(channels, kernels, strides, dilations, strict=True):
        out = conv_output_length(length, k, s, dil, padding)
        pos_in, pos_out, taps = length**dims, out**dims, k**dims
        f = 2 * batch * pos_out * c_prev * c * taps
        acc.add(f, (c * c_prev * taps + batch * (pos_in * c_prev + pos_out * c)) * b)
        c_prev, length = c, out
    if head_out:
        rows = batch if pooled_head else batch * length**dims
        acc.add(
            matmul_flops(rows, c_prev, head_out),
            (head_out * c_prev + rows * (c_prev + head_out)) * b,
        )
    return acc.result()


@formula(
    "latency.conv_op",
    "t_conv = conv_start + F / conv_rate",
    "Hockney & Jesshope 1988 (start-up + work / rate); fitted by `archcheck calibrate` on "
    "conv1d calls of 16-128 channels",
    latex=r"t_{\text{conv}} = t_{\text{start}} + F / \text{rate}_{\text{conv}}",
)
def conv_op_seconds(device: Device, flops: float) -> float:
    """One convolution call on a device with conv keys, without its dispatch. Why not the
    GEMM's rate: oneDNN's convolution pays a fixed start-up per call (reorders, primitive
    lookup: 95-175 us on the 2-core EPYC whatever the channels, where a GEMM's is ~1 us), so
    a conv of 16 channels over 1,024 positions (1.6 MFLOP) runs at 16 GFLOP/s and one of 128
    (100 MFLOP) at 150: measured conv1d times fit start + F / rate within 3 %."""
    assert device.conv_start_s is not None and device.conv_flops is not None
    return device.conv_start_s + flops / device.conv_flops


@dataclass(frozen=True)
class ConvOp:
    """One convolution of a stack: `c_in` x `c_out` channels, `taps` kernel positions (k, or
    k*k), `positions` output positions per sample."""

    c_in: int
    c_out: int
    taps: int
    positions: int


@formula(
    "latency.conv_ops",
    "t = Σ_convs t_conv(F_l) + Σ_elementwise X_e / bw + ops * op_overhead + head",
    "per eager op (latency.conv_op, latency.op); ops counted against the reference modules' "
    "dispatched aten ops",
    latex=r"t = \sum_{\text{convs}} t_{\text{conv}}(F_l) + \sum_{\text{elementwise}}"
    r" X_e / \text{bw} + \text{ops}\cdot\text{op\_overhead} + \text{head}",
)
def conv_op_latency(
    device: Device,
    dtype: str,
    batch: int,
    convs: list[ConvOp],
    *,
    elementwise: list[tuple[int, int]] | None = None,
    dispatch_ops: int = 0,
    head: tuple[int, int, int] | None = None,
) -> LatencyEstimate:
    """A conv stack's inference call on a device with conv keys (a calibrated CPU host), op by
    op: each convolution by `latency.conv_op`; the elementwise ops between them (BatchNorm,
    ReLU, pads, residual adds, the embedding's gather), given as (ops, values each sample's
    ops read and write in all), moving those values through DRAM (each writes a fresh
    tensor: in a ResNet at 224 px BatchNorm and ReLU ran at ~40 GB/s, the copy rate, not the
    cache's); `dispatch_ops` ops that move nothing to speak of (views, transposes); every op's
    dispatch; and the `head` GEMM (rows, k, n) at the rate its rows reach."""
    ops = _Ops(device, dtype, resident_weights=False)
    ops.dispatch(dispatch_ops)
    for op in convs:
        ops.conv(2 * batch * op.positions * op.c_in * op.c_out * op.taps)
    for n_ops, values in elementwise or []:
        ops.elementwise(batch * values, 1, n_ops, cached=False)
    if head is not None:
        ops.gemm(*head)
    return ops.result(len(convs) + (head is not None))


@dataclass(frozen=True)
class Accuracy:
    """How far a clock has been from `latency.*` estimates on one kind of target, measured
    (docs/benchmarks.md, "Latency estimate versus a clock" and "CUDA probe on an H200").

    Why: a latency budget the estimate meets by less than its own error is not met, it is
    undecided; ARC107 says so instead of passing it silently. Two parts, because the error has
    two sources: the roofline's rates (a real kernel reaches a fraction `roofline_ratio` of
    peak, or on an unmeasured CPU table a fraction of a rate that was never this host's), and
    what the roofline leaves out entirely, the eager framework's per-step work (Python, op
    dispatch, kernel launches: `step_s` per sequential step, measured as the largest time per
    step a clock showed beyond the roofline). `p95_over_p50`: the largest P95 / P50 measured."""

    roofline_ratio: float
    step_s: float
    p95_over_p50: float
    evidence: str


ACCURACY: dict[str, Accuracy] = {
    # H200, torch 2.11, eager: the 4-layer zoo GPT-2 at 1 x 256 measured P50 2.48 ms over 5
    # steps (the roofline: 0.078 ms), GPT-2 small at 1 x 512 P95 5.99 / 7.46 ms over 13 steps
    # (<= 0.574 ms a step); P95/P50 2.69/2.48. A large compute-bound kernel reaches 40-50 % of
    # the dense peak (model-FLOPs utilisation; PaLM 46.2 %, Chowdhery et al. 2022, Table 3).
    "cuda": Accuracy(0.4, 0.6e-3, 1.1, "H200 runs 2026-11-27; Chowdhery et al. 2022 (MFU)"),
    # the built-in `cpu` row is a labelled default, not this host: estimate / P50 measured
    # 0.04-3.44 on the 2-core EPYC (2026-12-04/05 tables), P95/P50 up to 1.40
    "cpu": Accuracy(0.04, 0.0, 1.4, "2-core EPYC, built-in cpu row, 2026-12-04/05"),
    # a calibrated host (`archcheck calibrate`: per-op keys), a family still on the per-step
    # roofline (convolution stacks on a device without the conv keys) or an estimate with
    # decode steps: 0.28-0.70 of P50 measured (ResNet at 224 px the lowest)
    "cpu-calibrated": Accuracy(0.28, 0.0, 1.4, "2-core EPYC, calibrated host, 2026-12-05/06"),
    # ... and a family timed op by op there (Transformers, nn.LSTM: `ops` > 0), one forward
    # (no decode steps, which read 0.46-1.53 of a clock): 0.65-1.19 of P50 in the last two
    # runs on 2026-12-06 (Llama 0.65), P95/P50 as above
    "cpu-calibrated-ops": Accuracy(
        0.65, 0.0, 1.4, "2-core EPYC, calibrated host, per-op families, 2026-12-06"
    ),
    # ... and a convolution stack timed op by op there (the conv keys: `latency.conv_ops`):
    # 0.43-1.54 of P50 over four runs on 2026-12-06 (ResNet at 224 px 0.43-0.60, whose
    # 16-channel convolutions at 224 px run at a third of the fitted rate; TCNs 0.69-1.54)
    "cpu-calibrated-conv": Accuracy(
        0.43, 0.0, 1.4, "2-core EPYC, calibrated host with conv keys, 2026-12-06 (4 runs)"
    ),
}


def accuracy_for(device: Device, op_by_op: bool = False, convolutional: bool = False) -> Accuracy:
    """The measured accuracy of an estimate on `device`: on a device with per-op keys (what
    `archcheck calibrate` writes), the per-op row when the estimate was timed op by op and
    is one forward (`op_by_op`: its `ops` > 0 and no decode steps, what that row measured),
    the conv row instead for a convolution stack timed op by op (`convolutional`: its
    clocks differ from the Transformers' and LSTMs'), else the calibrated-host row; the CPU
    row for the built-in `cpu` device; the CUDA row for every other device (a GPU from the
    table or a datasheet)."""
    if device.per_op:
        if op_by_op:
            return ACCURACY["cpu-calibrated-conv" if convolutional else "cpu-calibrated-ops"]
        return ACCURACY["cpu-calibrated"]
    if device.name.strip().lower() == "cpu":
        return ACCURACY["cpu"]
    return ACCURACY["cuda"]


@formula(
    "latency.upper",
    "t_hi = (t_est / r_roofline + steps * s_step) * (P95/P50)_max",
    "measured: estimate vs clock tables in docs/benchmarks.md (Accuracy)",
    latex=r"t_{\text{hi}} = \big(t_{\text{est}} / r + \text{steps}\cdot s_{\text{step}}\big)"
    r"\,(P_{95}/P_{50})_{\max}",
)
def latency_upper(seconds: float, steps: int, accuracy: Accuracy) -> float:
    """The largest P95 a clock could show for an estimate of `seconds` over `steps` eager
    steps, given what clocks have shown on this kind of target: the roofline at the lowest
    fraction of peak measured, plus the largest per-step cost the roofline leaves out, times
    the worst P95/P50 measured. `steps` comes from `eager_steps`: an RNN's time steps run
    inside one cuDNN/oneDNN call per layer, so its eager steps are its layers and head per
    call, not n x layers."""
    return (seconds / accuracy.roofline_ratio + steps * accuracy.step_s) * accuracy.p95_over_p50


def eager_steps(steps: int, recurrent: bool, layers: int, new_tokens: int) -> int:
    """The eager steps `latency.upper` charges `s_step` for: the estimate's sequential steps,
    except for a recurrent stack, whose n x layers time steps run inside one cuDNN/oneDNN call
    per layer (aten counted one `mkldnn_rnn_layer` op per layer: tests/families/
    test_latency_op_count.py): its layers and head, once per call (prompt, then each new
    token)."""
    return (layers + 1) * (1 + new_tokens) if recurrent else steps


def latency_from_spec(
    spec: Spec, device: Device | str | None = None, overhead_s: float = KERNEL_OVERHEAD_S
) -> LatencyEstimate | None:
    """Estimated latency of one [infer] call on `device` (default: [budget] device).

    None when no device is known. dtype: [infer] dtype, else [train] dtype.
    """
    name = device if device is not None else spec.budget.device
    if name is None:
        return None
    dev = lookup_device(name, spec.project_devices) if isinstance(name, str) else name
    from ..families import family_of

    return family_of(spec).latency(spec, dev, overhead_s)
