"""Issue #18.1: the probe pool. Bad models next to good ones in one `check --probe` run: each
bad one gets its own ARC303 with what happened, the good ones' results are intact, and the
pool goes on measuring after every failure (its workers are replaced).

Each run goes through the real front end in a subprocess (with this checkout's source first on
PYTHONPATH), so that a failure of isolation shows as the front end's own death, not as this
test process's. The expected messages are the words isolate.py has always used for a fresh
child (exit status, signal name, timeout, memory cap), written here by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("pebble")

HERE = Path(__file__).parent
SRC = Path(__file__).resolve().parents[2] / "src"

SPEC = """[model]
family = "transformer"
factory = "pool_models:{factory}"
vocab = 20
layers = 1
d_model = 8
heads = 1
causal = false
max_positions = 64

[train]
batch = 2
seq_len = 16

[budget]
memory = "1 KiB"
"""


def project(tmp_path: Path, specs: dict[str, str]) -> Path:
    """A project folder with pool_models.py and one spec per name -> factory."""
    shutil.copy(HERE / "pool_models.py", tmp_path / "pool_models.py")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n')
    for name, factory in specs.items():
        (tmp_path / f"{name}.archcheck.toml").write_text(SPEC.format(factory=factory))
    return tmp_path


def env_for(cache: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")} | extra
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    env.pop("ARCHCHECK_NO_CACHE", None)
    if cache is None:
        env["ARCHCHECK_NO_CACHE"] = "1"
    else:
        env["ARCHCHECK_CACHE_DIR"] = str(cache)
    return env


def check_probe(
    folder: Path, *args: str, cache: Path | None = None, timeout: float = 400, **env: str
) -> tuple[int, dict[str, object], str]:
    """`archcheck check --probe --device fake --format json` in `folder`: (rc, doc, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_archcheck", "check", "--probe", "--device", "fake",
         "--format", "json", *args],
        cwd=folder, env=env_for(cache, **env), capture_output=True, timeout=timeout,
        check=False,
    )  # fmt: skip
    err = proc.stderr.decode(errors="replace")
    assert b"Traceback" not in proc.stderr and "internal error" not in err, err
    return proc.returncode, json.loads(proc.stdout), err


def by_model(doc: dict[str, object]) -> dict[str, list[dict[str, object]]]:
    out: dict[str, list[dict[str, object]]] = {}
    for f in doc["findings"]:  # type: ignore[attr-defined]
        out.setdefault(str(f["model"]), []).append(f)
    return out


def arc303(found: dict[str, list[dict[str, object]]], model: str) -> str:
    [msg] = [str(f["message"]) for f in found.get(model, []) if f["code"] == "ARC303"]
    return msg


def test_bad_models_get_their_arc303_and_the_pool_recovers(tmp_path: Path) -> None:
    """Two workers, five bad models between two good ones (the second good one is measured
    after every failure, so by replacement workers)."""
    folder = project(tmp_path, {
        "a_good": "good", "b_hang": "hang", "c_abort": "abort", "d_oom": "oom",
        "e_sigkill": "sigkill", "z_good": "good",
    })  # fmt: skip
    started = time.monotonic()
    cache = tmp_path / "cache"
    rc, doc, _ = check_probe(
        folder, "-j", "2", "--probe-timeout", "25", "--probe-memory", "4 GiB", cache=cache
    )
    assert time.monotonic() - started < 300
    assert rc == 1
    found = by_model(doc)
    # each misbehaves in the behavioural checks, which run apart from the probe on a pool of
    # two (measure._parts): the failure names that process, and the probe's figure survives
    assert arc303(found, "b_hang").endswith(
        "the isolated behavioural-check process did not finish within 25 s and was killed "
        "(with every process it started)"
    )
    assert arc303(found, "c_abort").endswith(
        "the isolated behavioural-check process exited with status 7 before reporting a result"
    )
    assert arc303(found, "d_oom").endswith(
        "the isolated behavioural-check process ran out of memory under its cap of 4 GiB "
        "(--probe-memory)"
    )
    assert "killed by signal 9 (SIGKILL)" in arc303(found, "e_sigkill")
    # the good ones: measured (not estimated) and identical to the in-process probe's peak
    from pytest_archcheck import probe
    from pytest_archcheck.spec.model import Spec

    sys.path.insert(0, str(folder))
    try:
        spec = Spec.model_validate({
            "model": {"name": "g", "family": "transformer", "factory": "pool_models:good",
                      "vocab": 20, "layers": 1, "d_model": 8, "heads": 1, "causal": False,
                      "max_positions": 64},
            "train": {"batch": 2, "seq_len": 16},
        })  # fmt: skip
        expected = probe.run(spec, device="fake", n=16, batch=2).peak_bytes
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("pool_models", None)
    assert expected is not None and expected > 0
    for good in ("a_good", "z_good"):
        codes = {str(f["code"]) for f in found[good]}
        assert "ARC303" not in codes, found[good]
        [peak] = [f for f in found[good] if f["code"] == "ARC101"]
        assert str(peak["message"]).startswith("measured (fake"), peak
        assert peak["data"]["peak_bytes"] == expected  # type: ignore[index]
    # the bad models got their own ARC303 and their probe's peak: no finding leaked onto a
    # neighbour
    assert sorted(found) == ["a_good", "b_hang", "c_abort", "d_oom", "e_sigkill", "z_good"]
    for bad in ("b_hang", "c_abort", "d_oom", "e_sigkill"):
        [peak] = [f for f in found[bad] if f["code"] == "ARC101"]
        assert peak["data"]["peak_bytes"] == expected  # type: ignore[index]
    timings = {t["model"]: t for t in doc["timings"]["models"]}  # type: ignore[index]
    assert not timings["z_good"]["cached"] and timings["z_good"]["step"] > 0
    # cached: the six probes and the two good models' behavioural checks; a run that gave no
    # result never is
    entries = [e.read_text() for e in (cache / "measure").glob("*.json")]
    assert len(entries) == 8 and all('"findings"' in e for e in entries)


