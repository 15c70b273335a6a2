"""Fake probe == real CPU execution to the byte; one peak worked out by hand."""

from __future__ import annotations

import pytest
from probe_zoo import ZOO, zoo_spec

from pytest_archcheck import probe
from pytest_archcheck.spec.model import Spec


@pytest.mark.parametrize("dropout", [0.0, 0.1])
@pytest.mark.parametrize("name", list(ZOO))
def test_fake_equals_cpu_to_the_byte(name: str, dropout: float) -> None:
    spec = zoo_spec(name, dropout=dropout)
    n = 32 if name == "resnet" else 128
    fake = probe.run(spec, device="fake", emulate="cpu", n=n, batch=2)
    cpu = probe.run(spec, device="cpu", n=n, batch=2)
    assert fake.peak_bytes is not None and fake.peak_bytes > 0
    assert fake.peak_bytes == cpu.peak_bytes
    assert fake.breakdown == cpu.breakdown
    assert fake.flops == cpu.flops
    assert fake.attention_kernel == cpu.attention_kernel


def test_gpt2_peak_by_hand() -> None:
    """Tiny GPT-2 (L=2, h=64, a=4, f=256, V=1000, 2048 positions), b=2, s=128, fp32, flash.

    The peak is the start of backward, steady state: the default loss is cross-entropy over
    the vocabulary (the input tokens as targets), the loop holds the logits through backward,
    log_softmax has saved its fp32 output, and nll_loss's and log_softmax's gradients (each
    b·s·V fp32) exist together beside the scalar loss's gradient.
    """
    b, s, h, a, f, V, L, P = 2, 128, 64, 4, 256, 1000, 2, 2048
    ln, qkv, proj, up, down = 2 * h, h * 3 * h + 3 * h, h * h + h, h * f + f, f * h + h
    per_layer_params = 2 * ln + qkv + proj + up + down
    params = V * h + P * h + L * per_layer_params + 2 * h
    assert params == 295168
    tensors = 2 + L * 12 + 2  # wte, wpe, 12 per layer, ln_f
    optimizer = 8 * params + 4 * tensors  # AdamW moments + one fp32 step counter per tensor
    sb, sbh = s * b, s * b * h
    layer = 4 * (
        2 * (sbh + 2 * sb)  # two LayerNorm outputs + mean/rstd
        + 3 * sbh  # the qkv projection, kept by the q/k/v views
        + sbh
        + a * s * b  # flash output + log-sum-exp
        + 2 * sbh  # two residual sums
        + 2 * sb * f  # GELU input and output
    )
    acts = (
        L * layer
        + 4 * sbh  # h0 = tok + pos embedding
        + 8 * sb
        + 8 * s  # token ids, position ids (int64)
        + 4 * (sbh + 2 * sb)  # ln_f
        + 4 * sb * V  # logits
        + 4 * sb * V  # log-probabilities (log_softmax output, saved)
        + 4  # loss
    )
    temporaries = 2 * 4 * sb * V + 4  # nll_loss and log_softmax gradients, d(loss) = 1
    expected = 4 * params + optimizer + acts + temporaries
    assert expected == 9887864
    spec = Spec.model_validate({"model": ZOO["gpt2"], "train": {"batch": 2}})
    res = probe.run(spec, device="fake", emulate="cpu", n=s, batch=b)
    assert res.peak_bytes == expected
    assert res.breakdown == {
        "params": 4 * params,
        "grads": 0,
        "optimizer": optimizer,
        "activations": acts,
        "temporaries": temporaries,
    }
    assert res.attention_kernel == "flash"


def test_factory_that_deep_copies_layers_cpu_vs_fake() -> None:
    spec = Spec.model_validate(
        {
            "model": {"factory": "tests.probe.probe_factories:encoder", "vocab": 100},
            "train": {"batch": 2},
        }
    )
    fake = probe.run(spec, device="fake", emulate="cpu", n=64)
    cpu = probe.run(spec, device="cpu", n=64)
    assert fake.findings == [] and cpu.findings == []
    assert fake.peak_bytes == cpu.peak_bytes


