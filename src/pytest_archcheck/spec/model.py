"""The model spec users write (DESIGN.md §3), as pydantic models.

Every table forbids unknown keys; the loader reports those first (ARC301, with a "did you mean")
so that pydantic only ever sees typos it can explain as wrong values (ARC302). Sizes and durations
accept the strings users write ("24 GiB", "200 ms") and are stored as bytes and seconds.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from ..units import parse_bandwidth, parse_bytes, parse_flops, parse_seconds

Bytes = Annotated[
    int,
    BeforeValidator(parse_bytes),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": r"^\s*[0-9.]+\s*[A-Za-z]*\s*$"},
            ],
            "description": 'bytes, or a size such as "24 GiB" (IEC) or "24 GB" (SI)',
        }
    ),
]
Seconds = Annotated[
    float,
    BeforeValidator(parse_seconds),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\s*[0-9.]+\s*[a-zµ]*\s*$"},
            ],
            "description": 'milliseconds, or a duration such as "200 ms" or "1.5 s"',
        }
    ),
]
PosInt = Annotated[int, Field(ge=1)]
MAX_LAYERS = 100_000  # formulas walk every layer: 10**9 layers would hang, not report
NonNegInt = Annotated[int, Field(ge=0)]


def _known_device(name: str, info: ValidationInfo) -> str:
    """A device the formulas know (name or alias, built in or defined by the spec's own
    pyproject.toml: validation context "devices"); else a did-you-mean (ARC302), not a crash."""
    from ..formulas.devices import UnknownDeviceError, lookup_device

    try:
        lookup_device(name, (info.context or {}).get("devices"))
    except UnknownDeviceError as exc:
        raise ValueError(str(exc)) from None
    return name


DeviceName = Annotated[str, AfterValidator(_known_device)]


def _known_family(name: str) -> str:
    """A `[model] family` some unit in families/ serves (else ARC302 with the known names)."""
    from ..families import family_names

    known = family_names()
    if name not in known:
        import difflib

        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown family {name!r} (known: {', '.join(known)}){hint}")
    return name


def _family_schema(schema: dict[str, Any]) -> None:
    from ..families import family_names

    schema["enum"] = family_names()


Family = Annotated[
    str,
    AfterValidator(_known_family),
    Field(json_schema_extra=_family_schema),
]
DType = Literal["fp32", "fp16", "bf16"]
DTYPE_BYTES: dict[str, int] = {"fp32": 4, "fp16": 2, "bf16": 2}


class _Table(BaseModel):
    # strict: TOML is typed, so `heads = "12"` or `causal = "yes"` is a mistake to report,
    # not a value to coerce.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


InputKind = Literal[
    "tokens", "tokens:n_first", "series", "series:channels_first", "image", "init_hidden"
]


# `ModelTable._modelled`'s verdicts: (family, input, the registered units) -> the
# UnsupportedFamilyError message, or None when some unit models it
_MODELLED: dict[tuple[str, Any, tuple[Any, ...]], str | None] = {}


class ModelTable(_Table):
    """[model]: what the network is. Defaults follow GPT-2 where a default is needed at all."""

    name: str | None = None
    family: Family = "transformer"
    factory: Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")] | None = None
    factory_args: dict[str, Any] = Field(default_factory=dict)
    # the repository's own config object, built from config_args and passed to the factory
    # first (nanoGPT's GPT(GPTConfig(...))); "{model.KEY}" in either args is the spec's value
    config: Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")] | None = None
    config_args: dict[str, Any] = Field(default_factory=dict)
    # what the probe feeds forward(): a "module:callable" (batch=, n=) -> args, or one entry per
    # positional argument (docs/use-on-your-repo.md#inputs)
    inputs: (
        Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")] | list[InputKind] | None
    ) = None
    loss: Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")] | None = None
    input: Literal["tokens", "embeddings", "image"] = Field("tokens", validate_default=True)
    pad_id: int | None = None
    mask_arg: str | None = None
    layers: Annotated[int, Field(ge=1, le=MAX_LAYERS)] = 1
    d_model: PosInt = 768
    heads: PosInt | None = None
    kv_heads: PosInt | None = None
    d_ff: PosInt | None = None
    mlp: Literal["gelu", "relu", "swiglu", "geglu"] = "gelu"
    # the activation's implementation, where it saves other tensors than the kind's one-kernel
    # default (GELU, ReLU, SiLU): transformers' decomposed gelu_new (GPT-2, GPT-J, Phi),
    # gelu_fast, quick_gelu (CLIP), gelu_python; silu in a non-gated MLP; gelu_recompute: a
    # tanh GELU as an autograd Function that saves its input only and recomputes the tanh in
    # backward (BLOOM's BloomGelu)
    activation: (
        Literal["gelu_new", "gelu_fast", "quick_gelu", "gelu_python", "silu", "gelu_recompute"]
        | None
    ) = None
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    vocab: PosInt | None = None
    tied_embeddings: bool = True
    bias: Literal["all", "none", "qkv"] = "all"
    positional: Literal["learned", "sinusoidal", "rotary", "alibi", "relative", "none"] = "learned"
    max_positions: PosInt | None = None
    position_offset: NonNegInt = 0
    attention: Literal["full", "sliding", "local", "linear"] = "full"
    window: NonNegInt = 0
    # local/global stacks (Gemma-2: 2, Gemma-3: 6): with a sliding/local window, every k-th
    # layer (layer i, 0-based, when (i + 1) % k == 0) attends to every position
    global_every: PosInt | None = None
    causal: bool = True
    # recurrent
    hidden: PosInt | None = None
    bidirectional: bool = False
    forget_bias: float | None = None
    # convolutional
    kernel: PosInt | list[PosInt] | None = None
    dilations: list[PosInt] | None = None
    strides: list[PosInt] | None = None
    channels: PosInt | list[PosInt] | None = None
    # "chomp": causal, computed as locuslab/TCN does it: each conv pads dil·(k−1) on both sides
    # and the last dil·(k−1) outputs are dropped (Chomp1d), so it computes n + dil·(k−1)
    padding: Literal["same", "causal", "valid", "chomp"] | NonNegInt = "same"
    in_channels: PosInt | None = None
    image_size: PosInt | None = None
    classes: PosInt | None = None
    # residual temporal blocks (locuslab/TCN's TemporalBlock): the layers go in pairs of one
    # kernel, dilation and width, with a skip around each pair (a 1x1 convolution on the skip
    # where the width changes); the training peak of such a stack is measured, not estimated
    residual: bool = False
    # every k-wide convolution weight-normed (weight_norm: a (c, 1, 1) gain beside the weight)
    weight_norm: bool = False
    # BERT-style encoders (Hugging Face adapters): token-type table, pooler, post-norm, no head
    type_vocab: NonNegInt = 0
    pooler: bool = False
    norm_placement: Literal["pre", "post"] = "pre"
    head: Literal["lm", "none", "classes"] | None = None
    # Hugging Face architectures (docs/spec.md "Architecture flags"): shapes the keys above
    # cannot say. Each is a feature of the block, not a model name.
    head_size: PosInt | None = None  # per-head width when not d_model / heads (Gemma, Nemo)
    # overrides bias; "qv": q and v projections only, no k bias (Whisper)
    biases: list[Literal["qkv", "qv", "out", "mlp", "norm", "head"]] | None = None
    parallel: bool = False  # attention and MLP read the same block input (GPT-J, NeoX, Falcon)
    # one Linear for q, k and v (and for a gated MLP's gate and up): GPT-2, NeoX, Falcon,
    # Phi-3; false: separate q_proj/k_proj/v_proj (and gate_proj/up_proj), as Llama, Mistral,
    # Qwen2, Gemma, BERT build them -- same parameters, different saved activations
    fused_projections: bool = True
    # every attention block registers a max_positions x max_positions bool causal mask and a
    # scalar fp32 `masked_bias` as buffers (GPT-2's GPT2Attention): no gradient, but memory
    causal_mask_buffer: bool = False
    # rotary positions on the first `rotary_dim` dimensions of each head, the rest passed
    # through and concatenated back (GPT-NeoX/Pythia rotary_pct, Phi, Phi-3 and StableLM
    # partial_rotary_factor, GPT-J rotary_dim; set, even to head_dim, where the class slices
    # and concatenates); unset: rotary over the whole head in place (Llama). Same parameters,
    # different saved activations
    rotary_dim: Annotated[int, Field(ge=2, multiple_of=2)] | None = None
    # k and v are copied out to every query head before attention (transformers' repeat_kv in
    # StableLM's attention class) instead of SDPA's grouped-query support
    kv_repeat: bool = False
    # the class computes attention itself (matmul, softmax, matmul: transformers' GPT-J, BLOOM
    # and MPT, which do not support SDPA) and keeps s² probabilities per head in its own
    # dtypes: the training peak is refused (the probe measures the class)
    eager_attention: bool = False
    # rotary on interleaved pairs (rotate_every_two) whose sin and cos every layer gathers and
    # repeat_interleaves itself for q and for k (GPT-J): 4 of (n, rotary width) saved per layer
    rotary_interleaved: bool = False
    # how the class's own attention (eager_attention) applies its causal mask: "add" a float
    # (b, 1, n, n) mask to the scores (GPT-J, BLOOM: nothing saved), or "fill" through
    # masked_fill with one bool (b, 1, n, n) mask for every layer (MPT), which masked_fill
    # saves: b·n² bytes alive through backward
    eager_mask: Literal["add", "fill"] = "add"
    # pre-softmax s² score tensors the class's attention forward still holds as locals when it
    # returns (eager_attention): 2 for BLOOM (baddbmm's output, in the compute dtype, and the
    # masked sum, fp32), 1 for MPT (the masked fp32 scores), 0 where a helper returns first
    # (GPT-J's _attn)
    eager_held: Annotated[int, Field(ge=0, le=2)] = 0
    # the class casts its logits to fp32 (GPT-J's lm_head(...).to(float32)): under autocast the
    # fp32 copy is the logits the loop holds and the loss reads, the 16-bit ones are freed
    fp32_logits: bool = False
    # logits soft-capped as cap·tanh(logits / cap) before the loss (Gemma-2's
    # final_logit_softcapping): the tanh keeps its logits-sized output for backward
    logit_softcap: Annotated[float, Field(gt=0)] | None = None
    layer_norms: Annotated[int, Field(ge=0, le=8)] | None = None  # norms per block (default 2)
    norm_affine: bool = True  # false: LayerNorm without weight or bias (OLMo)
    final_norm: bool = True  # a norm after the last block (OPT-350m has none)
    embed_norm: bool = False  # a norm right after the token embedding (BLOOM)
    embed_dim: PosInt | None = None  # token-embedding width; != d_model adds project_in/out (OPT)
    # mixture of experts (Mixtral, Qwen2-MoE): every block's MLP is `experts` gated MLPs of
    # `expert_d_ff` behind a router, `experts_per_token` of them run per token; optionally a
    # shared expert of `shared_d_ff` that every token runs, scaled by a sigmoid gate
    experts: Annotated[int, Field(ge=1, le=1024)] | None = None  # DeepSeek-V3: 256
    experts_per_token: PosInt | None = None
    expert_d_ff: PosInt | None = None
    shared_d_ff: NonNegInt = 0
    shared_gate: bool = False
    # encoder-decoders (family = "encoder-decoder", families/encdec.py: T5, BART, Whisper):
    # `layers` encoder blocks, then `decoder_layers` blocks of self-attention, cross-attention
    # and MLP; the decoder's heads, d_ff and position rows when they differ from the encoder's
    decoder_layers: Annotated[int, Field(ge=1, le=MAX_LAYERS)] | None = None
    decoder_heads: PosInt | None = None
    decoder_d_ff: PosInt | None = None
    decoder_max_positions: PosInt | None = None
    # relative position bias (T5): a (buckets, heads) table in each stack's first block
    relative_buckets: PosInt | None = None
    # a strided 1-D convolutional front end over `in_channels` features (Whisper: [1, 2], each
    # kernel 3, GELU): the encoder attends over n / prod(stem_strides) positions
    stem_strides: list[PosInt] | None = None
    # Vision Transformers (family = "transformer", input = "image", families/vit.py): square
    # patches of `patch` pixels, and a learned class token in front of them
    patch: PosInt | None = None
    class_token: bool = True
    # a LayerNorm over each patch's pixels before the patch projection (a Linear) and one over
    # its output after it (vit-pytorch's to_patch_embedding): 2·C·p² + 2·d_model parameters
    patch_norm: bool = False
    extends: str | None = None
    # hybrids (family = "hybrid", families/hybrid.py): the stages in order, each a [model]
    # table of its own family (a strided conv stem, then transformer blocks); keys a stage
    # does not write come from this table (docs/hybrid.md)
    stage: list[ModelTable] | None = None

    @model_validator(mode="before")
    @classmethod
    def _hybrid_stages(cls, data: Any) -> Any:
        """A hybrid's stages take the keys they do not write from this table."""
        if isinstance(data, dict) and data.get("stage") is not None:
            from ..families.hybrid import merge_stages

            return merge_stages(data)
        return data

    @field_validator("input")
    @classmethod
    def _modelled(cls, value: Any, info: ValidationInfo) -> Any:
        """Some family unit must model this family with this input (a Transformer over images
        is not modelled: refusing it beats estimating a ResNet's numbers for it)."""
        family = info.data.get("family")
        if family is None:
            return value
        from ..families import UnsupportedFamilyError, family_of, units

        # The verdict depends on (family, input) and on the registered units only, and a
        # model_construct of 55 fields costs more than the rest of validation: one verdict per
        # (family, input, registry), as a check of 1,000 specs asks the same few questions.
        key = (family, value, tuple(units()))  # the units themselves: alive, never reused
        if key not in _MODELLED:
            try:
                family_of(ModelTable.model_construct(family=family, input=value))
                _MODELLED[key] = None
            except UnsupportedFamilyError as exc:
                _MODELLED[key] = str(exc)
        problem = _MODELLED[key]
        if problem is not None:
            raise ValueError(problem)
        return value

    @property
    def head_count(self) -> int:
        return self.heads if self.heads is not None else max(1, self.d_model // 64)

    @property
    def kv_head_count(self) -> int:
        return self.kv_heads if self.kv_heads is not None else self.head_count

    @property
    def head_dim(self) -> int:
        return self.head_size if self.head_size is not None else self.d_model // self.head_count

    @property
    def ffn_dim(self) -> int:
        return self.d_ff if self.d_ff is not None else 4 * self.d_model

    @property
    def hidden_size(self) -> int:
        return self.hidden if self.hidden is not None else self.d_model

    def kernel_list(self) -> list[int]:
        """Per-layer kernel sizes (a scalar kernel repeats for every layer)."""
        k = self.kernel if self.kernel is not None else 3
        return list(k) if isinstance(k, list) else [k] * self.layers

    def dilation_list(self) -> list[int]:
        return list(self.dilations) if self.dilations is not None else [1] * self.layers

    def stride_list(self) -> list[int]:
        return list(self.strides) if self.strides is not None else [1] * self.layers

    def channel_list(self) -> list[int]:
        c = self.channels if self.channels is not None else self.d_model
        return list(c) if isinstance(c, list) else [c] * self.layers


class ParallelTable(_Table):
    """[train.parallel]: how one training step is split over ranks; budgets become per rank.

    The mesh is dp_replicate x dp_shard x cp x tp x pp (torchtitan's order); world_size is its
    product unless given, and a given one must equal it (spec/parallel.py checks, ARC304).
    dp_shard is FSDP2 (`fully_shard`, ZeRO-3-like); zero_stage is DeepSpeed-style sharding of
    the dp_replicate data-parallel ranks and cannot be combined with dp_shard > 1; it is
    measured as torch's counterpart (1: ZeroRedundancyOptimizer, 2: `fully_shard` without
    resharding after forward, 3: `fully_shard`; docs/sharding.md).
    """

    dp_shard: PosInt = 1
    dp_replicate: PosInt = 1
    tp: PosInt = 1
    pp: PosInt = 1
    cp: PosInt = 1
    world_size: PosInt | None = None
    zero_stage: Annotated[int, Field(ge=0, le=3)] | None = None
    reshard_after_forward: bool = True
    param_dtype: DType | None = None
    reduce_dtype: DType | None = None
    offload: Literal["none", "optimizer", "params"] = "none"

    @field_validator("pp", "cp")
    @classmethod
    def _declared_not_modelled(cls, value: int, info: ValidationInfo) -> int:
        """Pipeline and context parallelism are declared but not modelled: a pipeline stage's
        peak depends on its schedule (1F1B keeps up to pp micro-batches of activations on the
        first stage), context parallelism on its ring attention; neither the formula nor the
        fake probe reproduces them, and a guess would be a silent wrong number."""
        if value > 1:
            what = "pipeline" if info.field_name == "pp" else "context"
            raise ValueError(
                f"{what} parallelism ({info.field_name} = {value}) is declared but not modelled "
                "(neither the per-rank formula nor the sharded probe reproduces it); set "
                f"{info.field_name} = 1 and budget one {'stage' if what == 'pipeline' else 'rank'}"
                " with the layers and sequence it holds"
            )
        return value


class TrainTable(_Table):
    """[train]: the training step whose peak memory the budget bounds."""

    batch: PosInt = 1
    seq_len: PosInt | None = None
    dtype: DType = "fp32"
    optimizer: Literal["sgd", "sgd-momentum", "adam", "adamw", "adafactor"] = "adamw"
    checkpointing: bool = False
    attention_kernel: Literal["flash", "efficient", "math"] = "flash"
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    # dropout on the attention probabilities, where it differs from `dropout` (OPT: 0.1
    # residual, 0.0 attention; Llama: attention only); it picks the SDPA kernel on CPU
    attention_dropout: Annotated[float, Field(ge=0.0, lt=1.0)] | None = None
    # dropout on the embedding output, where it differs from `dropout` (OPT: none; GPT-2:
    # embd_pdrop)
    embedding_dropout: Annotated[float, Field(ge=0.0, lt=1.0)] | None = None
    # dropout on the MLP's hidden activation, between it and the down projection (BART's and
    # Whisper's activation_dropout); modelled for the encoder-decoders
    activation_dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    bptt: PosInt | None = None
    # decoder tokens per sample of an encoder-decoder (default: the encoder's n, at most the
    # decoder's position rows)
    target_len: PosInt | None = None
    image_size: PosInt | None = None  # training image side (image models; else model.image_size)
    zero_stage: Annotated[int, Field(ge=0, le=3)] = 0
    world_size: PosInt = 1
    tensor_parallel: PosInt = 1
    parallel: ParallelTable | None = None

    @property
    def attn_dropout(self) -> float:
        """Dropout on the attention probabilities: `attention_dropout`, else `dropout`."""
        return self.dropout if self.attention_dropout is None else self.attention_dropout

    @property
    def emb_dropout(self) -> float:
        """Dropout on the embedding output: `embedding_dropout`, else `dropout`."""
        return self.dropout if self.embedding_dropout is None else self.embedding_dropout


class InferTable(_Table):
    """[infer]: the inference call whose latency and memory the budget bounds."""

    batch: PosInt = 1
    seq_len: PosInt | None = None
    dtype: DType | None = None
    kv_cache: bool = True
    new_tokens: NonNegInt = 0


class BudgetTable(_Table):
    """[budget]: what must hold. Every key is optional; an absent key is not checked."""

    device: DeviceName | None = None
    max_n: PosInt | None = None
    memory: Bytes | None = None
    infer_memory: Bytes | None = None
    p95_latency: Seconds | None = None
    # "p50"/"p90" are replaced at load time by that percentile of [data] span_source (span.py),
    # so the model itself only ever holds a number; the schema says both are accepted
    span: Annotated[
        PosInt | None,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "integer", "minimum": 1},
                    {"enum": ["p50", "p90"]},
                    {"type": "null"},
                ]
            }
        ),
    ] = None
    max_padding: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    granularity: PosInt = 64


