"""Which device a measurement uses when none is named, and which GPU an xdist worker takes."""

from __future__ import annotations

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
