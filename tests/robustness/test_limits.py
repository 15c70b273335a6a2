"""Issue #19: hostile input files end in located findings within documented limits, and
user-derived text cannot drive the terminal.

Each case used to end in "archcheck: internal error" (a traceback, exit 2), a hang, or raw
control characters on the reviewer's terminal. Expected lines are counted by hand from the
text written here; messages are the documented wording (docs/isolation.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_archcheck.cli import main
from pytest_archcheck.files import MAX_FILE_BYTES
from pytest_archcheck.spec.limits import MAX_DEPTH, MAX_DIGITS

SRC = Path(__file__).resolve().parents[2] / "src"
DEPTH_MSG = f"nesting deeper than {MAX_DEPTH} levels (the limit; a spec needs a few)"
DIGITS_MSG = f"a number with more than {MAX_DIGITS} digits (the limit for numbers in a spec)"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARCHCHECK_NO_CACHE", "1")
    return tmp_path


def _findings(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> list[tuple[str, str, int, str]]:
    rc = main(["check", *args, "--format", "json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err, err
    assert rc == 1, (out, err)
    return [(f["code"], f["path"], f["line"], f["message"]) for f in json.loads(out)["findings"]]


# ---- limits ----------------------------------------------------------------------------------


def test_nul_in_extends_is_arc302(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "m.archcheck.toml").write_text('[model]\nvocab = 10\nextends = "\\u0000"\n')
    assert _findings(["m.archcheck.toml"], capsys) == [
        ("ARC302", "m.archcheck.toml", 3, "`model.extends`: the path contains a NUL byte")
    ]


def test_toml_inline_tables_5000_deep(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = "{a = " * 5000 + "1" + "}" * 5000
    (here / "m.archcheck.toml").write_text(f"[model]\nvocab = 10\n\nx = {deep}\n")
    assert _findings(["m.archcheck.toml"], capsys) == [("ARC306", "m.archcheck.toml", 4, DEPTH_MSG)]


def test_yaml_flow_sequences_50000_deep_through_extends(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "deep.yaml").write_text("model:\n  x: " + "[" * 50_000 + "]" * 50_000 + "\n")
    (here / "m.archcheck.toml").write_text('[model]\nvocab = 10\nextends = "deep.yaml"\n')
    assert _findings(["m.archcheck.toml"], capsys) == [("ARC306", "deep.yaml", 2, DEPTH_MSG)]


def test_yaml_block_nesting(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # line k (1-based) opens level k; level MAX_DEPTH + 1 is on line MAX_DEPTH + 1
    (here / "deep.yaml").write_text("".join("  " * i + "k:\n" for i in range(3000)))
    assert _findings(["deep.yaml"], capsys) == [("ARC306", "deep.yaml", MAX_DEPTH + 1, DEPTH_MSG)]


def test_json_nesting_at_the_limit_is_read(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """MAX_DEPTH levels are fine (the config is then only unsupported), one more is not."""
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    (here / "config.json").write_text('{"model_type": "llama", "x": ' + ok[2:] + "}\n")
    assert all(msg != DEPTH_MSG for *_, msg in _findings(["config.json"], capsys))
    over = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    (here / "config.json").write_text('{"model_type": "llama", "x": ' + over + "}\n")
    assert _findings(["config.json"], capsys) == [("ARC306", "config.json", 1, DEPTH_MSG)]


def test_a_5000_digit_integer_is_arc302(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "m.archcheck.toml").write_text("[model]\nname = 'n'\nvocab = " + "9" * 5000 + "\n")
    assert _findings(["m.archcheck.toml"], capsys) == [
        ("ARC302", "m.archcheck.toml", 3, DIGITS_MSG)
    ]


def test_a_5000_digit_length_in_a_lengths_file(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "l.json").write_text("[" + "9" * 5000 + "]")
    (here / "m.archcheck.toml").write_text('[model]\nvocab = 10\n[data]\nlengths = "l.json"\n')
    [(code, _, line, msg)] = _findings(["m.archcheck.toml"], capsys)
    assert (code, line) == ("ARC208", 4)
    assert msg.startswith("l.json: a number too long to read")


def test_long_digit_runs_inside_strings_and_comments_are_fine(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digits = "1" * 500
    (here / "m.archcheck.toml").write_text(f'# {digits}\n[model]\nname = "{digits}"\nlayers = 0\n')
    [(code, _, line, _)] = _findings(["m.archcheck.toml"], capsys)
    assert (code, line) == ("ARC302", 4)  # layers = 0, nothing about digits


def test_file_over_the_size_limit(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    size = MAX_FILE_BYTES + 1
    (here / "m.archcheck.toml").write_bytes(b"#" * size)
    assert _findings(["m.archcheck.toml"], capsys) == [
        ("ARC306", "m.archcheck.toml", 1, f"cannot read the file: file is {size:,} bytes, "
         f"over the limit of {MAX_FILE_BYTES:,} bytes"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "what"),
    [("", "empty"), ("\n  \n", "empty"), ("# a comment\n", "empty (comments only)")],
)
def test_empty_spec_file_says_so(
    text: str, what: str, here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "m.archcheck.toml").write_text(text)
    assert _findings(["m.archcheck.toml"], capsys) == [
        ("ARC306", "m.archcheck.toml", 1,
         f"the spec file is {what}: write at least a [model] table"),
    ]  # fmt: skip


# ---- special files ---------------------------------------------------------------------------


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """In a subprocess with a timeout: a regression here is a hang, not a failure."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest_archcheck", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("cache", [[], ["--no-cache"]], ids=["cached", "no-cache"])
def test_fifo_named_like_a_spec(tmp_path: Path, cache: list[str]) -> None:
    os.mkfifo(tmp_path / "x.archcheck.toml")
    (tmp_path / "ok.archcheck.toml").write_text("[model]\nvocab = 10\nlayers = 0\n")
    walked = _cli(tmp_path, "check", ".", "-v", "--format", "concise", *cache)
    assert walked.returncode == 1, walked.stderr
    assert "archcheck: skipped x.archcheck.toml: not a regular file (FIFO)" in walked.stderr
    assert walked.stdout.splitlines()[0].startswith("ok.archcheck.toml:3:1: ARC302")
    named = _cli(tmp_path, "check", "x.archcheck.toml", "--format", "concise", *cache)
    assert named.returncode == 1, named.stderr
    assert named.stdout.splitlines()[0] == (
        "x.archcheck.toml:1:1: ARC306 cannot read the file: not a regular file (FIFO)"
    )


