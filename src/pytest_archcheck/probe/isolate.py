"""Run user model code in a child interpreter; whatever it does becomes a finding, not our end.

Everything that calls a user's factory, forward or loss (the probe, the n_max search, latency
timing, the behavioural checks) runs here, one child per model, or in a worker of the probe
pool (probe/pool.py, which keeps the same guarantees for many models per worker), never in the
calling process:
a forward that calls `os._exit(7)`, segfaults, hangs, clears `os.environ`, `chdir`s away or
allocates a terabyte then ends that child only, and the model gets an ARC303 that says what
happened while every other model is still reported.

How the child is held (what a CI tool running untrusted pull requests needs):

- The request and the result travel through files in a private temporary folder (mode 0700),
  never through the child's stdout: a model that prints bytes that are not UTF-8, or prints a
  forged result, cannot corrupt or fake the channel. The child writes its result atomically
  (temp file + rename) and ends with `os._exit`, so no `atexit` hook of the user's runs after.
- The child's stdout and stderr are read as bytes by two threads that keep only the last
  `OUTPUT_LIMIT` bytes of each, decoded with replacement, and shown as the finding's details.
- The child leads its own session (process group). When it finishes, or when the timeout
  passes, the whole group is killed, so a `sleep 300` it started in the background neither
  outlives the check nor keeps the parent waiting on a pipe: the timeout waits on the process,
  never on its pipes.
- A memory cap per child (RLIMIT_AS, default: the machine's physical memory; not applied on
  CUDA, whose driver maps far more address space than it uses) turns a runaway allocation
  into "ran out of memory under the cap" instead of swapping the machine to a halt.
- The child gets a copy of the environment; nothing it changes (cwd, environment, sys.path,
  signal handlers, open files) reaches the calling process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: `prestart` runs before the spec model is loaded
    from ..findings import Finding
    from ..spec.model import Spec
    from .result import ProbeResult

OUTPUT_LIMIT = 16 * 1024  # bytes of the child's stdout and of its stderr kept for the details
_REAP_S = 2.0  # how long to wait for the output readers after the group is killed


@dataclass
class ChildRun:
    """What one isolated child gave back: its result, or why there is none, and its output."""

    result: Any | None
    failure: str | None  # what happened to the process when there is no result
    output: str  # the tail of its stdout and stderr, decoded with replacement
    pid: int | None = None
    timings: dict[str, float] | None = None  # phase -> seconds (pool workers, timings.py)


def physical_memory() -> int | None:
    """Bytes of physical memory (the default memory cap of a child), None where unknown."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def default_memory_cap(device: str) -> int | None:
    """The address-space cap of a child probing on `device`: none on CUDA (the driver reserves
    address space far beyond what it uses), else the machine's physical memory."""
    return None if device == "cuda" else physical_memory()


class _Tail:
    """Reads a pipe to its end in a thread, keeping the last `limit` bytes (bounded memory
    whatever the child prints)."""

    def __init__(self, stream: IO[bytes], limit: int = OUTPUT_LIMIT) -> None:
        self.data = bytearray()
        self.dropped = 0
        self._stream, self._limit = stream, limit
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while chunk := self._stream.read1(65536):  # type: ignore[attr-defined]
                self.data += chunk
                if len(self.data) > self._limit:
                    cut = len(self.data) - self._limit
                    del self.data[:cut]
                    self.dropped += cut
        except (OSError, ValueError):
            pass

    def text(self) -> str:
        body = self.data.decode("utf-8", errors="replace")
        return f"[{self.dropped} earlier bytes dropped]\n{body}" if self.dropped else body


def _child_env() -> dict[str, str]:
    """The child's environment: a copy of ours, with this package's folder first on
    PYTHONPATH so that the child runs the same code as the parent."""
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONIOENCODING", "utf-8:replace")
    return env


def _kill_group(pgid: int) -> None:
    """SIGKILL the child's whole process group (the child leads it: pgid = its pid)."""
    killpg = getattr(os, "killpg", None)
    if killpg is None:  # Windows: no process groups; Popen.kill ends the child alone
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        killpg(pgid, signal.SIGKILL)


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return "unknown"


