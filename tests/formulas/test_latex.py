"""docs/formulas.md shows real typeset maths: every registered formula has a LaTeX form that
KaTeX (the copy vendored under docs/js/katex, the one the site loads) renders without error, or
is listed as prose and shown as plain text in code; nothing half-way (issue 17, point 9)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_archcheck.formulas.latex import LATEX, PROSE
from pytest_archcheck.formulas.registry import all_formulas, render_markdown, typeset

ROOT = Path(__file__).resolve().parents[2]
KATEX = ROOT / "docs" / "js" / "katex" / "katex.min.js"

# KaTeX itself, as the browser runs it, with every error raised: strict mode also refuses
# input KaTeX would render "leniently" (unicode in maths mode, unknown-but-tolerated commands)
_RENDER = """
const katex = require(process.argv[1]);
const items = JSON.parse(require("fs").readFileSync(0, "utf8"));
const bad = {};
for (const [name, tex] of Object.entries(items)) {
  try { katex.renderToString(tex, {displayMode: true, throwOnError: true, strict: "error"}); }
  catch (e) { bad[name] = String(e.message); }
}
process.stdout.write(JSON.stringify(bad));
"""


def _katex_errors(items: dict[str, str]) -> dict[str, str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: KaTeX cannot be run here (CI's runners have it)")
    out = subprocess.run(
        [node, "-e", _RENDER, str(KATEX)],
        input=json.dumps(items),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    errors: dict[str, str] = json.loads(out.stdout)
    return errors


def test_every_formula_is_typeset_or_declared_prose() -> None:
    registered = {f.name for f in all_formulas()}
    neither = sorted(f.name for f in all_formulas() if typeset(f) is None and f.name not in PROSE)
    both = sorted(f.name for f in all_formulas() if typeset(f) is not None and f.name in PROSE)
    assert neither == [], "add their LaTeX to formulas/latex.py (or latex= in @formula)"
    assert both == []
    # no entry left behind by a renamed or removed formula
    assert set(LATEX) - registered == set()
    assert PROSE - registered == set()
    assert len(PROSE) <= 10  # prose is the exception: the equations are typeset


def test_every_latex_form_renders_with_the_vendored_katex() -> None:
    forms = {f.name: tex for f in all_formulas() if (tex := typeset(f)) is not None}
    assert len(forms) >= 90
    assert _katex_errors(forms) == {}


def test_the_katex_check_catches_broken_maths() -> None:
    # the twin: a missing brace, an unknown command, an environment never closed, a stray &
    bad = {
        "brace": r"\frac{a}{b",
        "command": r"\nosuchcommand{x}",
        "environment": r"\begin{aligned} a &= b",
        "alignment": r"a &= b",
    }
    assert set(_katex_errors(bad)) == set(bad)


def test_latex_keeps_the_plain_equations_numbers() -> None:
    # a transcription that drops or changes a constant (2*d*d_ff -> d*d_ff) is caught: every
    # number of the plain equation appears in its typeset form
    for f in all_formulas():
        tex = typeset(f)
        if tex is None:
            continue
        plain = set(re.findall(r"\d+(?:\.\d+)?", f.equation))
        assert plain <= set(re.findall(r"\d+(?:\.\d+)?", tex)), f.name


def test_page_shows_display_maths_or_code_never_plain_prose_maths() -> None:
    page = render_markdown()
    blocks = re.findall(r"^\$\$\n(.*?)\n\$\$$", page, flags=re.M | re.S)
    typeset_forms = [tex for f in all_formulas() if (tex := typeset(f)) is not None]
    assert sorted(blocks) == sorted(typeset_forms)  # one display block per typeset formula
    for f in all_formulas():
        assert f"### `{f.name}`" in page, f.name  # a heading: an anchor and a search hit
        if f.name in PROSE:
            assert f"\n`{f.equation}`\n" in page, f.name
        else:
            assert f.equation not in page, f.name  # not printed twice, once untypeset
    # nothing on the page outside a display block that arithmatex would take for maths
    outside = re.sub(r"^\$\$\n.*?\n\$\$$", "", page, flags=re.M | re.S)
    assert "$" not in outside and r"\(" not in outside
