"""The training log: what a real run measured, next to the spec that estimated it.

The article ends its checklist with "record the real peak memory, P90 n and throughput in the
training log, as the basis for changing the architecture". `record_run` (a context manager for a
hand-written loop), `trainer_callback` (transformers' Trainer) and `lightning_callback`
(Lightning) write `<model name>.run.json` next to the spec: the peak memory measured by torch
(`torch.cuda.max_memory_allocated` on a GPU, torch's own `MemTracker` on the CPU), the batch and
padded length of the step where it fell, tokens per second, and the distribution of sequence
lengths the model saw.

This module is the static side: it reads and validates that file (no torch), so `archcheck
check` and `estimate` can print the estimate against the run (ARC215) and take P90 n from it
(ARC212). The writers live in `recorder.py` and `callbacks.py` and import torch only when used.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
SUFFIX = ".run.json"
MAX_LOG_BYTES = 16 << 20  # a run log is a few kB; refuse anything that is clearly not one


class RunLogError(Exception):
    """A run log that cannot be read or is not one of ours."""


@dataclass(frozen=True)
class RunLog:
    """What one training run measured (the JSON `record_run` writes)."""

    path: str
    peak_bytes: int
    peak_source: str  # "torch.cuda.max_memory_allocated" | "torch MemTracker (cpu)"
    device: str  # "cuda" | "cpu"
    device_name: str
    peak_batch: int
    peak_n: int
    steps: int
    tokens_per_s: float | None
    lengths: dict[int, int]  # sequence length -> count, over every training forward
    torch_version: str

    def length_percentile(self, q: float) -> int | None:
        """The q-th percentile of the lengths seen (nearest rank), None when none were seen."""
        total = sum(self.lengths.values())
        if total == 0:
            return None
        rank = max(1, math.ceil(q / 100 * total))
        seen = 0
        for length in sorted(self.lengths):
            seen += self.lengths[length]
            if seen >= rank:
                return length
        return max(self.lengths)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "peak_bytes": self.peak_bytes,
            "peak_source": self.peak_source,
            "device": self.device,
            "device_name": self.device_name,
            "peak_batch": self.peak_batch,
            "peak_n": self.peak_n,
            "steps": self.steps,
            "tokens_per_s": self.tokens_per_s,
            "p50_n": self.length_percentile(50),
            "p90_n": self.length_percentile(90),
            "max_n": max(self.lengths) if self.lengths else None,
        }


def default_path(spec_path: str | Path, model_name: str) -> Path:
    """Where the writers put a model's log and the readers look for it: next to the spec."""
    return Path(spec_path).parent / f"{model_name}{SUFFIX}"


def _int(doc: dict[str, Any], key: str, path: str, minimum: int = 0) -> int:
    v = doc.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise RunLogError(f"{path}: `{key}` must be an integer >= {minimum}, got {v!r}")
    return v


def read_run_log(path: str | Path) -> RunLog:
    """Parse and validate a run log; RunLogError says what is wrong (never a traceback)."""
    p = Path(path)
    try:
        if not p.is_file():
            raise RunLogError(f"{p}: not a regular file")
        if p.stat().st_size > MAX_LOG_BYTES:
            raise RunLogError(f"{p}: {p.stat().st_size:,} bytes is too large for a run log")
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunLogError(f"{p}: cannot read the run log ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION:
        raise RunLogError(f"{p}: not a run log of schema_version {SCHEMA_VERSION}")
    raw_lengths = doc.get("lengths", {})
    if not isinstance(raw_lengths, dict):
        raise RunLogError(f"{p}: `lengths` must be a table of length -> count")
    lengths: dict[int, int] = {}
    for k, v in raw_lengths.items():
        if not str(k).isdigit() or not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise RunLogError(f"{p}: `lengths` entry {k!r}: {v!r} is not length -> count")
        lengths[int(k)] = v
    tps = doc.get("tokens_per_s")
    if tps is not None and (not isinstance(tps, int | float) or isinstance(tps, bool) or tps < 0):
        raise RunLogError(f"{p}: `tokens_per_s` must be a number, got {tps!r}")
    device = doc.get("device")
    if device not in ("cuda", "cpu"):
        raise RunLogError(f"{p}: `device` must be 'cuda' or 'cpu', got {device!r}")
    return RunLog(
        path=str(p),
        peak_bytes=_int(doc, "peak_bytes", str(p), 1),
        peak_source=str(doc.get("peak_source", "")),
        device=device,
        device_name=str(doc.get("device_name", "")),
        peak_batch=_int(doc, "peak_batch", str(p), 1),
        peak_n=_int(doc, "peak_n", str(p), 1),
        steps=_int(doc, "steps", str(p), 1),
        tokens_per_s=None if tps is None else float(tps),
        lengths=lengths,
        torch_version=str(doc.get("torch", "")),
    )


def trainer_callback(spec: str | Path, **kwargs: Any) -> Any:
    """A `transformers.TrainerCallback` that writes the run log of the spec's model."""
    from .callbacks import trainer_callback as make

    return make(spec, **kwargs)


def lightning_callback(spec: str | Path, **kwargs: Any) -> Any:
    """A Lightning `Callback` that writes the run log of the spec's model."""
    from .callbacks import lightning_callback as make

    return make(spec, **kwargs)


def record_run(spec: str | Path, **kwargs: Any) -> Any:
    """Context manager for a hand-written loop; see `recorder.RunRecorder`."""
    from .recorder import RunRecorder

    return RunRecorder(spec, **kwargs)


def find_run_log(spec_path: str, model_name: str, declared: str | None) -> Path | None:
    """The run log of a model: `[data] run_log` (relative to the spec) or the default path.
    Recorded for the static cache either way, so a new or changed log re-checks the spec."""
    from ..deps import note_file

    # strings, not Path: a static check asks once per spec file, and finds nothing mostly
    folder = os.path.dirname(spec_path)
    path = os.path.join(folder, declared if declared else f"{model_name}{SUFFIX}")
    note_file(path)
    return Path(path) if declared or os.path.isfile(path) else None
