"""Live-storage accounting and FLOP counting under one TorchDispatchMode.

Every tensor an aten op returns is mapped to its untyped storage; each storage is counted once
(views share it), from the op that created it until `weakref.finalize` reports that the storage
died. The same mode runs under FakeTensorMode (no memory, fake storages carry their byte size)
and on real CPU tensors, so the two agree to the byte whenever the kernels agree.

Time is a logical clock that ticks at every allocation and every free; each storage keeps its
(alloc, free) ticks so that the set of storages alive at the peak tick can be classified after
the step (params, grads, optimizer state, forward activations, temporaries).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils import flop_counter as _fc
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

aten = torch.ops.aten

# Fused attention kernels -> the name `attention_kernel` reports.
ATTENTION_OPS: dict[Any, str] = {
    aten._scaled_dot_product_flash_attention: "flash",
    aten._scaled_dot_product_flash_attention_for_cpu: "flash",
    aten._flash_attention_forward: "flash",
    aten._scaled_dot_product_efficient_attention: "efficient",
    aten._efficient_attention_forward: "efficient",
    aten._scaled_dot_product_cudnn_attention: "cudnn",
}


def _is_causal(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Read `is_causal` from a fused attention call (positional or keyword)."""
    if "is_causal" in kwargs:
        return bool(kwargs["is_causal"])
    schema = func._schema
    for i, a in enumerate(schema.arguments):
        if a.name == "is_causal" and i < len(args):
            return bool(args[i])
        if a.name == "causal" and i < len(args):  # _flash_attention_forward / backward
            return bool(args[i])
        if a.name == "custom_mask_type" and i < len(args):  # efficient: 1 = causal from top-left
            return int(args[i]) != 0
    return False


def _attention_like(func: Any) -> bool:
    name = func.overloadpacket.__name__
    return "attention" in name


# Fused attention ops whose FLOPs are computed here from the q/k/v shapes (not by
# torch.utils.flop_counter, whose formulas assert equal head counts before torch 2.12 -- GQA
# calls raised inside the probe -- and read max_seqlen/cum_seq arguments that may be None).
# Value: (is_backward, layout) with layout "bhsd" for the _scaled_dot_product_* ops and "bshd"
# for the lower-level _flash_attention_* / _efficient_attention_* ops. Forward ops take
# (query, key, value, ...), backward ops (grad_out, query, key, value, ...).
def _attention_flop_ops() -> dict[Any, tuple[bool, str]]:
    names = {
        "_scaled_dot_product_flash_attention": (False, "bhsd"),
        "_scaled_dot_product_flash_attention_for_cpu": (False, "bhsd"),
        "_scaled_dot_product_efficient_attention": (False, "bhsd"),
        "_scaled_dot_product_cudnn_attention": (False, "bhsd"),
        "_flash_attention_forward": (False, "bshd"),
        "_efficient_attention_forward": (False, "bshd"),
        "_scaled_dot_product_flash_attention_backward": (True, "bhsd"),
        "_scaled_dot_product_flash_attention_for_cpu_backward": (True, "bhsd"),
        "_scaled_dot_product_efficient_attention_backward": (True, "bhsd"),
        "_scaled_dot_product_cudnn_attention_backward": (True, "bhsd"),
        "_flash_attention_backward": (True, "bshd"),
        "_efficient_attention_backward": (True, "bshd"),
    }
    out: dict[Any, tuple[bool, str]] = {}
    for name, how in names.items():
        packet = getattr(aten, name, None)
        if packet is not None:
            out[packet] = how
    return out


ATTENTION_FLOP_OPS = _attention_flop_ops()


