"""`archcheck` command line (DESIGN.md §5). Exit codes: 0 clean, 1 findings, 2 usage/config error.

Static verbs (check without --probe, estimate, advise, rule, schema) import no torch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .findings import ArchcheckError

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
EXIT_NOTHING = 5  # `check` found nothing to check (pytest's "no tests collected")

LOOKED_FOR = (
    "*.archcheck.toml specs, [[tool.archcheck.model]] entries and [tool.archcheck] specs globs "
    "in pyproject.toml, and @pytest_archcheck.model factories"
)


class _Parser(argparse.ArgumentParser):
    # Set on a top-level parser built for `check` alone (build_parser(check_only=True)): on a
    # usage error the full parser parses the same arguments again, so that the message and
    # usage line are exactly those of the full parser.
    retry: Sequence[str] | None = None

    def error(self, message: str) -> Any:  # argparse exits 2 on usage errors, as we want
        if self.retry is not None:
            build_parser().parse_args(self.retry)
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def _positive(value: str) -> int:
    """An int >= 1 (sequence lengths, batch sizes, spans, heads): 0 and negatives are usage
    errors, not numbers the formulas should divide by."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def probe_memory(value: str) -> int:
    """`--probe-memory` / `archcheck_probe_memory`: a size ("8 GiB"), or "none" for no cap
    (returned as 0). Shared with the pytest plugin."""
    from .units import UnitError, parse_bytes

    if value.strip().lower() in ("none", "0", "off"):
        return 0
    try:
        n = parse_bytes(value)
    except UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if n < 2**28:  # the interpreter and torch alone need more address space than 256 MiB
        raise argparse.ArgumentTypeError(f"must be at least 256 MiB (or 'none'), got {value!r}")
    return n


def _seconds(value: str) -> float:
    """`--probe-timeout`: a positive, finite number of seconds."""
    import math

    try:
        t = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {value!r}") from None
    if not (t > 0 and math.isfinite(t)):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {value!r}")
    return t


def _isolation_args(parser: argparse.ArgumentParser) -> None:
    """The isolated child's limits (docs/isolation.md), on `check` and `probe`."""
    parser.add_argument(
        "--probe-timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="seconds one model's isolated run may take before it becomes ARC303 (default 600)",
    )
    parser.add_argument(
        "--probe-memory",
        type=probe_memory,
        default=None,
        metavar="SIZE",
        help="address-space cap of each model's isolated run, e.g. '16 GiB', or 'none' "
        "(default: the machine's physical memory; never applied on cuda)",
    )


def _codes(value: str) -> list[str]:
    from .codes import RULE_CODES

    codes = [c.strip().upper() for c in value.split(",") if c.strip()]
    unknown = [c for c in codes if not any(r.startswith(c) for r in RULE_CODES)]
    if unknown:  # a typo would otherwise select nothing and report "All checks passed!"
        raise argparse.ArgumentTypeError(
            f"{unknown[0]!r} is no rule code or prefix of one (see `archcheck rule`)"
        )
    return codes


