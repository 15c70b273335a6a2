"""The archcheck pre-commit hook against ruff's hook on the same commit (issue #18 point 4).

A throw-away git repository holds a copy of `examples/` (specs, pyproject.toml files and the
example models' Python sources) in one commit. Its .pre-commit-config.yaml installs:

- archcheck's hook exactly as users do: `repo:` this checkout (a local clone of it), `rev:` a
  commit, hook id `archcheck` from .pre-commit-hooks.yaml (`language: python`: pre-commit
  builds a virtualenv and pip-installs the package, compiled bytecode included);
- ruff's hook as ruff-pre-commit defines it (id `ruff`, `ruff check --force-exclude`,
  `language: python`, `types_or: [python, pyi, jupyter]`, `require_serial: true`), declared
  as a local hook that pip-installs the ruff wheel, because ruff-pre-commit's repository cannot
  be cloned offline. pre-commit runs both the same way.

Then `pre-commit run --all-files HOOK` runs R times per hook, interleaved (archcheck, ruff,
archcheck, ...), after one untimed run of each (which installs nothing more but writes
archcheck's cache, as a developer's first commit does); medians and best of the wall time, and
the median CPU time (user + system of pre-commit and the hook: steadier than wall time on a
shared machine), are printed with the machine's load average. Each extra `--rev NAME=COMMIT` times the archcheck hook of that commit
too, in the same interleaved run.

Usage: python benchmarks/hook_vs_ruff.py PRE_COMMIT [R] [--rev NAME=COMMIT ...]
(PRE_COMMIT: the pre-commit executable; R defaults to 10)
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUFF_VERSION = "0.17.6"


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip


def config(revs: dict[str, str]) -> str:
    """One archcheck hook per rev (ids made distinct by `alias`), and ruff's."""
    lines = ["repos:"]
    for name, rev in revs.items():
        lines += [
            f"  - repo: {REPO}",
            f"    rev: {rev}",
            f"    hooks: [{{id: archcheck, alias: archcheck-{name}}}]",
        ]
    lines += [
        "  - repo: local",
        "    hooks:",
        "      - id: ruff",
        "        name: ruff",
        "        entry: ruff check --force-exclude",
        "        language: python",
        "        types_or: [python, pyi, jupyter]",
        "        require_serial: true",
        f"        additional_dependencies: [ruff=={RUFF_VERSION}]",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = sys.argv[1:]
    revs = {"after": git("rev-parse", "HEAD", cwd=REPO)}
    while "--rev" in args:
        i = args.index("--rev")
        name, rev = args[i + 1].split("=", 1)
        revs[name] = git("rev-parse", rev, cwd=REPO)
        del args[i : i + 2]
    pre_commit = args[0]
    reps = int(args[1]) if len(args) > 1 else 10
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "repo"
        shutil.copytree(REPO / "examples", work / "examples")
        (work / ".pre-commit-config.yaml").write_text(config(revs), encoding="utf-8")
        git("init", "-q", cwd=work)
        git("add", "-A", cwd=work)
        git("commit", "-qm", "examples", cwd=work)
        env = {**os.environ, "PRE_COMMIT_HOME": str(Path(tmp) / "home")}
        env.pop("ARCHCHECK_NO_CACHE", None)
        env.pop("PYTHONPATH", None)  # each hook runs the package its virtualenv installed
        subprocess.run([pre_commit, "install-hooks"], cwd=work, env=env, check=True,
                       capture_output=True)  # fmt: skip
        hooks = [f"archcheck-{name}" for name in revs] + ["ruff"]
        exits = {}
        for hook in hooks:  # untimed: archcheck writes its cache, as on a first commit
            done = subprocess.run([pre_commit, "run", "--all-files", hook], cwd=work, env=env,
                                  capture_output=True, text=True, check=False)  # fmt: skip
            exits[hook] = done.returncode
        load_start = os.getloadavg()
        times: dict[str, list[float]] = {h: [] for h in hooks}
        cpu: dict[str, list[float]] = {h: [] for h in hooks}
        for _ in range(reps):
            for hook in hooks:
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                subprocess.run([pre_commit, "run", "--all-files", hook], cwd=work, env=env,
                               capture_output=True, check=False)  # fmt: skip
                times[hook].append(time.perf_counter() - t0)
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[hook].append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        ruff = statistics.median(times["ruff"])
        ruff_cpu = statistics.median(cpu["ruff"])
        print(json.dumps({
            "repetitions": reps,
            "revs": revs,
            "exit_codes": exits,
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
            **{hook: {"median_s": round(statistics.median(t), 3), "min_s": round(min(t), 3),
                      "vs_ruff": round(statistics.median(t) / ruff, 2),
                      "cpu_median_s": round(statistics.median(cpu[hook]), 3),
                      "cpu_vs_ruff": round(statistics.median(cpu[hook]) / ruff_cpu, 2)}
               for hook, t in times.items()},
        }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
