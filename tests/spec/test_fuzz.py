"""Fuzz the loader: whatever a spec file holds, loading it gives findings, never a crash.

Documents are random tables of random keys (every known key of every table among them) with
values of right and wrong types, written out by a small TOML writer below; raw random text
covers what no writer produces. Each finding must carry a known code, a line inside the file
and a message.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_archcheck.engine import check_paths
from pytest_archcheck.findings import ArchcheckError, Finding
from pytest_archcheck.rules import RULES
from pytest_archcheck.rules.load import findings_of, load_findings
from pytest_archcheck.spec.load import load_pyproject, load_spec_text, tomllib
from pytest_archcheck.spec.locate import locate
from pytest_archcheck.spec.model import SETTINGS_KEYS, TABLE_KEYS

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---- a small TOML writer ---------------------------------------------------------------------

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _string(s: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, plus DEL, which TOML also forbids raw."""
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(k: str) -> str:
    return k if _BARE.match(k) else _string(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)  # 1e-05, inf, -inf: all valid TOML floats
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _inline(v: dict[str, Any]) -> bool:
    """Small all-scalar tables are written inline, the rest under a header."""
    return len(v) <= 2 and not any(isinstance(x, (dict, list)) for x in v.values())


_NEWLINE_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\n")


def _multiline_value(v: Any) -> list[str]:
    """A top-level value spread over several lines: arrays one element a line, strings with
    newlines as multi-line basic strings (a newline right after the opening quotes would be
    trimmed by TOML, so such strings stay on one line)."""
    if isinstance(v, list) and len(v) >= 2:
        return ["[", *(f"  {_value(x)},  # element ] [" for x in v), "]"]
    if isinstance(v, str) and "\n" in v and not v.startswith("\n"):
        body = _string(v)[1:-1]
        body = _NEWLINE_ESCAPE.sub(lambda m: m.group(1) + "\n", body)
        return ('"""' + body + '"""').split("\n")
    return [_value(v)]


Key = tuple[Any, ...]


def dumps(doc: dict[str, Any], multiline: bool = False) -> str:
    return dumps_with_lines(doc, multiline)[0]


def dumps_with_lines(doc: dict[str, Any], multiline: bool = False) -> tuple[str, dict[Key, int]]:
    """TOML text and, as an oracle for the locator, the line of every table and key."""
    out: list[str] = []
    lines: dict[Key, int] = {}
    _table(doc, (), (), out, lines, multiline=multiline)
    return "\n".join(out) + "\n", lines


def _inline_lines(v: dict[str, Any], key: Key, line: int, lines: dict[Key, int]) -> None:
    for k, x in v.items():
        lines[(*key, k)] = line
        if isinstance(x, dict):
            _inline_lines(x, (*key, k), line, lines)


def _table(
    doc: dict[str, Any],
    path: tuple[str, ...],
    key: Key,
    out: list[str],
    lines: dict[Key, int],
    *,
    multiline: bool,
) -> None:
    subs = []
    for k, v in doc.items():
        if (isinstance(v, dict) and not _inline(v)) or _is_table_array(v):
            subs.append((k, v))
            continue
        lines[(*key, k)] = len(out) + 1
        value = _multiline_value(v) if multiline else [_value(v)]
        out.append(f"{_key(k)} = {value[0]}")
        out.extend(value[1:])
        if isinstance(v, dict):
            _inline_lines(v, (*key, k), lines[(*key, k)], lines)
    for k, v in subs:
        name = ".".join(_key(p) for p in (*path, k))
        if isinstance(v, dict):
            out.append(f"[{name}]")
            lines[(*key, k)] = len(out)
            _table(v, (*path, k), (*key, k), out, lines, multiline=multiline)
        else:
            for i, element in enumerate(v):
                out.append(f"[[{name}]]")
                lines.setdefault((*key, k), len(out))
                lines[(*key, k, i)] = len(out)
                _table(element, (*path, k), (*key, k, i), out, lines, multiline=multiline)


# ---- random documents --------------------------------------------------------------------------

