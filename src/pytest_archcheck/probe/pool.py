"""A pool of isolated probe workers: `import torch` once, many models, each failure its own.

Why: a fresh child interpreter per model (isolate.run_child) re-pays `import torch` (about
2 s here) and the interpreter start for every model; over a folder of examples that is most of
the wall time of `check --probe`. Here a few long-lived workers serve every model of a run,
and each keeps what isolate.py promises (docs/isolation.md):

- **Workers start from a torch-loaded parent.** The pool uses pebble's ProcessPool on the
  "forkserver" start method with torch (and the probe's modules) preloaded in the fork
  server: torch is imported once per run, and a worker that has to be replaced is a fork of
  that server, ready in milliseconds. Nothing in the fork server runs a torch op (a fork after
  OpenMP started can hang), and it never runs user code.
- **Own session, memory cap.** Each worker leads its own process group (setsid) and applies
  the address-space cap (RLIMIT_AS) and no-core-files limit before it serves anything.
- **Private result channel.** The request goes through pebble's pipe; the result is written
  atomically to a file in a private 0700 folder of that task, as a fresh child writes it. What
  the model prints goes to two FIFOs in that folder (fd 1 and 2 are redirected for the task),
  read by the parent's threads that keep the last 16 KiB of each: bounded memory and disk,
  whatever the model prints, and its output never mixes with the channel.
- **Between two models** the worker restores its working directory, `os.environ`, `sys.path`,
  signal handlers, `sys.stdout`/`sys.stderr`, drops every module imported from outside the
  interpreter's and the installed packages' folders (the user's modules: the next model
  imports its own afresh), reseeds torch's default generator, and kills every process the
  model left in its process group. Torch's global state (default dtype and device, grad and
  inference mode, dispatch modes, deterministic and anomaly flags, thread count) is compared
  with the state the worker started with.
- **Recycling.** A worker exits after a model whose run failed (an ARC303, MemoryError, any
  failure), whose torch state or threads it cannot restore, or after `MAX_TASKS` models (what
  leaks in a long-lived process stays bounded); the next model gets a fresh fork.
- **Kill and replace.** A model that hangs past the timeout, exits, segfaults or is killed
  ends its worker only; the parent kills that worker's whole process group, reports ARC303
  for that model with what happened (the same words as a fresh child's), and pebble starts a
  replacement. The other models in flight are untouched.
- **Fair measurements.** Models whose measurement is a clock (latency timing) or a device
  (`--device cuda`) run alone: no other worker runs meanwhile, so neither a CPU P95 nor a GPU
  peak is disturbed by a neighbour. Each worker uses cores / workers intra-op threads.

`Pool.start` is what measure.py calls when a pool is active (`active()`); `prefetch` submits a
model early so that several run at once while the caller walks its specs in order.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .isolate import OUTPUT_LIMIT, ChildRun, _kill_group, _read_result, _signal_name, _Tail

RECYCLE_EXIT = 86  # a worker's exit status when it retires itself after reporting its result
MAX_TASKS = 16  # models one worker serves before it is replaced
_REAP_S = 2.0
_PRELOAD = "pytest_archcheck.probe._preload"


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity where the OS has one (a container
    or `taskset` pinned to 2 of a host's 64 cores gets 2, where os.cpu_count() says 64 and
    torch's threads would then crowd two cores), else os.cpu_count()."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """Workers when -j / --archcheck-workers is not given: two where there are two cores or
    more (one model builds while the other steps), one on a single core."""
    return 2 if usable_cores() >= 2 else 1


# ---- the parent's side -------------------------------------------------------------------------


class _Exclusive:
    """Shared/exclusive lock: ordinary models share the pool, a timed or GPU model runs
    alone (writers first, so that a queue of ordinary models cannot starve it)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0

    @contextlib.contextmanager
    def hold(self, exclusive: bool) -> Iterator[None]:
        with self._cond:
            if exclusive:
                self._waiting += 1
                self._cond.wait_for(lambda: not self._exclusive and self._shared == 0)
                self._waiting -= 1
                self._exclusive = True
            else:
                self._cond.wait_for(lambda: not self._exclusive and self._waiting == 0)
                self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                if exclusive:
                    self._exclusive = False
                else:
                    self._shared -= 1
                self._cond.notify_all()


