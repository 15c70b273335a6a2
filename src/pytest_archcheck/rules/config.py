"""Config rules (ARC3xx): problems in the spec itself, found before any budget is checked."""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from pathlib import Path

from ..deps import note_file, note_module
from .context import RuleContext, Violation
from .registry import document, rule

document(
    "ARC301",
    "unknown-key",
    "error",
    "config",
    """
    A spec or `[tool.archcheck]` key that archcheck does not know.

    ## What it does
    Reports keys and tables that are not part of the spec schema, with the closest known key
    (or the table where the key belongs) as a suggestion.

    ## Why is this bad?
    A misspelt key is silently ignored by most config readers: `memroy = "8 GiB"` would leave
    the memory budget unchecked while the spec looks as if it asserts one.

    ## Example
    ```toml
    [budget]
    memroy = "24 GiB"
    ```

    ## Use instead
    ```toml
    [budget]
    memory = "24 GiB"
    ```

    ## References
    - `archcheck schema` prints the JSON Schema of every table.
""",
)

document(
    "ARC302",
    "invalid-value",
    "error",
    "config",
    """
    A spec value of the wrong type, out of range, or in an unknown unit.

    ## What it does
    Validates every value against the schema (types, ranges, enumerations, units such as
    `"24 GiB"` and `"200 ms"`) and reports each failure at its line.

    ## Why is this bad?
    A budget that cannot be read cannot be enforced; guessing what `memory = "24 gigs"` means
    would make the gate pass or fail for the wrong reason.

    ## Example
    ```toml
    [train]
    dtype = "float16"
    batch = 0
    ```

    ## Use instead
    ```toml
    [train]
    dtype = "fp16"
    batch = 1
    ```

    ## References
    - `GiB`/`MiB` are powers of 1024, `GB`/`MB` powers of 1000 (IEC 80000-13).
""",
)

document(
    "ARC306",
    "unparsable-spec",
    "error",
    "config",
    """
    A spec file or pyproject.toml that is not valid TOML, or cannot be read at all.

    ## What it does
    Reports the TOML syntax error with the line the parser names, instead of a traceback; a
    file that cannot be read (not UTF-8 text, a dangling link) is reported at line 1, and the
    other files are still checked.

    ## Why is this bad?
    Nothing in a file that cannot be parsed is checked, so every budget in it is silently off.

    ## Example
    ```toml
    [budget
    memory = "24 GiB"
    ```

    ## Use instead
    ```toml
    [budget]
    memory = "24 GiB"
    ```

    ## References
    - TOML v1.0.0 specification: https://toml.io/en/v1.0.0
""",
)

document(
    "ARC305",
    "unused-suppression",
    "warning",
    "config",
    """
    An `# archcheck: ignore[CODE]` comment that suppressed nothing.

    ## What it does
    Reports suppression comments whose codes produced no finding on that line (or, for
    `ignore-file`, anywhere in the file).

    ## Why is this bad?
    Stale suppressions hide the next real problem on that line and mislead readers about which
    budgets the model actually misses (the same reasoning as ruff's RUF100).

    ## Example
    ```toml
    [train]
    bptt = 512  # archcheck: ignore[ARC207]
    ```

    ## Use instead
    ```toml
    [train]
    bptt = 512
    ```

    ## References
    - ruff RUF100 unused-noqa: https://docs.astral.sh/ruff/rules/unused-noqa/
""",
)


def _module_source(module: str, root: Path) -> Path | None:
    """Find a module's source file without importing anything (no user code runs)."""
    parts = module.split(".")
    for base in (root, root / "src"):
        as_file = base.joinpath(*parts).with_suffix(".py")
        as_pkg = base.joinpath(*parts, "__init__.py")
        for cand in (as_file, as_pkg):
            note_file(cand)
            if cand.is_file():
                return cand
    # Installed packages: find_spec on the top-level name only (a dotted name would import
    # its parent package, which executes code).
    note_module(parts[0])
    try:
        top = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        return None
    if top is None:
        return None
    if len(parts) == 1:
        return Path(top.origin) if top.origin and top.origin.endswith(".py") else Path("<builtin>")
    for loc in top.submodule_search_locations or []:
        base = Path(loc)
        for cand in (
            base.joinpath(*parts[1:]).with_suffix(".py"),
            base.joinpath(*parts[1:], "__init__.py"),
        ):
            note_file(cand)
            if cand.is_file():
                return cand
    return None


def _defines(source: Path, name: str) -> bool | None:
    """Whether `name` is bound at module level in `source` (None when the source is unreadable)."""
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    head = name.split(".", maxsplit=1)[0]
    for node in tree.body:
        if (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and node.name == head
        ):
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == head for t in targets):
                return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            (a.asname or a.name.split(".")[0]) == head for a in node.names
        ):
            return True
        if isinstance(node, (ast.If, ast.Try)):
            return None  # conditional definitions: cannot decide statically
    return False


