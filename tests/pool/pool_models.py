"""Factories for the probe-pool tests (copied into a temporary project): two good models and
one each that hangs, aborts, runs out of memory under the cap, or is SIGKILLed -- all in the
behavioural checks, which run the model in eval mode (the training-step probe does not)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import torch
from torch import nn


class Tiny(nn.Module):
    """Embedding + linear over a 20-token vocabulary; `eval_hook` runs in eval-mode forwards."""

    def __init__(self, eval_hook: Any = None) -> None:
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        self.out = nn.Linear(8, 20)
        self.eval_hook = eval_hook

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if not self.training and self.eval_hook is not None:
            self.eval_hook()
        return self.out(self.emb(tokens))


def good() -> nn.Module:
    return Tiny()


def hang() -> nn.Module:
    return Tiny(lambda: time.sleep(600))


def abort() -> nn.Module:
    return Tiny(lambda: os._exit(7))


def oom() -> nn.Module:
    """A Python allocation far over any --probe-memory cap: MemoryError under RLIMIT_AS."""
    return Tiny(lambda: bytearray(2**40))


def sigkill() -> nn.Module:
    return Tiny(lambda: os.kill(os.getpid(), signal.SIGKILL))


def poison() -> nn.Module:
    """Changes torch's global state (default dtype) and leaves it changed."""
    torch.set_default_dtype(torch.float64)
    return Tiny()


def report_dtype() -> nn.Module:
    """Fails loudly if the previous model's global change leaked into this one."""
    if torch.get_default_dtype() != torch.float32:
        raise RuntimeError(f"inherited default dtype {torch.get_default_dtype()}")
    return Tiny()


def report_threads() -> nn.Module:
    """Appends torch's intra-op thread count at build time to the file $THREADS_LOG names
    (the pool sets it per task: Pool._threads_for)."""
    with open(os.environ["THREADS_LOG"], "a", encoding="ascii") as fh:
        fh.write(f"{torch.get_num_threads()}\n")
    return Tiny()
