"""Fake-probe a user's own 7B factory: llama2.c's `Transformer(ModelArgs())` from the fixture
repository tests/data/repos/llama2c, through the spec `archcheck init` writes for it.

The fake probe must build the user's model on the meta device (never real fp32 weights first:
26 GB for 6.6 B parameters), so its cost is that of the reference 8B probe. Prints wall time
and RSS growth over `import torch`. Target: peak RSS <= 1 GiB over `import torch`.
Run: python benchmarks/probe_user_factory_7b.py
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "data" / "repos" / "llama2c"
LIMIT_MIB = 1024


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    import torch  # noqa: F401

    base_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from pytest_archcheck import probe, scaffold
    from pytest_archcheck.spec.load import load_spec_file

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "llama2c"
        shutil.copytree(FIXTURE, repo)
        os.chdir(repo)  # a clone without pyproject.toml: the project root is the cwd
        [(path, _)] = scaffold.init_specs(["."])
        text = path.read_text().replace("seq_len = 2048", "seq_len = 512")
        text = text.replace("batch = 8", "batch = 1")
        path.write_text(text)
        loaded = load_spec_file(path.read_text(), str(path))
        assert loaded.spec is not None, loaded.problems
        spec = loaded.spec
        t = time.perf_counter()
        res = probe.run(spec, device="fake")
        dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base_peak
    out = {
        "factory": spec.model.factory,
        "config": spec.model.config,
        "seconds": round(dt, 2),
        "peak_rss_over_import_torch_mib": round(peak, 1),
        "rss_now_over_import_torch_mib": round(rss_mib() - base_peak, 1),
        "limit_mib": LIMIT_MIB,
        "peak_gib": round(res.peak_bytes / 2**30, 2) if res.peak_bytes is not None else None,
        "findings": [f.message for f in res.findings],
    }
    print(json.dumps(out, indent=2))
    return 0 if peak <= LIMIT_MIB and res.peak_bytes else 1


if __name__ == "__main__":
    raise SystemExit(main())