def build_parser(check_only: bool = False) -> argparse.ArgumentParser:
    """The `archcheck` parser; `check_only`: with the `check` verb alone, for `main` when the
    command line is a `check` (the pre-commit hook's): the other verbs' parsers import their
    modules and cost more than a warm check of a small repository."""
    p = _Parser(
        prog="archcheck", description="Budgets for PyTorch architectures: memory, latency, span."
    )
    p.add_argument("-V", "--version", action="version", version=f"archcheck {__version__}")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show the log on stderr (what the user's model printed while it was built)",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    c = sub.add_parser("check", help="lint spec files (static unless --probe)")
    c.add_argument("paths", nargs="*", default=["."])
    c.add_argument(
        "--probe", action="store_true", help="also build models and measure (needs torch)"
    )
    c.add_argument("--device", choices=["fake", "cpu", "cuda"], default=None)
    _isolation_args(c)
    c.add_argument("--format", choices=["full", "concise", "json", "sarif", "github"], default=None)
    c.add_argument("--select", type=_codes, default=[], help="comma-separated codes or prefixes")
    c.add_argument("--ignore", type=_codes, default=[], help="comma-separated codes or prefixes")
    c.add_argument(
        "--extend-select",
        type=_codes,
        default=[],
        help="codes or prefixes to enable on top of the selected ones (pyproject's, or all)",
    )
    c.add_argument(
        "--statistics",
        action="store_true",
        help="print the number of findings per rule code instead of the findings",
    )
    c.add_argument(
        "-q", "--quiet", action="store_true", help="print the findings only, no summary line"
    )
    c.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour the full/concise output (auto: on a terminal, unless NO_COLOR is set; "
        "FORCE_COLOR forces it)",
    )
    c.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even when findings are reported"
    )
    c.add_argument("--output-file", type=Path, default=None)
    c.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="the config (pyproject.toml with [tool.archcheck], or archcheck.toml) that governs "
        "every spec, instead of the nearest one",
    )
    c.add_argument(
        "--dependents-only",
        action="store_true",
        help="a named file that is not a spec (*.archcheck.toml, pyproject.toml, "
        "archcheck.toml) only stands for the specs that read it; one no spec reads is skipped "
        "(the pre-commit hook)",
    )
    c.add_argument(
        "--force-exclude",
        action="store_true",
        help="apply exclude, extend-exclude and .gitignore to files named on the command line "
        "too (for pre-commit, which names files itself)",
    )
    c.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the log, and say what was skipped (special files such as FIFOs named like "
        "specs)",
    )
    c.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        help="worker processes: with --probe, the probe pool's isolated workers (default 2 on "
        "2+ cores); static, the checking processes (default: one per core for 200+ files)",
    )
    c.add_argument(
        "-n",
        "--no-cache",
        action="store_true",
        help="check (and with --probe, measure) every file afresh and leave the cache alone",
    )
    c.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where the cache lives (default .archcheck_cache, or $ARCHCHECK_CACHE_DIR)",
    )
    if check_only:  # check has its own -v: nothing to add below
        return p

    e = sub.add_parser("estimate", help="formula report for one spec")
    e.add_argument("spec")
    e.add_argument("--n", type=_positive, default=None)
    e.add_argument("--batch", type=_positive, default=None)
    e.add_argument(
        "--target",
        choices=["cpu", "cuda"],
        default=None,
        help='kernel semantics to model (default: cpu if [budget] device = "cpu", else cuda)',
    )
    e.add_argument("--format", choices=["text", "json"], default="text")

    pr = sub.add_parser("probe", help="measure one spec (needs torch)")
    pr.add_argument("spec")
    pr.add_argument("--device", choices=["fake", "cpu", "cuda"], default="fake")
    pr.add_argument("--n", type=_positive, default=None)
    pr.add_argument("--batch", type=_positive, default=None)
    pr.add_argument("--latency", action="store_true", help="also time inference (cpu/cuda)")
    pr.add_argument(
        "--target",
        choices=["cpu", "cuda"],
        default=None,
        help="kernel semantics the fake probe emulates (default: the spec's, as estimate)",
    )
    pr.add_argument(
        "--isolate",
        action="store_true",
        help="run the model in an isolated child with a timeout (the default; kept for scripts)",
    )
    pr.add_argument(
        "--in-process",
        action="store_true",
        help="run the model in this process, unisolated (to debug your own model under pdb)",
    )
    _isolation_args(pr)
    pr.add_argument("--format", choices=["text", "json"], default="text")

    a = sub.add_parser("advise", help="the article's selection guide, with numbers")
    a.add_argument(
        "spec", nargs="?", default=None, help="a spec: span, n, memory and device default to its"
    )
    a.add_argument("--span", type=_positive, default=None)
    a.add_argument("--n", type=_positive, default=None)
    a.add_argument("--memory", default=None, help='e.g. "24 GiB"')
    a.add_argument(
        "--baseline",
        action="store_true",
        help="write light TCN and LSTM baseline specs for SPEC's task and compare their cost",
    )
    a.add_argument("--output-dir", type=Path, default=None, help="where --baseline writes")
    a.add_argument("--force", action="store_true", help="--baseline may overwrite its files")
    a.add_argument("--latency", default=None, help='P95 target, e.g. "200 ms"')
    a.add_argument("--device", default=None)
    a.add_argument("--batch", type=_positive, default=1)
    a.add_argument("--heads", type=_positive, default=8)
    a.add_argument("--format", choices=["text", "json"], default="text")

    r = sub.add_parser("rule", help="show a rule's documentation, or list all rules")
    r.add_argument("code", nargs="?")
    r.add_argument("--format", choices=["text", "json"], default="text")

    sc = sub.add_parser("schema", help="print the JSON Schema of the spec, or of a JSON output")
    sc.add_argument(
        "--output",
        choices=["spec", "check", "estimate", "probe"],
        default="spec",
        help="whose schema: the spec (default), or the --format json output of that verb",
    )
    from .scaffold import add_parsers

    add_parsers(sub)
    from .span import add_parser as add_span_parser

    add_span_parser(sub)
    from .plot import add_parser as add_plot_parser

    add_plot_parser(sub)
    from .calibrate import add_parser as add_calibrate_parser

    add_calibrate_parser(sub)
    for verb in sub.choices.values():  # `archcheck check -v` as well as `archcheck -v check`
        if "-v" in verb._option_string_actions:  # check has its own (same meaning, more said)
            continue
        verb.add_argument(
            "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="show the log"
        )
    return p


