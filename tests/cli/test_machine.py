"""Machine info for --archcheck-json: versions without importing torch, driver via nvidia-smi."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pytest_archcheck import machine


def test_info_imports_no_torch() -> None:
    code = "import sys; from pytest_archcheck import machine; machine.info(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_driver_from_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/nvidia-smi")

    class Done:
        returncode, stdout = 0, "580.159.04\n580.159.04\n"

    monkeypatch.setattr(machine.subprocess, "run", lambda *a, **k: Done())
    assert machine._nvidia_driver() == "580.159.04"


def test_no_driver_without_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert machine._nvidia_driver() is None


def test_commit_outside_git_is_none(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert machine._git_commit() is None
