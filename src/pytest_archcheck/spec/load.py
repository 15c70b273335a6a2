"""Read spec files into validated `Spec`s, turning every problem into a located `LoadProblem`.

A spec comes from a `*.archcheck.toml` file (tables [model] [train] [infer] [budget] [data]) or
from `[[tool.archcheck.model]]` entries in pyproject.toml (model keys at the top of the entry,
the other tables nested). Unknown keys are "unknown-key" problems with a suggestion and are
dropped, so that the rest of the spec is still checked; wrong values are "invalid-value"; a
file TOML cannot parse is "unparsable". The rules layer names them (ARC301, ARC302, ARC306:
`rules.load`); nothing here imports rules/, torch or user code.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..deps import note_file
from ..files import MAX_FILE_BYTES, SPEC_SUFFIX, display, special_kind
from .limits import Syntax, check_text
from .locate import Key, LazySourceMap, SourceMap, locate, split_lines
from .model import NESTED_KEYS, SETTINGS_KEYS, TABLE_KEYS, BudgetTable, DeviceTable, Settings, Spec
from .problems import LoadProblem, ProblemKind

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class LoadedSpec:
    """One model as read from disk: the validated spec (None when invalid) and where keys live."""

    path: str
    name: str
    spec: Spec | None
    source: SourceMap | LazySourceMap
    prefix: Key = ()
    problems: list[LoadProblem] = field(default_factory=list)
    settings: Settings | None = None
    root: Path | None = None
    # keys taken from an `extends` file and not overridden: (table, key) -> (file, line)
    inherited: dict[Key, tuple[str, int]] = field(default_factory=dict)
    # the Hugging Face config.json the model comes from (itself or through `extends`): the
    # probe builds the transformers class from it (probe/hf_class.py)
    hf_config: dict[str, Any] | None = None

    def origin_of(self, key: Key) -> str | None:
        """ "file:line" of a key inherited through `extends` (None for the spec's own keys)."""
        hit = self.inherited.get(tuple(key[:2]))
        return None if hit is None else f"{hit[0]}:{hit[1]}"

    def line_of(self, key: Key) -> int:
        """Line of a spec key such as ("budget", "memory"); model keys may omit the table."""
        if self.prefix:  # pyproject entry: model keys sit directly on the entry
            k = key[1:] if key and key[0] == "model" else key
            return self.source.line_of(self.prefix + tuple(k))
        return self.source.line_of(tuple(key))


def _problem(
    kind: ProblemKind, message: str, path: str, line: int, model: str | None, key: Key = ()
) -> LoadProblem:
    return LoadProblem(kind=kind, message=message, path=path, line=line, model=model, key=key)


def parse_toml(text: str, path: str) -> tuple[dict[str, Any] | None, LoadProblem | None]:
    """Parse TOML; a syntax error is an "unparsable" problem (ARC306) at the line tomllib names.
    Nesting and numbers beyond the input limits (spec/limits.py) are problems before parsing."""
    over = check_text(text, path, "toml")
    if over is not None:
        return None, over
    try:
        return tomllib.loads(text), None
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_from_message(str(exc), text)
        msg = getattr(exc, "msg", None) or str(exc)
        # An error at the end of the document is placed after the final newline by some
        # parsers (tomli >= 2.1) and named so by others (tomllib): blame the last line that
        # exists and say the same thing whichever parser runs.
        last = max(1, len(split_lines(text)))
        if line > last and "end of document" not in msg:
            msg = f"{msg} (at end of document)"
        line = max(1, min(line, last))
        return None, _problem("unparsable", f"TOML syntax error: {msg}", path, line, None)
    except (RecursionError, ValueError, MemoryError) as exc:  # a limit the scan missed
        return None, _problem(
            "unparsable", f"TOML the parser cannot read ({type(exc).__name__})", path, 1, None
        )


def _line_from_message(msg: str, text: str = "") -> int:
    import re

    m = re.search(r"line (\d+)", msg)
    if m:
        return int(m.group(1))
    # "(at end of document)": the last line of the file, not line 1
    return max(1, len(split_lines(text))) if "end of document" in msg else 1


def _suggest(key: str, table: str | None) -> str:
    """A "did you mean" for an unknown key: a close key in this table, else in another table."""
    here = TABLE_KEYS.get(table, frozenset()) if table else frozenset()
    close = difflib.get_close_matches(key, sorted(here), n=1, cutoff=0.6)
    if close:
        return f"; did you mean `{close[0]}`?"
    homes = [f"[{other}]" for other, keys in TABLE_KEYS.items() if key in keys and other != table]
    if homes:
        return f"; `{key}` belongs in {' or '.join(homes)}"
    elsewhere = {k: t for t, keys in TABLE_KEYS.items() if t != table for k in keys}
    close = difflib.get_close_matches(key, sorted(elsewhere), n=1, cutoff=0.75)
    if close:
        return f"; did you mean `{elsewhere[close[0]]}.{close[0]}`?"
    return ""


def _strip_unknown(
    raw: Mapping[str, Any], loaded: LoadedSpec, model: str | None
) -> dict[str, dict[str, Any]]:
    """Split a raw spec into its tables, reporting and dropping unknown keys (ARC301)."""
    tables: dict[str, dict[str, Any]] = {}
    for raw_table, value in raw.items():
        table = str(raw_table)  # YAML keys may be ints, booleans or null
        if table not in TABLE_KEYS:
            line = loaded.line_of((table,))
            close = difflib.get_close_matches(table, sorted(TABLE_KEYS), n=1, cutoff=0.6)
            hint = f"; did you mean [{close[0]}]?" if close else ""
            loaded.problems.append(
                _problem(
                    "unknown-key",
                    f"unknown table [{table}]{hint}",
                    loaded.path,
                    line,
                    model,
                    (table,),
                )
            )
            continue
        if not isinstance(value, dict):
            loaded.problems.append(
                _problem(
                    "invalid-value",
                    f"[{table}] must be a table, got {type(value).__name__}",
                    loaded.path,
                    loaded.line_of((table,)),
                    model,
                )
            )
            continue
        kept: dict[str, Any] = {}
        for raw_key, v in value.items():
            key = str(raw_key)
            if key in TABLE_KEYS[table]:
                kept[key] = _strip_nested(table, key, v, loaded, model)
            else:
                loaded.problems.append(
                    _problem(
                        "unknown-key",
                        f"unknown key `{table}.{key}`{_suggest(key, table)}",
                        loaded.path,
                        loaded.line_of((table, key)),
                        model,
                        (table, key),
                    )
                )
        tables[table] = kept
    return tables


def _strip_nested(table: str, key: str, value: Any, loaded: LoadedSpec, model: str | None) -> Any:
    """Unknown keys of a nested table ([train.parallel]) are ARC301 at their own line too."""
    known = NESTED_KEYS.get((table, key))
    if known is None or not isinstance(value, dict):
        return value
    kept: dict[str, Any] = {}
    for raw_sub, v in value.items():
        sub = str(raw_sub)
        if sub in known:
            kept[sub] = v
            continue
        close = difflib.get_close_matches(sub, sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        loaded.problems.append(
            _problem(
                "unknown-key",
                f"unknown key `{table}.{key}.{sub}`{hint}",
                loaded.path,
                loaded.line_of((table, key, sub)),
                model,
                (table, key, sub),
            )
        )
    return kept


def _validate(
    tables: dict[str, dict[str, Any]], loaded: LoadedSpec, model: str | None
) -> Spec | None:
    """Validate with pydantic; each error becomes ARC302 (ARC304 for cross-key dimension checks)."""
    if not _resolve_span(tables, loaded):
        return None
    devices = loaded.settings.project_devices if loaded.settings else {}
    missing = _required_placeholders(tables, loaded, model)
    try:
        spec = Spec.model_validate(tables, context={"devices": devices})
        if loaded.hf_config is not None:
            spec.attach_hf_config(loaded.hf_config)
    except ValidationError as exc:
        by_key: dict[tuple[str, ...], tuple[list[str], str]] = {}
        for err in exc.errors(include_url=False):
            loc = tuple(str(p) for p in err["loc"] if not isinstance(p, int))
            # pydantic appends the union member tried ("int", "str", ...) and "function-after"
            # markers to the location; keep table.key only.
            loc = loc[:3] if loc[:2] == ("train", "parallel") else loc[:2]
            msg = err["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            if not loc:  # a model-level validator: inconsistent dimensions
                key = _key_in_message(msg)
                loaded.problems.append(
                    _problem(
                        "inconsistent-dimensions", msg, loaded.path, loaded.line_of(key), model
                    )
                )
                continue
            # a union (`int | list[int]`, `str | LengthStats`) fails once per member: one
            # finding per key, its reasons joined, showing the value the user wrote
            msgs, got_s = by_key.setdefault(loc, ([], _shown_value(tables, loc)))
            if msg not in msgs:
                msgs.append(msg)
        for loc, (msgs, got_s) in by_key.items():
            loaded.problems.append(
                _problem(
                    "invalid-value",
                    f"`{'.'.join(loc)}`: {'; or '.join(msgs)}{got_s}",
                    loaded.path,
                    loaded.line_of(loc),
                    model,
                )
            )
        return None
    return None if missing else spec


REQUIRED_PREFIX = "required:"


def _required_placeholders(
    tables: dict[str, dict[str, Any]], loaded: LoadedSpec, model: str | None
) -> bool:
    """`key = "required: what to supply"` (written by `archcheck init` where the source has no
    value: a None default, a size read from the data at run time) is reported as what to supply,
    and taken out of the tables so that the other keys are still validated. The spec stays
    invalid: a figure computed from a default in its place would be a silent wrong number."""
    found = False
    for table, values in tables.items():
        if not isinstance(values, dict):
            continue
        for key, value in list(values.items()):
            if isinstance(value, str) and value.lower().startswith(REQUIRED_PREFIX):
                what = value[len(REQUIRED_PREFIX) :].strip()
                where = loaded.inherited.get((table, key))  # from an `extends` file: its line
                path, line = where or (loaded.path, loaded.line_of((table, key)))
                loaded.problems.append(
                    _problem(
                        "invalid-value",
                        f"`{table}.{key}` is required and has no value: {what}",
                        path,
                        line,
                        model,
                        (table, key),
                    )
                )
                del values[key]
                found = True
    return found


def _shown_value(tables: Mapping[str, Any], loc: tuple[str, ...]) -> str:
    """` (got 'value')` for the value the user wrote at `table.key`, when it is short."""
    node: Any = tables
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            return ""
        node = node[part]
    if len(loc) < 2:
        return ""
    value = node
    if not _small(value):  # a YAML alias bomb or a cyclic value: its repr would never finish
        return ""
    got = repr(value)
    return f" (got {got})" if len(got) <= 80 else ""


def _small(value: Any, limit: int = 100) -> bool:
    """Whether `value` holds at most `limit` items in all, counting shared ones each time."""
    stack, seen = [value], 0
    while stack:
        v = stack.pop()
        seen += 1
        if seen > limit:
            return False
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
    return True


def _key_in_message(msg: str) -> Key:
    import re

    m = re.search(r"\b(model|train|infer|budget|data)\.([a-z_]+)(?:\.([a-z_]+))?", msg)
    if m and m.group(3):  # a nested table's key: train.parallel.tp
        return (m.group(1), m.group(2), m.group(3))
    return (m.group(1), m.group(2)) if m else ("model",)


def _merge_defaults(tables: dict[str, dict[str, Any]], settings: Settings | None) -> None:
    """Project-wide [tool.archcheck] budget defaults and device, under the spec's own values."""
    if settings is None:
        return
    budget = tables.setdefault("budget", {})
    for k, v in settings.budget.items():
        if k in TABLE_KEYS["budget"]:
            budget.setdefault(k, v)
    if settings.device is not None:
        budget.setdefault("device", settings.device)


def load_spec_text(
    text: str, path: str, settings: Settings | None = None, root: Path | None = None
) -> LoadedSpec:
    """Load one `*.archcheck.toml` document."""
    source = LazySourceMap(text)
    default_name = Path(path).name.removesuffix(SPEC_SUFFIX).removesuffix(".toml")
    loaded = LoadedSpec(
        path=path, name=default_name, spec=None, source=source, settings=settings, root=root
    )
    raw, err = parse_toml(text, path)
    if err is not None:
        loaded.problems.append(err)
        return loaded
    assert raw is not None
    if not raw:  # nothing but blank lines and comments: say so, not "needs a vocab size"
        what = "empty" if not text.strip() else "empty (comments only)"
        loaded.problems.append(
            _problem("unparsable", f"the spec file is {what}: write at least a [model] table",
                     path, 1, None)
        )  # fmt: skip
        return loaded
    model_table = raw.get("model")
    if isinstance(model_table, dict) and isinstance(model_table.get("name"), str):
        loaded.name = model_table["name"]
    if isinstance(model_table, dict) and isinstance(model_table.get("extends"), str):
        raw = _extend(raw, model_table["extends"], loaded, text)
    tables = _strip_unknown(raw, loaded, loaded.name)
    if any(p.kind == "invalid-value" for p in loaded.problems):  # a table that is not a table
        return loaded
    tables.setdefault("model", {}).setdefault("name", loaded.name)
    _merge_defaults(tables, settings)
    loaded.spec = _validate(tables, loaded, loaded.name)
    return loaded


def _resolve_span(tables: dict[str, dict[str, Any]], loaded: LoadedSpec) -> bool:
    """`[budget] span = "p50" | "p90"`: replace the percentile's name with its value measured
    from `[data] span_source` (span.py), so every rule sees a number. False (and an ARC302 at
    the key) when there is no number to take: never a guessed span."""
    budget, data = tables.get("budget", {}), tables.get("data", {})
    which = budget.get("span") if isinstance(budget, dict) else None
    if not isinstance(which, str):
        return True
    from ..span import SpanError, declared_span

    source = data.get("span_source") if isinstance(data, dict) else None
    window = data.get("span_window") if isinstance(data, dict) else None
    try:
        if not isinstance(source, str):
            raise SpanError(
                f"span = {which!r} is measured from data: add `[data] span_source = "
                '"series.npy"` (a series file or `archcheck span --format json` output)'
            )
        base = Path(loaded.path).parent
        budget["span"] = declared_span(
            which, source, base, loaded.root, window if isinstance(window, int) else None
        )
    except SpanError as exc:
        key = ("budget", "span")
        loaded.problems.append(
            _problem(
                "invalid-value",
                f"`budget.span`: {exc}",
                loaded.path,
                loaded.line_of(key),
                loaded.name,
                key=key,
            )
        )
        return False
    return True


def read_project_settings(pp: Path) -> tuple[dict[str, Any] | None, Settings | None]:
    """A pyproject.toml parsed, and its validated [tool.archcheck] (None where unreadable or
    absent), for commands that only need the project's settings; its problems are left to
    `archcheck check`."""
    try:
        text = pp.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None, None
    raw, _ = parse_toml(text, str(pp))
    if raw is None:
        return None, None
    if pp.name != "pyproject.toml":  # archcheck.toml: the same keys at the top level
        raw = {"tool": {"archcheck": raw}}
    return raw, load_settings(raw, str(pp), locate(text))[0]


def load_settings(
    raw: Mapping[str, Any], path: str, source: SourceMap
) -> tuple[Settings | None, list[LoadProblem]]:
    """Validate [tool.archcheck]; unknown keys are ARC301, bad values ARC302."""
    problems: list[LoadProblem] = []
    tool = raw.get("tool")
    section = tool.get("archcheck") if isinstance(tool, dict) else None
    if section is None:
        return None, problems
    if not isinstance(section, dict):
        return None, [
            _problem(
                "invalid-value",
                "[tool.archcheck] must be a table",
                path,
                source.line_of(("tool", "archcheck")),
                None,
            )
        ]
    clean: dict[str, Any] = {}
    for key, value in section.items():
        if key in SETTINGS_KEYS:
            clean[key] = value
            continue
        close = difflib.get_close_matches(key, sorted(SETTINGS_KEYS), n=1, cutoff=0.6)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        problems.append(
            _problem(
                "unknown-key",
                f"unknown key `tool.archcheck.{key}`{hint}",
                path,
                source.line_of(("tool", "archcheck", key)),
                None,
            )
        )
    devices: dict[str, Any] = {}
    if "devices" in clean:  # first: `device = "NAME"` may name one of them
        clean["devices"], devices = _project_devices(clean["devices"], path, source, problems)
    if isinstance(clean.get("budget"), dict):
        clean["budget"] = _check_budget_defaults(clean["budget"], path, source, problems, devices)
    for key in ("select", "ignore"):
        codes = clean.get(key)
        if isinstance(codes, list):
            bad = [c for c in codes if isinstance(c, str) and not _is_code_prefix(c)]
            if bad:  # `select = ["ARC1O1"]` would select nothing and pass every check
                problems.append(
                    _problem(
                        "invalid-value",
                        f"`tool.archcheck.{key}`: {bad[0]!r} is no rule code or prefix of one",
                        path,
                        source.line_of(("tool", "archcheck", key)),
                        None,
                    )
                )
                clean[key] = [c for c in codes if c not in bad]
    specs = clean.get("specs")
    if isinstance(specs, list):
        bad = [s for s in specs if isinstance(s, str) and (not s.strip() or Path(s).is_absolute())]
        if bad:  # Path.glob rejects both; say so here, at the line, instead of crashing later
            problems.append(
                _problem(
                    "invalid-value",
                    f"`tool.archcheck.specs`: globs must be non-empty and relative to the "
                    f"project root (got {bad[0]!r})",
                    path,
                    source.line_of(("tool", "archcheck", "specs")),
                    None,
                )
            )
            clean["specs"] = [s for s in specs if s not in bad]
    try:
        settings = Settings.model_validate(clean, context={"devices": devices})
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = tuple(str(p) for p in err["loc"])[:1]
            problems.append(
                _problem(
                    "invalid-value",
                    f"`tool.archcheck.{'.'.join(loc)}`: {err['msg'].removeprefix('Value error, ')}",
                    path,
                    source.line_of(("tool", "archcheck", *loc)),
                    None,
                )
            )
        return None, problems
    return settings, problems


def _project_devices(
    devices: object, path: str, source: SourceMap, problems: list[LoadProblem]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate each `[tool.archcheck.devices.NAME]`: (the tables kept, name -> Device).
    A bad value or a taken name is ARC302 at its line, and that device is dropped."""
    from ..formulas.devices import Device, DeviceConflictError, check_project_device

    where = ("tool", "archcheck", "devices")
    if not isinstance(devices, dict):
        problems.append(
            _problem("invalid-value", "`tool.archcheck.devices` must be a table of device tables",
                     path, source.line_of(where), None)
        )  # fmt: skip
        return {}, {}
    kept: dict[str, Any] = {}
    built: dict[str, Device] = {}
    for name, table in devices.items():
        line = source.line_of((*where, name))
        try:
            t = DeviceTable.model_validate(table)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = ".".join(str(p) for p in err["loc"][:1])
                key_line = source.line_of((*where, name, *err["loc"][:1]))
                msg = err["msg"].removeprefix("Value error, ")
                problems.append(
                    _problem("invalid-value", f"`tool.archcheck.devices.{name}{'.' + loc if loc else ''}`"
                             f": {msg}", path, key_line, None)
                )  # fmt: skip
            continue
        rates = {"fp32": t.fp32, "tf32": t.tf32, "bf16": t.bf16, "fp16": t.fp16}
        device = Device(
            name=name,
            memory_bytes=t.memory,
            bandwidth=t.bandwidth,
            peak_flops={k: v for k, v in rates.items() if v is not None},
            source=t.source or f"{path} [tool.archcheck.devices.{name}]",
            aliases=tuple(t.aliases),
            op_overhead_s=t.op_overhead,
            gemm_half_flops=t.gemm_half_flops,
            gemm_half_rows=t.gemm_half_rows,
            llc_bytes=t.llc,
            llc_bandwidth=t.llc_bandwidth,
            conv_start_s=t.conv_start_up,
            conv_flops=t.conv_rate,
        )
        try:
            check_project_device(device, built)
        except DeviceConflictError as exc:
            problems.append(
                _problem(
                    "invalid-value", f"`tool.archcheck.devices.{name}`: {exc}", path, line, None
                )
            )
            continue
        kept[name], built[name] = table, device
    return kept, built


def _is_code_prefix(code: str) -> bool:
    from ..codes import RULE_CODES  # the light list: spec/ imports nothing from rules/

    return bool(code) and any(r.startswith(code) for r in RULE_CODES)


def _check_budget_defaults(
    budget: Mapping[str, Any],
    path: str,
    source: SourceMap,
    problems: list[LoadProblem],
    devices: Mapping[str, Any],
) -> dict[str, Any]:
    """[tool.archcheck.budget] defaults: report unknown keys and bad values at their pyproject
    line (not at every spec that would inherit them), and keep only the valid ones."""
    good: dict[str, Any] = {}
    for key, value in budget.items():
        where = source.line_of(("tool", "archcheck", "budget", key))
        if key not in TABLE_KEYS["budget"]:
            problems.append(
                _problem(
                    "unknown-key",
                    f"unknown key `tool.archcheck.budget.{key}`{_suggest(key, 'budget')}",
                    path,
                    where,
                    None,
                )
            )
            continue
        try:
            BudgetTable.model_validate({key: value}, context={"devices": devices})
        except ValidationError as exc:
            msg = "; or ".join(
                dict.fromkeys(
                    e["msg"].removeprefix("Value error, ") for e in exc.errors(include_url=False)
                )
            )
            problems.append(
                _problem(
                    "invalid-value",
                    f"`tool.archcheck.budget.{key}`: {msg} (got {value!r})",
                    path,
                    where,
                    None,
                )
            )
            continue
        good[key] = value
    return good


def load_pyproject(
    text: str, path: str
) -> tuple[Settings | None, list[LoadedSpec], list[LoadProblem]]:
    """Settings and inline `[[tool.archcheck.model]]` specs of one pyproject.toml, or of an
    archcheck.toml (the same keys at the top level, as ruff.toml holds [tool.ruff]'s)."""
    source = locate(text)
    raw, err = parse_toml(text, path)
    if err is not None:
        return None, [], [err]
    assert raw is not None
    if Path(path).name != "pyproject.toml":  # archcheck.toml, or a --config file like it
        raw = {"tool": {"archcheck": raw}}
        source.lines = {("tool", "archcheck", *k): v for k, v in source.lines.items()}
    settings, problems = load_settings(raw, path, source)
    specs: list[LoadedSpec] = []
    tool = raw.get("tool")
    entries = tool.get("archcheck", {}) if isinstance(tool, dict) else {}
    entries = entries.get("model", []) if isinstance(entries, dict) else []
    if not isinstance(entries, list):
        return settings, specs, problems
    root = Path(path).resolve().parent
    for i, entry in enumerate(entries):
        prefix: Key = ("tool", "archcheck", "model", i)
        name = entry.get("name") if isinstance(entry, dict) else None
        loaded = LoadedSpec(
            path=path,
            name=name if isinstance(name, str) else f"model[{i}]",
            spec=None,
            source=source,
            prefix=prefix,
            settings=settings,
            root=root,
        )
        if not isinstance(entry, dict):
            loaded.problems.append(
                _problem(
                    "invalid-value",
                    "each [[tool.archcheck.model]] must be a table",
                    path,
                    source.line_of(prefix),
                    None,
                )
            )
            specs.append(loaded)
            continue
        nested = {k: entry[k] for k in TABLE_KEYS if k != "model" and k in entry}
        model_keys = {k: v for k, v in entry.items() if k not in nested}
        raw_entry: dict[str, Any] = {"model": model_keys, **nested}
        if isinstance(model_keys.get("extends"), str):
            where = loaded.line_of(("model", "extends"))
            raw_entry = _merge_extended(raw_entry, model_keys["extends"], root, loaded, where)
        tables = _strip_unknown(raw_entry, loaded, loaded.name)
        if any(p.kind == "invalid-value" for p in loaded.problems):  # a table that is not a table
            specs.append(loaded)
            continue
        tables.setdefault("model", {}).setdefault("name", loaded.name)
        _merge_defaults(tables, settings)
        loaded.spec = _validate(tables, loaded, loaded.name)
        specs.append(loaded)
    return settings, specs, problems


# --- adapted sources: config.json, YAML, Python config classes ----------------------------------


def _adapter_problem(exc: Any, path: str, model: str | None) -> LoadProblem:
    return _problem(exc.kind, exc.message, path, exc.line, model)


def _extend(raw: dict[str, Any], ref: str, loaded: LoadedSpec, text: str) -> dict[str, Any]:
    """`[model] extends = "config.json"`: the adapted tables, overridden key by key by the spec.

    The path is relative to the spec file. Keys taken from the extended file are located at the
    `extends` line; a problem inside that file (unparsable, unsupported model type) is reported
    at its own path and line.
    """
    source = locate(text)
    loaded.source = source
    where = source.line_of(("model", "extends"))
    merged = _merge_extended(raw, ref, Path(loaded.path).parent, loaded, where)
    for table, values in merged.items():
        if isinstance(values, dict):
            for key in values:
                source.lines.setdefault((table, key), where)
    return merged


EXTENDS_DEPTH = 8  # a chain of `extends` longer than this is a mistake, not a design


def _merge_extended(
    raw: dict[str, Any],
    ref: str,
    base: Path,
    loaded: LoadedSpec,
    where: int,
    chain: tuple[Path, ...] = (),
) -> dict[str, Any]:
    """The tables `ref` adapts to (relative to `base`), updated key by key with `raw`'s.

    A TOML file may itself extend another (a base spec, then a config.json): the chain is
    followed up to EXTENDS_DEPTH files, each relative to the file that names it; a cycle is
    ARC302. Problems stay at the spec's `extends` line (`where`) and name the file that
    holds the broken reference."""
    from ..adapters import AdapterError, split_ref

    file_part, select = split_ref(ref)
    via = f" (in {display(chain[-1])})" if chain else ""
    if "\x00" in file_part or not file_part.strip():
        why = "contains a NUL byte" if "\x00" in file_part else "is empty"
        loaded.problems.append(
            _problem("invalid-value", f"`model.extends`: the path {why}{via}", loaded.path,
                     where, loaded.name)
        )  # fmt: skip
        return raw
    target = Path(file_part)
    if not target.is_absolute():
        target = base / target
    resolved = Path(os.path.abspath(target))
    if resolved in chain or len(chain) >= EXTENDS_DEPTH:
        why = "extends itself" if resolved in chain else f"is more than {EXTENDS_DEPTH} files deep"
        loaded.problems.append(
            _problem("invalid-value", f"`model.extends`: {ref!r}{via} {why}: "
                     + " -> ".join(c.name for c in (*chain, resolved)), loaded.path, where,
                     loaded.name)
        )  # fmt: skip
        return raw
    note_file(target)
    try:
        st = os.stat(target)
        kind = special_kind(st.st_mode)
        if kind is not None and kind != "directory":
            # /dev/zero, a FIFO: reading would never end
            raise OSError(0, f"not a regular file ({kind})")
        if st.st_size > MAX_FILE_BYTES:
            raise OSError(0, f"{st.st_size:,} bytes, over the limit of {MAX_FILE_BYTES:,}")
        text = target.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = (
            exc.strerror or str(exc)
            if isinstance(exc, OSError)
            else "not UTF-8 text"
            if isinstance(exc, UnicodeDecodeError)
            else str(exc)
        )
        loaded.problems.append(
            _problem("invalid-value", f"`model.extends`: cannot read {ref!r}{via}: {reason}",
                     loaded.path, where, loaded.name)
        )  # fmt: skip
        return raw
    shown = display(os.path.normpath(target))  # bases/../hf/config.json -> hf/config.json
    try:
        if target.suffix.lower() == ".toml":
            base_tables, err = parse_toml(text, shown)
            if err is not None:
                loaded.problems.append(err)
                return raw
            assert base_tables is not None
            tables: dict[str, Any] = base_tables
            adapted_lines: dict[Key, int] = {}
            deeper = tables.get("model", {}) if isinstance(tables.get("model"), dict) else {}
            from ..adapters.torchtitan import adapt_torchtitan, looks_like_torchtitan

            if looks_like_torchtitan(tables):  # a torchtitan job file, not a spec
                adapted = adapt_torchtitan(tables, locate(text).lines)
                tables, adapted_lines, deeper = adapted.tables, adapted.lines, {}
            if isinstance(deeper.get("extends"), str):  # a base that extends in turn
                tables = _merge_extended(
                    tables, deeper["extends"], target.parent, loaded, where, (*chain, resolved)
                )
        else:
            adapted = adapt_checked(text, shown, select)
            if adapted.rederive is not None:
                # sizes the spec overrides feed what the config derives from them (llama2.c's
                # FFN width from dim): read the config again with the spec's values
                overrides = {
                    (table, key): value
                    for table, values in raw.items() if isinstance(values, dict)
                    for key, value in values.items()
                }  # fmt: skip
                if overrides:
                    adapted = adapted.rederive(overrides)
            tables, adapted_lines = adapted.tables, adapted.lines
            _keep_hf_config(loaded, adapted, text, target)
    except AdapterError as exc:
        loaded.problems.append(_adapter_problem(exc, shown, loaded.name))
        return raw
    lines = adapted_lines or (locate(text).lines if target.suffix.lower() == ".toml" else {})
    merged: dict[str, Any] = {}
    for table, values in tables.items():
        merged[table] = dict(values) if isinstance(values, dict) else values
        if isinstance(values, dict):
            for key in values:
                own = isinstance(raw.get(table), dict) and key in raw[table]
                if own:  # written here: not inherited, whatever a deeper file said
                    loaded.inherited.pop((table, key), None)
                elif (table, key) not in loaded.inherited or (table, key) in lines:
                    # the nearest file that writes the key is where it comes from
                    loaded.inherited[(table, key)] = (shown, lines.get((table, key), 1))
    if isinstance(merged.get("model"), dict):
        merged["model"].pop("name", None)  # the spec's name (or its file stem) names the model
    for table, values in raw.items():
        if isinstance(values, dict) and isinstance(merged.get(table), dict):
            for key, value in values.items():
                below = merged[table].get(key)
                if (
                    (table, key) in NESTED_KEYS
                    and isinstance(value, dict)
                    and isinstance(below, dict)
                ):  # [train.parallel]: key by key, as the tables themselves
                    merged[table][key] = below | value
                else:
                    merged[table][key] = value
        else:
            merged[table] = values
    return merged


_SYNTAX: dict[str, Syntax] = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}


def _keep_hf_config(loaded: LoadedSpec, adapted: Any, text: str, path: Path) -> None:
    """Remember a Hugging Face config.json's own keys for the probe, which builds the real
    transformers class from them (the adapter's spec tables describe its shapes only)."""
    if adapted.kind == "hf" and path.suffix.lower() == ".json":
        import json

        with contextlib.suppress(ValueError, RecursionError):
            cfg = json.loads(text)
            loaded.hf_config = cfg if isinstance(cfg, dict) else None


def adapt_checked(text: str, path: str, select: str | None = None) -> Any:
    """`adapters.adapt_text`, with the input limits checked first (spec/limits.py) and a
    parser that still gives up (recursion, a number Python refuses) turned into ARC306."""
    from ..adapters import AdapterError, adapt_text

    syntax = _SYNTAX.get(Path(path).suffix.lower())
    over = check_text(text, path, syntax) if syntax else None
    if over is not None:
        raise AdapterError("ARC306" if over.kind == "unparsable" else "ARC302", over.message,
                           over.line)  # fmt: skip
    try:
        return adapt_text(text, path, select)
    except (RecursionError, MemoryError, ValueError) as exc:  # a limit the scan missed
        raise AdapterError(
            "ARC306", f"the parser cannot read this file ({type(exc).__name__})"
        ) from None


def load_adapted_text(
    text: str, path: str, settings: Settings | None = None, root: Path | None = None
) -> LoadedSpec:
    """Load a Hugging Face config.json, a YAML recipe or a Python config class as a spec."""
    from ..adapters import AdapterError, default_name, split_ref

    file_part, select = split_ref(path)
    loaded = LoadedSpec(
        path=file_part, name=default_name(file_part), spec=None, source=SourceMap(),
        settings=settings, root=root,
    )  # fmt: skip
    try:
        adapted = adapt_checked(text, file_part, select)
    except AdapterError as exc:
        loaded.problems.append(_adapter_problem(exc, file_part, None))
        return loaded
    loaded.name = default_name(file_part, adapted)
    _keep_hf_config(loaded, adapted, text, Path(file_part))
    assert isinstance(loaded.source, SourceMap)
    loaded.source.lines.update(adapted.lines)
    tables = _strip_unknown(adapted.tables, loaded, loaded.name)
    if any(p.kind == "invalid-value" for p in loaded.problems):
        return loaded
    model = tables.setdefault("model", {})
    model.setdefault("name", loaded.name)
    loaded.name = model["name"] if isinstance(model["name"], str) else loaded.name
    _merge_defaults(tables, settings)
    loaded.spec = _validate(tables, loaded, loaded.name)
    return loaded


def load_spec_file(
    text: str, path: str, settings: Settings | None = None, root: Path | None = None
) -> LoadedSpec:
    """Load any spec source by its suffix: TOML specs, or an adapted config (json/yaml/py)."""
    from ..adapters import is_adaptable

    if not path.endswith(".toml") and is_adaptable(path):
        return load_adapted_text(text, path, settings, root)
    return load_spec_text(text, path, settings, root)
