"""The formula total and the fake-tensor probe agree within 2 % on the same target, for the
examples and for generated specs of every family (layers, widths, heads/kv-heads, kernels and
dilations, n, batch, dtype fp32/bf16, optimizer, dropout, checkpointing, with and without a
budget device). The probe runs the reference module through torch's own kernels and counts
every storage it allocates; the formula never sees it.

Holds within 2 % for Transformers, LSTM/GRU/RNN, 1-D conv stacks (text CNNs, TCNs) and
ResNets over the generated specs drawn here, and for every example built from the reference
modules; cases that once missed are pinned in PINNED and data/agreement/ (among them the
decomposed RMSNorm's classifier head, -6.2 % once, and separate q/k/v projections under
autocast with checkpointing, +4.3 % once). The wider sweeps (benchmarks/agreement_sweep.py,
benchmarks/agreement_math_grid.py, benchmarks/results/agreement_*) found no case outside 2 %
since 2026-12-06; one GRU at -2.9 % in an early sweep was not seen again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from family_specs import specs
from hostcaps import host_cannot_run
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pytest_archcheck import probe
from pytest_archcheck.engine import load_all
from pytest_archcheck.estimate import estimate
from pytest_archcheck.families.conv1d import padding
from pytest_archcheck.formulas.flops import conv_output_length
from pytest_archcheck.spec.model import Spec

pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 0.02
# the n in [64, 4096] for the transformer (8 draws in ~7 s on the shared CPU box);
# recurrent probes walk every time step: n 64-192 is a CI-time limit, not a modelling one
# (benchmarks/agreement_sweep.py covers wider n)
N_RANGE = {"transformer": (64, 4096), "recurrent": (64, 192), "conv1d": (64, 1024)}


def _agree(spec: Spec, n: int | None = None) -> tuple[float, str]:
    e = estimate(spec, n=n)
    res = probe.run(spec, device="fake", n=e.n, batch=e.batch)
    assert res.peak_bytes is not None, res.findings
    assert res.target == e.target.label  # same kernels on both sides, and both say which
    detail = f"{e.memory.to_json()} probe {res.peak_bytes} {res.breakdown}"
    return e.memory.total / res.peak_bytes - 1, detail


def _keeps_positions(spec: Spec, n: int) -> bool:
    """A conv stack whose output still has a position at n (else there is nothing to train)."""
    m = spec.model
    pad = padding(m)
    for k, s, d in zip(m.kernel_list(), m.stride_list(), m.dilation_list(), strict=True):
        n = conv_output_length(n, k, s, d, pad)
    return n >= 1


@pytest.mark.parametrize("unit", ["transformer", "recurrent", "conv1d"])
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_generated_specs_agree(unit: str, data: st.DataObject) -> None:
    spec, n = data.draw(specs(unit, N_RANGE[unit]))
    assume(not host_cannot_run(spec))
    if unit == "conv1d":
        assume(_keeps_positions(spec, n))
    err, detail = _agree(spec, n)
    assert abs(err) <= TOLERANCE, (f"{err:+.2%}", spec.model_dump(exclude_defaults=True), detail)


@pytest.mark.parametrize("unit", ["conv2d"])
@settings(max_examples=6, deadline=None, derandomize=True)
@given(data=st.data())
def test_image_cnns_agree(unit: str, data: st.DataObject) -> None:
    spec, n = data.draw(specs(unit))
    err, detail = _agree(spec, n)
    assert abs(err) <= TOLERANCE, (f"{err:+.2%}", spec.model_dump(exclude_defaults=True), detail)


# Cases that once missed, kept as regression checks (measured before the fix).
PINNED = {
    # was -12.3 %, then -3.6 %: the oneDNN workspace was a fit (x 0.71 under bf16) and the
    # zero bias tensors aten passes without biases, cast and kept by autocast, were missing
    "lstm-bf16-cpu": (
        {"model": {"family": "lstm", "layers": 2, "d_model": 24, "vocab": 295,
                   "tied_embeddings": False, "bias": "none", "hidden": 24,
                   "bidirectional": True},
         "train": {"batch": 2, "dtype": "bf16", "optimizer": "adam"},
         "budget": {"device": "cpu"}},
        65,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_cases(name: str) -> None:
    raw, n = PINNED[name]
    spec = Spec.model_validate(raw)
    if host_cannot_run(spec):
        pytest.skip("torch's bf16 oneDNN LSTM kernel does not run on this CPU (no AVX-512 BF16)")
    err, detail = _agree(spec, n)
    assert abs(err) <= TOLERANCE, (f"{err:+.2%}", detail)


# Specs the sweeps found outside 2 % (benchmarks/agreement_sweep.py, benchmarks/results/
# agreement_*), each fixed by modelling what the probe showed alive at its peak
# (benchmarks/peak_live_set.py): the math kernel under autocast on the CPU (its fp32 copies,
# its largest moment in forward, recomputation and backward: -7.0 %, -10.1 %, +7.0 %, -2.1 %
# before), the CPU's decomposed RMSNorm without a head (its backward's four transients:
# -2.3 %; behind a classifier head, whose select hands it a full-size gradient: -6.2 %)
# and behind a grad-free embedding stage (h0 not kept: +3.5 %, -4.8 % before), the
# fp32 math kernel with one head (the qkv output kept through v's view: -3.5 % before),
# the math kernel under checkpointing (the recomputed block's attention backward without the
# block's output, the first block's in fp32; rotary's separate q, k outputs dying once rotated:
# +4.3 %, -1.8 % before), the bf16 oneDNN LSTM under a float input (its input gradient dropped at once, each gradient
# cast in turn, the input dying with forward: +2.1 %, +2.5 % before); the bf16 math kernel's
# first-block recomputation end, its freed 16-bit weight copies under attention dropout and
# one sequence's missing q/k^T/v copies (-2.0 %, +2.1 %, +2.3 % before; a batch-3 twin keeps
# the copies); the fp32 math kernel's v view of the fused qkv output at batch 1 (-3.54 %
# before; a batch-2 twin copies v) and the bf16 checkpointed block's entering gradient
# (-2.72 % before).
PINNED_FILES = sorted((Path(__file__).parent / "data" / "agreement").glob("*.archcheck.toml"))


@pytest.mark.parametrize("path", PINNED_FILES, ids=lambda p: p.name.split(".")[0])
def test_pinned_spec_files(path: Path) -> None:
    [loaded] = load_all([str(path)])[0]
    assert loaded.spec is not None, loaded.problems
    err, detail = _agree(loaded.spec, loaded.spec.train.seq_len)
    assert abs(err) <= TOLERANCE, (f"{err:+.2%}", detail)


REFERENCE_EXAMPLES = [
    p
    for p in sorted(ROOT.glob("examples/*/*.archcheck.toml"))
    # examples/sharded: per-rank layouts, the sharded probe's and formulas/sharding.py's
    # agreement is tests/sharding/test_sharding_formula.py (there a ZeRO-2 layout the probe
    # refuses, and a TP + bf16-FSDP layout the formula bounds from above)
    if "factory" not in p.read_text(encoding="utf-8") and p.parent.name != "sharded"
]


@pytest.mark.parametrize(
    "path",
    REFERENCE_EXAMPLES,
    ids=lambda p: p.parent.name,
)
def test_examples_agree(path: Path) -> None:
    specs_, _, _, _ = load_all([str(path)])
    [loaded] = [s for s in specs_ if s.spec is not None]
    assert loaded.spec is not None
    err, detail = _agree(loaded.spec)
    assert abs(err) <= TOLERANCE, (f"{err:+.2%}", detail)
