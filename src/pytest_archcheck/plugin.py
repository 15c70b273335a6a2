"""pytest plugin (pytest11 entry point `archcheck`).

At import this module touches only the standard library and pytest: a project that installs the
plugin but does not use it pays nothing (no pydantic, no rich, no torch). Everything else is
imported inside hooks once `--archcheck`, the ini key, or a marker asks for it.

As in pytest-memray, one manager object (`ArchcheckManager`) owns the plugin's state: options,
the baseline, and the measurements collected from every item (also from xdist workers, through
the reports' `user_properties`).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .findings import Finding
    from .pipeline import Measurements
    from .rules.context import RuleContext
    from .spec.load import LoadedSpec

# files.SPEC_SUFFIX, spelled out: importing files.py (and findings.py) at every pytest start
# would cost the unused plugin ~2 ms (benchmarks/collect_overhead.py)
SPEC_SUFFIX = ".archcheck.toml"

MARKER = "archcheck"
PROP_PREFIX = "archcheck_"
# The items of a spec, one per concern (one item per concern keeps failures readable). Which
# codes each reports is each rule's own `concern` (rules.codes_of): a new rule file shows in
# its item with no change here. Spelled out, as rules.CONCERNS, because importing the rules
# at every pytest start would cost the unused plugin their imports (pydantic, formulas).
CONCERNS: tuple[str, ...] = ("config", "memory", "latency", "span", "pitfalls")


class ArchcheckWarning(UserWarning):
    """Non-fatal archcheck problems (missing baseline, warning-severity findings)."""


class ArchcheckFailure(Exception):
    """Raised by an item whose spec misses a budget; rendered without a traceback."""

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__(f"{len(findings)} archcheck finding(s)")
        self.findings = findings


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("archcheck", "architecture budgets (pytest-archcheck)")
    group.addoption(
        "--archcheck",
        action="store_true",
        default=None,
        help="collect *.archcheck.toml specs and [tool.archcheck] models as test items",
    )
    group.addoption(
        "--archcheck-probe",
        action="store_true",
        default=None,
        help="also measure models with probes (needs torch)",
    )
    group.addoption(
        "--archcheck-device",
        default=None,
        choices=["fake", "cpu", "cuda"],
        help="probe device (default: cuda when available, else fake)",
    )
    group.addoption(
        "--archcheck-json",
        default=None,
        metavar="PATH",
        help="write every model's measurements to PATH (JSON)",
    )
    group.addoption(
        "--archcheck-baseline",
        default=None,
        metavar="FILE",
        help="compare measurements with FILE; record them when FILE is missing",
    )
    group.addoption(
        "--archcheck-workers",
        type=int,
        default=None,
        metavar="N",
        help="isolated probe workers that measure models side by side (default 2 on 2+ cores; "
        "1 under pytest-xdist, per xdist worker)",
    )
    group.addoption(
        "--archcheck-no-cache",
        action="store_true",
        default=None,
        help="measure every model afresh: neither read nor write the measurement cache",
    )
    parser.addini("archcheck", type="bool", default=False, help="same as --archcheck")
    parser.addini("archcheck_workers", default="", help="same as --archcheck-workers")
    parser.addini(
        "archcheck_no_cache", type="bool", default=False, help="same as --archcheck-no-cache"
    )
    parser.addini("archcheck_probe", type="bool", default=False, help="same as --archcheck-probe")
    parser.addini("archcheck_device", default="", help="same as --archcheck-device")
    parser.addini("archcheck_json", default="", help="same as --archcheck-json")
    parser.addini("archcheck_baseline", default="", help="same as --archcheck-baseline")
    parser.addini(
        "archcheck_probe_timeout",
        default="",
        help="seconds one model's isolated run may take before it becomes ARC303 (default 600)",
    )
    parser.addini(
        "archcheck_timeout",
        default="600",
        help="older spelling of archcheck_probe_timeout",
    )
    parser.addini(
        "archcheck_probe_memory",
        default="",
        help="address-space cap of each model's isolated run ('16 GiB', or 'none'; default: "
        "physical memory, never applied on cuda)",
    )
    parser.addini(
        "archcheck_tolerance",
        default="0.05",
        help="allowed relative regression against the baseline (default 0.05)",
    )


def _opt(config: pytest.Config, name: str) -> Any:
    """Command line first, then the ini key."""
    value = config.getoption(f"--archcheck{'-' + name if name else ''}".replace("_", "-"))
    if value is not None:
        return value
    ini = config.getini(f"archcheck{'_' + name if name else ''}")
    return ini if ini != "" else None


def _positive_ini(config: pytest.Config, name: str, allow_zero: bool = False) -> float:
    """A numeric ini key, or a usage error naming it (not a traceback at start-up)."""
    raw = config.getini(name)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"{name} must be a number, got {raw!r}") from None
    if not (value >= 0 if allow_zero else value > 0) or math.isnan(value):
        raise pytest.UsageError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {raw!r}")
    return value


def _memory_ini(config: pytest.Config) -> int | None:
    """`archcheck_probe_memory`: bytes, 0 for no cap, None for the default cap."""
    raw = str(config.getini("archcheck_probe_memory")).strip()
    if not raw:
        return None
    import argparse

    from .cli import probe_memory

    try:
        return probe_memory(raw)
    except argparse.ArgumentTypeError as exc:
        raise pytest.UsageError(f"archcheck_probe_memory: {exc}") from None


def _workers(config: pytest.Config) -> int | None:
    """`--archcheck-workers` / `archcheck_workers`: a positive count, or None (the default)."""
    value = config.getoption("--archcheck-workers")
    raw = value if value is not None else (config.getini("archcheck_workers") or None)
    if raw is None:
        return 1 if hasattr(config, "workerinput") else None
    try:
        n = int(raw)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"archcheck_workers must be a whole number, got {raw!r}") from None
    if n < 1:
        raise pytest.UsageError(f"archcheck_workers must be at least 1, got {raw!r}")
    return n


class ArchcheckManager:
    """Plugin state for one session: options, baseline, measurements and results per model."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.collect = bool(_opt(config, ""))
        self.probe = bool(_opt(config, "probe"))
        self.device: str | None = _opt(config, "device")
        self.json_path: str | None = _opt(config, "json")
        self.baseline_path: str | None = _opt(config, "baseline")
        self.tolerance = _positive_ini(config, "archcheck_tolerance", allow_zero=True)
        self.timeout = _positive_ini(
            config,
            "archcheck_probe_timeout"
            if config.getini("archcheck_probe_timeout")
            else "archcheck_timeout",
        )
        self.memory = _memory_ini(config)
        self.workers = _workers(config)
        self.no_cache = bool(_opt(config, "no_cache")) or os.environ.get(
            "ARCHCHECK_NO_CACHE", ""
        ).lower() not in ("", "0", "false", "no")
        self.results: dict[str, dict[str, Any]] = {}
        self._baseline: dict[str, dict[str, Any]] | None = None
        self._specs: dict[Path, list[LoadedSpec]] = {}

    # -- loading -----------------------------------------------------------------------------
    def specs_in(self, path: Path) -> list[LoadedSpec]:
        """Load (once) the specs a file defines; pyproject.toml yields its inline models."""
        path = Path(path)
        if path not in self._specs:
            from .engine import load_all_problems

            specs, problems, _, _ = load_all_problems([str(path)])
            if path.name in ("pyproject.toml", "archcheck.toml"):  # its inline models
                specs = [s for s in specs if s.path.endswith(path.name)]
                if problems and specs:
                    specs[0].problems.extend(problems)
            self._specs[path] = specs
        return self._specs[path]

    # -- baseline ----------------------------------------------------------------------------
    @property
    def baseline(self) -> dict[str, dict[str, Any]]:
        if self._baseline is None:
            self._baseline = {}
            if self.baseline_path:
                p = Path(self.baseline_path)
                if p.is_file():
                    try:
                        self._baseline = json.loads(p.read_text(encoding="utf-8")).get("models", {})
                    except (OSError, ValueError) as exc:
                        warnings.warn(
                            ArchcheckWarning(f"cannot read baseline {p}: {exc}"), stacklevel=1
                        )
                else:
                    warnings.warn(
                        ArchcheckWarning(
                            f"archcheck baseline {p} does not exist; it will be written at the end of "
                            "this run"
                        ),
                        stacklevel=1,
                    )
        return self._baseline

    def regressions(self, model: str, measured: dict[str, Any]) -> list[str]:
        """Measurements that grew beyond the tolerance since the baseline."""
        old = self.baseline.get(model, {})
        out = []
        for key in ("peak_bytes", "total_bytes", "p95_ms", "infer_memory"):
            new_v, old_v = measured.get(key), old.get(key)
            if not (isinstance(new_v, (int, float)) and isinstance(old_v, (int, float))):
                continue
            if old_v > 0 and new_v > old_v * (1 + self.tolerance):
                out.append(
                    f"{key} regressed from {old_v:,} to {new_v:,} "
                    f"(+{(new_v / old_v - 1):.1%}, tolerance {self.tolerance:.0%})"
                )
        return out

    # -- results -----------------------------------------------------------------------------
    def record(self, model: str, props: dict[str, Any]) -> None:
        self.results.setdefault(model, {}).update(props)

    def write_outputs(self) -> None:
        if self.json_path:
            from . import machine

            doc = {"schema_version": 1, "machine": machine.info(), "models": self.results}
            Path(self.json_path).write_text(
                json.dumps(doc, indent=2, default=str), encoding="utf-8"
            )
        if self.baseline_path and not Path(self.baseline_path).exists() and self.results:
            Path(self.baseline_path).write_text(
                json.dumps({"schema_version": 1, "models": self.results}, indent=2, default=str),
                encoding="utf-8",
            )

    # -- hooks (the manager is registered as a plugin, as pytest-memray does) ---------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect measurements from every report, including those xdist workers send."""
        if report.when != "call":
            return
        props = {
            k[len(PROP_PREFIX) :]: v
            for k, v in report.user_properties
            if isinstance(k, str) and k.startswith(PROP_PREFIX)
        }
        if "model" in props:
            self.record(str(props.pop("model")), props)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Iterator[None]:
        """Under --archcheck-probe, one probe pool (probe/pool.py) serves every item of the
        session, and the measurement cache is on unless --archcheck-no-cache. Every measured
        item is handed to the pool up front (not under xdist, whose workers run a share of the
        items each), so that the pool's workers measure side by side."""
        import importlib.util

        if not (self.collect and self.probe) or importlib.util.find_spec("pebble") is None:
            yield
            return
        from . import measurecache
        from .probe.pool import using

        if not self.no_cache:
            from .cache import default_dir

            measurecache.configure(default_dir())
        try:
            with using(self.workers):
                if not hasattr(self.config, "workerinput"):
                    self._prefetch(session.items)
                yield
        finally:
            measurecache.configure(None)

    def _prefetch(self, items: list[pytest.Item]) -> None:
        from .measure import prefetch
        from .pipeline import MEASURED_CONCERNS

        for item in items:
            if (
                isinstance(item, SpecItem)
                and item.check in MEASURED_CONCERNS
                and item.loaded.spec is not None
                and item.selected_codes()
            ):
                prefetch(item.loaded, self.device, item.check, self.timeout, True, self.memory)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.results or hasattr(self.config, "workerinput"):
            return
        from .summary import headroom_table

        terminalreporter.section("archcheck headroom")
        for line in headroom_table(self.results, width=max(130, terminalreporter._tw.fullwidth)):
            terminalreporter.write_line(line)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(session.config, "workerinput"):
            return  # xdist workers write nothing shared; the controller gets their reports
        self.write_outputs()


