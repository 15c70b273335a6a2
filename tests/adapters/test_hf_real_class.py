"""The probe and the behavioural checks run the real transformers class of a config.json.

A spec read from a Hugging Face config.json (itself, or through `extends`) is probed on the
class transformers builds for that config, not on the family's reference Transformer: the
ground truth is the class itself. Checked here: the module built is transformers' own class;
the fake probe of it equals a real CPU training step of it to the byte; a spec that overrides
a shape of its config is probed on the reference and says which key; the behavioural checks
stay silent on real classes and catch a leak planted in one; and the formula's training peak
is compared with the real class's, config by config, for the published configs in
tests/adapters/data (2 layers at their real widths).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_archcheck.estimate import estimate
from pytest_archcheck.spec.load import load_spec_file
from pytest_archcheck.spec.model import Spec

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

DATA = Path(__file__).parent / "data"

TINY: dict[str, dict[str, Any]] = {
    # small configs written by transformers' own config classes
    "llama": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, vocab_size=300,
                  max_position_embeddings=256),
    "gpt_neox": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=4, vocab_size=300, max_position_embeddings=256),
    "phi": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, vocab_size=300, max_position_embeddings=256),
    "bert": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, vocab_size=300, max_position_embeddings=256),
    "mixtral": dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, vocab_size=300,
                    num_local_experts=4, num_experts_per_tok=2, max_position_embeddings=256),
}  # fmt: skip


def _config(model_type: str) -> dict[str, Any]:
    cfg: dict[str, Any] = transformers.CONFIG_MAPPING[model_type](**TINY[model_type]).to_dict()
    cfg["model_type"] = model_type
    return cfg


def _spec(tmp_path: Path, cfg: dict[str, Any], extra: str = "") -> Spec:
    (tmp_path / "config.json").write_text(json.dumps(cfg, indent=2))
    text = '[model]\nextends = "config.json"\n' + extra
    text += "\n[train]\nbatch = 1\nseq_len = 64\n" if "[train]" not in extra else ""
    loaded = load_spec_file(text, str(tmp_path / "m.archcheck.toml"), root=tmp_path)
    assert loaded.spec is not None, loaded.problems
    return loaded.spec


@pytest.mark.parametrize("model_type", ["llama", "gpt_neox", "phi"])
def test_fake_probe_of_the_real_class_equals_a_cpu_step(tmp_path: Path, model_type: str) -> None:
    from pytest_archcheck import probe
    from pytest_archcheck.probe.build import build_model

    spec = _spec(tmp_path, _config(model_type))
    model = build_model(spec)
    expected = transformers.AutoModelForCausalLM._model_mapping[
        type(transformers.AutoConfig.for_model(model_type))
    ]
    assert type(model) is expected  # transformers' own class, e.g. LlamaForCausalLM
    fake = probe.run(spec, device="fake", n=64, batch=1, emulate="cpu")
    cpu = probe.run(spec, device="cpu", n=64, batch=1)
    assert fake.peak_bytes is not None and cpu.peak_bytes is not None, fake.findings
    assert fake.peak_bytes == cpu.peak_bytes
    assert (
        fake.extra["model"]
        == cpu.extra["model"]
        == (f"transformers AutoModelForCausalLM ({model_type})")
    )
    assert fake.extra["loss"] == "cross_entropy (vocab 300)"


def test_layers_override_is_written_into_the_config(tmp_path: Path) -> None:
    from pytest_archcheck.probe.build import build_model

    cfg = _config("llama") | {"num_hidden_layers": 6}
    spec = _spec(tmp_path, cfg, "layers = 3\n")
    model = build_model(spec)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert len(model.model.layers) == 3


def test_shape_override_probes_the_reference_and_says_which_key(tmp_path: Path) -> None:
    from pytest_archcheck import probe

    spec = _spec(tmp_path, _config("llama"), "d_model = 32\nheads = 2\nkv_heads = 1\n")
    res = probe.run(spec, device="fake", n=64, batch=1, emulate="cpu")
    assert res.peak_bytes is not None
    note = res.extra["model"]
    assert note.startswith("reference Transformer (the spec overrides its config.json: ")
    assert "d_model 32 (config: 64)" in note


def test_spec_dropout_is_written_into_the_config(tmp_path: Path) -> None:
    """`[train] dropout` / `attention_dropout` over a config.json: the class is built with the
    spec's rates (the ones the formula counts), not the config's, and its fake probe equals
    that of a config that says them itself."""
    from pytest_archcheck import probe
    from pytest_archcheck.probe.build import build_model

    cfg = _config("bert")
    assert (cfg["hidden_dropout_prob"], cfg["attention_probs_dropout_prob"]) == (0.1, 0.1)
    train = "[train]\nbatch = 2\nseq_len = 64\ndropout = 0.0\nattention_dropout = 0.0\n"
    over_dir, said_dir, kept_dir = (tmp_path / d for d in ("over", "said", "kept"))
    for d in (over_dir, said_dir, kept_dir):
        d.mkdir()
    spec = _spec(over_dir, cfg, train)
    model = build_model(spec)
    assert type(model).__name__ == "BertModel"
    assert (model.config.hidden_dropout_prob, model.config.attention_probs_dropout_prob) == (0, 0)
    said = _spec(
        said_dir,
        cfg | {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0},
        "[train]\nbatch = 2\nseq_len = 64\n",
    )
    over = probe.run(spec, device="fake", n=64, batch=2, emulate="cpu")
    direct = probe.run(said, device="fake", n=64, batch=2, emulate="cpu")
    assert over.extra["model"] == direct.extra["model"] == "transformers AutoModel (bert)"
    assert over.peak_bytes == direct.peak_bytes
    # with dropout the CPU step holds masks: the rates really reached the class
    kept = probe.run(_spec(kept_dir, cfg, "[train]\nbatch = 2\nseq_len = 64\n"),
                     device="fake", n=64, batch=2, emulate="cpu")  # fmt: skip
    assert kept.peak_bytes is not None and direct.peak_bytes is not None
    assert kept.peak_bytes > direct.peak_bytes


def test_dropout_the_config_cannot_say_probes_the_reference_and_names_it(tmp_path: Path) -> None:
    """Llama's classes have no residual dropout: a spec's `[train] dropout` cannot be written
    back, so the probe builds the reference and says why."""
    from pytest_archcheck import probe

    spec = _spec(tmp_path, _config("llama"), "[train]\nbatch = 1\nseq_len = 64\ndropout = 0.1\n")
    res = probe.run(spec, device="fake", n=64, batch=1, emulate="cpu")
    assert res.peak_bytes is not None
    assert "train.dropout 0.1 (config: 0.0)" in res.extra["model"], res.extra["model"]


def test_experts_run_the_real_class_on_cpu_and_the_reference_on_fake(tmp_path: Path) -> None:
    from pytest_archcheck import probe

    spec = _spec(tmp_path, _config("mixtral"))
    fake = probe.run(spec, device="fake", n=32, batch=1, emulate="cpu")
    cpu = probe.run(spec, device="cpu", n=32, batch=1)
    assert fake.peak_bytes is not None and cpu.peak_bytes is not None
    assert cpu.extra["model"] == "transformers AutoModelForCausalLM (mixtral)"
    assert fake.extra["model"].startswith("reference Transformer (its expert routing depends")


def _loaded(tmp_path: Path, model_type: str) -> Any:
    (tmp_path / "config.json").write_text(json.dumps(_config(model_type), indent=2))
    text = '[model]\nextends = "config.json"\n'
    loaded = load_spec_file(text, str(tmp_path / "m.archcheck.toml"), root=tmp_path)
    assert loaded.spec is not None
    return loaded


@pytest.mark.parametrize("model_type", ["llama", "gpt_neox", "phi", "bert"])
def test_behaviour_is_silent_on_real_classes(tmp_path: Path, model_type: str) -> None:
    """Causality (decoders), padding and mask polarity through `attention_mask`, positions:
    transformers' own classes are correct models."""
    from pytest_archcheck.measure import _behaviour

    assert _behaviour(_loaded(tmp_path, model_type)) == []