ALL_KEYS = sorted({k for keys in TABLE_KEYS.values() for k in keys})
WORDS = [
    "transformer",
    "lstm",
    "gru",
    "rnn",
    "cnn",
    "tcn",
    "mamba",
    "gelu",
    "swiglu",
    "relu",
    "layernorm",
    "rmsnorm",
    "learned",
    "rotary",
    "alibi",
    "none",
    "full",
    "sliding",
    "local",
    "fp32",
    "bf16",
    "fp16",
    "float16",
    "adamw",
    "sgd",
    "flash",
    "math",
    "same",
    "causal",
    "valid",
    "tokens",
    "image",
    "all",
    "qkv",
    "24 GiB",
    "300 MB",
    "-1 GiB",
    "24 gigs",
    "1e3 MiB",
    "200 ms",
    "1.5 s",
    "fast",
    "H100-80GB",
    "cpu",
    "mypkg.models:build",
    "no_colon",
    "data/lengths.json",
    "",
]

scalars = st.one_of(
    st.integers(min_value=-3, max_value=5000),
    st.integers(),  # huge, negative
    st.floats(allow_nan=False),
    st.booleans(),
    st.sampled_from(WORDS),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from([*ALL_KEYS, "mean", "p90", "x"]), inner, max_size=3),
    ),
    max_leaves=8,
)
keys = st.one_of(
    st.sampled_from(ALL_KEYS),
    st.sampled_from(ALL_KEYS).map(lambda k: k[:-1] or k),
    st.text("abcdefghijklmnopqrstuvwxyz_-.", min_size=1, max_size=10),
)
tables = st.dictionaries(keys, values, max_size=8)
table_names = st.one_of(
    st.sampled_from(sorted(TABLE_KEYS)), st.sampled_from(["buget", "tool", "x"])
)
spec_docs = st.dictionaries(table_names, st.one_of(tables, values), max_size=6)

settings_tables = st.dictionaries(
    st.one_of(
        st.sampled_from(sorted(SETTINGS_KEYS)), st.sampled_from(["selct", "per_file_ignores"])
    ),
    st.one_of(
        values,
        st.lists(st.sampled_from(["ARC3", "ARC101", "*.toml", "/abs", ""]), max_size=3),
        tables,
    ),
    max_size=5,
)
model_entries = st.lists(
    st.one_of(tables, st.builds(lambda m, t: {**m, "budget": t}, tables, tables)), max_size=3
)
pyproject_docs_ = st.builds(
    lambda s, models, extra: (
        {**extra, "tool": {"archcheck": {**s, "model": models}}}
        if models
        else {**extra, "tool": {"archcheck": s}}
    ),
    settings_tables,
    model_entries,
    st.dictionaries(st.sampled_from(["project", "build-system"]), tables, max_size=1),
)
pyproject_docs = st.one_of(pyproject_docs_, st.dictionaries(st.sampled_from(["tool", "x"]), values))


# ---- invariants ------------------------------------------------------------------------------


def _check_findings(findings: list[Finding], text: str) -> None:
    n_lines = text.count("\n") + 1  # TOML counts "\n" only (not U+2028, form feed, ...)
    for f in findings:
        assert f.code in RULES, f
        assert f.name == RULES[f.code].name
        assert f.severity in ("error", "warning")
        assert 1 <= f.line <= n_lines, (f, n_lines)
        assert isinstance(f.message, str) and f.message.strip(), f


def _load(text: str, name: str = "fuzz.archcheck.toml") -> None:
    loaded = load_spec_text(text, name)
    _check_findings(findings_of(loaded), text)
    if loaded.spec is None:
        assert any(f.code in ("ARC302", "ARC304", "ARC306") for f in findings_of(loaded))


@FUZZ
@given(spec_docs, st.booleans())
def test_writer_round_trips(doc: dict[str, Any], multiline: bool) -> None:
    assert tomllib.loads(dumps(doc, multiline)) == doc


# keys for the locator: mostly bare, some quoted with dots, spaces, quotes, brackets, '=' and '#'
located_keys = st.one_of(
    st.sampled_from(ALL_KEYS),
    st.text("abc_-019", min_size=1, max_size=6),
    st.text("ab .=#[]{},\"'\\", min_size=1, max_size=6),
)
located_values = st.recursive(
    st.one_of(scalars, st.text("ab\n[]{}=\"'#\\ ", max_size=12)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(located_keys, inner, max_size=3)
    ),
    max_leaves=10,
)
located_docs = st.dictionaries(
    located_keys,
    st.one_of(
        st.dictionaries(located_keys, located_values, max_size=5),
        st.lists(st.dictionaries(located_keys, located_values, max_size=3), min_size=1, max_size=2),
        located_values,
    ),
    max_size=5,
)


