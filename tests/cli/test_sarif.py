"""SARIF for GitHub code scanning (issue 17, point 8): schema-valid, with the fields GitHub's
"SARIF support for code scanning" page marks required (reportingDescriptor: id,
shortDescription.text, fullDescription.text, help.text; result: ruleId, message.text,
locations, partialFingerprints; physicalLocation: artifactLocation.uri relative to the
repository root, region startLine/startColumn/endLine/endColumn), rule help from the rule
docs, fingerprints that survive a line move, and the fix as its own sentence.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pytest_archcheck.cli import main
from pytest_archcheck.rules import RULES

jsonschema = pytest.importorskip("jsonschema")
ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())

SPEC = """\
[model]
name = "gpt-small"
family = "transformer"
layers = 12
d_model = 768
heads = 12
d_ff = 3072
vocab = 50257
max_positions = 1024

[train]
batch = 8
seq_len = 1024

[budget]
max_n = 2048
"""


def _sarif(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    main(["check", *args, "--format", "sarif", "--exit-zero", "--no-cache"])
    return json.loads(capsys.readouterr().out)


def _github_required(doc: dict[str, Any]) -> None:
    assert doc["version"] == "2.1.0" and doc["$schema"]
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "archcheck"
    rules = {r["id"]: r for r in driver["rules"]}
    for r in driver["rules"]:
        assert r["shortDescription"]["text"] and r["fullDescription"]["text"]
        assert r["help"]["text"] and r["help"]["markdown"]
        assert len(r["properties"]["tags"]) <= 20
    for res in run["results"]:
        assert res["ruleId"] in rules and res["message"]["text"]
        assert res["partialFingerprints"]
        phys = res["locations"][0]["physicalLocation"]
        uri = phys["artifactLocation"]["uri"]
        assert not uri.startswith(("/", "file:", "..")), uri
        assert phys["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        region = phys["region"]
        for key in ("startLine", "startColumn", "endLine", "endColumn"):
            assert region[key] >= 1, (key, res)
        assert (
            region["endColumn"] > region["startColumn"] or region["endLine"] > region["startLine"]
        )


def test_sarif_of_the_examples_is_valid_and_complete(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    doc = _sarif(capsys, "examples")
    assert doc["runs"][0]["results"], "the examples hold findings"
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    _github_required(doc)
    run = doc["runs"][0]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == ROOT.as_uri() + "/"
    for r in run["tool"]["driver"]["rules"]:
        rule = RULES[r["id"]]
        assert r["help"]["text"] == rule.doc  # the rule's docs page, not a stub
        assert "What it does" not in r["fullDescription"]["text"]
        assert (
            r["fullDescription"]["text"].split()[:3] == rule.sections()["What it does"].split()[:3]
        )
    # every result's URI resolves to the file it names, from the repository root
    for res in run["results"]:
        uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert (ROOT / uri).is_file()


def test_uris_are_relative_to_the_repository_root_from_a_subfolder(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "gpt.archcheck.toml").write_text(SPEC, encoding="utf-8")
    monkeypatch.chdir(tmp_path / "configs")
    doc = _sarif(capsys, "gpt.archcheck.toml")
    (res,) = doc["runs"][0]["results"]
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {
        "uri": "configs/gpt.archcheck.toml",
        "uriBaseId": "%SRCROOT%",
    }
    # ARC202 points at `max_positions = 1024` on line 9: columns 1 to 21 (20 characters)
    assert res["ruleId"] == "ARC202"
    assert loc["region"]["startLine"] == 9 and loc["region"]["endLine"] == 9
    assert (loc["region"]["startColumn"], loc["region"]["endColumn"]) == (1, 21)
    # the fix is its own sentence after the message, and kept apart in properties
    text = res["message"]["text"]
    fix = res["properties"]["fix"]
    assert text.endswith(f". Fix: {fix}" + ("" if fix.endswith(".") else "."))
    jsonschema.Draft4Validator(SCHEMA).validate(doc)


def test_fingerprints_stable_across_runs_and_line_moves(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "gpt.archcheck.toml"
    spec.write_text(SPEC, encoding="utf-8")

    def prints() -> dict[str, tuple[str, int]]:
        doc = _sarif(capsys, "gpt.archcheck.toml")
        out = {}
        for res in doc["runs"][0]["results"]:
            line = res["locations"][0]["physicalLocation"]["region"]["startLine"]
            out[res["ruleId"]] = (res["partialFingerprints"]["archcheck/v1"], line)
        return out

    first = prints()
    assert first == prints()  # the same run twice
    spec.write_text("# a comment moves every line down\n\n" + SPEC, encoding="utf-8")
    moved = prints()
    assert set(moved) == set(first) and first
    for code, (fp, line) in first.items():
        assert moved[code] == (fp, line + 2)
    # a different finding (another line's text) gets another fingerprint
    spec.write_text(SPEC.replace("max_positions = 1024", "max_positions = 512"), encoding="utf-8")
    changed = prints()
    assert changed["ARC202"][0] != first["ARC202"][0]