@rule("ARC303", "factory-unresolvable")
def factory_unresolvable(ctx: RuleContext) -> Iterator[Violation]:
    """A `factory` that does not point at a module and callable that exist.

    ## What it does
    Statically, finds the factory's module file (project root, `src/`, or installed packages)
    and parses it to see that the callable is defined, without importing it. Under `--probe`,
    a factory that fails to import, raises, hangs, or returns something that is not an
    `nn.Module` is reported with this code too.

    ## Why is this bad?
    Every measured budget (memory, latency, behaviour) runs through the factory; if it cannot
    be built, those budgets are not checked at all.

    ## Example
    ```toml
    [model]
    factory = "mypkg.models:bulid"
    ```

    ## Use instead
    ```toml
    [model]
    factory = "mypkg.models:build"
    ```

    ## References
    - Entry-point object references use the same `module:attr` form:
      https://packaging.python.org/en/latest/specifications/entry-points/
    """
    factory = ctx.spec.model.factory
    if not factory:
        return
    module, _, attr = factory.partition(":")
    root = ctx.loaded.root or Path(ctx.loaded.path).resolve().parent
    src = _module_source(module, root)
    if src is None:
        yield Violation(
            f"factory module `{module}` not found under {root} or installed packages",
            ("model", "factory"),
            fix="check the module path; factories import with the project root on sys.path",
        )
        return
    if src.name == "<builtin>":
        return
    defined = _defines(src, attr)
    if defined is False:
        yield Violation(
            f"`{attr}` is not defined at module level in {src}",
            ("model", "factory"),
            fix="name a function or class defined in that module",
        )


@rule("ARC304", "inconsistent-dimensions")
def inconsistent_dimensions(ctx: RuleContext) -> Iterator[Violation]:
    """Dimensions that no model can have (heads not dividing d_model, and similar).

    ## What it does
    Checks that `d_model` is divisible by `heads`, `heads` by `kv_heads` (grouped-query
    attention), that rotary embeddings get an even head dimension, that sliding or local
    attention has a `window`, that per-layer CNN lists match `layers`, that the inference shape
    fits the positional table, and that tensor parallelism divides the heads.

    ## Why is this bad?
    Such a spec describes a model that fails at construction; every number computed from it
    (parameters, memory, FLOPs) would be fiction.

    ## Example
    ```toml
    [model]
    d_model = 768
    heads = 10
    ```

    ## Use instead
    ```toml
    [model]
    d_model = 768
    heads = 12
    ```

    ## References
    - Ainslie et al. 2023, GQA: https://arxiv.org/abs/2305.13245
    """
    m, t = ctx.spec.model, ctx.spec.train
    if m.family == "transformer":
        if m.d_model % m.head_count:
            yield Violation(
                f"d_model {m.d_model} is not divisible by heads {m.head_count}",
                ("model", "heads"),
                fix="choose heads that divide d_model",
            )
        if m.kv_head_count > m.head_count:
            yield Violation(
                f"kv_heads {m.kv_head_count} exceeds heads {m.head_count}", ("model", "kv_heads")
            )
        elif m.head_count % m.kv_head_count:
            yield Violation(
                f"heads {m.head_count} is not a multiple of kv_heads {m.kv_head_count}",
                ("model", "kv_heads"),
                fix="grouped-query attention shares each KV head by a whole number of query heads",
            )
        if m.positional == "rotary" and (m.d_model // m.head_count) % 2:
            yield Violation(
                f"rotary embeddings need an even head dimension, got {m.d_model // m.head_count}",
                ("model", "positional"),
            )
        if m.attention in ("sliding", "local") and m.window <= 0:
            yield Violation(f'attention = "{m.attention}" needs window > 0', ("model", "window"))
        if t.tensor_parallel > 1 and m.head_count % t.tensor_parallel:
            yield Violation(
                f"tensor_parallel {t.tensor_parallel} does not divide heads {m.head_count}",
                ("train", "tensor_parallel"),
            )
        if m.input == "tokens" and m.vocab is None:
            yield Violation(
                "token input needs a vocab size",
                ("model", "vocab"),
                fix='set model.vocab, or input = "embeddings"',
            )
    if m.family in ("cnn", "tcn") and m.padding == "causal" and m.family == "cnn" and not m.causal:
        yield Violation('padding = "causal" contradicts causal = false', ("model", "causal"))
    if t.world_size % t.tensor_parallel:
        yield Violation(
            f"world_size {t.world_size} is not a multiple of tensor_parallel {t.tensor_parallel}",
            ("train", "world_size"),
        )