def _bare(key: Key) -> bool:
    return all(isinstance(p, int) or _BARE.match(p) for p in key)


@FUZZ
@given(located_docs, st.booleans())
def test_locator_places_every_key_or_none_never_a_wrong_one(
    doc: dict[str, Any], multiline: bool
) -> None:
    """locate.py's contract: the line of each key, or no line (fall back to the table), never
    a wrong line; bare keys are always placed. The writer's own record is the oracle."""
    text, expected = dumps_with_lines(doc, multiline)
    assert tomllib.loads(text) == doc
    found = locate(text).lines
    for key, line in found.items():
        assert expected.get(key) == line, (key, line, expected.get(key))
    for key, line in expected.items():
        if _bare(key):
            assert found.get(key) == line, (key, line)


@FUZZ
@given(spec_docs)
def test_random_spec_documents_load(doc: dict[str, Any]) -> None:
    _load(dumps(doc))


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(TABLE_KEYS)), tables, min_size=1, max_size=5))
def test_random_known_tables_load(doc: dict[str, Any]) -> None:
    _load(dumps(doc))


@FUZZ
@given(
    st.one_of(
        st.text(st.characters(exclude_categories=("Cs",)), max_size=200),
        st.text("[]{}=\"'#\n\r\t .,:0123456789abcmodelyrsvq_-", max_size=200),
        st.lists(
            st.sampled_from(
                [
                    "[model]",
                    "[budget",
                    "[[model]]",
                    "layers = 2",
                    'heads = "4"',
                    'memory = "24 GiB"',
                    'x = """',
                    '"""',
                    "y = '''",
                    "'''",
                    "k = [",
                    "]",
                    "a = { b = 1 }",
                    "# archcheck: ignore[ARC301]",
                    "kernel = [3,",
                    "vocab = 100",
                    "",
                    "model.d_model = 64",
                    '"q" = 1',
                ]
            ),
            max_size=12,
        ).map("\n".join),
    )
)
def test_random_text_loads(text: str) -> None:
    _load(text)


@FUZZ
@given(pyproject_docs)
def test_random_pyprojects_load(doc: dict[str, Any]) -> None:
    text = dumps(doc)
    _settings, specs, problems = load_pyproject(text, "pyproject.toml")
    _check_findings(load_findings(problems), text)
    for loaded in specs:
        _check_findings(findings_of(loaded), text)


def _check_dir(files: dict[str, str], select: list[str]) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        for name, text in files.items():
            (root / name).write_text(text, encoding="utf-8")
        try:
            result = check_paths([d], select=select)
        except ArchcheckError:
            return
        texts = {name: text for name, text in files.items()}
        for f in result.findings:
            _check_findings([f], texts[Path(f.path).name])


@FUZZ
@given(spec_docs, st.one_of(st.none(), pyproject_docs))
def test_check_paths_config_rules(doc: dict[str, Any], pyproject: dict[str, Any] | None) -> None:
    files = {"fuzz.archcheck.toml": dumps(doc)}
    if pyproject is not None:
        files["pyproject.toml"] = dumps(pyproject)
    _check_dir(files, ["ARC3"])


def _formulas_ready() -> bool:
    from pytest_archcheck.estimate import estimate
    from pytest_archcheck.spec.model import Spec

    try:
        estimate(Spec.model_validate({"model": {"vocab": 100}}), n=128)
    except ImportError:
        return False
    return True


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(TABLE_KEYS)), tables, min_size=1, max_size=5))
def test_check_paths_all_rules(doc: dict[str, Any]) -> None:
    """Every static rule, formulas included, on random (mostly invalid) specs."""
    if not _formulas_ready():
        pytest.skip("the formula library (pytest_archcheck.formulas) has not landed yet")
    _check_dir({"fuzz.archcheck.toml": dumps(doc)}, [])
