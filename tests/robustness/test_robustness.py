"""Adversarial input through the real front ends: every case ends in a located finding or a
clear error (exit 2), never a traceback, a hang or a wrong exit code.

Each case was found crashing or hanging; the expected lines and messages are counted by hand
from the text written here. CLI cases run in-process (`main`); the pytest plugin cases that
build models run in a subprocess (torch is imported once per interpreter).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_archcheck.cli import main
from pytest_archcheck.lengths import Lengths, _bucketed_costs

pytest_plugins = ["pytester"]


def _run(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:  # rc, stdout, stderr
    rc = main(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err, err
    return rc, out, err


def _findings(args: list[str], capsys: pytest.CaptureFixture[str]) -> list[tuple[str, int, str]]:
    rc, out, _ = _run([*args, "--format", "json"], capsys)
    assert rc == 1
    return [(f["code"], f["line"], f["message"]) for f in json.loads(out)["findings"]]


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---- sizes and durations too large for a float ---------------------------------------------


def test_size_beyond_a_float_is_arc302(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "m.archcheck.toml").write_text(
        '[model]\nvocab = 10\n[budget]\nmemory = "1e400 GiB"\np95_latency = "1e400 s"\n'
    )
    got = _findings(["check", "m.archcheck.toml"], capsys)
    assert got == [
        ("ARC302", 4, "`budget.memory`: size '1e400 GiB' is too large (got '1e400 GiB')"),
        ("ARC302", 5, "`budget.p95_latency`: duration '1e400 s' is too large (got '1e400 s')"),
    ]


def test_budget_default_beyond_a_float_is_located_in_pyproject(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "pyproject.toml").write_text('[tool.archcheck.budget]\nmemory = "1e400 GiB"\n')
    got = _findings(["check", "."], capsys)
    assert got == [
        (
            "ARC302",
            2,
            "`tool.archcheck.budget.memory`: size '1e400 GiB' is too large (got '1e400 GiB')",
        )
    ]


# ---- unknown device names --------------------------------------------------------------------


def test_unknown_budget_device_is_arc302_in_check_and_estimate(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "m.archcheck.toml").write_text(
        '[model]\nvocab = 10\n[budget]\ndevice = "H100-80G"\np95_latency = "1 ms"\n'
    )
    [(code, line, msg)] = _findings(["check", "m.archcheck.toml"], capsys)
    assert (code, line) == ("ARC302", 4)
    assert msg.startswith("`budget.device`: unknown device 'H100-80G'; did you mean 'H100-80GB'?")
    with pytest.raises(SystemExit) as exc:  # estimate refuses a spec with findings: exit 2
        main(["estimate", "m.archcheck.toml"])
    assert exc.value.code == 2
    assert "m.archcheck.toml:4:1: ARC302 `budget.device`" in capsys.readouterr().err


def test_unknown_project_device_is_arc302_at_its_pyproject_line(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "pyproject.toml").write_text('[tool.archcheck]\n\ndevice = "tpu9"\n')
    [(code, line, msg)] = _findings(["check", "."], capsys)
    assert (code, line) == ("ARC302", 3)
    assert msg.startswith("`tool.archcheck.device`: unknown device 'tpu9'")


def test_advise_unknown_device_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(
        ["advise", "--span", "5", "--n", "100", "--memory", "1 GiB", "--device", "Z9"], capsys
    )
    assert rc == 2 and "archcheck: error: --device: unknown device 'Z9'" in err


# ---- numbers on the command line -------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["estimate", "m.archcheck.toml", "--n", "0"],
        ["estimate", "m.archcheck.toml", "--batch", "-1"],
        ["probe", "m.archcheck.toml", "--n", "-5"],
        ["advise", "--span", "0", "--n", "100", "--memory", "1 GiB"],
        ["advise", "--span", "5", "--n", "100", "--memory", "1 GiB", "--heads", "0"],
        ["advise", "--span", "5", "--n", "100", "--memory", "1 GiB", "--batch", "0"],
    ],
)
def test_non_positive_counts_are_usage_errors(
    args: list[str], here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "m.archcheck.toml").write_text("[model]\nvocab = 10\n")
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("memory", "message"),
    [("0", "--memory must be more than 0 bytes"), ("1e400 GiB", "size '1e400 GiB' is too large")],
)
def test_advise_memory_zero_or_huge(
    memory: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = _run(["advise", "--span", "5", "--n", "100", "--memory", memory], capsys)
    assert rc == 2 and message in err


# ---- absurd sizes must not hang ----------------------------------------------------------------


def test_a_billion_layers_is_arc302_not_a_hang(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "m.archcheck.toml").write_text("[model]\nvocab = 10\nlayers = 1000000000\n")
    assert _findings(["check", "m.archcheck.toml"], capsys) == [
        (
            "ARC302",
            3,
            "`model.layers`: Input should be less than or equal to 100000 (got 1000000000)",
        )
    ]


def test_histogram_of_10_to_18_sequences_is_counted_not_looped(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "lengths.json").write_text('{"histogram": {"5": 1000000000000000000}}')
    (here / "m.archcheck.toml").write_text(
        "[model]\nvocab = 10\n[train]\nbatch = 8\n[budget]\nmax_n = 128\nmax_padding = 0.1\n"
        '[data]\nlengths = "lengths.json"\n'
    )
    [(code, line, msg)] = _findings(["check", "m.archcheck.toml"], capsys)
    # every sequence is 5 long: padding to 128 wastes 1 - 5/128 = 96.1%
    assert (code, line) == ("ARC208", 7)
    assert msg.startswith("padding every batch to n = 128 makes 96% of tokens padding")


def test_bucketed_costs_by_hand() -> None:
    # sorted lengths 2 2 2 5 5 9 9 (N = 7), batches of 3: [2 2 2] [5 5 9] [9]
    lengths = Lengths.from_counts({2: 3, 5: 2, 9: 2})
    assert _bucketed_costs(lengths, 100, 3) == (3 * 2 + 3 * 9 + 1 * 9, 3 * 4 + 3 * 81 + 81)
    # max_n 6 clips the longest: [2 2 2] [5 5 6] [6]
    assert _bucketed_costs(lengths, 6, 3) == (6 + 18 + 6, 12 + 108 + 36)


def test_deeply_nested_lengths_json_is_a_finding(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "lengths.json").write_text("[" * 100_000 + "]" * 100_000)
    (here / "m.archcheck.toml").write_text(
        '[model]\nvocab = 10\n[budget]\nmax_n = 128\nmax_padding = 0.1\n[data]\nlengths = "lengths.json"\n'
    )
    assert _findings(["check", "m.archcheck.toml"], capsys) == [
        ("ARC208", 7, "lengths.json: JSON nested too deeply to read")
    ]


def test_extends_a_device_file_is_a_finding_not_an_endless_read(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "m.archcheck.toml").write_text('[model]\nvocab = 10\nextends = "/dev/zero"\n')
    [(code, line, msg)] = _findings(["check", "m.archcheck.toml"], capsys)
    assert (code, line) == ("ARC302", 3)
    assert msg == "`model.extends`: cannot read '/dev/zero': not a regular file (character device)"


# ---- Hugging Face config.json ------------------------------------------------------------------


def test_config_json_model_type_list(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "config.json").write_text('{\n  "model_type": ["llama"]\n}\n')
    [(code, line, msg)] = _findings(["check", "config.json"], capsys)
    assert (code, line) == ("ARC302", 2)
    assert msg.startswith("unsupported Hugging Face config: model_type ['llama']")


def test_config_json_nested_too_deeply(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    assert _findings(["check", "config.json"], capsys) == [
        ("ARC306", 1, "nesting deeper than 64 levels (the limit; a spec needs a few)")
    ]


# ---- YAML --------------------------------------------------------------------------------------

BOMB = "".join(
    f"{a}: &{a} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['x'] * 9)}]\n"
    for p, a in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def test_yaml_alias_bomb_is_a_finding_not_a_hang(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 9 lines of anchors (9**9 strings once expanded; top-level lists are not tables and are
    # left out), then the model on lines 10-13
    (here / "m.yaml").write_text(BOMB + "model:\n  family: cnn\n  layers: 9\n  kernel: *i\n")
    assert _findings(["check", "m.yaml"], capsys) == [
        ("ARC302", 13, "`model.kernel`: Input should be a valid integer"),
    ]


def test_yaml_node_that_contains_itself(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "m.yaml").write_text("model: &m\n  vocab: 10\n  again: *m\n")
    assert _findings(["check", "m.yaml"], capsys) == [("ARC301", 3, "unknown key `model.again`")]


def test_yaml_keys_that_are_not_strings(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "m.yaml").write_text("model:\n  vocab: 10\n  7: 2\n")
    assert _findings(["check", "m.yaml"], capsys) == [("ARC301", 3, "unknown key `model.7`")]


def test_yaml_model_type_list(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "m.yaml").write_text("model:\n  model_type: [llama]\n  hidden_size: 64\n")
    [(code, line, msg)] = _findings(["check", "m.yaml"], capsys)
    assert (code, line) == ("ARC302", 2)
    assert msg.startswith("unsupported Hugging Face config: model_type ['llama']")


# ---- Python config classes (parsed, never imported) -------------------------------------------


@pytest.mark.parametrize("dim", ["4096", "1" + "0" * 400])
@pytest.mark.parametrize("multiplier", ["1e400", "1.3"])
def test_llama_args_with_absurd_numbers(
    dim: str, multiplier: str, here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "cfg.py").write_text(
        "class ModelArgs:\n"
        f"    dim: int = {dim}\n"
        "    n_layers: int = 2\n"
        "    n_heads: int = 32\n"
        f"    ffn_dim_multiplier: float = {multiplier}\n"
        "    max_batch_size: int = 1\n"
    )
    rc, out, _ = _run(["check", "cfg.py"], capsys)
    if len(dim) > 10:  # a 10^400-wide model: ARC304 (absurd size), a finding, not a crash
        assert rc == 1 and "ARC304" in out
    else:
        assert rc == 0


def test_llama_hidden_dim_unchanged_for_ordinary_sizes() -> None:
    from pytest_archcheck.adapters.pyconfig import adapt_python

    # Llama-2-7B: dim 4096 -> int(2·4·4096/3) = 10922, ×1.0, rounded up to 256: 11008
    text = "class ModelArgs:\n    dim: int = 4096\n    n_layers: int = 32\n    n_heads: int = 32\n"
    assert adapt_python(text, "cfg.py").tables["model"]["d_ff"] == 11008


# ---- factories that exit -------------------------------------------------------------------------

FACTORIES = """\
import os
import sys


