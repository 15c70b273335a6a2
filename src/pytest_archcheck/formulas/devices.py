"""Known devices: peak dense FLOP/s per dtype, memory and bandwidth, from vendor datasheets.

Peaks are dense (no 2:4 sparsity) tensor-core figures; "fp32" is the non-tensor-core FP32 rate,
"tf32" the TF32 tensor-core rate (fp32 matmuls with `allow_tf32`), "bf16"/"fp16" the half
precision tensor-core rate with fp32 accumulation. Bandwidth is bytes/s (SI: 1 TB/s = 1e12 B/s).

Memory: vendors write "80GB", but HBM and GDDR come in power-of-two dies, so an "80GB" H100 or
A100 holds 80 GiB = 85,899,345,920 bytes (nvidia-smi on an A100-SXM4-80GB reports 81920 MiB).
`memory_bytes` is that nominal capacity. Less is allocatable: `usable_bytes` holds
`torch.cuda.get_device_properties(0).total_memory` where we measured it (2026-11, torch 2.11):
H100 80GB HBM3: nvidia-smi 81,559 MiB, torch 85,017,493,504 B (79.18 GiB);
H200: nvidia-smi 143,771 MiB, torch 150,109,880,320 B (139.80 GiB) against a "141GB" datasheet
(stored as 141 GiB nominal). The CUDA context takes a further ~0.5 GiB. `allocatable` prefers the
measured figure.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .registry import formula

GiB = 1024**3
T = 1e12
G = 1e9


@dataclass(frozen=True)
class Device:
    """One accelerator (or the labelled CPU default)."""

    name: str
    memory_bytes: int
    bandwidth: float  # bytes/s
    peak_flops: dict[str, float]  # dtype -> dense FLOP/s
    source: str
    aliases: tuple[str, ...] = ()
    note: str = ""
    usable_bytes: int | None = None  # measured torch total_memory, where known
    # Optional host characteristics for the per-op latency model (`latency.op`). All None on
    # the built-in rows: there the per-step roofline with its fixed overhead applies unchanged.
    # Set them (all from one host, `[tool.archcheck.devices.NAME]`) to switch a device to the
    # per-op model. Why each: eager PyTorch pays a fixed dispatch/launch per op
    # (`op_overhead_s`); a small GEMM runs far below peak (Hockney's half-performance size
    # `gemm_half_flops`: rate(F) = peak * F / (F + F_half)), or, as measured on CPUs, a GEMM
    # of few rows (`gemm_half_rows`: rate(m) = peak * m / (m + m_half), whatever its weight's
    # shape; preferred where both are set); weights that fit in the last-level cache are
    # re-read at its rate (`llc_bytes`, `llc_bandwidth`), not the DRAM rate. A convolution
    # (oneDNN on a CPU) pays a fixed start-up per call far above a GEMM's and runs at its own
    # rate (`conv_start_s`, `conv_flops`: t = start + F / rate, `latency.conv_op`); without
    # them a conv stack keeps the per-step roofline.
    op_overhead_s: float | None = None
    gemm_half_flops: float | None = None
    gemm_half_rows: float | None = None
    llc_bytes: int | None = None
    llc_bandwidth: float | None = None
    conv_start_s: float | None = None
    conv_flops: float | None = None

    @property
    def per_op(self) -> bool:
        """Whether this device carries the per-op characteristics (`op_overhead_s` set)."""
        return self.op_overhead_s is not None

    @property
    def per_op_conv(self) -> bool:
        """Whether convolution stacks are timed op by op here: a per-op device that also has
        the conv keys (`conv_start_s`, `conv_flops`)."""
        return self.per_op and self.conv_start_s is not None and self.conv_flops is not None

    @property
    def allocatable(self) -> int:
        """Bytes PyTorch can see: the measured total where known, else the nominal capacity."""
        return self.usable_bytes if self.usable_bytes is not None else self.memory_bytes

    def flops_for(self, dtype: str) -> float:
        """Peak FLOP/s for a compute dtype; a dtype without tensor cores runs at the fp32 rate.

        fp32 means the plain FP32 rate: PyTorch keeps `allow_tf32` off for matmuls by default.
        """
        return self.peak_flops.get(dtype, self.peak_flops["fp32"])


H100_SRC = "https://www.nvidia.com/en-us/data-center/h100/ (H100 datasheet, dense = sparse / 2)"
A100_SRC = (
    "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
    "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf"
)

DEVICES: dict[str, Device] = {
    d.name: d
    for d in [
        Device(
            "H100-80GB", 80 * GiB, 3.35e12,
            {"fp32": 67 * T, "tf32": 494.7 * T, "bf16": 989.4 * T, "fp16": 989.4 * T},
            H100_SRC, ("h100", "h100-sxm", "h100-sxm5", "h100-80gb-sxm", "h100-80gb-hbm3"),
            usable_bytes=85_017_493_504,
        ),
        Device(
            "H100-PCIe", 80 * GiB, 2.0e12,
            {"fp32": 51 * T, "tf32": 378 * T, "bf16": 756 * T, "fp16": 756 * T},
            H100_SRC, ("h100-pcie-80gb", "h100pcie"),
        ),
        Device(
            "H200", 141 * GiB, 4.8e12,
            {"fp32": 67 * T, "tf32": 494.7 * T, "bf16": 989.4 * T, "fp16": 989.4 * T},
            "https://www.nvidia.com/en-us/data-center/h200/", ("h200-sxm", "h200-141gb"),
            "nvidia-smi reports 143,771 MiB", usable_bytes=150_109_880_320,
        ),
        Device(
            "A100-80GB", 80 * GiB, 2.039e12,
            {"fp32": 19.5 * T, "tf32": 156 * T, "bf16": 312 * T, "fp16": 312 * T},
            A100_SRC, ("a100-80gb-sxm", "a100-sxm4-80gb", "a100-80g"),
        ),
        Device(
            "A100-40GB", 40 * GiB, 1.555e12,
            {"fp32": 19.5 * T, "tf32": 156 * T, "bf16": 312 * T, "fp16": 312 * T},
            A100_SRC, ("a100", "a100-40gb-sxm", "a100-sxm4-40gb", "a100-40g"),
        ),
        Device(
            "V100-32GB", 32 * GiB, 900 * G,
            {"fp32": 15.7 * T, "fp16": 125 * T},
            "https://images.nvidia.com/content/technologies/volta/pdf/"
            "volta-v100-datasheet-update-us-1165301-r5.pdf",
            ("v100", "v100-sxm2", "v100-sxm2-32gb"),
            "no bf16/tf32 tensor cores: bf16 runs at the fp32 rate",
        ),
        Device(
            "V100-16GB", 16 * GiB, 900 * G,
            {"fp32": 15.7 * T, "fp16": 125 * T},
            "https://images.nvidia.com/content/technologies/volta/pdf/"
            "volta-v100-datasheet-update-us-1165301-r5.pdf",
            ("v100-sxm2-16gb",),
            "no bf16/tf32 tensor cores: bf16 runs at the fp32 rate",
        ),
        Device(
            "T4", 16 * GiB, 320 * G,
            {"fp32": 8.1 * T, "fp16": 65 * T},
            "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/tesla-t4/"
            "t4-tensor-core-datasheet-951643.pdf",
            ("tesla-t4",),
            "no bf16 tensor cores: bf16 runs at the fp32 rate",
        ),
        Device(
            "L4", 24 * GiB, 300 * G,
            {"fp32": 30.3 * T, "tf32": 60 * T, "bf16": 121 * T, "fp16": 121 * T},
            "https://www.nvidia.com/en-us/data-center/l4/", ("nvidia-l4",),
        ),
        Device(
            "A10G", 24 * GiB, 600 * G,
            {"fp32": 31.2 * T, "tf32": 62.5 * T, "bf16": 125 * T, "fp16": 125 * T},
            "https://www.nvidia.com/en-us/data-center/products/a10-gpu/",
            ("a10", "a10g-24gb", "aws-a10g"),
            "AWS A10G figures are not published by NVIDIA; A10 datasheet values used",
        ),
        Device(
            "RTX-4090", 24 * GiB, 1008 * G,
            {"fp32": 82.6 * T, "tf32": 82.6 * T, "bf16": 165.2 * T, "fp16": 165.2 * T},
            "https://images.nvidia.com/aem-dam/Solutions/geforce/ada/"
            "nvidia-ada-gpu-architecture.pdf (Table 2, fp32 accumulate)",
            ("4090", "geforce-rtx-4090", "rtx4090"),
        ),
        Device(
            "RTX-3090", 24 * GiB, 936 * G,
            {"fp32": 35.6 * T, "tf32": 35.6 * T, "bf16": 71 * T, "fp16": 71 * T},
            "https://www.nvidia.com/content/PDF/nvidia-ampere-ga-102-gpu-architecture-"
            "whitepaper-v2.pdf (fp32 accumulate)",
            ("3090", "geforce-rtx-3090", "rtx3090"),
        ),
        Device(
            "cpu", 16 * GiB, 50 * G,
            {"fp32": 1 * T, "bf16": 1 * T, "fp16": 0.5 * T},
            "assumption: a modest multi-core x86 server socket (not measured)",
            ("host",),
            "a labelled default, not a measurement: pass your own numbers for real estimates",
        ),
    ]
}  # fmt: skip


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().lower()).replace("nvidia", "")


def _index(devices: Mapping[str, Device]) -> dict[str, str]:
    """Normalised name or alias -> device name."""
    return {_norm(a): d.name for d in devices.values() for a in (d.name, *d.aliases)}


_INDEX = _index(DEVICES)


# Devices a project defines under `[tool.archcheck.devices.NAME]` live with that project, not in
# a process-wide table: a spec resolves names against the built-in table and its own
# pyproject.toml's devices only (spec/load.py hands them over), so two projects may use one
# name for different cards, and a spec's verdict never depends on which other projects a run
# read (the cache relies on that).
ProjectDevices = Mapping[str, Device]


class DeviceConflictError(ValueError):
    """A project device whose name or alias is a built-in device's or another project device's."""


def check_project_device(device: Device, earlier: ProjectDevices) -> None:
    """Raise DeviceConflictError when `device` would shadow a built-in device or a device the
    same pyproject.toml defined before it."""
    taken = _index(earlier)
    for label in (device.name, *device.aliases):
        key = _norm(label)
        if key in _INDEX:
            raise DeviceConflictError(
                f"{label!r} is a built-in device ({_INDEX[key]}); choose another name"
            )
        if key in taken:
            raise DeviceConflictError(f"{label!r} already names device {taken[key]!r}")


class UnknownDeviceError(KeyError):
    """A device name not in the table; `suggestion` holds the closest known name, if any."""

    def __init__(
        self, name: str, suggestion: str | None, project: ProjectDevices | None = None
    ) -> None:
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        known = [*DEVICES, *(project or {})]
        super().__init__(
            f"unknown device {name!r}{hint} Known: {', '.join(known)} (or define it under "
            "[tool.archcheck.devices] in pyproject.toml)"
        )
        self.name = name
        self.suggestion = suggestion

    def __str__(self) -> str:
        return str(self.args[0])


def suggest_device(name: str, project: ProjectDevices | None = None) -> str | None:
    """The closest known device name to `name`, or None."""
    index = {**_index(project or {}), **_INDEX}
    hits = difflib.get_close_matches(_norm(name), list(index), n=1, cutoff=0.6)
    return index[hits[0]] if hits else None


@formula("devices.lookup", "name or alias, ignoring case, '-', '_', ' ' -> Device", "datasheets")
def lookup_device(name: str, project: ProjectDevices | None = None) -> Device:
    """The device called `name` or one of its aliases, built in or among `project` (the
    devices of the spec's own pyproject.toml); UnknownDeviceError with a did-you-mean."""
    key = _norm(name)
    if key in _INDEX:
        return DEVICES[_INDEX[key]]
    own = _index(project or {})
    if key in own:
        return (project or {})[own[key]]
    raise UnknownDeviceError(name, suggest_device(name, project), project)


def doc_appendix() -> str:
    """The device table as markdown, for docs/formulas.md."""
    rows = [
        "| device | memory | bandwidth | fp32 | tf32 | bf16 | fp16 | aliases | source |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for d in DEVICES.values():
        tf = [d.peak_flops.get(k) for k in ("fp32", "tf32", "bf16", "fp16")]
        cells = ["—" if v is None else f"{v / T:g} TFLOP/s" for v in tf]
        src = d.source + (f" ({d.note})" if d.note else "")
        rows.append(
            f"| {d.name} | {d.memory_bytes / GiB:g} GiB | {d.bandwidth / 1e12:g} TB/s | "
            + " | ".join(cells)
            + f" | {', '.join(d.aliases)} | {src} |"
        )
    return "\n".join(rows)