class _Early:
    """A child started before its request exists (`prestart`): it imports torch and the probe
    while the caller still parses the spec, then waits on a pipe. Closing the pipe's write end
    releases it; it then runs the request file if there is one and exits at once if not (also
    when the caller died: the kernel closes the pipe)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="archcheck-probe-"))
        self.req_path, self.res_path = self.folder / "request.json", self.folder / "result.json"
        read_end, self.release_fd = os.pipe()
        try:
            self.proc = _spawn(self.req_path, self.res_path, wait_fd=read_end)
        except BaseException:
            os.close(self.release_fd)
            raise
        finally:
            os.close(read_end)
        self.out, self.err = _tails(self.proc)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.release_fd)

    def discard(self) -> None:
        """An unused early child: it has run no user code, so it is simply killed."""
        self.release()
        _kill_group(self.proc.pid)
        with contextlib.suppress(Exception):
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        shutil.rmtree(self.folder, ignore_errors=True)


_early: list[_Early] = []


@contextlib.contextmanager
def prestart(enabled: bool = True) -> Iterator[None]:
    """Start the next isolated child now, so that its `import torch` (1-2 s) overlaps the
    caller's own start (imports, spec parsing): the first `run_child` inside the block takes
    it; an unused one is discarded at the end. For one-model commands (`archcheck probe`)."""
    if not enabled or os.name == "nt":  # Windows: no inheritable pipe fds (pass_fds)
        yield
        return
    try:
        early: _Early | None = _Early()
    except OSError:  # no process or pipe to spare now: the run spawns its child as usual
        early = None
    if early is None:
        yield
        return
    _early.append(early)
    try:
        yield
    finally:
        if early in _early:
            _early.remove(early)
            early.discard()


def _tails(proc: subprocess.Popen[bytes]) -> tuple[_Tail, _Tail]:
    """The readers of a spawned child's stdout and stderr."""
    assert proc.stdout is not None and proc.stderr is not None
    return _Tail(proc.stdout), _Tail(proc.stderr)


def _spawn(req_path: Path, res_path: Path, wait_fd: int | None = None) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "pytest_archcheck.probe.isolate", str(req_path), str(res_path)]
    if wait_fd is not None:
        argv += ["--wait", str(wait_fd)]
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=os.getcwd(), env=_child_env(), start_new_session=True, close_fds=True,
        pass_fds=() if wait_fd is None else (wait_fd,),
    )  # fmt: skip


def run_child(
    request: dict[str, Any],
    timeout: float,
    memory: int | None = None,
    on_start: Callable[[int], None] | None = None,
) -> ChildRun:
    """Run `request` in a fresh child interpreter (its own session), at most `timeout` seconds,
    its address space capped at `memory` bytes (None: no cap). `on_start(pid)` is called once
    the child runs (tests use it to find what the child left behind). A child `prestart`ed
    for it is used when there is one (the timeout counts from the request)."""
    early = _early.pop() if _early else None
    folder = (
        early.folder if early is not None else Path(tempfile.mkdtemp(prefix="archcheck-probe-"))
    )
    try:
        req_path, res_path = folder / "request.json", folder / "result.json"
        req_path.write_text(json.dumps({**request, "memory": memory}), encoding="utf-8")
        if early is not None:
            proc, out, err = early.proc, early.out, early.err
            early.release()
        else:
            proc = _spawn(req_path, res_path)
            out, err = _tails(proc)
        assert proc.stdout is not None and proc.stderr is not None  # both spawned with PIPE
        if on_start is not None:
            on_start(proc.pid)
        timed_out = False
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            proc.kill()
            rc = proc.wait()
        _kill_group(proc.pid)  # whatever the model started in the background goes with it
        for tail in (out, err):
            tail.thread.join(_REAP_S)  # a process that left the group may hold a pipe: no wait
        proc.stdout.close()
        proc.stderr.close()
        output = "\n".join(
            f"--- {name} ---\n{t.text().rstrip()}" for name, t in (("stdout", out), ("stderr", err))
            if t.data
        )  # fmt: skip
        result, failure = _read_result(res_path)
        if timed_out:
            return ChildRun(None, f"did not finish within {timeout:g} s and was killed "
                            "(with every process it started)", output, proc.pid)  # fmt: skip
        if result is not None:
            return ChildRun(result, None, output, proc.pid)
        if failure is None:
            if rc < 0:
                failure = f"was killed by signal {-rc} ({_signal_name(-rc)})"
                if -rc == signal.SIGKILL:
                    failure += ", which the kernel's out-of-memory killer also sends"
            else:
                failure = f"exited with status {rc} before reporting a result"
        return ChildRun(None, failure, output, proc.pid)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _gib(n: int) -> str:
    return f"{n / 2**30:.3g} GiB"


