"""A catalogue of bad spec inputs: each must give the exact code, at the exact line, saying why.

Every case is a small document written as a list of lines, so that line `i` of the file is
element `i - 1` of the list; the expected lines below are counted from these lists by hand.
Cases run the static engine with `--select ARC3` (config rules only), so that they need no
formula estimate: the budget rules are not what this file tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_archcheck.cli import main
from pytest_archcheck.engine import check_paths
from pytest_archcheck.rules import RULES

SPEC = "spec.archcheck.toml"


def doc(*lines: str) -> str:
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    expected: tuple[tuple[str, int, str], ...]  # (code, line, message fragment), in line order
    target: str = SPEC  # the file the text is written to and checked
    files: dict[str, str] = field(default_factory=dict)  # other files of the project


MODEL_OK = ("[model]", "d_model = 64", "heads = 4", "vocab = 100")  # lines 1-4, no findings


def _parser_speaks_toml_1_1() -> bool:
    from pytest_archcheck.spec.load import tomllib

    try:
        tomllib.loads("a = { b = 1,\n c = 2 }\n")
    except tomllib.TOMLDecodeError:
        return False
    return True


TOML_1_1 = _parser_speaks_toml_1_1()

CASES = [
    # ---- ARC306: the file is not TOML; the line is the one tomllib names ----------------------
    Case(
        "toml-unclosed-table-header",
        doc("[model]", "vocab = 100", "[budget", 'memory = "1 GiB"'),
        (("ARC306", 3, "Expected ']' at the end of a table declaration"),),
    ),
    Case(
        "toml-duplicate-key",
        doc("[model]", "vocab = 100", "vocab = 200"),
        (("ARC306", 3, "Cannot overwrite a value"),),
    ),
    Case(
        "toml-duplicate-table",
        doc("[model]", "vocab = 100", "", "[model]", "layers = 2"),
        (("ARC306", 4, "twice"),),
    ),
    Case(
        "toml-unterminated-string",
        doc("[model]", 'name = "gpt', "vocab = 100"),
        (("ARC306", 2, "Illegal character"),),
    ),
    Case(
        "toml-bad-escape",
        doc("[model]", 'name = "a\\qb"', "vocab = 100"),
        (("ARC306", 2, "Unescaped '\\'"),),
    ),
    Case(
        "toml-bare-word-value",
        doc("[model]", "vocab = 100", "layers = twelve"),
        (("ARC306", 3, "Invalid value"),),
    ),
    Case(
        "toml-missing-value",
        doc("[model]", "vocab = 100", "", "layers ="),
        (("ARC306", 4, "Invalid value"),),
    ),
    Case(
        "toml-two-statements-on-a-line",
        doc("[model]", "vocab = 1 layers = 2"),
        (("ARC306", 2, "Expected newline or end of document"),),
    ),
    Case(
        "toml-multiline-inline-table",
        doc("model = { vocab = 1,", "  layers = 2 }"),
        # TOML 1.0 (tomllib up to Python 3.13, tomli < 2.3) forbids the newline; TOML 1.1
        # (tomli >= 2.3, Python 3.14) allows it, and the document is then a valid spec.
        () if TOML_1_1 else (("ARC306", 1, "Invalid initial character for a key part"),),
    ),
    Case(
        "toml-array-unclosed-at-end-of-file",  # tomllib names no line: the last one is blamed
        doc("[model]", "kernel = [3,", "  5,"),
        (("ARC306", 3, "end of document"),),
    ),
    # ---- ARC301: unknown keys and tables, with a suggestion ------------------------------------
    Case(
        "unknown-key-typo-same-table",
        doc(*MODEL_OK, "", "[budget]", 'memroy = "24 GiB"'),
        (("ARC301", 7, "unknown key `budget.memroy`; did you mean `memory`?"),),
    ),
    Case(
        "unknown-key-bptt-under-model",
        doc(*MODEL_OK, "bptt = 35"),
        (("ARC301", 5, "`bptt` belongs in [train]"),),
    ),
    Case(
        "unknown-key-memory-under-train",
        doc(*MODEL_OK, "[train]", "batch = 8", 'memory = "24 GiB"'),
        (("ARC301", 7, "`memory` belongs in [budget]"),),
    ),
    Case(
        "unknown-key-seq-len-belongs-in-two-tables",
        doc(*MODEL_OK, "seq_len = 1024"),
        (("ARC301", 5, "`seq_len` belongs in [train] or [infer]"),),
    ),
    Case(
        "unknown-key-typo-of-key-from-other-table",
        doc(*MODEL_OK, 'optimzer = "adam"'),
        (("ARC301", 5, "did you mean `train.optimizer`?"),),
    ),
    Case(
        "unknown-table-typo",
        doc(*MODEL_OK, "", "[buget]", 'memory = "24 GiB"'),
        (("ARC301", 6, "unknown table [buget]; did you mean [budget]?"),),
    ),
    Case(
        "unknown-table-no-suggestion",
        doc(*MODEL_OK, "[wandb]", 'project = "x"'),
        (("ARC301", 5, "unknown table [wandb]"),),
    ),
    Case(
        "unknown-key-dotted",
        doc("model.d_model = 64", "model.heads = 4", "model.vocab = 100", "model.hedas = 4"),
        (("ARC301", 4, "unknown key `model.hedas`; did you mean `heads`?"),),
    ),
    Case(
        "unknown-key-in-inline-table",
        doc('budget = { memory = "1 GiB", memroy = "2 GiB" }', *MODEL_OK),
        (("ARC301", 1, "unknown key `budget.memroy`; did you mean `memory`?"),),
    ),
    Case(
        "unknown-key-after-valid-one-keeps-rest-checked",  # the spec is still validated
        doc("[model]", "d_model = 64", "haeds = 4", "heads = 5", "vocab = 100"),
        (("ARC301", 3, "did you mean `heads`?"), ("ARC304", 4, "not divisible by heads 5")),
    ),
    # ---- ARC302: wrong type, out of range, bad enumeration, bad unit ---------------------------
    Case(
        "value-size-unknown-unit",
        doc(*MODEL_OK, "[budget]", 'memory = "24 gigs"'),
        (("ARC302", 6, "unknown size unit 'gigs'"),),
    ),
    Case(
        "value-size-negative",
        doc(*MODEL_OK, "[budget]", 'memory = "-1 GiB"'),
        (("ARC302", 6, "cannot read size '-1 GiB'"),),
    ),
    Case(
        "value-size-negative-integer",
        doc(*MODEL_OK, "[budget]", "infer_memory = -1"),
        (("ARC302", 6, "size must not be negative"),),
    ),
    Case(
        "value-size-boolean",
        doc(*MODEL_OK, "[budget]", "memory = true"),
        (("ARC302", 6, "got a boolean"),),
    ),
    Case(
        "value-size-list",
        doc(*MODEL_OK, "[budget]", "infer_memory = [1]"),
        (("ARC302", 6, "expected a size such as '24 GiB', got list"),),
    ),
    Case(
        "value-latency-word",
        doc(*MODEL_OK, "[budget]", 'p95_latency = "fast"'),
        (("ARC302", 6, "cannot read duration 'fast'"),),
    ),
    Case(
        "value-latency-unknown-unit",
        doc(*MODEL_OK, "[budget]", 'p95_latency = "2 fortnights"'),
        (("ARC302", 6, "unknown time unit 'fortnights'"),),
    ),
    Case(
        "value-layers-zero",
        doc("[model]", "vocab = 100", "layers = 0"),
        (("ARC302", 3, "`model.layers`: Input should be greater than or equal to 1"),),
    ),
    Case(
        "value-layers-fractional",
        doc("[model]", "vocab = 100", "layers = 12.5"),
        (("ARC302", 3, "`model.layers`: Input should be a valid integer (got 12.5)"),),
    ),
    Case(
        "value-heads-string",
        doc("[model]", "vocab = 100", 'heads = "12"'),
        (("ARC302", 3, "`model.heads`: Input should be a valid integer (got '12')"),),
    ),
    Case(
        "value-causal-string",
        doc("[model]", "vocab = 100", 'causal = "yes"'),
        (("ARC302", 3, "`model.causal`: Input should be a valid boolean (got 'yes')"),),
    ),
    Case(
        "value-dtype-enum",
        doc(*MODEL_OK, "[train]", 'dtype = "float16"'),
        (("ARC302", 6, "Input should be 'fp32', 'fp16' or 'bf16' (got 'float16')"),),
    ),
    Case(
        "value-family-enum",
        doc("[model]", 'family = "mamba"', "vocab = 100"),
        (
            (
                "ARC302",
                2,
                "`model.family`: unknown family 'mamba' (known: cnn, encoder-decoder, gru, hybrid, lstm, rnn, tcn, transformer)",
            ),
        ),
    ),
    Case(
        "value-dropout-range",
        doc(*MODEL_OK, "[train]", "dropout = 1.0"),
        (("ARC302", 6, "less than 1"),),
    ),
    Case(
        "value-zero-stage-range",
        doc(*MODEL_OK, "[train]", "zero_stage = 4"),
        (("ARC302", 6, "less than or equal to 3"),),
    ),
    Case(
        "value-max-padding-range",
        doc(*MODEL_OK, "[budget]", "max_padding = 1.5"),
        (("ARC302", 6, "less than or equal to 1"),),
    ),
    Case(
        "value-factory-without-colon",
        doc(*MODEL_OK, 'factory = "mypkg.models.build"'),
        (("ARC302", 5, "should match pattern"),),
    ),
    Case(
        "value-name-not-a-string",
        doc("[model]", "vocab = 100", "name = 5"),
        (("ARC302", 3, "valid string"),),
    ),
    Case(
        "value-union-reported-once",  # int | list[int]: one finding, not one per member
        doc("[model]", 'family = "cnn"', "layers = 2", "kernel = [3, 0]"),
        (("ARC302", 4, "greater than or equal to 1"),),
    ),
    Case(
        "value-inline-length-stats-extra-key",
        doc(*MODEL_OK, "[data]", "lengths = { mean = 10.0, p95 = 30 }"),
        (("ARC302", 6, "Extra inputs are not permitted"),),
    ),
    Case(
        "value-table-is-a-scalar",
        doc("# a spec", "model = 3"),
        (("ARC302", 2, "[model] must be a table, got int"),),
    ),
    Case(
        "value-table-is-an-array-of-tables",
        doc("# a spec", "", "[[model]]", "vocab = 100"),
        (("ARC302", 3, "[model] must be a table, got list"),),
    ),
    Case(
        "value-several-errors-in-line-order",
        doc("[model]", "layers = 0", "vocab = 100", "[train]", 'dtype = "double"'),
        (("ARC302", 2, "`model.layers`"), ("ARC302", 5, "`train.dtype`")),
    ),
    # ---- ARC304: dimensions no model can have --------------------------------------------------
    Case(
        "dims-heads-do-not-divide-d-model",
        doc("[model]", "d_model = 64", "heads = 5", "vocab = 100"),
        (("ARC304", 3, "d_model 64 is not divisible by heads 5"),),
    ),
    Case(
        "dims-kv-heads-exceed-heads",
        doc(*MODEL_OK, "kv_heads = 8"),
        (("ARC304", 5, "kv_heads 8 exceeds heads 4"),),
    ),
    Case(
        "dims-heads-not-multiple-of-kv-heads",
        doc(*MODEL_OK, "kv_heads = 3"),
        (("ARC304", 5, "heads 4 is not a multiple of kv_heads 3"),),
    ),
    Case(
        "dims-rotary-odd-head-dim",  # 36 / 4 = 9
        doc("[model]", "d_model = 36", "heads = 4", "vocab = 100", 'positional = "rotary"'),
        (("ARC304", 5, "even head dimension, got 9"),),
    ),
    Case(
        "dims-sliding-without-window",  # window is not written: blame the [model] header
        doc(
            "# sliding attention",
            "[model]",
            "d_model = 64",
            "heads = 4",
            "vocab = 100",
            'attention = "sliding"',
        ),
        (("ARC304", 2, 'attention = "sliding" needs window > 0'),),
    ),
    Case(
        "dims-kernel-list-length",
        doc("[model]", 'family = "cnn"', "layers = 3", "kernel = [3, 3]"),
        (("ARC304", 4, "model.kernel lists 2 values but model.layers = 3"),),
    ),
    Case(
        "dims-dilations-list-length",
        doc("[model]", 'family = "tcn"', "layers = 2", "kernel = 3", "dilations = [1, 2, 4]"),
        (("ARC304", 5, "model.dilations lists 3 values but model.layers = 2"),),
    ),
    Case(
        "dims-tensor-parallel-does-not-divide-heads",
        doc(*MODEL_OK, "[train]", "world_size = 3", "tensor_parallel = 3"),
        (("ARC304", 7, "tensor_parallel 3 does not divide heads 4"),),
    ),
    Case(
        "dims-world-size-not-multiple-of-tensor-parallel",
        doc(*MODEL_OK, "[train]", "world_size = 6", "tensor_parallel = 4"),
        (("ARC304", 6, "world_size 6 is not a multiple of tensor_parallel 4"),),
    ),
    Case(
        "dims-token-input-without-vocab",
        doc("", "[model]", "d_model = 64", "heads = 4"),
        (("ARC304", 2, "token input needs a vocab size"),),
    ),
    # ---- ARC303: the factory is found by parsing, never by importing ---------------------------
    Case(
        "factory-module-missing",
        doc(*MODEL_OK, 'factory = "nopkg_archcheck_catalogue.models:build"'),
        (("ARC303", 5, "factory module `nopkg_archcheck_catalogue.models` not found"),),
    ),
    Case(
        "factory-callable-missing",
        doc(*MODEL_OK, 'factory = "mypkg.models:bulid"'),
        (("ARC303", 5, "`bulid` is not defined at module level"),),
        files={"mypkg/__init__.py": "", "mypkg/models.py": "def build():\n    return None\n"},
    ),
    Case(
        "factory-callable-missing-src-layout",
        doc(*MODEL_OK, 'factory = "mypkg.nets:Net"'),
        (("ARC303", 5, "`Net` is not defined at module level"),),
        files={"src/mypkg/__init__.py": "", "src/mypkg/nets.py": "class GPT:\n    pass\n"},
    ),
    # ---- pyproject.toml [tool.archcheck] and [[tool.archcheck.model]] --------------------------
    Case(
        "pyproject-unknown-settings-key",
        doc("[project]", 'name = "demo"', "", "[tool.archcheck]", 'selct = ["ARC3"]'),
        (("ARC301", 5, "unknown key `tool.archcheck.selct`; did you mean `select`?"),),
        target="pyproject.toml",
    ),
    Case(
        "pyproject-per-file-ignores-spelling",
        doc("[tool.archcheck]", 'per_file_ignores = { "*.toml" = ["ARC2"] }'),
        (("ARC301", 2, "did you mean `per-file-ignores`?"),),
        target="pyproject.toml",
    ),
    Case(
        "pyproject-select-not-a-list",
        doc("[tool.archcheck]", 'device = "cpu"', 'select = "ARC3"'),
        (("ARC302", 3, "`tool.archcheck.select`: Input should be a valid list"),),
        target="pyproject.toml",
    ),
    Case(
        "pyproject-specs-absolute-glob",
        doc("[tool.archcheck]", 'specs = ["/etc/*.archcheck.toml"]'),
        (("ARC302", 2, "globs must be non-empty and relative"),),
        target="pyproject.toml",
    ),
    Case(
        "pyproject-budget-default-unknown-key",
        doc(
            "[tool.archcheck]", 'device = "cpu"', "", "[tool.archcheck.budget]", 'memroy = "24 GiB"'
        ),
        (("ARC301", 5, "unknown key `tool.archcheck.budget.memroy`; did you mean `memory`?"),),
        target="pyproject.toml",
    ),
    Case(
        "pyproject-budget-default-bad-unit",
        doc("[tool.archcheck]", 'budget = { memory = "24 gigs" }'),
        (("ARC302", 2, "`tool.archcheck.budget.memory`: unknown size unit 'gigs'"),),
        target="pyproject.toml",
    ),
    Case(
        "pyproject-model-entry-bad-value",
        doc(
            "[project]",
            'name = "demo"',
            "",
            "[tool.archcheck]",
            'select = ["ARC3"]',
            "",
            "[[tool.archcheck.model]]",
            'name = "a"',
            "d_model = 64",
            "heads = 4",
            "vocab = 100",
            "",
            "[[tool.archcheck.model]]",
            'name = "b"',
            "layers = 0",
            "vocab = 100",
        ),
        (("ARC302", 15, "`model.layers`: Input should be greater than or equal to 1"),),
        target="pyproject.toml",
    ),
    Case(
        "pyproject-model-entry-unknown-key",
        doc("[[tool.archcheck.model]]", 'name = "a"', "lyers = 2", "vocab = 100"),
        (("ARC301", 3, "did you mean `layers`?"),),
        target="pyproject.toml",
    ),
    Case(
        "pyproject-model-entry-nested-table",
        doc(
            "[[tool.archcheck.model]]",
            'name = "a"',
            "vocab = 100",
            "",
            "[tool.archcheck.model.budget]",
            'memroy = "1 GiB"',
        ),
        (("ARC301", 6, "unknown key `budget.memroy`"),),
        target="pyproject.toml",
    ),
    Case(
        "pyproject-model-entry-dimensions",
        doc(
            "[tool.archcheck]",
            "",
            "[[tool.archcheck.model]]",
            'name = "a"',
            "d_model = 64",
            "heads = 6",
            "vocab = 100",
        ),
        (("ARC304", 6, "not divisible by heads 6"),),
        target="pyproject.toml",
    ),
    Case(
        "pyproject-not-toml",
        doc("[project]", 'name = "demo"', "[tool.archcheck", "select = []"),
        (("ARC306", 3, "table declaration"),),
        target="pyproject.toml",
    ),
    Case(
        "pyproject-tool-is-not-a-table",  # valid TOML; not ours to judge, and no crash
        doc('tool = "poetry"'),
        (),
        target="pyproject.toml",
    ),
    # ---- suppression comments ------------------------------------------------------------------
    Case(
        "suppression-unused",
        doc(*MODEL_OK[:3], "vocab = 100  # archcheck: ignore[ARC304]"),
        (("ARC305", 4, "unused suppression of ARC304"),),
    ),
    Case(
        "suppression-used-hides-finding",
        doc("[model]", "d_model = 64", "heads = 5  # archcheck: ignore[ARC304]", "vocab = 100"),
        (),
    ),
    Case(
        "suppression-unknown-key-hidden",
        doc(*MODEL_OK, "colour = 3  # archcheck: ignore[ARC301]"),
        (),
    ),
    Case(
        "suppression-file-level-unused",
        doc("# archcheck: ignore-file[ARC301]", *MODEL_OK),
        (("ARC305", 1, "unused file-level suppression of ARC301"),),
    ),
    Case(
        "suppression-file-level-used",
        doc(*MODEL_OK, "colour = 3", "# archcheck: ignore-file[ARC301]"),
        (),
    ),
    Case(
        "suppression-only-one-of-two-codes-used",
        doc(
            "[model]",
            "d_model = 64",
            "heads = 5  # archcheck: ignore[ARC304, ARC301]",
            "vocab = 100",
        ),
        (("ARC305", 3, "unused suppression of ARC301"),),
    ),
    Case(
        "suppression-of-probe-only-code-not-unused-in-static-run",
        doc(*MODEL_OK, "causal = true  # archcheck: ignore[ARC205]"),  # ARC205: behaviour
        (),
    ),
    # ---- line numbers survive multi-line values, inline tables and odd layout -------------------
    Case(
        "lines-after-multiline-array-with-comments",
        doc(
            "[model]",
            'family = "cnn"',
            "layers = 2",
            "kernel = [",
            "  3,  # first ]",
            "  3,",
            "]",
            "dilations = [1, 1, 1]",
        ),
        (("ARC304", 8, "model.dilations lists 3 values"),),
    ),
    Case(
        "lines-after-nested-multiline-array",
        doc(
            "[model]",
            "factory_args = { }",
            "d_model = 64",
            "vocab = 100",
            "channels_unused = [",
            "  [1, 2],",
            "  [3, 4],",
            "]",
            "heads = 5",
        ),
        (
            ("ARC301", 5, "unknown key `model.channels_unused`"),
            ("ARC304", 9, "not divisible by heads 5"),
        ),
    ),
    Case(
        "lines-after-inline-tables",
        doc(
            "[model]",
            'factory_args = { vocab = 100, nested = { heads = 3, layers = "x" } }',
            "vocab = 100",
            "d_model = 64",
            "heads = 6",
        ),
        (("ARC304", 5, "not divisible by heads 6"),),
    ),
    Case(
        "lines-after-multiline-basic-string",
        doc(
            "[model]",
            'name = """gpt',
            "[budget]",
            'memroy = "x"',
            "heads = 3",
            '"""',
            "vocab = 100",
            "d_model = 64",
            "heads = 5",
        ),
        (("ARC304", 9, "not divisible by heads 5"),),
    ),
    Case(
        "lines-after-multiline-literal-string",
        doc(
            "[model]", "name = '''", "heads = 3", "'''", "vocab = 100", "d_model = 64", "heads = 5"
        ),
        (("ARC304", 7, "not divisible by heads 5"),),
    ),
    Case(
        "lines-indented-header-with-comment-and-quoted-key",
        doc("", "  [model]  # the network", '  "d_model" = 64', "  heads = 5", "  vocab = 100"),
        (("ARC304", 4, "not divisible by heads 5"),),
    ),
    Case(
        "lines-crlf-line-endings",
        "\r\n".join(["[model]", "d_model = 64", "vocab = 100", "heads = 5", ""]),
        (("ARC304", 4, "not divisible by heads 5"),),
    ),
    Case(
        "lines-key-after-comment-block",
        doc(
            "# heads = 5",
            "# [budget]",
            "[model]",
            "d_model = 64",
            "",
            "# vocab",
            "vocab = 100",
            "heads = 7",
        ),
        (("ARC304", 8, "not divisible by heads 7"),),
    ),
    Case(
        "lines-unicode-line-separator-in-comment",  # TOML lines end at "\n" only
        doc(
            "# U+2028 \u2028 and U+0085 \x85",
            "[model]",
            "d_model = 64",
            "heads = 5",
            "vocab = 100",
        ),
        (("ARC304", 4, "not divisible by heads 5"),),
    ),
    Case(
        "lines-quoted-header-with-bracket",  # heads = 5 belongs to the odd table, not [model]
        doc("[model]", "d_model = 64", "vocab = 100", '["wandb]"]', "heads = 5"),
        (("ARC301", 4, "unknown table [wandb]]"),),
    ),
    Case(
        "lines-quoted-key-with-escaped-quote",
        doc("[model]", "d_model = 64", '"x\\"y" = 1', "vocab = 100", "heads = 5"),
        (("ARC301", 3, 'unknown key `model.x"y`'), ("ARC304", 5, "not divisible by heads 5")),
    ),
    Case(
        "lines-inline-table-inside-array",  # `heads` inside the array is not model.heads
        doc(
            "[model]",
            "d_model = 64",
            "factory_args = { a = [{ heads = 3 }] }",
            "vocab = 100",
            "heads = 5",
        ),
        (("ARC304", 5, "not divisible by heads 5"),),
    ),
    # ---- degenerate files ----------------------------------------------------------------------
    # issue #19: an empty file says it is empty (it was "token input needs a vocab size")
    Case("empty-file", "", (("ARC306", 1, "the spec file is empty: write at least"),)),
    Case(
        "comments-only",
        doc("# nothing here", ""),
        (("ARC306", 1, "the spec file is empty (comments only)"),),
    ),
]


