"""The hybrid family (`family = "hybrid"`, `[[model.stage]]`): a strided conv stem, then
Transformer blocks. Expected values are counted by hand from the layer shapes (parameters,
stage lengths, reach, path length, KV cache), or measured by torch: the reference module's own
parameters, the fake-tensor probe's peak, and the gradient support of one output position
(behaviour/reach.py). A composition that forgot the stem's stride in the reach, or ran the
blocks at the input n, fails these."""

from __future__ import annotations

from math import ceil
from pathlib import Path
from typing import Any

import pytest
from hostcaps import host_cannot_run

from pytest_archcheck.engine import check_paths
from pytest_archcheck.estimate import estimate
from pytest_archcheck.families import family_of
from pytest_archcheck.families.hybrid import stage_specs
from pytest_archcheck.spec.load import load_spec_text
from pytest_archcheck.spec.model import Spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def hybrid(
    model: dict[str, Any] | None = None,
    stem: dict[str, Any] | None = None,
    blocks: dict[str, Any] | None = None,
    **tables: Any,
) -> Spec:
    st = {"family": "cnn", "layers": 2, "kernel": 4, "strides": [2, 2], "channels": 32}
    bl = {"family": "transformer", "layers": 3, "heads": 2, "d_ff": 64, "attention": "sliding"}
    m = {
        "family": "hybrid",
        "d_model": 32,
        "vocab": 50,
        "stage": [st | (stem or {}), bl | {"window": 8} | (blocks or {})],
    }
    return Spec.model_validate({"model": m | (model or {}), **tables})


def test_stages_inherit_and_chain() -> None:
    """Stage 1 takes the tokens (no head), stage 2 the stem's 32-wide output as embeddings at
    n / 4 and carries the LM head; n = 64 -> (64 + 3 - 3 - 1) // 2 + 1 = 32 -> 16."""
    spec = hybrid(train={"seq_len": 64})
    stem, blocks = stage_specs(spec)
    assert (stem.model.input, stem.model.head, stem.model.vocab) == ("tokens", "none", 50)
    assert stem.model.padding == "causal"  # the hybrid is causal
    assert (blocks.model.input, blocks.model.d_model, blocks.model.vocab) == ("embeddings", 32, 50)
    assert blocks.train_n == 16
    assert family_of(spec).output_stride(spec) == 4
    assert family_of(spec).output_length(spec, 64) == 16


def test_params_hand_count_and_reference_module() -> None:
    """vocab 50, d 16, stem 2 x Conv1d(16, 16, 5) with bias, 1 GPT-2 block (2 heads, d_ff 32,
    learned positions over the blocks' 16 positions), untied LM head (the blocks take
    embeddings, so there is no table to tie to):
    stem 50*16 + 2*(16*16*5 + 16) = 3,392; blocks 16*16 (positions) + 2*(16+16) (norms)
    + 48*16 + 48 (qkv) + 16*16 + 16 (out) + 32*16 + 32 + 16*32 + 16 (MLP) + 32 (final norm)
    + 50*16 (head) = 3,312; total 6,704."""
    spec = hybrid(
        {"d_model": 16},
        {"channels": 16, "kernel": 5},
        {"layers": 1, "d_ff": 32, "attention": "full", "window": 0},
        train={"seq_len": 64},
    )
    assert estimate(spec).params == 6704
    torch = pytest.importorskip("torch")
    module = family_of(spec).reference_module(spec)
    assert sum(p.numel() for p in module.parameters()) == 6704
    out = module(torch.randint(0, 50, (2, 64)))
    assert tuple(out.shape) == (2, 16, 50)


