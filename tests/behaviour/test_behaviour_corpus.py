"""Seeded-bug corpus: each real-world bug is flagged with its code; each twin is clean."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from behaviour_corpus import (
    TCN,
    VOCAB,
    CausalDecoder,
    ConvStack1d,
    D,
    LSTMModel,
    MeanPooled,
    SDPAModel,
    SinusoidalEncoder,
    TinyGPT,
    TinyResNet,
    TinyVGG,
    spec,
    tbptt,
)

from pytest_archcheck import behaviour
from pytest_archcheck.spec.model import Spec

ENC = {"family": "transformer", "causal": False, "input": "tokens", "vocab": VOCAB, "d_model": D}
PAD = {"pad_id": 0, "mask_arg": "attention_mask"}
DEC = {"family": "transformer", "causal": True, "vocab": VOCAB, "positional": "none"}
LSTM = spec(model={"family": "lstm", "input": "embeddings"}, budget={"span": 100})
IMAGE = {"family": "cnn", "input": "image", "image_size": 32, "in_channels": 3}
TCN_SPEC = {
    "family": "tcn",
    "input": "embeddings",
    "layers": 4,
    "kernel": 3,
    "dilations": [1, 2, 4, 8],
    "padding": "causal",
    "in_channels": 4,
}
CONV = {"family": "cnn", "input": "embeddings", "layers": 20, "kernel": 3, "in_channels": 4}

# name -> (factory, spec, train_step, codes the bug must raise); twins pass None for codes.
Case = tuple[Callable[[], Any], Spec, Any, set[str] | None]
CASES: dict[str, Case] = {
    # pe[:x.size(0)] with batch_first input: positions added along the batch axis
    "pe-batch-axis": (
        lambda: SinusoidalEncoder(batch_axis_bug=True),
        spec(model=ENC),
        None,
        {"ARC201"},
    ),
    "pe-batch-axis-twin": (SinusoidalEncoder, spec(model=ENC), None, None),
    # an nn.MultiheadAttention-style boolean causal mask (True = blocked) given to SDPA
    "mha-mask-to-sdpa": (lambda: SDPAModel("mha_bool"), spec(model=DEC), None, {"ARC204"}),
    "mha-mask-to-sdpa-twin": (lambda: SDPAModel("sdpa_bool"), spec(model=DEC), None, None),
    # a Hugging Face 1 = keep attention_mask passed as key_padding_mask (True = pad)
    "hf-mask-as-kpm": (
        lambda: SinusoidalEncoder(hf_mask_bug=True),
        spec(model=ENC | PAD),
        None,
        {"ARC204", "ARC206"},
    ),
    "hf-mask-as-kpm-twin": (SinusoidalEncoder, spec(model=ENC | PAD), None, None),
    # mask-unaware mean pooling
    "pool-pads": (MeanPooled, spec(model=ENC | PAD), None, {"ARC206"}),
    "pool-pads-twin": (lambda: SinusoidalEncoder(pooled=True), spec(model=ENC | PAD), None, None),
    # a -1e4 additive mask for fp16 training
    "minus-1e4-fp16": (
        lambda: SDPAModel("minus_1e4"),
        spec(model={"causal": False, "vocab": VOCAB} | PAD, train={"dtype": "fp16"}),
        None,
        {"ARC209"},
    ),
    "minus-1e4-fp16-twin": (
        lambda: SDPAModel("finfo"),
        spec(model={"causal": False, "vocab": VOCAB} | PAD, train={"dtype": "fp16"}),
        None,
        None,
    ),
    # a learned positional table of 512 rows run at n = 1024
    "table-512-at-1024": (
        lambda: TinyGPT(512),
        spec(model={"vocab": VOCAB, "max_positions": 512}, budget={"max_n": 1024}),
        None,
        {"ARC202"},
    ),
    "table-512-at-1024-twin": (
        lambda: TinyGPT(1024),
        spec(model={"vocab": VOCAB, "max_positions": 1024}, budget={"max_n": 1024}),
        None,
        None,
    ),
    # truncated BPTT detaching every 20 steps against a span of 100
    "tbptt-20-span-100": (LSTMModel, LSTM, tbptt(20), {"ARC207"}),
    "tbptt-20-span-100-twin": (LSTMModel, LSTM, tbptt(128), None),
    # default LSTM init (forget bias ~ 0) for a span of 100
    "forget-bias-default": (lambda: LSTMModel(forget_bias_one=False), LSTM, tbptt(128), {"ARC210"}),
    # a causal decoder whose attention is not masked
    "decoder-unmasked": (lambda: CausalDecoder(masked=False), spec(model=DEC), None, {"ARC205"}),
    # spec claims 20 conv layers of kernel 3 (reach 20), the factory builds 4 (reach 4)
    "conv-20-builds-4": (
        lambda: ConvStack1d(4),
        spec(model=CONV, budget={"span": 10}),
        None,
        {"ARC104", "ARC304"},
    ),
    "conv-20-builds-4-twin": (
        lambda: ConvStack1d(20),
        spec(model=CONV, budget={"span": 10}),
        None,
        None,
    ),
    # causal TCN, reach Σ (k - 1)·d = 2·(1 + 2 + 4 + 8) = 30 back, against spans 40 and 30
    "tcn-reach-30-span-40": (TCN, spec(model=TCN_SPEC, budget={"span": 40}), None, {"ARC104"}),
    "tcn-reach-30-span-40-twin": (TCN, spec(model=TCN_SPEC, budget={"span": 30}), None, None),
    # a "causal" TCN padded on both sides sees 15 positions of the future
    "tcn-centred-padding": (lambda: TCN(causal=False), spec(model=TCN_SPEC), None, {"ARC205"}),
    # clean references
    "transformer-encoder-sinusoidal": (
        SinusoidalEncoder,
        spec(model=ENC | PAD | {"layers": 2}, budget={"span": 64, "max_n": 256}),
        None,
        None,
    ),
    "causal-decoder-no-pe": (
        CausalDecoder,
        spec(model=DEC | {"layers": 2}, budget={"span": 50, "max_n": 256}),
        None,
        None,
    ),
    "resnet-style": (TinyResNet, spec(model=IMAGE), None, None),
    "vgg-style": (TinyVGG, spec(model=IMAGE), None, None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_corpus(name: str) -> None:
    factory, sp, train_step, codes = CASES[name]
    findings = behaviour.run_all(factory, sp, "m.archcheck.toml", train_step=train_step)
    got = {f.code for f in findings}
    if codes is None:
        assert findings == [], [f.message for f in findings]
    else:
        assert codes <= got, [f.message for f in findings]
    for f in findings:
        assert f.fix and f.name and f.path == "m.archcheck.toml"


def test_batch_axis_message_names_the_axis() -> None:
    (f,) = behaviour.check_positional(SinusoidalEncoder(batch_axis_bug=True), spec(model=ENC), "m")
    assert "batch axis" in f.message and f.data["batch_dependent"] is True


def test_mha_style_mask_message_names_the_conventions() -> None:
    (f,) = behaviour.check_masks(SDPAModel("mha_bool"), spec(model=DEC), "m")
    assert f.code == "ARC204"
    assert "SDPA treats True as attend" in f.message and "pass ~mask" in f.message


def test_hf_mask_message() -> None:
    (f,) = behaviour.check_masks(SinusoidalEncoder(hf_mask_bug=True), spec(model=ENC | PAD), "m")
    assert f.code == "ARC204" and "1 = keep" in f.message and "True as padding" in f.message


def test_table_length_reported() -> None:
    sp = spec(model={"vocab": VOCAB}, budget={"max_n": 1024})
    (f,) = behaviour.check_positional_table(TinyGPT(512), sp, "m")
    assert f.data["table_length"] == 512 and f.data["table"] == "wpe"


def test_tbptt_horizon_is_the_chunk_length() -> None:
    (f,) = behaviour.check_reach(LSTMModel(), LSTM, "m", train_step=tbptt(20))
    # span + 1 = 101 steps in chunks of 20: every full chunk reaches back exactly 20 positions
    assert f.code == "ARC207" and f.data["horizon"] == 20


def test_declared_bptt_without_callable() -> None:
    sp = spec(
        model={"family": "lstm", "input": "embeddings"}, train={"bptt": 35}, budget={"span": 100}
    )
    (f,) = behaviour.check_reach(LSTMModel(), sp, "m")
    assert f.code == "ARC207" and f.data["horizon"] == 35


def test_conv_reach_values() -> None:
    # 4 centred k=3 layers: reach 4 per side, receptive field 9; the spec's 20 layers give 41
    by_code = {
        f.code: f
        for f in behaviour.check_reach(ConvStack1d(4), spec(model=CONV, budget={"span": 10}), "m")
    }
    assert by_code["ARC104"].data["left"] == 4 and by_code["ARC104"].data["right"] == 4
    assert by_code["ARC304"].data["declared_receptive_field"] == 41
    assert by_code["ARC304"].data["receptive_field"] == 9


def test_transformer_layer_count_mismatch() -> None:
    sp = spec(model=DEC | {"layers": 20})
    (f,) = behaviour.check_reach(CausalDecoder(), sp, "m")
    assert f.code == "ARC304" and f.data["attention_calls"] == 2


def test_tcn_reach_by_hand() -> None:
    (f,) = behaviour.check_reach(TCN(), spec(model=TCN_SPEC, budget={"span": 40}), "m")
    # left reach 2·(1 + 2 + 4 + 8) = 30, right 0, receptive field 31 = the declared stack's
    assert (f.data["left"], f.data["right"], f.data["receptive_field"]) == (30, 0, 31)
    assert f.data["declared_receptive_field"] == 31
