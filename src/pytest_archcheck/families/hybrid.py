"""Hybrid family: a stage list (`[[model.stage]]`) composed from the other family units.

The article's answer when the span d is large and the budget small is "compress + local + a
little global": a strided convolution stem shortens the sequence the attention sees (n -> n/S,
attention cost / S² for full attention, / S for a window), then Transformer blocks -- windowed,
with a few global layers (`global_every`, families/transformer.py) -- carry the long-range
dependencies. Modelled here: a 1-D conv stem (family "cnn" or "tcn") followed by Transformer
blocks. Every figure is the composition of the stage units' own figures, each at its own n:

- parameters: the stem's (embedding + convolutions, no head) then the blocks' (no embedding
  table, the hybrid's head);
- n per stage: the stem's output length (formulas/flops.py conv_output_length per layer);
- saved bytes: the stem's end-of-forward set (less its last dropout output, which dies in the
  hand-over) + the blocks' at n/S. The hand-over is one fp32 row-major copy of the stem's
  (b, c, n/S) output -- the residual stream's dtype under autocast --, which the blocks' formula
  counts as its input h0. Backward: the blocks' early backward (loss, head, last layer), then
  the later of two moments: the blocks' first layer (with the stem still saved and its
  gradients not yet made) or the stem's own backward walk, which receives the fp32 gradient of
  the hand-over (activations.conv1d_backward with `incoming`);
- FLOPs: the sum of the stages' at their n; latency: the sum of the stages' rooflines, and
  with `[infer] new_tokens` the streaming stem's new outputs plus the blocks' decode steps
  over their KV cache, one per S inputs (latency.hybrid_decode);
- reach: composed as Distill's receptive-field recurrence composes layers (Araujo et al. 2019):
  reach = r_stem + S · reach_blocks, unlimited when the blocks' is; path length: the stem's
  layers, then the blocks' path for the rest of the span in their own positions;
- KV cache: the blocks' cache at n/S positions (a token of the blocks stands for S inputs).

What is not modelled is refused (ARC304 naming `model.stage`): other stage orders or
families, more than one stem or block stage, a stem whose last width differs from the blocks'
d_model, a stem padded against the hybrid's causality. A stage that repeats one of the
hybrid's own keys (input, head, classes, vocab, pooler, causal) with another value is ARC302.
"""

from __future__ import annotations

from collections.abc import Iterator
from math import ceil, prod
from typing import TYPE_CHECKING, Any, ClassVar

from ..formulas.registry import formula
from . import Family, ForwardSaved, NotModelled, Problem, Shape, register

if TYPE_CHECKING:
    from ..formulas.devices import Device
    from ..formulas.flops import Flops
    from ..formulas.latency import LatencyEstimate
    from ..formulas.path import PathReport
    from ..runtime import Target
    from ..spec.model import ModelTable, Spec

STEM_FAMILIES = ("cnn", "tcn")
RECURRENT_FAMILIES = ("lstm", "gru", "rnn")
BLOCK_FAMILIES = ("transformer", *RECURRENT_FAMILIES)
# keys the hybrid table decides for its stages (what the model takes in and puts out, and its
# causality): a stage may repeat them only with the value the hybrid gives it
RESERVED = ("input", "head", "classes", "vocab", "pooler", "causal", "stage", "factory", "name")


class HybridError(NotModelled):
    """A stage list this unit does not model (reported as ARC304 on model.stage)."""