# ---- escape and markup injection -------------------------------------------------------------

EVIL_KEY = "k\x1b[2J\x1b]0;owned\x07\n[/bold]"
EVIL_NAME = "[/bold]\x1b[31mred\nsecond line"


def _evil_spec(here: Path) -> None:
    key = json.dumps(EVIL_KEY)  # TOML basic strings take JSON's escapes
    value = json.dumps("1 \x1b[2J GiB")
    (here / "m.archcheck.toml").write_text(
        f"[model]\nname = {json.dumps(EVIL_NAME)}\nvocab = 10\n{key} = 1\n"
        f"[budget]\nmemory = {value}\n"
    )


@pytest.mark.parametrize("fmt", ["full", "concise", "github"])
def test_control_characters_are_shown_escaped(
    fmt: str, here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _evil_spec(here)
    rc = main(["check", "m.archcheck.toml", "--format", fmt])
    out = capsys.readouterr().out
    assert rc == 1
    assert "\x1b" not in out and "\x07" not in out
    assert "k\\x1b[2J\\x1b]0;owned\\x07\\n[/bold]" in out  # the key, visible, on one line
    assert "'1 \\x1b[2J GiB'" in out  # the value
    # one line per finding (plus the summary; full also shows source lines and gutters)
    heads = [ln for ln in out.splitlines() if "ARC30" in ln and "Found" not in ln]
    assert len(heads) == 2, out
    if fmt == "full":  # the model's name, after the message
        assert "[[/bold]\\x1b[31mred\\nsecond line]" in out


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_json_and_sarif_keep_the_exact_text(
    fmt: str, here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _evil_spec(here)
    main(["check", "m.archcheck.toml", "--format", fmt])
    out = capsys.readouterr().out
    assert "\x1b" not in out  # escaped by JSON itself...
    doc = json.loads(out)  # ...and exact once decoded
    messages = (
        [f["message"] for f in doc["findings"]]
        if fmt == "json"
        else [r["message"]["text"] for r in doc["runs"][0]["results"]]
    )
    assert any(f"`model.{EVIL_KEY}`" in m for m in messages), messages
    if fmt == "json":
        assert {f["model"] for f in doc["findings"]} == {EVIL_NAME}


def test_estimate_prints_a_markup_like_name_as_text(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "m.archcheck.toml").write_text(
        '[model]\nname = "[/bold][red]x"\nvocab = 10\nlayers = 1\nd_model = 8\nheads = 1\n'
    )
    assert main(["estimate", "m.archcheck.toml"]) == 0
    out, err = capsys.readouterr()
    assert "[/bold][red]x (transformer)" in out and "MarkupError" not in err


# ---- fuzz: random nesting and bytes never crash the loader -----------------------------------

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)  # fmt: skip

_leaves = st.one_of(
    st.integers(min_value=-(10**200), max_value=10**200),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.booleans(),
    st.none(),
)
_nested = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=40,
)