_KEY = pytest.StashKey["ArchcheckManager"]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "archcheck(memory=None, max_n=None, span=None, p95_latency=None, infer_memory=None, "
        "device=None): budgets that the `archcheck` fixture's check() asserts",
    )
    manager = ArchcheckManager(config)
    config.stash[_KEY] = manager
    config.pluginmanager.register(manager, "archcheck-manager")


def _manager(config: pytest.Config) -> ArchcheckManager:
    return config.stash[_KEY]


def pytest_report_header(config: pytest.Config) -> str | None:
    m = _manager(config)
    if not m.collect:
        return None
    mode = f"probe on {m.device or 'auto'}" if m.probe else "static"
    return f"archcheck: collecting specs ({mode})"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    m = _manager(parent.config)
    if not m.collect:
        return None
    name = file_path.name
    if name.endswith(SPEC_SUFFIX):
        return SpecFile.from_parent(parent, path=file_path)
    if name == "pyproject.toml":
        try:
            head = file_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        if "tool.archcheck.model" in head:
            return SpecFile.from_parent(parent, path=file_path)
    if name == "archcheck.toml":  # [tool.archcheck]'s keys at the top level: [[model]]
        try:
            head = file_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        if "[[model]]" in head:
            return SpecFile.from_parent(parent, path=file_path)
    if name.endswith(".py") and _has_decorated_factory(file_path):
        return FactoryFile.from_parent(parent, path=file_path)
    return None


