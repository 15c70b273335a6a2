"""Transformer family: decoders (GPT-2, Llama, Qwen2, Mistral) and encoders (BERT, RoBERTa).

Reference module (families/reference/transformer.py): token embedding (+ learned positions,
+ a token-type table), pre-norm blocks of fused-qkv attention through
F.scaled_dot_product_attention and a (fused gate+up for SwiGLU) MLP, a final norm, then an LM
head (tied to the embedding when `tied_embeddings` and tokens), or a pooler (Linear + tanh on the
first position) and/or a `classes` head. Post-norm encoders (`norm_placement = "post"`) have the
same tensors; their blocks are built pre-norm, which saves the same bytes for backward. Their
"final" norm is the embedding LayerNorm (its fp32 input saved to the end of backward), and under
autocast the last block's end, with its fp32 locals, is a forward moment of its own (BertModel).

Activations generalise Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
Transformer Models" (per layer s·b·h·(34 + 5·a·s/h) bytes: fp16 activations, 1-byte dropout
masks, scores stored) to p-byte activations and m-byte dropout masks, and replace the paper's
Megatron layout by the tensors the reference module and torch's kernels actually save. Notation:
b batch, s sequence, h d_model, a heads, kv kv-heads, hd head_dim, f d_ff, V vocab, L layers;
sbh = s·b·h. Per layer (fp32: p = 4; mixed precision under autocast: matmul/attention outputs 2,
norm statistics and residual stream 4):

- norm (x2): LayerNorm saves its input (the residual, counted there) and mean + rstd (2·sb·4);
  its output is saved by the next matmul: sbh·p. RMSNorm decomposed (CPU) saves rsqrt (sb·4),
  x·rsqrt (sbh·4) and the output (sbh·p); fused (CUDA) only the fp32 1/rms (sb·4) + the output.
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

- a class's own attention (`eager_attention`: GPT-J, BLOOM, MPT in transformers): copies of
  q, k^T, v and of the merged heads, 4·sbh·p; the fp32 softmax output b·a·s²·4 and under
  autocast its 16-bit copy (with attention dropout: the noise or mask and the dropped copy);
  the last layer's softmax backward (two fp32 s² gradients) and, where the class holds its
  pre-softmax scores as locals (`eager_held`), the end of the last attention forward
  (eager_attention_saved, tests/families/test_eager_attention_saved.py).

- mixture of experts (`experts`): the MLP terms at the width a token runs (k experts + the
  shared one); the router's fp32 softmax b·s·E·4 and top-k indices; per routed token-slot the
  gathered input and expert output (p), the weighted output and routing weight (residual
  dtype) and two int64 ids. Each token reaches k experts, so none of this depends on how the
  tokens are routed (the reference dispatches statically; see Experts).

Architecture flags (`head_size`, `biases`, `parallel`, `layer_norms`, `norm_affine`,
`final_norm`, `embed_norm`, `embed_dim`, `mlp = "geglu"`) describe real Hugging Face blocks
(docs/supported-architectures.md); `param_shapes` counts them exactly, and the reference
module builds them.

With checkpointing only each layer's input (sbh·p_residual) is kept, plus one layer recomputed
during backward. Which kernel runs, the mask width and the RMSNorm kernel come from the target
(runtime/).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..formulas.memo import per_spec
from ..formulas.registry import formula
from . import Family, ForwardSaved, NotModelled, Problem, Shape, register
from ._base import DEFAULT_VOCAB, CrossEntropyBytes, cross_entropy_bytes, head_out

if TYPE_CHECKING:
    from ..formulas.devices import Device
    from ..formulas.flops import Flops
    from ..formulas.latency import LatencyEstimate
    from ..formulas.params import MLPKind
    from ..formulas.path import PathReport
    from ..runtime import Target
    from ..spec.model import ModelTable, Spec


def position_rows(spec: Spec) -> int:
    """Rows of a learned position table: `max_positions` (reserved rows included, RoBERTa's
    514), else enough for every n the spec runs at."""
    return spec.model.max_positions or max(spec.train_n, spec.infer_n, spec.budget_n)


ABSURD_PARAMS = 10**15  # more than any model trained by ~500x: a typo, not a model

BIAS_PARTS: dict[str, frozenset[str]] = {
    "all": frozenset({"qkv", "out", "mlp", "norm"}),
    "qkv": frozenset({"qkv", "norm"}),
    "none": frozenset(),
}


def bias_parts(m: ModelTable) -> frozenset[str]:
    """Which parts carry a bias: `biases` when given, else what `bias` has always meant
    ("all": projections and norms; "qkv": the q/k/v projections and LayerNorms; "none")."""
    return frozenset(m.biases) if m.biases is not None else BIAS_PARTS[m.bias]


def gated(m: ModelTable) -> bool:
    """SwiGLU and GeGLU: a gate and an up projection of d_ff each, then the down projection."""
    return m.mlp in ("swiglu", "geglu")


def matmul_mlp(m: ModelTable) -> MLPKind:
    """The MLP as the FLOP and latency formulas count it: GeGLU's matmuls are SwiGLU's."""
    if gated(m):
        return "swiglu"
    return "relu" if m.mlp == "relu" else "gelu"


def norms_per_layer(m: ModelTable) -> int:
    """Norms in one block: `layer_norms`, else 2 (before attention and before the MLP)."""
    return m.layer_norms if m.layer_norms is not None else 2


def token_width(m: ModelTable) -> int:
    """Width of the token embedding (and of a tied LM head): `embed_dim`, else d_model."""
    return m.embed_dim if m.embed_dim is not None else m.d_model


def norm_shapes(m: ModelTable, width: int) -> list[Shape]:
    """One norm's tensors: none without an affine transform (OLMo's LayerNorm), a weight, and
    a LayerNorm's bias when norms carry one."""
    if not m.norm_affine:
        return []
    if m.norm == "layernorm" and "norm" in bias_parts(m):
        return [(width,), (width,)]
    return [(width,)]


def layer_shapes(m: ModelTable, parts: frozenset[str], norm: list[Shape]) -> list[Shape]:
    """One block's tensors: its norms, q/k/v (one shape when `fused_projections`, else q_proj,
    k_proj and v_proj, each with its bias), the output projection and the MLP. Same count
    either way; the CPU optimizer loop's per-tensor temporaries see the real tensors."""
    h, a, kv, hd, f = m.d_model, m.head_count, m.kv_head_count, m.head_dim, m.ffn_dim
    out: list[Shape] = []
    for _ in range(norms_per_layer(m)):
        out += norm
    for rows in [(a + 2 * kv) * hd] if m.fused_projections else [a * hd, kv * hd, kv * hd]:
        out.append((rows, h))
        if "qkv" in parts:
            out.append((rows,))
    out.append((h, a * hd))
    if "out" in parts:
        out.append((h,))
    if m.experts is None:
        return out + mlp_shapes(m, parts, f)
    out.append((m.experts, h))  # the router
    # one MLP per expert, as the reference module and transformers' Mixtral hold them: the
    # optimizer step's per-tensor temporaries depend on it
    expert = mlp_shapes(m, parts, expert_width(m))
    for _ in range(m.experts):
        out += expert
    if m.shared_d_ff:
        out += mlp_shapes(m, parts, m.shared_d_ff)
    if m.shared_gate:
        out.append((1, h))
    return out


@formula(
    "params.active",
    "P_active = P - L*(experts - k)*P_expert",
    "Mixtral-8x7B: 12.9B of 46.7B per token (Jiang et al. 2024, arXiv:2401.04088)",
)
def moe_active_params(spec: Spec) -> int | None:
    """Parameters one token runs through: the total less the experts it skips, (experts - k)
    per MoE layer; None for a dense model (all active)."""
    from math import prod

    from ..formulas.params import params_from_spec

    m = spec.model
    if m.experts is None:
        return None
    one = sum(prod(s) for s in mlp_shapes(m, bias_parts(m), expert_width(m)))
    return params_from_spec(spec) - m.layers * (m.experts - top_k(m)) * one


def mlp_shapes(m: ModelTable, parts: frozenset[str], f: int) -> list[Shape]:
    """One MLP of width f: up (gate + up when gated: one shape when `fused_projections`, else
    gate_proj then up_proj) and down."""
    h = m.d_model
    ups = [2 * f] if gated(m) and m.fused_projections else [f, f] if gated(m) else [f]
    out: list[Shape] = []
    for up in ups:
        out.append((up, h))
        if "mlp" in parts:
            out.append((up,))
    out.append((h, f))
    if "mlp" in parts:
        out.append((h,))
    return out


def expert_width(m: ModelTable) -> int:
    """d_ff of one routed expert: `expert_d_ff`, else d_ff."""
    return m.expert_d_ff if m.expert_d_ff is not None else m.ffn_dim


def top_k(m: ModelTable) -> int:
    """Experts each token runs (`experts_per_token`, at most `experts`); 0 without experts."""
    if m.experts is None:
        return 0
    return min(m.experts, m.experts_per_token or 1)


def mlp_width(m: ModelTable) -> int:
    """The d_ff a token's MLP matmuls amount to: d_ff, or for a mixture of experts the k routed
    experts plus the shared one (matmul FLOPs and saved bytes are linear in the width)."""
    if m.experts is None:
        return m.ffn_dim
    return top_k(m) * expert_width(m) + m.shared_d_ff


