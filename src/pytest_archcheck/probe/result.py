"""What a probe reports (DESIGN.md §5 probe JSON). No torch import here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..findings import Finding

BREAKDOWN_KEYS = ("params", "grads", "optimizer", "activations", "temporaries")


@dataclass
class ProbeResult:
    """One probe of one spec. `peak_bytes` is None when the probe could not run (see findings)."""

    name: str
    path: str | None
    device: str
    n: int
    batch: int
    peak_bytes: int | None = None
    breakdown: dict[str, int] | None = None
    attention_kernel: str | None = None
    flops: dict[str, int] | None = None
    latency: dict[str, Any] | None = None
    probes: int = 1
    target: str | None = None  # runtime.Target.label: whose kernel semantics the step ran
    findings: list[Finding] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.peak_bytes is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "device": self.device,
            "target": self.target,
            "n": self.n,
            "batch": self.batch,
            "peak_bytes": self.peak_bytes,
            "breakdown": self.breakdown,
            "attention_kernel": self.attention_kernel,
            "flops": self.flops,
            "latency": self.latency,
            "probes": self.probes,
            "findings": [f.to_json() for f in self.findings],
            **({"extra": self.extra} if self.extra else {}),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ProbeResult:
        findings = [
            Finding(**{k: v for k, v in f.items() if k != "url"}) for f in d.get("findings", [])
        ]
        return cls(
            name=d["name"],
            path=d.get("path"),
            device=d["device"],
            n=d["n"],
            batch=d["batch"],
            peak_bytes=d.get("peak_bytes"),
            breakdown=d.get("breakdown"),
            attention_kernel=d.get("attention_kernel"),
            flops=d.get("flops"),
            latency=d.get("latency"),
            probes=d.get("probes", 1),
            target=d.get("target"),
            findings=findings,
            extra=d.get("extra", {}),
        )
