"""JSON Schemas of what `check`, `estimate` and `probe` print with `--format json`.

`archcheck schema --output check|estimate|probe` prints them (docs/cli.md, "JSON output"). They are written as pydantic models, only to generate JSON Schema: the outputs are
built elsewhere (report/formats.py, estimate.py, probe/result.py), and a test validates the
real output of each verb against these schemas with `jsonschema`, with every object closed
(`strict`): a field the code prints but the schema does not document fails that test.

The published schemas leave objects open (`additionalProperties` true): new fields are
additive (DESIGN.md's contract), so a consumer validating with an older schema keeps working.
Bytes and FLOPs are integers; `null` means "not applicable" (no budget, no measurement).
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- check -------------------------------------------------------------------------------


class FindingOut(_Open):
    """One finding: the rule, where (the spec line a user must change), and the fix."""

    code: str = Field(description="rule code, e.g. ARC101", pattern=r"^ARC\d{3}$")
    name: str = Field(description="the rule's name, e.g. train-memory-over-budget")
    severity: Literal["error", "warning"]
    message: str
    path: str = Field(description="the file, relative to the current directory when inside it")
    line: int = Field(ge=1, description="1-based line of the offending key")
    column: int = Field(ge=1)
    model: str | None = Field(description="the model's name (a file may hold several)")
    fix: str | None = Field(description="what to change, one sentence; null when none")
    data: dict[str, Any] = Field(
        description="machine-readable figures of the finding (rule-specific; `details`: a "
        "child's output for ARC303)"
    )
    url: str = Field(description="the rule's documentation page")


class ModelTimings(_Open):
    """Phase times of one model under `check --probe` (timings.py): the fields below, and
    every other key a phase ("start_up", "build", "step", "behaviour/masks", ...) in
    seconds."""

    __pydantic_extra__: dict[str, float] = Field(init=False)  # the phases, by name

    path: str
    model: str
    concern: str = Field(description="which checks the run served: all, memory, latency, …")
    cached: bool = Field(description="the measurement came from the cache")
    total: float = Field(description="seconds for this model")


class Timings(_Open):
    """Where a measured run's time went (only with `check --probe`)."""

    models: list[ModelTimings]
    total: float = Field(description="seconds, the whole measured run")


class CheckOutput(_Open):
    """`archcheck check --format json`."""

    schema_version: Literal[1]
    files: int = Field(ge=0, description="distinct files read (specs and config files)")
    findings: list[FindingOut]
    timings: Timings | None = Field(default=None, description="with --probe only")


# --- estimate ----------------------------------------------------------------------------


class TargetOut(_Open):
    """Whose kernel semantics the figures describe (runtime/)."""

    kind: Literal["cpu", "cuda"]
    device: str | None
    torch: str | None = Field(description="the torch release the kernel rules were read from")
    label: str


class MemoryOut(_Open):
    """The training-step peak per device at the phase where it falls; the parts add up to
    `total` exactly (bytes)."""

    params: int = Field(description="fp32 weights and buffers, per rank")
    grads: int = Field(description="gradients alive at the peak")
    optimizer: int = Field(description="optimizer state")
    activations: int = Field(description="tensors saved for backward")
    attention_scores: int
    logits: int
    backward_transients: int = Field(description="gradients in flight early in backward")
    forward_transients: int = Field(description="bytes beyond the end-of-forward set")
    step_temporaries: int = Field(description="the optimizer step's temporaries")
    allocator: int = Field(description="CUDA: cuBLAS workspaces and allocator rounding")
    unsharded_params: int = Field(description="FSDP: all-gathered parameters at the peak")
    comm_buffers: int = Field(description="FSDP: all-gather / reduce-scatter buffers")
    total: int
    phase: Literal["forward", "backward", "late-backward", "end-of-backward", "optimizer"]
    target: str
    layout: str | None = Field(default=None, description="the parallel layout, when sharded")


class FlopsOut(_Open):
    forward: int | None
    train_step: int | None


class DependencyOut(_Open):
    """The dependency path (docs/concepts.md: span, reach, path length)."""

    span: int | None = Field(description="[budget] span d; null when not declared")
    reach: int | None = Field(description="positions per direction; null = unlimited")
    path_length: int | None = Field(description="fewest layers on a path of length span")
    covered: bool | None = Field(description="null when no span is declared")
    sequential_steps: int
    receptive_field: int | None = Field(description="R = 1 + (k-1)L; null = unlimited")
    layers_needed: int | None
    gradient_horizon: int | None = Field(description="truncated BPTT: the truncation length")
    directions: Literal["past", "both"]