def windowed(m: ModelTable) -> bool:
    """Whether the layers attend through a sliding/local window (a band mask)."""
    return m.attention in ("sliding", "local") and m.window > 0


# sb·f-sized tensors a non-gated MLP keeps for backward (the activation's input, what it
# saves inside, its output, which the down projection saves): one-kernel GELU and SiLU save
# their input (2 with the output); ReLU its output, the same tensor the down projection keeps
# (1); transformers' decomposed forms save their intermediates too -- gelu_new (NewGELU,
# 0.5·x·(1 + tanh(√(2/π)(x + 0.044715·x³)))) the tanh, 0.5·x and 1 + tanh (5); gelu_fast 6
# intermediates (8); quick_gelu (x·sigmoid(1.702·x)) the sigmoid (3); gelu_python
# (x·0.5·(1 + erf(x/√2))) the erf input, 0.5·x and 1 + erf but not x (4). Measured with
# torch.autograd.graph.saved_tensors_hooks on transformers 4.57's ACT2FN, fp32 and bf16
# autocast alike (tests/families/test_activation_saved.py).
ACT_SAVED: dict[str | None, int] = {
    None: 2, "silu": 2, "gelu_new": 5, "gelu_fast": 8, "quick_gelu": 3, "gelu_python": 4,
    "gelu_recompute": 2,
}  # fmt: skip

# sb·f-sized tensors alive beyond the block's saved set at the largest moment of the
# activation's backward (_mlp_backward), where that differs from the one-kernel / decomposed
# default: BLOOM's GeLUFunction (`gelu_recompute`, modeling_bloom.bloom_gelu_back) recomputes
# tanh(0.79788456·x·(1 + 0.044715·x²)) from its saved input and builds
# 0.5·x·((1 - tanh²)·(0.79788456 + 0.1070322243·x²)) + 0.5·(1 + tanh) op by op: the incoming
# gradient, tanh, 0.5·x, 1 - tanh², 0.1070322243·x and its product with x are alive at once
# (6), less the activation's output, which the down projection's node alone kept (measured
# with benchmarks/peak_live_set.py on BloomForCausalLM's fake step, fp32 and bf16).
ACT_BACKWARD: dict[str | None, int] = {"gelu_recompute": 5}


def act_saved(m: ModelTable) -> int:
    """sb·f-sized tensors the activation of one MLP keeps (ACT_SAVED)."""
    if m.mlp == "relu" and m.activation is None:
        return 1
    return ACT_SAVED[m.activation]


def rotary_concat(m: ModelTable) -> bool:
    """Rotary by slice and concatenate (`rotary_dim` set): q and k come out of a cat as new
    (b, heads, s, hd)-contiguous tensors instead of keeping the projection's layout."""
    return m.positional == "rotary" and m.rotary_dim is not None


def band_masked(m: ModelTable, n: int) -> bool:
    """Whether windowed layers pass a band mask at sequence length n: only when some key
    lies outside the window. transformers (masking_utils, _ignore_causal_mask_sdpa) drops
    the mask and runs is_causal when kv_length < sliding_window (= window + 1, the query's
    own key counted), i.e. n <= window; the reference module does the same."""
    return windowed(m) and n > m.window


def is_global_layer(m: ModelTable, i: int) -> bool:
    """Layer i (0-based) attends to every position: a windowed stack's every `global_every`-th
    layer ((i + 1) % k == 0, as Gemma-2's odd layers and Gemma-3's every sixth); every layer
    of a full-attention stack."""
    if not windowed(m):
        return True
    return m.global_every is not None and (i + 1) % m.global_every == 0


@formula(
    "layers.local_global",
    "L_global = floor(L / k) (layer i global when (i+1) % k == 0); L_local = L - L_global",
    "Gemma-2 (layer_idx % 2), Gemma-3 (sliding_window_pattern = 6) in Hugging Face transformers",
)
def local_global_layers(m: ModelTable) -> tuple[int, int]:
    """(windowed layers, global layers) of the stack; (0, L) without a window."""
    if not windowed(m):
        return 0, m.layers
    g = m.layers // m.global_every if m.global_every is not None else 0
    return m.layers - g, g


def lm_head(spec: Spec) -> bool:
    """An LM head (d -> vocab, no bias) at every position (`_base.head_out`)."""
    return head_out(spec.model)[0] == "lm"


def classes_head(spec: Spec) -> int | None:
    """Width of a classifier head (d -> classes, with bias) on the first position."""
    kind, width = head_out(spec.model)
    return width if kind == "classes" else None


_MIXED_FIX = (
    'set attention_kernel = "math", or kv_heads = heads, or dtype = "fp32" (one kernel for '
    "every layer)"
)


def mixed_kernels(spec: Spec, target: Target | None = None) -> str | None:
    """Why a `global_every` stack is not modelled on `target` (default: the spec's): its
    windowed layers (a mask) and its global layers (none) would run different SDPA kernels,
    one of them math (s² scores) -- CUDA under bf16/fp16 with grouped-query attention: flash
    refuses a mask and efficient refuses GQA. None when every layer runs one storage class
    (flash and efficient save the same bytes)."""
    from ..runtime import attention_kernel, target_for

    m = spec.model
    if not (windowed(m) and local_global_layers(m)[1]):
        return None
    t = target if target is not None else target_for(spec)
    local = attention_kernel(spec, t, masked=True)
    glob = attention_kernel(spec, t, masked=False)
    if (local == "math") == (glob == "math"):
        return None
    return (
        f"global_every = {m.global_every}: on {t.label} the windowed layers run the {local} "
        f"attention kernel and the global layers {glob}; per-layer kernels are not modelled"
    )


def eager_unmodelled(spec: Spec) -> tuple[str, tuple[str, str]] | None:
    """Why the training peak of a class with its own attention (`eager_attention`) is not
    modelled, and the key to name; None when it is. Measured (tests/adapters/
    test_hf_small_widths.py, benchmarks/eager_attention.py): GPT-J, BLOOM and MPT, with and
    without dropout, without checkpointing or tensor parallelism, full multi-head attention,
    fp32 and bf16 autocast, CPU and the emulated CUDA target. Grouped-query or windowed
    attention, experts, embedding input, RMSNorm or post-norm blocks and heads other than an
    LM head were not measured (the eager moments below assume the three classes' layout).
    Checkpointing was tried and is not modelled
    (-11 % to +6 % at d 64, n 128-512): every checkpointed block keeps its mask argument to
    the end of backward (BLOOM's (b, 1, n, n) fp32 clone, GPT-J's one (n, n+1) table expanded
    over the batch), BLOOM's loop keeps the previous block's output tuple (its probabilities)
    while the next block runs, and the recomputed blocks' s² locals differ per class."""
    m, t = spec.model, spec.train
    if not m.eager_attention:
        return None
    if t.checkpointing:
        return "is checkpointed", ("train", "checkpointing")
    if t.tensor_parallel > 1:
        return "is split over tensor-parallel ranks", ("train", "tensor_parallel")
    if t.parallel is not None and t.parallel.tp > 1:
        return "is split over tensor-parallel ranks", ("train", "parallel")
    if m.kv_head_count != m.head_count:
        return "shares k/v heads", ("model", "kv_heads")
    if windowed(m):
        return "attends through a window", ("model", "attention")
    if m.experts is not None:
        return "routes experts", ("model", "experts")
    # measured on decoder LMs only: token input, pre-norm LayerNorm blocks, an LM head
    if m.input != "tokens":
        return "reads embeddings, not tokens", ("model", "input")
    if m.norm != "layernorm" or m.norm_placement != "pre":
        return "normalises otherwise than pre-norm LayerNorm", ("model", "norm")
    if not lm_head(spec):
        return "ends in no LM head", ("model", "head")
    return None


