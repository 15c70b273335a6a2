"""CPU kernel semantics that are not a plain tensor size: oneDNN's recurrent workspace."""

from __future__ import annotations

from ..formulas.registry import formula


@formula(
    "runtime.onednn_lstm_workspace",
    "bytes = s*b*(6*max(in, H) + 9*H + 18)*4 per layer and direction",
    "fit on torch 2.13 x86 (oneDNN sizes it internally): within 2 % for s >= 128",
)
def rnn_workspace(seq: int, batch: int, inp: int, hidden: int) -> int:
    """oneDNN LSTM training workspace per layer and direction, bytes (fit on torch 2.13 x86:
    within 2% for s >= 128; the library sizes it internally)."""
    return seq * batch * (6 * max(inp, hidden) + 9 * hidden + 18) * 4