def attention_flops(
    q_shape: Any, k_shape: Any, v_shape: Any, layout: str = "bhsd", backward: bool = False
) -> int:
    """FLOPs of one dense attention call from its q/k/v shapes (multiply-add = 2 FLOPs).

    k/v heads are broadcast to the query heads (GQA/MQA: the kernel reads each k/v head for
    Hq/Hkv query heads, the arithmetic is that of Hq heads). Forward: Q·Kᵀ and P·V,
    2·B·Hq·Lq·Lk·(Dqk + Dv) = 4·B·Hq·Lq·Lk·D; backward: the five s²-matmuls of
    torch.utils.flop_counter.sdpa_backward_flop_count (score recompute, dP, dV, dQ, dK),
    2·B·Hq·Lq·Lk·(3·Dqk + 2·Dv) = 2.5x the forward. Causal masking is applied by the caller.
    """
    if layout == "bshd":
        b, lq, hq, dqk = (int(x) for x in q_shape)
        lk, dv = int(k_shape[1]), int(v_shape[-1])
    else:
        b, hq, lq, dqk = (int(x) for x in q_shape)
        lk, dv = int(k_shape[2]), int(v_shape[-1])
    if backward:
        return 2 * b * hq * lq * lk * (3 * dqk + 2 * dv)
    return 2 * b * hq * lq * lk * (dqk + dv)


_RNN_OPS = {
    aten.mkldnn_rnn_layer,
    aten.mkldnn_rnn_layer_backward,
    aten._cudnn_rnn,
    aten._cudnn_rnn_backward,
}
_RNN_BACKWARD = {aten.mkldnn_rnn_layer_backward, aten._cudnn_rnn_backward}


def rnn_flops(args: tuple[Any, ...], backward: bool) -> int:
    """Fused recurrent layers (oneDNN LSTM on CPU, cuDNN RNNs on CUDA), which
    torch.utils.flop_counter does not count: each time step multiplies its input and its
    hidden state by every gate matrix, 2 * T * B * (numel(W_ih) + numel(W_hh)) FLOPs per layer
    and direction; backward computes the input and weight gradients, twice that.
    """
    x = args[0]
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        return 0
    tokens = x.numel() // x.shape[-1]  # T * B (packed sequences: total tokens)
    weights = args[1] if isinstance(args[1], (list, tuple)) else args[1:3]  # cuDNN: a list
    macs = sum(w.numel() for w in weights if isinstance(w, torch.Tensor) and w.dim() == 2)
    flops = 2 * tokens * macs
    return 2 * flops if backward else flops