@register
class Transformer(Family):
    name = "transformer"
    serves = ("transformer",)
    summary = "self-attention stacks: GPT-2/Llama/Qwen2/Mistral decoders, BERT-style encoders"
    attention = True
    models_cross_entropy = True
    flops_formula = "flops.transformer"
    latency_formula = "latency.transformer"
    path_formula = "path.attention"

    def not_modelled(self, spec: Spec) -> dict[str, NotModelled]:
        from ..runtime import target_for

        return self.not_modelled_on(spec, target_for(spec))

    def not_modelled_on(self, spec: Spec, target: Target) -> dict[str, NotModelled]:
        # a real model the formula cannot follow (not an inconsistent spec: the probe of the
        # class still measures it, so it is refused here, never at validation)
        if (mixed := mixed_kernels(spec, target)) is not None:
            return {
                "memory": NotModelled(
                    mixed,
                    ("model", "global_every"),
                    f"{_MIXED_FIX}; or measure it: `archcheck check --probe` (or `archcheck "
                    "probe SPEC --device fake`) runs a training step of the model itself",
                )
            }
        why = eager_unmodelled(spec)
        if why is None:
            return {}
        return {
            "memory": NotModelled(
                f"the class computes attention itself (eager_attention: matmul, softmax, "
                f"matmul) and {why[0]}, which the training-peak formula does not model",
                why[1],
                "measure it: `archcheck check --probe` (or `archcheck probe SPEC --device "
                "fake`) runs a training step of the transformers class itself",
            )
        }

    # --- parameters --------------------------------------------------------------------------

    def param_shapes(self, spec: Spec) -> list[Shape]:
        """Every parameter tensor, in the order of the reference module (and of Hugging Face's
        classes: embeddings, blocks, final norm, head). Fused and separate projections hold
        the same elements (Phi-3's qkv_proj = q_proj + k_proj + v_proj), so one shape stands
        for each."""
        m = spec.model
        h, e = m.d_model, token_width(m)
        parts = bias_parts(m)
        norm = norm_shapes(m, h)
        tokens = m.input == "tokens"
        out: list[Shape] = []
        if tokens:
            out.append((m.vocab or DEFAULT_VOCAB, e))
            if e != h:
                out.append((h, e))  # project_in
        if m.positional == "learned":
            out.append((position_rows(spec), h))
        if m.type_vocab:
            out.append((m.type_vocab, h))
        if m.embed_norm:
            out += norm
        for _ in range(m.layers):
            out += layer_shapes(m, parts, norm)
        if m.final_norm:
            out += norm
        if tokens and e != h:
            out.append((e, h))  # project_out
        if m.pooler:
            out += [(h, h), (h,)]
        if lm_head(spec):
            if not (m.tied_embeddings and tokens):
                out.append((m.vocab or DEFAULT_VOCAB, e))
            if "head" in parts:
                out.append((m.vocab or DEFAULT_VOCAB,))
        elif (c := classes_head(spec)) is not None:
            out += [(c, h), (c,)]
        return out

    # --- memory ------------------------------------------------------------------------------

    def buffer_bytes(self, spec: Spec) -> int:
        """GPT-2's per-block causal-mask buffers (`causal_mask_buffer`): a bool table of
        max_positions² and a 4-byte fp32 scalar in each of the L blocks."""
        m = spec.model
        if not m.causal_mask_buffer:
            return 0
        return m.layers * (position_rows(spec) ** 2 + 4)

    def forward_saved(self, spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
        return transformer_activations(spec, n, batch, target)

    # --- compute, dependency, latency --------------------------------------------------------

    def flops(self, spec: Spec, n: int, batch: int, convention: str = "archcheck") -> Flops:
        from ..formulas.flops import Flops, transformer_flops

        m = spec.model
        out = transformer_flops(
            m.layers, batch, n, m.d_model, m.head_count, d_ff=mlp_width(m),
            vocab=m.vocab if lm_head(spec) else None, kv_heads=m.kv_head_count,
            head_dim=m.head_dim, mlp=matmul_mlp(m), attention=m.attention, window=m.window,
            causal=m.causal, convention=convention,  # type: ignore[arg-type]
            attention_kernel=spec.train.attention_kernel,
        )  # fmt: skip
        local, glob = local_global_layers(m)
        if local and glob:  # the global layers' attention cores see every key
            win = transformer_flops(
                local, batch, n, m.d_model, m.head_count, d_ff=mlp_width(m),
                vocab=m.vocab if lm_head(spec) else None, kv_heads=m.kv_head_count,
                head_dim=m.head_dim, mlp=matmul_mlp(m), attention=m.attention,
                window=m.window, causal=m.causal, convention=convention,  # type: ignore[arg-type]
                attention_kernel=spec.train.attention_kernel,
            )  # fmt: skip
            full = transformer_flops(
                glob, batch, n, m.d_model, m.head_count, d_ff=mlp_width(m), vocab=None,
                kv_heads=m.kv_head_count, head_dim=m.head_dim, mlp=matmul_mlp(m),
                causal=m.causal, convention=convention,  # type: ignore[arg-type]
                attention_kernel=spec.train.attention_kernel,
            )  # fmt: skip
            out = Flops(win.forward + full.forward, win.train_step + full.train_step)
        if m.experts is None:
            return out
        # routed: each token runs k experts (in d_ff above) and the router, d x experts (+ the
        # shared expert's d x 1 gate), forward once and twice more in backward
        router = m.layers * 2 * batch * n * m.d_model * (m.experts + int(m.shared_gate))
        return Flops(out.forward + router, out.train_step + 3 * router)

    def active_params(self, spec: Spec) -> int | None:
        return moe_active_params(spec)

    def path(self, spec: Spec, span: int | None, n: int) -> PathReport:
        from ..formulas.path import attention_path

        m = spec.model
        if local_global_layers(m)[1] and windowed(m):
            # a global layer reaches every position in one hop
            return attention_path(span, m.layers, "full", 0, m.causal)
        return attention_path(span, m.layers, m.attention, m.window, m.causal)

    def latency(self, spec: Spec, device: Device, overhead_s: float) -> LatencyEstimate:
        from math import prod

        from ..formulas.latency import Block, transformer_latency

        m, inf = spec.model, spec.infer
        # timed op by op on a calibrated host where the op list is the measured one (full
        # attention through SDPA, a dense MLP); experts (routing, gathers), a class's own
        # eager attention and masked windows (SDPA's math kernel on the CPU) keep the roofline
        block = (
            Block(
                fused=m.fused_projections,
                norm=m.norm,
                rotary=m.positional == "rotary",
                learned_positions=m.positional == "learned",
            )
            if m.attention == "full" and m.experts is None and not m.eager_attention
            else None
        )
        layer_params = sum(
            prod(s) for s in layer_shapes(m, bias_parts(m), norm_shapes(m, m.d_model))
        )
        if m.experts is not None:  # a token reads the weights of its k experts only
            one = sum(prod(s) for s in mlp_shapes(m, bias_parts(m), expert_width(m)))
            layer_params -= (m.experts - top_k(m)) * one
        local, glob = local_global_layers(m)
        mixed = bool(local and glob)
        out = transformer_latency(
            device, inf.dtype or spec.train.dtype, local if mixed else m.layers, inf.batch,
            spec.infer_n, d_model=m.d_model, heads=m.head_count, d_ff=mlp_width(m),
            layer_params=layer_params, vocab=m.vocab if lm_head(spec) else None,
            kv_heads=m.kv_head_count, head_dim=m.head_dim, mlp=matmul_mlp(m),
            attention=m.attention, window=m.window, causal=m.causal, new_tokens=inf.new_tokens,
            kv_cache=inf.kv_cache, overhead_s=overhead_s, ops=block,
        )  # fmt: skip
        if not mixed:
            return out
        # every kernel adds its own roofline time: the global layers' part adds to the rest
        full = transformer_latency(
            device, inf.dtype or spec.train.dtype, glob, inf.batch, spec.infer_n,
            d_model=m.d_model, heads=m.head_count, d_ff=mlp_width(m), layer_params=layer_params,
            vocab=None, kv_heads=m.kv_head_count, head_dim=m.head_dim, mlp=matmul_mlp(m),
            causal=m.causal, new_tokens=inf.new_tokens, kv_cache=inf.kv_cache,
            overhead_s=overhead_s, ops=None if block is None else replace(block, ends=False),
        )  # fmt: skip
        return replace(
            out,
            seconds=out.seconds + full.seconds,
            steps=out.steps + full.steps,
            compute_s=out.compute_s + full.compute_s,
            memory_s=out.memory_s + full.memory_s,
            overhead_s=out.overhead_s + full.overhead_s,
        )

    def kv_cache(self, spec: Spec) -> int | None:
        """Decoder KV cache (causal and kv_cache = true; an encoder recomputes every position).

        Sliding-window models cache at most `window` positions per layer (Mistral's rolling
        buffer). dtype: [infer] dtype, else [train] dtype."""
        from ..formulas.kvcache import kv_cache_bytes, kv_cache_positions
        from ..spec.model import DTYPE_BYTES

        m = spec.model
        if not spec.infer.kv_cache or not m.causal:
            return None
        n = kv_cache_positions(spec)
        local, glob = local_global_layers(m)
        if m.attention == "sliding" and m.window > 0:
            local, glob = (local, glob) if glob else (m.layers, 0)
        else:  # full attention, or local blocks: every position stays cached
            local, glob = 0, m.layers
        dtype = spec.infer.dtype or spec.train.dtype
        # a global layer caches every position, a sliding one its rolling buffer of w
        return sum(
            kv_cache_bytes(
                layers,
                spec.infer.batch,
                m.kv_head_count,
                pos,
                m.head_dim,
                dtype_bytes=DTYPE_BYTES[dtype],
            )
            for layers, pos in ((local, min(n, m.window)), (glob, n))
        )

    def rules_of_thumb(self, spec: Spec, batch: int) -> dict[str, int] | None:
        """The article's attention-only n_max (scores alone fill the budget) and the n beyond
        which attention outweighs the FFN (n > 2·d_ff)."""
        from ..formulas.limits import attention_dominates_threshold, sqrt_rule_n_max
        from ..spec.model import DTYPE_BYTES

        m = spec.model
        out = {"attention_dominates_above_n": attention_dominates_threshold(m.ffn_dim)}
        if spec.budget.memory is not None:
            out["sqrt_rule_n_max"] = sqrt_rule_n_max(
                spec.budget.memory, batch, m.head_count, DTYPE_BYTES[spec.train.dtype]
            )
        return out

    def dimension_problems(self, spec: Spec) -> Iterator[Problem]:
        m, t = spec.model, spec.train
        if m.head_size is None and m.d_model % m.head_count:
            yield (
                f"d_model {m.d_model} is not divisible by heads {m.head_count}",
                ("model", "heads"),
                "choose heads that divide d_model",
            )
        if m.kv_head_count > m.head_count:
            yield (
                f"kv_heads {m.kv_head_count} exceeds heads {m.head_count}",
                ("model", "kv_heads"),
                None,
            )
        elif m.head_count % m.kv_head_count:
            yield (
                f"heads {m.head_count} is not a multiple of kv_heads {m.kv_head_count}",
                ("model", "kv_heads"),
                "grouped-query attention shares each KV head by a whole number of query heads",
            )
        if m.positional == "rotary" and m.head_dim % 2:
            yield (
                f"rotary embeddings need an even head dimension, got {m.head_dim}",
                ("model", "positional"),
                None,
            )
        if m.rotary_dim is not None and m.rotary_dim > m.head_dim:
            yield (
                f"rotary_dim {m.rotary_dim} exceeds the head dimension {m.head_dim}",
                ("model", "rotary_dim"),
                "rotary rotates at most every dimension of a head",
            )
        if m.attention in ("sliding", "local") and m.window <= 0:
            yield (f'attention = "{m.attention}" needs window > 0', ("model", "window"), None)
        elif m.global_every is not None and not windowed(m):
            yield (
                f'global_every = {m.global_every} with attention = "{m.attention}": every layer '
                "is already global",
                ("model", "global_every"),
                'set attention = "sliding" and a window, or remove global_every',
            )
        elif m.global_every == 1:
            yield (
                "global_every = 1 makes every layer global: the window is never used",
                ("model", "global_every"),
                'set attention = "full", or global_every >= 2 (Gemma-2: 2, Gemma-3: 6)',
            )
        if t.tensor_parallel > 1 and m.head_count % t.tensor_parallel:
            yield (
                f"tensor_parallel {t.tensor_parallel} does not divide heads {m.head_count}",
                ("train", "tensor_parallel"),
                None,
            )
        if m.experts is not None and m.experts_per_token is None:
            yield (
                f"experts = {m.experts} without experts_per_token",
                ("model", "experts"),
                "set model.experts_per_token (Mixtral: 2)",
            )
        elif m.experts is not None and top_k(m) < (m.experts_per_token or 0):
            yield (
                f"experts_per_token {m.experts_per_token} exceeds experts {m.experts}",
                ("model", "experts_per_token"),
                None,
            )
        from ..formulas.params import params_from_spec

        if (total := params_from_spec(spec)) > ABSURD_PARAMS:
            yield (
                f"the spec describes ~10^{len(str(total)) - 1} parameters, over 10^15 (the "
                "largest models trained hold a few 10^12): a unit or a typo in a size",
                ("model", "d_model"),
                "check d_model, d_ff, vocab, layers and experts",
            )
        if m.input == "tokens" and m.vocab is None:
            yield (
                "token input needs a vocab size",
                ("model", "vocab"),
                'set model.vocab, or input = "embeddings"',
            )

    def tp_local_model(self, spec: Spec, tp: int) -> ModelTable | None:
        """Megatron-LM's plan (Shoeybi et al. 2019 §3), as probe/sharded.py applies it to the
        reference blocks: the fused QKV and the MLP's up (SwiGLU: gate and up) projections
        column-parallel, the attention output and down projections row-parallel. A rank's
        q, k, v, attention scores and output and MLP hidden hold heads / tp, kv_heads / tp and
        d_ff / tp (the head width unchanged); the row-parallel outputs are all-reduced to the
        full d_model, so the residual stream, norms, embeddings, head and logits are
        replicated (no sequence parallelism). A rank's step is the step of that narrower
        model. Experts have no reference plan: None."""
        m = spec.model
        if m.experts is not None:
            return None
        return m.model_copy(
            update={
                "heads": m.head_count // tp,
                "kv_heads": m.kv_head_count // tp,
                "head_size": m.head_dim,
                "d_ff": m.ffn_dim // tp,
            }
        )

    # --- torch side --------------------------------------------------------------------------

    def reference_module(self, spec: Spec) -> Any:
        from .reference.transformer import Transformer as Module

        return Module(spec)


# --- activations ---------------------------------------------------------------------------


def _math_end_modelled(m: ModelTable, banded: bool) -> bool:
    """Whether _math_kernel_end describes this block (its q/k/v path is the reference's
    plain one: no band mask, no transformers-style repeat_kv copies, no experts)."""
    return (
        not banded and not (m.kv_repeat and m.kv_head_count < m.head_count) and (m.experts is None)
    )


def _math_kernel_end(m: ModelTable, b: int, s: int, norm: int, adrop: bool) -> int:
    """Bytes of one block alive at the largest moment of the math SDPA kernel under autocast
    on the CPU, beyond the block's input (torch 2.13, aten/src/ATen/native/transformers/
    attention.cpp _scaled_dot_product_attention_math, measured with
    benchmarks/peak_live_set.py):

    - the first norm's saved set and its fp32 output (the attention's argument, a local);
    - the q/k/v projections' 16-bit outputs (and, for separate projections, each one's
      16-bit copy of the norm output); with rotary, the fp32 rotated q and k (fp32 cos/sin
      promote them) and autocast's 16-bit casts of them for SDPA;
    - the kernel's fp32 upcasts of q, k and v ("keep query, key, value in high precision"),
      the scaled q and the first matmul's operands: contiguous copies of q and k^T
      (grouped-query attention: k and v repeated to the query heads first, the scaled k^T,
      and q's copy; one head: the scaled q and k^T themselves); a causal mask as an s x s
      fp32 tensor;
    - then the larger of two moments: the scores beside their masked sum (causal) or beside
      the probabilities (2 s²-sized fp32 tensors); or the kernel's end: v's copy for the
      second matmul (several heads, without grouping), the fp32 probabilities (with attention dropout also
      the noise and the dropped probabilities), their 16-bit copy (the kernel returns
      attn.to(dtype)), the fp32 output and its 16-bit copy."""
    a, kv, hd, h = m.head_count, m.kv_head_count, m.head_dim, m.d_model
    p = 2
    sb, full, kvfull = s * b, b * s * a * hd, b * s * kv * hd
    pre = norm + sb * h * 4  # the norm's saved set and its fp32 output
    if not m.fused_projections:
        pre += 2 * sb * h * p
    if m.positional == "rotary" and not m.fused_projections:
        # separate projections: rotary's products save cos and sin, not q and k, so their
        # 16-bit outputs die once rotated; v's stays (a local until the kernel upcasts it)
        pre += kvfull * p
    else:
        pre += (full + 2 * kvfull) * p  # q, k, v projections (16-bit)
    if m.positional == "rotary":
        pre += (full + kvfull) * (4 + p)  # rotated q, k (fp32) and their 16-bit casts
    pre += (full + 2 * kvfull) * 4  # the kernel's fp32 upcasts
    # scaled q and the first matmul's operands: one head needs no contiguous copies (q·scale
    # and k^T·scale are the operands), several heads copy q and k^T, grouping also repeats k, v
    # One sequence (b = 1): the (1, heads, s, hd) operands, laid out (s, heads, hd) in memory,
    # reshape to (heads, s, hd) as views, so bmm copies neither q, k^T nor v (math grid seed
    # 1 case 2 and seed 0 case 23 at batch 1 and 3: the probe's live set at the kernel's end)
    one_seq = b == 1 and kv == a
    pre += (5 if kv < a else 3 if a > 1 and not one_seq else 2) * full * 4
    if m.causal:
        pre += s * s * 4
    probs = b * a * s * s
    mid = 2 * probs * 4
    end = (full * 4 if kv == a > 1 and not one_seq else 0) + probs * (3 if adrop else 1) * 4
    end += probs * p
    end += full * (4 + p)  # the output, fp32 and 16-bit
    return pre + max(mid, end)


def _recompute_moment(
    spec: Spec, target: Target, sbh: int, layer: int, norm: int, head_grad: int, c: _Consts
) -> tuple[int, int]:
    """(moment, pending): bytes beyond the end-of-forward set (minus what autocast's cache freed, which the caller
    subtracts) while checkpointing recomputes the last block, first thing in its backward.

    torch.utils.checkpoint (use_reentrant=False) re-runs the block until the last tensor its
    backward needs is saved, then stops (early stop, the default): the block's output is never
    recomputed. At that moment the final norm's saved tensors and the last block's output
    (saved by the final norm alone) were freed by the final norm's backward; alive are the
    head's weight gradient, the gradient entering the block (sb·h·4, fp32 like the residual
    stream), the block's saved set (`layer` less its output), what Block.forward still holds
    -- its attention branch's output `a` (a local; a parallel block: x + attn, in the
    residual's dtype) -- and, when the MLP ends in dropout, the dropout's input (the down
    projection's output) and, on CUDA only, its output: native_dropout returns output and
    mask at once and saves the mask as an output, while CPU's x * noise saves the noise before
    the product exists (probe/step.py cuda_dropout). Under autocast the recomputation casts
    the block's weights to 16 bits again (saved by its matmuls), and the head's copy went
    with the head's backward. `pending`: what the block holds beyond its saved set then.

    Measured against torch's MemTracker on the reference module
    (tests/families/test_checkpoint_ground_truth.py)."""
    from ..runtime import Precision

    m, t = spec.model, spec.train
    pr = Precision.of(spec, target)
    p, pn = pr.act, pr.norm
    out = sbh * pn
    pending = sbh * pn if m.parallel else sbh * p
    if pr.lowp:
        # the fp32 norm output, MLP.forward's argument (its 16-bit copy is saved); and the
        # gradient of the MLP branch: the block's last add ran its backward before the
        # recomputation (it saves nothing), and the engine cast its fp32 gradient to the
        # branch's 16-bit dtype (validate_outputs)
        pending += sbh * 4 + sbh * p
    # the MLP's last allocation before the stop: ReLU's input beside its output (ReLU saves
    # only its output), or the dropout's input (and output, CUDA)
    last = mlp_width(m) * sbh // m.d_model * p if m.mlp == "relu" else 0
    if t.dropout > 0:
        last = max(last, sbh * p * (2 if target.cuda else 1))
    pending += last
    moment = head_grad + sbh * 4 + (layer - out) + pending - out
    if m.final_norm:
        moment -= norm
    if pr.lowp:
        moment += 2 * c.layer_weights - 2 * (c.matmul_weights - m.layers * c.layer_weights)
    return moment, pending


def _mlp_backward(spec: Spec, target: Target, sbh: int) -> int:
    """Bytes beyond a block's saved set (and the gradient entering it) at the largest moment
    of its MLP's backward (the last dropout's mask is freed by then):

    - the down projection's backward: its incoming gradient (a new tensor under dropout --
      grad·mask -- or autocast -- the engine's 16-bit cast; in fp32 without dropout it is the
      block's gradient itself), the activation output's gradient sb·f·p and the fp32 weight
      gradient;
    - the activation's backward, once the down projection's node released its incoming
      gradient (and, under autocast, its 16-bit weight copy): the activation output's
      gradient and the input's, 2·sb·f·p, less what the down node alone kept -- GELU's output
      (GELU saves its input; ReLU saves its output, which stays), nothing for SwiGLU (the
      product is freed, two product gradients arrive: the same net 2·sb·f·p as ReLU's) nor
      for transformers' decomposed GELUs (`activation`: 0.5·x·(1 + tanh(...)) sends two
      gradients back through its product; measured on GPT-2 and Phi-2's classes).
    """
    from ..runtime import Precision

    m, t = spec.model, spec.train
    pr = Precision.of(spec, target)
    p = pr.act
    f = mlp_width(m)
    sbf = sbh // m.d_model * f
    wgrad = m.d_model * f * 4
    incoming = sbh * p if (t.dropout > 0 or pr.lowp) else 0
    down = incoming + sbf * p
    one_kernel = m.mlp == "gelu" and m.activation in (None, "silu")
    held = ACT_BACKWARD.get(m.activation, 1 if one_kernel else 2)
    act = held * sbf * p - (2 * m.d_model * f if pr.lowp else 0)
    if pr.lowp:
        # under autocast the mm makes a 16-bit weight gradient first (beside its incoming
        # gradient and the input's gradient); its fp32 copy comes once the node has freed the
        # incoming gradient, the weight's 16-bit copy and the activation's output (kept by the
        # down node alone, but ReLU's, which ReLU saves)
        kept = sbf * p if m.mlp == "relu" and m.activation is None else 0
        out = max(down + m.d_model * f * p, kept + wgrad, act + wgrad)
    else:
        out = max(down, act) + wgrad
    if t.dropout > 0:
        out -= sbh * pr.mask
    return out


def eager_attention_saved(
    m: ModelTable, b: int, s: int, p: int, lowp: bool, drop_mask: int = 0
) -> tuple[int, int]:
    """(bytes, s²-sized bytes) one layer of a class's own attention (`eager_attention`)
    saves for backward, from its q/k/v projections' outputs to the out projection's input,
    with p-byte activations (`lowp`: under autocast):

    - the first matmul's operands, q and k^T, and the second's v, as contiguous copies at
      the query heads (torch.matmul / bmm reshape the (b, heads, s, hd) views; under autocast
      the 16-bit casts of GPT-J's fp32 q and k), and the merged heads the out projection
      keeps: 4·b·s·a·hd·p;
    - the fp32 softmax output (every class computes the softmax in fp32: GPT-J's fp32 q/k
      and mask, BLOOM's softmax(dtype=float32), MPT's .float()) and, under autocast, its
      16-bit copy for the second matmul (`.to(value.dtype)`, or autocast's own cast):
      b·a·s²·(4 + p); in fp32 the cast is a no-op;
    - GPT-J's rotary (`rotary_interleaved`): sin and cos repeat_interleaved in the layer for
      q and again for k, in k's dtype, saved by x·cos and rotate_every_two(x)·sin:
      4·s·rotary_width·p (one position row: the position ids have batch 1);
    - with dropout on the probabilities (`drop_mask`: bytes per element of what dropout
      saves, p for the CPU's noise, 1 for CUDA's bool mask): that, and the dropped
      probabilities in place of the 16-bit copy: b·a·s²·(4 + drop_mask + p).

    The masks add nothing here: an additive float mask is not saved by the add; MPT's bool
    mask (`eager_mask = "fill"`) is one tensor for all layers (counted once). Measured with
    torch.autograd.graph.saved_tensors_hooks on GPTJForCausalLM, BloomForCausalLM and
    MptForCausalLM (tests/families/test_eager_attention_saved.py)."""
    a, hd = m.head_count, m.head_dim
    full = b * s * a * hd
    out = 4 * full * p
    if m.rotary_interleaved and m.positional == "rotary":
        out += 4 * s * (m.rotary_dim or hd) * p
    probs = b * a * s * s
    if drop_mask:
        # dropout on the probabilities (`drop_mask` bytes per element of its mask: the CPU's
        # x·noise saves the noise, in the probabilities' dtype; CUDA's native_dropout a bool
        # mask): the dropped probabilities are what the second matmul saves, and the 16-bit
        # copy dropout read is freed
        return out, probs * (4 + drop_mask + p)
    return out, probs * (4 + (p if lowp else 0))


def _qkv_saved(m: ModelTable, b: int, s: int, p: int) -> int:
    """Bytes of q, k and v a fused SDPA kernel keeps: fused projections keep the whole qkv
    output alive through the q/k/v views, and rotary adds the rotated q and k beside it;
    separate q_proj/k_proj/v_proj outputs are freed once rotated (q·cos and rotate_half(q)·sin
    save cos and sin, not q), so only the rotated q, k and v remain."""
    a, kv, hd = m.head_count, m.kv_head_count, m.head_dim
    if m.kv_repeat and kv < a and not m.fused_projections:
        # repeat_kv's copies of k and v at every query head are what SDPA keeps; the
        # kv-head k and v are freed
        return b * s * 3 * a * hd * p
    qkv = b * s * (a + 2 * kv) * hd * p
    if m.positional == "rotary" and m.fused_projections:
        qkv += b * s * (a + kv) * hd * p  # rotated q and k
    return qkv


@dataclass(frozen=True)
class _Consts:
    """The (n, batch)-independent inputs of `transformer_activations` (cached per spec)."""

    kernel: str
    layer_weights: int  # elements of one layer's matmul weights
    matmul_weights: int  # ... of all layers and the LM head


@per_spec(maxsize=512)
def _consts(spec: Spec, target: Target) -> _Consts:
    from ..runtime import attention_kernel

    m = spec.model
    h = m.d_model
    # every matrix of one block (q/k/v, o, the MLP or every expert, router): autocast keeps a
    # 16-bit copy of each weight it multiplies
    layer_weights = sum(
        r * c for r, c in (s for s in layer_shapes(m, frozenset(), []) if len(s) == 2)
    )
    head = (m.vocab or DEFAULT_VOCAB) * h if lm_head(spec) else 0
    return _Consts(
        kernel=attention_kernel(spec, target),
        layer_weights=layer_weights,
        matmul_weights=m.layers * layer_weights + head,
    )


@formula(
    "activations.transformer",
    "per layer 2*norm + attn + mlp + 2*sbh*p_res (+ 2*sbh*m dropout); math: + b*a*s²*p",
    "Korthikanti et al. 2022, arXiv:2205.05198, generalised (families/transformer.py)",
)
def transformer_activations(spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
    """Bytes a Transformer's training forward keeps for backward (see the module docs)."""
    from ..runtime import Precision, attention_kernel, fused_rms_norm
    from ..runtime.cuda import cuda_alloc_size

    m, t = spec.model, spec.train
    c = _consts(spec, target)
    if (why := mixed_kernels(spec, target)) is not None:
        raise NotModelled(f"{why}: {_MIXED_FIX}")
    if eager_unmodelled(spec) is not None:
        raise Transformer().not_modelled_on(spec, target)["memory"]
    pr = Precision.of(spec, target)
    b, s, h, L = batch, n, m.d_model, m.layers
    a, kv, hd, f = m.head_count, m.kv_head_count, m.head_dim, mlp_width(m)
    sb, sbh = s * b, s * b * h
    p, pn, mk = pr.act, pr.norm, pr.mask
    drop, adrop = t.dropout > 0, t.attn_dropout > 0
    banded = band_masked(m, n)
    k = c.kernel if banded or not windowed(m) else attention_kernel(spec, target, masked=False)
    if m.eager_attention:
        k = "eager"

    # One norm's saved bytes.
    if m.norm == "rmsnorm":
        norm = sb * 4 + (0 if fused_rms_norm(target) else sbh * 4) + sbh * p
    else:
        norm = 2 * sb * 4 + (sbh * p if pr.lowp else sbh * pn)

    attn = 0
    scores = 0
    full = b * s * a * hd  # q (or k, v) at a heads
    # The math kernel computes in fp32 even under autocast: _scaled_dot_product_attention_math
    # (aten/src/ATen/native/transformers/attention.cpp) converts fp16/bf16 q, k, v `.to(kFloat)`
    # ("Keep query, key, value in high precision for accuracy") unless
    # allowFP16BF16ReductionMathSDP, so the copies, probabilities, dropout noise (CPU) and
    # dropped probabilities it saves are 4-byte, not p-byte.
    pm = 4 if k == "math" else p
    mkm = mk if target.cuda else pm
    # the math kernel under autocast on the CPU, where _math_kernel_end describes the block
    lowp_math = k == "math" and pr.lowp and not target.cuda and _math_end_modelled(m, banded)
    qkv_w = h * (a + 2 * kv) * hd  # the q/k/v projection weights
    # that kernel's largest moment in one block (its forward, or a recomputation)
    at_end = _math_kernel_end(m, b, s, norm, adrop) if lowp_math else 0
    if lowp_math:
        # the matmuls' fp32 operands q, k^T and v at the query heads, and the out
        # projection's input: the kernel's output cast back to 16 bits
        attn += 3 * full * 4 + full * p
    if k == "eager":
        eager_attn, scores = eager_attention_saved(
            m, b, s, p, pr.lowp, (1 if target.cuda else p) if adrop else 0
        )
        attn += eager_attn
    elif k == "math":
        attn += 0 if lowp_math else 4 * full * pm
        if not pr.lowp and not target.cuda and a == kv and (a == 1 or b == 1):
            # fp32, one head or one sequence: q·scale and k^T·scale are the matmul's operands
            # as they are (no contiguous copies), and the (b, a, s, hd) view of v folds into
            # the batched matmul's (b·a, s, hd) as a view (a size-1 dimension merges with any
            # stride), so v is a view of the projection's output, which it keeps whole: with
            # fused projections the q and k thirds beyond the four counted above (the sweep's
            # seed 12 case 30: d 16, two heads, batch 1, -3.54 % before)
            attn += 2 * full * 4 if m.fused_projections else 0
        scores = b * a * s * s * pm
        if adrop:
            scores += b * a * s * s * (mkm + pm)
    else:
        attn += _qkv_saved(m, b, s, p)
        attn += full * p + b * a * s * 4  # output + log-sum-exp
        if rotary_concat(m) and not target.cuda:
            # rotary by slice and concatenate makes q a new (b, a, s, hd)-contiguous tensor;
            # the CPU flash kernel lays its output out like q, so the transpose back to
            # (b, s, a·hd) copies it and the out projection keeps the copy (in-place-layout
            # rotary keeps q's (b, s, a, hd) strides: the transpose is a view)
            attn += full * p
    if pr.lowp and not m.fused_projections:
        # under autocast q_proj, k_proj and v_proj each save their own 16-bit copy of the fp32
        # norm output (autocast caches weight casts, not activations); the norm term counts one
        attn += 2 * sbh * p
    band = 0
    if banded:
        # SDPA turns the boolean band into an additive float mask of the query's dtype
        # (convert_boolean_attn_mask: where(mask, 0, -inf)) and saves that: s²·p per
        # windowed layer (a global layer of a `global_every` stack passes no mask).
        band = s * s * p
        attn += band
    n_global = local_global_layers(m)[1] if band else 0
    # the last windowed layer (0-based): where the forward builds its last band
    last_local = max((i for i in range(L) if not is_global_layer(m, i)), default=L - 1)
    # the activation's saved tensors, its input and its output (kept by the down projection);
    # a gated MLP adds the up output and the product
    mlp = (act_saved(m) + (2 if gated(m) else 0)) * sb * f * p
    if gated(m) and pr.lowp and not m.fused_projections:
        # under autocast gate_proj and up_proj each save their own 16-bit copy of the fp32
        # input one fused projection casts once: one more copy per token each gated MLP
        # reads (with experts: k routed expert rows per token, and the shared expert's)
        rows = sb if m.experts is None else top_k(m) * sb + (sb if m.shared_d_ff else 0)
        mlp += rows * h * p
    if m.experts is not None:
        # Routing (transformers' sparse-MoE blocks, the reference's Experts): the fp32 softmax
        # over experts and top-k's int64 indices; each expert keeps the tokens it gathered
        # (its up projection's input) and its output (p), its routing weight and the weighted
        # output (index_add's backward keeps its source: `expand_as(source)` in
        # derivatives.yaml), both in the residual stream's dtype, and its int64 token and slot
        # ids. Every token reaches k experts, so these sum to k·sb rows however the tokens are
        # routed.
        kt = top_k(m) * sb
        mlp += sb * m.experts * 4 + kt * 8 + 2 * kt * h * p + kt * (h + 1) * pn + 2 * kt * 8
        if m.shared_gate:
            mlp += sb * p + sbh * p  # the gate's sigmoid and the shared expert's output
        if pr.lowp:
            # under autocast each Linear reading the fp32 norm output saves its own 16-bit
            # copy: the router's is the norm's sbh·p above; the shared expert and its gate
            # add theirs
            mlp += (int(m.shared_d_ff > 0) + int(m.shared_gate)) * sbh * p
    # the stream after the attention half (kept by the MLP's norm) and the block output; a
    # parallel block adds both branches to its input at once: only the output
    resid = (1 if m.parallel else 2) * sbh * pn
    if pr.lowp and m.parallel and norms_per_layer(m) == 1:
        # under autocast the q/k/v and the MLP's up projection each save their own 16-bit
        # copy of the one fp32 norm output (the norm term above counts one)
        resid += sbh * p
    masks = 2 * sbh * mk if drop else 0
    layer = norms_per_layer(m) * norm + attn + mlp + resid + masks
    if norms_per_layer(m) == 4 and pr.lowp and m.norm == "rmsnorm" and not fused_rms_norm(target):
        # Gemma-2's post-norms read the 16-bit branch outputs: the decomposed RMSNorm upcasts
        # its input (a new fp32 copy it keeps, where a norm of the fp32 stream keeps the
        # stream itself) and its output goes to the residual add, not a 16-bit Linear
        layer += 2 * sbh * (4 - p)

    tokens = m.input == "tokens"
    pl = 4 if m.fp32_logits else p  # the logits' dtype
    emb = sbh * pn  # h0 (embedding output, positional add, or dropout output)
    if tokens:
        emb += sb * 8  # token ids, saved by the embedding backward
    if m.type_vocab:
        emb += sb * 8  # token-type ids
    if m.embed_norm:
        # BLOOM's LayerNorm on the embedding: its output is the first block's input, kept in
        # the residual's dtype (fp32 under autocast; no 16-bit copy: a norm reads it)
        emb += norm + (sbh * (pn - p) if pr.lowp else 0)
    if tokens and token_width(m) != h:
        emb += 2 * sb * token_width(m) * p  # project_in's input, project_out's output (OPT)
    if m.positional == "learned":
        emb += s * 8  # position ids
    if m.positional == "rotary" and not m.rotary_interleaved:
        emb += 2 * s * (m.rotary_dim or hd) * 4  # cos / sin tables
    if m.eager_attention and m.eager_mask == "fill":
        emb += b * s * s  # the bool causal mask every layer's masked_fill saves
    # Float inputs through an embedding stage with nothing trainable (no learned positions,
    # token types or embedding norm): h0 needs no gradient, so autograd keeps nothing for it
    # -- the dropout's noise (x * noise saves it for x's gradient only) and, behind the CPU's
    # decomposed RMSNorm, h0 itself and the first norm's rsqrt (x * rsqrt needs no node when
    # neither factor needs a gradient; only (x * rsqrt) * w saves its input). A fused norm
    # (LayerNorm, RMSNorm on CUDA) and checkpointing keep h0 all the same.
    grad_free = not tokens and not (m.positional == "learned" or m.type_vocab or m.embed_norm)
    if t.emb_dropout > 0 and not grad_free:
        # the dropout's input is the embedding stage's output, in the residual's dtype (fp32
        # under autocast): the CPU's mask has that dtype, CUDA's is one byte
        emb += sbh * (mk if target.cuda else pn)
    h0_dead = (
        grad_free
        and m.norm == "rmsnorm"
        and not fused_rms_norm(target)
        and not t.checkpointing
        and m.norm_placement == "pre"
    )

    if t.checkpointing:
        body = L * sbh * pn  # each block's input; one block is recomputed during backward
    else:
        body = L * layer - n_global * band
        scores *= L
    if h0_dead:
        emb -= sbh * pn
        body -= sb * 4

    vocab = (m.vocab or DEFAULT_VOCAB) if lm_head(spec) else None
    # No head at all (the output is the final norm's, per position): the output, in the
    # residual's dtype (fp32 under autocast: layer_norm runs in fp32, RMSNorm keeps its
    # input's dtype), is alive at the end of forward, and the loop drops it before backward
    # (the sum's backward saves nothing) -- no 16-bit copy of it is saved. The norm's backward
    # then receives sum's expanded scalar, not a tensor (the CPU's decomposed RMSNorm: its
    # four transients, `decomposed` below).
    no_head = vocab is None and not m.pooler and classes_head(spec) is None and m.final_norm
    # the CPU's decomposed RMSNorm (x * rsqrt(mean(x²) + eps) * w, separate ops): its
    # backward makes four d_model-wide fp32 tensors at once (the mean's expanded gradient,
    # pow's, and the two products'), where a fused kernel makes its input's gradient only
    decomposed = m.norm == "rmsnorm" and not fused_rms_norm(target)
    out_f = sbh * pn if no_head else 0  # that output, freed before backward
    final = norm - (sbh * (p if m.norm == "rmsnorm" or pr.lowp else pn) if no_head else 0)
    final += out_f
    post_norm = m.norm_placement == "post" and m.final_norm
    if post_norm:
        # a post-norm encoder's "final" norm is its embedding LayerNorm: it saves its input,
        # the fp32 embedding sum even under autocast (not a 16-bit copy), and holds it to the
        # end of backward, with the embeddings
        # (`final` still stands for the last block's second norm where a backward moment
        # frees it)
        emb += final + (sbh * (pn - p) if pr.lowp else 0)
    acts = emb + body + (0 if post_norm else final)
    # The probe's default loss is cross-entropy over the head's logits (probe/build.py
    # ProbeLoss): an LM predicts its input tokens (a view, no target tensor), a classifier
    # random class ids; without a head it is the float sum of the output (4: the scalar loss).
    ce: CrossEntropyBytes | None = None
    one = cuda_alloc_size(4) if target.cuda else 4
    if vocab is not None:
        # a class that casts its logits to fp32 hands the loss fp32 logits: no 16-bit ones
        # held, no cast in the loss (pl = 4 and not lowp)
        lowp_logits = pr.lowp and not m.fp32_logits
        ce = cross_entropy_bytes(sb, vocab, pl, lowp_logits, targets=not tokens, scalar=one)
        if m.logit_softcap is not None:
            # cap·tanh(logits / cap): the tanh keeps its output; the division and the
            # multiplication by a number keep nothing
            acts += sb * vocab * p
    else:
        if m.pooler:
            acts += b * h * p  # tanh output, saved by its backward (and by the classifier)
        c_out = classes_head(spec)
        if c_out is not None:
            ce = cross_entropy_bytes(b, c_out, p, pr.lowp, targets=True, scalar=one)
    logits = ce.end if ce is not None else 4
    if pr.lowp:
        acts += 2 * c.matmul_weights  # autocast's cached 16-bit weight copies
    head_grad = (vocab or 0) * token_width(m) * 4  # the head is V x the embedding width
    extra = head_grad + 2 * sbh * 4
    # the LM head's backward: its weight gradient, its input's gradient, and the gradient of
    # the logits the loss handed it (a real tensor of the logits' dtype, not sum's expand)
    head_moment = extra + (sb * vocab * pl if vocab is not None else 0)
    if tokens and token_width(m) != h and vocab is not None:
        # behind project_out (OPT-350m) the head's input gradient is embedding-wide (in the
        # head's dtype), and nothing d_model-wide is alive yet (measured on OPTForCausalLM's
        # fake step)
        head_moment += sb * token_width(m) * p - 2 * sbh * 4
    if k == "math":
        # Backward of the last layer's attention: the gradients of the (dropped) probabilities
        # and of the scores are s²-sized; the layer's MLP half and the final norm are freed.
        post = norms_per_layer(m) * norm + 2 * sbh * pn + mlp + full * p + masks
        temps = (1 if adrop else 2) * b * a * s * s * pm + full * 4 + sbh * 4
        temps += sbh * 4 if drop else 0
        if lowp_math:
            # under autocast: with attention dropout the largest moment is the last matmul's
            # backward (the fp32 gradient of its output, v's gradient and the dropped
            # probabilities' gradient, v's copy still saved); without, the softmax's
            # backward, once v's copy and the output's gradient are freed
            temps = (b * a * s * s * 4 + 2 * full * 4 if adrop else 2 * b * a * s * s * 4) + (
                sbh * 4 if drop else 0
            )
        attn_w = qkv_w + a * hd * h
        grads_last = 4 * (c.layer_weights - attn_w + a * hd * h)  # MLP (or experts) and o
        extra = temps + grads_last + head_grad - post
        if pr.lowp and adrop:
            # at the last matmul's backward, autocast's 16-bit copies of the head's, the MLP's
            # and the out projection's weights are freed with their nodes (as in the eager
            # branch below; ViTModel and BertModel at d 256-768: 1-3 % of the peak)
            extra -= 2 * (c.matmul_weights - L * c.layer_weights) + 2 * (c.layer_weights - qkv_w)
    elif k == "eager":
        # The last layer's softmax backward: the fp32 gradient of the probabilities (the
        # second matmul's, cast up from 16 bits under autocast) and the softmax's input
        # gradient, v's gradient and the gradient entering the block; freed by then: the
        # layer's MLP half, the final norm, the out projection's input, v's copy and the
        # probabilities the second matmul saved (16-bit under autocast, or dropped, with the
        # dropout's noise or mask). With attention dropout, first the dropout's backward:
        # the gradients of the dropped and of the undropped probabilities (p bytes each),
        # the noise still saved, the dropped probabilities freed.
        probs = b * a * s * s
        post = norms_per_layer(m) * norm + resid + mlp + 2 * full * p + masks
        if pr.lowp:
            # autocast's 16-bit copies of the head's, the MLP's and the out projection's
            # weights (their backward has run)
            post += 2 * (c.matmul_weights - L * c.layer_weights)
            post += 2 * (c.layer_weights - qkv_w)
        common = full * p + sbh * 4
        if m.parallel:  # the MLP branch's input gradient waits for the attention branch's
            common += sbh * 4
        temps = 2 * probs * 4 + common
        if adrop:
            temps -= probs * ((1 if target.cuda else p) + p)
            temps = max(temps, probs * p + common)
        elif pr.lowp:
            temps -= probs * p
        attn_w = qkv_w + a * hd * h
        grads_last = 4 * (c.layer_weights - attn_w + a * hd * h)  # MLP and o
        extra = max(extra, temps + grads_last + head_grad - post)
    # the final norm's backward, before any block's (and before checkpointing recomputes one)
    norm_bw = (4 if decomposed else 1) * sbh * 4 - out_f
    if no_head:  # the norm's backward: its input's gradient only; the output was dropped
        extra = norm_bw if k != "math" else extra - out_f
    if t.checkpointing:
        # the recomputation of the last block (exact), or, for the math kernel, that block's
        # attention backward: the one above with the recomputed block on top (a global last
        # layer of a local/global stack saves no band mask)
        last = layer - (band if is_global_layer(m, L - 1) and band else 0)
        recompute, pending = _recompute_moment(spec, target, sbh, last, final, head_grad, c)
        if k == "math":
            # the recomputed block's attention backward: its saved set is back, the block's
            # output (saved by the final norm alone) is gone with the final norm's backward
            extra += last - sbh * pn
            if grad_free and L == 1:
                # behind a grad-free input the block's incoming gradient is not kept for a
                # residual branch that needs none (the temps' sb·h·4)
                extra -= sbh * 4 if not lowp_math else 0
            elif lowp_math:
                # the 16-bit temps above leave out the gradient entering the block, which the
                # recomputed block's attention backward still holds (fp32, for the residual
                # branch): the math grid's random seed 2, case 1 (one checkpointed layer):
                # -2.72 % before; v's copy freed by the second matmul's backward and v's
                # gradient, both full·4, cancel
                extra += sbh * 4
            if not pr.lowp and not adrop:
                # fp32 without attention dropout: the moment is the softmax's backward, after
                # the second matmul's, which freed v's copy (the recomputed set has it)
                extra -= full * 4
        extra = max(extra, recompute)
        if m.experts is None:
            # then its backward: the recomputed block's MLP backward
            extra = max(extra, recompute - pending + _mlp_backward(spec, target, sbh))
        if pr.lowp:
            # autocast's cached 16-bit copies of the checkpointed blocks' weights were referenced
            # by the cache alone (the checkpointed forward saved nothing): leaving autocast
            # before backward (torch.autocast.__exit__ -> clear_autocast_cache) freed them
            extra -= 2 * L * c.layer_weights
    elif m.experts is None:
        # the last block's MLP backward: the final norm and the block's output are freed
        mlp_bw = head_grad + sbh * 4 - sbh * pn + _mlp_backward(spec, target, sbh)
        extra = max(extra, mlp_bw - (final if m.final_norm else 0))
    if no_head and decomposed and k == "math":
        extra = max(extra, norm_bw)
    if decomposed and m.final_norm and not no_head and not t.checkpointing:
        # a head hands the decomposed final norm a real gradient (a classifier's through
        # select's backward, a full-size zero tensor): five d_model-wide fp32 tensors are
        # alive at once in its backward (the product's, the mean's expanded gradient, pow's
        # and its two products), its input still saved, the rest of its saved set freed
        # (measured: benchmarks/peak_live_set.py --timeline on the sweep's seed-5 case 6)
        extra = max(extra, head_grad + 5 * sbh * 4 - final)
    # the parameters whose gradients come after the first block's: the token table (at the
    # embedding width), project_in (embedding width -> d_model, OPT-350m) and the positions
    tw = token_width(m)
    emb_params = ((m.vocab or DEFAULT_VOCAB) * tw if tokens else 0) + (
        position_rows(spec) * h if m.positional == "learned" else 0
    )
    if tokens and tw != h:
        emb_params += tw * h
    first = 3 * sbh * 4
    if m.experts is None:  # the first block's MLP backward (its output freed)
        first = max(first, sbh * 4 - sbh * pn + _mlp_backward(spec, target, sbh))
    late = emb + layer + (scores // L if not t.checkpointing else scores) + first
    if k == "math" and L > 1 and (lowp_math or t.checkpointing):
        # the first block's attention backward, the math kernel's transients as in the last
        # block's (`temps`), with its MLP and out projection's gradients computed, its first
        # norm's saved set (`post` counts the final norm's as the last block's second), the
        # gradient entering the block, and (autocast) its q/k/v weights' 16-bit copy still
        # saved; the later blocks' gradients are in `grads`. In fp32 without attention
        # dropout the moment is the softmax's backward: the second matmul's backward freed
        # v's copy.
        one = scores // L if not t.checkpointing else scores
        attn_bw = emb + layer - post + norm + sbh * 4 + one + temps + grads_last
        if lowp_math:
            attn_bw += 2 * qkv_w
        else:
            # fp32 `temps` already hold the entering gradient, which a grad-free input's
            # residual branch does not keep at all
            attn_bw -= sbh * 4 * (2 if grad_free else 1) + (0 if adrop else full * 4)
        late = max(late, attn_bw)
    late += head_grad if (m.tied_embeddings and tokens) else 0
    late -= out_f
    if lowp_math and L > 1 and t.checkpointing:
        # checkpointing recomputes the first block with every later block's gradient alive:
        # h0 (`emb`), the gradient entering the block (and, under autocast, its 16-bit cast
        # for the MLP branch), the block's q/k/v weights cast again and the math kernel's
        # largest moment (_math_kernel_end)
        rec_first = emb + sbh * 4 + sbh * p + 2 * qkv_w + at_end
        # ... and then the end of that recomputation (the early stop after the MLP's last
        # allocation): the block's saved set back (less its output, never recomputed), its
        # scores, every weight cast again, and what the block still holds then
        # (_recompute_moment's `pending`: the fp32 norm output, the MLP branch's 16-bit
        # gradient, the dropout's input). The math grid's random seed 1, case 30: -2.03 % ->
        # +0.2 %
        pending = _recompute_moment(spec, target, sbh, layer, final, head_grad, c)[1]
        rec_end = emb + sbh * 4 + layer - sbh * pn + pending + scores + 2 * c.layer_weights
        late = max(
            late, max(rec_first, rec_end) + (head_grad if (m.tied_embeddings and tokens) else 0)
        )
    fwd_peak = 0
    if k == "eager" and m.eager_held:
        # The end of the last layer's attention forward, where the class still holds its
        # pre-softmax scores as locals (`eager_held`: the masked fp32 scores, and before them
        # the matmul's output in the compute dtype) beside everything saved so far and, for an
        # additive mask, the (b, 1, s, s) fp32 mask the model built for every layer; the fused
        # q/k/v output (its views are locals too), the out projection's output and the
        # residual sum (BLOOM adds the residual inside its attention module)
        held = b * a * s * s * (4 + (m.eager_held - 1) * p)
        mask4d = b * s * s * 4 if m.eager_mask == "add" else 0
        prior = emb + (L - 1) * (layer + scores // L)
        part = norm + attn + scores // L + sbh * p + sbh * pn
        if pr.lowp:  # the block's fp32 norm output, a local beside its saved 16-bit copy
            part += sbh * 4
        if m.positional == "alibi":  # the (b·heads, 1, s) fp32 ALiBi bias
            part += b * a * s * 4
        if m.fused_projections:
            part += sb * (a + 2 * kv) * hd * p
        if pr.lowp:
            prior += 2 * ((L - 1) * c.layer_weights + qkv_w + a * hd * h)
        if adrop and pr.lowp:
            # the dropout itself: its 16-bit input (freed once dropped) beside its noise and
            # output, before the merged heads, the out projection and the residual sum exist
            part = max(part, part + b * a * s * s * p - full * p - sbh * p - sbh * pn)
        fwd_peak = prior + part + held + mask4d
    if banded:
        # The reference Attention builds its band mask from an int64 distance matrix:
        # dist = i[:, None] - i[None, :] (8·s²) and dist.abs() (8·s²) are alive while
        # `<= window` allocates the bool band (s²): 17·s² bytes of transients in every layer's
        # forward -- and again in backward when checkpointing recomputes the block. At that
        # moment the block holds its first norm, the qkv projection and the rotated q, k.
        build = 17 * s * s
        part = norm + _qkv_saved(m, b, s, p)
        if pr.lowp and not m.fused_projections:
            part += 2 * sbh * p
        j = last_local  # layers done before it (global ones saved no band)
        before = sum(1 for i in range(j) if is_global_layer(m, i))
        prior = emb + j * (sbh * pn if t.checkpointing else layer)
        if not t.checkpointing:
            prior += j * (scores // L) - before * band
        if pr.lowp:  # weight copies made so far (every layer's once the last one runs)
            prior += 2 * (j + 1) * c.layer_weights
        fwd_peak = prior + part + build
        if t.checkpointing:  # the recomputation of the last block, first thing in backward
            extra = max(extra, head_grad + 2 * sbh * 4 + part + build)
    loss_moment = 0
    if ce is not None:
        # the loss's own backward (log-probs + nll and log_softmax gradients), or a later
        # moment with the held logits on top
        # (with checkpointing no block has been recomputed yet: the backward phase's one block
        # of scores, formulas/peak.py, does not exist at the loss's moment)
        loss_moment = ce.backward - (scores if t.checkpointing else 0)
        if t.checkpointing and pr.lowp:
            # the loss's backward runs after autocast was left: the checkpointed blocks'
            # 16-bit weight copies, referenced by the cache alone, are gone (as in `extra`)
            loss_moment -= 2 * L * c.layer_weights
        extra = max(head_moment + ce.held, extra + ce.held)
        late += ce.held
        if ce.forward_transient:
            end = acts + (0 if t.checkpointing else scores) + logits
            fwd_peak = max(fwd_peak, end + ce.forward_transient)
    if lowp_math:
        # The end of the math kernel under autocast on the CPU (every copy it made is alive):
        # in the last block's forward, and again when checkpointing recomputes that block,
        # first thing in backward (where the 16-bit gradient of the MLP branch is already
        # cast, and only the q/k/v weights have been cast again)
        copies = 2 * ((L - 1) * c.layer_weights + qkv_w)
        if t.checkpointing:
            # the earlier blocks' inputs (the first block's is h0, in `emb`)
            fwd_peak = max(fwd_peak, emb + (L - 1) * sbh * pn + copies + at_end)
            last = layer - (band if is_global_layer(m, L - 1) and band else 0)
            recompute, pending = _recompute_moment(spec, target, sbh, last, final, head_grad, c)
            in_block = at_end - (last - sbh * pn) - pending + sbh * p
            weights = 2 * (qkv_w - c.layer_weights)
            moment = recompute + in_block + weights - 2 * L * c.layer_weights - scores
            extra = max(extra, moment + (ce.held if ce is not None else 0))
        else:
            prior = emb + (L - 1) * (layer + scores // L)
            fwd_peak = max(fwd_peak, prior + copies + at_end)
    if post_norm and pr.lowp and not t.checkpointing:
        # The last post-norm block's end under autocast (BertLayer, transformers 4.57): its
        # input (the encoder loop's variable), its first norm's output (a local) and the
        # second norm's, the model's output, all fp32 and saved by nothing (the Linears keep
        # 16-bit copies), beside the down projection's (dropout) output the residual add
        # reads; the pooler has not run. Measured on BertModel d 256, n 128, batch 8, bf16
        # CPU: the estimate was -4.7 % of the fake probe.
        pooled = b * h * p if m.pooler else 0
        fwd_peak = max(fwd_peak, acts - pooled + scores + 3 * sbh * pn + sbh * p)
    if m.positional == "sinusoidal":
        # The reference forward keeps its sinusoidal table `pe` (s·h·4), the float positions
        # (s·4) and the frequencies (h/2·4) as locals until it returns: alive beside all the
        # forward built when its last tensor, the model's output, is allocated.
        table = s * h * 4 + s * 4 + (h // 2) * 4
        c_out = classes_head(spec)
        out = sb * vocab * p if vocab is not None else b * c_out * p if c_out is not None else 0
        fwd_peak = max(fwd_peak, acts + (0 if t.checkpointing else scores) + out + table)
    if not tokens and (
        m.positional in ("learned", "sinusoidal")
        or m.type_vocab
        or m.embed_norm
        or t.emb_dropout > 0
    ):
        # float inputs that the embedding stage replaces by a new tensor (a position added,
        # dropout): the loop still holds the input batch (b·s·h fp32, probe/build.py
        # make_inputs) through forward and the loss, and drops it before backward
        fwd_peak = max(fwd_peak, acts + (0 if t.checkpointing else scores) + logits) + sbh * 4
    return ForwardSaved(
        acts,
        scores,
        logits,
        backward_extra=extra,
        loss_backward=loss_moment,
        held_through_backward=ce.held if ce is not None else 0,
        # tied embeddings: the head's partial weight gradient and the embedding's, then added
        end_backward=2 * head_grad if (m.tied_embeddings and tokens and vocab) else 0,
        late_activations=late,
        late_missing_grads=4 * (c.layer_weights + emb_params),
        forward_peak=fwd_peak,
        scores_transient=t.checkpointing,
        formula="activations.transformer",
    )