class LengthStats(_Table):
    """Inline length statistics when no length file is at hand."""

    mean: Annotated[float, Field(gt=0)] | None = None
    p50: PosInt | None = None
    p90: PosInt | None = None
    max: PosInt | None = None


class PreviousData(_Table):
    """`[data] previous` written inline: the n and the data size the model was last trained
    (or sized) at, for ARC216 when no earlier spec file is at hand."""

    max_n: PosInt
    samples: PosInt | None = None
    tokens: PosInt | None = None


class DataTable(_Table):
    """[data]: what real sequences look like (ARC208, ARC212), how much there is (`samples`,
    `tokens`: ARC213, ARC214) and what the previous version of the model was sized for
    (`previous`: a spec file or `{ max_n, samples, tokens }`, ARC216)."""

    lengths: str | LengthStats | None = None
    # a series file (or `archcheck span --format json` output) that `budget.span = "p90"` is
    # measured from at load time (span.py); relative to the spec's folder
    span_source: str | None = None
    span_window: PosInt | None = None
    # the training set's size, for the small-data rules (ARC213, ARC214): unique samples, and
    # unique tokens the loss is computed on (language modelling), before any repetition
    samples: PosInt | None = None
    tokens: PosInt | None = None
    # the run log a training run wrote (runlog/): default `<model name>.run.json` next to the spec
    run_log: str | None = None
    # the previous version of this model, for ARC216 (n raised without more data): a spec file
    # (relative to the spec's folder; its budget n and [data] samples / tokens are read), or
    # the figures inline as { max_n, samples, tokens }
    previous: str | PreviousData | None = None