class _Wrapped:
    """The real class behind a bug planted in its forward."""

    @staticmethod
    def leaky(inner: Any) -> Any:
        from torch import nn

        class Leaky(nn.Module):
            """Each position's logits mixed with the next position's: a causal leak."""

            def __init__(self) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, ids: Any, **kw: Any) -> Any:
                logits = self.inner(ids, **kw).logits
                return logits + logits.roll(-1, dims=1)

        return Leaky()

    @staticmethod
    def flipped(inner: Any) -> Any:
        from torch import nn

        class Flipped(nn.Module):
            """The attention mask inverted before the class sees it: 1 = pad."""

            def __init__(self) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, ids: Any, attention_mask: Any = None) -> Any:
                mask = None if attention_mask is None else 1 - attention_mask
                return self.inner(ids, attention_mask=mask).logits

        return Flipped()


@pytest.mark.parametrize(("bug", "code"), [("leaky", "ARC205"), ("flipped", "ARC204")])
def test_behaviour_catches_a_bug_planted_in_a_real_class(
    tmp_path: Path, bug: str, code: str
) -> None:
    from pytest_archcheck import behaviour
    from pytest_archcheck.probe.build import build_model
    from pytest_archcheck.probe.hf_class import checked_spec

    loaded = _loaded(tmp_path, "llama")
    model = getattr(_Wrapped, bug)(build_model(loaded.spec))
    found = behaviour.run_all(model, checked_spec(loaded.spec), loaded.path)
    assert code in [f.code for f in found]


