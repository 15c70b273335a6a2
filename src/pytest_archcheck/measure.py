"""Glue between the static engine and the torch side: probes and behavioural checks.

`measure_spec` runs the probe, the n_max search, latency when a latency budget is set, and the
behavioural checks, and returns measurements for the budget rules plus findings. All of it
runs in an isolated process per model: a worker of the probe pool when a front end opened one
(probe/pool.py: `check --probe`, the pytest plugin; `prefetch` hands models over early so that
the workers measure side by side), else a fresh child (probe/isolate.py); results are reused
from the measurement cache when it is on (measurecache.py). The user's factory, forward and loss
never run in the calling process, so a model that exits, crashes, hangs, runs out of memory
or changes the process's cwd or environment is an ARC303 for that model only. The one
exception is the fixture handed an `nn.Module`: the user's own test built that object, in
its own process. Imported only under `--probe`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .families import family_of
from .findings import Finding
from .probe.gpus import default_device, worker_gpu
from .spec.load import LoadedSpec
from .spec.parallel import layout_of
from .timings import phase

if TYPE_CHECKING:
    from .pipeline import Measurements
    from .spec.model import Spec

PROBE_TIMEOUT_S = 600.0
__all__ = ["PROBE_TIMEOUT_S", "default_device", "measure_spec", "worker_gpu"]


def _factory_finding(loaded: LoadedSpec, message: str, line: int | None = None) -> Finding:
    """ARC303 at the spec's factory line: the model could not be built or run."""
    from .rules import RULES

    line = loaded.line_of(("model", "factory")) if line is None else line
    return RULES["ARC303"].finding(message, loaded.path, line, loaded.name)


def measure_spec(
    loaded: LoadedSpec,
    device: str | None = None,
    check: str | None = None,
    subprocess: bool = True,
    timeout: float | None = None,
    model: Any = None,
    behaviour: bool = True,
    memory: int | None = None,
) -> tuple[Measurements | None, list[Finding]]:
    """Measurements (peak, n_max, P95, ...) and probe/behaviour findings for one spec.

    check: the concern to measure ("memory", "latency", "pitfalls"; None: all). model: an
    `nn.Module` to measure instead of the spec's factory (the fixture): probed in this
    process, with no n_max search (that rebuilds the model at other lengths, which only a
    factory can). None (no measurements) when torch is missing.

    subprocess: measure in an isolated child (always, unless `model` is given), bounded by
    `timeout` seconds and an address-space cap of `memory` bytes (None: the default,
    isolate.default_memory_cap)."""
    spec = loaded.spec
    if spec is None:
        return None, []
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return None, [
            _factory_finding(loaded, "--probe needs torch: pip install 'pytest-archcheck[torch]'")
        ]

    device = device or default_device()
    timeout = timeout or PROBE_TIMEOUT_S
    with project_root(loaded):
        if subprocess and model is None:
            return _measure_isolated(loaded, spec, device, check, timeout, behaviour, memory)
        return _measure(loaded, spec, device, check, False, timeout, model, behaviour)


# what each isolated measurement of this process cost, by (spec path, model name, concern):
# phase -> seconds, "cached": True for a cache hit (`check -v`, `--format json` "timings")
TIMINGS: dict[tuple[str, str, str], dict[str, Any]] = {}


def _request(
    loaded: LoadedSpec, spec: Any, device: str, check: str | None, behaviour: bool
) -> dict[str, Any]:
    """What the isolated child (or pool worker) is asked to do for one spec: the same dict
    for `prefetch` and `_measure_isolated`, so that the pool can match them."""
    from .probe.isolate import _devices_json

    return {
        "device": device,
        "check": check,
        "behaviour": behaviour,
        "path": loaded.path,
        "name": loaded.name,
        "line": loaded.line_of(("model", "factory")),
        "locations": spec_locations(loaded),
        "mode": "measure",
        "spec": spec.model_dump(mode="json"),
        "hf_config": spec.hf_config,  # the config.json the transformers class is built from
        "devices": _devices_json(spec),
        "root": os.environ.get("ARCHCHECK_ROOT"),
    }


def _exclusive(spec: Any, device: str, check: str | None) -> bool:
    """Whether the measurement must run alone in the pool: a clock (latency timing) or a GPU
    (its peak and its memory) would be disturbed by a neighbour."""
    timed = spec.budget.p95_latency is not None and device in ("cpu", "cuda")
    return device == "cuda" or (timed and check in (None, "latency"))