class _WithProjectDevices(_Table):
    """Carries the devices of the project's own pyproject.toml ([tool.archcheck.devices]),
    taken from the validation context "devices": the formulas resolve `budget.device` against
    them (formulas/devices.py)."""

    # None, not a default_factory: that would cost every validation ~16 µs (a copy per instance)
    _devices: dict[str, Any] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _take_project_devices(self, info: ValidationInfo) -> Any:
        devices = (info.context or {}).get("devices")
        if devices:
            self._devices = dict(devices)
        return self

    @property
    def project_devices(self) -> dict[str, Any]:
        """name -> formulas.devices.Device defined by the project."""
        return self._devices or {}


class Spec(_WithProjectDevices):
    """One model with its training, inference, budget and data tables."""

    model: ModelTable = Field(default_factory=ModelTable)
    train: TrainTable = Field(default_factory=TrainTable)
    infer: InferTable = Field(default_factory=InferTable)
    budget: BudgetTable = Field(default_factory=BudgetTable)
    data: DataTable = Field(default_factory=DataTable)
    # the Hugging Face config.json the model was read from (set by the loader, carried to the
    # probe's child beside the spec): the probe builds the transformers class from it
    _hf_config: dict[str, Any] | None = PrivateAttr(default=None)

    @property
    def hf_config(self) -> dict[str, Any] | None:
        return self._hf_config

    def attach_hf_config(self, value: dict[str, Any] | None) -> Spec:
        """Record the config.json this spec was read from (private: no spec key, no JSON)."""
        self._hf_config = value
        return self

    @model_validator(mode="after")
    def _named_image_model(self) -> Spec:
        """A torchvision/timm model named as the factory: only its receptive field is modelled
        (families/conv2d.py); any other figure would be another network's."""
        from ..families.conv2d import named_refusal

        why = named_refusal(self.model.factory) if self.model.factory else None
        if why is not None:
            raise ValueError(f"model.factory {why}")
        return self

    @model_validator(mode="after")
    def _activation_dropout_modelled(self) -> Spec:
        """[train] activation_dropout is modelled where a family counts its masks (the
        encoder-decoders' BART and Whisper blocks); elsewhere the training peak would miss
        them."""
        if self.train.activation_dropout <= 0:
            return self
        from ..families import UnsupportedFamilyError, family_of

        try:
            unit = family_of(self.model)
        except UnsupportedFamilyError:
            return self  # the family itself is the problem (ARC302)
        if not unit.models_activation_dropout:
            raise ValueError(
                f"train.activation_dropout = {self.train.activation_dropout} is modelled for "
                f"encoder-decoders only (BART, Whisper); the training peak of the {unit.name} "
                "family would miss its masks: remove it and measure with `archcheck probe`"
            )
        return self

    @model_validator(mode="after")
    def _lists_match_layers(self) -> Spec:
        m = self.model
        for key in ("kernel", "dilations", "strides", "channels"):
            v = getattr(m, key)
            if isinstance(v, list) and len(v) != m.layers:
                raise ValueError(f"model.{key} lists {len(v)} values but model.layers = {m.layers}")
        return self

    @model_validator(mode="after")
    def _parallel_layout(self) -> Spec:
        """[train.parallel] consistent with itself, the older keys and the model (ARC304)."""
        from .parallel import layout_problem

        problem = layout_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self

    @property
    def name(self) -> str:
        return self.model.name or "model"

    @property
    def train_n(self) -> int:
        """n for `estimate`/`probe`: [train] seq_len, else max_n, else the positional table."""
        return self.train.seq_len or self.budget.max_n or self._table_n or 1024

    @property
    def budget_n(self) -> int:
        """n for budget rules: max_n, falling back to seq_len (the worst case decides)."""
        return self.budget.max_n or self.train.seq_len or self._table_n or 1024

    @property
    def infer_n(self) -> int:
        return self.infer.seq_len or self.budget.max_n or self.train_n

    @property
    def _table_n(self) -> int | None:
        """The longest n a learned position table serves: its rows less the reserved ones
        (RoBERTa's and BART's first two)."""
        m = self.model
        if m.max_positions is None:
            return None
        return max(1, m.max_positions - m.position_offset)


