"""ARC203 / ARC204 / ARC209: inspect every attention mask the model actually builds.

During one forward a TorchFunctionMode intercepts each call to
torch.nn.functional.scaled_dot_product_attention (SDPA) and to
torch.nn.functional.multi_head_attention_forward (what nn.MultiheadAttention runs; the mode
also turns off its fused fast path). Calls nested inside an intercepted call are not seen twice.
Attention written by hand (matmul + softmax) is not inspected. Each mask is checked against its
API's rules:

* shape (ARC203): SDPA masks must broadcast to (B, h, L, S); MultiheadAttention takes attn_mask
  (L, S) or (B·num_heads, L, S) and key_padding_mask (B, S).
* polarity (ARC204): SDPA booleans mean True = attend, MultiheadAttention booleans mean
  True = blocked. A self-attention mask that leaves only the future (j > i, or j >= i) open is a
  causal mask of the other convention; a padding mask that blocks the real tokens and opens the
  pads (known from the probe's own right padding) is a keep/blocked flip.
* strength and NaN (ARC209): a query row with every key blocked gives softmax(0/0) = NaN. A
  finite additive fill v (a constant <= -100 used for blocking) must beat the score range R of
  the call plus a headroom H = 1e4 for trained logits (unscaled or large-activation models
  reach 1e3-1e4; why Hugging Face moved from -1e4 to finfo(dtype).min) plus ln(S) + ln(1/eps)
  of the compute dtype (blocked keys' total weight below one ulp of 1). So -1e4 fails
  everywhere, finfo(float16).min = -65504, -1e9 and -inf pass.
"""

from __future__ import annotations

import inspect
import math
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from ..findings import ArchcheckError, Finding
from ..spec.model import Spec
from ._codes import Locations, finding
from ._harness import DTYPES, Inputs, call, probe_mode
from .padding import padded_batch

LOGIT_HEADROOM = 1e4
FILL_MIN = 100.0

_SDPA_ARGS = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")


@dataclass
class AttnCall:
    """One intercepted attention call with its masks as the API received them."""

    api: str  # "sdpa" | "mha"
    module: str
    batch: int | None
    heads: int | None
    L: int
    S: int
    attn_mask: Tensor | None
    key_padding_mask: Tensor | None = None
    is_causal: bool = False
    score_range: float = float("nan")
    q_shape: tuple[int, ...] = ()
    user_bool: frozenset[str] = frozenset()  # masks the user passed as booleans


class _Recorder(TorchFunctionMode):
    def __init__(self, where: Callable[[], str]) -> None:
        super().__init__()
        self.calls: list[AttnCall] = []
        self.where = where
        self.user_bool: frozenset[str] = frozenset()

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        try:
            if func is F.scaled_dot_product_attention:
                self.calls.append(_sdpa_call(args, kwargs, self.where()))
            elif func is F.multi_head_attention_forward:
                self.calls.append(_mha_call(args, kwargs, self.where()))
                self.calls[-1].user_bool = self.user_bool
        except Exception:  # the record is best effort; the real call decides
            pass
        return func(*args, **kwargs)


def _clone(t: Any) -> Tensor | None:
    return t.detach().clone() if isinstance(t, Tensor) else None


