"""Suite-wide: every test gets its own archcheck cache folder, so that no test sees another's
cached findings and nothing is written into the checkout."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_archcheck_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCHCHECK_CACHE_DIR", str(tmp_path_factory.mktemp("archcheck-cache")))
    monkeypatch.delenv("ARCHCHECK_NO_CACHE", raising=False)
