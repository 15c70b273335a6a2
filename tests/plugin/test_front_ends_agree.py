"""Acceptance: the three front ends are one pipeline, so they find the same things.

`pytest --archcheck --archcheck-probe`, `archcheck check --probe` and the `archcheck`
fixture (`archcheck.check(spec=...)`) give the same set of findings (code, line, model) on
every example under examples/ and on the article's runnable `nn.TransformerEncoder` snippet
(tests/data/article-snippet), all on the fake device. Before the pipeline each front end had
its own copy of the check logic: pytest reported the snippet's ARC201 twice (static rule and
permutation probe, never deduplicated), its config item ran no static config rule, and the
fixture ran the behavioural checks on the reference model where `check` runs none.

One `archcheck check` subprocess and, beside it, one pytest subprocess (spec items and the
fixture tests together): about 3.5 minutes of CPU on 2 cores, most of it the probe
subprocesses' start-up (marked slow).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PROJECTS = [
    *sorted(p for p in (REPO / "examples").iterdir() if p.is_dir()),
    REPO / "tests" / "data" / "article-snippet",
]

Key = tuple[str, str, int, str]  # (project, code, line, model)

FIXTURE_TEST = """
import json
from pathlib import Path

import pytest

SPECS = json.loads(Path("specs.json").read_text())


@pytest.mark.parametrize("spec", SPECS)
def test_fixture(archcheck, spec):
    report = archcheck.check(spec=spec, fail=False)
    with open("fixture.jsonl", "a", encoding="utf-8") as out:
        for f in report.findings:
            out.write(json.dumps([spec.split("/")[0], f.code, f.line, f.model]) + "\\n")
"""

HEADER = re.compile(r"^_+ archcheck (?P<model>\S+)::(?P<concern>\w+) _+$")
FINDING = re.compile(r"^(?P<path>\S+):(?P<line>\d+): (?P<code>ARC\d{3}) ")


def _pytest_findings(stdout: str) -> Counter[Key]:
    """Findings of the failed spec items, from their failure reports (per item)."""
    got: Counter[Key] = Counter()
    model = None
    for line in stdout.splitlines():
        head = HEADER.match(line)
        if head:
            model = head["model"]
            continue
        if line.startswith("_") or line.startswith("="):
            model = None
        hit = FINDING.match(line)
        if model is not None and hit:
            got[(hit["path"].split("/")[0], hit["code"], int(hit["line"]), model)] += 1
    return got


def test_check_pytest_and_fixture_agree(pytester: pytest.Pytester) -> None:
    root = pytester.path
    specs = []
    for project in PROJECTS:
        shutil.copytree(project, root / project.name)
        specs += [
            str(p.relative_to(root)) for p in sorted((root / project.name).glob("*.archcheck.toml"))
        ]
    (root / "specs.json").write_text(json.dumps(specs), encoding="utf-8")
    pytester.makepyfile(test_front=FIXTURE_TEST)

    # `check` runs beside the pytest run (two cores: half the wall time, the same CPU)
    check = subprocess.Popen(
        [sys.executable, "-m", "pytest_archcheck", "check", *(p.name for p in PROJECTS),
         "--probe", "--device", "fake", "--format", "json", "--no-cache"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    run = pytester.runpytest_subprocess(
        "--archcheck", "--archcheck-probe", "--archcheck-device", "fake",
        "-p", "no:cacheprovider", "-p", "no:xdist", "--rootdir", str(root),
        *(p.name for p in PROJECTS), "test_front.py",
        timeout=900,
    )  # fmt: skip
    out, err = check.communicate(timeout=900)
    assert check.returncode == 1, err
    from_check = Counter(
        (f["path"].split("/")[0], f["code"], f["line"], f["model"])
        for f in json.loads(out)["findings"]
    )
    from_pytest = _pytest_findings(run.stdout.str())
    fixture_lines = (root / "fixture.jsonl").read_text(encoding="utf-8").splitlines()
    from_fixture = Counter(tuple(json.loads(line)) for line in fixture_lines)

    assert from_check, "the examples plant problems: check must find some"
    assert set(from_pytest) == set(from_check), run.stdout.str()[-4000:]
    assert set(from_fixture) == set(from_check)
    # every front end reports a finding once, except that a probe failure (ARC303) fails each
    # measured pytest item: the snippet's ARC201 is reported once, not twice
    assert max(from_check.values()) == 1
    assert all(n == 1 for k, n in from_pytest.items() if k[1] != "ARC303"), from_pytest
    assert max(from_fixture.values()) == 1
    snippet = {k for k in from_check if k[0] == "article-snippet"}
    assert snippet == {("article-snippet", "ARC201", 13, "article-snippet")}