def _check(args: argparse.Namespace) -> int:
    """`archcheck check`; -v logs what discovery skipped and what models printed (main())."""
    from .files import set_run_options

    if args.config is not None and not args.config.is_file():
        raise ArchcheckError("--config: no such file", str(args.config))
    set_run_options(args.config, args.force_exclude)
    try:
        return _check_quiet(args)
    finally:
        set_run_options(None, False)


def _check_quiet(args: argparse.Namespace) -> int:
    from .report import render

    fmt = args.format or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "full")
    if args.jobs is not None and args.jobs < 1:
        raise ArchcheckError("--jobs must be at least 1")
    from .codes import EXTEND

    args.select = [*args.select, *(EXTEND + c for c in args.extend_select)]
    from .dependents import expand, needs_expansion

    no_cache = os.environ.get("ARCHCHECK_NO_CACHE", "").lower() not in ("", "0", "false", "no")
    cache: Any = None  # the static run's cache, opened once when named files need expanding
    if needs_expansion(args.paths):
        if not (args.no_cache or no_cache or args.probe):
            from .cache import Cache, configuration, default_dir

            cache = Cache(args.cache_dir or default_dir(), configuration(args.select, args.ignore))
        # their dependent specs
        args.paths = expand(args.paths, only=args.dependents_only, cache=cache)
        if not args.paths and args.dependents_only:
            return EXIT_OK  # the hook's files: none is read by a spec
    timings: dict[str, Any] | None = None
    result: Any
    if args.probe:
        result, timings = _check_probe(args, use_cache=not (args.no_cache or no_cache))
    else:
        from .progress import FileBar, reporting

        # a static check of more than 100 files to check shows a bar on a terminal's stderr;
        # never on a pipe, with -q, or for machine formats (json, sarif, github)
        bar = (
            FileBar()
            if sys.stderr.isatty() and fmt in ("full", "concise") and not args.quiet
            else None
        )
        reporting(bar)
        try:
            if args.no_cache or no_cache:
                from .engine import check_paths

                result = check_paths(
                    args.paths, select=args.select, ignore=args.ignore, jobs=args.jobs
                )
            else:  # static: files unchanged since the last run are not checked again
                from .cache import check_cached

                result = check_cached(
                    args.paths, args.select, args.ignore, args.jobs, args.cache_dir, cache
                )
        finally:
            reporting(None)
            if bar is not None:
                bar.close()
    models = len(result.specs) if hasattr(result, "specs") else result.models
    nothing = not result.findings and models == 0
    # the hook's mode (files named, not folders): a named file that holds no model (a
    # [project]-only pyproject.toml) or was excluded is nothing to do, exit 0 as ruff's hook
    hook_nothing = (
        nothing
        and (args.force_exclude or args.dependents_only)
        and not any(os.path.isdir(p) for p in args.paths)
    )
    if args.statistics:
        from .report.formats import statistics

        fmt = "statistics"
        text = statistics(result.findings)
    else:
        text = render(result.findings, fmt, result.files)
    if timings is not None and fmt == "json":  # additive: measured runs say where time went
        doc = json.loads(text)
        doc["timings"] = timings
        text = json.dumps(doc, indent=2)
    if timings is not None and getattr(args, "verbose", False):
        from .timings import describe

        for model in timings["models"]:
            label = f"{model['path']}::{model['model']}"
            shown = {k: v for k, v in model.items() if k not in ("path", "model", "concern")}
            for line in describe(label, shown):
                sys.stderr.write(f"archcheck: {line}\n")
        sys.stderr.write(f"archcheck: measured in {timings['total']:.2f} s\n")
    if hook_nothing and fmt in ("full", "concise", "statistics"):
        text = ""  # a hook whose files hold nothing to check: silent, exit 0 (as ruff)
    elif nothing and fmt in ("full", "concise", "statistics"):  # never a pass over nothing
        text = f"Nothing checked: no model found ({result.files} files read)"
    elif args.quiet and fmt in ("full", "concise"):  # ruff's -q: the findings, no summary
        text = "\n".join(text.split("\n")[:-1]).rstrip("\n")
    if args.output_file:
        try:
            args.output_file.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise ArchcheckError(f"cannot write: {exc.strerror}", str(args.output_file)) from exc
    elif text:
        _emit(text, fmt, args.color)
    if result.findings and not args.exit_zero:
        return EXIT_FINDINGS
    if hook_nothing:
        return EXIT_OK
    if nothing:
        # a CI gate that checks nothing must not look green
        sys.stderr.write(
            f"archcheck: warning: nothing to check under {' '.join(args.paths)}: looked for "
            f"{LOOKED_FOR}. Write specs with `archcheck init` (see `archcheck discover`).\n"
        )
        return EXIT_OK if args.exit_zero else EXIT_NOTHING
    return EXIT_OK


