"""The `archcheck` fixture: assert budgets on a model from a user's own test.

    @pytest.mark.archcheck(memory="2 GiB", span=128)
    def test_model(archcheck):
        archcheck.check(build_model(), family="transformer", vocab=1000, layers=2)

Budgets come from `[tool.archcheck] budget` (project defaults), then the marker, then the
call's keyword arguments; model keys (family, vocab, layers, ...) describe the model so that
the probe can make inputs and the formulas can cross-check it. Failures are reported as
findings, with no traceback from our code.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .findings import Finding
from .spec.model import TABLE_KEYS, Spec

if TYPE_CHECKING:
    from .pipeline import Measurements
    from .spec.load import LoadedSpec


@dataclass
class CheckReport:
    """What `archcheck.check` measured and found."""

    spec: Spec
    measured: dict[str, Any]  # Measurements.to_dict(): what was measured, by name
    findings: list[Finding] = field(default_factory=list)
    probe: Any = None
    measurements: Measurements | None = None  # the same, typed

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


def _project(rootpath: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """`[tool.archcheck]` budget defaults and devices of the project the tests run in."""
    from .spec.load import read_project_settings

    raw, settings = read_project_settings(rootpath / "pyproject.toml")
    if raw is None:
        return {}, {}
    devices = settings.project_devices if settings else {}
    section = raw.get("tool", {}).get("archcheck", {})
    budget = section.get("budget", {}) if isinstance(section, dict) else {}
    out = dict(budget) if isinstance(budget, dict) else {}
    if isinstance(section, dict) and isinstance(section.get("device"), str):
        out.setdefault("device", section["device"])
    return out, devices


class ArchcheckFixture:
    """Bound to one test: its marker's budgets, the project's defaults and the probe device."""

    def __init__(self, budgets: dict[str, Any], node: pytest.Item, device: str | None) -> None:
        self.budgets = budgets
        self.node = node
        self.device = device

    # -- spec ------------------------------------------------------------------------------
    def spec(self, spec: str | Path | None = None, **keys: Any) -> Spec:
        """The spec this test asserts: a spec file (optional) + defaults + marker + `keys`."""
        tables: dict[str, dict[str, Any]] = {t: {} for t in TABLE_KEYS}
        if spec is not None:
            from .engine import load_all

            loaded = [s for s in load_all([str(spec)])[0] if s.spec is not None]
            if not loaded:
                pytest.fail(f"archcheck: no valid spec in {spec}", pytrace=False)
            tables = loaded[0].spec.model_dump()  # type: ignore[union-attr]
            # durations are stored in seconds, but a bare number in a spec means milliseconds:
            # say the unit, or re-validating turns a 200 ms budget into 0.2 ms
            if tables["budget"].get("p95_latency") is not None:
                tables["budget"]["p95_latency"] = f"{tables['budget']['p95_latency']!r} s"
        budget, devices = _project(self.node.config.rootpath)
        if spec is not None:  # the spec file's own project's devices win
            devices = {**devices, **loaded[0].spec.project_devices}  # type: ignore[union-attr]
        tables["budget"].update(budget)
        for source in (self.budgets, keys):
            for key, value in source.items():
                table = next(
                    (t for t in ("budget", "model", "train", "infer") if key in TABLE_KEYS[t]), None
                )
                if table is None:
                    pytest.fail(f"archcheck: unknown budget or model key {key!r}", pytrace=False)
                tables[table][key] = value
        tables["model"].setdefault("name", self.node.name)
        try:
            return Spec.model_validate(tables, context={"devices": devices})
        except Exception as exc:
            pytest.fail(f"archcheck: invalid budget or model key: {exc}", pytrace=False)

    # -- measurements ----------------------------------------------------------------------
    def probe(
        self,
        model: Any = None,
        spec: str | Path | None = None,
        device: str | None = None,
        latency: bool = False,
        **keys: Any,
    ) -> Any:
        """Measure one training step (and latency) of `model`, or of the spec's factory."""
        from . import probe
        from .measure import default_device

        s = self.spec(spec, **keys)
        dev = device or self.device or default_device()
        probed = copy.deepcopy(model) if model is not None and dev == "fake" else model
        # the spec's factory is built in an isolated child; a model object the test made
        # itself is measured here, where it lives
        return probe.run(
            s,
            device=dev,
            n=s.budget_n,
            batch=s.train.batch,
            latency=latency,
            model=probed,
            path=str(self.node.path),
            subprocess=model is None and s.model.inputs is None,
            timeout=_manager_timeout(self.node),
        )

    def check(
        self,
        model: Any = None,
        spec: str | Path | None = None,
        device: str | None = None,
        behaviour: bool = True,
        inputs: Any = None,
        fail: bool = True,
        **keys: Any,
    ) -> CheckReport:
        """Assert every budget (memory, max_n, latency, span) and the behavioural checks.

        The same pipeline as `archcheck check --probe` and the pytest items
        (pipeline.check_spec), on `model` when given, else on the spec's factory. With a spec
        file, findings point at its lines and its suppression comments and project selection
        apply, as in `archcheck check`; otherwise at this test function.

        `inputs`: a callable `(batch, n) -> tensor or tuple of tensors` giving `forward`'s
        positional arguments, when the synthetic ones (`input = "tokens" | "embeddings" |
        "image"`) do not fit the model. Fails the test with the findings when any error is
        left, unless `fail` is False (then the report says what was found).
        """
        if inputs is not None:
            keys["inputs"] = _register_inputs(inputs)
        from .pipeline import check_spec
        from .selection import Selection

        s = self.spec(spec, **keys)
        dev = device or self.device
        if dev is None:
            from .measure import default_device

            dev = default_device()
        loaded = self._located(s, spec)
        selection = Selection.merged(loaded.settings) if spec is not None else Selection()
        outcome = check_spec(
            loaded,
            selection,
            probe=True,
            device=dev,
            model=model,
            behaviour=behaviour,
            # The spec's factory runs in an isolated child (as under `archcheck check`); a
            # model object, or an `inputs` callable, lives in this test's process and is
            # measured here.
            subprocess=model is None and inputs is None,
            timeout=_manager_timeout(self.node),
            suppress=spec is not None,
        )
        measured = outcome.measured.to_dict() if outcome.measured is not None else {}
        for k, v in measured.items():
            self.node.user_properties.append((f"archcheck_{k}", v))
        report = CheckReport(
            spec=s,
            measured=measured,
            findings=outcome.findings,
            probe=outcome.measured.probe_result if outcome.measured is not None else None,
            measurements=outcome.measured,
        )
        if report.errors and fail:
            from .report.formats import clean

            lines = [
                f"{f.code} {clean(f.message)}" + (f" (fix: {clean(f.fix)})" if f.fix else "")
                for f in report.errors
            ]
            pytest.fail("archcheck budgets not met:\n" + "\n".join(lines), pytrace=False)
        return report

    def _located(self, s: Spec, spec: str | Path | None) -> LoadedSpec:
        """Where findings point: the spec file's keys when the test names one (as `archcheck
        check` does), else the first line of the test function for every key."""
        from dataclasses import replace

        from .spec.load import LoadedSpec
        from .spec.locate import SourceMap

        if spec is not None:
            from .engine import load_all

            found = [x for x in load_all([str(spec)])[0] if x.spec is not None]
            if found:
                return replace(found[0], spec=s, name=s.name, problems=[])
        function = getattr(self.node, "function", None)
        lineno = function.__code__.co_firstlineno if function is not None else 1
        tables: dict[tuple[str | int, ...], int] = {(t,): lineno for t in TABLE_KEYS}
        return LoadedSpec(
            path=str(self.node.path), name=s.name, spec=s, source=SourceMap(lines=tables)
        )


def _manager_timeout(node: pytest.Item) -> float:
    """The session's probe timeout (`archcheck_probe_timeout`; 600 s without the plugin)."""
    from .measure import PROBE_TIMEOUT_S
    from .plugin import _KEY

    manager = node.config.stash.get(_KEY, None)
    return float(getattr(manager, "timeout", PROBE_TIMEOUT_S))


def _register_inputs(inputs: Any) -> str:
    """Expose a user's inputs callable as "module:callable", the form specs use."""
    import sys
    import types

    if not callable(inputs):
        pytest.fail("archcheck: inputs must be a callable (batch, n) -> tensors", pytrace=False)
    name = "pytest_archcheck._user_inputs"
    mod = sys.modules.get(name)
    if mod is None:
        mod = types.ModuleType(name)
        sys.modules[name] = mod
    attr = f"inputs_{id(inputs)}"
    setattr(mod, attr, inputs)
    return f"{name}:{attr}"
