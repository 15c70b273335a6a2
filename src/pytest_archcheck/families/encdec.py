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

Not modelled (refused, `NotModelled`, never guessed): the training-peak formula and the
inference latency / KV cache. `archcheck probe` measures the peak on the transformers class
itself (`probe/hf_class.py`), so a budget still gets a real number.
"""

from __future__ import annotations

from collections.abc import Iterator
from math import prod
from typing import TYPE_CHECKING, Any

from ..formulas.registry import formula
from . import Family, ForwardSaved, Problem, Shape, register
from ._base import DEFAULT_VOCAB, NotModelled
from .transformer import ABSURD_PARAMS, bias_parts, matmul_mlp, mlp_shapes, norm_shapes

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
    """q, k, v (as one shape) and the output projection, with their biases."""
    h = m.d_model
    out: list[Shape] = [(3 * inner, h)]
    if "qkv" in parts:
        out.append((3 * inner,))
    elif "qv" in parts:  # Whisper: k_proj has no bias
        out.append((2 * inner,))
    out.append((h, inner))
    if "out" in parts:
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
        out += mlp_shapes(m, parts, f) + norm
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


@register
class EncoderDecoder(Family):
    name = "encoder-decoder"
    serves = ("encoder-decoder",)
    summary = "encoder-decoder Transformers with cross-attention: T5, BART, Whisper"
    attention = True
    models_cross_entropy = True  # the probe trains on the LM head's cross-entropy
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
        measure = (
            "measure it: `archcheck probe SPEC --device fake` (or `check --probe`) runs a "
            "training step of the model itself (the transformers class for a config.json)"
        )
        return {
            "memory": NotModelled(
                "the training-peak formula does not model encoder-decoders yet (two stacks, "
                "cross-attention, the decoder's own length)",
                ("model", "family"),
                measure,
            ),
            "kv_cache": NotModelled(
                "the KV cache of an encoder-decoder (the decoder's self-attention cache and "
                "the cross-attention keys and values of every source position) is not modelled",
                ("model", "family"),
                "measure the inference peak on the model itself (torch.cuda.max_memory_allocated"
                " around model.generate)",
            ),
        }

    def forward_saved(self, spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
        raise self.not_modelled(spec)["memory"]

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