def _check_probe(args: argparse.Namespace, use_cache: bool) -> tuple[Any, dict[str, Any]]:
    """`check --probe`: every model measured in the probe pool (-j workers), results reused
    from the measurement cache unless --no-cache; returns the result and the phase times."""
    import time

    from . import measurecache
    from .engine import check_paths
    from .measure import TIMINGS

    started = time.perf_counter()
    if use_cache:
        from .cache import default_dir

        measurecache.configure(args.cache_dir or default_dir())
    TIMINGS.clear()
    try:
        import importlib.util

        if importlib.util.find_spec("pebble") is None:  # no pool: one fresh child per model
            pool: Any = _nullcontext()
        else:
            from .probe.pool import using

            pool = using(args.jobs, progress=sys.stderr.isatty())
        with pool:
            result = check_paths(
                args.paths,
                select=args.select,
                ignore=args.ignore,
                measure=True,
                device=args.device,
                timeout=args.probe_timeout,
                memory=args.probe_memory,
            )
    finally:
        measurecache.configure(None)
    models = [
        {"path": path, "model": name, "concern": concern, **t}
        for (path, name, concern), t in TIMINGS.items()
    ]
    return result, {"models": models, "total": round(time.perf_counter() - started, 3)}


def _nullcontext() -> Any:
    import contextlib

    return contextlib.nullcontext()