# (stem, blocks, causal, reach by hand, path length for span 100 by hand)
REACH = [
    # causal k=4 stride 2, 2: stem 3 + 3*2 = 9; blocks 3 x w 8 x S 4 = 96 -> 105.
    # span 100: stem 9, then ceil(91 / 4) = 23 block positions = ceil(23 / 8) = 3 layers: 2 + 3
    ({}, {}, True, 105, 5),
    # centred k=5: floor(4/2) = 2 + 2*2 = 6 per side; + 96 -> 102 per direction
    ({"kernel": 5}, {}, False, 102, 5),
    # causal k=3 strides 2, 3 (S = 6): 2 + 2*2 = 6; blocks 2 x w 4 x 6 = 48 -> 54 < 100
    ({"kernel": 3, "strides": [2, 3]}, {"window": 4, "layers": 2}, True, 54, None),
]


@pytest.mark.parametrize(("stem", "blocks", "causal", "reach", "path_length"), REACH)
def test_reach_multiplies_by_the_stem_stride(
    stem: dict[str, Any], blocks: dict[str, Any], causal: bool, reach: int, path_length: int | None
) -> None:
    spec = hybrid({"causal": causal}, stem, blocks, budget={"span": 100})
    p = family_of(spec).path(spec, 100, 600)
    assert p.reach == reach
    assert p.path_length == path_length
    assert p.covered is (reach >= 100)
    assert p.directions == ("past" if causal else "both")
    assert p.sequential_steps == 2 + (blocks.get("layers") or 3)


@pytest.mark.parametrize(("stem", "blocks", "causal", "reach", "path_length"), REACH)
def test_reach_equals_the_behavioural_measurement(
    stem: dict[str, Any], blocks: dict[str, Any], causal: bool, reach: int, path_length: int | None
) -> None:
    """torch's gradients of one interior output position (u, standing for input u*S) reach
    exactly the hand-counted number of input positions back (and ahead when not causal)."""
    torch = pytest.importorskip("torch")
    from pytest_archcheck.behaviour.reach import measure_reach

    spec = hybrid({"causal": causal}, stem, blocks, budget={"span": 100})
    torch.manual_seed(0)
    r = measure_reach(family_of(spec).reference_module(spec), spec, n=600)
    assert r.bounded_left and r.left == reach
    assert r.right == (0 if causal else reach)


def test_blocks_run_at_the_downsampled_n() -> None:
    """FLOPs: the stem's at n plus the blocks' at n / 4 (a Transformer over 256 positions, not
    1,024); with full attention the blocks' attention cores are (n/4)² = 1/16 of the
    undownsampled ones."""
    full = {"attention": "full", "window": 0}
    spec = hybrid(blocks=full)
    stem, blocks = stage_specs(spec)
    fam = family_of(spec)
    total = fam.flops(spec, 1024, 2).forward
    stem_f = family_of(stem).flops(stem, 1024, 2).forward
    at_256 = family_of(blocks).flops(blocks, 256, 2).forward
    assert total == stem_f + at_256
    assert total != stem_f + family_of(blocks).flops(blocks, 1024, 2).forward


def test_kv_cache_at_block_positions() -> None:
    """The blocks cache their own positions: prompt 64 -> 16, 8 new tokens -> ceil(8/4) = 2:
    2 (K, V) x 3 layers x batch 1 x 2 heads x 18 x head_dim 16 x 4 bytes (fp32)."""
    spec = hybrid(blocks={"attention": "full", "window": 0}, infer={"seq_len": 64,
                  "new_tokens": 8})  # fmt: skip
    assert family_of(spec).kv_cache(spec) == 2 * 3 * 1 * 2 * (16 + ceil(8 / 4)) * 16 * 4