Bandwidth = Annotated[
    float,
    BeforeValidator(parse_bandwidth),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string"}],
            "description": 'bytes per second, or a rate such as "3.35 TB/s"',
        }
    ),
]
FlopRate = Annotated[
    float,
    BeforeValidator(parse_flops),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string"}],
            "description": 'FLOP per second, or a rate such as "989 TFLOP/s"',
        }
    ),
]


class DeviceTable(_Table):
    """`[tool.archcheck.devices.NAME]`: an accelerator the built-in table lacks, from its
    datasheet (dense tensor-core rates, no 2:4 sparsity). `[budget] device = "NAME"` then uses
    it for the latency roofline. A dtype without its own rate runs at the fp32 rate."""

    memory: Bytes
    bandwidth: Bandwidth
    fp32: FlopRate
    tf32: FlopRate | None = None
    bf16: FlopRate | None = None
    fp16: FlopRate | None = None
    aliases: list[str] = Field(default_factory=list)
    source: str = ""
    # The per-op latency model's host characteristics (measure them with `archcheck
    # calibrate`, or leave them out for the per-step roofline): the fixed cost of one eager op,
    # Hockney's half-performance GEMM size (in FLOPs, or in rows of the activation), and the
    # last-level cache's size and read rate.
    op_overhead: Seconds | None = Field(default=None, alias="op-overhead")
    gemm_half_flops: float | None = Field(default=None, alias="gemm-half-flops", ge=0)
    gemm_half_rows: float | None = Field(default=None, alias="gemm-half-rows", ge=0)
    llc: Bytes | None = None
    llc_bandwidth: Bandwidth | None = Field(default=None, alias="llc-bandwidth")
    # a convolution's fixed start-up per call and its rate (t = start + F / rate)
    conv_start_up: Seconds | None = Field(default=None, alias="conv-start-up")
    conv_rate: FlopRate | None = Field(default=None, alias="conv-rate")


