"""What machine produced a measurement (for --archcheck-json and docs/benchmarks.md).

Reads versions from package metadata, so that asking never imports torch.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from typing import Any


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    if out.returncode != 0 or len(sha) != 40 or any(c not in "0123456789abcdef" for c in sha):
        return None  # not a git checkout (git then echoes "HEAD")
    return sha


def _gpu() -> dict[str, Any] | None:
    """GPU name and driver from torch if it is already imported (never imported here)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    idx = torch.cuda.current_device()
    return {
        "name": torch.cuda.get_device_name(idx),
        "cuda": torch.version.cuda,
        "driver": _nvidia_driver(),
        "count": torch.cuda.device_count(),
    }


def _nvidia_driver() -> str | None:
    """The NVIDIA driver version as nvidia-smi reports it (torch does not expose it)."""
    import shutil

    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    first = out.stdout.strip().splitlines()[:1]
    return first[0].strip() if out.returncode == 0 and first else None


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def info() -> dict[str, Any]:
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "gpu": _gpu(),
        "commit": _git_commit(),
    }
