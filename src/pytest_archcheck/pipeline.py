"""The one check pipeline: spec -> measurements (typed) -> findings, for every front end.

`archcheck check` (engine._check_one), each pytest item (plugin.SpecItem.runtest) and the
fixture (fixture.ArchcheckFixture.check) all call `check_spec`. Before, each wrote its own copy
of "measure, run the rules, merge the probe's findings, drop duplicates, apply suppressions",
and the copies drifted: pytest reported a pitfall twice that `check` reported once, and a
rule missing from the plugin's own code table never showed in pytest at all. Here, which
codes a pytest item reports comes from each rule's `concern`, and deduplication and
suppression happen once, inside the pipeline.

Importing this module imports no torch: measurements are taken only when `probe` is set
(measure.py imports the probe lazily).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .families import NotModelled
from .findings import Finding
from .rules import RULES, Concern, codes_of, load_findings
from .rules.context import RuleContext
from .selection import Selection
from .spec.load import LoadedSpec

# Concerns whose pytest item measures under --probe; "span" and "config" are decided statically.
MEASURED_CONCERNS: tuple[Concern, ...] = ("memory", "latency", "pitfalls")

# Measurements.to_dict() keys, in the order and spelling the plugin's JSON and JUnit
# properties have always used ("memory_probe_error": the error of the memory concern).
_LEGACY_KEYS = {"memory_error": "memory_probe_error", "latency_error": "latency_probe_error"}


@dataclass(frozen=True)
class Measurements:
    """What the probe measured for one spec on one device; None where it was not measured.

    Rules read these instead of the formula figures (ARC101 the peak, ARC102 n_max, ARC103
    the P95). Sharded specs (ZeRO, tensor parallel) keep `peak_bytes` None: one process
    cannot reproduce the per-rank peak, so the unsharded figure is reported aside and the
    budget rules keep the per-rank formula.
    """

    device: str
    peak_bytes: int | None = None
    unsharded_peak_bytes: int | None = None
    attention_kernel: str | None = None
    target: str | None = None  # kernel semantics the measured step ran (runtime.Target.label)
    flops_train_step: int | None = None
    # the n_max search ran iff `probes` is set; n_max None then means not even the smallest n fits
    n_max: int | None = None
    probes: int | None = None
    p95_ms: float | None = None
    p95_s: float | None = None
    latency_device: str | None = None
    # why a concern has no measurement: the probe's failure (reported as ARC303)
    memory_error: str | None = None
    latency_error: str | None = None
    # the probe's own result (the fixture's CheckReport.probe); not a measurement rules read
    probe_result: Any = field(default=None, compare=False, repr=False)

    @property
    def searched_n_max(self) -> bool:
        """Whether the probe searched n_max (it does when the measured peak misses the budget)."""
        return self.probes is not None

    def to_dict(self) -> dict[str, Any]:
        """The measurements as the plugin's JSON, JUnit properties and the fixture's report
        show them: only what was measured (n_max also when the search found none)."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key == "probe_result":
                continue
            if value is None and not (key == "n_max" and self.searched_n_max):
                continue
            out[_LEGACY_KEYS.get(key, key)] = value
        return out


@dataclass
class Outcome:
    """One spec's result: its findings, what was measured, and the rule context (whose formula
    estimate the plugin's headroom record reuses)."""

    findings: list[Finding]
    measured: Measurements | None
    ctx: RuleContext | None


def run_rules(
    loaded: LoadedSpec,
    selection: Selection,
    measured: Measurements | None = None,
    kinds: Sequence[str] = ("static",),
    ctx: RuleContext | None = None,
    codes: Sequence[str] | None = None,
    load_problems: bool = True,
) -> list[Finding]:
    """Run every enabled rule of `kinds` (of `codes`, when given) on one loaded spec; the
    loader's problems, named by their config rules, come first.

    `ctx`: a context the caller keeps, to reuse the formula estimate the rules computed."""
    findings = (
        [
            f
            for f in load_findings(loaded.problems)
            if selection.enabled(f.code, loaded.path, loaded.root)
        ]
        if load_problems
        else []
    )
    if loaded.spec is None:
        return findings
    if ctx is None:
        ctx = RuleContext(loaded=loaded, spec=loaded.spec, measured=measured)
    for code, r in RULES.items():
        if (
            r.check is None
            or r.kind not in kinds
            or (codes is not None and code not in codes)
            or not selection.enabled(code, loaded.path, loaded.root)
        ):
            continue
        try:
            violations = list(r.check(ctx))
        except NotModelled:
            # the family refuses a figure for this spec: ARC304 (from dimension_problems)
            # says why and what to do; no other rule gets a number to judge
            continue
        for v in violations:
            origin = loaded.origin_of(v.key)
            findings.append(
                r.finding(
                    # an inherited key is reported at the `extends` line (where a suppression
                    # comment can go), naming the file and line the value came from
                    v.message
                    + (f" (`{'.'.join(map(str, v.key))}` from {origin})" if origin else ""),
                    loaded.path,
                    loaded.line_of(v.key),
                    loaded.name,
                    fix=v.fix,
                    data=v.data,
                )
            )
    return findings