def test_cli_probe_of_a_config_json_builds_the_class(tmp_path: Path) -> None:
    """Through the isolated child: the config travels beside the spec."""
    import os

    (tmp_path / "config.json").write_text(json.dumps(_config("gpt_neox"), indent=2))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    out = subprocess.run(
        [sys.executable, "-m", "pytest_archcheck", "probe", "config.json", "--device", "fake",
         "--format", "json", "--n", "64", "--batch", "1"],
        check=False, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    [res] = json.loads(out.stdout)["models"]
    assert res["extra"]["model"] == "transformers AutoModelForCausalLM (gpt_neox)"
    assert res["peak_bytes"] > 0


# Formula vs the real class at published widths, 2 layers, n 256, CPU target. Measured gaps
# (formula / real-class probe - 1, fp32) still open, in docs/benchmarks.md. (OPT-350m's +9.9 %
# was the probe's: called without an attention mask, OPT's class built a (b, 1, n, n) causal
# mask and took another path; the probe now passes the mask of ones a training batch has.)
REAL_GAPS: dict[str, float] = {}
TOLERANCE = 0.02


def _published() -> list[str]:
    """The published configs whose family models the training peak (not REAL_CLASS_ONLY)."""
    from pytest_archcheck.adapters.hf import REAL_CLASS_ONLY

    return sorted(
        p.name
        for p in DATA.iterdir()
        if (p / "config.json").exists()
        and json.loads((p / "config.json").read_text())["model_type"] not in REAL_CLASS_ONLY
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", _published())
def test_formula_against_the_real_class(tmp_path: Path, name: str) -> None:
    from pytest_archcheck import probe

    cfg = json.loads((DATA / name / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    text = '[model]\nextends = "config.json"\nlayers = 2\n[train]\nbatch = 1\nseq_len = 256\n'
    loaded = load_spec_file(text, str(tmp_path / "m.archcheck.toml"), root=tmp_path)
    assert loaded.spec is not None, loaded.problems
    spec = loaded.spec
    e = estimate(spec, target="cpu")
    res = probe.run(spec, device="fake", n=256, batch=1, emulate="cpu")
    assert res.peak_bytes is not None, res.findings
    built = res.extra["model"]
    if spec.model.experts is not None:  # routing cannot run on fake tensors (test above)
        assert built.startswith("reference Transformer")
    else:
        assert built.startswith("transformers "), built
    error = e.memory.total / res.peak_bytes - 1
    gap = REAL_GAPS.get(name)
    if gap is not None:  # a known gap must still be what it was: a fix updates this table
        assert abs(error - gap) < 0.005, (name, error)
        assert abs(error) >= TOLERANCE
    else:
        assert abs(error) < TOLERANCE, (name, error)


def test_behaviour_builds_the_class_at_two_layers_and_skips_a_huge_one(tmp_path: Path) -> None:
    """Behaviour runs real forwards on the CPU: depth is cut to 2 blocks; Llama-2-7B's class
    at 2 layers still holds 0.67 B parameters (2 x 202 M blocks + 2 x 131 M for the untied
    embedding and head, by hand), over the 300 M cap: not built at all."""
    from pytest_archcheck.probe.hf_class import behaviour_spec

    deep = _spec(tmp_path, _config("llama") | {"num_hidden_layers": 6})
    cut = behaviour_spec(deep)
    assert cut is not None
    assert (cut.model.layers, cut.model.mask_arg) == (2, "attention_mask")
    big_dir = tmp_path / "big"
    big_dir.mkdir()
    big = _spec(big_dir, json.loads((DATA / "llama-2-7b" / "config.json").read_text()))
    assert behaviour_spec(big) is None