def run_main(argv: list[str]) -> int:
    """`main` in-process; a SystemExit (argparse, refused spec) is an exit code too."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text.encode("utf-8"))


def test_catalogue_is_large_and_ids_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 30
    codes = {code for c in CASES for code, _, _ in c.expected}
    assert {"ARC301", "ARC302", "ARC303", "ARC304", "ARC305", "ARC306"} <= codes


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_catalogue(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    files = {"pyproject.toml": "", **case.files, case.target: case.text}  # root = tmp_path
    _write(tmp_path, files)
    result = check_paths([str(tmp_path / case.target)], select=["ARC3"])
    got = [(f.code, f.line, f.message) for f in result.findings]
    assert [(c, ln) for c, ln, _ in got] == [(c, ln) for c, ln, _ in case.expected], got
    for (_, _, message), (_, _, fragment) in zip(got, case.expected, strict=True):
        assert fragment in message, (fragment, message)
    for f in result.findings:
        assert f.code in RULES
        assert f.name == RULES[f.code].name
        assert f.severity == RULES[f.code].severity
        assert f.path.endswith(case.target.split("/")[-1])


def test_pyproject_entry_findings_name_their_model(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == "pyproject-model-entry-bad-value")
    (tmp_path / "pyproject.toml").write_text(case.text, encoding="utf-8")
    (finding,) = check_paths([str(tmp_path / "pyproject.toml")], select=["ARC3"]).findings
    assert finding.model == "b"


def test_budget_default_from_pyproject_reaches_spec(tmp_path: Path) -> None:
    """A valid [tool.archcheck.budget] default is merged under the spec's own (absent) value."""
    from pytest_archcheck.engine import load_all

    _write(
        tmp_path,
        {
            "pyproject.toml": doc("[tool.archcheck.budget]", 'memory = "2 GiB"', 'span = "x"'),
            SPEC: doc(*MODEL_OK),
        },
    )
    specs, findings, _, _ = load_all([str(tmp_path / SPEC)])
    assert [(f.code, f.line) for f in findings] == [("ARC302", 3)]
    (loaded,) = specs
    assert loaded.spec is not None
    assert loaded.spec.budget.memory == 2 * 1024**3
    assert loaded.spec.budget.span is None  # the bad default is dropped, not inherited


