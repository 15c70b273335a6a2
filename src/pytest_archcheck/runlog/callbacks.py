"""Run-log writers for the two training frameworks people use: transformers' `Trainer` and
Lightning. Both drive a `RunRecorder` (recorder.py) from the framework's own hooks; each class is
built when asked for, so importing archcheck never imports either framework."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from .recorder import RunRecorder


def trainer_callback(spec: str | Path, **kwargs: Any) -> Any:
    """`Trainer(..., callbacks=[trainer_callback("model.archcheck.toml")])`."""
    # imported by name so the type checker sees Any whether or not transformers is installed
    base: Any = importlib.import_module("transformers").TrainerCallback

    class ArchcheckTrainerCallback(base):  # type: ignore[misc]
        def __init__(self) -> None:
            self.recorder: RunRecorder | None = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.recorder = RunRecorder(
                spec, model=kw.get("model"), optimizer=kw.get("optimizer"), **kwargs
            )
            self.recorder.start()

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.recorder is not None:
                self.recorder.step_begin()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.recorder is not None:
                self.recorder.step_end()

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.recorder is not None:
                self.recorder.close()

    return ArchcheckTrainerCallback()


def lightning_callback(spec: str | Path, **kwargs: Any) -> Any:
    """`lightning.Trainer(callbacks=[lightning_callback("model.archcheck.toml")])`."""
    base: Any
    try:
        base = importlib.import_module("lightning.pytorch").Callback
    except ImportError:  # the older package name
        base = importlib.import_module("pytorch_lightning").Callback

    class ArchcheckLightningCallback(base):  # type: ignore[misc]
        def __init__(self) -> None:
            self.recorder: RunRecorder | None = None

        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            opts = getattr(trainer, "optimizers", None) or [None]
            self.recorder = RunRecorder(spec, model=pl_module, optimizer=opts[0], **kwargs)
            self.recorder.start()

        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, i: int) -> None:
            if self.recorder is not None:
                self.recorder.step_begin()

        def on_train_batch_end(
            self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, i: int
        ) -> None:
            if self.recorder is not None:
                self.recorder.step_end()

        def on_train_end(self, trainer: Any, pl_module: Any) -> None:
            if self.recorder is not None:
                self.recorder.close()

    return ArchcheckLightningCallback()
