"""Render findings. Text goes through rich (imported lazily: json/sarif/github never pay for it).

- full: ruff-style `path:line:col: CODE message`, the fix, and a summary per code.
- concise: one line per finding.
- json: `{"schema_version", "findings": [...]}` (DESIGN.md §5).
- sarif: SARIF 2.1.0 for GitHub code scanning: rule help from the rule docs, end positions,
  fingerprints that survive line moves, URIs relative to the repository root (%SRCROOT%).
- github: workflow commands (`::error file=...,line=...::`) that annotate the PR diff.

Every user-derived string (paths, model names, keys and values quoted in messages, source
lines, a child's output) goes through `clean` in the text formats: a key named `ESC[2J` would
otherwise clear the reviewer's screen, `ESC]0;...BEL` set the terminal title, and a newline
split one finding into two that look like ours. Text is printed with rich's markup off, so
`[/bold]` in a name is text, not a tag. JSON and SARIF keep the exact text (json.dumps escapes
it).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from .. import __version__
from ..findings import Finding

SCHEMA_VERSION = 1
DETAILS_LINES = 40  # lines of a finding's details (a child's output) shown in the full format

# Control characters, and the invisible ones that reorder or break lines: C0 and C1 controls,
# DEL, U+2028/U+2029 (line and paragraph separators), the bidi embeddings and isolates
# (CVE-2021-42574, "trojan source").
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(m: re.Match[str]) -> str:
    ch = m.group()
    if ch in _NAMED:
        return _NAMED[ch]
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def clean(text: str) -> str:
    """`text` with every control character shown as an escape (`\\x1b`, `\\n`): safe to print
    on a terminal or in a CI log, one line."""
    return _UNSAFE.sub(_visible, text)


SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def source_line(path: str, line: int, cache: dict[str, list[str] | None]) -> str | None:
    """The text of `line` in `path` (None when the file or line cannot be read)."""
    if path not in cache:
        try:
            with open(path, encoding="utf-8-sig") as fh:
                cache[path] = fh.read().split("\n")
        except (OSError, UnicodeDecodeError, ValueError):
            cache[path] = None
    text = cache[path]
    if text is None or not 1 <= line <= len(text):
        return None
    return text[line - 1].rstrip("\r")


def _full(findings: Sequence[Finding], files: int) -> str:
    """ruff's full format: the finding, the spec line it points at, and the fix."""
    lines: list[str] = []
    cache: dict[str, list[str] | None] = {}
    for f in findings:
        model = f" [{clean(f.model)}]" if f.model else ""
        lines.append(f"{_head(f)}{model}")
        src = source_line(f.path, f.line, cache)
        if src is not None and src.strip():
            src = clean(src)
            gutter = " " * len(str(f.line))
            lines.append(f"{gutter} |")
            lines.append(f"{f.line} | {src}")
            start = len(src) - len(src.lstrip())
            lines.append(f"{gutter} | {' ' * start}{'^' * max(1, len(src.strip()))}")
        if f.fix:
            lines.append(f"  help: {clean(f.fix)}")
        details = f.data.get("details") if isinstance(f.data, dict) else None
        if isinstance(details, str) and details.strip():
            shown = details.rstrip().split("\n")
            if len(shown) > DETAILS_LINES:
                skipped = len(shown) - DETAILS_LINES
                shown = [f"[{skipped} earlier lines not shown; --format json has them]",
                         *shown[-DETAILS_LINES:]]  # fmt: skip
            lines.append("  details:")
            lines.extend(f"    {clean(d)}" for d in shown)
        lines.append("")
    lines.append(_summary(findings, files))
    return "\n".join(lines)


def _head(f: Finding) -> str:
    """`path:line:col: CODE message`, its user-derived parts made safe to print."""
    return f"{clean(f.path)}:{f.line}:{f.column}: {f.code} {clean(f.message)}"


def _concise(findings: Sequence[Finding], files: int) -> str:
    lines = [_head(f) for f in findings]
    lines.append(_summary(findings, files))
    return "\n".join(lines)


def _summary(findings: Sequence[Finding], files: int) -> str:
    if not findings:
        return f"All checks passed! ({files} file{'s' if files != 1 else ''} checked)"
    counts = Counter(f.code for f in findings)
    errors = sum(1 for f in findings if f.severity == "error")
    per = ", ".join(f"{c} ×{n}" for c, n in sorted(counts.items()))
    return (
        f"Found {len(findings)} finding{'s' if len(findings) != 1 else ''} "
        f"({errors} error{'s' if errors != 1 else ''}) in {files} file{'s' if files != 1 else ''}: {per}"
    )


def statistics(findings: Sequence[Finding]) -> str:
    """ruff's --statistics: one line per rule code, most frequent first: count, code, the
    rule's name, and whether every one of them is an error."""
    from ..codes import RULE_NAMES

    counts = Counter(f.code for f in findings)
    errors = Counter(f.code for f in findings if f.severity == "error")
    width = len(str(max(counts.values(), default=0)))
    return "\n".join(
        f"{n:>{width}}\t{code}\t{'[E]' if errors[code] == n else '[W]'} {RULE_NAMES.get(code, '')}"
        for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    )