class Settings(_WithProjectDevices):
    """[tool.archcheck] in pyproject.toml (or the top level of an archcheck.toml): project-wide
    settings. `exclude` / `extend-exclude` (gitignore-style globs, relative to the config's
    folder) and `respect-gitignore` decide which files discovery reads (see the CLI page)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    specs: list[str] = Field(default_factory=list)
    select: list[str] = Field(default_factory=list)
    ignore: list[str] = Field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = Field(default_factory=dict, alias="per-file-ignores")
    device: DeviceName | None = None
    devices: dict[str, DeviceTable] = Field(default_factory=dict)
    budget: dict[str, Any] = Field(default_factory=dict)
    model: list[dict[str, Any]] = Field(default_factory=list)
    probe: bool = False
    # discovery (files.Excluder, read there with the stdlib; validated here): gitignore-style
    # globs relative to the config's folder; `exclude` replaces the default (SKIP_DIRS)
    exclude: list[str] | None = None
    extend_exclude: list[str] = Field(default_factory=list, alias="extend-exclude")
    respect_gitignore: bool = Field(default=True, alias="respect-gitignore")


TABLE_KEYS: dict[str, frozenset[str]] = {
    "model": frozenset(ModelTable.model_fields),
    "train": frozenset(TrainTable.model_fields),
    "infer": frozenset(InferTable.model_fields),
    "budget": frozenset(BudgetTable.model_fields),
    "data": frozenset(DataTable.model_fields),
}
# tables inside tables: (table, key) -> the nested table's keys (unknown ones are ARC301)
NESTED_KEYS: dict[tuple[str, str], frozenset[str]] = {
    ("train", "parallel"): frozenset(ParallelTable.model_fields),
}
SETTINGS_KEYS: frozenset[str] = frozenset(
    {
        "specs",
        "select",
        "ignore",
        "per-file-ignores",
        "device",
        "devices",
        "budget",
        "model",
        "probe",
        "exclude",
        "extend-exclude",
        "respect-gitignore",
    }
)
