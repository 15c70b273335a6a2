"""Suite-wide: every test gets its own archcheck cache folder, so that no test sees another's
cached findings and nothing is written into the checkout."""

from __future__ import annotations

import pytest

# fixture repositories (tests/data/repos) hold real-shaped scripts such as TCN's add_test.py:
# source to discover, never tests to collect
collect_ignore_glob = ["data/*"]


@pytest.fixture(autouse=True)
def _private_archcheck_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCHCHECK_CACHE_DIR", str(tmp_path_factory.mktemp("archcheck-cache")))
    monkeypatch.delenv("ARCHCHECK_NO_CACHE", raising=False)
