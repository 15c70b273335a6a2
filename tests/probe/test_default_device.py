"""The default device is decided without `import torch` on a CPU-only build (the parent of
`check --probe` then never imports torch: 1-2 s of a one-model run), and by torch itself on a
GPU build or whenever torch's version file cannot be read."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_archcheck.probe import gpus


def _fake_torch(root: Path, version_py: str | None) -> Path:
    pkg = root / "torch"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('imported')\n", encoding="utf-8")
    if version_py is not None:
        (pkg / "version.py").write_text(version_py, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("version_py", "gpu"),
    [
        ("cuda: Optional[str] = None\nhip: Optional[str] = None\n", False),
        ("cuda: Optional[str] = '12.8'\nhip: Optional[str] = None\n", True),
        ("cuda = None\nhip = '6.2.4'\n", True),
        ("cuda = None\n", True),  # a layout we do not know: torch decides
        ("cuda = some_call()\nhip = None\n", True),
        (None, True),  # no version file: torch decides
    ],
)
def test_gpu_build_reads_torch_version_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version_py: str | None, gpu: bool
) -> None:
    root = _fake_torch(tmp_path, version_py)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    importlib.invalidate_caches()
    spec = importlib.util.find_spec("torch")
    assert spec is not None and spec.origin == str(root / "torch" / "__init__.py")
    assert gpus._gpu_build() is gpu


def test_cpu_build_default_device_is_fake_without_importing_torch() -> None:
    torch = pytest.importorskip("torch")
    if torch.version.cuda is not None or torch.version.hip is not None:
        pytest.skip("this torch is a GPU build: torch itself is asked")
    code = (
        "import sys\n"
        "from pytest_archcheck.probe.gpus import default_device\n"
        "print(default_device(), 'torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out == ["fake", "False"]