def colour_wanted(choice: str, isatty: bool) -> bool:
    """--color as ruff reads it: `always`/`never` win; `auto` colours a terminal unless
    NO_COLOR is set (https://no-color.org), and FORCE_COLOR (non-empty) colours a pipe too."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return isatty


def _emit(text: str, fmt: str, color: str = "auto") -> None:
    if fmt in ("full", "concise", "statistics") and colour_wanted(color, sys.stdout.isatty()):
        from rich.console import Console
        from rich.highlighter import RegexHighlighter
        from rich.theme import Theme

        class _H(RegexHighlighter):
            highlights = [  # noqa: RUF012 (rich's API is a class attribute)
                r"(?P<code>\bARC\d{3}\b)",
                r"(?m)(?P<path>^[^\s:]+:\d+:\d+:)",
                r"(?P<help>help:)",
            ]

        Console(
            highlighter=_H(),
            theme=Theme({"code": "bold red", "path": "bold", "help": "cyan"}),
            force_terminal=True,
            no_color=False,
        ).print(text, soft_wrap=True, markup=False, emoji=False)  # text was `clean`ed
    else:
        sys.stdout.write(text + "\n")


def _load_one(path: str) -> Any:
    from .engine import load_all
    from .rules import load_findings

    specs, findings, _, _ = load_all([path])
    problems = findings + [f for s in specs for f in load_findings(s.problems)]
    if not problems:  # inconsistent dimensions (ARC304) would make every figure meaningless
        from .pipeline import run_rules
        from .selection import Selection

        for s in specs:
            if s.spec is not None:
                problems += run_rules(s, Selection(), codes=("ARC304",), load_problems=False)
    if problems:
        from .report import render

        sys.stderr.write(render(problems, "concise", 1) + "\n")
        raise SystemExit(EXIT_ERROR)
    usable = [s for s in specs if s.spec is not None]
    if not usable:
        raise ArchcheckError("no model spec found", path)
    return usable


def _estimate(args: argparse.Namespace) -> int:
    from .estimate import estimate, render_text

    results = [
        estimate(s.spec, n=args.n, batch=args.batch, path=s.path, target=args.target)
        for s in _load_one(args.spec)
    ]
    if args.format == "json":
        print(json.dumps({"schema_version": 1, "models": [r.to_json() for r in results]}, indent=2))
    else:
        for r in results:
            render_text(r)
    return EXIT_OK


def _probe(args: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise ArchcheckError("`archcheck probe` needs torch: pip install 'pytest-archcheck[torch]'")
    if args.target is not None and args.device != "fake":
        raise ArchcheckError(
            "--target chooses the fake probe's semantics: use it with --device fake"
        )
    if args.in_process and args.isolate:
        raise ArchcheckError("--in-process and --isolate exclude each other")
    from .probe.isolate import prestart

    # the isolated child starts now: its `import torch` overlaps the spec's loading
    with prestart(not args.in_process):
        return _probe_models(args)


def _probe_models(args: argparse.Namespace) -> int:
    from .measure import PROBE_TIMEOUT_S, project_root
    from .probe import run
    from .progress import working

    # a terminal sees what is measured and for how long; a pipe, JSON and a model run
    # in-process (its own prints, pdb) see nothing extra
    show = sys.stderr.isatty() and args.format != "json" and not args.in_process
    out = []
    rc = EXIT_OK
    for s in _load_one(args.spec):
        label = f"archcheck: measuring {s.spec.model.name} ({args.device})"
        with project_root(s), working(label, show):
            res = run(
                s.spec,
                device=args.device,
                n=args.n,
                batch=args.batch,
                latency=args.latency,
                path=s.path,
                line=s.line_of(("model", "factory")),
                subprocess=not args.in_process,
                timeout=args.probe_timeout or PROBE_TIMEOUT_S,
                memory=args.probe_memory,
                emulate=args.target,
            )
        out.append(res)
        if getattr(res, "findings", None):
            rc = EXIT_FINDINGS
    if args.format == "json":
        print(json.dumps({"schema_version": 1, "models": [r.to_json() for r in out]}, indent=2))
    else:
        from .measure import render_probe_text

        for r in out:
            render_probe_text(r)
    return rc


def _advise(args: argparse.Namespace) -> int:
    from .units import UnitError, parse_bytes, parse_seconds

    if args.baseline and args.spec is None:
        raise ArchcheckError("--baseline needs a SPEC: the task the baselines are for")
    if args.spec is not None:
        spec = _load_one(args.spec)[0].spec
        if args.baseline:
            return _baseline(args, spec)
        args.span = args.span or spec.budget.span
        args.n = args.n or spec.budget_n
        if args.memory is None and spec.budget.memory is not None:
            args.memory = f"{int(spec.budget.memory)} B"
        args.device = args.device or spec.budget.device
    missing = [f"--{k}" for k in ("span", "n", "memory") if getattr(args, k) is None]
    if missing:
        raise ArchcheckError(f"{', '.join(missing)} needed (or a SPEC that declares them)")
    try:  # usage errors first, before the formula library is even imported
        memory = parse_bytes(args.memory)
        latency = parse_seconds(args.latency) if args.latency else None
    except UnitError as exc:
        raise ArchcheckError(str(exc)) from exc
    if memory <= 0:
        raise ArchcheckError(f"--memory must be more than 0 bytes, got {args.memory!r}")
    from .formulas.advise import advise
    from .formulas.advise import render_text as advise_text
    from .formulas.devices import UnknownDeviceError, lookup_device

    try:
        device = None if args.device is None else lookup_device(args.device, _cwd_devices())
        result = advise(
            span=args.span,
            n=args.n,
            memory_bytes=memory,
            latency_s=latency,
            device=device,
            batch=args.batch,
            heads=args.heads,
        )
    except UnknownDeviceError as exc:
        raise ArchcheckError(f"--device: {exc}") from None
    if args.format == "json":
        print(json.dumps({"schema_version": 1, **result.to_json()}, indent=2))
    else:
        advise_text(result)
    return EXIT_OK


def _baseline(args: argparse.Namespace, spec: Any) -> int:
    """`advise SPEC --baseline`: write the baselines, print the comparison (baseline.py)."""
    from .baseline import compare, write

    candidates = compare(spec, args.spec)
    folder = args.output_dir or Path(args.spec).parent
    try:
        written = write(candidates, folder, args.force)
    except FileExistsError as exc:
        raise ArchcheckError(str(exc)) from None
    except OSError as exc:
        raise ArchcheckError(f"cannot write: {exc.strerror}", str(folder)) from None
    if args.format == "json":
        doc = {
            "schema_version": 1,
            "span": spec.budget.span,
            "candidates": [c.to_json() for c in candidates],
            "written": [str(p) for p in written],
        }
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    from .units import format_bytes, format_count

    print(f"{spec.name}: span {spec.budget.span or 'not declared'}, batch {spec.train.batch}")
    print(f"{'model':<40} {'params':>9} {'peak':>11} {'latency':>10} {'reach':>9}  covers")
    for c in candidates:
        lat = "n/a" if c.latency_ms is None else f"{c.latency_ms:.2f} ms"
        reach = "all" if c.reach is None else f"{c.reach:,}"
        covers = {True: "yes", False: "NO", None: "-"}[c.covers]
        print(
            f"{c.name:<40} {format_count(c.params):>9} {format_bytes(c.peak):>11} "
            f"{lat:>10} {reach:>9}  {covers}"
        )
    for p in written:
        print(f"wrote {p}")
    return EXIT_OK


def _cwd_devices() -> dict[str, Any]:
    """The devices `[tool.archcheck.devices]` of the project the command runs in (the nearest
    pyproject.toml at or above the current directory)."""
    from .files import nearest_pyproject
    from .spec.load import read_project_settings

    pp = nearest_pyproject(Path.cwd())
    settings = read_project_settings(pp)[1] if pp is not None else None
    return settings.project_devices if settings else {}


def _rule_json(r: Any, sections: bool = False) -> dict[str, Any]:
    d = {
        "code": r.code,
        "name": r.name,
        "severity": r.severity,
        "kind": r.kind,
        "concern": r.concern,
        "summary": r.summary,
    }
    return {**d, "sections": r.sections()} if sections else d


def _rule(args: argparse.Namespace) -> int:
    from .rules import RULES

    if args.code is None:
        if args.format == "json":
            print(json.dumps([_rule_json(r) for r in RULES.values()], indent=2))
        else:
            for r in sorted(RULES.values(), key=lambda r: r.code):
                print(f"{r.code}  {r.name:<40} {r.severity:<8} {r.summary}")
        return EXIT_OK
    code = args.code.upper()
    if code not in RULES:
        import difflib

        close = difflib.get_close_matches(code, list(RULES), n=1)
        raise ArchcheckError(
            f"unknown rule {args.code}" + (f"; did you mean {close[0]}?" if close else "")
        )
    r = RULES[code]
    if args.format == "json":
        print(json.dumps({"schema_version": 1, **_rule_json(r, sections=True)}, indent=2))
    else:
        print(f"# {r.code} {r.name} ({r.severity}, {r.kind}, pytest item {r.concern})\n\n{r.doc}")
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    if args.output != "spec":
        from .report.schemas import output_schema

        print(json.dumps(output_schema(args.output), indent=2, ensure_ascii=False))
        return EXIT_OK
    from .spec.model import Spec

    print(json.dumps(Spec.model_json_schema(), indent=2))
    return EXIT_OK


def _discover(args: argparse.Namespace) -> int:
    from .scaffold import discover_command

    return discover_command(args)


def _init(args: argparse.Namespace) -> int:
    from .scaffold import init_command

    return init_command(args)


def _plot(args: argparse.Namespace) -> int:
    from .plot import command

    return command(args)


def _calibrate(args: argparse.Namespace) -> int:
    from .calibrate import command

    return command(args)


def _span(args: argparse.Namespace) -> int:
    from .span import command

    return command(args)


COMMANDS = {
    "check": _check,
    "estimate": _estimate,
    "probe": _probe,
    "advise": _advise,
    "rule": _rule,
    "schema": _schema,
    "discover": _discover,
    "init": _init,
    "span": _span,
    "plot": _plot,
    "calibrate": _calibrate,
}


def _is_check(argv: Sequence[str]) -> bool:
    """Whether the command line is `archcheck [-v] check ...` (no top-level --help or
    --version, which show every verb)."""
    for arg in argv:
        if arg not in ("-v", "--verbose"):
            return arg == "check"
    return False


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if _is_check(argv):
        parser = build_parser(check_only=True)
        parser.retry = argv  # type: ignore[attr-defined]
    else:
        parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        import logging

        # one handler for every log: discovery's skips, what the user's model printed
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="archcheck: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except ArchcheckError as exc:
        sys.stderr.write(f"archcheck: error: {exc}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug of ours: exit 2 ("internal error"), never 1 ("findings")
        import traceback

        traceback.print_exc()
        sys.stderr.write(f"archcheck: internal error: {type(exc).__name__}: {exc}\n")
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
