"""The training-peak estimate against a real training loop with a real language-model loss,
measured by torch's own tracker (`torch.distributed._tools.mem_tracker.MemTracker`), never by
our probe.

Each model is trained for two steps in a plain loop (forward, cross-entropy, backward,
AdamW step, zero_grad(set_to_none=True)); the peak of the second step (optimizer state
allocated, as in every later step) is compared with `estimate(spec, target="cpu")` at the
same batch and n. Before cross-entropy was modelled the estimate of the reference model was
30 % low here (docs/benchmarks.md, "Estimate versus a real training loop").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_archcheck.estimate import estimate
from pytest_archcheck.families import family_of
from pytest_archcheck.spec.model import Spec

torch = pytest.importorskip("torch")
F = torch.nn.functional
TOLERANCE = 0.02
V, B, N = 1000, 8, 128


def _peak_of_second_step(
    model: Any, step: Callable[[Any], tuple[Any, Any]], vocab: int = V, b: int = B, n: int = N
) -> int:
    """MemTracker's peak (every category: parameters, gradients, optimizer state,
    activations, temporaries) over the second of two training steps. `step(x)` returns the
    loss and what the loop holds through backward (the logits, the output object)."""
    from torch.distributed._tools.mem_tracker import MemTracker

    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    tracker = MemTracker()
    tracker.track_external(model, opt)
    with tracker:
        for i in range(2):
            x = torch.randint(0, vocab, (b, n))
            loss, held = step(x)
            loss.backward()
            del held
            opt.step()
            opt.zero_grad(set_to_none=True)
            del loss
            if i == 0:
                tracker.reset_mod_stats()
    return int(tracker.get_tracker_snapshot("peak")[torch.device("cpu")]["Total"])


def _reference_spec(dtype: str) -> Spec:
    return Spec.model_validate(
        {
            "model": {
                "family": "transformer",
                "layers": 2,
                "d_model": 128,
                "heads": 4,
                "vocab": V,
                "input": "tokens",
            },
            "train": {"batch": B, "seq_len": N, "dtype": dtype, "optimizer": "adamw"},
        }
    )


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_reference_transformer_with_cross_entropy(dtype: str) -> None:
    """The reference module in the loop everyone writes: `logits = model(x)`, then
    `cross_entropy(logits.view(-1, V), x.view(-1))` (bf16: under CPU autocast, on the logits'
    fp32 copy, as transformers' ForCausalLMLoss does), the logits alive until backward ends."""
    spec = _reference_spec(dtype)
    torch.manual_seed(0)
    model = family_of(spec).reference_module(spec)
    model.train()
    amp = dtype == "bf16"

    def step(x: Any) -> tuple[Any, Any]:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            logits = model(x)
            loss = F.cross_entropy(logits.float().view(-1, V), x.view(-1))
        return loss, logits

    peak = _peak_of_second_step(model, step)
    est = estimate(spec, target="cpu").memory
    assert abs(est.total / peak - 1) <= TOLERANCE, (est.total, peak, est.to_json())


def test_transformers_llama_with_labels() -> None:
    """transformers' LlamaForCausalLM (2 layers, d 64, SwiGLU, rotary, RMSNorm, SDPA) trained
    with `labels=`: its own loss (ForCausalLMLoss: logits.float(), labels shifted by padding
    with -100, cross_entropy with ignore_index), its output object holding the logits."""
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(
        num_hidden_layers=2,
        hidden_size=64,
        num_attention_heads=4,
        num_key_value_heads=4,
        intermediate_size=256,
        vocab_size=V,
        max_position_embeddings=N,
        use_cache=False,
        tie_word_embeddings=False,
        attn_implementation="sdpa",
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg)
    model.train()

    def step(x: Any) -> tuple[Any, Any]:
        out = model(input_ids=x, labels=x)
        return out.loss, out  # the loop holds the output object (loss and logits)

    peak = _peak_of_second_step(model, step)
    spec = Spec.model_validate(
        {
            "model": {
                "family": "transformer",
                "layers": 2,
                "d_model": 64,
                "heads": 4,
                "d_ff": 256,
                "vocab": V,
                "input": "tokens",
                "tied_embeddings": False,
                "positional": "rotary",
                "max_positions": N,
                "causal": True,
                "mlp": "swiglu",
                "norm": "rmsnorm",
            },
            "train": {"batch": B, "seq_len": N, "dtype": "fp32", "optimizer": "adamw"},
        }
    )
    est = estimate(spec, target="cpu").memory
    assert abs(est.total / peak - 1) <= TOLERANCE, (est.total, peak, est.to_json())


def test_probe_default_loss_is_transformers_labels_loss(tmp_path: Any, monkeypatch: Any) -> None:
    """The fake probe of a user factory (transformers' GPT2LMHeadModel) with the default loss
    peaks where the same model trained with `labels=` peaks under MemTracker: the default
    loss allocates what transformers' own loss does."""
    pytest.importorskip("transformers")
    from pytest_archcheck.probe.step import measure

    (tmp_path / "gpt2_factory.py").write_text(
        "import transformers\n"
        "def build():\n"
        "    cfg = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size="
        f"{V}, n_positions={N}, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,"
        " activation_function='gelu_pytorch_tanh', use_cache=False)\n"
        "    return transformers.GPT2LMHeadModel(cfg)\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARCHCHECK_ROOT", str(tmp_path))
    spec = Spec.model_validate(
        {
            "model": {
                "family": "transformer",
                "factory": "gpt2_factory:build",
                "layers": 2,
                "d_model": 64,
                "heads": 4,
                "vocab": V,
                "input": "tokens",
            },
            "train": {"batch": B, "seq_len": N, "dtype": "fp32", "optimizer": "adamw"},
        }
    )
    probed = measure(spec, "fake", N, B)
    assert probed.extra["loss"] == f"cross_entropy (vocab {V})"

    from pytest_archcheck.probe.build import resolve

    torch.manual_seed(0)
    model = resolve("gpt2_factory:build")()
    model.train()

    def step(x: Any) -> tuple[Any, Any]:
        out = model(input_ids=x, labels=x)
        return out.loss, out

    peak = _peak_of_second_step(model, step)
    assert abs(probed.peak_bytes / peak - 1) <= 0.001, (probed.peak_bytes, peak)


# Shapes where the step's peak is the end of backward: a tied 20,000-token embedding of width
# 512 and a short batch (1 x 64), so the two partial gradients of the shared weight (2 x 41 MB)
# beside every gradient and the held logits outweigh the optimizer step's temporaries.
TIED = {
    "transformer": {"heads": 8},
    "gru": {"hidden": 512},
    "tcn": {"kernel": 3, "dilations": [1, 2]},
}


@pytest.mark.parametrize("family", sorted(TIED))
def test_tied_embedding_end_of_backward(family: str) -> None:
    """The reference module with a tied head in the plain loop: at the token embedding's
    backward every gradient exists, the loop holds the logits, and autograd holds the head's
    partial gradient of the shared weight and the embedding's before adding them."""
    vocab, b, n = 20_000, 1, 64
    spec = Spec.model_validate(
        {
            "model": {"family": family, "layers": 2, "d_model": 512, "vocab": vocab,
                      "tied_embeddings": True, **TIED[family]},
            "train": {"batch": b, "seq_len": n, "dtype": "fp32", "optimizer": "adamw"},
        }
    )  # fmt: skip
    torch.manual_seed(0)
    model = family_of(spec).reference_module(spec)
    model.train()

    def step(x: Any) -> tuple[Any, Any]:
        out = model(x)
        logits = out[0] if isinstance(out, tuple) else out
        loss = F.cross_entropy(logits.float().reshape(-1, vocab), x.reshape(-1))
        return loss, out

    peak = _peak_of_second_step(model, step, vocab, b, n)
    est = estimate(spec, target="cpu").memory
    assert est.phase == "end-of-backward", est.to_json()
    assert abs(est.total / peak - 1) <= 0.005, (est.total, peak, est.to_json())
