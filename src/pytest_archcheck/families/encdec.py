"""Encoder-decoder family: T5 / mT5, BART, Whisper (`family = "encoder-decoder"`).

An encoder of `layers` self-attention blocks reads the source (token ids, or `in_channels`
features through a strided convolutional front end: Whisper's two kernel-3 convolutions,
strides `stem_strides` = [1, 2]); a decoder of `decoder_layers` blocks reads the target tokens
with causal self-attention, then attends to every encoder position (cross-attention), then
runs its MLP; an LM head (tied to the shared token embedding unless `tied_embeddings = false`)
scores the vocabulary at every target position. Shapes follow the transformers classes
(`T5ForConditionalGeneration`, `BartForConditionalGeneration`,
`WhisperForConditionalGeneration`), which `tests/adapters/test_hf_conformance.py` builds on the
meta device and compares exactly:

- one token table shared by the encoder, the decoder and (tied) the head; Whisper's encoder
  has none (it reads features);
- learned positions per stack (`max_positions` rows for the encoder, `decoder_max_positions`
  for the decoder; BART's two reserved rows are in both), or T5's relative position bias: a
  (`relative_buckets`, heads) table in the first block of each stack;
- `embed_norm` (BART's layernorm_embedding, in both stacks), `final_norm` (T5 and Whisper end
  each stack with a norm, BART does not);
- encoder blocks: 2 norms, q/k/v/o, the MLP; decoder blocks: 3 norms, self q/k/v/o, cross
  q/k/v/o (k and v read the encoder output), the MLP. `decoder_heads` and `decoder_d_ff`
  when the decoder differs (BART configs allow it; q/k/v are d x d either way unless
  `head_size` sets the inner width, as T5's d_kv does).

Sequence lengths: the encoder runs at n (`[train] seq_len`, `[budget] max_n`); the decoder at
`[train] target_len` (default n, at most `decoder_max_positions`). A convolutional front end
reads n · prod(stem_strides) feature frames for n encoder positions.

Training peak (`activations.encoder_decoder`, `encdec_activations`): both stacks' saved
tensors as transformers' T5, BART and Whisper keep them (post-norm and pre-norm blocks; T5's
own attention and T5LayerNorm), the encoder output the model output holds (and its 16-bit
casts in every decoder layer's k/v projections under autocast), Whisper's convolutional front
end, the causal mask its decoder saves and its out_proj input copies, the loss over the
decoder's vocabulary at target_len tokens. Whisper's encoder position table is frozen
(`frozen_shapes`: no gradient, no optimizer state). Against the fake probe of the classes
(tests/adapters/test_hf_small_widths.py: d 64 and 256, fp32/bf16 CPU, bf16 CUDA): to the byte
at d 64; at d 256, where the peak falls in backward, T5 +0.05 / +0.34 %, mT5 +0.04 / -0.16 %,
BART bf16 CPU +0.21 % (fp32 / bf16 CPU), the rest to the byte.

With attention dropout the CPU runs SDPA's math kernel for BART and Whisper: in fp32 it saves
what T5's attention saves, and its backward's s² gradient can hold the peak at long n
(`_math_backward`).

Not modelled (refused, `NotModelled` naming the key, never guessed): checkpointing, the math
SDPA kernel under autocast (attention dropout, bf16/fp16 on the CPU: its fp32 upcasts), T5
blocks other than ReLU, GELU or gated-GELU, and the inference latency / KV cache. `archcheck probe` measures the peak
on the transformers class itself (`probe/hf_class.py`), so a budget still gets a real number.
"""

from __future__ import annotations

from collections.abc import Iterator
from math import prod
from typing import TYPE_CHECKING, Any

from ..formulas.registry import formula
from . import Family, ForwardSaved, Problem, Shape, register
from ._base import DEFAULT_VOCAB, NotModelled
from .transformer import (
    ABSURD_PARAMS,
    ACT_SAVED,
    bias_parts,
    gated,
    matmul_mlp,
    norm_shapes,
)

if TYPE_CHECKING:
    from ..formulas.flops import Flops
    from ..formulas.path import PathReport
    from ..runtime import Target
    from ..spec.model import ModelTable, Spec

STEM_KERNEL = 3  # Whisper's conv1 and conv2


def stem_stride(m: ModelTable) -> int:
    """Input frames per encoder position (1 without a convolutional front end)."""
    return prod(m.stem_strides) if m.stem_strides else 1


def decoder_heads(m: ModelTable) -> int:
    return m.decoder_heads if m.decoder_heads is not None else m.head_count


def decoder_ffn(m: ModelTable) -> int:
    return m.decoder_d_ff if m.decoder_d_ff is not None else m.ffn_dim


def inner_width(m: ModelTable, heads: int) -> int:
    """q/k/v width of one stack: heads · head_size (T5's num_heads · d_kv), else d_model."""
    return heads * m.head_size if m.head_size is not None else m.d_model


def target_len(spec: Spec, n: int) -> int:
    """Decoder tokens per sample at encoder length n: `[train] target_len`, else n, at most the
    decoder's position rows."""
    m = spec.model
    t = spec.train.target_len if spec.train.target_len is not None else n
    if m.decoder_max_positions and m.positional == "learned":
        return min(t, m.decoder_max_positions - m.position_offset)
    return t


def _attention_shapes(m: ModelTable, inner: int, parts: frozenset[str]) -> list[Shape]:
    """k, v, q and the output projection, with their biases, as the classes hold them:
    separate Linears (BART's and Whisper's order k, v, q; T5's q, k, v hold the same shapes
    without biases). Separate, not one fused shape: the CPU optimizer loop's per-tensor
    temporaries and CUDA's per-tensor allocator rounding see the real tensors."""
    h = m.d_model
    out: list[Shape] = []
    for name in ("k", "v", "q"):
        out.append((inner, h))
        if "qkv" in parts or ("qv" in parts and name != "k"):  # Whisper: k_proj has no bias
            out.append((inner,))
    out.append((h, inner))
    if "out" in parts:
        out.append((h,))
    return out