class _Fifo:
    """A FIFO in the task folder that the worker redirects one of its streams to; a reader
    thread keeps the tail. The parent holds a write end too until the task is over, so the
    reader sees no end of file before the worker has opened its end."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path, 0o600)
        rfd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self._hold: int | None = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.set_blocking(rfd, True)
        self.tail = _Tail(os.fdopen(rfd, "rb"), OUTPUT_LIMIT)

    def finish(self) -> None:
        if self._hold is not None:
            os.close(self._hold)
            self._hold = None
        self.tail.thread.join(_REAP_S)  # an orphan that left the group may hold it: no wait
        with contextlib.suppress(OSError):
            self.tail._stream.close()


def _request_key(request: dict[str, Any]) -> str:
    return json.dumps(request, sort_keys=True, default=str)


class Pool:
    """Long-lived isolated workers for one run (`check --probe`, a pytest session)."""

    def __init__(self, workers: int | None = None, max_tasks: int = MAX_TASKS) -> None:
        self.workers = max(1, workers or default_workers())
        self.cores = usable_cores()  # read once: _share_cores runs at every task's start and end
        self.max_tasks = max_tasks
        self._pebble: dict[int | None, Any] = {}  # one pebble pool per memory cap
        self._lock = threading.Lock()
        self._turns = _Exclusive()
        self._dispatch = ThreadPoolExecutor(self.workers, thread_name_prefix="archcheck-pool")
        self._pending: dict[str, list[Future[ChildRun]]] = {}
        self._pids: set[int] = set()  # every worker seen: their groups are killed at close
        # task id -> (label, started, counted): a model's second part (measure._parts) runs
        # under the same label uncounted, so progress counts models, not tasks
        self.running: dict[int, tuple[str, float, bool]] = {}
        self.folders: dict[int, Path] = {}  # task id -> its folder (the worker's phase file)
        # running tasks that compute in torch's threads, and those that run Python (fake
        # probes); the thread count each computing task was given (_share_cores)
        self._computing: set[int] = set()
        self._python: set[int] = set()
        self._threads: dict[int, int] = {}
        self.done = 0
        self.submitted = 0
        # what the fork server and the workers print outside a model's run (pebble's own
        # start-up and shutdown messages): kept out of the user's stderr, logged under -v
        self._log = Path(tempfile.mkdtemp(prefix="archcheck-pool-log-")) / "workers.log"
        self._ids = 0
        self._closed = False

    # -- scheduling -------------------------------------------------------------------------------
    def submit(
        self,
        request: dict[str, Any],
        timeout: float,
        memory: int | None,
        *,
        exclusive: bool = False,
        label: str = "",
        counted: bool = True,
    ) -> Future[ChildRun]:
        """Start `request` on a worker as soon as one is free (and, when `exclusive`, alone).
        `counted`: whether it is a model of its own in the progress count (not a second part
        of one already counted)."""
        if self._closed:
            raise RuntimeError("the probe pool is closed")
        with self._lock:
            self.submitted += counted
        # the caller's cwd and environment now (a fresh child would copy them at its start)
        where = (os.getcwd(), dict(os.environ))
        return self._dispatch.submit(
            self._one, request, timeout, memory, exclusive, (label, counted), where
        )

    def prefetch(
        self,
        request: dict[str, Any],
        timeout: float,
        memory: int | None,
        *,
        exclusive: bool = False,
        label: str = "",
        counted: bool = True,
    ) -> None:
        """Submit now; a later `start` of an equal request takes this run."""
        fut = self.submit(
            request, timeout, memory, exclusive=exclusive, label=label, counted=counted
        )
        with self._lock:
            self._pending.setdefault(_request_key(request), []).append(fut)

    def start(
        self,
        request: dict[str, Any],
        timeout: float,
        memory: int | None,
        *,
        exclusive: bool = False,
        label: str = "",
        counted: bool = True,
    ) -> Future[ChildRun]:
        """The prefetched run of an equal request, or a new one, without waiting for it."""
        with self._lock:
            queue = self._pending.get(_request_key(request))
            fut = queue.pop(0) if queue else None
        if fut is None:
            fut = self.submit(
                request, timeout, memory, exclusive=exclusive, label=label, counted=counted
            )
        return fut

    # -- one task ---------------------------------------------------------------------------------
    def _threads_for(self, task_id: int, request: dict[str, Any]) -> int:
        """Register a task starting now (under the lock) and return torch's intra-op threads
        for it; the running tasks' counts are updated (`_share_cores`)."""
        python = request.get("device") == "fake" and not request.get("behaviour")
        (self._python if python else self._computing).add(task_id)
        return self._share_cores(task_id)

    def _share_cores(self, starting: int | None = None) -> int:
        """Share the cores among the running tasks (under the lock), as torch's intra-op
        threads: a probe on fake tensors runs Python, one core and one thread; the tasks that
        compute (behavioural checks, CPU steps, timings) share the rest. Each computing
        task's count is written to its folder's `threads` file, which its worker reads at
        every phase change (`_follow_threads`): a model's behavioural checks run at one
        thread beside its own fake probe and at every core once the probe is done (gpt-small's
        checks take 4.3 s at one thread, 2.4 s at two), and never more threads than cores
        (spinning OpenMP threads on a shared core slow every task). Returns the count of
        `starting` (1 for a fake probe)."""
        cores = self.cores
        share = max(1, (cores - len(self._python)) // max(1, len(self._computing)))
        for task in self._computing:
            if task != starting and self._threads.get(task) != share:
                folder = self.folders.get(task)
                if folder is not None:
                    _write_small(folder / "threads", str(share))
            self._threads[task] = share
        return share if starting in self._computing else 1

    def _pebble_for(self, memory: int | None) -> Any:
        with self._lock:
            pool = self._pebble.get(memory)
            if pool is None:
                import multiprocessing

                from pebble import ProcessPool

                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload([_PRELOAD])
                _start_fork_server(self._log)
                threads = max(1, self.cores // self.workers)
                pool = ProcessPool(
                    max_workers=self.workers,
                    max_tasks=self.max_tasks,
                    initializer=_init_worker,
                    initargs=(memory, threads),
                    context=ctx,
                )
                self._pebble[memory] = pool
            return pool

    def _one(
        self, request: dict[str, Any], timeout: float, memory: int | None, exclusive: bool,
        shown: tuple[str, bool], where: tuple[str, dict[str, str]],
    ) -> ChildRun:  # fmt: skip
        from concurrent.futures import TimeoutError as FutureTimeout
        from concurrent.futures import wait
        from concurrent.futures.process import BrokenProcessPool

        from pebble import ProcessExpired

        folder = Path(tempfile.mkdtemp(prefix="archcheck-pool-"))
        fifos: list[_Fifo] = []
        timed_out, rc, broke = False, 0, None
        try:
            fifos = [_Fifo(folder / "stdout"), _Fifo(folder / "stderr")]
            with self._turns.hold(exclusive):
                with self._lock:
                    self._ids += 1
                    task_id = self._ids
                    self.running[task_id] = (shown[0], time.monotonic(), shown[1])
                    self.folders[task_id] = folder
                    threads = self._threads_for(task_id, request)
                full = {**request, "memory": memory, "cwd": where[0], "env": where[1],
                        "threads": threads}  # fmt: skip
                try:
                    for attempt in (1, 2):
                        pool = self._pebble_for(memory)
                        fut = pool.schedule(
                            _serve, args=(full, str(folder), time.time()), timeout=timeout
                        )
                        while not fut.done():  # a closing pool (Ctrl-C) must not wait on it
                            wait([fut], timeout=0.5)
                            if self._closed and not fut.done():
                                fut.cancel()
                                raise RuntimeError("the run was interrupted")
                        problem = fut.exception()
                        # pebble gives up on a pool it thinks broken ("All workers expired"),
                        # failing every task in it: replace the pool and run the model again,
                        # once (measuring is idempotent); never report it as the model's fault
                        if not isinstance(problem, BrokenProcessPool) or attempt == 2:
                            break
                        self._discard(memory, pool)
                    fut.result()
                except (TimeoutError, FutureTimeout):
                    timed_out = True
                except ProcessExpired as exc:
                    rc = exc.exitcode if exc.exitcode is not None else -signal.SIGKILL
                except Exception as exc:  # the pool itself broke: say so, never hang
                    broke = f"could not be run by the worker pool: {type(exc).__name__}: {exc}"
                finally:
                    with self._lock:
                        self.running.pop(task_id, None)
                        self.folders.pop(task_id, None)
                        self._computing.discard(task_id)
                        self._python.discard(task_id)
                        self._threads.pop(task_id, None)
                        self._share_cores()
                        self.done += shown[1]
            pid = _read_pid(folder / "pid")
            if pid is not None:
                self._pids.add(pid)
                if timed_out or rc:  # the worker is gone (or going): its group goes with it
                    _kill_group(pid)
            for f in fifos:
                f.finish()
            output = "\n".join(
                f"--- {name} ---\n{f.tail.text().rstrip()}"
                for name, f in zip(("stdout", "stderr"), fifos, strict=True)
                if f.tail.data
            )
            result, failure = _read_result(folder / "result.json")
            timings = _read_timings(folder / "result.json")
            if timed_out:
                return ChildRun(None, f"did not finish within {timeout:g} s and was killed "
                                "(with every process it started)", output, pid)  # fmt: skip
            if result is not None:
                return ChildRun(result, None, output, pid, timings)
            if failure is None:
                failure = broke or _exit_failure(rc)
            return ChildRun(None, failure, output, pid, timings)
        finally:
            for f in fifos:
                f.finish()
            import shutil

            shutil.rmtree(folder, ignore_errors=True)

    def _discard(self, memory: int | None, pool: Any) -> None:
        """Stop a pebble pool that broke; the next task of that cap gets a new one."""
        with self._lock:
            if self._pebble.get(memory) is pool:
                del self._pebble[memory]
        with contextlib.suppress(Exception):
            pool.stop()
            pool.join(timeout=10)

    # -- the end ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every worker and kill whatever their groups still hold."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            for queue in self._pending.values():
                for fut in queue:
                    fut.cancel()
            self._pending.clear()
        for pool in self._pebble.values():  # in-flight models end with their workers
            pool.stop()
            with contextlib.suppress(Exception):
                pool.join(timeout=10)
        self._dispatch.shutdown(wait=True, cancel_futures=True)
        for pid in self._pids:
            _kill_group(pid)
        _log_tail(self._log)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _start_fork_server(log: Path) -> None:
    """Start multiprocessing's fork server (once per process) with its stdout and stderr on
    `log`: a worker that pebble starts while the pool shuts down can fail to unpickle pebble's
    channel lock, and its traceback would otherwise land on the user's stderr. What a model
    prints never goes there (its run has its own FIFOs)."""
    from multiprocessing import forkserver

    server = forkserver._forkserver
    if getattr(server, "_forkserver_pid", None) is not None:
        return  # running already (its streams are what they are)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    saved = (os.dup(1), os.dup(2))
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        forkserver.ensure_running()
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (fd, *saved):
            os.close(f)


def _log_tail(log: Path) -> None:
    """The workers' own messages, at INFO (`-v`), then the log is removed."""
    import logging
    import shutil

    try:
        with open(log, "rb") as fh:
            fh.seek(max(0, log.stat().st_size - 4096))
            text = fh.read().decode("utf-8", errors="replace").strip()
    except OSError:
        text = ""
    if text:
        logging.getLogger("archcheck").info("probe workers said:\n%s", text)
    shutil.rmtree(log.parent, ignore_errors=True)


def _exit_failure(rc: int) -> str:
    if rc < 0:
        why = f"was killed by signal {-rc} ({_signal_name(-rc)})"
        if -rc == signal.SIGKILL:
            why += ", which the kernel's out-of-memory killer also sends"
        return why
    return f"exited with status {rc} before reporting a result"


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None


def _read_timings(path: Path) -> dict[str, float] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    t = doc.get("timings") if isinstance(doc, dict) else None
    return t if isinstance(t, dict) else None


# ---- the run's pool ------------------------------------------------------------------------------

_active: list[Pool] = []  # the innermost `using` block's pool last


def active() -> Pool | None:
    """The pool measure.py sends models to, when a front end opened one (`using`)."""
    return _active[-1] if _active else None


@contextlib.contextmanager
def using(workers: int | None = None, progress: bool = False) -> Iterator[Pool]:
    """Open a pool for the block: every isolated measurement inside goes to it."""
    pool = Pool(workers)
    _active.append(pool)
    ticker = _Progress(pool) if progress else None
    try:
        yield pool
    finally:
        if ticker is not None:
            ticker.stop()
        _active.remove(pool)
        pool.close()


class _Progress:
    """A rich progress bar on stderr (a terminal only; the caller decides), redrawn twice a
    second: which models are being measured, the phase each is in (build, step, the n_max
    search, each behavioural check: the worker announces it, timings.phase), for how long,
    and how many are done. Transient: it is gone when the run ends, before the report."""

    def __init__(self, pool: Pool) -> None:
        from rich.progress import BarColumn, SpinnerColumn, TextColumn

        from ..progress import transient_bar

        self.pool = pool
        self._start = time.monotonic()
        self._stop = threading.Event()
        # markup off: a model named "[gpt-small]" is a name, not a tag
        self._bar = transient_bar(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=20),
            TextColumn("{task.fields[status]}", markup=False),
            auto_refresh=False,
        )
        self._task = self._bar.add_task(self.models(), total=None, status=self.status())
        self._bar.start()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def phase(self, task_id: int) -> str:
        """The phase the worker of `task_id` announced last ("" before its first)."""
        folder = self.pool.folders.get(task_id)
        if folder is None:
            return ""
        try:
            return (folder / "phase").read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return ""

    def models(self) -> str:
        now = time.monotonic()
        # one entry per model: its parts' phases, the counted part's first
        grouped: dict[str, tuple[float, list[str]]] = {}
        for task_id, (name, t0, _counted) in sorted(
            self.pool.running.items(), key=lambda kv: (not kv[1][2], kv[0])
        ):
            step = self.phase(task_id)
            first, steps = grouped.get(name, (t0, []))
            grouped[name] = (min(first, t0), [*steps, step] if step else steps)
        parts = []
        for name, (t0, steps) in grouped.items():
            shown = f" ({' | '.join(steps)})" if steps else ""
            parts.append(f"{name}{shown} {now - t0:.0f}s")
        return f"archcheck: measuring {', '.join(parts) or 'waiting'}"

    def status(self) -> str:
        elapsed = time.monotonic() - self._start
        return f"[{self.pool.done}/{self.pool.submitted} done, {elapsed:.0f}s]"

    def line(self) -> str:
        return f"{self.models()} {self.status()}"

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            with contextlib.suppress(Exception):
                self._bar.update(
                    self._task,
                    description=self.models()[:160],
                    total=max(1, self.pool.submitted),
                    completed=self.pool.done,
                    status=self.status(),
                )
                self._bar.refresh()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(1.0)
        with contextlib.suppress(Exception):
            self._bar.stop()


# ---- the worker's side ---------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(memory: int | None, threads: int) -> None:
    """pebble's initializer: own session, limits, torch (normally already loaded by the fork
    server). Never raises: a worker that cannot start reports why on its first model (a
    raising initializer would make pebble restart workers forever)."""
    started = time.perf_counter()
    with contextlib.suppress(OSError):
        os.setsid()
    try:
        from .isolate import _limit

        _limit(memory)
        import torch

        torch.set_num_threads(threads)
        _WORKER["baseline_threads"] = threads
        __import__(_PRELOAD)
        _WORKER["baseline"] = _torch_state()
        # every request starts from the same RNG state, whichever worker serves it and
        # whatever ran there before: a model's random initial weights, and so every figure a
        # behavioural check reports (a rounding-level difference in ARC201's data, say), are
        # the same on every run -- a cached result equals a fresh one
        _WORKER["seed"] = 0
        _WORKER["signals"] = _signal_handlers()
        _WORKER["threads"] = {t.ident for t in threading.enumerate()}
        _WORKER["roots"] = _library_roots()
    except BaseException as exc:
        _WORKER["error"] = f"{type(exc).__name__}: {exc}"
    _WORKER["init_s"] = time.perf_counter() - started
    _WORKER["served"] = 0


def _library_roots() -> tuple[str, ...]:
    """Folders whose modules a worker keeps between models: the interpreter's, the installed
    packages', and archcheck's own (an editable checkout included)."""
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    with contextlib.suppress(AttributeError):
        roots.update(site.getsitepackages())
    roots.add(str(Path(__file__).resolve().parents[1]))
    return tuple(sorted(os.path.realpath(r) + os.sep for r in roots))


def _torch_state() -> tuple[object, ...]:
    """Torch's process-wide settings a model can change and the next model would inherit."""
    import torch

    modes: object = None
    with contextlib.suppress(Exception):
        from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

        modes = len(_get_current_dispatch_mode_stack())
    device: object = None
    with contextlib.suppress(Exception):
        device = str(torch.get_default_device())
    return (
        torch.get_default_dtype(),
        device,
        torch.is_grad_enabled(),
        torch.is_inference_mode_enabled(),
        torch.are_deterministic_algorithms_enabled(),
        torch.is_anomaly_enabled(),
        torch.get_num_threads(),
        torch.get_float32_matmul_precision(),
        modes,
    )


def _signal_handlers() -> dict[int, Any]:
    out: dict[int, Any] = {}
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        with contextlib.suppress(ValueError, OSError, TypeError):
            out[int(sig)] = signal.getsignal(sig)
    return out


def _redirect(folder: str) -> tuple[int, int]:
    """fd 1 and 2 into the task's FIFOs; returns the saved descriptors."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = (os.dup(1), os.dup(2))
    for fd, name in ((1, "stdout"), (2, "stderr")):
        w = os.open(os.path.join(folder, name), os.O_WRONLY)
        os.dup2(w, fd)
        os.close(w)
    return saved


def _unredirect(saved: tuple[int, int]) -> None:
    for stream in (sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()
    for fd, old in zip((1, 2), saved, strict=True):
        os.dup2(old, fd)
        os.close(old)


def _kill_my_group() -> bool:
    """Kill every process in this worker's group but the worker (what the model started);
    False where that cannot be done (no /proc): the worker then retires, and the parent
    kills its whole group."""
    me, group = os.getpid(), os.getpgid(0)
    if group != me or not os.path.isdir("/proc/self"):
        return False
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) == group:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry), signal.SIGKILL)
    with contextlib.suppress(ChildProcessError, OSError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    return True


def _drop_user_modules(before: set[str]) -> None:
    """Forget modules imported during the model from outside the library roots (the user's):
    the next model imports its own project's afresh."""
    roots: tuple[str, ...] = _WORKER.get("roots", ())
    for name in [m for m in list(sys.modules) if m not in before]:
        mod = sys.modules.get(name)
        files = [getattr(mod, "__file__", None), *(getattr(mod, "__path__", None) or [])]
        files = [f for f in files if isinstance(f, str)]
        if files and not all(os.path.realpath(f).startswith(roots) for f in files):
            del sys.modules[name]


def _tell_phase(folder: str, key: str) -> None:
    """The phase this worker is in, for the progress bar (a file replaced whole: the parent
    never reads half of it). Best effort: progress must never fail a measurement."""
    _write_small(Path(folder) / "phase", key)


def _follow_threads(folder: str) -> None:
    """Take the thread count the parent wrote for this task (Pool._share_cores), if any and
    changed. Best effort, like the phase file."""
    try:
        with open(os.path.join(folder, "threads"), encoding="ascii") as fh:
            wanted = int(fh.read())
    except (OSError, ValueError):
        return
    import torch

    if wanted >= 1 and wanted != torch.get_num_threads():
        torch.set_num_threads(wanted)


def _write_small(path: Path, text: str) -> None:
    """Replace `path` whole with `text` (a reader never sees half of it); best effort."""
    tmp = path.with_name(path.name + ".part")
    with contextlib.suppress(OSError):
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)


def _serve(request: dict[str, Any], folder: str, dispatched: float) -> str:
    """One model in this worker: the same work and result file as a fresh child
    (isolate._child), then the worker is made clean for the next model, or retires."""
    started = time.time()
    tmp = os.path.join(folder, "pid.part")
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(str(os.getpid()))
    os.replace(tmp, os.path.join(folder, "pid"))
    from .isolate import _run_request, _write

    res_path = os.path.join(folder, "result.json")
    if "error" in _WORKER:
        _write(res_path, {"failure": f"could not start its worker: {_WORKER['error']}"})
        os._exit(RECYCLE_EXIT)
    first = _WORKER["served"] == 0
    _WORKER["served"] += 1
    cwd, env, path = os.getcwd(), dict(os.environ), list(sys.path)
    modules = set(sys.modules)
    streams = (sys.stdin, sys.stdout, sys.stderr)
    saved = _redirect(folder)
    clean = True
    try:
        import torch

        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        torch.manual_seed(_WORKER["seed"])
        torch.set_num_threads(request.get("threads") or _WORKER["baseline_threads"])
        from ..timings import announcing, recording, rounded

        def at_phase(key: str) -> None:
            _tell_phase(folder, key)  # the parent's progress bar reads it
            _follow_threads(folder)  # the parent's share of the cores for this task

        announcing(at_phase)
        try:
            with recording() as phases:
                doc = _run_request(request, request.get("memory"))
        finally:
            announcing(None)
        doc["timings"] = {
            "start_up": round(started - dispatched + (_WORKER["init_s"] if first else 0.0), 3),
            **rounded(phases),
            "total": round(time.time() - dispatched, 3),
        }
    finally:
        _unredirect(saved)
    _write(res_path, doc)
    # make the worker clean for the next model, or retire it
    try:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        sys.path[:] = path
        sys.stdin, sys.stdout, sys.stderr = streams
        _drop_user_modules(modules)
        import torch

        torch.set_num_threads(_WORKER["baseline_threads"])  # as _init_worker left it
        for sig, handler in _WORKER["signals"].items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, handler)
        clean = _kill_my_group() and _torch_state() == _WORKER["baseline"]
        leftover = {t.ident for t in threading.enumerate() if not t.daemon}
        clean = clean and leftover <= _WORKER["threads"]
    except BaseException:
        clean = False
    if not clean or "failure" in doc or _has_arc303(doc.get("result")):
        os._exit(RECYCLE_EXIT)
    return "ok"


def _has_arc303(result: Any) -> bool:
    if not isinstance(result, dict):
        return False
    return any(
        isinstance(f, dict) and f.get("code") == "ARC303" for f in result.get("findings") or []
    )