def merge_stages(data: dict[str, Any]) -> dict[str, Any]:
    """The raw [model] table with every stage completed from it (ModelTable's before-validator,
    so that a validated stage is a whole table and a dump / re-validate round trip -- the probe
    worker's -- gives the same stages). The first stage takes the hybrid's input, the last its
    head, the others none; a stage's input width is the previous stage's output width; a stem
    pads causally when the hybrid is causal, else on both sides. A stage that writes a key the
    hybrid decides, with another value, is refused (ValueError: ARC302 on the [model] table)."""
    stages = data.get("stage")
    if data.get("family", "transformer") != "hybrid":
        raise ValueError('model.stage is only read with family = "hybrid"')
    if not isinstance(stages, list) or not all(isinstance(st, dict) for st in stages):
        return data  # pydantic reports the wrong type
    causal = data.get("causal", True)
    width = data.get("d_model", 768)
    out: list[dict[str, Any]] = []
    for i, st in enumerate(stages):
        first, last = i == 0, i == len(stages) - 1
        decided: dict[str, Any] = {"causal": causal, "stage": None, "factory": None, "name": None}
        if first:
            decided["input"] = data.get("input", "tokens")
            decided["vocab"] = data.get("vocab")
        else:
            decided["input"] = "embeddings"
        if last:
            decided |= {k: data.get(k) for k in ("head", "classes", "vocab")}
            decided["pooler"] = data.get("pooler", False)
        else:
            decided |= {"head": "none", "classes": None, "pooler": False}
            if not first:
                decided["vocab"] = None
        clash = sorted(k for k in RESERVED if k in st and k in decided and st[k] != decided[k])
        if clash:
            raise ValueError(
                f"model.stage {i + 1} sets {', '.join(clash)}: the hybrid's own [model] table "
                "says what the model takes in and puts out (and whether it is causal)"
            )
        inherited: dict[str, Any] = {"bias": data.get("bias", "all"), "d_model": width}
        if first and data.get("in_channels") is not None:
            inherited["in_channels"] = data["in_channels"]
        if data.get("forget_bias") is not None:  # ARC210 reads the hybrid table's
            inherited["forget_bias"] = data["forget_bias"]
        if st.get("family") in STEM_FAMILIES:
            inherited["padding"] = "causal" if causal else "same"
        merged = inherited | st | decided
        out.append(merged)
        if merged.get("family") in STEM_FAMILIES:
            ch = merged.get("channels", merged["d_model"])
            width = ch[-1] if isinstance(ch, list) and ch else ch
        else:
            width = merged.get("d_model", width)
    return {**data, "stage": fold_stems(out)}


# per-layer keys of a conv stage: what joining two consecutive conv stages concatenates
_PER_LAYER = ("kernel", "strides", "dilations", "channels")
# keys that only the first (input side) or the last (output side) of two joined stages decides
_FIRST_SIDE = ("d_model", "in_channels", "input", "vocab")
_LAST_SIDE = ("head", "classes", "pooler")


def _layer_lists(st: dict[str, Any]) -> dict[str, list[Any]] | None:
    """A completed conv stage's per-layer values as lists of `layers` entries (defaults as
    ModelTable's: kernel 3, stride 1, dilation 1, channels d_model), or None where a value has
    a shape pydantic will refuse (then the stages are left apart, to be reported as written)."""
    layers = st.get("layers", 1)
    if not isinstance(layers, int) or isinstance(layers, bool) or layers < 1:
        return None
    defaults = {"kernel": 3, "strides": [1] * layers, "dilations": [1] * layers,
                "channels": st.get("d_model", 768)}  # fmt: skip
    out: dict[str, list[Any]] = {}
    for key in _PER_LAYER:
        v = st.get(key)
        v = defaults[key] if v is None else v
        if isinstance(v, list):
            if len(v) != layers:
                return None
            out[key] = list(v)
        elif key in ("kernel", "channels") and isinstance(v, int) and not isinstance(v, bool):
            out[key] = [v] * layers  # a scalar repeats for every layer (ModelTable)
        else:
            return None
    return out


