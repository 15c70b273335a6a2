"""What the host's torch can run (shared by the probe and family tests)."""

from __future__ import annotations

from pytest_archcheck.spec.model import Spec


def host_cannot_run(spec: Spec) -> bool:
    """A bf16 LSTM step on a CPU target runs torch's oneDNN kernel under autocast, which raises
    "could not create a primitive descriptor" on a CPU without AVX-512 BF16 (a real step as
    well as a fake one: there is nothing to measure on such a host, the probe says so)."""
    from pytest_archcheck.probe import host_runs_onednn_bf16

    if host_runs_onednn_bf16() or spec.train.dtype != "bf16":
        return False
    return '"lstm"' in spec.model_dump_json()
