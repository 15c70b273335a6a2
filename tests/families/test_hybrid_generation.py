"""Generation latency of a hybrid (`[infer] new_tokens` through a causal conv stem), worked out
by hand on a small case.

The device is bandwidth-bound by construction (1e30 FLOP/s, 1e12 B/s, no launch overhead), so
every step costs its bytes / 1e12 and the by-hand sums below are sums of bytes. The stem and
the blocks keep their own units' formulas for what they already did (a forward, a transformer
decode step); what is new -- how many inputs and block positions generation adds, what the
stem's streaming steps read, that a windowed layer reads only its window of the cache -- is
computed here by hand.
"""

from __future__ import annotations

import math

import pytest

from pytest_archcheck.families import family_of
from pytest_archcheck.formulas.devices import Device
from pytest_archcheck.spec.load import load_spec_text
from pytest_archcheck.spec.model import Spec

BW = 1e12
DEVICE = Device("bw-only", 1 << 40, BW, {"fp32": 1e30}, "test")

HYBRID = """\
[model]
family = "hybrid"
vocab = 50
d_model = 8
causal = {causal}

[[model.stage]]
family = "cnn"
layers = 1
kernel = 2
strides = [2]
channels = 8

[[model.stage]]
family = "{blocks}"
{block_keys}

[infer]
batch = 1
seq_len = 8
new_tokens = {new}
kv_cache = {cache}
dtype = "fp32"
"""

WINDOWED = 'layers = 2\nheads = 2\nd_ff = 16\nattention = "sliding"\nwindow = 2\nglobal_every = 2'
FULL = "layers = 2\nheads = 2\nd_ff = 16"


def _spec(blocks: str = "transformer", keys: str = WINDOWED, new: int = 4,
          causal: bool = True, cache: bool = True) -> Spec:  # fmt: skip
    text = HYBRID.format(blocks=blocks, block_keys=keys, new=new,
                         causal=str(causal).lower(), cache=str(cache).lower())  # fmt: skip
    loaded = load_spec_text(text, "h.archcheck.toml")
    assert loaded.spec is not None, loaded.problems
    return loaded.spec


def _latency(spec: Spec) -> float:
    lat = family_of(spec).latency(spec, DEVICE, 0.0)
    assert lat is not None
    return lat.seconds


def _stages(spec: Spec) -> tuple[Spec, Spec]:
    from pytest_archcheck.families.hybrid import stage_specs

    stem, blocks = stage_specs(spec)
    return stem, blocks


def test_generation_is_prefill_plus_block_decode_plus_streaming_stem_steps() -> None:
    spec = _spec()
    stem, blocks = _stages(spec)
    # by hand: causal conv, kernel 2, stride 2 (left pad 1): L(n) = (n + 1 - 1 - 1) // 2 + 1
    assert blocks.infer_n == (8 - 1) // 2 + 1 == 4
    new_positions = ((8 + 4 - 1) // 2 + 1) - 4  # L(12) - L(8)
    assert new_positions == 2 == math.ceil(4 / 2)
    # the stem's streaming steps: 2 new outputs, each reads its weights (8·8·2) and one
    # kernel window of inputs plus its output (1·(2·8 + 8)), fp32
    stem_decode = 2 * (8 * 8 * 2 + 1 * (2 * 8 + 8)) * 4 / BW
    assert stem_decode == 1216 / BW
    stem_prefill = family_of(stem).latency(stem, DEVICE, 0.0).seconds  # type: ignore[union-attr]
    decoded = blocks.model_copy(
        update={"infer": blocks.infer.model_copy(update={"new_tokens": new_positions})}
    )
    blocks_gen = family_of(decoded).latency(decoded, DEVICE, 0.0).seconds  # type: ignore[union-attr]
    assert _latency(spec) == pytest.approx(stem_prefill + blocks_gen + stem_decode, rel=1e-12)
    lat = family_of(spec).latency(spec, DEVICE, 0.0)
    assert lat is not None
    # steps by hand: stem prefill 1; blocks prefill: windowed layer + head, global layer (3);
    # 2 decode steps of the same 3; 2 stem output steps
    assert lat.steps == 1 + 3 + 2 * 3 + 2 == 12


def test_windowed_layers_read_only_their_window_of_the_cache() -> None:
    """The windowed stack against its all-global twin: only decode reads differ. The blocks'
    cache has 4 positions after the prefill; the 2 decode steps attend over 5 and 6; the
    windowed layer reads min(ctx, 2) of them: (5 - 2) + (6 - 2) = 7 positions less, each
    2 (k and v) · 2 kv heads · 4 head dims · 4 bytes."""
    windowed, full = _latency(_spec()), _latency(_spec(keys=FULL))
    assert full - windowed == pytest.approx(7 * 2 * 2 * 4 * 4 / BW, rel=1e-9)
    assert 7 * 2 * 2 * 4 * 4 == 448


def test_no_new_tokens_is_the_forward_alone() -> None:
    spec = _spec(new=0)
    stem, blocks = _stages(spec)
    fwd = sum(family_of(s).latency(s, DEVICE, 0.0).seconds for s in (stem, blocks))  # type: ignore[union-attr]
    assert _latency(spec) == pytest.approx(fwd, rel=1e-12)


def test_without_a_cache_every_new_input_reruns_the_forward() -> None:
    spec = _spec(new=3, cache=False)
    total = 0.0
    for n in (8, 9, 10, 11):
        s = spec.model_copy(
            update={"infer": spec.infer.model_copy(update={"seq_len": n, "new_tokens": 0})}
        )
        total += _latency(s)
    assert _latency(spec) == pytest.approx(total, rel=1e-12)


def test_recurrent_blocks_run_more_time_steps() -> None:
    """conv stem + LSTM: generation is the LSTM over n1 + Δ = 4 + 2 steps (its state carries
    over), plus the stem's streaming steps."""
    spec = _spec(blocks="lstm", keys="layers = 1\nhidden = 8")
    stem, blocks = _stages(spec)
    longer = blocks.model_copy(update={"infer": blocks.infer.model_copy(update={"seq_len": 6})})
    expected = (
        family_of(stem).latency(stem, DEVICE, 0.0).seconds  # type: ignore[union-attr]
        + family_of(longer).latency(longer, DEVICE, 0.0).seconds  # type: ignore[union-attr]
        + 1216 / BW
    )
    assert _latency(spec) == pytest.approx(expected, rel=1e-12)


def test_a_centred_stem_cannot_generate() -> None:
    spec = _spec(causal=False, keys=FULL)
    assert family_of(spec).latency(spec, DEVICE, 0.0) is None