def _probe_only(code: str) -> bool:
    return code in RULES and RULES[code].kind in ("probe", "behaviour")


def apply_suppressions(
    findings: list[Finding],
    specs: Sequence[LoadedSpec],
    selection: Selection,
    measured: bool = False,
) -> list[Finding]:
    """Drop findings silenced by `# archcheck: ignore[...]`; report unused suppressions (ARC305).

    A suppression of a code only the probe decides (ARC103, ARC205, ...) is not "unused" in a
    static run: the rule did not run, so the comment may still be needed.
    """
    sources = {s.path: s.source for s in specs}
    used: set[tuple[str, int, str]] = set()
    kept: list[Finding] = []
    for f in findings:
        src = sources.get(f.path)
        if src is not None:
            if f.code in src.file_suppressions:
                used.add((f.path, 0, f.code))
                continue
            if f.code in src.line_suppressions.get(f.line, set()):
                used.add((f.path, f.line, f.code))
                continue
        kept.append(f)
    if selection.enabled("ARC305"):
        rule = RULES["ARC305"]
        for path, src in sources.items():
            for line, codes in sorted(src.line_suppressions.items()):
                for code in sorted(codes - {c for p, ln, c in used if p == path and ln == line}):
                    if not measured and _probe_only(code):
                        continue
                    kept.append(rule.finding(f"unused suppression of {code}", path, line))
            for code in sorted(
                src.file_suppressions - {c for p, ln, c in used if p == path and ln == 0}
            ):
                if not measured and _probe_only(code):
                    continue
                kept.append(rule.finding(f"unused file-level suppression of {code}", path, 1))
    return kept


def dedupe(findings: list[Finding]) -> list[Finding]:
    """One finding per (code, file, line, model): the static rule and the behavioural check
    may both report the same pitfall (e.g. ARC201, ARC207); keep the first (static) wording."""
    seen: set[tuple[str, str, int, str | None]] = set()
    out = []
    for f in findings:
        key = (f.code, f.path, f.line, f.model)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def check_spec(
    loaded: LoadedSpec,
    selection: Selection,
    *,
    concern: Concern | None = None,
    probe: bool = False,
    device: str | None = None,
    timeout: float | None = None,
    model: Any = None,
    behaviour: bool = True,
    subprocess: bool = True,
    suppress: bool = True,
    memory: int | None = None,
) -> Outcome:
    """Every finding of one spec (of one concern's codes when `concern` is given).

    probe: measure first (the probe, the n_max search, latency, the behavioural checks) and
    let the budget rules read the measurements. model: an `nn.Module` to measure instead of
    the spec's factory (the fixture); it is probed in this process. A factory that cannot
    be built (ARC303) is reported by every measured concern: it is why that concern has no
    measurement. suppress: apply `# archcheck: ignore[...]` (False lets a caller apply the
    comments of several specs of one file together); unused suppressions (ARC305) are
    reported with the config concern, which sees every static finding of the spec.
    timeout, memory: the isolated child's limits (measure.measure_spec).
    """
    if concern == "config":
        # The config item reports what `archcheck check` reports statically under ARC3,
        # including unused suppressions, which needs every static rule's verdict.
        whole = check_spec(loaded, selection, suppress=suppress)
        config = set(codes_of("config"))
        return Outcome([f for f in whole.findings if f.code in config], None, whole.ctx)
    codes = None if concern is None else codes_of(concern)
    measured: Measurements | None = None
    extra: list[Finding] = []
    if probe and loaded.spec is not None and (concern is None or concern in MEASURED_CONCERNS):
        from .measure import measure_spec

        measured, extra = measure_spec(
            loaded,
            device=device,
            check=concern,
            subprocess=subprocess,
            timeout=timeout,
            model=model,
            behaviour=behaviour,
            memory=memory,
        )
    ctx = None if loaded.spec is None else RuleContext(loaded, loaded.spec, measured)
    findings = run_rules(
        loaded, selection, measured, ctx=ctx, codes=codes, load_problems=concern is None
    )
    findings += [
        f
        for f in extra
        if selection.enabled(f.code, loaded.path, loaded.root)
        and (codes is None or f.code in codes or f.code == "ARC303")
    ]
    findings = dedupe(findings)
    if suppress:
        findings = apply_suppressions(
            findings,
            [loaded],
            selection if concern is None else Selection(select=codes or (), ignore=["ARC305"]),
            measured=probe,
        )
    return Outcome(findings, measured, ctx)