CASES = [
    ({}, {}, {}, {"train": {"batch": 2, "seq_len": 1024}}),
    ({"classes": 10, "causal": False}, {}, {}, {"train": {"batch": 2, "seq_len": 1024}}),
    (
        {},
        {},
        {"global_every": 3, "positional": "rotary", "norm": "rmsnorm", "mlp": "swiglu"},
        {"train": {"batch": 2, "seq_len": 1024, "dtype": "bf16"}},
    ),
    (
        {},
        {},
        {},
        {"train": {"batch": 2, "seq_len": 1024, "dtype": "bf16"}, "budget": {"device": "cpu"}},
    ),
    (
        {},
        {},
        {},
        {"train": {"batch": 2, "seq_len": 1024, "dropout": 0.1}, "budget": {"device": "cpu"}},
    ),
    (
        {"input": "embeddings", "vocab": None, "head": "none"},
        {},
        {},
        {"train": {"batch": 2, "seq_len": 1024}},
    ),
    ({}, {}, {}, {"train": {"batch": 2, "seq_len": 1024, "checkpointing": True}}),
    # stem-heavy: a wide first conv at n = 8192 (the stem's saved maps dominate)
    (
        {"d_model": 64},
        {"channels": [256, 64], "kernel": 5},
        {"layers": 1, "d_ff": 128, "d_model": 64},
        {"train": {"batch": 2, "seq_len": 8192}},
    ),
    (
        {"d_model": 64},
        {"channels": [256, 64], "kernel": 5},
        {"layers": 1, "d_ff": 128, "d_model": 64},
        {"train": {"batch": 2, "seq_len": 8192, "dtype": "bf16"}},
    ),
    (
        {"d_model": 64, "input": "embeddings", "vocab": None, "in_channels": 16, "classes": 3},
        {"channels": [256, 64], "kernel": 5},
        {"layers": 1, "d_ff": 128, "d_model": 64},
        {"train": {"batch": 2, "seq_len": 8192, "dtype": "bf16"}},
    ),
]


@pytest.mark.parametrize(("model", "stem", "blocks", "tables"), CASES)
def test_formula_matches_fake_probe(
    model: dict[str, Any], stem: dict[str, Any], blocks: dict[str, Any], tables: dict[str, Any]
) -> None:
    pytest.importorskip("torch")
    from pytest_archcheck import probe

    # widths of 128 (64 for the stem-heavy cases), heads of 4, windows of 32: at d = 32 the
    # Transformer unit's own formula is 4 % short on the CPU under bf16 (its band-mask build;
    # the blocks alone show it), which is not the composition's to fix
    wide = {"d_model": 128} | model
    d = wide["d_model"]
    spec = hybrid(
        wide,
        {"channels": d} | stem,
        {"d_model": d, "heads": 4, "d_ff": 4 * d, "window": 32} | blocks,
        **tables,
    )
    assert not list(family_of(spec).dimension_problems(spec))
    e = estimate(spec)
    r = probe.run(spec, device="fake", n=e.n, batch=e.batch)
    assert r.peak_bytes is not None, r.findings
    assert abs(e.memory.total / r.peak_bytes - 1) <= 0.02, (e.memory.to_json(), r.peak_bytes)


def _example(name: str, edit: tuple[str, str] | None = None) -> Spec:
    path = EXAMPLES / name / f"{name}.archcheck.toml"
    text = path.read_text()
    if edit is not None:
        assert edit[0] in text
        text = text.replace(*edit)
    spec = load_spec_text(text, str(path)).spec
    assert spec is not None
    return spec


@pytest.mark.parametrize("name", ["conv-stem-transformer", "local-global"])
def test_examples_formula_matches_fake_probe(name: str) -> None:
    """The examples at their own shape (batch x 8,192, bf16, RTX-4090): within 2 %."""
    pytest.importorskip("torch")
    from pytest_archcheck import probe

    spec = _example(name)
    e = estimate(spec)
    r = probe.run(spec, device="fake", n=e.n, batch=e.batch)
    assert r.peak_bytes is not None, r.findings
    assert abs(e.memory.total / r.peak_bytes - 1) <= 0.02, (e.memory.to_json(), r.peak_bytes)


@pytest.mark.slow
def test_conv_stem_example_reach_equals_behaviour() -> None:
    """The conv-stem example's blocks (its classifier head removed, so that every position has
    an output): stem 2 + 2*2 = 6, blocks 6 x 256 x 4 = 6,144 -> 6,150 per direction by hand;
    torch's gradients at n = 12,400 reach exactly that far both ways."""
    torch = pytest.importorskip("torch")
    from pytest_archcheck.behaviour.reach import measure_reach

    spec = _example("conv-stem-transformer", ("classes = 10", 'head = "none"'))
    fam = family_of(spec)
    assert fam.path(spec, 2048, 8192).reach == 6150
    torch.manual_seed(0)
    r = measure_reach(fam.reference_module(spec), spec, n=12400)
    assert (r.left, r.right, r.bounded_left, r.bounded_right) == (6150, 6150, True, True)