def fold_stems(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive conv stages of one family and one kind of layer (the same keys apart from
    the per-layer lists and the input / output sides) are one stem: their layers in order. The
    conv unit is layer-wise (conv, activation, dropout per layer; an embedding before the first,
    a head after the last), so the joined stage is the same module, with the same parameters,
    saved bytes, FLOPs, lengths and reach (r = r_1 + S_1 · r_2, Araujo et al. 2019) as the two
    composed. Stages that differ in another key stay apart (and are refused as a stage list)."""
    out: list[dict[str, Any]] = []
    for st in stages:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.get("family") in STEM_FAMILIES
            and st.get("family") == prev.get("family")
            and (a := _layer_lists(prev)) is not None
            and (b := _layer_lists(st)) is not None
            and _stack_keys(prev) == _stack_keys(st)
            # the second stage takes the first's output as it is (a width written in it
            # that differs is a mismatch to report, not to join over)
            and "in_channels" not in st
            and st.get("d_model") == a["channels"][-1]
        ):
            joined = {k: v for k, v in st.items() if k not in _FIRST_SIDE}
            joined |= {k: prev[k] for k in _FIRST_SIDE if k in prev}
            joined |= {k: a[k] + b[k] for k in _PER_LAYER}
            joined["layers"] = prev.get("layers", 1) + st.get("layers", 1)
            out[-1] = joined
        else:
            out.append(st)
    return out


def _stack_keys(st: dict[str, Any]) -> dict[str, Any]:
    """What must agree for two conv stages to be one stack."""
    skip = {*_PER_LAYER, *_FIRST_SIDE, *_LAST_SIDE, "layers"}
    return {k: v for k, v in st.items() if k not in skip}


def structure_problem(m: ModelTable) -> str | None:
    """Why the stage list is not modelled, or None."""
    stages = m.stage or []
    fams = [st.family for st in stages]
    if len(stages) != 2 or fams[0] not in STEM_FAMILIES or fams[1] not in BLOCK_FAMILIES:
        return (
            f"stages {fams or '[]'} are not modelled: a hybrid is a 1-D conv stem "
            f"(family {' | '.join(STEM_FAMILIES)}; consecutive conv stages of one family and "
            f"the same keys join into one stem) followed by one stage of "
            f"{' | '.join(BLOCK_FAMILIES)}"
        )
    return None


_STAGES: dict[int, tuple[Spec, tuple[Spec, ...]]] = {}


def stage_specs(spec: Spec) -> tuple[Spec, ...]:
    """The stage specs of `spec`, built once per spec object (the same stage objects each
    time, so the stage units' own per-spec caches hold across the n_max search)."""
    hit = _STAGES.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    out = _build_stages(spec)
    if len(_STAGES) >= 256:
        _STAGES.clear()
    _STAGES[id(spec)] = (spec, out)
    return out


def _build_stages(spec: Spec) -> tuple[Spec, ...]:
    """One spec per stage (the stage tables are whole: merge_stages completed them), with each
    stage's n the previous stage's output length ([train] seq_len, [budget] max_n and [infer]
    seq_len mapped through the stem).

    Raises HybridError for a stage list this unit does not model."""
    m = spec.model
    if (why := structure_problem(m)) is not None:
        raise HybridError(why)
    out: list[Spec] = []
    lengths = (spec.train_n, spec.budget_n, spec.infer_n)
    for table in m.stage or []:
        seq = spec.train.model_copy(update={"seq_len": lengths[0]})
        bud = spec.budget.model_copy(update={"max_n": lengths[1]})
        inf = spec.infer.model_copy(update={"seq_len": lengths[2]})
        out.append(spec.model_copy(update={"model": table, "train": seq, "budget": bud,
                                           "infer": inf}))  # fmt: skip
        lengths = tuple(stage_length(table, n) for n in lengths)  # type: ignore[assignment]
    return tuple(out)


def _out_width(m: ModelTable) -> int:
    if m.family in STEM_FAMILIES:
        return m.channel_list()[-1]
    return m.d_model


def stage_length(m: ModelTable, n: int) -> int:
    """Positions a stage hands on for n positions in (a conv stem: its output length)."""
    if m.family not in STEM_FAMILIES:
        return n
    from ..formulas.flops import conv_output_length
    from .conv1d import padding

    pad = padding(m)
    for k, st, dil in zip(m.kernel_list(), m.stride_list(), m.dilation_list(), strict=True):
        n = conv_output_length(n, k, st, dil, pad)
    return n


@formula(
    "path.hybrid",
    "reach = r_stem + S*reach_blocks (unlimited if the blocks' is); path = stem layers + "
    "blocks' path for ceil((d - r_stem)/S); steps = Σ stage steps",
    "Araujo et al. 2019 (Distill), receptive fields composed layer by layer; DESIGN.md §4",
)
def hybrid_path(span: int | None, stem: PathReport, blocks: PathReport, stride: int,
                blocks_for: Any) -> PathReport:  # fmt: skip
    """Compose the stem's and the blocks' path reports; `blocks_for(d)` is the blocks' report
    for a span of d of their own positions."""
    from ..formulas.path import PathReport

    reach = (
        None if blocks.reach is None or stem.reach is None else stem.reach + stride * blocks.reach
    )
    pl: int | None = None
    covered: bool | None = None
    if span is not None:
        covered = reach is None or reach >= span
        if covered:
            r_stem = stem.reach or 0
            if span <= r_stem:
                pl = stem.path_length
            else:
                rest = blocks_for(ceil((span - r_stem) / stride))
                pl = (stem.sequential_steps + rest.path_length) if rest.path_length else None
    rf = None
    if reach is not None and stem.receptive_field is not None:
        both = 2 if blocks.directions == "both" else 1
        rf = stem.receptive_field + stride * (blocks.reach or 0) * both
    return PathReport(
        span=span,
        reach=reach,
        directions=blocks.directions,
        path_length=pl,
        covered=covered,
        sequential_steps=stem.sequential_steps + blocks.sequential_steps,
        receptive_field=rf,
        # [train] bptt counts input positions: the chunk the training loop feeds at a time
        gradient_horizon=blocks.gradient_horizon,
    )


@formula(
    "activations.hybrid",
    "stem (no head, less its last dropout output) + blocks at n/S (h0 = the fp32 hand-over); "
    "late: max(blocks' first layer + stem, stem's walk with the hand-over's gradient)",
    "activations.conv1d, activations.transformer composed (families/hybrid.py)",
)
def hybrid_activations(spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
    """Bytes a hybrid's training forward keeps for backward (see the module docs)."""
    from ..formulas.params import shapes_from_spec
    from ..runtime import Precision
    from . import family_of
    from .conv1d import conv1d_activations

    stem, blocks = stage_specs(spec)
    n1 = stage_length(stem.model, n)
    c = stem.model.channel_list()[-1]
    handover = batch * n1 * c * 4  # the fp32 row-major copy the blocks take as h0
    fs = conv1d_activations(stem, n, batch, target, incoming=handover)
    fb = family_of(blocks).forward_saved(blocks, n1, batch, target)
    p = Precision.of(spec, target).act
    hold = batch * c * n1 * p if spec.train.dropout > 0 else 0  # dies after the hand-over
    stem_end = fs.activations - hold
    acts = stem_end + fb.activations
    end = acts + (0 if fb.scores_transient else fb.attention_scores) + fb.logits
    fwd = max(
        fs.forward_peak,
        fs.activations + handover,  # the copy made while the stem's output still lives
        stem_end + fb.forward_peak if fb.forward_peak else 0,
    )
    stem_grads = 4 * sum(prod(s) for s in shapes_from_spec(stem))
    # late backward: the blocks' first layer (stem saved, its gradients not made) or the
    # stem's own backward walk (every block gradient made)
    first_layer = (stem_end + fb.late_activations, fb.late_missing_grads + stem_grads)
    stem_walk = (fs.activations + fs.backward_extra, stem_grads)
    if not fb.late_activations:  # a unit without a late moment of its own (recurrent)
        first_layer = (0, 0)
    late = max(first_layer, stem_walk, key=lambda t: t[0] - t[1])
    return ForwardSaved(
        acts,
        fb.attention_scores,
        fb.logits,
        backward_extra=fb.backward_extra,
        loss_backward=fb.loss_backward,
        held_through_backward=fb.held_through_backward,
        late_activations=late[0],
        late_missing_grads=late[1],
        forward_peak=fwd if fwd > end else 0,
        scores_transient=fb.scores_transient,
        formula="activations.hybrid",
    )


def _added(a: LatencyEstimate, b: LatencyEstimate) -> LatencyEstimate:
    """Two latencies run one after the other."""
    from dataclasses import replace

    return replace(
        a, seconds=a.seconds + b.seconds, steps=a.steps + b.steps,
        compute_s=a.compute_s + b.compute_s, memory_s=a.memory_s + b.memory_s,
        overhead_s=a.overhead_s + b.overhead_s,
    )  # fmt: skip


@formula(
    "latency.hybrid_decode",
    "t = t_stem(n) + t_blocks(n_1 prefill, Δ decode steps over their KV cache) + "
    "Σ_layers Δ_l · roofline(2·b·c_in·c_out·k, W_l + b·(k·c_in + c_out)) ; "
    "Δ_l = L_l(n + T) − L_l(n)",
    "Pope et al. 2022 (decode reads weights + KV cache), streaming causal convolution "
    "(each layer computes an output when its stride's inputs have arrived)",
)
def hybrid_decode_latency(
    unit: Any, spec: Spec, device: Device, overhead_s: float
) -> LatencyEstimate | None:
    """Generation through a causal stem of total stride S, with the blocks' KV cache: the
    prefill is the stages' forward over [infer] seq_len n; then T = new_tokens inputs stream
    in. Stem layer l (its lengths L_l composed through the layers before it) emits
    Δ_l = L_l(n + T) − L_l(n) new outputs, each one step reading the layer's weights and its
    kernel's inputs; the blocks take Δ = L_stem(n + T) − L_stem(n) new positions (about T / S),
    each a decode step of the blocks' own unit over their cache (a windowed layer reads at most
    its window, a global layer every position: transformer.latency); a recurrent stage runs Δ
    more time steps. None where a stage has no latency."""
    from ..formulas.flops import conv_output_length
    from ..formulas.latency import _Acc
    from ..spec.model import DTYPE_BYTES
    from .conv1d import input_width, padding

    (fs, stem), (fb, blocks) = unit.units(spec)
    n, t = spec.infer_n, spec.infer.new_tokens
    dtype = spec.infer.dtype or spec.train.dtype
    prefill = fs.latency(stem.model_copy(update={"infer": stem.infer.model_copy(
        update={"new_tokens": 0})}), device, overhead_s)  # fmt: skip
    m = stem.model
    acc = _Acc(device, dtype, overhead_s)
    b, p = spec.infer.batch, DTYPE_BYTES[dtype]
    before, after, c_in = n, n + t, input_width(m)
    pad = padding(m)
    for c, k, st, dil in zip(m.channel_list(), m.kernel_list(), m.stride_list(),
                             m.dilation_list(), strict=True):  # fmt: skip
        before = conv_output_length(before, k, st, dil, pad)
        after = conv_output_length(after, k, st, dil, pad)
        if after > before:
            acc.add(2 * b * c_in * c * k, (c * c_in * k + b * (k * c_in + c)) * p, after - before)
        c_in = c
    n1 = before
    delta = after - n1
    if fb.recurrent:  # an RNN generates by running more time steps over its state
        inf = blocks.infer.model_copy(update={"seq_len": n1 + delta, "new_tokens": 0})
    else:
        inf = blocks.infer.model_copy(update={"seq_len": n1, "new_tokens": delta})
    rest = fb.latency(blocks.model_copy(update={"infer": inf}), device, overhead_s)
    if prefill is None or rest is None:
        return None
    return _added(_added(prefill, rest), acc.result()) if acc.steps else _added(prefill, rest)


class _Hybrid(Family):
    """Shared composition; the registered unit below says which stage lists it serves."""

    serves = ("hybrid",)
    models_cross_entropy = True
    flops_formula = "flops.hybrid"
    latency_formula = "latency.hybrid"
    path_formula = "path.hybrid"

    def units(self, spec: Spec) -> tuple[tuple[Family, Spec], ...]:
        from . import family_of

        return tuple((family_of(s), s) for s in stage_specs(spec))

    def output_stride(self, spec: Spec) -> int:
        from ..formulas.path import effective_stride

        stem = stage_specs(spec)[0].model
        return effective_stride(stem.stride_list())

    def output_length(self, spec: Spec, n: int) -> int:
        for s in stage_specs(spec):
            n = stage_length(s.model, n)
        return n

    def param_shapes(self, spec: Spec) -> list[Shape]:
        return [sh for fam, s in self.units(spec) for sh in fam.param_shapes(s)]

    def forward_saved(self, spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
        return hybrid_activations(spec, n, batch, target)

    def flops(self, spec: Spec, n: int, batch: int, convention: str = "archcheck") -> Flops:
        from ..formulas.flops import Flops

        fwd = train = 0
        for fam, s in self.units(spec):
            f = fam.flops(s, n, batch, convention)
            fwd, train = fwd + f.forward, train + f.train_step
            n = stage_length(s.model, n)
        return Flops(fwd, train)

    def path(self, spec: Spec, span: int | None, n: int) -> PathReport:
        (fs, stem), (fb, blocks) = self.units(spec)
        n1 = stage_length(stem.model, n)
        stride = self.output_stride(spec)
        return hybrid_path(
            span,
            fs.path(stem, span, n),
            fb.path(blocks, None, n1),
            stride,
            lambda d: fb.path(blocks, d, n1),
        )

    def latency(self, spec: Spec, device: Device, overhead_s: float) -> LatencyEstimate | None:
        """One [infer] call: the stages' rooflines over [infer] seq_len (the prefill), then,
        with `new_tokens` = T, generation (latency.hybrid_decode). None for a non-causal
        hybrid with T > 0: its centred stem needs inputs that are not generated yet."""
        t = spec.infer.new_tokens
        if t and not spec.model.causal:
            return None
        if t and not spec.infer.kv_cache:
            # no cache: every new input re-runs the whole forward over the longer prefix
            out = self._forward_latency(spec, device, overhead_s)
            for i in range(1, t + 1):
                longer = spec.model_copy(update={"infer": spec.infer.model_copy(
                    update={"seq_len": spec.infer_n + i, "new_tokens": 0})})  # fmt: skip
                step = self._forward_latency(longer, device, overhead_s)
                if out is None or step is None:
                    return None
                out = _added(out, step)
            return out
        if not t:
            return self._forward_latency(spec, device, overhead_s)
        return hybrid_decode_latency(self, spec, device, overhead_s)

    def _forward_latency(
        self, spec: Spec, device: Device, overhead_s: float
    ) -> LatencyEstimate | None:
        """The stages' rooflines added: one forward at [infer] seq_len, nothing generated."""
        if spec.infer.new_tokens:
            spec = spec.model_copy(
                update={"infer": spec.infer.model_copy(update={"new_tokens": 0})}
            )
        out: LatencyEstimate | None = None
        for fam, s in self.units(spec):
            lat = fam.latency(s, device, overhead_s)
            if lat is None:
                return None
            out = lat if out is None else _added(out, lat)
        return out

    def kv_cache(self, spec: Spec) -> int | None:
        """The blocks' cache at their own positions: [infer] seq_len through the stem, and
        one position per S generated inputs."""
        (_, _), (fb, blocks) = self.units(spec)
        new = ceil(spec.infer.new_tokens / self.output_stride(spec))
        blocks = blocks.model_copy(
            update={"infer": blocks.infer.model_copy(update={"new_tokens": new})}
        )
        return fb.kv_cache(blocks)

    def is_causal(self, spec: Spec) -> bool:
        return spec.model.causal

    def dimension_problems(self, spec: Spec) -> Iterator[Problem]:
        key = ("model", "stage")
        why = structure_problem(spec.model)
        if why is not None:
            yield (why, key, "see docs/hybrid.md for the stage lists archcheck models")
            return
        try:
            specs = stage_specs(spec)
        except ValueError as exc:  # a stage table pydantic refuses once its keys are merged
            yield (f"a stage does not validate: {exc}", key, None)
            return
        stem, blocks = specs
        c = stem.model.channel_list()[-1]
        if c != blocks.model.d_model:
            yield (
                f"the stem hands on {c} channels but the {blocks.model.family} stage has "
                f"d_model {blocks.model.d_model}",
                key,
                "make the stem's last channels equal the blocks' d_model",
            )
        from .conv1d import causal as conv_causal

        if blocks.model.family in RECURRENT_FAMILIES and blocks.model.bidirectional == (
            spec.model.causal
        ):
            yield (
                f"a {'causal' if spec.model.causal else 'non-causal'} hybrid needs a "
                f"{'unidirectional' if spec.model.causal else 'bidirectional'} "
                f"{blocks.model.family} stage",
                key,
                f"set bidirectional = {str(not spec.model.causal).lower()} in the stage, or "
                "model.causal",
            )

        if conv_causal(stem.model) != spec.model.causal:
            yield (
                f"the stem is {'causal' if conv_causal(stem.model) else 'centred'} but the "
                f"hybrid is {'causal' if spec.model.causal else 'not causal'}",
                key,
                "remove the stem's padding key (it follows model.causal) or set model.causal",
            )
        for i, (fam, s) in enumerate(self.units(spec)):
            for msg, k, fix in fam.dimension_problems(s):
                yield (f"stage {i + 1}: {msg} ({'.'.join(k)})", key, fix)

    def input_kind(self, spec: Spec) -> str:
        fam, s = self.units(spec)[0]
        return fam.input_kind(s)

    def input_width(self, spec: Spec) -> int:
        fam, s = self.units(spec)[0]
        return fam.input_width(s)

    def reference_module(self, spec: Spec) -> Any:
        from .reference.hybrid import Hybrid

        return Hybrid(spec)


def _recurrent_blocks(m: ModelTable) -> bool:
    return bool(m.stage) and m.stage[-1].family in RECURRENT_FAMILIES  # type: ignore[index]


@register
class ConvStemTransformer(_Hybrid):
    name = "hybrid"
    summary = (
        "stage lists: a strided 1-D conv stem, then (windowed / local+global) Transformer blocks"
    )
    attention = True
    formula_names: ClassVar[dict[str, str]] = {}

    @classmethod
    def handles(cls, m: ModelTable) -> bool:
        return super().handles(m) and not _recurrent_blocks(m)


@register
class ConvStemRecurrent(_Hybrid):
    """A conv front end, then an LSTM/GRU/RNN over the shortened sequence (the article's
    streaming-speech design): the recurrent rules apply (BPTT horizon, forget gate,
    sequential steps = the stem's layers + n / S)."""

    name = "hybrid-recurrent"
    summary = "stage lists: a strided 1-D conv stem, then an LSTM/GRU/RNN"
    recurrent = True

    @classmethod
    def handles(cls, m: ModelTable) -> bool:
        return super().handles(m) and _recurrent_blocks(m)

    def has_forget_gate(self, spec: Spec) -> bool:
        (_, _), (fb, blocks) = self.units(spec)
        return fb.has_forget_gate(blocks)


@formula("flops.hybrid", "F = Σ_stages F_stage(n_stage)", "flops.conv_stack + flops.transformer")
def _flops_doc() -> None:
    """Registered for docs/formulas.md: the hybrid's FLOPs are its stages' at their own n."""


@formula(
    "latency.hybrid",
    "t = Σ_stages t_stage(n_stage); with new_tokens: latency.hybrid_decode",
    "latency.conv_stack + latency.transformer",
)
def _latency_doc() -> None:
    """Registered for docs/formulas.md: the hybrid's latency is its stages' rooflines added."""
