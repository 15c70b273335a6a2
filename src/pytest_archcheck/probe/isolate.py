"""Run a probe in a child interpreter with a timeout; hangs and crashes become findings."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from typing import Any

from ..findings import Finding
from ..spec.model import Spec
from .result import ProbeResult

_MARK = "@@ARCHCHECK-PROBE@@"


def _run_child(payload: str, timeout: float) -> tuple[dict[str, Any] | None, str | None]:
    """Run this module in a child interpreter: (the JSON it reported, None), or (None, why
    it reported nothing). Raises subprocess.TimeoutExpired when it outlives `timeout`."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_archcheck.probe.isolate"],
        input=payload, capture_output=True, text=True, timeout=timeout,
        cwd=os.getcwd(), env=dict(os.environ), check=False,
    )  # fmt: skip
    for out_line in reversed(proc.stdout.splitlines()):
        if out_line.startswith(_MARK):
            return json.loads(out_line[len(_MARK) :]), None
    why = (
        f"killed by signal {-proc.returncode}"
        if proc.returncode < 0
        else f"exited with status {proc.returncode}"
    )
    tail = proc.stderr.strip().splitlines()[-1:] or [""]
    return None, f"{why} {tail[0]}".strip()


def run_isolated(
    spec: Spec,
    device: str,
    n: int,
    batch: int,
    latency: bool,
    *,
    timeout: float,
    path: str | None,
    line: int | None,
    emulate: str | None = None,
) -> ProbeResult:
    from . import _factory_finding

    payload = json.dumps(
        {
            "spec": spec.model_dump(mode="json"),
            "devices": _devices_json(spec),
            "device": device,
            "n": n,
            "batch": batch,
            "latency": latency,
            "path": path,
            "line": line,
            "emulate": emulate,
        }
    )
    res = ProbeResult(name=spec.name, path=path, device=device, n=n, batch=batch)
    try:
        reported, why = _run_child(payload, timeout)
    except subprocess.TimeoutExpired:
        res.findings.append(
            _factory_finding(
                spec,
                f"probe did not finish within {timeout:g} s (factory or step hangs?)",
                path,
                line,
            )
        )
        return res
    if reported is not None:
        return ProbeResult.from_json(reported)
    res.findings.append(_factory_finding(spec, f"probe interpreter {why}", path, line))
    return res


def build_isolated(
    spec: Spec, *, timeout: float, path: str | None, line: int | None
) -> Finding | None:
    """Build the model once in a child interpreter: None when it builds, else an ARC303 saying
    why not (a factory that calls os._exit, segfaults or hangs would otherwise take the calling
    process, a whole pytest session, down with it)."""
    from . import _factory_finding

    payload = json.dumps(
        {"spec": spec.model_dump(mode="json"), "devices": _devices_json(spec), "mode": "build"}
    )
    try:
        reported, why = _run_child(payload, timeout)
    except subprocess.TimeoutExpired:
        msg = f"factory {spec.model.factory!r} did not return within {timeout:g} s"
        return _factory_finding(spec, msg, path, line)
    if reported is not None:
        error = reported.get("error")
        return None if error is None else _factory_finding(spec, error, path, line)
    return _factory_finding(spec, f"factory {spec.model.factory!r}: interpreter {why}", path, line)


def _devices_json(spec: Spec) -> dict[str, Any]:
    """The spec's project devices ([tool.archcheck.devices]) for the child, which validates the
    spec again and must know the device its budget names."""
    return {name: dataclasses.asdict(d) for name, d in spec.project_devices.items()}


def _devices_from_json(req: dict[str, Any]) -> dict[str, Any]:
    from ..formulas.devices import Device

    return {
        name: Device(**{**d, "aliases": tuple(d["aliases"])})
        for name, d in (req.get("devices") or {}).items()
    }


def _child() -> None:
    from . import run

    req: dict[str, Any] = json.loads(sys.stdin.read())
    spec = Spec.model_validate(req["spec"], context={"devices": _devices_from_json(req)})
    if req.get("mode") == "build":
        from .build import FactoryError, build_model

        try:
            build_model(spec)
            error = None
        except FactoryError as exc:
            error = str(exc)
        sys.stdout.write("\n" + _MARK + json.dumps({"error": error}) + "\n")
        sys.stdout.flush()
        return
    res = run(
        spec,
        device=req["device"],
        n=req["n"],
        batch=req["batch"],
        latency=req["latency"],
        path=req["path"],
        line=req["line"],
        emulate=req.get("emulate"),
    )
    sys.stdout.write("\n" + _MARK + json.dumps(res.to_json()) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    _child()
