"""Docs generated from code stay complete and current."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_archcheck.docsgen import generate, missing_sections
from pytest_archcheck.rules import RULES
from pytest_archcheck.rules.registry import DOC_SECTIONS, Rule

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("code", sorted(RULES))
def test_every_rule_page_has_every_section(code: str) -> None:
    assert missing_sections(RULES[code]) == []


def test_a_page_without_a_section_is_caught() -> None:
    doc = "Summary.\n\n## What it does\nx\n\n## Why is this bad?\ny\n\n## Example\nz\n\n## References\n- r\n"
    r = Rule("ARC999", "demo", "error", "static", "Summary.", doc)
    assert missing_sections(r) == ["Use instead"]
    assert "Use instead" in DOC_SECTIONS


def test_design_codes_are_all_registered() -> None:
    design = {f"ARC{n}" for n in [*range(101, 107), *range(201, 213), *range(301, 306)]}
    assert design <= set(RULES)


def test_generated_pages_are_current() -> None:
    for path, text in generate(ROOT / "docs").items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: run `python -m pytest_archcheck.docsgen docs`"
        )


def test_mkdocs_nav_files_exist() -> None:
    import re

    nav = re.findall(r":\s*([\w/.-]+\.md)", (ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    missing = [p for p in nav if not (ROOT / "docs" / p).is_file()]
    assert nav and missing == []


def test_every_url_on_a_rule_page_is_a_link() -> None:
    import re

    from pytest_archcheck.docsgen import linked, rule_page

    for code, rule in RULES.items():
        page = rule_page(rule)
        prose = re.sub(r"```.*?```", "", page, flags=re.S)
        bare = re.findall(r"(?<![<(])https?://\S+", prose)
        assert bare == [], code
    # the twin: a bare URL becomes an autolink, its sentence's full stop stays outside, and
    # URLs already linked or in code are left as written
    text = "See https://a.org/x. And <https://b.org>, [c](https://c.org)\n```\nhttps://d.org\n```"
    assert linked(text) == (
        "See <https://a.org/x>. And <https://b.org>, [c](https://c.org)\n```\nhttps://d.org\n```"
    )