def op_flops(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    """FLOPs of one aten op: dense fused attention from its shapes (GQA-aware, causal at half
    cost), everything else by torch.utils.flop_counter's registered formula.

    A registered formula may raise on calls it does not expect (nested or variable-length
    inputs, a changed signature); StorageTracker catches that, counts the op as 0 FLOPs and
    the failure in `flop_errors`, so that a FLOP formula never kills a probe.
    """
    packet = func.overloadpacket
    how = ATTENTION_FLOP_OPS.get(packet)
    if how is not None:
        backward, layout = how
        qkv = args[1:4] if backward else args[:3]
        if len(qkv) == 3 and all(isinstance(t, torch.Tensor) and t.dim() == 4 for t in qkv):
            flops = attention_flops(qkv[0].shape, qkv[1].shape, qkv[2].shape, layout, backward)
            return flops // 2 if _is_causal(func, args, kwargs) else flops
    if packet in _RNN_OPS:
        return rnn_flops(args, backward=packet in _RNN_BACKWARD)
    formula = _fc.flop_registry.get(packet)
    if formula is None:
        return 0
    flops = int(formula(*args, **kwargs, out_val=out))
    if _attention_like(func) and _is_causal(func, args, kwargs):
        flops //= 2
    return flops


_WS_CACHE: dict[tuple[Any, ...], int] = {}


def _fake_rnn_workspace(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Any:
    """Give a fake oneDNN RNN layer the workspace the real kernel allocates.

    The meta kernel of aten.mkldnn_rnn_layer returns an empty workspace while oneDNN allocates
    one whose size only the library knows; the fake probe asks it once per shape by running the
    real kernel on zeros of the same shapes (outside fake mode), so fake == CPU to the byte.
    """
    from torch._subclasses.fake_tensor import FakeTensor, unset_fake_temporarily

    ws = out[3]
    if not isinstance(ws, FakeTensor) or ws.numel() != 0:
        return out
    key = tuple(
        (tuple(a.shape), a.dtype) if isinstance(a, torch.Tensor) else repr(a) for a in args
    ) + tuple(repr(kv) for kv in sorted(kwargs.items()))
    if key not in _WS_CACHE:
        with unset_fake_temporarily():
            real = [
                torch.zeros(a.shape, dtype=a.dtype) if isinstance(a, torch.Tensor) else a
                for a in args
            ]
            got = aten.mkldnn_rnn_layer.default(*real, **kwargs)
            _WS_CACHE[key] = int(got[3].numel())
    new_ws = torch.empty(_WS_CACHE[key], dtype=ws.dtype, device=ws.device)
    return (*out[:3], new_ws)


def _unalias_bias_grads(out: Any) -> Any:
    """The meta kernel of the oneDNN RNN backward returns one tensor for both bias gradients;
    the CPU kernel allocates two. Give the fake one its own storage too."""
    from torch._subclasses.fake_tensor import FakeTensor

    gb_ih, gb_hh = out[3], out[4]
    if (
        isinstance(gb_hh, FakeTensor)
        and isinstance(gb_ih, FakeTensor)
        and gb_ih.untyped_storage() is gb_hh.untyped_storage()
    ):
        return (*out[:4], torch.empty_like(gb_hh), *out[5:])
    return out


_DRAWS = (aten.rand, aten.uniform, aten.rand_like)
_COMPARES = (aten.lt, aten.le, aten.gt, aten.ge)


@dataclass
class _Rec:
    nbytes: int
    alloc: int
    free: int | None = None
    op: str = ""


def _is_fake(t: Any) -> bool:
    from torch._subclasses.fake_tensor import FakeTensor

    return isinstance(t, FakeTensor)


class StorageTracker(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Counts live bytes of every storage produced by aten ops (plus registered tensors)."""

    def __init__(
        self, count_flops: bool = True, alloc_size: Callable[[int], int] | None = None
    ) -> None:
        """alloc_size: bytes counted per storage of n bytes (CUDA emulation: the caching
        allocator's rounding); None counts the storage's own size."""
        super().__init__()  # type: ignore[no-untyped-call]
        self.alloc_size = alloc_size
        # CUDA emulation: count CPU dropout noise as CUDA's 1-byte mask (see __torch_dispatch__)
        self.byte_noise = False
        self._prev_peak = (0, 0)
        self.clock = 0
        self.live = 0
        self.peak = 0
        self.peak_clock = 0
        self.records: list[_Rec] = []
        self._ids: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self._active = True
        self.count_flops = count_flops
        self.flops = 0
        self.kernels: list[str] = []
        self.sdpa_calls = 0
        self.flop_errors = 0
        # fake scalars drawn at random (torch.rand([])) and comparisons of them: see
        # __torch_dispatch__ (LayerDrop)
        self._chance: WeakIdKeyDictionary = WeakIdKeyDictionary()

    # -- storage bookkeeping -------------------------------------------------------------
    def _free(self, rid: int) -> None:
        if not self._active:
            return
        rec = self.records[rid]
        if rec.free is None:
            self.clock += 1
            rec.free = self.clock
            self.live -= rec.nbytes

    def track(self, t: Any, op: str = "") -> int | None:
        """Register the storage of tensor `t` (once); return its record id."""
        if not isinstance(t, torch.Tensor) or t.device.type == "meta":
            return None
        return self._track_storage(t.untyped_storage(), op)

    def _on_new(self, rid: int, op: str) -> None:
        """Called for every new record (the sharded probe names FSDP's buffers here)."""

    def _track_storage(self, st: Any, op: str) -> int:
        """Register untyped storage `st` (once): a record from now until it dies."""
        rid = self._ids.get(st)  # type: ignore[no-untyped-call]
        if rid is not None:
            return int(rid)
        rid = len(self.records)
        self.clock += 1
        nbytes = int(st.nbytes())
        if self.alloc_size is not None:
            nbytes = self.alloc_size(nbytes)
        self.records.append(_Rec(nbytes, self.clock, None, op))
        self._ids[st] = rid
        self._on_new(rid, op)
        fin = weakref.finalize(st, self._free, rid)
        fin.atexit = False
        self._prev_peak = (self.peak, self.peak_clock)
        self.live += nbytes
        if self.live > self.peak:
            self.peak = self.live
            self.peak_clock = self.clock
        return rid

    def _resize(self, t: torch.Tensor, nbytes: int) -> None:
        """Count `t`'s (live) storage as `nbytes` bytes, as if it had been allocated so.

        Exact when `t` is the latest allocation (dropout's noise: empty_like, then bernoulli_);
        otherwise the peak tick keeps its place and its total follows the new size."""
        rid = self.rid(t)
        if rid is None or self.records[rid].free is not None:
            return
        rec = self.records[rid]
        if self.alloc_size is not None:
            nbytes = self.alloc_size(nbytes)
        delta = nbytes - rec.nbytes
        rec.nbytes = nbytes
        self.live += delta
        if rec.alloc == self.clock:
            if self.peak_clock == self.clock:  # this allocation had set the peak
                self.peak, self.peak_clock = self._prev_peak
            if self.live > self.peak:
                self.peak, self.peak_clock = self.live, self.clock
        elif rec.alloc <= self.peak_clock:
            self.peak += delta

    def forget(self, t: torch.Tensor) -> None:
        """Stop counting `t`'s storage (it would not live on the emulated device)."""
        rid = self.rid(t)
        if rid is not None and self.records[rid].free is None:
            self.live -= self.records[rid].nbytes
            self.records[rid].nbytes = 0

    def rid(self, t: torch.Tensor) -> int | None:
        got = self._ids.get(t.untyped_storage())  # type: ignore[no-untyped-call]
        return None if got is None else int(got)

    def reset_peak(self) -> None:
        self.peak = self.live
        self.peak_clock = self.clock

    def stop(self) -> None:
        self._active = False

    def live_at(self, tick: int) -> list[int]:
        return [
            i
            for i, r in enumerate(self.records)
            if r.alloc <= tick and (r.free is None or r.free > tick)
        ]

    def _is_chance(self, func: Any, args: tuple[Any, ...], out: Any) -> bool:
        """A random scalar draw, or a comparison that reads one."""
        packet = func.overloadpacket
        if packet in _DRAWS:
            return isinstance(out, torch.Tensor) and out.dim() == 0
        return packet in _COMPARES and any(
            isinstance(a, torch.Tensor) and a in self._chance for a in args
        )

    # -- dispatch -------------------------------------------------------------------------
    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        if func is aten._local_scalar_dense.default and _is_fake(args[0]):
            # A fake tensor has no value. What .item() feeds (Adafactor's step count and
            # parameter RMS) scales the update but allocates nothing, so any value of the
            # right type measures the same step. A random draw compared with a threshold
            # (LayerDrop: `if torch.rand([]) < self.layerdrop: skip the layer`, BART, Whisper)
            # is taken not to happen: every layer runs, the step's worst case (and, at the
            # default layerdrop of 0, the only case).
            t = args[0]
            if t in self._chance:
                return False
            return True if t.dtype == torch.bool else 1.0 if t.is_floating_point() else 1
        out = func(*args, **kwargs)
        if self._is_chance(func, args, out):
            self._chance[out] = True
        if func is aten.mkldnn_rnn_layer.default:
            out = _fake_rnn_workspace(args, kwargs, out)
        elif func is aten.mkldnn_rnn_layer_backward.default:
            out = _unalias_bias_grads(out)
        elif self.byte_noise and func is aten.bernoulli_.float:
            # CPU dropout (at::dropout -> _dropout_impl: empty_like(x).bernoulli_(1 - p), then
            # x * noise) keeps an activation-wide noise tensor for backward; on CUDA at::dropout
            # takes the fused native_dropout, which keeps a 1-byte (bool) mask instead.
            self._resize(args[0], int(args[0].numel()))
        kernel = ATTENTION_OPS.get(func.overloadpacket)
        if kernel is not None:
            self.kernels.append(kernel)
        if self.count_flops:
            try:
                self.flops += op_flops(func, args, kwargs, out)
            except Exception:  # a FLOP formula must never kill a probe
                self.flop_errors += 1
        leaves, _ = tree_flatten(out)
        name = str(func.overloadpacket.__name__)
        for t in leaves:
            if isinstance(t, torch.Tensor):
                self.track(t, name)
        return out