def test_a_model_that_changes_torch_state_does_not_poison_the_next(tmp_path: Path) -> None:
    """One worker, two models in turn: the first sets torch's default dtype to float64 and
    leaves it; the second fails if it inherits that. The worker is recycled in between."""
    folder = project(tmp_path, {"a_poison": "poison", "b_next": "report_dtype"})
    _, doc, _ = check_probe(folder, "-j", "1")
    found = by_model(doc)
    assert not [f for f in found.get("b_next", []) if f["code"] == "ARC303"], found
    [peak] = [f for f in found["b_next"] if f["code"] == "ARC101"]
    assert str(peak["message"]).startswith("measured (fake")


def test_progress_line_only_on_a_terminal(tmp_path: Path) -> None:
    """stderr a pipe: no progress line. stderr a terminal (a pty): the line names the model
    being measured and the elapsed time."""
    import pty

    folder = project(tmp_path, {"slowish": "good"})
    _, _, err = check_probe(folder)
    assert "measuring" not in err and "\r" not in err
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_archcheck", "check", "--probe", "--device", "fake",
         "--format", "json"],
        cwd=folder, env=env_for(None), stdout=subprocess.PIPE, stderr=slave,
    )  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the pty closes when the process ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=300)
    os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    assert "archcheck: measuring slowish" in text, text
    assert "done, " in text


def test_threads_share_the_cores_among_the_tasks_that_compute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch's threads per task, worked by hand for a 4-core machine: a fake probe runs
    Python on one core with one thread; the tasks that compute share the other cores, and a
    running task's new count is written to its folder when it changes."""
    from pytest_archcheck.probe import pool as pool_module
    from pytest_archcheck.probe.pool import Pool

    monkeypatch.setattr(pool_module, "usable_cores", lambda: 4)
    pool = Pool(3)
    try:
        for task in range(1, 5):
            pool.folders[task] = tmp_path / str(task)
            pool.folders[task].mkdir()
        fake_probe = {"device": "fake", "behaviour": False}
        checks = {"device": "fake", "behaviour": True, "check": "pitfalls"}
        assert pool._threads_for(1, fake_probe) == 1
        assert pool._threads_for(2, checks) == 3  # beside a fake probe: the 3 other cores
        assert pool._threads_for(3, {"device": "cpu", "behaviour": False}) == 1  # (4-1) // 2
        assert (tmp_path / "2" / "threads").read_text() == "1"  # task 2 told to shrink
        pool._python.discard(1)  # the fake probe ends
        pool._share_cores()
        assert (tmp_path / "2" / "threads").read_text() == "2"  # 4 // 2
        assert (tmp_path / "3" / "threads").read_text() == "2"
        pool._computing.discard(3)
        pool._share_cores()
        assert (tmp_path / "2" / "threads").read_text() == "4"  # alone
        assert not (tmp_path / "1" / "threads").exists()  # the fake probe is never told
    finally:
        pool.close()


def test_a_models_checks_get_the_cores_its_fake_probe_leaves(tmp_path: Path) -> None:
    """One model, two workers: its fake probe builds the model at 1 thread; its behavioural
    checks (the other task) build it at the cores the probe leaves (one fewer on this
    machine, at least 1), then take every core once the probe is done."""
    folder = project(tmp_path, {"a_threads": "report_threads"})
    log = tmp_path / "threads.log"
    rc, doc, err = check_probe(folder, "-j", "2", THREADS_LOG=str(log))
    assert rc in (0, 1), err
    assert not [f for f in doc["findings"] if f["code"] == "ARC303"], doc  # type: ignore
    from pytest_archcheck.probe.pool import usable_cores

    cores = usable_cores()
    built = sorted(int(x) for x in log.read_text().split())
    # which task builds first is a race: the checks' build sees the probe running or done
    assert built in (sorted([1, max(1, cores - 1)]), sorted([1, cores])), built


def test_usable_cores_follow_the_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process pinned to 2 of a host's 64 cores shares 2 (torch's threads would otherwise
    crowd them); without an affinity call, os.cpu_count()."""
    from pytest_archcheck.probe.pool import usable_cores

    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert usable_cores() == 2
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    assert usable_cores() == 64