def _read_result(path: Path) -> tuple[Any | None, str | None]:
    """(result, None), (None, why the child reported failure), or (None, None): no result."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f"left an unreadable result ({type(exc).__name__})"
    if not isinstance(doc, dict):
        return None, "left an unreadable result"
    if doc.get("failure"):
        return None, str(doc["failure"])
    return doc.get("result"), None


# ---- the calling side: what the front ends use ------------------------------------------------


def isolated_failure(
    spec: Spec, run: ChildRun, path: str | None, line: int | None, what: str = "probe"
) -> Finding:
    """ARC303 for a child that gave no result: the cause from the child's structured result or
    its exit status, its output kept as details (never a stray stderr line as the message)."""
    from ..rules import RULES

    msg = f"model {spec.name!r}: the isolated {what} process {run.failure}"
    data: dict[str, Any] = {"cause": run.failure}
    if run.output:
        data["details"] = run.output
    return RULES["ARC303"].finding(msg, path or "<spec>", line or 1, spec.name, data=data)


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
    memory: int | None = None,
) -> ProbeResult:
    """`probe.run` in a child: the same result, or an ARC303 saying what happened to it."""
    from .result import ProbeResult

    request = {
        "mode": "probe",
        "spec": spec.model_dump(mode="json"),
        "hf_config": spec.hf_config,
        "devices": _devices_json(spec),
        "root": os.environ.get("ARCHCHECK_ROOT"),
        "device": device,
        "n": n,
        "batch": batch,
        "latency": latency,
        "path": path,
        "line": line,
        "emulate": emulate,
    }
    run = run_child(request, timeout, memory if memory is not None else default_memory_cap(device))
    if run.result is not None:
        return ProbeResult.from_json(run.result)
    res = ProbeResult(name=spec.name, path=path, device=device, n=n, batch=batch)
    res.findings.append(isolated_failure(spec, run, path, line))
    return res


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


# ---- the child ---------------------------------------------------------------------------------


def _limit(memory: int | None) -> None:
    """No core files from a crashing model; the address-space cap when one is set."""
    try:
        import resource
    except ImportError:  # Windows: no rlimits
        return

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = memory if hard == resource.RLIM_INFINITY else min(memory, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _write(res_path: str, doc: dict[str, Any]) -> None:
    tmp = res_path + ".part"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
    os.replace(tmp, res_path)


def _work(req: dict[str, Any]) -> Any:
    if req.get("root"):
        os.environ["ARCHCHECK_ROOT"] = req["root"]
    from ..spec.model import Spec

    spec = Spec.model_validate(req["spec"], context={"devices": _devices_from_json(req)})
    spec.attach_hf_config(req.get("hf_config"))  # private to the spec: not in its dump
    if req["mode"] == "measure":
        from ..measure import measure_in_child

        return measure_in_child(spec, req)
    if req["mode"] == "attention_span":
        from ..behaviour.attention_span import measure_for_spec

        return measure_for_spec(spec, req["data"], req["batch"], req["batches"])
    from . import run

    res = run(
        spec, device=req["device"], n=req["n"], batch=req["batch"], latency=req["latency"],
        path=req["path"], line=req["line"], emulate=req.get("emulate"),
    )  # fmt: skip
    return res.to_json()


def _run_request(req: dict[str, Any], memory: int | None) -> dict[str, Any]:
    """The work of one request as the result document: {"result": ...} or {"failure": why}
    (shared by the fresh child and the pool's workers, probe/pool.py)."""
    from .build import ISOLATED

    if not ISOLATED:
        ISOLATED.append(True)
    try:
        return {"result": _work(req)}
    except MemoryError:
        return {"failure": "ran out of memory"
                + (f" under its cap of {_gib(memory)} (--probe-memory)" if memory else "")}  # fmt: skip
    except BaseException as exc:  # a failure the probe did not turn into a finding
        import traceback

        traceback.print_exc()
        return {"failure": f"failed: {type(exc).__name__}: {str(exc)[:500]}"}


def _child(req_path: str, res_path: str, wait_fd: int | None = None) -> None:
    if wait_fd is not None:  # an early child (prestart): load, then wait to be released
        with contextlib.suppress(Exception):  # what fails here fails again, reported, below
            import pytest_archcheck.probe._preload  # noqa: F401
        with contextlib.suppress(OSError):
            while os.read(wait_fd, 4096):
                pass
            os.close(wait_fd)
        if not os.path.exists(req_path):  # not needed after all, or the caller is gone
            os._exit(0)
    with open(req_path, encoding="utf-8") as fh:
        req: dict[str, Any] = json.load(fh)
    memory = req.get("memory")
    _limit(memory)
    doc = _run_request(req, memory)
    try:
        _write(res_path, doc)
    except MemoryError:
        os._exit(3)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # no atexit hook or finaliser of the model's runs after the result


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], int(sys.argv[4]) if sys.argv[3:4] == ["--wait"] else None)
