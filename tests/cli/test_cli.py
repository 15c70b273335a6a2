"""`archcheck` in-process: exit codes, every output format, selection, rule docs and schema.

Findings here come from config rules only (`--select ARC3`) unless a test says otherwise, so
that the expected output is worked out from the spec text alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_archcheck.cli import main
from pytest_archcheck.rules import RULES
from pytest_archcheck.spec.load import tomllib  # tomli on Python 3.10

DATA = Path(__file__).parent / "data"

BAD = "\n".join(
    [
        "[model]",  # 1
        'name = "bad"',  # 2
        "d_model = 64",  # 3
        "heads = 5",  # 4  ARC304: 64 is not divisible by 5
        "vocab = 100",  # 5
        'colour = "red"',  # 6  ARC301: unknown key
        "",
    ]
)
OK = "\n".join(
    [
        "[model]",
        'name = "ok"',
        "d_model = 64",
        "heads = 4",
        "layers = 2",
        "vocab = 100",
        "max_positions = 128",
        "",
        "[train]",
        "seq_len = 128",
        "",
    ]
)
ARC304_MSG = "d_model 64 is not divisible by heads 5"
ARC304_FIX = "choose heads that divide d_model"
ARC301_MSG = "unknown key `model.colour`"


def run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse usage errors
        return exc.code if isinstance(exc.code, int) else 1


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project root (pyproject.toml) holding one bad and one clean spec; cwd is the root."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n', encoding="utf-8")
    (tmp_path / "bad.archcheck.toml").write_text(BAD, encoding="utf-8")
    (tmp_path / "ok.archcheck.toml").write_text(OK, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return tmp_path


# ---- exit codes ------------------------------------------------------------------------------


def test_exit_0_when_clean(project: Path, capsys) -> None:
    assert run(["check", "ok.archcheck.toml", "--select", "ARC3"]) == 0
    assert "All checks passed! (1 file checked)" in capsys.readouterr().out


def test_exit_0_when_clean_with_every_static_rule(project: Path, capsys) -> None:
    """Needs the formula library: every budget rule asks the estimate."""
    assert run(["check", "ok.archcheck.toml"]) == 0, capsys.readouterr()
    assert "All checks passed!" in capsys.readouterr().out


def test_exit_1_on_findings(project: Path, capsys) -> None:
    assert run(["check", "bad.archcheck.toml", "--select", "ARC3"]) == 1
    out = capsys.readouterr().out
    assert ARC304_MSG in out
    assert "Found 2 findings (2 errors) in 1 file: ARC301 ×1, ARC304 ×1" in out


def test_exit_zero_flag(project: Path, capsys) -> None:
    assert run(["check", "bad.archcheck.toml", "--select", "ARC3", "--exit-zero"]) == 0
    assert ARC304_MSG in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "missing.archcheck.toml"],
        ["check", ".", "--format", "xml"],
        ["check", ".", "--device", "tpu"],
        ["lint", "."],
        [],
        ["estimate"],
        ["rule", "ARC999"],
        ["advise", "--span", "10", "--n", "100", "--memory", "lots"],
    ],
)
def test_exit_2_on_usage_and_config_errors(project: Path, capsys, argv: list[str]) -> None:
    assert run(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert "error" in captured.err


def test_unreadable_spec_is_an_arc306_finding(project: Path, capsys) -> None:
    (project / "bin.archcheck.toml").write_bytes(b"[model]\nname = '\x80'\n")
    assert run(["check", "bin.archcheck.toml", "--format", "concise"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("bin.archcheck.toml:1:1: ARC306 cannot read the file: not UTF-8")
    assert "Traceback" not in err


def test_directory_walk_checks_every_spec(project: Path, capsys) -> None:
    assert run(["check", ".", "--select", "ARC3", "--format", "concise"]) == 1
    out = capsys.readouterr().out
    # pyproject.toml + bad + ok
    assert out.splitlines()[-1] == "Found 2 findings (2 errors) in 3 files: ARC301 ×1, ARC304 ×1"


# ---- formats ---------------------------------------------------------------------------------


def _check_json(argv: list[str], capsys) -> dict:
    assert run(argv) == 1
    return json.loads(capsys.readouterr().out)


def test_format_json(project: Path, capsys) -> None:
    doc = _check_json(
        ["check", "bad.archcheck.toml", "--select", "ARC3", "--format", "json"], capsys
    )
    assert doc["schema_version"] == 1
    findings = doc["findings"]
    assert [(f["code"], f["line"]) for f in findings] == [("ARC304", 4), ("ARC301", 6)]
    for f in findings:
        assert {"code", "name", "severity", "message", "path", "line", "model", "url"} <= set(f)
        assert f["path"] == "bad.archcheck.toml"
        assert f["model"] == "bad"
        assert f["name"] == RULES[f["code"]].name
        assert f["severity"] == "error"
        assert f["url"].startswith("https://") and f["url"].rstrip("/").endswith(f["code"])
    assert findings[0]["message"] == ARC304_MSG
    assert findings[1]["message"].startswith(ARC301_MSG)


def test_format_json_clean_has_empty_findings(project: Path, capsys) -> None:
    assert run(["check", "ok.archcheck.toml", "--select", "ARC3", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema_version"] == 1
    assert doc["findings"] == []


def _sarif(project: Path, capsys) -> dict:
    return _check_json(
        ["check", "bad.archcheck.toml", "--select", "ARC3", "--format", "sarif"], capsys
    )


def test_format_sarif_structure(project: Path, capsys) -> None:
    doc = _sarif(project, capsys)
    assert doc["version"] == "2.1.0"
    (run_,) = doc["runs"]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "archcheck"
    rules = driver["rules"]
    results = run_["results"]
    assert [r["ruleId"] for r in results] == ["ARC304", "ARC301"]
    for r in results:
        assert r["message"]["text"]
        assert r["level"] == "error"
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        (loc,) = r["locations"]
        phys = loc["physicalLocation"]
        assert phys["artifactLocation"]["uri"] == "bad.archcheck.toml"
        assert phys["region"]["startLine"] >= 1
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results] == [4, 6]
    assert results[0]["message"]["text"].startswith(ARC304_MSG)
    assert {r["id"] for r in rules} == {"ARC301", "ARC304"}


def test_format_sarif_validates_against_official_schema(project: Path, capsys) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["id"].endswith("sarif-schema-2.1.0.json")
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.Draft4Validator(schema).validate(_sarif(project, capsys))
    # and with no findings at all
    assert run(["check", "ok.archcheck.toml", "--select", "ARC3", "--format", "sarif"]) == 0
    jsonschema.Draft4Validator(schema).validate(json.loads(capsys.readouterr().out))


def test_format_github(project: Path, capsys) -> None:
    assert run(["check", "bad.archcheck.toml", "--select", "ARC3", "--format", "github"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "::error title=ARC304 inconsistent-dimensions,file=bad.archcheck.toml,"
        f"line=4,col=1::{ARC304_MSG} (fix: {ARC304_FIX})"
    )
    assert lines[1].startswith(
        f"::error title=ARC301 unknown-key,file=bad.archcheck.toml,line=6,col=1::{ARC301_MSG}"
    )


def test_format_github_warning_level(project: Path, capsys) -> None:
    (project / "w.archcheck.toml").write_text(
        OK.replace("vocab = 100", "vocab = 100  # archcheck: ignore[ARC304]"), encoding="utf-8"
    )
    assert run(["check", "w.archcheck.toml", "--select", "ARC3", "--format", "github"]) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(
        "::warning title=ARC305 unused-suppression,file=w.archcheck.toml,line=6,"
    )


def test_github_actions_env_selects_github(project: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert run(["check", "bad.archcheck.toml", "--select", "ARC3"]) == 1
    assert capsys.readouterr().out.startswith("::error title=ARC304")
    # an explicit --format wins
    assert run(["check", "bad.archcheck.toml", "--select", "ARC3", "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["schema_version"] == 1
    # only the exact value "true" switches
    monkeypatch.setenv("GITHUB_ACTIONS", "false")
    assert run(["check", "bad.archcheck.toml", "--select", "ARC3"]) == 1
    assert capsys.readouterr().out.startswith("bad.archcheck.toml:4:1: ARC304")


def test_format_concise(project: Path, capsys) -> None:
    assert run(["check", "bad.archcheck.toml", "--select", "ARC3", "--format", "concise"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"bad.archcheck.toml:4:1: ARC304 {ARC304_MSG}"
    assert lines[1].startswith(f"bad.archcheck.toml:6:1: ARC301 {ARC301_MSG}")
    assert lines[2] == "Found 2 findings (2 errors) in 1 file: ARC301 ×1, ARC304 ×1"
    assert len(lines) == 3


def test_format_full(project: Path, capsys) -> None:
    assert run(["check", "bad.archcheck.toml", "--select", "ARC3", "--format", "full"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"bad.archcheck.toml:4:1: ARC304 {ARC304_MSG} [bad]"
    # ruff-style source context: the offending spec line under the finding
    assert lines[1:4] == ["  |", "4 | heads = 5", "  | ^^^^^^^^^"]
    assert lines[4] == f"  help: {ARC304_FIX}"
    assert lines[6].startswith(f"bad.archcheck.toml:6:1: ARC301 {ARC301_MSG}")
    assert lines[6].endswith("[bad]")
    assert lines[7:10] == ["  |", '6 | colour = "red"', "  | ^^^^^^^^^^^^^^"]
    assert lines[-1] == "Found 2 findings (2 errors) in 1 file: ARC301 ×1, ARC304 ×1"


# ---- selection -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("select", "ignore", "codes"),
    [
        ("ARC3", "", ["ARC304", "ARC301"]),
        ("arc3", "", ["ARC304", "ARC301"]),  # case-insensitive
        ("ARC301", "", ["ARC301"]),
        ("ARC304", "", ["ARC304"]),
        ("ARC3", "ARC304", ["ARC301"]),
        ("ARC3", "ARC30", []),
        ("ARC301,ARC304", "", ["ARC304", "ARC301"]),
        (" ARC301 , ARC304 ", "", ["ARC304", "ARC301"]),
        ("ARC2", "", []),
        ("ARC3", "ARC301,ARC304", []),
    ],
)
def test_select_and_ignore_prefixes(
    project: Path, capsys, select: str, ignore: str, codes: list[str]
) -> None:
    argv = ["check", "bad.archcheck.toml", "--format", "json", "--select", select]
    if ignore:
        argv += ["--ignore", ignore]
    assert run(argv) == (1 if codes else 0)
    assert [f["code"] for f in json.loads(capsys.readouterr().out)["findings"]] == codes


def test_pyproject_select_and_cli_override(project: Path, capsys) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.archcheck]\nselect = ["ARC301"]\nignore = ["ARC2"]\n', encoding="utf-8"
    )
    assert run(["check", "bad.archcheck.toml", "--format", "json"]) == 1
    assert [f["code"] for f in json.loads(capsys.readouterr().out)["findings"]] == ["ARC301"]
    assert run(["check", "bad.archcheck.toml", "--format", "json", "--select", "ARC304"]) == 1
    assert [f["code"] for f in json.loads(capsys.readouterr().out)["findings"]] == ["ARC304"]


def test_per_file_ignores(project: Path, capsys) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.archcheck]\nselect = ["ARC3"]\n\n[tool.archcheck.per-file-ignores]\n'
        '"bad.*" = ["ARC304"]\n',
        encoding="utf-8",
    )
    assert run(["check", "bad.archcheck.toml", "--format", "json"]) == 1
    assert [f["code"] for f in json.loads(capsys.readouterr().out)["findings"]] == ["ARC301"]


# ---- --output-file -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "sarif", "concise", "full", "github"])
def test_output_file(project: Path, capsys, fmt: str) -> None:
    out = project / "reports" / "archcheck.out"
    out.parent.mkdir()
    argv = [
        "check",
        "bad.archcheck.toml",
        "--select",
        "ARC3",
        "--format",
        fmt,
        "--output-file",
        str(out),
    ]
    assert run(argv) == 1
    assert capsys.readouterr().out == ""
    text = out.read_text(encoding="utf-8")
    assert "ARC304" in text
    if fmt in ("json", "sarif"):
        json.loads(text)


# ---- rule docs and schema ----------------------------------------------------------------------


def test_rule_doc_has_five_sections(capsys) -> None:
    assert run(["rule", "ARC104"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# ARC104 span-not-covered")
    for section in ("What it does", "Why is this bad?", "Example", "Use instead", "References"):
        assert f"## {section}\n" in out, section


@pytest.mark.parametrize("code", sorted(RULES))
def test_every_rule_doc_has_five_sections(code: str, capsys) -> None:
    assert run(["rule", code.lower(), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["code"] == code
    assert list(doc["sections"]) == [
        "What it does",
        "Why is this bad?",
        "Example",
        "Use instead",
        "References",
    ]
    assert all(text.strip() for text in doc["sections"].values())


def test_rule_lists_every_code(capsys) -> None:
    assert run(["rule"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = [ln.split()[0] for ln in lines if ln.strip()]
    assert listed == sorted(RULES)
    design = {f"ARC{n}" for n in [*range(101, 107), *range(201, 213), *range(301, 307)]}
    assert design <= set(listed)


def test_rule_unknown_code_suggests(capsys) -> None:
    assert run(["rule", "ARC999"]) == 2
    err = capsys.readouterr().err
    assert "unknown rule ARC999" in err
    assert "did you mean ARC" in err
    assert "Traceback" not in err


def test_schema_is_json_schema_with_tables(capsys) -> None:
    assert run(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"model", "train", "infer", "budget", "data"} <= set(schema["properties"])
    defs = schema["$defs"]
    assert {"memory", "max_n", "p95_latency", "span", "infer_memory"} <= set(
        defs["BudgetTable"]["properties"]
    )
    assert {"layers", "d_model", "heads", "factory", "family"} <= set(
        defs["ModelTable"]["properties"]
    )
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    assert not v.is_valid({"model": {"layers": 0}})
    assert not v.is_valid({"model": {"family": "mamba"}})
    assert not v.is_valid({"modle": {}})


DESIGN_EXAMPLE = """
[model]
name = "gpt-small"
family = "transformer"
factory = "mypkg.models:build"
factory_args = { vocab = 50257 }
layers = 12
d_model = 768
heads = 12
vocab = 50257
max_positions = 1024