class LatencyEstimateOut(_Open):
    estimate_ms: float
    sequential_steps: int
    device: str
    label: str


class TermOut(_Open):
    """One printed figure and the registered formula behind it (docs/formulas.md)."""

    key: str
    label: str
    value: int | float | bool | None
    formula: str
    inputs: dict[str, Any]


class SensitivityOut(_Open):
    """What halving one knob buys."""

    knob: str
    key: str = Field(description="the spec key, e.g. train.seq_len")
    value: int
    halved: int
    peak: int
    peak_halved: int
    saved: int
    elasticity: float = Field(description="e in peak ∝ knob^e")
    latency_ms: float | None = None
    latency_halved_ms: float | None = None


class NotModelledOut(_Open):
    """Why a figure is not given, and what to do instead."""

    message: str
    key: str = Field(description="the spec key it concerns, e.g. model.family")
    fix: str


class EstimateModel(_Open):
    """The formula report of one model."""

    name: str
    path: str | None
    family: str
    unit: str = Field(description="the family unit that computed it")
    target: TargetOut
    n: int
    batch: int
    params: int
    params_active: int | None = Field(description="mixture of experts: parameters per token")
    memory: MemoryOut | None = Field(
        description="the training peak; null when the family's formulas do not model it "
        "(`not_modelled` says why)"
    )
    kv_cache: int | None
    infer_memory: int | None
    flops: FlopsOut
    dependency: DependencyOut
    n_max: int | None = Field(description="largest n whose training peak fits [budget] memory")
    rules_of_thumb: dict[str, Any] | None = Field(
        description="the article's rules of thumb (transformers)"
    )
    latency: LatencyEstimateOut | None
    terms: list[TermOut]
    sensitivity: list[SensitivityOut]
    run: dict[str, Any] | None = Field(description="the training-run log beside the spec")
    not_modelled: dict[str, NotModelledOut] = Field(
        description='figures the formulas do not model for this spec ("memory", "kv_cache"), '
        "each refused by name: never a number (ARC307)"
    )


class EstimateOutput(_Open):
    """`archcheck estimate SPEC --format json`."""

    schema_version: Literal[1]
    models: list[EstimateModel]


# --- probe -------------------------------------------------------------------------------


class BreakdownOut(_Open):
    params: int
    grads: int
    optimizer: int
    activations: int
    temporaries: int


class LatencyOut(_Open):
    p50_ms: float
    p95_ms: float
    p99_ms: float
    samples: int


class ProbeModel(_Open):
    """One probe of one model; `peak_bytes` is null when it could not run (see findings)."""

    name: str
    path: str | None
    device: Literal["fake", "cpu", "cuda"]
    target: str | None = Field(description="whose kernel semantics the step ran")
    n: int
    batch: int
    peak_bytes: int | None
    breakdown: BreakdownOut | None
    attention_kernel: str | None
    flops: FlopsOut | None
    latency: LatencyOut | None
    probes: int = Field(description="how many model runs the answer took")
    findings: list[FindingOut]
    extra: dict[str, Any] | None = Field(default=None, description="what else the probe saw")


class ProbeOutput(_Open):
    """`archcheck probe SPEC --format json`."""

    schema_version: Literal[1]
    models: list[ProbeModel]


OUTPUTS: dict[str, type[BaseModel]] = {
    "check": CheckOutput,
    "estimate": EstimateOutput,
    "probe": ProbeOutput,
}


def output_schema(kind: str, strict: bool = False) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one verb's JSON output. `strict`: every object
    closed (additionalProperties false), for tests that the schema documents every field."""
    schema = OUTPUTS[kind].model_json_schema()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    if strict:
        schema = _closed(copy.deepcopy(schema))
    return schema


def _closed(node: Any) -> Any:
    if isinstance(node, dict):
        if "properties" in node and node.get("additionalProperties") is True:
            node["additionalProperties"] = False
        for value in node.values():
            _closed(value)
    elif isinstance(node, list):
        for value in node:
            _closed(value)
    return node