def exits(**kw):
    sys.exit(3)


def dies(**kw):
    os._exit(1)


class Boom(BaseException):
    pass


def base(**kw):
    raise Boom("no")
"""
SPEC = '[model]\nvocab = 10\nd_model = 8\nheads = 1\nlayers = 1\nfactory = "factories:{}"\n'


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_factories_that_exit_are_arc303_in_check_and_pytest(pytester: pytest.Pytester) -> None:
    # find_spec, not importorskip: pytester restores sys.modules after the test, and a torch
    # imported inside it and then dropped crashes the next test that imports torch again
    pytester.makepyprojecttoml("[tool.archcheck]\n")
    pytester.makepyfile(factories=FACTORIES)
    pytester.makefile(
        ".archcheck.toml", a=SPEC.format("exits"), b=SPEC.format("dies"), c=SPEC.format("base")
    )
    check = pytester.run(  # this interpreter's package, not whichever `archcheck` is on PATH
        sys.executable, "-m", "pytest_archcheck", "check", ".", "--probe", "--device", "fake",
        "--format", "concise",
    )  # fmt: skip
    assert check.ret == 1, check.stderr.str()
    check.stdout.fnmatch_lines(
        [
            "a.archcheck.toml:6:1: ARC303 factory 'factories:exits' raised SystemExit: 3",
            "b.archcheck.toml:6:1: ARC303 model 'b': the isolated model process exited with "
            "status 1 before reporting a result",
            "c.archcheck.toml:6:1: ARC303 factory 'factories:base' raised Boom: no",
        ]
    )
    # os._exit in a factory used to end the session silently in the `pitfalls` item, which
    # builds the model in-process; memory, latency and pitfalls fail, config passes, span has
    # no budget to assert (skipped with the reason)
    result = pytester.runpytest_subprocess(
        "--archcheck", "--archcheck-probe", "--archcheck-device", "fake", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=3, skipped=3, failed=9)
    result.stdout.fnmatch_lines(
        [
            "a.archcheck.toml:6: ARC303 factory 'factories:exits' raised SystemExit: 3",
            "b.archcheck.toml:6: ARC303 model 'b': the isolated model process exited with status 1 "
            "before reporting a result",
            "c.archcheck.toml:6: ARC303 factory 'factories:base' raised Boom: no",
        ]
    )
    # no model was built: the headroom table shows no formula figure in the probe's place
    result.stdout.re_match_lines([r"^ a +probe failed +— +— .* probe failed "])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


# ---- selections that select nothing ------------------------------------------------------------


def test_cli_select_of_no_rule_is_a_usage_error(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "m.archcheck.toml").write_text("[model]\nvocab = 10\n")
    with pytest.raises(SystemExit) as exc:
        main(["check", "m.archcheck.toml", "--select", "ARC1O1"])
    assert exc.value.code == 2
    assert "'ARC1O1' is no rule code or prefix of one" in capsys.readouterr().err


def test_pyproject_select_of_no_rule_is_arc302(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "pyproject.toml").write_text('[tool.archcheck]\nselect = ["ARC3", "XYZ"]\n')
    (here / "m.archcheck.toml").write_text("[model]\nvocab = 10\nlayrs = 2\n")
    assert _findings(["check", "."], capsys) == [
        ("ARC301", 3, "unknown key `model.layrs`; did you mean `layers`?"),
        ("ARC302", 2, "`tool.archcheck.select`: 'XYZ' is no rule code or prefix of one"),
    ]


def test_probe_timeout_turns_a_hanging_factory_into_arc303(tmp_path: Path) -> None:
    """`--probe-timeout 20`: a factory that sleeps forever costs 20 s, not 600, per probe."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        pytest.skip("needs torch")
    (tmp_path / "pyproject.toml").write_text("[tool.archcheck]\n")
    (tmp_path / "slow.py").write_text("import time\n\ndef build():\n    time.sleep(3600)\n")
    (tmp_path / "s.archcheck.toml").write_text(
        '[model]\nfactory = "slow:build"\nlayers = 1\nd_model = 8\nheads = 1\nvocab = 10\n'
        '[budget]\nmemory = "1 GiB"\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "pytest_archcheck", "check", ".", "--probe", "--device", "fake",
         "--probe-timeout", "20", "--format", "concise"],
        cwd=tmp_path, capture_output=True, text=True, timeout=200, check=False,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert "s.archcheck.toml:2:1: ARC303" in out.stdout
    assert "within 20 s" in out.stdout


def test_bad_timeout_ini_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\narchcheck_timeout = soon\n")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 4  # pytest's usage error
    assert "archcheck_timeout must be a number, got 'soon'" in out.stderr
