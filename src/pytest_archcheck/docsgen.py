"""Generate docs pages from the code: one page per rule (from its docstring) and the spec schema.

`python -m pytest_archcheck.docsgen docs/` rewrites docs/rules/*.md and docs/spec.md; a test
checks that the committed pages are current and that every rule has every section.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from .rules import RULES
from .rules.registry import DOC_SECTIONS, Rule


def missing_sections(r: Rule) -> list[str]:
    """Sections of the ruff-style docs page that a rule lacks or leaves empty."""
    have = r.sections()
    return [s for s in DOC_SECTIONS if not have.get(s)]


# a bare URL in prose (a rule's References), not already a link or inside code: made an
# autolink so the site shows it as a link; a sentence's final full stop stays outside
_BARE_URL = re.compile(r"(?<![<(`\w])(https?://[^\s<>`]+?)(?=[.,;:)]?(?:\s|$))", re.M)


def linked(text: str) -> str:
    """`text` with every bare URL outside code blocks written as a Markdown autolink."""
    parts = re.split(r"(```.*?```)", text, flags=re.S)
    return "".join(p if p.startswith("```") else _BARE_URL.sub(r"<\1>", p) for p in parts)


def rule_page(r: Rule) -> str:
    """A rule's page: its header line and its docstring, bare URLs made links."""
    return (
        f"# {r.code} `{r.name}`\n\n"
        f"Severity: **{r.severity}** · decided by: **{r.kind}** "
        f"({'static, no torch' if r.kind in ('static', 'config') else 'under --probe'})"
        f" · pytest item: **{r.concern}**\n\n"
        f"{linked(r.doc.strip())}\n"
    )


def rules_index() -> str:
    lines = [
        "# Rules",
        "",
        "| code | name | severity | decided by | summary |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in sorted(RULES.values(), key=lambda r: r.code):
        lines.append(
            f"| [{r.code}]({r.code}.md) | `{r.name}` | {r.severity} | {r.kind} | {r.summary} |"
        )
    return "\n".join(lines) + "\n"


def spec_page() -> str:
    from .spec.model import Spec

    schema = Spec.model_json_schema()
    lines = [
        "# Spec reference",
        "",
        "Generated from the pydantic models (`archcheck schema` prints the JSON Schema).",
        "",
    ]
    defs = schema.get("$defs", {})
    for table in ("model", "train", "train.parallel", "infer", "budget", "data"):
        if table == "train.parallel":  # a table nested in [train]
            d = defs.get("ParallelTable", {})
        else:
            ref = schema["properties"][table].get("$ref", "")
            d = defs.get(ref.rsplit("/", 1)[-1], {})
        lines += [
            f"## [{table}]",
            "",
            d.get("description", "").strip(),
            "",
            "| key | type | default |",
            "| --- | --- | --- |",
        ]
        for key, prop in d.get("properties", {}).items():
            typ = _type(prop)
            default = json.dumps(prop.get("default")) if "default" in prop else "—"
            lines.append(f"| `{key}` | {typ} | `{default}` |")
        lines.append("")
    return "\n".join([*lines, *_settings_section()])


def _settings_section() -> list[str]:
    """[tool.archcheck] (project settings) and [tool.archcheck.devices.NAME], from the models."""
    from .spec.model import DeviceTable, Settings

    lines: list[str] = []
    for title, model in (
        ("[tool.archcheck] in pyproject.toml", Settings),
        ("[tool.archcheck.devices.NAME] in pyproject.toml", DeviceTable),
    ):
        schema = model.model_json_schema(by_alias=True)
        lines += [
            f"## {title}",
            "",
            " ".join((model.__doc__ or "").split()),
            "",
            "| key | type | default |",
            "| --- | --- | --- |",
        ]
        for key, prop in schema.get("properties", {}).items():
            typ = "table" if "$ref" in prop or "additionalProperties" in prop else _type(prop)
            default = json.dumps(prop.get("default")) if "default" in prop else "—"
            lines.append(f"| `{key}` | {typ} | `{default}` |")
        lines.append("")
    return lines


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return "table"
    if "enum" in prop:
        return " \\| ".join(f'"{v}"' for v in prop["enum"])
    if "anyOf" in prop:
        return " or ".join(_type(p) for p in prop["anyOf"])
    if prop.get("type") == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if "const" in prop:
        return f'"{prop["const"]}"'
    return str(prop.get("type", "any"))


def generate(out: Path) -> dict[Path, str]:
    pages = {out / "rules" / f"{r.code}.md": rule_page(r) for r in RULES.values()}
    pages[out / "rules" / "index.md"] = rules_index()
    pages[out / "spec.md"] = spec_page()
    from .adapters.hf import supported_architectures_page

    pages[out / "supported-architectures.md"] = supported_architectures_page()
    return pages


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs")
    for path, text in generate(out).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
