"""n_max search: <= 4 probes, the answer fits and one granularity step more does not."""

from __future__ import annotations

from pytest_archcheck import probe
from pytest_archcheck.spec.model import Spec

GIB = 1 << 30


def test_n_max_12_layer_transformer_2gib() -> None:
    spec = Spec.model_validate(
        {
            "model": {
                "family": "transformer",
                "layers": 12,
                "d_model": 128,
                "heads": 4,
                "vocab": 1000,
                "positional": "rotary",
            },
            "train": {"batch": 2},
            "budget": {"memory": "2 GiB", "granularity": 64},
        }
    )
    n_max, probes = probe.search_n_max(spec, 2 * GIB, device="fake", granularity=64)
    assert 1 <= probes <= 4
    assert n_max > 0 and n_max % 64 == 0
    fits = probe.run(spec, device="fake", n=n_max)
    over = probe.run(spec, device="fake", n=n_max + 64)
    assert fits.peak_bytes is not None and over.peak_bytes is not None
    assert fits.peak_bytes <= 2 * GIB < over.peak_bytes