def _has_decorated_factory(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return "archcheck.model(" in text or ("@model(" in text and "pytest_archcheck" in text)


class SpecFile(pytest.File):
    """A spec file (or a pyproject.toml with inline models): one collector per model."""

    def collect(self) -> Iterator[pytest.Item]:
        m = _manager(self.config)
        try:
            specs = m.specs_in(self.path)
        except Exception as exc:  # a bug of ours must not interrupt the user's session
            yield ErrorItem.from_parent(
                self, name=f"{self.path.name}::config", line=1, code="ARC306",
                message=f"internal error while loading: {type(exc).__name__}: {exc}",
            )  # fmt: skip
            return
        for loaded in specs:
            # a spec that cannot be loaded is one failing item (its config item, with the
            # findings), not five, and never a collection error
            for check in CONCERNS if loaded.spec is not None else ("config",):
                yield SpecItem.from_parent(
                    self, name=f"{loaded.name}::{check}", loaded=loaded, check=check
                )


class FactoryFile(pytest.File):
    """A Python file with `@pytest_archcheck.model(spec=...)` factories, found by parsing."""

    def collect(self) -> Iterator[pytest.Item]:
        from .discover import decorated_factories

        m = _manager(self.config)
        for fac in decorated_factories(self.path):
            if fac.error:
                yield ErrorItem.from_parent(
                    self, name=f"{fac.name}::config", message=fac.error, line=fac.line
                )
                continue
            spec_path = fac.spec_path
            if spec_path is None:
                continue
            try:
                bases = m.specs_in(spec_path)
            except Exception as exc:  # a bug of ours must not interrupt the user's session
                yield ErrorItem.from_parent(
                    self, name=f"{fac.name}::config", line=fac.line, code="ARC306",
                    message=f"internal error while loading {spec_path}: "
                    f"{type(exc).__name__}: {exc}",
                )  # fmt: skip
                continue
            for base in bases:
                loaded = fac.apply(base)
                for check in CONCERNS:
                    yield SpecItem.from_parent(
                        self, name=f"{fac.name}::{check}", loaded=loaded, check=check
                    )


def _nothing_to_check(loaded: LoadedSpec, check: str) -> str | None:
    """Why a budget item has nothing to assert (it is then SKIPPED, never PASSED), or None."""
    spec = loaded.spec
    if spec is None:
        return None
    b = spec.budget
    if check == "memory" and b.memory is None and b.infer_memory is None:
        from .runlog import find_run_log

        if find_run_log(loaded.path, spec.name, spec.data.run_log) is None:
            return "no memory budget: declare [budget] memory or infer_memory"
    if check == "latency" and b.p95_latency is None:
        return "no latency budget: declare [budget] p95_latency"
    if check == "span" and b.span is None:
        return "no span budget: declare [budget] span"
    return None


class ErrorItem(pytest.Item):
    """A problem found while collecting (reported as a failing item, not a crash)."""

    def __init__(self, *, message: str, line: int, code: str = "ARC303", **kw: Any) -> None:
        super().__init__(**kw)
        self.message, self.line, self.code = message, line, code

    def runtest(self) -> None:
        raise ArchcheckFailure([])

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from .report.formats import clean

        return f"{clean(str(self.path))}:{self.line}: {self.code} {clean(self.message)}"

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.line - 1, self.name


class SpecItem(pytest.Item):
    """One concern (memory, latency, span, pitfalls, config) of one model spec."""

    def __init__(self, *, loaded: LoadedSpec, check: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.loaded = loaded
        self.check = check
        self.findings: list[Finding] = []
        self.add_marker(pytest.mark.archcheck)

    def _codes(self) -> tuple[str, ...]:
        """The codes this item reports: the rules whose concern is this item's."""
        from .rules import codes_of

        return codes_of(self.check)  # type: ignore[arg-type]

    def selected_codes(self) -> list[str]:
        """This item's codes that the project's `select` keeps (none: the item skips)."""
        from .selection import Selection

        base = Selection.merged(self.loaded.settings)
        return [
            c
            for c in self._codes()
            if not base.select or any(c.startswith(s) or s.startswith(c) for s in base.select)
        ]

    def runtest(self) -> None:
        from .pipeline import check_spec
        from .selection import Selection

        m = _manager(self.config)
        base = Selection.merged(self.loaded.settings)
        codes = self.selected_codes()
        if not codes:
            pytest.skip(f"no {self.check} rule selected by [tool.archcheck] select")
        # The same pipeline as `archcheck check`, for this item's concern: its codes, and a
        # factory that cannot be built (ARC303), which is why a measured item has no figure.
        outcome = check_spec(
            self.loaded,
            base,
            concern=self.check,  # type: ignore[arg-type]
            probe=m.probe,
            device=m.device,
            timeout=m.timeout,
            memory=m.memory,
        )
        findings = outcome.findings
        # one context for the rules and _record: the estimate (n_max search included) once
        props = self._record(outcome.measured, outcome.ctx)
        if m.probe:  # where this item's measurement spent its time (--archcheck-json)
            from .measure import TIMINGS

            spent = TIMINGS.pop((self.loaded.path, self.loaded.name, self.check), None)
            if spent is not None:
                m.results.setdefault(self.loaded.name, {}).setdefault("timings", {})[self.check] = (
                    spent
                )
        regressions = m.regressions(self.loaded.name, props) if m.baseline_path else []
        self.findings = findings
        # Every finding fails the item, warnings too, as `archcheck check` exits 1 on them;
        # silence one with `# archcheck: ignore[CODE]` or `ignore` in [tool.archcheck].
        errors = list(findings)
        if regressions:
            from .rules import RULES

            errors += [
                RULES["ARC101" if "bytes" in r else "ARC103"].finding(
                    r, self.loaded.path, 1, self.loaded.name
                )
                for r in regressions
            ]
        if errors:
            raise ArchcheckFailure(errors)
        why = None if m.baseline_path else _nothing_to_check(self.loaded, self.check)
        if why is not None:  # passing here would claim a budget holds that nobody declared
            # reported at the spec's line, not at this line of the plugin (as skip marks are)
            raise pytest.skip.Exception(why, _use_item_location=True)

    def _record(self, measured: Measurements | None, ctx: RuleContext | None) -> dict[str, Any]:
        """Measurements into user_properties (JUnit XML, xdist) and the manager."""
        props: dict[str, Any] = {}
        spec = self.loaded.spec
        if spec is not None and ctx is not None and self.check in ("memory", "span", "latency"):
            try:
                est = ctx.estimate
            except Exception as exc:  # a formula that cannot evaluate this spec
                props["estimate_error"] = f"{type(exc).__name__}: {exc}"
            else:
                if self.check == "memory":
                    props.update(
                        {
                            "total_bytes": est.memory.total,
                            "n_max": est.n_max,
                            "max_n": spec.budget.max_n,
                            "memory_budget": spec.budget.memory,
                            "infer_memory": est.infer_memory,
                        }
                    )
                elif self.check == "span":
                    props.update({"span": spec.budget.span, "reach": est.path_info.reach})
                else:
                    props.update(
                        {
                            "p95_budget_s": spec.budget.p95_latency,
                            "latency_estimate_s": est.latency.seconds if est.latency else None,
                        }
                    )
        if measured is not None:
            props.update(
                {
                    k: v
                    for k, v in measured.to_dict().items()
                    if isinstance(v, (int, float, str)) or v is None
                }
            )
        for k, v in props.items():
            self.user_properties.append((PROP_PREFIX + k, v))
        self.user_properties.append((PROP_PREFIX + "model", self.loaded.name))
        return props

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ArchcheckFailure):
            verbose = self.config.get_verbosity()
            from .report.formats import clean, source_line

            lines = []
            cache: dict[str, list[str] | None] = {}
            for f in excinfo.value.findings:
                lines.append(f"{clean(f.path)}:{f.line}: {f.code} {clean(f.message)}")
                src = source_line(f.path, f.line, cache)
                if verbose >= 1 and src is not None and src.strip():
                    lines.append(f"    > {clean(src.strip())}")
                if verbose >= 1 and f.fix:
                    lines.append(f"    help: {clean(f.fix)}")
                if verbose >= 1:
                    lines.append(f"    docs: {f.url}")
                details = f.data.get("details")
                if isinstance(details, str) and details.strip():  # a model child's output
                    lines.append("    details:")
                    lines.extend(f"      {clean(d)}" for d in details.rstrip().split("\n")[-40:])
            return "\n".join(lines)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int, str]:
        line = self.loaded.line_of(("model",))
        if self.findings:
            line = self.findings[0].line
        return self.path, max(0, line - 1), f"archcheck {self.loaded.name}::{self.check}"


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, str] | None:
    """Failed archcheck items get their own letter and word: `A` / `ARCHCHECK`."""
    if (
        report.when == "call"
        and report.failed
        and any(k == PROP_PREFIX + "model" for k, _ in report.user_properties)
    ):
        return "failed", "A", ("ARCHCHECK", {"red": True})  # type: ignore[return-value]
    return None


@pytest.fixture
def archcheck(request: pytest.FixtureRequest) -> Any:
    """Assert the `@pytest.mark.archcheck(...)` budgets on a model from your own test."""
    from .fixture import ArchcheckFixture

    marker = request.node.get_closest_marker(MARKER)
    budgets = dict(marker.kwargs) if marker else {}
    return ArchcheckFixture(
        budgets=budgets, node=request.node, device=_manager(request.config).device
    )
