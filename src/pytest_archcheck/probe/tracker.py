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
_CPU_FLASH_BWD = aten._scaled_dot_product_flash_attention_for_cpu_backward


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


def op_flops(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    """FLOPs of one aten op: torch.utils.flop_counter's formula, causal attention at half cost."""
    packet = func.overloadpacket
    if packet is aten._scaled_dot_product_flash_attention_for_cpu:
        q, k, v = args[:3]
        flops = int(_fc.sdpa_flop_count(q.shape, k.shape, v.shape))  # type: ignore[no-untyped-call]
    elif packet is _CPU_FLASH_BWD:
        grad_out, q, k, v = args[:4]
        flops = int(_fc.sdpa_backward_flop_count(grad_out.shape, q.shape, k.shape, v.shape))  # type: ignore[no-untyped-call]
    elif packet in _fc.flop_registry:
        flops = int(_fc.flop_registry[packet](*args, **kwargs, out_val=out))
    else:
        return 0
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


@dataclass
class _Rec:
    nbytes: int
    alloc: int
    free: int | None = None
    op: str = ""


class StorageTracker(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Counts live bytes of every storage produced by aten ops (plus registered tensors)."""

    def __init__(self, count_flops: bool = True) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
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
        st = t.untyped_storage()
        rid = self._ids.get(st)  # type: ignore[no-untyped-call]
        if rid is not None:
            return int(rid)
        rid = len(self.records)
        self.clock += 1
        self.records.append(_Rec(int(st.nbytes()), self.clock, None, op))
        self._ids[st] = rid
        fin = weakref.finalize(st, self._free, rid)
        fin.atexit = False
        self.live += int(st.nbytes())
        if self.live > self.peak:
            self.peak = self.live
            self.peak_clock = self.clock
        return rid

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

    # -- dispatch -------------------------------------------------------------------------
    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func is aten.mkldnn_rnn_layer.default:
            out = _fake_rnn_workspace(args, kwargs, out)
        elif func is aten.mkldnn_rnn_layer_backward.default:
            out = _unalias_bias_grads(out)
        kernel = ATTENTION_OPS.get(func.overloadpacket)
        if kernel is not None:
            self.kernels.append(kernel)
        if self.count_flops:
            self.flops += op_flops(func, args, kwargs, out)
        leaves, _ = tree_flatten(out)
        name = str(func.overloadpacket.__name__)
        for t in leaves:
            if isinstance(t, torch.Tensor):
                self.track(t, name)
        return out