def _json(findings: Sequence[Finding], files: int) -> str:
    return json.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "files": files,
            "findings": [f.to_json() for f in findings],
        },
        indent=2,
        default=str,
    )


def repo_root() -> str:
    """The folder SARIF URIs are relative to (`%SRCROOT%`): the git work tree around the
    current directory, else the current directory. GitHub code scanning resolves results
    against the repository root, so a run from a subfolder must still say `src/x.toml`."""
    import os
    from pathlib import Path

    here = os.getcwd()
    for folder in (here, *map(str, Path(here).parents)):
        if os.path.exists(os.path.join(folder, ".git")):
            return folder
    return here


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def fingerprint(code: str, uri: str, model: str | None, line_text: str, nth: int) -> str:
    """What identifies a finding across runs: the rule, the file, the model and the text of
    the line it points at (whitespace-normalised), not its line number or message, so that
    inserting a line above it, or a budget figure changing, keeps the same alert; `nth`
    tells apart identical lines of one file."""
    import hashlib

    key = "\0".join((code, uri, model or "", " ".join(line_text.split()), str(nth)))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _sarif_rule(code: str) -> dict[str, Any]:
    from ..rules import RULES

    r = RULES[code]
    sections = r.sections()
    what = " ".join(sections.get("What it does", "").split()) or r.summary
    return {
        "id": code,
        "name": r.name,
        "shortDescription": {"text": r.summary},
        "fullDescription": {"text": what},
        "help": {"text": r.doc, "markdown": f"# {code} {r.name}\n\n{r.doc}"},
        "helpUri": Finding(code, r.name, r.severity, "", "").url,
        "defaultConfiguration": {"level": "error" if r.severity == "error" else "warning"},
        "properties": {"tags": sorted({r.kind, r.concern})},
    }


def _sarif(findings: Sequence[Finding], files: int) -> str:
    import os
    from pathlib import Path

    codes = sorted({f.code for f in findings})
    index = {c: i for i, c in enumerate(codes)}
    root = repo_root()
    cache: dict[str, list[str] | None] = {}
    seen: Counter[tuple[str, str, str | None, str]] = Counter()
    results: list[dict[str, Any]] = []
    for f in findings:
        absolute = os.path.abspath(f.path)
        rel = os.path.relpath(absolute, root)
        inside = not rel.startswith("..")
        artifact: dict[str, Any] = (
            {"uri": Path(rel).as_posix(), "uriBaseId": "%SRCROOT%"}
            if inside
            else {"uri": Path(absolute).as_uri()}
        )
        line = max(1, f.line)
        text = source_line(f.path, f.line, cache)
        # GitHub requires end positions: where the line cannot be read, the finding's point
        region: dict[str, Any] = {
            "startLine": line,
            "startColumn": max(1, f.column),
            "endLine": line,
            "endColumn": max(1, f.column) + 1,
        }
        if text is not None and text.strip():
            start = len(text) - len(text.lstrip()) + 1
            region = {
                "startLine": line,
                "startColumn": f.column if f.column > 1 else start,
                "endLine": line,
                "endColumn": len(text.rstrip()) + 1,
                "snippet": {"text": text},
            }
        ident = (f.code, artifact["uri"], f.model, " ".join((text or "").split()))
        nth = seen[ident]
        seen[ident] += 1
        message = _sentence(f.message) + (f" Fix: {_sentence(f.fix)}" if f.fix else "")
        result: dict[str, Any] = {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": "error" if f.severity == "error" else "warning",
            "message": {"text": message},
            "locations": [{"physicalLocation": {"artifactLocation": artifact, "region": region}}],
            "partialFingerprints": {"archcheck/v1": fingerprint(*ident, nth)},
        }
        props: dict[str, Any] = {}
        if f.model:
            props["model"] = f.model
        if f.fix:
            props["fix"] = f.fix
        if props:
            result["properties"] = props
        results.append(result)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "archcheck",
                "version": __version__,
                "informationUri": "https://github.com/pytest-archcheck/pytest-archcheck",
                "rules": [_sarif_rule(c) for c in codes],
            }
        },
        "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(root).as_uri() + "/"}},
        "results": results,
    }
    doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(doc, indent=2)


def _escape(s: str, prop: bool = False) -> str:
    """`clean` (a raw ESC would reach the log, a newline split the annotation), then GitHub's
    workflow-command escaping."""
    s = clean(s).replace("%", "%25")
    return s.replace(":", "%3A").replace(",", "%2C") if prop else s


def _github(findings: Sequence[Finding], files: int) -> str:
    out = []
    for f in findings:
        level = "error" if f.severity == "error" else "warning"
        msg = f.message + (f" (fix: {f.fix})" if f.fix else "")
        out.append(
            f"::{level} title={_escape(f.code + ' ' + f.name, True)},file={_escape(f.path, True)},"
            f"line={f.line},col={f.column}::{_escape(msg)}"
        )
    out.append(_summary(findings, files))
    return "\n".join(out)


FORMATS: dict[str, Callable[[Sequence[Finding], int], str]] = {
    "full": _full,
    "concise": _concise,
    "json": _json,
    "sarif": _sarif,
    "github": _github,
}


def render(findings: Sequence[Finding], fmt: str, files: int) -> str:
    return FORMATS[fmt](findings, files)