def prefetch(
    loaded: LoadedSpec,
    device: str | None = None,
    check: str | None = None,
    timeout: float | None = None,
    behaviour: bool = True,
    memory: int | None = None,
) -> None:
    """Start measuring `loaded` on the active pool now (a later `measure_spec` with the same
    arguments takes the result); nothing when no pool is active or the cache has it."""
    from . import measurecache
    from .probe import pool as probe_pool
    from .probe.isolate import default_memory_cap

    pool = probe_pool.active()
    spec = loaded.spec
    if pool is None or spec is None:
        return
    device = device or default_device()
    with project_root(loaded):
        cap = memory if memory is not None else default_memory_cap(device)
        parts = _parts(_request(loaded, spec, device, check, behaviour), spec, pool)
        for part in parts:
            if measurecache.get(_cache_entry(part, spec, cap)):
                continue
            pool.prefetch(
                part, timeout or PROBE_TIMEOUT_S, cap or None,
                exclusive=_exclusive(spec, device, part["check"]), label=loaded.name,
                counted=part is parts[0],
            )  # fmt: skip


def _parts(request: dict[str, Any], spec: Any, pool: Any) -> list[dict[str, Any]]:
    """The requests one measurement runs as. With a pool of two or more workers, a model
    measured for every concern whose behavioural checks run (a factory, or the transformers
    class) is two tasks that run side by side: the probe (step, n_max search, latency) and the
    behavioural checks. Both build the model and neither needs the other's result, so on an
    otherwise idle pool one model takes the longer of the two instead of their sum (issue #18:
    `check --probe` of one model near its floor). The probe's ARC303 still wins: the checks'
    findings of a model whose probe broke are dropped (`_measure_isolated`)."""
    from .probe.hf_class import builds_real

    if (
        pool is None
        or pool.workers < 2
        or request["check"] is not None
        or not request["behaviour"]
        or not (spec.model.factory or builds_real(spec, fake=False))
    ):
        return [request]
    return [{**request, "behaviour": False}, {**request, "check": "pitfalls"}]


def _measure_isolated(
    loaded: LoadedSpec,
    spec: Any,
    device: str,
    check: str | None,
    timeout: float,
    behaviour: bool,
    memory: int | None,
) -> tuple[Measurements, list[Finding]]:
    """`_measure` in an isolated process (a pool worker when a pool is active, else a fresh
    child): its measurements and findings, or an ARC303 saying what happened to it (and why
    each measured concern has no figure). A cached result is reused (measurecache.py); a
    model measured as two parts (`_parts`) is cached, run and reported per part."""
    import time

    from . import measurecache
    from .pipeline import Measurements
    from .probe import pool as probe_pool
    from .probe.isolate import default_memory_cap, isolated_failure, run_child
    from .probe.result import ProbeResult

    started = time.perf_counter()
    pool = probe_pool.active()
    cap = memory if memory is not None else default_memory_cap(device)
    parts = _parts(_request(loaded, spec, device, check, behaviour), spec, pool)
    entries = [_cache_entry(part, spec, cap) for part in parts]
    got: list[Any] = [measurecache.get(entry) for entry in entries]
    runs: list[Any] = [None] * len(parts)
    if pool is not None:  # every part that is not cached starts before any is waited on
        for i, part in enumerate(parts):
            if got[i] is None:
                runs[i] = pool.start(
                    part, timeout, cap or None,
                    exclusive=_exclusive(spec, device, part["check"]), label=loaded.name,
                    counted=i == 0,
                )  # fmt: skip
    timing: dict[str, Any] = {"cached": all(g is not None for g in got)}
    broken: list[Finding | None] = [None] * len(parts)
    for i, part in enumerate(parts):
        if got[i] is not None:
            continue
        run = runs[i].result() if runs[i] is not None else run_child(part, timeout, cap)
        for key, value in (run.timings or {}).items():
            # the second part's start-up and total are its own: the model's total is the wall
            if i == 0 or key not in ("start_up", "total"):
                timing[key] = value
        if run.result is not None:
            got[i] = run.result
            measurecache.put(entries[i], got[i])
        else:
            what = (
                "behavioural-check" if part["check"] == "pitfalls" and len(parts) > 1 else "model"
            )
            broken[i] = isolated_failure(spec, run, loaded.path, part["line"], what)
    # the worker's own figure (start-up to result) when one part ran; else (cached, or two
    # parts side by side) what this process waited
    if len(parts) > 1 or "total" not in timing:
        timing["total"] = round(time.perf_counter() - started, 3)
    TIMINGS[(loaded.path, loaded.name, check or "all")] = timing
    if broken[0] is not None:
        error = broken[0].message
        return Measurements(
            device=device,
            memory_error=error if check in (None, "memory") else None,
            latency_error=error if check in (None, "latency") else None,
        ), [broken[0]]
    first = got[0]
    assert first is not None
    findings = _findings(first)
    if len(parts) > 1:
        if broken[1] is not None:
            findings.append(broken[1])
        elif not any(f.code == "ARC303" for f in findings):
            findings.extend(_findings(got[1]))
    probe_json = first.get("probe_result")
    result = ProbeResult.from_json(probe_json) if probe_json is not None else None
    return Measurements(probe_result=result, **first["measured"]), findings