def _deep(depth: int, opener: str, closer: str) -> str:
    return opener * depth + closer * depth


@FUZZ
@given(
    value=_nested,
    depth=st.integers(min_value=0, max_value=3000),
    syntax=st.sampled_from(["json", "yaml", "toml"]),
)
def test_fuzz_nested_structures(value: object, depth: int, syntax: str, tmp_path: Path) -> None:
    import tempfile

    import yaml

    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    if syntax == "json":  # the deep part written as text: json.dumps would recurse itself
        deep = _deep(depth, "[", "]") or "0"
        text = '{"model_type": "llama", "x": ' + json.dumps(value) + ', "y": ' + deep + "}"
        name = "config.json"
    elif syntax == "yaml":
        text = (
            yaml.safe_dump({"model": {"x": value}}) + "y: " + (_deep(depth, "[", "]") or "0") + "\n"
        )
        name = "config.yaml"
    else:
        text = f"[model]\nvocab = 10\nx = {json.dumps(json.dumps(value))}\ny = {_deep(depth, '[', ']') or '0'}\n"
        name = "m.archcheck.toml"
    (folder / name).write_text(text)
    _assert_no_crash(folder)


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".archcheck.toml", ".json", ".yaml"]))
def test_fuzz_bytes(data: bytes, suffix: str, tmp_path: Path) -> None:
    import tempfile

    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    target = folder / ("m" + suffix if suffix == ".archcheck.toml" else "config" + suffix)
    target.write_bytes(data)
    _assert_no_crash(folder, target.name)


def _assert_no_crash(folder: Path, name: str | None = None) -> None:
    from pytest_archcheck.engine import check_paths

    paths = [str(folder / name)] if name else [str(folder)]
    if name is None:
        paths = [str(p) for p in folder.iterdir()]
    result = check_paths(paths)  # raising anything (RecursionError, ValueError) fails the test
    for f in result.findings:
        assert f.code.startswith("ARC") and f.line >= 1 and f.message


# ---- the fast pre-check (issue #18 point 4) agrees with the full scan -------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x = " + "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH, None),  # at the limit: within
        ("x = " + "[" * (MAX_DEPTH + 1) + "1" + "]" * (MAX_DEPTH + 1), ("depth", 1)),
        ("a = 1\nx = " + "9" * MAX_DIGITS, None),
        ("a = 1\nx = " + "9" * (MAX_DIGITS + 1), ("digits", 2)),
        ("x = " + "1_" * MAX_DIGITS + "1", ("digits", 1)),  # 101 digits with separators
        ("x = " + "1_" * (MAX_DIGITS - 1) + "1", None),  # 100 digits with separators
        ("x = " + "_" * 500, None),  # underscores are not digits
        # Arabic-Indic digits are str.isdigit: a non-ASCII text is always scanned
        ("x = '" + "\u0661" * 10 + "'\ny = " + "\u0661" * (MAX_DIGITS + 1), ("digits", 2)),
        ("# " + "[" * 200 + "\nx = 1", None),  # brackets in a comment: scanned, within
    ],
)
def test_precheck_and_scan_agree_at_the_limits(text: str, expected: object) -> None:
    from pytest_archcheck.spec.limits import _clearly_within, _scan

    assert _scan(text, "toml") == expected
    if _clearly_within(text):  # the pre-check may only skip texts the scan finds within limits
        assert expected is None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="[]{}0123456789_ \n#\"'a=x\u0661", max_size=400))
def test_precheck_never_skips_what_the_scan_finds(text: str) -> None:
    from pytest_archcheck.spec.limits import _clearly_within, _scan

    for syntax in ("toml", "json", "yaml"):
        if _clearly_within(text):
            assert _scan(text, syntax) is None  # type: ignore[arg-type]
