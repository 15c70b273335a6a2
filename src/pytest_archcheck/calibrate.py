"""`archcheck calibrate`: measure this host for the per-op latency model and print the
`[tool.archcheck.devices.NAME]` table to paste into pyproject.toml.

Static side: this module imports no torch; the timing runs in a child process
(`pytest_archcheck.probe.calibrate`). It never edits a pyproject.toml: it prints the table
(or writes it to the file given with `--output`, which must not exist yet).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .findings import ArchcheckError
from .units import format_bytes


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "calibrate",
        help="time this host (needs torch) and print a [tool.archcheck.devices.NAME] table",
    )
    p.add_argument("--device-name", default="this-host", help="the table's NAME")
    p.add_argument("--quick", action="store_true", help="fewer, shorter runs (noisier)")
    p.add_argument(
        "-o", "--output", type=Path, default=None, help="write the table to this new file"
    )


def llc_bytes() -> int | None:
    """The largest CPU cache's size from Linux sysfs (the last level), or None."""
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    best: tuple[int, int] | None = None
    for idx in sorted(base.glob("index*")) if base.is_dir() else []:
        try:
            level = int((idx / "level").read_text())
            raw = (idx / "size").read_text().strip().upper()
        except (OSError, ValueError):
            continue
        mult = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(raw[-1:], 1)
        size = int(raw.rstrip("KMG")) * mult
        if best is None or (level, size) > best:
            best = (level, size)
    return None if best is None else best[1]


def host_memory() -> int:
    """Physical memory (POSIX sysconf); 0 where unknown."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 0


def table(name: str, rates: dict[str, Any], llc: int | None, memory: int) -> str:
    """The TOML table for `rates` (the child's JSON)."""
    when = time.strftime("%Y-%m-%d")
    where = f"{platform.machine()} {platform.processor()}".strip()
    lines = [
        f"# measured by `archcheck calibrate` on {where}, torch {rates['torch']}, "
        f"{rates['threads']} threads, {when}",
        f"[tool.archcheck.devices.{name}]",
        f"memory = {memory or 2**30}  # {format_bytes(memory) if memory else 'unknown'}",
        f'bandwidth = "{rates["bandwidth"] / 1e9:.1f} GB/s"',
        f'fp32 = "{rates["fp32"] / 1e9:.1f} GFLOP/s"',
        f'op-overhead = "{rates["op_overhead_s"] * 1e6:.2f} us"',
        f"gemm-half-flops = {rates['gemm_half_flops']:.3e}",
        f"gemm-half-rows = {rates['gemm_half_rows']:.3g}",
    ]
    if "conv_start_s" in rates:
        lines += [
            f'conv-start-up = "{rates["conv_start_s"] * 1e6:.1f} us"',
            f'conv-rate = "{rates["conv_flops"] / 1e9:.1f} GFLOP/s"',
        ]
    if "llc_bandwidth" in rates:
        mib = rates["llc_bytes"] / 2**20
        reported = f", {llc / 2**20:g} MiB reported" if llc else ""
        lines += [
            f'llc = "{mib:g} MiB"  # the largest copy above 1.3x the DRAM rate{reported}',
            f'llc-bandwidth = "{rates["llc_bandwidth"] / 1e9:.1f} GB/s"',
        ]
    else:
        lines.append("# llc / llc-bandwidth: no copy ran at 1.3x the DRAM rate; left out")
    lines.append(f'source = "archcheck calibrate {when}"')
    return "\n".join(lines) + "\n"


def command(args: Any) -> int:
    if args.output is not None and args.output.exists():
        raise ArchcheckError(
            "calibrate --output: the file exists; not overwriting", str(args.output)
        )
    llc = llc_bytes()
    argv = [sys.executable, "-m", "pytest_archcheck.probe.calibrate", str(llc or 0)]
    if args.quick:
        argv.append("--quick")
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise ArchcheckError(f"calibrate: the timing child failed (needs torch): {tail[0]}")
    rates = json.loads(proc.stdout.strip().splitlines()[-1])
    text = table(args.device_name, rates, llc, host_memory())
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
