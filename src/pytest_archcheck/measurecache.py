"""Reuse a model's probe and behaviour results while nothing they depend on changed.

Why: measuring a model costs seconds to minutes (build, training step, n_max search,
behavioural checks); its result is a function of a few inputs, so a second `check --probe`
over an unchanged tree should cost what the static check costs. cache.py does this for static
findings; this module does it for measurements, in the same cache folder (`measure/`).

An entry is keyed by the BLAKE2b of everything its result depends on:

- the spec's resolved content (after `extends`), its project devices, and the request: device,
  concern, whether behavioural checks run, the spec's path, name and key lines (findings
  carry them), and the current directory (paths are shown relative to it);
- the factory's source: the modules named by `factory`, `config`, `inputs` and `loss`, and
  every project-local module they import (found by parsing, never importing; followed
  transitively, package `__init__.py` files included), by content hash; a module they import
  from outside the project by where it is installed, its same-named distribution's version
  and its entry file's inode, mtime and size;
- the torch version (from its installed metadata; torch is not imported), archcheck's own
  source and version, Python's version;
- the target: `fake` is described by the spec itself; `cpu` by the processor model and core
  count (a latency is a clock on this machine); `cuda` by the GPUs and driver the kernel
  reports (/proc/driver/nvidia) and CUDA_VISIBLE_DEVICES, CUBLAS_WORKSPACE_CONFIG and
  PYTORCH_CUDA_ALLOC_CONF. Where a GPU cannot be identified without torch, nothing is cached.

So an edit to a factory module invalidates the entries of the models that import it, and only
those. A model that imports something the parser cannot follow (a module named at run time by
`importlib.import_module`) is still keyed by every module it imports by name: edit a module
reached only dynamically and run with `--no-cache`.

Only results the isolated process reported are stored, including the ARC303 of a factory
that raised or a step that failed (a deterministic function of the same inputs: re-measuring
it every run would cost a pool start-up each time). A run that gave no result (the process
crashed, hung, was killed or ran out of memory under the cap) is never stored: the next run
measures it again. The memory cap is part of the key (a model that failed to allocate under
one cap may fit under another). An entry that cannot be read or
has the wrong shape is a miss and is overwritten. One file per entry, written atomically, so
parallel runs (pytest-xdist workers) share the folder safely; the oldest entries beyond `KEEP`
are deleted. stdlib only: importing this module imports no torch and runs no user code.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from .deps import digest, file_state, module_state

FORMAT = 1
KEEP = 512  # entries kept in one cache folder
FOLDER = "measure"

# where entries live; None: the measurement cache is off (a front end turns it on)
_where: dict[str, Path | None] = {"folder": None}


def configure(folder: Path | None) -> None:
    """Turn the measurement cache on (in `folder`/measure) or off (None)."""
    _where["folder"] = None if folder is None else Path(folder) / FOLDER
    _keys.clear()


def enabled() -> bool:
    return _where["folder"] is not None


# ---- the key ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _own_stamp() -> str:
    from . import __version__
    from .cache import _source_stamp

    return digest(json.dumps([__version__, _source_stamp(), sys.version]).encode())


@functools.cache
def _distribution(top: str) -> list[Any]:
    """An installed top-level module: where it is, the version of the distribution of the same
    name (torch, numpy, transformers...), and the inode, mtime and size of its entry file
    (pip writes new files on an upgrade, as cache.py's library stamp relies on). Reading every
    installed distribution's file list to map modules to distributions would cost about a
    second per run."""
    from importlib import metadata

    state = module_state(top)
    try:
        version: str | None = metadata.version(top)
    except (metadata.PackageNotFoundError, ValueError):
        version = None
    stamp = None
    if state:
        with contextlib.suppress(OSError):
            st = os.stat(state[0])
            stamp = [st.st_ino, st.st_mtime_ns, st.st_size]
    return [top, state, version, stamp]


@functools.lru_cache(maxsize=1)
def torch_version() -> str | None:
    """torch's installed version, read from its metadata (no import)."""
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def target_identity(device: str) -> list[Any] | None:
    """What the measuring hardware contributes to a result; None when it cannot be told
    without torch (then the result is not cached)."""
    if device == "fake":
        return ["fake"]
    if device == "cpu":
        return ["cpu", _cpu_model(), os.cpu_count(), platform.machine()]
    gpus = Path("/proc/driver/nvidia/gpus")
    try:
        info = sorted((d / "information").read_text(errors="replace") for d in gpus.iterdir())
        driver = Path("/proc/driver/nvidia/version").read_text(errors="replace")
    except OSError:
        return None
    env = [os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "CUBLAS_WORKSPACE_CONFIG",
                                       "PYTORCH_CUDA_ALLOC_CONF")]  # fmt: skip
    return ["cuda", info, driver, env]


