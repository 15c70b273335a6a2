"""Which device a measurement uses when none is named, and which GPU an xdist worker takes."""

from __future__ import annotations

import ast
import importlib.util
import os


def worker_gpu(worker_id: str | None, count: int) -> int | None:
    """The GPU an xdist worker ("gw3") uses when several are visible: worker number mod count."""
    if not worker_id or count < 2 or not worker_id.startswith("gw") or not worker_id[2:].isdigit():
        return None
    return int(worker_id[2:]) % count


def default_device() -> str:
    """CUDA when a GPU is visible, else the fake-tensor probe (which needs no GPU).

    Under pytest-xdist with several GPUs, each worker takes its own (by worker id), also for
    the probe subprocesses it starts, so that parallel probes never share a card.
    """
    if not _gpu_build():  # a CPU-only torch: no GPU to find, and no `import torch` (1-2 s)
        return "fake"
    try:
        import torch
    except ImportError:
        return "fake"
    if not torch.cuda.is_available():
        return "fake"
    idx = worker_gpu(os.environ.get("PYTEST_XDIST_WORKER"), torch.cuda.device_count())
    if idx is not None:
        torch.cuda.set_device(idx)
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        ids = visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]
        os.environ["CUDA_VISIBLE_DEVICES"] = ids[idx]  # inherited by probe subprocesses
    return "cuda"


def _gpu_build() -> bool:
    """Whether the installed torch was built for a GPU (CUDA or ROCm), read from its
    `torch/version.py` without importing torch: the front ends ask for the default device
    before any model runs, and on a CPU-only build `torch.cuda.is_available()` is False by
    construction. True whenever the file cannot be read (then torch itself is asked)."""
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    if not spec.submodule_search_locations:
        return True
    path = os.path.join(next(iter(spec.submodule_search_locations)), "version.py")
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return True
    found: dict[str, object] = {}
    for node in tree.body:
        target: ast.expr | None = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id in ("cuda", "hip") and value is not None:
            try:
                found[target.id] = ast.literal_eval(value)
            except ValueError:
                return True
    if set(found) != {"cuda", "hip"}:
        return True  # a layout we do not know: ask torch
    return found["cuda"] is not None or found["hip"] is not None