def _mlp_shapes(m: ModelTable, parts: frozenset[str], f: int) -> list[Shape]:
    """One MLP as the classes hold it: wi (fc1), or a gated one's wi_0 and wi_1 apart (T5
    v1.1, mT5), then wo (fc2), with their biases."""
    h = m.d_model
    out: list[Shape] = []
    for _ in range(2 if gated(m) else 1):
        out.append((f, h))
        if "mlp" in parts:
            out.append((f,))
    out.append((h, f))
    if "mlp" in parts:
        out.append((h,))
    return out


def stack_shapes(m: ModelTable, decoder: bool) -> list[Shape]:
    """One stack's blocks (and its relative-bias table), in the classes' order."""
    parts, norm = bias_parts(m), norm_shapes(m, m.d_model)
    heads = decoder_heads(m) if decoder else m.head_count
    inner = inner_width(m, heads)
    f = decoder_ffn(m) if decoder else m.ffn_dim
    out: list[Shape] = []
    for i in range((m.decoder_layers or 0) if decoder else m.layers):
        out += _attention_shapes(m, inner, parts)
        if i == 0 and m.relative_buckets:
            out.append((m.relative_buckets, heads))
        out += norm
        if decoder:
            out += _attention_shapes(m, inner, parts) + norm
        out += _mlp_shapes(m, parts, f) + norm
    return out


@formula(
    "flops.encoder_decoder",
    "F_fwd = stem + L_e*(dense(T_e) + core(n_e,n_e)) + L_d*(dense(T_d) + core(n_d,n_d) "
    "+ cross q/o(T_d) + cross k/v(T_e) + core(n_d,n_e)) + 2*T_d*d*V; F_train = 3*F_fwd",
    "Vaswani et al. 2017 (encoder-decoder); torch.utils.flop_counter",
)
def encoder_decoder_flops(
    spec: Spec, n: int, batch: int, convention: str = "archcheck"
) -> tuple[int, int]:
    """Forward FLOPs of an encoder-decoder at encoder length n, and the convolutional front
    end's share of them. Cores: the encoder's is bidirectional, the decoder's self-attention
    causal (halved under the archcheck convention, whole under flop_counter's, which counts
    what SDPA and eager matmuls compute), the cross-attention's n_d x n_e."""
    from ..formulas.flops import attention_core_flops, dense_flops, matmul_flops

    m = spec.model
    h, b = m.d_model, batch
    nd = target_len(spec, n)
    te, td = b * n, b * nd
    ae, ad = m.head_count, decoder_heads(m)
    ie, id_ = inner_width(m, ae), inner_width(m, ad)
    hde, hdd = ie // ae, id_ // ad

    def dense(tokens: int, heads: int, hd: int, f: int) -> int:
        """q/k/v/o and the MLP of one block (no grouped-query attention here)."""
        return dense_flops(tokens, h, heads, heads, hd, f, matmul_mlp(m))

    enc = m.layers * (dense(te, ae, hde, m.ffn_dim) + attention_core_flops(b, ae, n, n, hde))
    half = convention != "flop_counter"
    dec_self = dense(td, ad, hdd, decoder_ffn(m)) + attention_core_flops(
        b, ad, nd, nd, hdd, causal_half=half
    )
    cross = (
        matmul_flops(td, h, id_)  # q
        + matmul_flops(te, h, 2 * id_)  # k, v over the encoder output
        + matmul_flops(td, id_, h)  # o
        + attention_core_flops(b, ad, nd, n, hdd)
    )
    dec = (m.decoder_layers or 0) * (dec_self + cross)
    head = matmul_flops(td, h, m.vocab or DEFAULT_VOCAB)
    stem = 0
    if m.stem_strides:
        c, length = m.in_channels or h, n * stem_stride(m)
        for s in m.stem_strides:
            length //= s
            stem += matmul_flops(b * length, c * STEM_KERNEL, h)
            c = h
    return stem + enc + dec + head, stem


def logits_bias(m: ModelTable) -> bool:
    """BART's `final_logits_bias`: a (1, vocab) fp32 buffer added to the head's output. BART is
    the post-norm encoder-decoder (T5 and Whisper are pre-norm), so post-norm stands for it.
    Under autocast the add promotes the 16-bit head output to fp32 logits."""
    return m.norm_placement == "post"


