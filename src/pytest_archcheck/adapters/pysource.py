"""Values a repository's Python source sets without running it: argparse defaults, module-level
settings (nanoGPT's `config/train_*.py`), minGPT-style `CfgNode` defaults and tables of named
sizes, constructor signatures and the calls that build a model.

Everything is read with `ast`; nothing is imported or executed. An expression is evaluated only
when it is made of literals, names bound to literals, `args.X` (an argparse default) and
list/arithmetic operators on those; anything else (`len(corpus.dictionary)`, a value read from a
file) is an `Unknown` carrying its source line, so that the caller asks the user for it instead
of guessing.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Unknown:
    """A value the source computes at run time: what it is (source text) and where."""

    text: str
    line: int


@dataclass(frozen=True)
class Located:
    """A literal value and the line that sets it."""

    value: Any
    line: int
    name: str  # the source's own name for it (`n_layer`, `--nhid`, `dim`)


def parse(text: str, filename: str = "<source>") -> ast.Module | None:
    """The module's tree, or None when it does not parse (discovery skips such files)."""
    try:
        return ast.parse(text, filename=filename)
    except (SyntaxError, ValueError):
        return None


def dotted(node: ast.AST | None) -> str:
    """`a.b.c` for a Name/Attribute chain, else ""."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = dotted(node.value)
        return f"{head}.{node.attr}" if head else ""
    return ""


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
}


class Env:
    """Names bound to literal values, argparse defaults under `args.`, for `evaluate`."""

    def __init__(self, names: dict[str, Located] | None = None, args: str = "args") -> None:
        self.names: dict[str, Located | Unknown] = dict(names or {})
        self.args: dict[str, Located] = {}
        self.args_name = args

    def lookup(self, node: ast.expr) -> Located | Unknown | None:
        if isinstance(node, ast.Name):
            return self.names.get(node.id)
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in (self.args_name, "args", "opt", "cfg")
        ):
            return self.args.get(node.attr)
        return None


def evaluate(node: ast.expr | None, env: Env) -> Any:
    """The value of a small expression, or an `Unknown` (never raises)."""
    if node is None:
        return Unknown("", 0)
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    line = getattr(node, "lineno", 0)
    hit = env.lookup(node)
    if isinstance(hit, Located):
        return hit.value
    if isinstance(hit, Unknown):
        return hit
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = evaluate(node.left, env), evaluate(node.right, env)
        if isinstance(left, Unknown) or isinstance(right, Unknown):
            return left if isinstance(left, Unknown) else right
        try:
            value = _BINOPS[type(node.op)](left, right)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            return Unknown(ast.unparse(node), line)
        if isinstance(value, list) and len(value) > 100_000:  # `[x] * huge`: not a config
            return Unknown(ast.unparse(node), line)
        return value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [evaluate(e, env) for e in node.elts]
        bad = next((i for i in items if isinstance(i, Unknown)), None)
        return bad if bad is not None else list(items)
    return Unknown(ast.unparse(node), line)


# --- argparse ------------------------------------------------------------------------------


def argparse_defaults(tree: ast.Module) -> dict[str, Located]:
    """`parser.add_argument("--nhid", type=int, default=200)` -> {"nhid": 200 at its line}.

    `action="store_true"` defaults to False (argparse's own rule); an argument without a
    literal default is left out (it is None at run time, or computed)."""
    out: dict[str, Located] = {}
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_argument"
        ):
            continue
        flags = [a.value for a in node.args if isinstance(a, ast.Constant)]
        longs = [f for f in flags if isinstance(f, str) and f.startswith("--")]
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        dest_node = kw.get("dest")
        if isinstance(dest_node, ast.Constant) and isinstance(dest_node.value, str):
            dest = dest_node.value
        elif longs:
            dest = longs[0][2:].replace("-", "_")
        elif flags and isinstance(flags[0], str) and not flags[0].startswith("-"):
            dest = flags[0]
        else:
            continue
        action = kw.get("action")
        act = action.value if isinstance(action, ast.Constant) else None
        if "default" in kw:
            try:
                value = ast.literal_eval(kw["default"])
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
        elif act == "store_true":
            value = False
        elif act == "store_false":
            value = True
        else:
            continue
        out[dest] = Located(value, node.lineno, f"--{dest}")
    return out


# --- module-level settings (nanoGPT train.py and its config/*.py overrides) -------------------


def module_settings(tree: ast.Module) -> dict[str, Located]:
    """Top-level `name = <literal>` assignments (the last one wins, as at run time)."""
    out: dict[str, Located] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            value_node: ast.expr | None = node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value_node = node.target, node.value
        else:
            continue
        if not isinstance(target, ast.Name):
            continue
        if value_node is None:
            continue
        try:
            out[target.id] = Located(ast.literal_eval(value_node), node.lineno, target.id)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            out.pop(target.id, None)  # rebound to something computed: no longer a literal
    return out


def local_bindings(body: list[ast.stmt], env: Env) -> None:
    """Bind `name = expr` statements of a block in order into env (evaluated, or Unknown)."""
    for node in body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                value = evaluate(node.value, env)
                env.names[target.id] = (
                    value if isinstance(value, Unknown) else Located(value, node.lineno, target.id)
                )
                if isinstance(value, Unknown) and not value.text:
                    env.names[target.id] = Unknown(ast.unparse(node.value), node.lineno)


# --- minGPT-style CfgNode defaults and tables of named sizes ---------------------------------


@dataclass
class AttrDefaults:
    """`C = CN(); C.n_layer = None; ...` inside a function: the function's dotted name (class
    qualified) and the attribute values it sets."""

    qualname: str
    line: int
    values: dict[str, Located] = field(default_factory=dict)


def _functions(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef]]:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef):
                    yield f"{node.name}.{sub.name}", sub


def attribute_defaults(tree: ast.Module, keys: frozenset[str]) -> list[AttrDefaults]:
    """Functions that build a config object by setting attributes, some of them in `keys`."""
    out: list[AttrDefaults] = []
    for qual, fn in _functions(tree):
        found = AttrDefaults(qual, fn.lineno)
        returned = {dotted(s.value) for s in ast.walk(fn) if isinstance(s, ast.Return)}
        for stmt in fn.body:
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
                continue
            t = stmt.targets[0]
            if not (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)):
                continue
            if t.value.id not in returned:
                continue
            try:
                value = ast.literal_eval(stmt.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
            found.values[t.attr] = Located(value, stmt.lineno, t.attr)
        if keys <= set(found.values):
            out.append(found)
    return out


@dataclass
class SizeTable:
    """`{"gpt-mini": dict(n_layer=6, n_head=6, n_embd=192), ...}`: named sizes in the source."""

    line: int
    entries: dict[str, dict[str, Located]] = field(default_factory=dict)
    selector: str | None = None  # the attribute indexing the table (`config.model_type`)


def _kv(node: ast.expr) -> dict[str, Located] | None:
    pairs: list[tuple[Any, ast.expr]]
    if isinstance(node, ast.Call) and dotted(node.func) == "dict" and not node.args:
        pairs = [(k.arg, k.value) for k in node.keywords]
    elif isinstance(node, ast.Dict):
        pairs = [
            (k.value if isinstance(k, ast.Constant) else None, v)
            for k, v in zip(node.keys, node.values, strict=True)
        ]
    else:
        return None
    out: dict[str, Located] = {}
    for k, v in pairs:
        if not isinstance(k, str):
            return None
        try:
            out[k] = Located(ast.literal_eval(v), v.lineno, k)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
    return out


def size_tables(tree: ast.Module, keys: frozenset[str]) -> list[SizeTable]:
    """Dict literals whose every value is a dict of sizes holding `keys`."""
    out: list[SizeTable] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Dict):
            table_node, selector = node.value, dotted(node.slice)
        elif isinstance(node, ast.Dict):
            table_node, selector = node, ""
        else:
            continue
        if len(table_node.keys) < 1 or any(
            not (isinstance(k, ast.Constant) and isinstance(k.value, str)) for k in table_node.keys
        ):
            continue
        entries: dict[str, dict[str, Located]] = {}
        for k, v in zip(table_node.keys, table_node.values, strict=True):
            kv = _kv(v)
            if kv is None or not keys <= set(kv):
                break
            assert isinstance(k, ast.Constant)
            entries[str(k.value)] = kv
        else:
            if any(t.line == table_node.lineno for t in out):  # the Subscript's dict again
                continue
            out.append(SizeTable(table_node.lineno, entries, selector.split(".")[-1] or None))
    return out


# --- signatures and calls -------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    default: Any  # a value, or Unknown("", line) when the parameter has no default
    line: int
    keyword_only: bool = False


def signature(fn: ast.FunctionDef | ast.AsyncFunctionDef, skip_self: bool) -> list[Param]:
    """Parameters of a def, with literal defaults (Unknown where none or not a literal)."""
    a = fn.args
    positional = [*a.posonlyargs, *a.args]
    if skip_self and positional:
        positional = positional[1:]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(
        a.defaults
    )
    if skip_self and len(defaults) > len(positional):
        defaults = defaults[-len(positional) :] if positional else []
    out: list[Param] = []
    env = Env()
    for p, d in zip(positional, defaults, strict=False):
        value = Unknown("", p.lineno) if d is None else evaluate(d, env)
        out.append(Param(p.arg, value, p.lineno))
    for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        value = Unknown("", p.lineno) if d is None else evaluate(d, env)
        out.append(Param(p.arg, value, p.lineno, keyword_only=True))
    return out


def init_of(cls: ast.ClassDef) -> ast.FunctionDef | None:
    return next(
        (n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None
    )


def method_of(cls: ast.ClassDef, name: str) -> ast.FunctionDef | None:
    return next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def bind(call: ast.Call, params: list[Param], env: Env) -> dict[str, tuple[Any, int]] | None:
    """Arguments of `call` by parameter name (value or Unknown, and the line setting it);
    parameters the call leaves out take their defaults. None when the call cannot bind."""
    out: dict[str, tuple[Any, int]] = {}
    positional = [p for p in params if not p.keyword_only]
    if len(call.args) > len(positional) or any(isinstance(a, ast.Starred) for a in call.args):
        return None
    for p, arg in zip(positional, call.args, strict=False):
        out[p.name] = (_value_or_unknown(arg, env), call.lineno)
    names = {p.name for p in params}
    for kw in call.keywords:
        if kw.arg is None or kw.arg not in names:
            return None
        out[kw.arg] = (_value_or_unknown(kw.value, env), call.lineno)
    for p in params:
        if p.name not in out:
            out[p.name] = (p.default, p.line)
    return out


def _value_or_unknown(node: ast.expr, env: Env) -> Any:
    value = evaluate(node, env)
    if isinstance(value, Unknown):
        hit = env.lookup(node)
        if isinstance(hit, Unknown):  # a name bound to a run-time value: point at its line
            return hit
        return Unknown(value.text or ast.unparse(node), value.line or node.lineno)
    return value