[train]
batch = 8
seq_len = 1024
dtype = "bf16"

[budget]
device = "H100-80GB"
max_n = 1024
memory = "24 GiB"
infer_memory = "8 GiB"
p95_latency = "200 ms"
span = 512
"""


def test_schema_accepts_the_documented_example(capsys) -> None:
    """Editors validate specs with this schema: the DESIGN.md §3 example must pass it."""
    jsonschema = pytest.importorskip("jsonschema")
    assert run(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator(schema).validate(tomllib.loads(DESIGN_EXAMPLE))


def test_output_file_in_missing_folder_exits_2(project: Path, capsys) -> None:
    target = project / "no" / "such" / "dir" / "out.json"
    argv = ["check", "bad.archcheck.toml", "--select", "ARC3", "--output-file", str(target)]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err
    assert "out.json" in err
    assert "Traceback" not in err


def test_probe_imports_the_factory_from_the_spec_project(tmp_path) -> None:
    """`archcheck probe` run from elsewhere finds `model:build` in the example's own folder.

    In a subprocess: importing torch into a process whose sys.modules pytester has rewound
    can crash the interpreter."""
    import importlib.util
    import subprocess

    if importlib.util.find_spec("torch") is None:
        pytest.skip("needs torch")
    import sys

    spec = Path(__file__).resolve().parents[2] / "examples" / "nanogpt" / "gpt.archcheck.toml"
    argv = [sys.executable, "-m", "pytest_archcheck", "probe", str(spec), "--device", "fake",
            "--n", "64", "--batch", "1", "--format", "json"]  # fmt: skip
    out = subprocess.run(
        argv, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr
    [model] = json.loads(out.stdout)["models"]
    assert model["findings"] == [] and model["peak_bytes"] > 0 and model["n"] == 64


def test_estimate_prints_the_articles_rules_of_thumb(capsys) -> None:
    spec = (
        Path(__file__).resolve().parents[2] / "examples" / "gpt-small" / "gpt-small.archcheck.toml"
    )
    assert run(["estimate", str(spec), "--format", "json"]) == 0
    [m] = json.loads(capsys.readouterr().out)["models"]
    # sqrt(24 GiB / (batch 8 x 12 heads x 2 bytes)) = sqrt(134,217,728) = 11,585.2; 2 x 3072.
    assert m["rules_of_thumb"] == {"attention_dominates_above_n": 6144, "sqrt_rule_n_max": 11585}
    assert m["params"] == 124_439_808


def test_governing_pyproject_is_reported_with_its_specs_serial_and_parallel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Checking spec files (not their folder) still reads the pyproject.toml that governs them:
    its own findings (an unknown settings key, line 2) and its inline model's (heads 5 does
    not divide d_model 64, line 9) are reported, and two workers report what one does."""
    (tmp_path / "pyproject.toml").write_text(
        "[tool.archcheck]\n"  # 1
        "colour = 1\n"  # 2  ARC301
        "\n"  # 3
        "[[tool.archcheck.model]]\n"  # 4
        'name = "inline"\n'  # 5
        "d_model = 64\n"  # 6
        "layers = 2\n"  # 7
        "vocab = 100\n"  # 8
        "heads = 5\n",  # 9  ARC304
        encoding="utf-8",
    )
    for name in ("a", "b"):
        (tmp_path / f"{name}.archcheck.toml").write_text(OK, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    outs = []
    for jobs in ("1", "2"):
        argv = ["check", "a.archcheck.toml", "b.archcheck.toml", "--select", "ARC3"]
        assert run([*argv, "--format", "json", "--no-cache", "-j", jobs]) == 1
        outs.append(json.loads(capsys.readouterr().out)["findings"])
    assert outs[0] == outs[1]
    assert [(f["code"], f["path"], f["line"]) for f in outs[0]] == [
        ("ARC301", "pyproject.toml", 2),
        ("ARC304", "pyproject.toml", 9),
    ]