def test_mixed_precision_keeps_fp32_master_state() -> None:
    spec = zoo_spec("gpt2", dtype="bf16")
    fp32 = probe.run(zoo_spec("gpt2"), device="fake", emulate="cpu", n=128)
    bf16 = probe.run(spec, device="fake", emulate="cpu", n=128)
    assert bf16.breakdown is not None and fp32.breakdown is not None
    assert bf16.breakdown["params"] == fp32.breakdown["params"] == 4 * 295168
    assert bf16.breakdown["optimizer"] == fp32.breakdown["optimizer"]
    cpu = probe.run(spec, device="cpu", n=128)
    assert cpu.peak_bytes == bf16.peak_bytes


def test_json_shape() -> None:
    res = probe.run(zoo_spec("tcn"), device="fake", emulate="cpu", n=64, path="m.archcheck.toml")
    d = res.to_json()
    for key in (
        "name",
        "path",
        "device",
        "n",
        "batch",
        "peak_bytes",
        "breakdown",
        "attention_kernel",
        "flops",
        "latency",
        "probes",
    ):
        assert key in d
    assert set(d["breakdown"]) == {"params", "grads", "optimizer", "activations", "temporaries"}
    assert set(d["flops"]) == {"forward", "train_step"}
    assert d["latency"] is None and d["probes"] == 1 and d["path"] == "m.archcheck.toml"
    assert sum(d["breakdown"].values()) == d["peak_bytes"]


@pytest.mark.parametrize(
    "model",
    [
        {**ZOO["gpt2"], "attention": "sliding", "window": 16},
        {**ZOO["encoder"], "positional": "sinusoidal"},
        {**ZOO["llama"], "input": "embeddings", "vocab": None},
        {"family": "gru", "layers": 2, "d_model": 32, "vocab": 100},
        {"family": "lstm", "layers": 2, "d_model": 32, "vocab": 100, "bidirectional": True},
        {"family": "cnn", "layers": 2, "d_model": 32, "kernel": 5, "strides": [1, 2], "vocab": 100},
    ],
)
def test_more_reference_variants_fake_equals_cpu(model: dict[str, object]) -> None:
    spec = Spec.model_validate({"model": model, "train": {"batch": 2, "checkpointing": False}})
    fake = probe.run(spec, device="fake", emulate="cpu", n=32)
    cpu = probe.run(spec, device="cpu", n=32)
    assert fake.findings == [] and fake.peak_bytes == cpu.peak_bytes


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_checkpointing_fake_equals_cpu_and_saves_memory(name: str) -> None:
    ck = probe.run(zoo_spec(name, checkpointing=True), device="fake", emulate="cpu", n=512)
    full = probe.run(zoo_spec(name), device="fake", emulate="cpu", n=512)
    assert ck.peak_bytes is not None and full.peak_bytes is not None
    assert ck.peak_bytes < full.peak_bytes
    cpu = probe.run(zoo_spec(name, checkpointing=True), device="cpu", n=128)
    assert (
        cpu.peak_bytes
        == probe.run(zoo_spec(name, checkpointing=True), "fake", 128, emulate="cpu").peak_bytes
    )


@pytest.mark.parametrize("name", ["gpt2", "lstm", "tcn"])
def test_adafactor_fake_equals_cpu(name: str) -> None:
    """torch.optim.Adafactor calls .item() on its step counter and on each parameter's RMS; on
    fake tensors that raised DataDependentOutputException (ARC303). The values decide no
    allocation: the fake step now equals the real CPU step to the byte."""
    spec = zoo_spec(name, optimizer="adafactor")
    fake = probe.run(spec, device="fake", emulate="cpu", n=64, batch=2)
    cpu = probe.run(spec, device="cpu", n=64, batch=2)
    assert fake.findings == [] and fake.peak_bytes is not None
    assert fake.peak_bytes == cpu.peak_bytes and fake.breakdown == cpu.breakdown