def _refusal(spec: Spec, target: Target) -> NotModelled | None:
    """Why `encdec_activations` does not model this spec on `target` (the key to change, and
    the probe to run instead), or None."""
    from ..runtime import attention_kernel

    m, t = spec.model, spec.train
    probe = (
        "measure it: `archcheck probe SPEC --device fake` (or `check --probe`) runs a training "
        "step of the model itself (the transformers class for a config.json)"
    )
    t5 = m.positional == "relative"
    if t5 and (m.norm != "rmsnorm" or m.mlp not in ("relu", "gelu", "geglu") or m.activation):
        return NotModelled(
            "the training-peak formula models T5's blocks (T5LayerNorm, a ReLU or GELU MLP, or "
            "gated-GELU's gelu_new) only",
            ("model", "mlp" if m.norm == "rmsnorm" else "norm"),
            probe,
        )
    if not t5 and (
        m.norm != "layernorm" or m.mlp not in ("gelu", "relu") or m.head_size is not None
    ):
        return NotModelled(
            "the encoder-decoder training-peak formula models LayerNorm blocks with a GELU or "
            "ReLU MLP and q/k/v of d_model (BART, Whisper) and T5's blocks",
            ("model", "norm" if m.norm != "layernorm" else "mlp"),
            probe,
        )
    if t5 and t.activation_dropout > 0:
        return NotModelled(
            "T5 drops its MLP's hidden activation at dropout_rate ([train] dropout), not at "
            "activation_dropout",
            ("train", "activation_dropout"),
            "remove train.activation_dropout",
        )
    if t.checkpointing:
        return NotModelled(
            "activation checkpointing of an encoder-decoder is not modelled",
            ("train", "checkpointing"),
            probe,
        )
    if not t5 and attention_kernel(spec, target) == "math" and (target.cuda or t.dtype != "fp32"):
        return NotModelled(
            f"on {target.label} in {t.dtype} the attention runs the math SDPA kernel (attention "
            "dropout, or asked for), whose fp32 upcasts and s² probabilities the "
            "encoder-decoder formula models in fp32 on the CPU only",
            ("train", "attention_dropout"),
            probe,
        )
    return None


