"""The interface every model family implements (no torch here).

A family unit answers, for one validated spec, every question the formulas, the probes, the
behavioural checks and the rules ask about a kind of network. Nothing outside the family
registry branches on `model.family`: it asks the unit instead (`families.family_of(spec)`).

Memory: `param_shapes` is the only source of parameter counts and of weight, gradient and
optimizer bytes; it lists the tensors of the unit's reference `nn.Module` (what the probe builds
when the spec names no factory), so the formula and the fake-tensor probe count the same tensors.
`forward_saved` returns the bytes a training forward keeps for backward on a `runtime.Target`;
`formulas/peak.py` composes the step's peak from the two.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ..formulas.devices import Device
    from ..formulas.flops import Flops
    from ..formulas.latency import LatencyEstimate
    from ..formulas.path import PathReport
    from ..runtime import Target
    from ..spec.model import ModelTable, Spec

Shape = tuple[int, ...]
# Rows of the embedding of a token model without `vocab` (the spec is ARC304; the probe still
# needs a table to run).
DEFAULT_VOCAB = 1000
# A spec problem a family finds in its own dimensions (ARC304): message, spec key, fix.
Problem = tuple[str, tuple[str, ...], str | None]


class NotModelled(ValueError):
    """A figure this family's formulas do not model for this spec: never a silent guess.

    Two uses: `Family.not_modelled` names figures a family never models (an encoder-decoder's
    training peak: `key` is the spec key a finding points at, `fix` what to do instead,
    ARC307); and a unit raises it for a spec its `dimension_problems` already refuses (a
    stage list: ARC304 says why), so the pipeline skips the rules that would need the figure
    instead of failing."""

    def __init__(self, message: str, key: tuple[str, ...] = ("model",), fix: str = "") -> None:
        super().__init__(message)
        self.key, self.fix = key, fix


def head_out(m: ModelTable) -> tuple[str, int | None]:
    """The output head a spec asks for: ("lm", vocab) per position, ("classes", classes) once
    per sample after pooling, or ("none", None). `head` decides when set; otherwise declaring
    `classes` means a classifier, else a vocabulary means an LM head."""
    kind = m.head or ("classes" if m.classes else "lm" if m.vocab else "none")
    width = m.vocab if kind == "lm" else m.classes if kind == "classes" else None
    return (kind, width) if width else ("none", None)


@dataclass(frozen=True)
class CrossEntropyBytes:
    """What the probe's default loss (probe/build.py ProbeLoss: `F.cross_entropy(logits.float()
    .view(-1, W), targets.view(-1))`) allocates on top of the model, for `rows` rows of `W`
    logits of `p` bytes (rows = b·s for an LM head, b for a classifier). Measured against torch
    2.13's kernels: log_softmax saves its fp32 output (the log-probabilities) for backward and
    nll_loss saves the same tensor and its targets; in backward
    nll_loss_backward's gradient and log_softmax_backward_data's result (fp32, rows·W·4 each)
    exist together while the log-probabilities are still saved. The logits themselves stay alive
    through backward (the loop holds the model output, as transformers' output object and
    nanoGPT's `logits, loss = model(X, Y)` do)."""

    end: int  # end of forward: logits + log-probabilities + targets + the scalar loss
    forward_transient: int  # under autocast: the fp32 copy of the 16-bit logits in the loss
    backward: int  # start of backward: logits + log-probs + the two gradients + loss, d(loss)
    held: int  # alive through the rest of backward: the logits and the scalar loss


def cross_entropy_bytes(
    rows: int, width: int, p: int, lowp: bool, targets: bool, scalar: int = 4
) -> CrossEntropyBytes:
    """targets: whether the loss allocates its targets (random ids, rows·8 int64 bytes),
    False when they are a view of the input tokens (an LM over token input). scalar: what a
    4-byte tensor occupies on the target (CUDA's allocator rounds it to 512): the loss's
    gradient in backward (the loss's own rounding is formulas/peak.py's allocator row)."""
    logits = rows * width * p
    f32 = rows * width * 4
    tgt = rows * 8 if targets else 0
    return CrossEntropyBytes(
        end=logits + f32 + tgt + 4,
        forward_transient=f32 if lowp else 0,
        backward=logits + 3 * f32 + tgt + 4 + scalar,
        held=logits + 4,
    )


class LiveBytes:
    """Live bytes through a training step, tensor by tensor, for the families that walk their
    step in the order torch allocates and frees (conv2d, conv1d): `alloc` adds one tensor under
    a key (rounded as the target's allocator rounds it: the fake probe's CUDA emulation counts
    every storage so), `free` releases every tensor under the keys; `peak` is the largest live
    total since the last `mark`."""

    def __init__(self, cuda: bool) -> None:
        from ..runtime.cuda import cuda_alloc_size

        self.rnd = cuda_alloc_size if cuda else (lambda nb: nb)
        self.live = self.peak = 0
        self.held: dict[str, int] = {}

    def alloc(self, key: str, nbytes: int, *, rounded: bool = True) -> None:
        """rounded=False: count the bytes as they are (the scalar loss, whose allocator
        rounding formulas/peak.py adds once as part of the allocator row)."""
        nb = self.rnd(nbytes) if rounded else nbytes
        live = self.live + nb  # locals, not max(): a walk makes hundreds of these calls
        self.live = live
        if live > self.peak:  # noqa: PLR1730 (max() costs a call per tensor)
            self.peak = live
        held = self.held
        held[key] = held.get(key, 0) + nb

    def free(self, *keys: str) -> None:
        for key in keys:
            self.live -= self.held.pop(key, 0)

    def release(self, nbytes: int) -> None:
        """Free a tensor that was alive before the walk began (the walk then counts bytes
        relative to that moment, e.g. the end of forward)."""
        if nbytes:
            self.live -= self.rnd(nbytes)

    def mark(self) -> None:
        self.peak = self.live


@dataclass(frozen=True)
class ForwardSaved:
    """What is alive at the end of the training forward pass (bytes), and the transients of
    the two backward moments that can hold the step's peak (formulas/peak.py)."""

    activations: int  # everything saved for backward except attention scores and logits
    attention_scores: int  # the s² tensors (math kernel only)
    logits: int  # model output (+ its fp32 copy under autocast) and the scalar loss
    backward_extra: int = 0  # transient bytes on top of the saved ones early in backward
    # The loss's own backward (cross-entropy's gradients beside its saved log-probabilities),
    # on top of activations + attention_scores, when a family reports it apart from
    # backward_extra: it runs before any module's backward hook (formulas/sharding.py: FSDP
    # has not all-gathered a block for backward yet). 0: counted in backward_extra.
    loss_backward: int = 0
    # What the training loop holds until backward ends (the logits of a cross-entropy loss),
    # already counted in the phases above; formulas/sharding.py adds it to its own
    # late-backward moment.
    held_through_backward: int = 0
    # The last backward op (the token embedding's): beside every parameter gradient and what
    # the loop holds, the transients it allocates. With tied embeddings, autograd keeps the
    # head's partial weight gradient (V·h·4) until embedding_dense_backward's (V·h·4) arrives,
    # then adds them into the weight's .grad: 2·V·h·4 on top of all gradients (formulas/peak.py
    # phase "end-of-backward").
    end_backward: int = 0
    # Late backward (first layer being differentiated): activations still alive, and the bytes
    # of parameter gradients *not yet* produced (first layer + embeddings).
    late_activations: int = 0
    late_missing_grads: int = 0
    # A moment inside the forward pass whose live bytes exceed those at its end (a transient
    # the saved set does not show); 0 when the end of forward is the larger.
    forward_peak: int = 0
    # Checkpointing: the attention scores exist only while a block is (re)computed, never at
    # the end of forward; `attention_scores` then counts one block's, for the backward phases.
    scores_transient: bool = False
    formula: str = ""  # the registered formula that produced these bytes

    @property
    def total(self) -> int:
        return self.activations + self.attention_scores + self.logits


class Family:
    """Base class of a model family unit; subclass it in `families/<name>.py` and decorate the
    subclass with `@register`.

    Class attributes say which specs the unit serves and which rules apply to it; methods
    without a default must be implemented."""

    name: ClassVar[str]  # the unit's name, e.g. "recurrent"
    serves: ClassVar[tuple[str, ...]]  # `[model] family` values, e.g. ("lstm", "gru", "rnn")
    inputs: ClassVar[tuple[str, ...]] = ("tokens", "embeddings")  # `[model] input` values
    summary: ClassVar[str] = ""
    # Capabilities the rules consult instead of naming families:
    recurrent: ClassVar[bool] = False  # steps through time: BPTT (ARC207), steps = n (ARC105)
    attention: ClassVar[bool] = False  # self-attention: positions, masks, kernels (ARC201-211)
    convolutional: ClassVar[bool] = False  # reach is a receptive field of conv layers (ARC104)
    sequence: ClassVar[bool] = True  # positions along a sequence (False: images)
    # forward_saved models the probe's default cross-entropy loss over a declared vocab /
    # classes head (probe/build.py ProbeLoss); False: the probe trains on the sum of the outputs
    models_cross_entropy: ClassVar[bool] = False
    # forward_saved counts [train] activation_dropout's masks (elsewhere the key is ARC304)
    models_activation_dropout: ClassVar[bool] = False
    # Why the behavioural checks (one input sequence in, one output sequence out: causality,
    # padding, masks, positions, reach) do not apply to this family; None: they run.
    no_behaviour: ClassVar[str | None] = None
    # The registered formulas (formulas/registry.py) behind the figures `estimate` prints:
    # FLOPs, latency, and the dependency figures (reach, receptive_field, path_length,
    # sequential_steps), which come from `path_formula` unless `formula_names` names another.
    flops_formula: ClassVar[str] = ""
    latency_formula: ClassVar[str] = ""
    path_formula: ClassVar[str] = ""
    formula_names: ClassVar[dict[str, str]] = {}

    def formula_for(self, figure: str) -> str:
        """The registered formula behind `figure` ("flops", "latency", "reach", ...)."""
        if figure in self.formula_names:
            return self.formula_names[figure]
        if figure == "flops":
            return self.flops_formula
        return self.latency_formula if figure == "latency" else self.path_formula

    # --- which specs -------------------------------------------------------------------------

    @classmethod
    def handles(cls, m: ModelTable) -> bool:
        """Whether this unit models `[model]` m."""
        return m.family in cls.serves and m.input in cls.inputs

    # --- parameters and memory (no torch) ----------------------------------------------------

    def param_shapes(self, spec: Spec) -> list[Shape]:
        """Every parameter tensor of the reference module, in torch layout, shared tensors once."""
        raise NotImplementedError

    def buffer_bytes(self, spec: Spec) -> int:
        """Bytes of persistent buffers (BatchNorm statistics, ...) the model keeps."""
        return 0

    def frozen_shapes(self, spec: Spec) -> list[Shape]:
        """Parameter tensors (among `param_shapes`) that never get a gradient: the model sets
        requires_grad False on them (Whisper's sinusoidal encoder positions). They hold
        weights but no gradient, no optimizer state, and the optimizer step skips them."""
        return []

    def forward_saved(self, spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
        """Bytes a training forward at (batch, n) keeps for backward on `target`."""
        raise NotImplementedError

    def not_modelled(self, spec: Spec) -> dict[str, NotModelled]:
        """Figures this unit's formulas do not model for `spec`, by name ("memory": the
        training peak, "kv_cache"), each with why and what to do: `estimate` prints the
        refusal instead of a number, the budget rules that need the figure skip it, and
        ARC307 says so when a budget needs it."""
        return {}

    def not_modelled_on(self, spec: Spec, target: Target) -> dict[str, NotModelled]:
        """`not_modelled` for a run on `target` rather than the spec's own: a unit whose
        refusal depends on the target (the kernel that runs there) overrides it; `estimate
        --target` asks it."""
        return self.not_modelled(spec)

    def train_n(self, spec: Spec) -> int:
        """n of `estimate` and `probe` when none is given ([train] seq_len, then max_n, ...)."""
        return spec.train_n

    def budget_n(self, spec: Spec) -> int:
        """n of the budget rules (max_n, falling back to seq_len: the worst case decides)."""
        return spec.budget_n

    def infer_n(self, spec: Spec) -> int:
        """n of one inference call ([infer] seq_len, else max_n, else the training n)."""
        return spec.infer_n

    # --- compute, dependency, latency, inference ---------------------------------------------

    def flops(self, spec: Spec, n: int, batch: int, convention: str = "archcheck") -> Flops:
        raise NotImplementedError

    def path(self, spec: Spec, span: int | None, n: int) -> PathReport:
        raise NotImplementedError

    def layers_needed(self, spec: Spec, span: int) -> int | None:
        """Layers of the same kind that would cover `span` (None: not a layer-count question)."""
        return None

    def latency(self, spec: Spec, device: Device, overhead_s: float) -> LatencyEstimate | None:
        """Roofline latency of one [infer] call on `device` (None: this family has no model)."""
        return None

    def kv_cache(self, spec: Spec) -> int | None:
        """KV-cache bytes at the [infer] shape (None: this family caches nothing)."""
        return None

    def output_stride(self, spec: Spec) -> int:
        """Input positions between adjacent output positions (a strided stem: its S); output
        position u stands for input position u·S (the behavioural reach check reads it)."""
        return 1

    def output_length(self, spec: Spec, n: int) -> int:
        """Output positions for n input positions (n unless the model downsamples)."""
        return n

    def active_params(self, spec: Spec) -> int | None:
        """Parameters one token runs through, when fewer than all (a mixture of experts runs
        `experts_per_token` of its experts); None when every parameter is active."""
        return None

    def has_forget_gate(self, spec: Spec) -> bool:
        """An LSTM-style forget gate whose bias decides how long memories last (ARC210)."""
        return False

    def is_causal(self, spec: Spec) -> bool:
        """Whether an output may depend only on earlier positions (no `causal` key set)."""
        return spec.model.causal

    def rules_of_thumb(self, spec: Spec, batch: int) -> dict[str, int] | None:
        """The article's secondary figures for this family, printed beside the exact ones."""
        return None

    def dimension_problems(self, spec: Spec) -> Iterator[Problem]:
        """Inconsistent dimensions in the spec (ARC304)."""
        return iter(())

    def tp_local_model(self, spec: Spec, tp: int) -> ModelTable | None:
        """The model one tensor-parallel rank computes under the sharded probe's plan for the
        reference module, as a model table at tp = 1 (formulas/sharding.py gives it to the
        per-rank formula); None: the unit does not model tensor parallelism, and the formula
        reports the layout at tp = 1 as a labelled upper bound."""
        return None

    # --- torch side (imported lazily; the static path never calls these) ---------------------

    def reference_module(self, spec: Spec) -> Any:
        """The `nn.Module` the probe builds when the spec names no factory."""
        raise NotImplementedError

    def input_kind(self, spec: Spec) -> str:
        """How probe inputs look: "tokens" (B, n) ids, "embeddings" (B, n, C) floats,
        "channels" (B, C, n) floats, "image" (B, C, n, n) floats."""
        return spec.model.input

    def input_width(self, spec: Spec) -> int:
        """C of float inputs (the reference module's first layer takes this many features)."""
        return spec.model.d_model

    def make_inputs(self, spec: Spec, n: int, batch: int, device: Any) -> tuple[Any, ...]:
        """One synthetic batch for the probe (positional args of forward): token ids (B, n),
        images (B, C, n, n), else batch-first features (B, n, C) as the reference modules take."""
        from .reference import synthetic_inputs

        return synthetic_inputs(spec, n, batch, device, self.input_width(spec))