# ---- files that are not specs at all: exit code 2, the file named, no traceback -------------


def test_non_utf8_spec_is_a_finding_naming_the_file(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("")
    bad = tmp_path / "latin.archcheck.toml"
    bad.write_bytes(b'[model]\nname = "caf\xe9"\n')
    assert main(["check", str(bad), "--select", "ARC3", "--format", "concise"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("latin.archcheck.toml:1:1: ARC306 cannot read the file: not UTF-8")
    assert "Traceback" not in err + out


def test_non_utf8_spec_found_by_directory_walk(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.archcheck.toml").write_bytes(b"\xff\xfe[model]\n")
    # a readable twin beside it is still checked: its unknown key is reported too
    (tmp_path / "sub" / "y.archcheck.toml").write_text("[model]\nvocab = 10\ncolour = 1\n")
    assert main(["check", str(tmp_path), "--select", "ARC3", "--format", "concise"]) == 1
    out, err = capsys.readouterr()
    assert "sub/x.archcheck.toml:1:1: ARC306 cannot read the file" in out
    assert "sub/y.archcheck.toml:3:1: ARC301" in out
    assert "Traceback" not in err


def test_spec_path_that_is_a_directory(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("")
    d = tmp_path / "gpt.archcheck.toml"
    d.mkdir()
    result = check_paths([str(d)], select=["ARC3"])
    assert result.findings == []
    assert result.files == 0
    # an empty folder, whatever its name: nothing to check is exit 5, not a green 0
    assert main(["check", str(d), "--select", "ARC3"]) == 5
    err = capsys.readouterr().err
    assert "Traceback" not in err and "nothing to check" in err


def test_missing_path_exits_2(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nope.archcheck.toml"
    assert main(["check", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "no such file or directory" in err
    assert "nope.archcheck.toml" in err
    assert "Traceback" not in err


def test_estimate_of_broken_spec_exits_2(tmp_path: Path, monkeypatch, capsys) -> None:
    """`estimate` refuses a spec with config findings (exit 2), printing them, no traceback."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / SPEC).write_text(doc("[model]", "vocab = 100", "layers = 0"))
    assert run_main(["estimate", str(tmp_path / SPEC)]) == 2
    err = capsys.readouterr().err
    assert f"{SPEC}:3:1: ARC302" in err
    assert "Traceback" not in err


def test_utf8_bom_is_not_a_syntax_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("")
    text = doc("[model]", "d_model = 64", "heads = 5", "vocab = 100")
    (tmp_path / SPEC).write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    result = check_paths([str(tmp_path / SPEC)], select=["ARC3"])
    assert [(f.code, f.line) for f in result.findings] == [("ARC304", 3)]
