"""The formula's training peak against the fake probe of the REAL transformers class, at small
widths (2 layers, d 64 and 256, n 128, batch 2), where activations outweigh the weights and a
missed saved tensor shows.

Each case writes the model_type's default config (transformers' own config class) cut to the
small shape (ViT: 64-px images in patches of 8), reads it as a spec (`extends = "config.json"`), and compares
`estimate(...).memory.total` with `probe --device fake` of the class transformers builds from
that config (MoE classes: the reference, their routing cannot run on fake tensors). Every case
within 2 %, the classes whose attention is their own (GPT-J, BLOOM, MPT: `eager_attention`)
included. The encoder-decoders (T5, mT5, BART, Whisper: both stacks at 2
layers, 64 source and 64 target positions) run through the same probe and meet the same 2 %
(activations.encoder_decoder, #13; a model_type in SEQ2SEQ_REFUSED would have to be refused
by name, ARC307's NotModelled at the key). Probe figures at this cut (bytes, fp32 CPU / bf16
CPU / bf16 CUDA): T5 d64 8,467,652 / 7,036,612 / 73,713,152, d256 48,551,620 / 49,130,180 / 121,140,224;
BART d64 5,773,348 / 5,336,612 / 72,355,328, d256 46,583,324 / 47,026,724 / 124,024,320;
Whisper d64 5,670,248 / 5,130,088 / 72,276,480, d256 48,645,472 / 48,645,472 / 125,931,520.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_archcheck.adapters.hf import SEQ2SEQ, SUPPORTED_MODEL_TYPES
from pytest_archcheck.estimate import estimate
from pytest_archcheck.families import NotModelled

from .support import extending

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

TOLERANCE = 0.02
COMBOS = [("fp32", "cpu"), ("bf16", "cpu"), ("bf16", "cuda")]
TYPES = list(SUPPORTED_MODEL_TYPES)
# ViT reads images: 64 px in patches of 8 (64 patches + the class token, half the text cases'
# 128 positions), so that activations still outweigh the weights at d 64
VIT_IMAGE, VIT_PATCH = 64, 8


# encoder-decoders: 64 source positions (and 64 target tokens), two stacks at 2 layers
SEQ2SEQ_N = 64
# the encoder-decoders whose training peak the formula refuses, and the key it names
SEQ2SEQ_REFUSED: dict[str, tuple[str, str]] = {}


def sample_len(model_type: str) -> int:
    """n of a case: the image side for ViT, 64 for the encoder-decoders, else 128 tokens."""
    if model_type in SEQ2SEQ:
        return SEQ2SEQ_N
    return VIT_IMAGE if model_type == "vit" else 128


def small_config(model_type: str, d: int) -> dict[str, Any]:
    """The default config of `model_type`, 2 layers at width d (4 heads, 2 KV heads where the
    config has them, d_ff 2d, 300 tokens, 256 positions), through the config class itself."""
    cfg = transformers.CONFIG_MAPPING[model_type]()
    mapped = getattr(cfg, "attribute_map", {})

    def put(key: str, value: Any) -> None:
        if hasattr(cfg, key) or key in mapped:
            setattr(cfg, key, value)

    for key, value in (("hidden_size", d), ("num_hidden_layers", 2),
                       ("num_attention_heads", 4), ("vocab_size", 300),
                       ("max_position_embeddings", 256), ("n_positions", 256)):  # fmt: skip
        put(key, value)
    for key in ("intermediate_size", "n_inner", "ffn_dim"):
        if hasattr(cfg, key):
            setattr(cfg, key, 2 * d)
    if getattr(cfg, "num_key_value_heads", None) is not None:
        cfg.num_key_value_heads = 2
    if isinstance(getattr(type(cfg), "head_dim", None), property):
        pass  # derived (Falcon)
    elif getattr(cfg, "head_dim", None) is not None:
        cfg.head_dim = d // 4
    if getattr(cfg, "rotary_dim", None) is not None:
        cfg.rotary_dim = d // 8
    if isinstance(getattr(cfg, "pad_token_id", None), int) and cfg.pad_token_id >= 300:
        cfg.pad_token_id = 0
    # the encoder-decoders' own keys: both stacks at 2 layers and 4 heads, d_ff 2d (T5's d_kv,
    # its head_dim above, d/4), 16 mel bins and Whisper's source positions the case's n (its
    # encoder runs at exactly that)
    for key, value in (("num_decoder_layers", 2), ("encoder_layers", 2), ("decoder_layers", 2),
                       ("encoder_attention_heads", 4), ("decoder_attention_heads", 4),
                       ("d_ff", 2 * d),
                       ("encoder_ffn_dim", 2 * d), ("decoder_ffn_dim", 2 * d),
                       ("max_source_positions", SEQ2SEQ_N), ("max_target_positions", SEQ2SEQ_N),
                       ("bos_token_id", 1), ("eos_token_id", 2),
                       ("decoder_start_token_id", 3), ("num_mel_bins", 16)):  # fmt: skip
        if model_type in SEQ2SEQ and hasattr(cfg, key):
            setattr(cfg, key, value)
    if model_type == "vit":
        cfg.image_size, cfg.patch_size = VIT_IMAGE, VIT_PATCH
        cfg.pooler_output_size = d  # ViTConfig copies hidden_size at construction
    out: dict[str, Any] = cfg.to_dict()
    out["model_type"] = model_type
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("dtype", "target"), COMBOS, ids=[f"{a}-{b}" for a, b in COMBOS])
@pytest.mark.parametrize("d", [64, 256])
@pytest.mark.parametrize("model_type", TYPES)
def test_formula_against_the_real_class_at_small_widths(
    tmp_path: Path, model_type: str, d: int, dtype: str, target: str
) -> None:
    from pytest_archcheck import probe

    train = f'batch = 2\nseq_len = 128\ndtype = "{dtype}"\n'
    spec = extending(tmp_path, small_config(model_type, d), train)
    n = sample_len(model_type)
    res = probe.run(spec, device="fake", n=n, batch=2, emulate=target)
    assert res.peak_bytes is not None, res.findings
    if spec.model.experts is None:
        assert res.extra["model"].startswith("transformers "), res.extra["model"]
    e = estimate(spec, n=n, target=target)
    try:
        total = e.memory.total
    except NotModelled as refused:
        # Gemma-2's per-layer kernel mix on CUDA (ARC304), or an encoder-decoder whose peak
        # is not modelled (#13: the probe above still measures the class): refused by name,
        # never a number
        if model_type in SEQ2SEQ_REFUSED:
            assert refused.key == SEQ2SEQ_REFUSED[model_type], refused
            assert "archcheck probe" in refused.fix
            return
        assert "global_every" in str(refused), refused
        return
    error = total / res.peak_bytes - 1
    assert abs(error) < TOLERANCE, error


def test_rotary_dim_beyond_the_head_is_refused_at_its_key(tmp_path: Path) -> None:
    """A rotary width wider than a head is a dimension problem named at `rotary_dim`."""
    from pytest_archcheck.engine import check_paths

    spec = tmp_path / "m.archcheck.toml"
    spec.write_text(
        '[model]\nfamily = "transformer"\nlayers = 2\nd_model = 64\nheads = 4\nvocab = 100\n'
        'positional = "rotary"\nrotary_dim = 32\n'
    )
    found = [f for f in check_paths([tmp_path]).findings if "rotary_dim" in f.message]
    assert found and (found[0].code, found[0].line) == ("ARC304", 8), found
    spec.write_text(spec.read_text().replace("rotary_dim = 32", "rotary_dim = 8"))
    assert not [f for f in check_paths([tmp_path]).findings if "rotary_dim" in f.message]


@pytest.mark.parametrize(
    ("d", "n", "batch"), [(256, 128, 8), (768, 128, 2)], ids=["d256-b8", "d768-b2"]
)
def test_post_norm_encoder_under_autocast_against_the_class(
    tmp_path: Path, d: int, n: int, batch: int
) -> None:
    """BertModel (post-norm; hidden and attention dropout 0.1, so SDPA's math kernel on the
    CPU) in bf16 on the CPU target, heads of 64: the forward's end (the embedding LayerNorm's
    fp32 input, the last block's fp32 locals) and the math kernel's backward (the 16-bit
    weight copies freed) against the fake probe of the class. Was -4.67 % (d 256, batch 8)
    and +1.71 % (d 768); measured after: -0.02 % and -0.98 %."""
    from pytest_archcheck import probe

    cfg = small_config("bert", d) | {"num_attention_heads": d // 64}
    assert (cfg["hidden_dropout_prob"], cfg["attention_probs_dropout_prob"]) == (0.1, 0.1)
    spec = extending(tmp_path, cfg, f'batch = {batch}\nseq_len = {n}\ndtype = "bf16"\n')
    res = probe.run(spec, device="fake", n=n, batch=batch, emulate="cpu")
    assert res.peak_bytes is not None and res.extra["model"] == "transformers AutoModel (bert)"
    total = estimate(spec, n=n, target="cpu").memory.total
    assert abs(total / res.peak_bytes - 1) < TOLERANCE


MOE_CUT = {
    "mixtral": {"num_local_experts": 4},
    "qwen2_moe": {"num_experts": 4, "moe_intermediate_size": 64,
                  "shared_expert_intermediate_size": 128},
}  # fmt: skip


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
@pytest.mark.parametrize("model_type", sorted(MOE_CUT))
def test_moe_formula_against_a_cpu_step_of_the_real_class(
    tmp_path: Path, model_type: str, dtype: str
) -> None:
    """Mixture-of-experts classes route tokens by value, which fake tensors cannot run (the
    fake probe measures the reference): here the ground truth is a real CPU training step of
    the transformers class itself (`probe --device cpu`, random weights and routing), at d 64,
    4 experts, n 128, batch 2. Measured (fp32 / bf16): Mixtral -0.07 / -0.08 %, Qwen2-MoE
    -1.28 / -0.78 % (the fake probe of the reference gives the formula's figure to the byte;
    what Qwen2-MoE's step holds beyond it is not yet attributed -- uneven routing is the
    likely cause)."""
    from pytest_archcheck import probe

    cfg = small_config(model_type, 64) | MOE_CUT[model_type]
    spec = extending(tmp_path, cfg, f'batch = 2\nseq_len = 128\ndtype = "{dtype}"\n')
    res = probe.run(spec, device="cpu", n=128, batch=2)
    assert res.peak_bytes is not None, res.findings
    assert res.extra["model"] == f"transformers AutoModelForCausalLM ({model_type})"
    total = estimate(spec, n=128, target="cpu").memory.total
    assert abs(total / res.peak_bytes - 1) < TOLERANCE