@pytest.mark.slow
def test_local_global_example_reach_is_unlimited() -> None:
    """Its 4 windowed layers alone reach 4 x 256 = 1,024 back; the example's output at
    t = 1,199 depends on position 0 (through layers 3 and 6), as its unlimited formula reach
    says. Without global_every the 6 windowed layers reach 6 x 256 = 1,536, measured at
    n = 1,700."""
    torch = pytest.importorskip("torch")
    from pytest_archcheck.behaviour.reach import measure_reach

    spec = _example("local-global")
    fam = family_of(spec)
    assert fam.path(spec, 2048, 8192).reach is None
    torch.manual_seed(0)
    r = measure_reach(fam.reference_module(spec), spec, n=1200)
    assert not r.bounded_left and r.left == 1199
    windowed = _example("local-global", ("global_every = 3\n", ""))
    rw = measure_reach(family_of(windowed).reference_module(windowed), windowed, n=1700)
    assert rw.bounded_left and rw.left == 6 * 256 == family_of(windowed).path(windowed, 1, 1).reach


def _check(tmp_path: Path, text: str) -> list[Any]:
    path = tmp_path / "h.archcheck.toml"
    path.write_text(text)
    return check_paths([str(path)]).findings


HEAD = """[model]
family = "hybrid"
d_model = 32
vocab = 50
"""
STEM = """[[model.stage]]
family = "cnn"
layers = 2
kernel = 4
strides = [2, 2]
channels = 32
"""
BLOCKS = """[[model.stage]]
family = "transformer"
layers = 3
heads = 2
attention = "sliding"
window = 8
"""


def test_static_rules_see_the_composed_reach(tmp_path: Path) -> None:
    """ARC104 from the composed reach: 9 + 4*3*8 = 105 < span 200 (and silent at 100)."""
    short = _check(tmp_path, HEAD + STEM + BLOCKS + "[budget]\nspan = 200\nmax_n = 1024\n")
    assert [f.code for f in short] == ["ARC104"]
    assert "105" in short[0].message
    assert not _check(tmp_path, HEAD + STEM + BLOCKS + "[budget]\nspan = 100\nmax_n = 1024\n")