def _cache_entry(part: dict[str, Any], spec: Any, cap: int | None) -> str | None:
    """The measurement cache's key of one request (None when the cache is off). The cap is
    part of the key: a model that failed to allocate under one cap may fit another."""
    from . import measurecache

    if not measurecache.enabled():
        return None
    return measurecache.key({**part, "memory_cap": cap}, spec, part["devices"])


def _findings(result: dict[str, Any]) -> list[Finding]:
    """The findings of a child's result document (its JSON carries each rule's `url` too)."""
    return [Finding(**{k: v for k, v in f.items() if k != "url"}) for f in result["findings"]]


def measure_in_child(spec: Any, req: dict[str, Any]) -> dict[str, Any]:
    """The child's side of `_measure_isolated`: measure in this (isolated) process and return
    what the parent rebuilds, as JSON."""
    from dataclasses import fields

    from .spec.locate import SourceMap

    lines: dict[tuple[str | int, ...], int] = {
        tuple(k.split(".")): v for k, v in req["locations"].items()
    }
    lines[("model", "factory")] = req["line"]
    loaded = LoadedSpec(path=req["path"], name=req["name"], spec=spec, source=SourceMap(lines))
    measured, findings = _measure(
        loaded, spec, req["device"], req["check"], False, PROBE_TIMEOUT_S, None, req["behaviour"]
    )
    return {
        "measured": {
            f.name: getattr(measured, f.name) for f in fields(measured) if f.name != "probe_result"
        },
        "probe_result": None if measured.probe_result is None else measured.probe_result.to_json(),
        "findings": [f.to_json() for f in findings],
    }


@contextmanager
def project_root(loaded: LoadedSpec) -> Iterator[None]:
    """Factories import from the spec's own project (its pyproject.toml folder), also in the
    probe subprocesses, which inherit ARCHCHECK_ROOT."""
    previous = os.environ.get("ARCHCHECK_ROOT")
    if loaded.root is not None:
        os.environ["ARCHCHECK_ROOT"] = str(loaded.root)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("ARCHCHECK_ROOT", None)
        else:
            os.environ["ARCHCHECK_ROOT"] = previous


def _measure(
    loaded: LoadedSpec,
    spec: Any,
    device: str,
    check: str | None,
    subprocess: bool,
    timeout: float = PROBE_TIMEOUT_S,
    model: Any = None,
    behaviour: bool = True,
) -> tuple[Measurements, list[Finding]]:
    from . import probe

    found: dict[str, Any] = {}
    findings: list[Finding] = []
    line = loaded.line_of(("model", "factory"))
    want_latency = spec.budget.p95_latency is not None and device in ("cpu", "cuda")
    result = None
    if check in (None, "memory", "latency"):
        # The fake probe materialises fake parameters in the module it is given: hand it a
        # copy so that the user's model is never touched.
        probed = copy.deepcopy(model) if model is not None and device == "fake" else model
        res = result = probe.run(
            spec,
            device=device,
            n=family_of(spec).budget_n(spec),
            batch=spec.train.batch,
            latency=want_latency and check in (None, "latency"),
            subprocess=subprocess and model is None,
            timeout=timeout,
            path=loaded.path,
            line=line,
            model=probed,
        )
        findings.extend(res.findings)
        # the sharded fake probe measures rank 0 (extra["layout"]); others the whole model
        sharded = layout_of(spec).sharded and "layout" not in res.extra
        if res.peak_bytes is not None and sharded:
            # One process cannot reproduce ZeRO or tensor-parallel sharding: the probe's
            # unsharded peak is reported, and the budget rules keep the per-rank formula.
            found["unsharded_peak_bytes"] = res.peak_bytes
        elif res.peak_bytes is not None:
            found["peak_bytes"] = res.peak_bytes
            found["attention_kernel"] = res.attention_kernel
            found["target"] = res.target
            if res.flops:
                found["flops_train_step"] = res.flops.get("train_step")
        if res.latency:
            found["p95_ms"] = res.latency.get("p95_ms")
            found["p95_s"] = res.latency["p95_ms"] / 1e3 if res.latency.get("p95_ms") else None
            found["latency_device"] = device
        if (
            check in (None, "memory")
            and model is None
            and res.peak_bytes is not None
            and spec.budget.memory
            and spec.budget.max_n
            and res.peak_bytes > spec.budget.memory
        ):
            with phase("n_max_search"):
                n_max, probes = probe.search_n_max(spec, spec.budget.memory, device=device)
            found["n_max"] = n_max or None
            found["probes"] = probes
        broken = next((f for f in findings if f.code == "ARC303"), None)
        if broken is not None:  # why this concern has no measurement (no formula figure instead)
            for concern in ("memory", "latency"):
                if check in (None, concern):
                    found[f"{concern}_error"] = broken.message
    # Behavioural checks test the user's code; a spec without a factory is probed on our
    # reference implementation, whose masks and initialisation say nothing about theirs --
    # unless it comes from a config.json, whose transformers class the probe builds.
    # (This runs in the isolated child, or on the fixture's own model object.)
    from .probe.hf_class import builds_real

    if (
        behaviour
        and check in (None, "pitfalls")
        and (model is not None or spec.model.factory or builds_real(spec, fake=False))
        and not any(f.code == "ARC303" for f in findings)
    ):
        with phase("behaviour"):
            findings.extend(_behaviour(loaded, model))
    from .pipeline import Measurements

    return Measurements(device=device, probe_result=result, **found), findings


