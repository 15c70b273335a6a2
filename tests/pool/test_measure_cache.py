"""Issue #18.2: the measurement cache. Keyed by the spec's resolved content, the factory's
source (its module and the project-local modules it imports, by content), the torch version
and the target: an edit invalidates exactly the entries that depend on it; a corrupt entry is
a miss.

The key tests need no torch import (the key reads torch's version from its metadata); the
end-to-end test runs `archcheck check --probe` three times in a subprocess.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_archcheck import measurecache
from pytest_archcheck.spec.model import Spec

pytest.importorskip("torch")


def _spec(factory: str, **train: Any) -> Spec:
    return Spec.model_validate(
        {
            "model": {"name": factory.partition(":")[0], "family": "transformer", "factory": factory,
                      "vocab": 20, "layers": 1, "d_model": 8, "heads": 1},
            "train": {"batch": 2, "seq_len": 16, **train},
        }
    )  # fmt: skip


def _request(spec: Spec, device: str = "fake") -> dict[str, Any]:
    return {"device": device, "check": None, "behaviour": True, "path": "m.archcheck.toml",
            "name": spec.name, "line": 3, "locations": {"model": 1}}  # fmt: skip


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pkg/a.py imports pkg/helpers.py (relative) and torch; b.py imports nothing local;
    notes.py is imported by nobody."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n')
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text("WIDTH = 8\n")
    (pkg / "a.py").write_text("import torch\nfrom .helpers import WIDTH\n\ndef build():\n    ...\n")
    (tmp_path / "b.py").write_text("import os\n\ndef build():\n    ...\n")
    (tmp_path / "notes.py").write_text("X = 1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARCHCHECK_ROOT", str(tmp_path))
    return tmp_path


def _keys() -> tuple[str | None, str | None]:
    measurecache.configure(None)  # a new run: keys are computed once per run
    a, b = _spec("pkg.a:build"), _spec("b:build")
    return (measurecache.key(_request(a), a, {}), measurecache.key(_request(b), b, {}))


def test_a_factory_edit_invalidates_only_its_models(proj: Path) -> None:
    a0, b0 = _keys()
    assert a0 is not None and b0 is not None and a0 != b0
    assert _keys() == (a0, b0)  # deterministic
    (proj / "notes.py").write_text("X = 2\n")  # imported by nobody
    assert _keys() == (a0, b0)
    (proj / "pkg" / "helpers.py").write_text("WIDTH = 16\n")  # imported by pkg.a only
    a1, b1 = _keys()
    assert a1 != a0 and b1 == b0
    (proj / "b.py").write_text("import os\n\ndef build():\n    return 1\n")
    a2, b2 = _keys()
    assert a2 == a1 and b2 != b1
    (proj / "pkg" / "__init__.py").write_text("# runs before pkg.a\n")  # a's package init
    a3, b3 = _keys()
    assert a3 != a2 and b3 == b2


def test_spec_request_and_target_are_in_the_key(proj: Path) -> None:
    a = _spec("pkg.a:build")
    base = measurecache.key(_request(a), a, {})
    assert measurecache.key(_request(_spec("pkg.a:build", batch=4)), a, {}) == base  # the
    # request carries no spec content; the spec does:
    a4 = _spec("pkg.a:build", batch=4)
    assert measurecache.key(_request(a4), a4, {}) != base
    assert measurecache.key({**_request(a), "line": 4}, a, {}) != base  # findings carry lines
    assert measurecache.key(_request(a, "cpu"), a, {}) not in (None, base)


def test_torch_version_is_in_the_key(proj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = _spec("pkg.a:build")
    base = measurecache.key(_request(a), a, {})
    measurecache.configure(None)
    monkeypatch.setattr(measurecache, "torch_version", lambda: "9.9.9")
    assert measurecache.key(_request(a), a, {}) != base
    measurecache.configure(None)
    monkeypatch.setattr(measurecache, "torch_version", lambda: None)
    assert measurecache.key(_request(a), a, {}) is None  # no torch: nothing cached


def test_corrupt_or_misshapen_entry_is_a_miss(tmp_path: Path) -> None:
    measurecache.configure(tmp_path)
    try:
        good = {"measured": {"device": "fake"}, "probe_result": None, "findings": []}
        measurecache.put("k1", good)
        assert measurecache.get("k1") == good
        entry = tmp_path / "measure" / "k1.json"
        entry.write_bytes(b"\x00{not json")
        assert measurecache.get("k1") is None
        entry.write_text(json.dumps({"format": 1, "result": {"measured": 3, "findings": []}}))
        assert measurecache.get("k1") is None
        entry.write_text(json.dumps({"format": 999, "result": good}))
        assert measurecache.get("k1") is None
        measurecache.put("k1", good)  # overwritten
        assert measurecache.get("k1") == good
        assert (tmp_path / ".gitignore").read_text().endswith("*\n")
    finally:
        measurecache.configure(None)


def test_check_probe_reuses_and_invalidates_exactly(tmp_path: Path) -> None:
    """Run, run again (both cached), corrupt B's entry and edit a module nobody imports (B
    re-measured, A cached), edit A's factory (A re-measured, B cached). Results identical
    each time."""
    pytest.importorskip("pebble")
    from test_pool import by_model, check_probe, project

    (tmp_path / "p").mkdir()
    folder = project(tmp_path / "p", {})
    (folder / "amodel.py").write_text("from pool_models import good as build\n")
    (folder / "unrelated.py").write_text("X = 1\n")
    for name, factory in (("a", "amodel:build"), ("b", "pool_models:good")):
        text = (Path(__file__).parent / "test_pool.py").read_text()
        spec = text.split('SPEC = """', 1)[1].split('"""', 1)[0]
        (folder / f"{name}.archcheck.toml").write_text(spec.replace("pool_models:{factory}",
                                                                    factory))  # fmt: skip
    cache = tmp_path / "cache"

    def run() -> tuple[dict[str, bool], dict[str, list[dict[str, object]]]]:
        _, doc, _ = check_probe(folder, cache=cache)
        cached = {t["model"]: t["cached"] for t in doc["timings"]["models"]}  # type: ignore[index]
        return cached, by_model(doc)

    first, found = run()
    assert first == {"a": False, "b": False}
    second, again = run()
    assert second == {"a": True, "b": True} and again == found
    entries = sorted((cache / "measure").glob("*.json"))
    # two per model: the probe and, on a pool of two workers, the behavioural checks apart
    # (measure._parts), each cached under its own key
    assert len(entries) == 4
    # b's probe entry: the one whose findings name model b
    [b_entry] = [e for e in entries if '"model": "b"' in e.read_text()]
    b_entry.write_text("{corrupt")
    (folder / "unrelated.py").write_text("X = 2\n")
    third, again = run()
    assert third == {"a": True, "b": False} and again == found
    time.sleep(0.01)
    (folder / "amodel.py").write_text("from pool_models import good as build  # edited\n")
    fourth, again = run()
    assert fourth == {"a": False, "b": True} and again == found