def _sdpa_call(args: tuple[Any, ...], kwargs: dict[str, Any], where: str) -> AttnCall:
    b = dict(zip(_SDPA_ARGS, args, strict=False)) | kwargs
    q, k = b["query"], b["key"]
    L, S, E = q.shape[-2], k.shape[-2], q.shape[-1]
    scale = b.get("scale") or 1 / math.sqrt(E)
    rng = float("nan")
    with torch.no_grad():
        try:
            kk = k
            if q.dim() == 4 and k.dim() == 4 and k.shape[1] != q.shape[1]:
                kk = k.repeat_interleave(q.shape[1] // k.shape[1], 1)
            s = (q @ kk.transpose(-2, -1)).mul(scale)
            rng = float(s.max() - s.min())
        except RuntimeError:
            pass
    return AttnCall(
        api="sdpa",
        module=where,
        batch=q.shape[0] if q.dim() == 4 else None,
        heads=q.shape[1] if q.dim() == 4 else None,
        L=L,
        S=S,
        attn_mask=_clone(b.get("attn_mask")),
        is_causal=bool(b.get("is_causal", False)),
        score_range=rng,
        q_shape=tuple(q.shape),
    )


_MHA_SIG = inspect.signature(F.multi_head_attention_forward)


def _mha_call(args: tuple[Any, ...], kwargs: dict[str, Any], where: str) -> AttnCall:
    b = _MHA_SIG.bind(*args, **kwargs).arguments
    q, k = b["query"], b["key"]
    h = int(b["num_heads"])
    batched = q.dim() == 3
    L, S, E = q.shape[0], k.shape[0], q.shape[-1]
    rng = float("nan")
    with torch.no_grad():
        try:
            if b.get("use_separate_proj_weight"):
                wq, wk = b["q_proj_weight"], b["k_proj_weight"]
            else:
                wq, wk = b["in_proj_weight"][:E], b["in_proj_weight"][E : 2 * E]
            bias = b.get("in_proj_bias")
            bq = bias[:E] if bias is not None else None
            bk = bias[E : 2 * E] if bias is not None else None
            qq, kk = F.linear(q, wq, bq), F.linear(k, wk, bk)
            qq = qq.reshape(L, -1, h, E // h)
            kk = kk.reshape(S, -1, h, E // h)
            s = torch.einsum("lbhd,sbhd->bhls", qq, kk) / math.sqrt(E // h)
            rng = float(s.max() - s.min())
        except (RuntimeError, TypeError, KeyError):
            pass
    return AttnCall(
        api="mha",
        module=where,
        batch=q.shape[1] if batched else None,
        heads=h,
        L=L,
        S=S,
        attn_mask=_clone(b.get("attn_mask")),
        key_padding_mask=_clone(b.get("key_padding_mask")),
        is_causal=bool(b.get("is_causal", False)),
        score_range=rng,
        q_shape=tuple(q.shape),
    )


@contextmanager
def intercept_attention(model: nn.Module) -> Iterator[list[AttnCall]]:
    """Record every SDPA / MultiheadAttention call under `model` (module names included)."""
    stack: list[str] = []
    handles = []

    def enter(name: str) -> Callable[..., None]:
        return lambda *_: stack.append(name)

    def leave(*_: Any) -> None:
        if stack:
            stack.pop()

    for name, m in model.named_modules():
        handles.append(m.register_forward_pre_hook(enter(name)))
        handles.append(m.register_forward_hook(leave))
    rec = _Recorder(where=lambda: stack[-1] if stack else "")

    def mha_pre(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        # nn.MultiheadAttention turns boolean masks into -inf floats before the functional
        # call; remember which ones the user passed as booleans, for the polarity messages.
        given = (
            dict(
                zip(
                    ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask"),
                    args,
                    strict=False,
                )
            )
            | kwargs
        )
        rec.user_bool = frozenset(
            k
            for k in ("attn_mask", "key_padding_mask")
            if isinstance(given.get(k), Tensor) and given[k].dtype == torch.bool
        )

    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):
            handles.append(m.register_forward_pre_hook(mha_pre, with_kwargs=True))
    try:
        with rec:
            yield rec.calls
    finally:
        for h in handles:
            h.remove()


def fill_values(mask: Tensor) -> list[float]:
    """Finite blocking constants of an additive mask (not ALiBi-like graded biases)."""
    if mask.dtype == torch.bool or mask.numel() == 0:
        return []
    finite = mask[torch.isfinite(mask)]
    cands = torch.unique(finite[finite <= -FILL_MIN])
    distinct = torch.unique(finite).numel() + int(torch.isneginf(mask).any())
    out: list[float] = []
    rows = mask.reshape(-1, mask.shape[-1])
    for v in cands.tolist():
        if distinct <= 3 or int((rows == v).sum(-1).max()) >= 2:
            out.append(v)
    return out


def blocked_of(mask: Tensor, true_blocks: bool) -> Tensor:
    """Boolean 'key blocked' pattern of any mask, in one convention."""
    if mask.dtype == torch.bool:
        return mask if true_blocks else ~mask
    blocked = torch.isneginf(mask)
    fills = fill_values(mask)
    if fills:
        blocked = blocked | (mask <= max(fills))
    return blocked


def _api_words(api: str) -> str:
    return "SDPA" if api == "sdpa" else "nn.MultiheadAttention"


def analyse(call_: AttnCall, spec: Spec, pad: Tensor | None) -> list[tuple[str, str, str, str]]:
    """Findings for one call as (code, kind, message, fix)."""
    out: list[tuple[str, str, str, str]] = []
    api, L, S = call_.api, call_.L, call_.S
    where = f" in `{call_.module}`" if call_.module else ""
    B, h = call_.batch, call_.heads
    am, kpm = call_.attn_mask, call_.key_padding_mask
    full_shape: tuple[int, ...] | None = None
    # --- shapes (ARC203)
    if api == "sdpa":
        target = (*call_.q_shape[:-2], L, S)
        full_shape = target
        if am is not None:
            try:
                ok = tuple(torch.broadcast_shapes(am.shape, target)) == target  # type: ignore[no-untyped-call]
            except RuntimeError:
                ok = False
            if not ok:
                hint = ""
                if am.dim() == 2 and B is not None and am.shape == (B, S):
                    hint = "; a (B, S) key-padding mask needs mask[:, None, None, :]"
                elif am.dim() == 3 and B is not None and h is not None and am.shape[0] == B * h:
                    hint = "; (B·h, L, S) is MultiheadAttention's layout: .view(B, h, L, S)"
                elif am.shape[-2:] == (S, L):
                    hint = "; the last two axes are swapped: pass mask.transpose(-2, -1)"
                out.append(
                    (
                        "ARC203",
                        "shape",
                        f"SDPA attn_mask of shape {tuple(am.shape)}{where} does not broadcast to "
                        f"(B, h, L, S) = {target}{hint}",
                        "build SDPA masks broadcastable to (B, h, L, S): (L, S) or (B, 1, 1, S)",
                    )
                )
                return out
    else:
        if B is not None:
            allowed = {(L, S), (B * (h or 1), L, S)}
            kp_shape: tuple[int, ...] = (B, S)
            full_shape = (B, h or 1, L, S)
        else:
            allowed = {(L, S), (h or 1, L, S)}
            kp_shape = (S,)
            full_shape = (1, h or 1, L, S)
        if am is not None and tuple(am.shape) not in allowed:
            out.append(
                (
                    "ARC203",
                    "shape",
                    f"nn.MultiheadAttention attn_mask of shape {tuple(am.shape)}{where}: expected "
                    f"(L, S) = {(L, S)} or (B·num_heads, L, S) = {max(allowed, key=len)}",
                    "pass a 2-D (L, S) mask, or repeat per head to (B·num_heads, L, S)",
                )
            )
        if kpm is not None and tuple(kpm.shape) != kp_shape:
            hint = (
                "; it is transposed (seq-first): pass mask.T" if kpm.shape[::-1] == kp_shape else ""
            )
            out.append(
                (
                    "ARC203",
                    "shape",
                    f"nn.MultiheadAttention key_padding_mask of shape {tuple(kpm.shape)}{where}: "
                    f"expected (B, S) = {kp_shape}{hint}",
                    "pass key_padding_mask as (B, S), True (or -inf) at padded keys",
                )
            )
        if out:
            return out
    # --- blocked pattern, broadcast to (B, h, L, S)
    true_blocks = api == "mha"
    blocked = torch.zeros(full_shape, dtype=torch.bool)
    am_blocked = None
    if am is not None:
        am_blocked = blocked_of(am, true_blocks)
        if api == "mha" and am.dim() == 3:
            blocked = blocked | am_blocked.reshape(full_shape)
        else:
            blocked = blocked | am_blocked.expand(full_shape) if am_blocked.dim() <= 4 else blocked
    kp_blocked = None
    if kpm is not None:
        kp_blocked = blocked_of(kpm, True).reshape(full_shape[0], 1, 1, S)
        blocked = blocked | kp_blocked
    if call_.is_causal and am is None:
        blocked = blocked | torch.ones(L, S, dtype=torch.bool).triu(1)
    flipped = False
    # --- polarity (ARC204): causal of the other convention
    if am_blocked is not None and L == S and L > 1:
        allowed_pat = ~am_blocked.expand(*am_blocked.shape[:-2], L, S).reshape(-1, L, S)[0]
        ones = torch.ones(L, S, dtype=torch.bool)
        strict = torch.equal(allowed_pat, ones.triu(1))
        if strict or torch.equal(allowed_pat, ones.triu(0)):
            flipped = True
            diag = "excluding" if strict else "including"
            is_bool = (am is not None and am.dtype == torch.bool) or (
                "attn_mask" in call_.user_bool
            )
            if is_bool and api == "sdpa":
                msg = (
                    f"SDPA treats True as attend; this mask{where} is True above the diagonal "
                    f"({diag} it), which looks like a MultiheadAttention causal mask "
                    "(True = blocked); pass ~mask, or is_causal=True"
                )
            elif is_bool:
                msg = (
                    f"nn.MultiheadAttention treats True as blocked; this mask{where} is True "
                    "on and below the diagonal, which looks like an SDPA mask (True = attend); "
                    "pass ~mask"
                )
            else:
                msg = (
                    f"this additive mask{where} blocks the past and opens the future ({diag} "
                    "the diagonal): it is inverted; use torch.full((L, S), -inf).triu(1)"
                )
            out.append(("ARC204", "causal", msg, "invert the mask (~mask) or use is_causal=True"))
    # --- polarity (ARC204): key padding flipped against the probe's own pads
    if pad is not None and B is not None and pad.shape[1] == S and pad.shape[0] == B:
        col = None
        if kp_blocked is not None:
            col, source = kp_blocked.reshape(B, S), "key_padding_mask"
        elif am_blocked is not None and am is not None and api == "sdpa" and am.dim() >= 3:
            full = am_blocked.expand(full_shape).reshape(B, -1, S)
            col, source = full.all(1), "attn_mask"
        if col is not None:
            mixed = [b for b in range(B) if 0 < int(pad[b].sum()) < S]
            if mixed and all(torch.equal(col[b], ~pad[b]) for b in mixed):
                flipped = True
                if api == "mha":
                    msg = (
                        f"nn.MultiheadAttention's {source}{where} treats True as padding "
                        "(blocked); this mask blocks the real tokens and opens the positions "
                        "where tokens are padding: it is a 1 = keep mask (Hugging Face "
                        "attention_mask); pass attention_mask == 0"
                    )
                else:
                    msg = (
                        f"SDPA treats True as attend; this mask{where} is True where tokens "
                        "are padding (the MultiheadAttention key_padding_mask convention, "
                        "True = blocked); pass ~mask"
                    )
                out.append(("ARC204", "padding", msg, "invert the padding mask"))
    # --- fully masked rows (ARC209)
    dead = blocked.all(-1)
    if bool(dead.any()) and not flipped:
        out.append(
            (
                "ARC209",
                "dead-rows",
                f"{int(dead.sum())} query rows{where} have every key blocked: softmax over no keys "
                "is 0/0 = NaN, which then spreads through every later layer",
                "make sure each query row keeps at least one key (e.g. let padded queries attend "
                "to themselves) or use a finite fill such as torch.finfo(dtype).min",
            )
        )
    # --- weak additive fills (ARC209)
    compute = DTYPES.get(spec.train.dtype, torch.float32)
    eps = torch.finfo(compute).eps
    for m, label in ((am, "attn_mask"), (kpm, "key_padding_mask")):
        if m is None or m.dtype == torch.bool:
            continue
        fills = fill_values(m)
        if not fills:
            continue
        v = max(fills)
        rng = 0.0 if math.isnan(call_.score_range) else call_.score_range
        fp16 = ", whose scores reach 65504" if compute == torch.float16 else ""
        need = rng + LOGIT_HEADROOM + math.log(max(S, 1)) - math.log(eps)
        if -v < need:
            out.append(
                (
                    "ARC209",
                    "weak",
                    f"additive {label}{where} blocks with {v:g} (compute dtype "
                    f"{spec.train.dtype}{fp16}): "
                    f"a blocked key keeps weight exp({v:g} + score gap), negligible only while "
                    f"scores stay within {-v:g} of each other; the margin rule asks |fill| >= "
                    f"score range {rng:.3g} + headroom {LOGIT_HEADROOM:g} + ln S + ln(1/eps) = "
                    f"{need:.5g}",
                    f"fill with torch.finfo({compute}).min or -inf, or pass a boolean mask",
                )
            )
    return out


def check_masks(
    model: nn.Module,
    spec: Spec,
    path: str,
    locations: Locations | None = None,
    *,
    n: int = 12,
    batch: int = 2,
    seed: int = 0,
) -> list[Finding]:
    """ARC203/204/209 from the masks of every attention call in one forward."""
    if spec.model.input == "image":
        return []
    with probe_mode(model), torch.no_grad():
        inp = Inputs(spec, model, seed)
        pad: Tensor | None = None
        mask = None
        if spec.model.pad_id is not None or spec.model.mask_arg:
            x, keep, _ = padded_batch(inp, batch, n)
            pad = keep == 0
            mask = keep if spec.model.mask_arg else None
        else:
            x = inp.make(batch, n)
        error: Exception | None = None
        with intercept_attention(model) as calls:
            try:
                call(model, x, spec, mask)
            except Exception as exc:  # a bad mask often makes torch raise; report it below
                error = exc
    seen: dict[tuple[str, str, str], list[Any]] = {}
    for c in calls:
        for code, kind, msg, fix in analyse(c, spec, pad):
            key = (code, c.api, kind)
            if key in seen:
                seen[key][2] += 1
            else:
                seen[key] = [msg, fix, 1]
    if error is not None and not any(k[0] == "ARC203" for k in seen):
        raise ArchcheckError(f"forward failed during mask inspection: {error}") from error
    keys = {
        "ARC203": ("model.mask_arg", "model.pad_id"),
        "ARC204": ("model.mask_arg", "model.pad_id", "model.causal"),
        "ARC209": ("train.dtype", "model.mask_arg"),
    }
    totals = Counter(c.api for c in calls)
    out = []
    for (code, api, kind), (first, fix, count) in seen.items():
        total = totals[api]
        msg = first + (f" ({count} of {total} {_api_words(api)} calls)" if count > 1 else "")
        out.append(
            finding(
                code,
                msg,
                path=path,
                model=spec.name,
                locations=locations,
                keys=keys[code],
                fix=fix,
                data={"api": api, "kind": kind, "calls": count, "total_calls": total},
            )
        )
    return out