def spec_locations(loaded: LoadedSpec) -> dict[str, int]:
    """ "table.key" -> line for every key the spec file defines (for behavioural findings)."""
    from .spec.model import TABLE_KEYS

    out: dict[str, int] = {}
    lines = loaded.source.lines
    for table, keys in TABLE_KEYS.items():
        for key in keys:
            if loaded.prefix:
                k = (*loaded.prefix, key) if table == "model" else (*loaded.prefix, table, key)
            else:
                k = (table, key)
            if k in lines:
                out[f"{table}.{key}"] = lines[k]
    first = loaded.line_of(("model",))
    out.setdefault("model", first)
    return out


TOO_LARGE = "the model is too large to run on the CPU even at 2 layers"


@dataclass(frozen=True)
class BehaviourPlan:
    """What the behavioural checks build: `spec` (None: too large to run even at 2 layers),
    and `reach_spec`, the full-depth spec the reach check builds when `spec` was cut and depth
    changes what the model reaches (windowed attention, convolution stacks)."""

    spec: Spec | None
    reach_spec: Spec | None = None

    @property
    def skip(self) -> str | None:
        """Why the checks do not run, or None."""
        return TOO_LARGE if self.spec is None else None


def behaviour_plan(spec: Spec) -> BehaviourPlan:
    """How deep a model the behavioural checks build (issue #18: a model's checks in about a
    second). Causality, padding, masks, positional information and the positional table are
    properties of every block, so a model whose depth the spec decides is built at 2 layers
    where that loses nothing:

    - the transformers class (the spec's config.json): at 2 layers, with its mask argument;
    - the family's reference module (no factory): at 2 layers -- it is our code, every block
      the same -- and again at full depth for the reach check alone when depth changes the
      reach (gpt-small's 12 layers at d 768 took 6.0 s of checks, most of it depth);
    - a repository's factory that takes `{model.layers}`: at full depth (a bug may sit in a
      later block of code we did not write) unless that is over BEHAVIOUR_MAX_PARAMS
      parameters (llama2.c's 7B default), then at 2 layers;
    - any other factory: as it is built.

    A model still over BEHAVIOUR_MAX_PARAMS at 2 layers is not run (`skip`)."""
    from .formulas.params import params_from_spec
    from .probe.build import reads_spec_key
    from .probe.hf_class import (
        BEHAVIOUR_MAX_PARAMS,
        behaviour_spec,
        builds_real,
        cut_for_behaviour,
    )

    m = spec.model
    if builds_real(spec, fake=False):
        return BehaviourPlan(behaviour_spec(spec))
    if m.factory is None:
        cut = cut_for_behaviour(spec)
        if cut is None:
            return BehaviourPlan(None)
        if cut.model.layers == m.layers:
            return BehaviourPlan(spec)
        return BehaviourPlan(cut, reach_spec=spec if _depth_moves_reach(spec, cut) else None)
    if reads_spec_key(m.factory_args, "model.layers") or reads_spec_key(
        m.config_args, "model.layers"
    ):
        try:
            fits = params_from_spec(spec) <= BEHAVIOUR_MAX_PARAMS
        except Exception:  # a family that cannot count it: build what the factory builds
            fits = True
        return BehaviourPlan(spec if fits else cut_for_behaviour(spec))
    return BehaviourPlan(spec)