@formula(
    "activations.encoder_decoder",
    "L_e*(attn(n) + mlp(n) + 2 norms + 2*b*n*h*4) + L_d*(attn(n_d) + cross(n_d, n) + mlp(n_d)"
    " + 3 norms + 3*b*n_d*h*4) + b*n*h*4 (+ 2*L_d*b*n*h*p autocast k/v casts) + logits + loss",
    "Korthikanti et al. 2022 per block, two stacks; measured on transformers' T5, BART and "
    "Whisper (benchmarks/encdec_saved.py)",
)
def encdec_activations(spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
    """Bytes an encoder-decoder's training forward keeps for backward, and the moments of its
    step (formulas/peak.py), as transformers' BART saves them (SDPA's fused kernels; measured
    per module with benchmarks/encdec_saved.py, the live set with benchmarks/peak_live_set.py).

    Per block, with p the activation bytes (4, or 2 under autocast) and sbh = b·s·d:
    every LayerNorm keeps its input (the residual add before it, sbh·4) and mean + rstd
    (2·sb·4), and its output is saved by the Linears that read it: the tensor itself in fp32,
    under autocast one 16-bit copy per Linear (q_proj, k_proj and v_proj are three: 3·sbh·2);
    attention saves q, k, v (their projections' outputs), its output and the fp32
    log-sum-exp (b·a·s·4); the MLP its activation's input and output (2·sbf·p; ReLU 1);
    dropout its masks (p bytes on the CPU, 1 on CUDA; the embedding's dropout reads the fp32
    norm output: 4 bytes on the CPU). Cross-attention adds q (n_d), k and v over the n
    encoder positions, its output and log-sum-exp; the encoder output is held (the model
    output holds it as encoder_last_hidden_state) and, under autocast, each decoder layer's
    k_proj and v_proj save their own 16-bit copy of it. Under autocast the 16-bit copies of
    every matmul weight (the tied head too) are saved. BART's final_logits_bias makes the
    logits fp32 whatever the dtype (the loss's float() copies nothing then).

    Whisper (pre-norm, a final norm per stack): its front end (`_stem_saved`); q, k and v made
    contiguous per head, so out_proj saves a copy of the attention output (sbh·p more per
    attention); its decoder's self-attention saves a float causal mask b·n_d²·p per layer
    (transformers builds a boolean mask there, not is_causal).

    T5 (pre-norm, T5LayerNorm: rsqrt and x·rsqrt on every target, no biases, q/k/v of
    heads·d_kv): its attention computes the scores itself (`attention` below: copies of q,
    k^T and v, fp32 softmax output, dropout mask and dropped probabilities, s² each), the
    relative-position buckets (int64, n² and n_d²), dropout inside the MLP and after each
    stack's final norm; gated-GELU (mT5) is gelu_new's decomposed form (ACT_SAVED)."""
    from ..formulas.params import params_from_spec
    from ..runtime import Precision, attention_kernel
    from ..runtime.cuda import cuda_alloc_size
    from ._base import cross_entropy_bytes
    from .transformer import act_saved

    if (why := _refusal(spec, target)) is not None:
        raise why
    m, t = spec.model, spec.train
    pr = Precision.of(spec, target)
    p, lowp = pr.act, pr.lowp
    b, h, V = batch, m.d_model, m.vocab or DEFAULT_VOCAB
    nd = target_len(spec, n)
    drop = t.dropout > 0
    mk = pr.mask  # masks of 16-bit (autocast) or fp32 activations; CUDA: 1-byte bool
    mk_emb = 1 if target.cuda else 4  # the embedding dropout reads an fp32 tensor
    post = m.norm_placement == "post"
    tokens_in = not m.stem_strides
    t5 = m.positional == "relative"  # T5's own attention (no SDPA) and T5LayerNorm
    # SDPA's math kernel (fp32 on the CPU: `_refusal`) saves what T5's attention saves:
    # contiguous copies of q, k^T and v, the probabilities, the dropout's mask and output,
    # and out_proj the transposed output's copy
    math = not t5 and attention_kernel(spec, target) == "math"
    # Whisper's attention (the front end's model) makes q, k and v contiguous per head, so the
    # fused kernel's output, laid out like q, is too, and transpose(1, 2).contiguous() copies
    # it for out_proj (the fake probe emulating CUDA runs the same kernel layouts); BART's q
    # is a view of its projection, so the output's transpose is contiguous already
    out_copy = bool(m.stem_strides)
    # Whisper's decoder builds a boolean causal mask (no is_causal: it passes position ids)
    # of (b, 1, n_d, n_d); every self-attention call converts it into a float mask of q's
    # dtype (where(mask, 0, -inf)) and saves that
    # (the math kernel adds it to its scores in place and keeps nothing)
    causal_mask = b * target_len(spec, n) ** 2 * p if m.stem_strides and not math else 0

    def read(sbh: int, linears: int) -> int:
        """An fp32 tensor read by `linears` Linears: saved once in fp32; under autocast each
        Linear saves its own 16-bit copy (and the fp32 tensor dies)."""
        return linears * sbh * p if lowp else sbh * 4

    adrop = t.attn_dropout > 0

    def attention(sq: int, sk: int, heads: int) -> int:
        """Saved bytes of one attention over sq queries and sk keys (b·sq·i·p = one q)."""
        i = inner_width(m, heads)
        if not t5 and not math:
            # the fused kernel: q, k, v (the projections' outputs or Whisper's contiguous
            # copies), its output and the fp32 log-sum-exp (Whisper: + out_proj's input copy)
            out = 2 * b * sq * i * p + 2 * b * sk * i * p + b * heads * sq * 4
            return out + (b * sq * i * p if out_copy else 0)
        # T5Attention: matmul(q, k^T) and matmul(probs, v) save contiguous copies of q, k^T
        # and v (views across heads of the projections), the fp32 softmax output
        # (softmax(scores.float())), then type_as(scores) and dropout: its mask and the
        # dropped probabilities (of p bytes; without dropout, under autocast, the type_as
        # copy), and o saves the transposed output's contiguous copy
        probs = b * heads * sq * sk
        out = 2 * b * sq * i * p + 2 * b * sk * i * p + probs * 4
        if adrop:
            out += probs * (mk + p)
        elif lowp:
            out += probs * p
        return out

    def mlp(sb: int, f: int) -> int:
        """Saved bytes of one MLP of width f over sb tokens."""
        sbf = sb * f * p
        if not t5:
            if t.activation_dropout <= 0:
                return act_saved(m) * sbf
            # activation_dropout: its mask, and fc2 saves the dropped hidden instead of the
            # activation's output, which only ReLU keeps for itself
            return (act_saved(m) + (m.mlp == "relu")) * sbf + sb * f * mk
        # T5DenseActDense / T5DenseGatedActDense: the activation's saved tensors (ReLU its
        # output, GELU its input; gated: gelu_new's input and three intermediates, and the
        # product's two operands), the dropout's mask, and wo's input: the dropped hidden
        # (under autocast: .to(wo.weight.dtype) makes it fp32, wo saves its 16-bit cast);
        # without dropout in fp32 ReLU's output is wo's input itself
        core = (ACT_SAVED["gelu_new"] - 1 + 2) * sbf if gated(m) else sbf
        if drop:
            core += sb * f * mk + sbf
        elif lowp or m.mlp != "relu":
            core += sbf
        return core

    ups = 2 if gated(m) else 1  # Linears reading the MLP's input (gated: wi_0 and wi_1)

    def stack(s: int, layers: int, heads: int, f: int, cross: int) -> tuple[int, int]:
        """(saved bytes of a stack's embedding stage and blocks, of one block) at s positions;
        cross: the encoder length its cross-attention reads (0: none). The stack's last norm
        output (the encoder output, the head's input) is left to the caller."""
        sb, sbh = b * s, b * s * h
        # LayerNorm: mean and rstd; T5LayerNorm (decomposed, on every target): rsqrt and
        # x·rsqrt (fp32; its input, the residual, is counted where it is made)
        stats = sb * 4 + sbh * 4 if t5 else 2 * sb * 4
        mask = sbh * mk if drop else 0
        attn = attention(s, s, heads)
        ff = mlp(sb, f)
        if post:
            # embedding sum (the norm's input), its statistics, the dropout mask, and the
            # first block's q/k/v inputs
            emb = sbh * 4 + stats + (sbh * mk_emb if t.emb_dropout > 0 else 0) + read(sbh, 3)
            block = attn + mask + sbh * 4 + stats  # attention, residual add, its norm
            if cross:
                block += read(sbh, 1) + attention(s, cross, heads) + mask + sbh * 4 + stats
            block += read(sbh, ups) + ff + mask + sbh * 4 + stats
            # each block's last norm output is the next block's q/k/v input (the last one's
            # is the caller's)
            body = layers * block + (layers - 1) * read(sbh, 3)
            one = block + read(sbh, 3)
        else:
            # the embedding sum (the first norm's input) and its dropout mask
            emb = sbh * 4 + (sbh * mk_emb if t.emb_dropout > 0 else 0)
            block = stats + read(sbh, 3) + attn + mask + sbh * 4
            if cross:
                block += causal_mask
                block += stats + read(sbh, 1) + attention(s, cross, heads) + mask + sbh * 4
            block += stats + read(sbh, ups) + ff + mask + sbh * 4
            body = layers * block + (stats if m.final_norm else 0)
            if t5 and t.emb_dropout > 0:
                body += sbh * mk_emb  # T5Stack drops the final norm's (fp32) output too
            one = block
        return emb + body, one

    ids = (b * n * 8 if tokens_in else 0) + b * nd * 8  # the source and target token ids
    if m.positional == "learned" and tokens_in:
        # position ids: the encoder's expanded to the batch, the decoder's one row (BART)
        ids += b * n * 8 + nd * 8
    elif m.positional == "learned":
        # Whisper: the encoder adds its table's first n rows (a slice, no ids); the decoder
        # looks its positions up by ids of the batch's shape
        ids += b * nd * 8
    if m.stem_strides:
        ids += _stem_saved(spec, n, b, p, lowp)
    if t5:
        # each stack's first block looks its relative-position bias up by int64 buckets of
        # (query, key) pairs, saved by the embedding's backward
        ids += (n * n + nd * nd) * 8
    enc, enc_block = stack(n, m.layers, m.head_count, m.ffn_dim, 0)
    L_d = m.decoder_layers or 0

    def t5_forward_moment(acts: int, head_in: int) -> int:
        """T5's largest forward moment (where the s² terms put it at long n; measured with
        benchmarks/peak_live_set.py on T5ForConditionalGeneration):

        - the end of the last attention call of a stack (the encoder's last self-attention;
          the decoder's last self- and cross-attention): beside what the forward saved so far
          the call still holds its scores (b·a·s_q·s_k·p: `scores` stays a local), q, k and
          v (the projections' outputs), attn@v before its transposed copy (under autocast
          also the layer's fp32 norm output, a local beside its 16-bit casts), and, under
          autocast with attention dropout, the probabilities' 16-bit copy (type_as) while
          dropout makes its mask and output;
        - the decoder's end inside T5Stack: its final norm's output beside the final
          dropout's mask and output;

        while T5Stack holds its inputs_embeds (b·s·d·4), the position bias with the mask
        added (b·a·s²·4, from the first block on), the decoder its fp32 causal mask
        (b·n_d²·4), its mask of ones and positions, the encoder's extended mask and, from
        its first block's cross-attention on, the cross-attention's zero bias with the
        encoder's mask added (b·a·n_d·n·4). Under autocast: the 16-bit copies of every
        matmul weight used so far."""
        ae, ad = m.head_count, decoder_heads(m)
        ie, id_ = inner_width(m, ae), inner_width(m, ad)

        def calling(sq: int, sk: int, heads: int, i: int) -> int:
            """Transients of one attention call at its largest moment (module docs)."""
            scores = b * heads * sq * sk * p
            projections = (b * sq * i + 2 * b * sk * i) * p
            if lowp:  # the layer's fp32 norm output, a local beside its 16-bit casts
                projections += b * sq * h * 4
            end = scores + projections + b * sq * i * p
            later = b * sk * i * p + b * sq * i * p  # v's copy, the output's (attention())
            if lowp and adrop:
                # at the dropout: the 16-bit probabilities, before v's copy, attn@v and the
                # output's copy exist
                return max(end, scores + projections + scores - later)
            if lowp:
                # at the softmax: the scores' fp32 copy (scores.float()), before the 16-bit
                # probabilities (saved: attention()) and the copies exist
                probs = b * heads * sq * sk
                return max(end, scores + projections + probs * 4 - probs * p - later)
            return end

        def weights(dec_blocks: int) -> int:
            """16-bit weight copies made (under autocast) once the encoder and this many
            decoder blocks ran."""
            if not lowp:
                return 0
            attn_e, attn_d = 4 * h * ie, 4 * h * id_
            mlp_e = h * m.ffn_dim * (ups + 1)
            mlp_d = h * decoder_ffn(m) * (ups + 1)
            return 2 * (m.layers * (attn_e + mlp_e) + dec_blocks * (2 * attn_d + mlp_d))

        sbe, sbhe = b * n, b * n * h
        # inputs_embeds, a local of T5Stack: a tensor apart from the first block's input
        # when the embedding dropout makes a new one
        embeds = int(t.emb_dropout > 0)
        stats_e, stats_d = sbe * 4 + sbhe * 4, b * nd * 4 + b * nd * h * 4
        emb_e = sbhe * 4 + (sbhe * mk_emb if t.emb_dropout > 0 else 0)
        # the encoder's last self-attention (its o projection, MLP not run yet)
        enc_last = (
            ids - nd * nd * 8
            + emb_e + (m.layers - 1) * enc_block + stats_e + read(sbhe, 3)
            + attention(n, n, ae)
            + embeds * sbhe * 4 + b * ae * n * n * 4 + calling(n, n, ae, ie)
        )  # fmt: skip
        if lowp:
            attn_e, mlp_e = 4 * h * ie, h * m.ffn_dim * (ups + 1)
            enc_last += 2 * (m.layers * (attn_e + mlp_e) - mlp_e - h * ie)
        # the decoder: the encoder's whole saved set and output, its own blocks so far
        sbd_, sbhd = b * nd, b * nd * h
        mask_d = sbhd * mk if drop else 0
        emb_d = sbhd * 4 + (sbhd * mk_emb if t.emb_dropout > 0 else 0)
        held = ids + enc + b * n * h * 4 + emb_d + embeds * sbhd * 4
        held += b * nd * nd * 4 + b * ad * nd * nd * 4  # causal mask, self position bias
        held += b * nd * 4 + nd * 8 + b * n * 4  # its mask of ones, positions, encoder mask
        cross_bias = b * ad * nd * n * 4
        dec_block = stats_d + read(sbhd, 3) + attention(nd, nd, ad) + mask_d + sbhd * 4
        dec_block += stats_d + read(sbhd, 1) + attention(nd, n, ad) + mask_d + sbhd * 4
        dec_block += stats_d + read(sbhd, ups) + mlp(sbd_, decoder_ffn(m)) + mask_d + sbhd * 4
        kv_casts = 2 * b * n * h * p if lowp else 0  # one decoder layer's k/v casts
        before = held + (L_d - 1) * (dec_block + kv_casts)
        self_last = before + stats_d + read(sbhd, 3) + attention(nd, nd, ad)
        self_last += calling(nd, nd, ad, id_) + (cross_bias if L_d > 1 else 0)
        self_last += weights(L_d - 1) + (2 * 3 * h * id_ if lowp else 0)
        cross_last = before + stats_d + read(sbhd, 3) + attention(nd, nd, ad) + mask_d
        cross_last += sbhd * 4 + stats_d + read(sbhd, 1) + kv_casts + attention(nd, n, ad)
        cross_last += calling(nd, n, ad, id_) + cross_bias
        cross_last += weights(L_d - 1) + (2 * 7 * h * id_ if lowp else 0)
        # the decoder's end, still inside T5Stack: its final norm's output beside the final
        # dropout's mask and output (the norm output dies with the rebinding), its locals
        # alive; the head's input and its weight copy not made yet
        stack_end = acts - head_in + (2 if drop else 1) * sbhd * 4
        stack_end += held - (ids + enc + b * n * h * 4 + emb_d) + (cross_bias if L_d else 0)
        if lowp:
            stack_end -= 2 * V * h
        return max(enc_last, self_last, cross_last, stack_end)

    dec, _ = stack(nd, L_d, decoder_heads(m), decoder_ffn(m), n)
    enc_out = b * n * h * 4  # held by the model output
    if lowp:  # each decoder layer's k_proj and v_proj copies
        enc_out += L_d * 2 * b * n * h * p
    head_in = read(b * nd * h, 1)
    acts = ids + enc + dec + enc_out + head_in
    if lowp:
        acts += 2 * _matmul_weights(spec)  # autocast's cached 16-bit weight copies

    one = cuda_alloc_size(4) if target.cuda else 4
    sbd = b * nd
    fp32_logits = logits_bias(m) or not lowp
    pl = 4 if fp32_logits else p
    ce = cross_entropy_bytes(sbd, V, pl, not fp32_logits, targets=False, scalar=one)
    fwd_peak = 0
    if logits_bias(m):
        # the head's output and its sum with the bias, both alive for the add
        fwd_peak = acts + sbd * V * (p + 4)
    if ce.forward_transient:
        fwd_peak = max(fwd_peak, acts + ce.end + ce.forward_transient)
    if t5:
        fwd_peak = max(fwd_peak, t5_forward_moment(acts, head_in))
    head_grad = V * h * 4
    table_uses = int(tokens_in) + 1 + int(m.tied_embeddings)  # encoder, decoder, tied head
    # the head's backward: its weight gradient, its input's gradient and the logits' gradient
    # (under BART's bias, the 16-bit head output's), beside the held logits
    extra = head_grad + 2 * sbd * h * 4 + sbd * V * p + ce.held
    if math:
        extra = max(extra, _math_backward(spec, n, b, ce.held, head_grad, head_in))
    sbe = b * n * h
    held = ce.held + sbe * 4  # the loop holds the model output: logits, loss, encoder output
    enc_w = 2 * _matmul_weights(spec, decoder=False) if lowp else 0
    trainable = params_from_spec(spec) - sum(prod(f) for f in EncoderDecoder().frozen_shapes(spec))
    # Late backward, the larger of two moments:
    # - the decoder's token lookup (its embedding backward): every decoder parameter's
    #   gradient, the token table's partial gradients (the tied head's, this lookup's, and
    #   their sum: 3·V·h·4; untied, this lookup's alone), the gradient waiting at the encoder
    #   output (sbe·4); alive the encoder's saved set, the ids and what the loop holds;
    # - the encoder's first block (with its embedding stage): every later gradient, the
    #   table's partial gradients in flight, the block's transients (3·sbe·4).
    dec_grads = 4 * (trainable - _encoder_params(spec) - (V * h if m.tied_embeddings else 0))
    partials = (3 if m.tied_embeddings else 1) * head_grad
    at_dec = ids + enc + held + sbe * 4 + enc_w + partials
    first = enc - (m.layers - 1) * enc_block + 3 * sbe * 4
    at_enc = ids + first + held + (2 * _first_block_weights(spec) if lowp else 0)
    at_enc += (2 if table_uses > 2 else 1) * head_grad if table_uses > 1 else 0
    enc_missing = 4 * _first_block_params(spec)
    if at_dec - (4 * trainable - dec_grads) >= at_enc - enc_missing:
        late, late_missing = at_dec, 4 * trainable - dec_grads
    else:
        late, late_missing = at_enc, enc_missing
    return ForwardSaved(
        acts,
        0,
        ce.end,
        backward_extra=extra,
        loss_backward=ce.backward,
        held_through_backward=held,
        # the token table's last backward: its partial gradients (the tied head's, the
        # decoder's and the encoder's lookups) alive until autograd sums them
        end_backward=2 * head_grad if table_uses > 1 else 0,
        late_activations=late,
        late_missing_grads=late_missing,
        forward_peak=fwd_peak,
        formula="activations.encoder_decoder",
    )


def _math_backward(spec: Spec, n: int, b: int, held: int, head_grad: int, head_in: int) -> int:
    """Bytes beyond the end-of-forward set while SDPA's math kernel (fp32, CPU) runs the
    backward of the last decoder block's cross-attention: its first bmm makes the gradient of
    the dropped probabilities (b·a·n_d·n·4) beside the gradient of the attention output and
    the one entering the block; the head's and the block's later gradients exist (the head's,
    the MLP's, its norms', the cross-attention's out projection's); what the head, the MLP,
    the norms after the cross-attention, its dropout and its out projection saved is freed.
    Measured on BartForConditionalGeneration and WhisperForConditionalGeneration with
    attention dropout (benchmarks/peak_live_set.py)."""
    from .transformer import act_saved

    m, t = spec.model, spec.train
    h, nd = m.d_model, target_len(spec, n)
    heads = decoder_heads(m)
    i, f = inner_width(m, heads), decoder_ffn(m)
    parts = bias_parts(m)
    sbh = b * nd * h
    mlp_params = sum(prod(s) for s in _mlp_shapes(m, parts, f))
    norm_params = sum(prod(s) for s in norm_shapes(m, h))
    o_params = h * i + (h if "out" in parts else 0)
    # the block's norms after the cross-attention: post-norm its cross and final norms;
    # pre-norm its MLP norm and the stack's final norm
    grads = head_grad + 4 * (mlp_params + 2 * norm_params + o_params)
    temps = b * heads * nd * n * 4 + b * nd * i * 4 + sbh * 4
    drop = sbh * 4 if t.dropout > 0 else 0  # fp32 CPU masks
    stats = 2 * b * nd * 4
    mlp_saved = act_saved(m) * b * nd * f * 4
    freed = drop + sbh * 4 + stats  # the cross-attention's dropout mask, residual, a norm
    freed += sbh * 4 + mlp_saved + drop + sbh * 4 + stats  # the MLP's input, tensors, norm
    freed += b * nd * i * 4 + head_in  # out_proj's input, the head's
    return held + grads + temps - freed


def _stem_saved(spec: Spec, n: int, b: int, p: int, lowp: bool) -> int:
    """The convolutional front end (Whisper: conv1, GELU, conv2 (stride 2), GELU): the input
    features (b·C·n·stride) the first convolution saves (under autocast its own 16-bit copy:
    the fp32 features, which the loop does not hold, die), each convolution's output (saved by its GELU) and each
    GELU's output but the last (saved by the next convolution); the last GELU's output plus
    the positions is the encoder's first residual (the stack counts it)."""
    m = spec.model
    h, length = m.d_model, n * stem_stride(m)
    c = m.in_channels or h
    out = b * c * length * p
    for i, s in enumerate(m.stem_strides or []):
        length //= s
        out += b * h * length * p * (2 if i + 1 < len(m.stem_strides or []) else 1)
    return out


def _matmul_weights(spec: Spec, decoder: bool = True) -> int:
    """Elements of every matmul weight (2-D parameter but the token and position tables), of
    the front end's convolutions and of the head (tied: the token table, which it
    multiplies): autocast keeps a 16-bit copy of each. decoder=False: the encoder's alone."""
    m = spec.model
    h, V = m.d_model, m.vocab or DEFAULT_VOCAB
    enc = sum(prod(s) for s in stack_shapes(m, decoder=False) if len(s) == 2)
    dec = sum(prod(s) for s in stack_shapes(m, decoder=True) if len(s) == 2)
    if m.relative_buckets:  # the bias tables are looked up, not multiplied
        enc -= m.relative_buckets * m.head_count
        dec -= m.relative_buckets * decoder_heads(m)
    stem, c = 0, m.in_channels or h  # the convolutions' weights are cast too
    for _ in m.stem_strides or []:
        stem += h * c * STEM_KERNEL
        c = h
    return enc + stem + (dec + V * h if decoder else 0)


def _first_block_weights(spec: Spec) -> int:
    """Elements of the encoder's first block's matmul weights and the front end's (their
    16-bit copies are saved until the block's backward)."""
    one = spec.model_copy(update={"model": spec.model.model_copy(update={"layers": 1})})
    return _matmul_weights(one, decoder=False)


def _encoder_params(spec: Spec) -> int:
    """Parameters of the encoder side but the shared token table: its blocks, final norm,
    position table, embedding norm and front end (their gradients come after the decoder's
    token lookup's backward)."""
    m = spec.model
    out = sum(prod(s) for s in stack_shapes(m, decoder=False))
    if m.final_norm:
        out += sum(prod(s) for s in norm_shapes(m, m.d_model))
    if m.positional == "learned":
        out += EncoderDecoder._rows(spec, decoder=False) * m.d_model
    if m.embed_norm:
        out += sum(prod(s) for s in norm_shapes(m, m.d_model))
    c = m.in_channels or m.d_model
    for _ in m.stem_strides or []:
        out += m.d_model * (c * STEM_KERNEL + 1)
        c = m.d_model
    return out


def _first_block_params(spec: Spec) -> int:
    """Parameters whose gradients come last: the encoder's first block, its position table and
    embedding norm."""
    m = spec.model
    one = stack_shapes(m.model_copy(update={"layers": 1}), decoder=False)
    out = sum(prod(s) for s in one)
    if m.positional == "learned":
        out += EncoderDecoder._rows(spec, decoder=False) * m.d_model
    if m.embed_norm:
        out += sum(prod(s) for s in norm_shapes(m, m.d_model))
    c = m.in_channels or m.d_model
    for _ in m.stem_strides or []:  # the front end's convolutions and biases
        out += m.d_model * (c * STEM_KERNEL + 1)
        c = m.d_model
    return out


@register
class EncoderDecoder(Family):
    name = "encoder-decoder"
    serves = ("encoder-decoder",)
    summary = "encoder-decoder Transformers with cross-attention: T5, BART, Whisper"
    attention = True
    models_cross_entropy = True  # the probe trains on the LM head's cross-entropy
    models_activation_dropout = True  # BART's and Whisper's MLP dropout
    no_behaviour = (
        "the behavioural checks probe one input sequence; an encoder-decoder reads two "
        "(source and target)"
    )
    flops_formula = "flops.encoder_decoder"
    path_formula = "path.attention"

    def param_shapes(self, spec: Spec) -> list[Shape]:
        """Every parameter tensor, shared ones once, in the transformers classes' order."""
        m = spec.model
        h, v = m.d_model, m.vocab or DEFAULT_VOCAB
        norm = norm_shapes(m, h)
        out: list[Shape] = [(v, h)]  # the shared token table (Whisper: the decoder's)
        if m.stem_strides:
            c = m.in_channels or h
            for _ in m.stem_strides:
                out += [(h, c, STEM_KERNEL), (h,)]
                c = h
        if m.positional == "learned":
            out.append((self._rows(spec, decoder=False), h))
        if m.embed_norm:
            out += norm
        out += stack_shapes(m, decoder=False)
        if m.final_norm:
            out += norm
        if m.positional == "learned":
            out.append((self._rows(spec, decoder=True), h))
        if m.embed_norm:
            out += norm
        out += stack_shapes(m, decoder=True)
        if m.final_norm:
            out += norm
        if not m.tied_embeddings:
            out.append((v, h))
        if "head" in bias_parts(m):
            out.append((v,))
        return out

    @staticmethod
    def _rows(spec: Spec, decoder: bool) -> int:
        m = spec.model
        rows = m.decoder_max_positions if decoder else m.max_positions
        if rows is not None:  # reserved rows included (BART: max_position_embeddings + 2)
            return rows
        n = max(spec.train_n, spec.budget_n)
        return (target_len(spec, n) if decoder else n) + m.position_offset

    def not_modelled(self, spec: Spec) -> dict[str, NotModelled]:
        """The KV cache always; the training peak where `encdec_activations` refuses the spec
        on its own target (checkpointing, the math kernel)."""
        from ..runtime import target_for

        return self.not_modelled_on(spec, target_for(spec))

    def not_modelled_on(self, spec: Spec, target: Target) -> dict[str, NotModelled]:
        out: dict[str, NotModelled] = {
            "kv_cache": NotModelled(
                "the KV cache of an encoder-decoder (the decoder's self-attention cache and "
                "the cross-attention keys and values of every source position) is not modelled",
                ("model", "family"),
                "measure the inference peak on the model itself (torch.cuda.max_memory_allocated"
                " around model.generate)",
            ),
        }
        if (why := _refusal(spec, target)) is not None:
            out["memory"] = why
        return out

    def buffer_bytes(self, spec: Spec) -> int:
        """BART's final_logits_bias, (1, vocab) fp32."""
        m = spec.model
        return (m.vocab or DEFAULT_VOCAB) * 4 if logits_bias(m) else 0

    def frozen_shapes(self, spec: Spec) -> list[Shape]:
        """Whisper's encoder positions: a sinusoidal table the encoder freezes
        (embed_positions.requires_grad_(False)), a parameter without gradient."""
        m = spec.model
        if m.stem_strides and m.positional == "learned":
            return [(self._rows(spec, decoder=False), m.d_model)]
        return []

    def forward_saved(self, spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
        return encdec_activations(spec, n, batch, target)

    def flops(self, spec: Spec, n: int, batch: int, convention: str = "archcheck") -> Flops:
        from ..formulas.flops import Flops

        forward, _ = encoder_decoder_flops(spec, n, batch, convention)
        return Flops(forward, 3 * forward)

    def path(self, spec: Spec, span: int | None, n: int) -> PathReport:
        from ..formulas.path import attention_path

        # every target position attends to every source position (cross-attention), and the
        # encoder's attention is bidirectional
        return attention_path(span, spec.model.layers, "full", 0, causal=False)

    def is_causal(self, spec: Spec) -> bool:
        return False  # the decoder is causal in its targets, the model is not in its source

    def dimension_problems(self, spec: Spec) -> Iterator[Problem]:
        m = spec.model
        if m.decoder_layers is None:
            yield (
                'family = "encoder-decoder" needs decoder_layers',
                ("model", "decoder_layers"),
                "set model.decoder_layers (T5-small: 6)",
            )
        for key, heads in (("heads", m.head_count), ("decoder_heads", decoder_heads(m))):
            if m.head_size is None and m.d_model % heads:
                yield (
                    f"d_model {m.d_model} is not divisible by {key} {heads}",
                    ("model", key),
                    "choose heads that divide d_model, or set head_size",
                )
        if m.kv_heads is not None and m.kv_heads != m.head_count:
            yield (
                "grouped-query attention is not modelled for encoder-decoders",
                ("model", "kv_heads"),
                "remove kv_heads",
            )
        if m.stem_strides and m.in_channels is None:
            yield (
                "a convolutional front end (stem_strides) needs in_channels",
                ("model", "in_channels"),
                "set model.in_channels (Whisper: num_mel_bins, 80)",
            )
        if m.vocab is None:
            yield ("an encoder-decoder needs a vocab size", ("model", "vocab"), None)
        from ..formulas.params import params_from_spec

        if (total := params_from_spec(spec)) > ABSURD_PARAMS:
            yield (
                f"the spec describes ~10^{len(str(total)) - 1} parameters, over 10^15: a unit "
                "or a typo in a size",
                ("model", "d_model"),
                "check d_model, d_ff, vocab and the layer counts",
            )

    def reference_module(self, spec: Spec) -> Any:
        from ..probe.build import FactoryError

        raise FactoryError(
            "the encoder-decoder family has no reference module: extend a Hugging Face "
            "config.json (with transformers installed, the probe builds the class itself) or "
            "set model.factory"
        )

    def input_kind(self, spec: Spec) -> str:
        return "channels" if spec.model.stem_strides else "tokens"

    def make_inputs(self, spec: Spec, n: int, batch: int, device: Any) -> tuple[Any, ...]:
        """The source (token ids (B, n), or features (B, in_channels, n · stride)), no mask,
        and the decoder's token ids (B, target_len): the positional arguments of the
        transformers classes' forward(input_ids | input_features, attention_mask,
        decoder_input_ids)."""
        from .reference import seq2seq_inputs

        m = spec.model
        source = (m.in_channels or m.d_model, n * stem_stride(m)) if m.stem_strides else (n,)
        return seq2seq_inputs(spec, batch, source, target_len(spec, n), device)
