"""CPU kernel semantics that are not a plain tensor size: oneDNN's recurrent workspace."""

from __future__ import annotations

from ..formulas.registry import formula

PAGE = 4096  # oneDNN page-aligns every part of an RNN workspace (rnn_utils.cpp, set_offsets)


def _rnd_up(x: int, to: int) -> int:
    return -(-x // to) * to


def good_ld(dim: int, elem: int) -> int:
    """oneDNN's leading dimension for a GEMM operand (rnn_utils.cpp, get_good_ld): rounded up
    to 64 bytes, plus another 64 bytes when it is a multiple of 256 elements (4K aliasing)."""
    q = 64 // elem
    ld = _rnd_up(dim, q)
    return ld + q if ld % 256 == 0 else ld


@formula(
    "runtime.onednn_lstm_workspace",
    "page-aligned parts: gates T*B*ld(4H)*e, ht T*B*ld(H)*e, states 2(T+1)*B*ld(max(I,H))*e,"
    " c 2(T+1)*B*H*e, diff states 2 x 2(T+1)*B*ld4(max(I,H))*4, diff c 2(T+1)*B*H*4",
    "oneDNN 3.x src/cpu/rnn/rnn_utils.hpp (init_conf, set_workspace_sizes) and rnn_utils.cpp"
    " (get_good_ld, set_offsets), as torch 2.13's mkldnn_rnn_layer calls it",
)
def rnn_workspace(seq: int, batch: int, inp: int, hidden: int, elem: int = 4) -> int:
    """Bytes of the workspace oneDNN's LSTM keeps from forward to backward, per layer and
    direction (torch calls `mkldnn_rnn_layer` once per layer and direction: n_layer = n_dir =
    1, so the (n_layer + 1) state slots are 2).

    `elem`: bytes of the cell's data type (4 for fp32; 2 for bf16 under autocast, where the
    states, gates, h and c are 16-bit and the gradient accumulators stay fp32). Parts, each
    starting on a 4096-byte page: ws_gates (T·B rows of the 4H gates), ws_ht (T·B rows of h),
    ws_states_layer (2·(T+1)·B rows of max(I, H); dst_iter == dst_layer, so no second copy),
    ws_states_iter_c (the c states, unpadded), ws_diff_states_layer and ws_diff_states_iter
    (fp32 accumulators), ws_diff_states_iter_c; the buffer torch allocates is a whole number of
    pages. Checked against the real kernel on 300 shapes (T 1..200, B 1..6, I 4..650,
    H 8..256, fp32 and bf16, AVX-512 x86): equal to the byte."""
    t, b, h = seq, batch, hidden
    wide = max(inp, hidden)
    states = 2 * (t + 1) * b
    parts = [
        t * b * good_ld(4 * h, elem) * elem,  # ws_gates
        t * b * good_ld(h, elem) * elem,  # ws_ht
        states * good_ld(wide, elem) * elem,  # ws_states_layer (= ws_states_iter)
        states * h * elem,  # ws_states_iter_c
        states * good_ld(wide, 4) * 4,  # ws_diff_states_layer
        states * good_ld(wide, 4) * 4,  # ws_diff_states_iter
        states * h * 4,  # ws_diff_states_iter_c
    ]
    off = 0
    for nbytes in parts:
        off = _rnd_up(off, PAGE) + nbytes
    return _rnd_up(off, PAGE)