def _local_file(module: str, bases: list[Path]) -> Path | None:
    parts = module.split(".")
    for base in bases:
        for cand in (
            base.joinpath(*parts).with_suffix(".py"),
            base.joinpath(*parts, "__init__.py"),
        ):
            if cand.is_file():
                return cand
    return None


def _imports(path: Path, module: str) -> set[str]:
    """Absolute names of the modules `path` (the module `module`) imports, by parsing."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError, RecursionError):
        return set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                head = ".".join([*base, node.module] if node.module else base)
            else:
                head = node.module or ""
            if not head:
                continue
            out.add(head)
            out.update(f"{head}.{a.name}" for a in node.names if a.name != "*")
    return out


def source_state(targets: list[str], bases: list[Path]) -> list[Any]:
    """Content hashes of the project-local modules reachable from `targets` (module names),
    and the installed version of every other top-level module they import."""
    seen: set[str] = set()
    files: dict[str, Any] = {}
    outside: set[str] = set()
    todo = list(targets)
    stdlib: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        for i in range(1, len(parts)):  # a package's __init__ runs before its submodule
            todo.append(".".join(parts[:i]))
        path = _local_file(name, bases)
        if path is None:
            if parts[0] not in stdlib and _local_file(parts[0], bases) is None:
                outside.add(parts[0])
            continue
        files[str(path.resolve())] = file_state(str(path))
        todo.extend(_imports(path, name))
    return [sorted(files.items()), [_distribution(t) for t in sorted(outside)]]


def _modules_of(spec: Any) -> list[str]:
    m = spec.model
    named = [m.factory, m.config, m.loss, m.inputs if isinstance(m.inputs, str) else None]
    return [t.partition(":")[0] for t in named if isinstance(t, str)]


def key(request: dict[str, Any], spec: Any, devices: dict[str, Any]) -> str | None:
    """The entry key of one measurement request, or None when it must not be cached.

    Computed once per request and run (`configure` forgets them): the pool's hand-over and the
    measurement itself ask for the same key, and parsing the sources twice would double the
    cost of a warm run."""
    memo = json.dumps(
        [request, spec.model_dump(mode="json"), devices, os.environ.get("ARCHCHECK_ROOT"),
         os.getcwd()], sort_keys=True, default=str,
    )  # fmt: skip
    if memo not in _keys:
        _keys[memo] = _key(request, spec, devices)
    return _keys[memo]


_keys: dict[str, str | None] = {}


def _key(request: dict[str, Any], spec: Any, devices: dict[str, Any]) -> str | None:
    target = target_identity(str(request.get("device")))
    version = torch_version()
    if target is None or version is None:
        return None
    root = os.environ.get("ARCHCHECK_ROOT")
    bases = [Path(root), Path(root) / "src"] if root else []
    bases.append(Path.cwd())
    parts = {
        "format": FORMAT,
        "archcheck": _own_stamp(),
        "torch": version,
        "target": target,
        "request": request,
        "spec": spec.model_dump(mode="json"),
        "devices": devices,
        "root": root,
        "cwd": os.getcwd(),
        "sources": source_state(_modules_of(spec), bases),
    }
    return digest(json.dumps(parts, sort_keys=True, default=str).encode())


# ---- the entries -----------------------------------------------------------------------------------


def get(entry: str | None) -> dict[str, Any] | None:
    """The cached result of `entry`; None on a miss (absent, unreadable, wrong shape)."""
    folder = _where["folder"]
    if entry is None or folder is None:
        return None
    try:
        doc = json.loads((folder / f"{entry}.json").read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return None
    result = doc.get("result")
    if (
        not isinstance(result, dict)
        or not isinstance(result.get("measured"), dict)
        or not isinstance(result.get("findings"), list)
        or not all(isinstance(f, dict) for f in result["findings"])
    ):
        return None
    return result


def put(entry: str | None, result: dict[str, Any]) -> None:
    """Store the result an isolated process reported (the caller never stores a run that
    gave none: a crash, a timeout, running out of memory); a cache that cannot be written
    costs a warning, never a result."""
    folder = _where["folder"]
    if entry is None or folder is None:
        return
    tmp = folder / f"{entry}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        from .cache import MARKERS

        for name, text in MARKERS.items():
            marker = folder.parent / name
            if not marker.exists():
                marker.write_text(text, encoding="utf-8")
        tmp.write_text(json.dumps({"format": FORMAT, "result": result}), encoding="utf-8")
        os.replace(tmp, folder / f"{entry}.json")
        _prune(folder)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        sys.stderr.write(f"archcheck: warning: measurement not cached ({folder}: {exc})\n")


def _prune(folder: Path) -> None:
    entries = list(folder.glob("*.json"))
    if len(entries) <= KEEP:
        return
    entries.sort(key=lambda f: f.stat().st_mtime_ns)
    for old in entries[:-KEEP]:
        with contextlib.suppress(OSError):
            old.unlink()