def test_refusals_are_findings(tmp_path: Path) -> None:
    """Stages this unit does not model, a clash with the hybrid's own keys and a width
    mismatch are findings with a line, never a traceback."""
    flipped = _check(tmp_path, HEAD + BLOCKS + STEM + "[train]\nseq_len = 256\n")
    assert {f.code for f in flipped} == {"ARC304"}
    assert "not modelled" in flipped[0].message
    clash = _check(tmp_path, HEAD + STEM + BLOCKS + 'input = "tokens"\nhead = "none"\n')
    assert [f.code for f in clash] == ["ARC302"] and "stage 2 sets head" in clash[0].message
    # a stage's d_model defaults to the previous stage's width; written, it must match
    wide = _check(
        tmp_path, HEAD + STEM.replace("channels = 32", "channels = 64") + BLOCKS + "d_model = 32\n"
    )
    assert [f.code for f in wide] == ["ARC304"] and "64 channels" in wide[0].message
    stray = _check(tmp_path, HEAD.replace("hybrid", "transformer") + BLOCKS)
    assert [f.code for f in stray] == ["ARC302"] and "only read with" in stray[0].message


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
@pytest.mark.parametrize("kind", ["hybrid", "local-global"])
def test_estimate_matches_torch_mem_tracker(kind: str, dtype: str) -> None:
    """Against torch's own tracker (MemTracker), never our probe: the reference modules
    trained for two steps in a plain loop (cross-entropy on the fp32 logits, AdamW,
    zero_grad(set_to_none=True)); the second step's peak against `estimate(target="cpu")`.
    The hybrid predicts one class of V per block position (random targets, as the probe's loss
    draws them); the local/global stack is a language model over its own tokens."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F
    from torch.distributed._tools.mem_tracker import MemTracker

    V, B, N = 1000, 8, 512
    train = {"batch": B, "seq_len": N, "dtype": dtype}
    if kind == "hybrid":
        spec = hybrid({"d_model": 128, "vocab": V}, {"channels": 128},
                      {"d_model": 128, "heads": 4, "d_ff": 512, "window": 32,
                       "global_every": 3, "positional": "rotary"}, train=train)  # fmt: skip
    else:
        spec = Spec.model_validate(
            {"model": {"family": "transformer", "layers": 4, "d_model": 128, "heads": 4,
                       "vocab": V, "attention": "sliding", "window": 32, "global_every": 2},
             "train": train}
        )  # fmt: skip
    torch.manual_seed(0)
    model = family_of(spec).reference_module(spec)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    tracker = MemTracker()
    tracker.track_external(model, opt)
    with tracker:
        for i in range(2):
            x = torch.randint(0, V, (B, N))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
                logits = model(x)
                rows = logits.shape[1]
                target = x if rows == N else torch.randint(0, V, (B, rows))
                loss = F.cross_entropy(logits.float().view(-1, V), target.reshape(-1))
            loss.backward()
            del logits, target
            opt.step()
            opt.zero_grad(set_to_none=True)
            del loss
            if i == 0:
                tracker.reset_mod_stats()
    peak = int(tracker.get_tracker_snapshot("peak")[torch.device("cpu")]["Total"])
    est = estimate(spec, target="cpu").memory
    assert abs(est.total / peak - 1) <= 0.02, (est.total, peak, est.to_json())


# --- conv stem, then an LSTM/GRU/RNN ---------------------------------------------------------


def conv_lstm(model: dict[str, Any] | None = None, blocks: dict[str, Any] | None = None,
              stem: dict[str, Any] | None = None, **tables: Any) -> Spec:  # fmt: skip
    d = (model or {}).get("d_model", 128)
    st = {"family": "cnn", "layers": 2, "kernel": 4, "strides": [2, 2], "channels": d}
    m = {"family": "hybrid", "d_model": 128, "vocab": 1000,
         "stage": [st | (stem or {}), {"family": "lstm", "layers": 2, "hidden": 128} |
                   (blocks or {})]}  # fmt: skip
    return Spec.model_validate({"model": m | (model or {}), **tables})


def test_conv_lstm_is_a_recurrent_unit() -> None:
    """The recurrent rules apply: sequential steps = the stem's 2 layers + n / 4 = 2 + 128;
    path length for span 100 = 2 + ceil((100 - 9) / 4) = 25 (one transition per block step);
    reach unlimited; the declared bptt is the gradient horizon."""
    spec = conv_lstm(train={"seq_len": 512, "bptt": 64})
    fam = family_of(spec)
    assert fam.name == "hybrid-recurrent" and fam.recurrent and not fam.attention
    assert fam.has_forget_gate(spec)
    p = fam.path(spec, 100, 512)
    assert (p.reach, p.path_length, p.sequential_steps, p.gradient_horizon) == (None, 25, 130, 64)


@pytest.mark.parametrize(
    ("model", "blocks", "stem", "tables"),
    [
        ({}, {}, {}, {"train": {"batch": 2, "seq_len": 512}}),
        ({}, {"layers": 1}, {}, {"train": {"batch": 2, "seq_len": 512, "dtype": "bf16"}}),
        (
            {"causal": False, "classes": 5},
            {"family": "gru", "hidden": 64, "bidirectional": True},
            {},
            {"train": {"batch": 2, "seq_len": 512}, "budget": {"device": "cpu"}},
        ),
        (
            {"d_model": 64},
            {"layers": 1, "hidden": 64},
            {"channels": [256, 64], "kernel": 5},
            {"train": {"batch": 2, "seq_len": 2048}},
        ),
    ],
)
def test_conv_lstm_formula_matches_fake_probe(
    model: dict[str, Any], blocks: dict[str, Any], stem: dict[str, Any], tables: dict[str, Any]
) -> None:
    pytest.importorskip("torch")
    from pytest_archcheck import probe

    spec = conv_lstm(model, blocks, stem, **tables)
    if host_cannot_run(spec):
        pytest.skip("torch's bf16 oneDNN LSTM kernel does not run on this CPU (no AVX-512 BF16)")
    assert not list(family_of(spec).dimension_problems(spec))
    e = estimate(spec)
    r = probe.run(spec, device="fake", n=e.n, batch=e.batch)
    assert r.peak_bytes is not None, r.findings
    assert abs(e.memory.total / r.peak_bytes - 1) <= 0.02, (e.memory.to_json(), r.peak_bytes)


def test_conv_lstm_direction_must_match(tmp_path: Path) -> None:
    """A causal hybrid with a bidirectional LSTM would see the future through the LSTM."""
    text = HEAD + STEM + '[[model.stage]]\nfamily = "lstm"\nhidden = 32\nbidirectional = true\n'
    [f] = _check(tmp_path, text)
    assert f.code == "ARC304" and "unidirectional" in f.message


def test_conv_lstm_bptt_is_arc207(tmp_path: Path) -> None:
    text = HEAD + STEM + '[[model.stage]]\nfamily = "lstm"\nhidden = 32\n'
    codes = [f.code for f in _check(tmp_path, text + "[train]\nbptt = 50\n[budget]\nspan = 200\n")]
    assert codes == ["ARC207"]


def test_conv_lstm_reach_is_unlimited_by_measurement() -> None:
    """torch's gradients: the last block step (input 4 * 49 = 196 of n = 200) depends on
    input position 0, as the unlimited formula reach says."""
    torch = pytest.importorskip("torch")
    from pytest_archcheck.behaviour.reach import measure_reach

    spec = conv_lstm({"d_model": 16}, {"layers": 1, "hidden": 16}, budget={"span": 150})
    torch.manual_seed(0)
    r = measure_reach(family_of(spec).reference_module(spec), spec, n=200)
    assert r.t == 196 and not r.bounded_left and r.left == 196


def test_sensitivity_does_not_halve_the_hybrid_table() -> None:
    """The hybrid table holds no layers, widths or heads of its own (its stages do): the
    sensitivity rows are n and batch only, never a "d_model" row that changes nothing."""
    keys = [r["key"] for r in estimate(hybrid(train={"seq_len": 256, "batch": 2})).to_json()
            ["sensitivity"]]  # fmt: skip
    assert keys == ["train.seq_len", "train.batch"]


def test_flops_equal_torch_flop_counter() -> None:
    """Forward FLOPs against torch's FlopCounterMode (the CPU probe runs the reference module
    under it): the stem at n = 512 plus full-attention blocks at n / 4 = 128, to the FLOP. (A
    windowed stack is not compared: the formula counts the w keys a window attends to, SDPA
    with a band mask multiplies all n.)

    By hand (b 2, d 64): stem 2*2*256*64*64*4 + 2*2*128*64*64*4 = 25,165,824; per block at
    s = 128 (b*s = 256): qkv 2*256*64*192 = 6,291,456, out 2,097,152, MLP (d_ff 64)
    4,194,304, causal attention core (half of 2 * 2*2*4*128²*16) 4,194,304; 3 blocks
    50,331,648; LM head 2*256*64*50 = 1,638,400; total 77,135,872."""
    pytest.importorskip("torch")
    from pytest_archcheck import probe

    spec = hybrid(
        {"d_model": 64},
        {"channels": 64},
        {"d_model": 64, "heads": 4, "attention": "full", "window": 0},
        train={"batch": 2, "seq_len": 512},
        budget={"device": "cpu"},
    )
    r = probe.run(spec, device="cpu", n=512, batch=2)
    assert r.flops is not None
    assert estimate(spec).flops[0] == r.flops["forward"] == 77_135_872
