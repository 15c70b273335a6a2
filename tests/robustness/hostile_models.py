"""Hostile factories and forwards for the isolation tests (copied into a temporary project).

Each factory returns a small working model whose `forward` misbehaves in eval mode (the
behavioural checks run the model in eval mode; the training-step probe does not), or
misbehaves while it is built. `ARCHCHECK_HOSTILE_DIR` names the folder where a factory
leaves what the test inspects afterwards (the pid of a background process).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import subprocess
import sys
import time
from typing import Any

import torch
from torch import nn


class Tiny(nn.Module):
    """Embedding + linear over a 20-token vocabulary: `eval_hook` runs in eval-mode forwards."""

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


def exit_in_eval() -> nn.Module:
    return Tiny(lambda: os._exit(7))


def segfault_in_eval() -> nn.Module:
    return Tiny(lambda: ctypes.string_at(0))


def sleep_in_eval() -> nn.Module:
    return Tiny(lambda: time.sleep(600))


def chdir_and_clear_env() -> nn.Module:
    os.chdir("/")
    os.environ.clear()
    sys.path.insert(0, "/nonexistent")
    return Tiny()


def bytes_on_stdout() -> nn.Module:
    os.write(1, b"\xff\xfe not utf-8 \x1b[2J\n")
    sys.stdout.buffer.write(b"\xff\xfe")
    return Tiny()


def forged_result() -> nn.Module:
    def forge() -> None:
        print("\n@@ARCHCHECK-PROBE@@{broken json", flush=True)

    atexit.register(forge)
    forge()
    return Tiny()


def background_sleep() -> nn.Module:
    proc = subprocess.Popen(["sleep", "300"])
    folder = os.environ.get("ARCHCHECK_HOSTILE_DIR", ".")
    with open(os.path.join(folder, f"sleep-{os.getpid()}.pid"), "w") as fh:
        fh.write(str(proc.pid))
    return Tiny()


def allocate_a_tebibyte() -> nn.Module:
    def grab() -> None:
        torch.ones(2**40, dtype=torch.uint8)

    return Tiny(grab)


def sigkill_in_eval() -> nn.Module:
    import signal

    return Tiny(lambda: os.kill(os.getpid(), signal.SIGKILL))


def bytes_then_hang() -> nn.Module:
    os.write(1, b"\xff\xfe\x1b[2J")
    time.sleep(600)
    return Tiny()
