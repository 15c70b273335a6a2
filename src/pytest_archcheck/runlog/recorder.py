"""Record a real training run: peak memory per step, the shape where it fell, tokens per second
and the lengths seen, written to the spec's run log (runlog/__init__.py reads it).

This runs in the user's own training process (it is their loop), never in archcheck's. The peak
is torch's own figure: `torch.cuda.max_memory_allocated` reset at every step on a GPU; on the
CPU, where torch keeps no allocator statistics, torch's `MemTracker`
(`torch.distributed._tools.mem_tracker`), which counts every live storage under a dispatch mode
(slower: use it on the small CPU runs it is meant for). Lengths come from a forward pre-hook on
the model: the row sums of `attention_mask` when one is passed, else the padded length.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import SCHEMA_VERSION, default_path

_INPUT_KEYS = ("input_ids", "inputs_embeds", "x", "input", "src", "tokens", "pixel_values")


@dataclass
class _Seen:
    """What one step's forwards fed the model."""

    lengths: Counter[int] = field(default_factory=Counter)
    tokens: int = 0
    shape: tuple[int, int] = (0, 0)  # (batch, padded length), the largest of the step
    used: bool = False


def _model_name(spec_path: Path) -> str:
    """The one model a spec file describes (static load: no user code)."""
    from ..spec.load import load_spec_file

    loaded = load_spec_file(spec_path.read_text(encoding="utf-8"), str(spec_path))
    return loaded.name


class RunRecorder:
    """Context manager around a training loop; call `step()` (or `step_begin`/`step_end`) per
    optimizer step. `model` gets a forward pre-hook for the lengths; without one, pass
    `lengths=` to `step_end` or call `observe`."""

    def __init__(
        self,
        spec: str | Path,
        *,
        model: Any = None,
        optimizer: Any = None,
        output: str | Path | None = None,
        model_name: str | None = None,
        device: str | None = None,
    ) -> None:
        self.spec_path = Path(spec)
        name = model_name or _model_name(self.spec_path)
        self.output = Path(output) if output is not None else default_path(self.spec_path, name)
        self.model, self.optimizer = model, optimizer
        self._device = device
        self._lengths: Counter[int] = Counter()
        self._hooks: list[Any] = []
        self._tracker: Any = None
        self._steps = 0
        self._tokens = 0
        self._seconds = 0.0
        self._peak = 0
        self._peak_shape = (0, 0)
        self._explicit, self._hooked = _Seen(), _Seen()
        self._t0 = 0.0
        self._started = False

    # ---- lifecycle ----

    def __enter__(self) -> RunRecorder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def device(self) -> torch.device:
        if self._device is not None:
            return torch.device(self._device)
        if self.model is not None:
            p = next(iter(self.model.parameters()), None)
            if p is not None:
                found: torch.device = p.device
                return found
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        if self.model is not None:
            self.attach(self.model)
        if self.device.type != "cuda":
            from torch.distributed._tools.mem_tracker import MemTracker

            self._tracker = MemTracker()
            external = [x for x in (self.model, self.optimizer) if x is not None]
            if external:
                self._tracker.track_external(*external)
            self._tracker.__enter__()

    def attach(self, model: Any) -> None:
        """Record the shape and lengths of every training forward of `model`."""
        self._hooks.append(model.register_forward_pre_hook(self._pre_forward, with_kwargs=True))

    def close(self) -> None:
        """Stop recording and write the run log (atomically: a crash never leaves half a file)."""
        if not self._started:
            return
        self._started = False
        for h in self._hooks:
            h.remove()
        self._hooks.clear()
        if self._tracker is not None:
            self._tracker.__exit__(None, None, None)
        if self._steps:
            self._write()

    # ---- per step ----

    def step_begin(self) -> None:
        self._explicit, self._hooked = _Seen(), _Seen()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self._t0 = time.perf_counter()

    def step_end(self, lengths: Sequence[int] | Any = None) -> None:
        if lengths is not None:
            self.observe(lengths=lengths)
        seen = self._explicit if self._explicit.used else self._hooked
        self._lengths.update(seen.lengths)
        shape = seen.shape
        dev = self.device
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
            peak = int(torch.cuda.max_memory_allocated(dev))
        else:
            snap = self._tracker.get_tracker_snapshot("peak")
            peak = int(sum(v.get("Total", 0) for v in snap.values()))
            self._tracker.reset_mod_stats()  # MemTracker counts one iteration per module
        elapsed = time.perf_counter() - self._t0
        self._steps += 1
        if self._steps > 1:  # the first step warms up the allocator and kernels
            self._seconds += elapsed
            self._tokens += seen.tokens
        if peak > self._peak or self._peak_shape == (0, 0):
            self._peak, self._peak_shape = max(peak, self._peak), shape

    @contextmanager
    def step(self, lengths: Sequence[int] | Any = None) -> Iterator[None]:
        self.step_begin()
        yield
        self.step_end(lengths)

    def observe(
        self, input_ids: Any = None, attention_mask: Any = None, lengths: Any = None
    ) -> None:
        """Record one batch by hand: in a step where this is called, what the model hook saw
        is dropped (the caller knows the real lengths better than the padded shape)."""
        self._record(self._explicit, input_ids, attention_mask, lengths)

    def _record(
        self, into: _Seen, input_ids: Any = None, attention_mask: Any = None, lengths: Any = None
    ) -> None:
        if input_ids is not None and getattr(input_ids, "ndim", 0) >= 2:
            b, n = int(input_ids.shape[0]), int(input_ids.shape[1])
            into.shape = (max(into.shape[0], b), max(into.shape[1], n))
            if attention_mask is None and lengths is None:
                lengths = [n] * b
        if attention_mask is not None and getattr(attention_mask, "ndim", 0) == 2:
            lengths = attention_mask.to(torch.int64).sum(-1)
        if lengths is None:
            return
        values = [int(v) for v in (lengths.tolist() if hasattr(lengths, "tolist") else lengths)]
        into.lengths.update(values)
        into.tokens += sum(values)
        if into.shape == (0, 0):
            into.shape = (len(values), max(values, default=0))
        into.used = True

    def _pre_forward(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not module.training:
            return
        x = next((kwargs[k] for k in _INPUT_KEYS if isinstance(kwargs.get(k), torch.Tensor)), None)
        if x is None:
            x = next((a for a in args if isinstance(a, torch.Tensor)), None)
        if x is None or x.ndim < 2:
            return
        mask = kwargs.get("attention_mask")
        self._record(self._hooked, x, mask if isinstance(mask, torch.Tensor) else None)

    # ---- output ----

    def _write(self) -> None:
        dev = self.device
        doc = {
            "schema_version": SCHEMA_VERSION,
            "spec": self.spec_path.name,
            "peak_bytes": self._peak,
            "peak_source": "torch.cuda.max_memory_allocated"
            if dev.type == "cuda"
            else "torch MemTracker (cpu)",
            "device": "cuda" if dev.type == "cuda" else "cpu",
            "device_name": torch.cuda.get_device_name(dev)
            if dev.type == "cuda"
            else platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "peak_batch": max(1, self._peak_shape[0]),
            "peak_n": max(1, self._peak_shape[1]),
            "steps": self._steps,
            "tokens_per_s": self._tokens / self._seconds if self._seconds > 0 else None,
            "lengths": {str(k): v for k, v in sorted(self._lengths.items())},
        }
        self.output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".run-", suffix=".json", dir=self.output.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        os.replace(tmp, self.output)
