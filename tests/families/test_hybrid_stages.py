"""Stage lists beyond "one stem + one block stage": consecutive conv stages (of one family and
the same keys) are one stem, their layers in order -- the conv unit is layer-wise, so this is
the composition itself, not an approximation. Expected values are counted by hand (lengths,
stem parameters, reach) or measured by torch (the reference module's parameters, the fake
probe's peak, the gradient support of one output position); other lists stay refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_archcheck.engine import check_paths
from pytest_archcheck.estimate import estimate
from pytest_archcheck.families import family_of
from pytest_archcheck.families.hybrid import stage_specs
from pytest_archcheck.spec.model import Spec


def two_stems(d: int = 16, c1: int = 24, causal: bool = False, **tables: Any) -> Spec:
    """tokens -> conv (kernel 5, stride 2, c1 wide) -> conv (kernel 3, stride 2, d wide) ->
    2 windowed Transformer layers (window 4) -> LM head."""
    a = {"family": "cnn", "layers": 1, "kernel": 5, "strides": [2], "channels": c1}
    b = {"family": "cnn", "layers": 1, "kernel": 3, "strides": [2], "channels": d}
    blocks = {"family": "transformer", "layers": 2, "heads": 2, "d_ff": 2 * d,
              "attention": "sliding", "window": 4, "positional": "rotary"}  # fmt: skip
    model = {"family": "hybrid", "d_model": d, "vocab": 50, "causal": causal,
             "stage": [a, b, blocks]}  # fmt: skip
    return Spec.model_validate({"model": model, **tables})


def test_two_conv_stages_are_one_stem_layer_by_layer() -> None:
    spec = two_stems(train={"seq_len": 64})
    stem, blocks = stage_specs(spec)
    m = stem.model
    assert (m.layers, m.kernel_list(), m.stride_list(), m.channel_list()) == (
        2, [5, 3], [2, 2], [24, 16],
    )  # fmt: skip
    assert (m.d_model, m.input, m.head) == (16, "tokens", "none")
    # n = 64, centred: (64 + 4 - 4 - 1) // 2 + 1 = 32, then (32 + 2 - 2 - 1) // 2 + 1 = 16
    assert blocks.train_n == 16
    assert family_of(spec).output_stride(spec) == 4
    # the stem's parameters by hand: embedding 50·16, Conv1d(16, 24, 5) and Conv1d(24, 16, 3)
    # with biases
    from pytest_archcheck.formulas.params import params_from_spec

    assert params_from_spec(stem) == 50 * 16 + (16 * 24 * 5 + 24) + (24 * 16 * 3 + 16) == 3_912


def test_params_equal_the_reference_module() -> None:
    pytest.importorskip("torch")
    spec = two_stems()
    module = family_of(spec).reference_module(spec)
    assert sum(p.numel() for p in module.parameters()) == estimate(spec).params


@pytest.mark.parametrize("causal", [False, True])
def test_reach_by_hand_equals_formula_and_behaviour(causal: bool) -> None:
    """Per direction: conv k5 reaches 2 (centred) or 4 (causal); the k3 conv at stride 2
    reaches 2·1 or 2·2; the 2 windowed layers 2·4 = 8 block positions = 4·8 = 32 inputs.
    Centred: 2 + 2 + 32 = 36 each way; causal: 4 + 4 + 32 = 40 back, 0 ahead."""
    pytest.importorskip("torch")
    from pytest_archcheck.behaviour.reach import measure_reach

    spec = two_stems(causal=causal)
    expected = 40 if causal else 36
    assert family_of(spec).path(spec, 100, 600).reach == expected
    r = measure_reach(family_of(spec).reference_module(spec), spec, n=600)
    assert r.bounded_left and r.left == expected
    assert r.right == (0 if causal else expected)


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_formula_matches_fake_probe(dtype: str) -> None:
    pytest.importorskip("torch")
    from pytest_archcheck import probe

    spec = two_stems(d=128, c1=256, train={"batch": 2, "seq_len": 2048, "dtype": dtype})
    blocks = stage_specs(spec)[1]
    wider = blocks.model.model_copy(update={"heads": 4, "window": 32})
    stages = [*(spec.model.stage or [])]
    spec = spec.model_copy(
        update={"model": spec.model.model_copy(update={"stage": [stages[0], wider]})}
    )
    assert not list(family_of(spec).dimension_problems(spec))
    e = estimate(spec)
    r = probe.run(spec, device="fake", n=e.n, batch=e.batch)
    assert r.peak_bytes is not None, r.findings
    assert abs(e.memory.total / r.peak_bytes - 1) <= 0.02, (e.memory.to_json(), r.peak_bytes)


HEAD = '[model]\nfamily = "hybrid"\nvocab = 50\nd_model = 16\n'
CONV = '\n[[model.stage]]\nfamily = "cnn"\nlayers = 1\nkernel = 3\nstrides = [2]\n'
LSTM = '\n[[model.stage]]\nfamily = "lstm"\nlayers = 1\nhidden = 16\n'
BLOCKS = '\n[[model.stage]]\nfamily = "transformer"\nlayers = 1\nheads = 2\n'


def _codes(tmp_path: Path, text: str) -> list[Any]:
    path = tmp_path / "h.archcheck.toml"
    path.write_text(text + "\n[train]\nseq_len = 256\n[budget]\nmemory = '8 GiB'\n", "utf-8")
    return check_paths([str(path)], pyprojects=False).findings


def test_other_lists_stay_refused_as_findings(tmp_path: Path) -> None:
    """conv -> LSTM -> transformer, and two conv stages that differ in a key (bias), are
    ARC304 findings on model.stage -- never a traceback, and no budget rule runs on them."""
    assert not [f for f in _codes(tmp_path, HEAD + CONV + CONV + BLOCKS) if f.code == "ARC304"]
    for text in (HEAD + CONV + LSTM + BLOCKS, HEAD + CONV + CONV + 'bias = "none"\n' + BLOCKS):
        findings = _codes(tmp_path, text)
        assert [f.code for f in findings] == ["ARC304"], findings
        assert "not modelled" in findings[0].message
        assert "consecutive conv stages" in findings[0].message