def _depth_moves_reach(full: Spec, cut: Spec) -> bool:
    """Whether the cut model reaches differently from the full one (the family's path
    formula at both depths: a window or a convolution stack grows with depth, full attention
    and recurrence do not)."""
    fam = family_of(full)
    n = max(full.budget.max_n or 0, full.train.seq_len or 0, 64)
    try:
        a, b = fam.path(full, None, n), family_of(cut).path(cut, None, n)
    except Exception:  # no formula for it: measure the full model
        return True
    return (a.reach, a.receptive_field) != (b.reach, b.receptive_field)


def _behaviour(loaded: LoadedSpec, model: Any = None) -> list[Finding]:
    """Behavioural checks on the model itself (positional, causal, padding, masks, reach):
    `model` when given, else the spec's factory."""
    if loaded.spec is None:
        return []
    from . import behaviour
    from .probe.build import FactoryError, build_model, out_of_memory

    spec = loaded.spec
    why = family_of(spec).no_behaviour
    plan = behaviour_plan(spec) if why is None and model is None else None
    why = why or (plan.skip if plan is not None else None)
    if why is not None:
        import logging

        logging.getLogger("pytest_archcheck").info(
            "%s: behavioural checks not run: %s", loaded.name, why
        )
        return []
    reach: tuple[Any, Spec] | None = None
    if plan is not None:
        assert plan.spec is not None
        if plan.reach_spec is not None:
            full = plan.reach_spec
            reach = (lambda: build_model(full), full)
        spec = plan.spec
        try:
            with phase("build"):
                model = build_model(spec)  # the factory, the transformers class, or the reference
        except FactoryError as exc:
            oom = out_of_memory(exc)
            if oom is not None:  # the isolated process's top level names the cap
                raise oom from exc
            return [_factory_finding(loaded, str(exc))]
    try:
        return list(
            behaviour.run_all(model, spec, loaded.path, spec_locations(loaded), reach=reach)
        )
    except Exception as exc:  # the user's model failed in a way the checks did not anticipate
        oom = out_of_memory(exc)
        if oom is not None:
            raise oom from exc
        return [
            _factory_finding(
                loaded, f"behavioural checks could not run the model: {type(exc).__name__}: {exc}"
            )
        ]


def render_probe_text(res: Any) -> None:
    """Rich table of one probe result."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from .report.formats import clean
    from .units import format_bytes, format_count

    target = f", target {res.target}" if res.target else ""
    title = f"{res.name}: probe on {res.device} at batch {res.batch} × n {res.n}{target}"
    t = Table(title=Text(clean(title)))
    t.add_column("quantity")
    t.add_column("value", justify="right")
    if res.peak_bytes is None:
        t.add_row("peak", "not measured (see findings)")
    else:
        t.add_row("training-step peak", format_bytes(res.peak_bytes))
        for k, v in (res.breakdown or {}).items():
            t.add_row(f"  {k}", format_bytes(v))
        t.add_row("attention kernel", str(res.attention_kernel))
    if res.flops:
        t.add_row("forward FLOPs", format_count(res.flops.get("forward")))
        t.add_row("train-step FLOPs", format_count(res.flops.get("train_step")))
    if res.latency:
        lat = res.latency
        t.add_row(
            "latency p50 / p95 / p99",
            f"{lat.get('p50_ms', 0):.2f} / {lat.get('p95_ms', 0):.2f} / {lat.get('p99_ms', 0):.2f} ms",
        )
        t.add_row("samples", str(lat.get("samples")))
    t.add_row("probes", str(res.probes))
    if isinstance(res.extra.get("model"), str):  # a spec from a config.json: which model ran
        t.add_row("model", res.extra["model"])
    console = Console(markup=False)  # a model's name or key is text, never a tag
    console.print(t)
    for f in res.findings:
        console.print(
            f"{clean(f.path)}:{f.line}: {f.code} {clean(f.message)}", soft_wrap=True, markup=False
        )
        details = f.data.get("details")
        if isinstance(details, str) and details.strip():
            console.print("  details:", markup=False)
            for d in details.rstrip().split("\n")[-40:]:
                console.print(f"    {clean(d)}", soft_wrap=True, markup=False)
