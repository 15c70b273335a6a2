"""family_of and units() answer from memos (issue #18 point 4: a static check asks family_of
about a dozen times per spec); a unit registered later must still be seen, and the verdict of
the spec validator (`ModelTable._modelled`, memoised per (family, input, registry)) with it."""

from __future__ import annotations

import pytest

import pytest_archcheck.families as fams
from pytest_archcheck.spec.model import Spec

SPEC = {"model": {"name": "m", "layers": 2, "d_model": 64, "heads": 4, "vocab": 100}}


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A private copy of the registry's state for the test (restored afterwards)."""
    fams.units()  # every unit module imported
    for name in ("_UNITS", "_SORTED", "_OF", "_NAMES"):
        value = getattr(fams, name)
        monkeypatch.setattr(fams, name, type(value)(value))


@pytest.mark.usefixtures("registry")
def test_family_of_sees_a_unit_registered_after_it_answered() -> None:
    spec = Spec.model_validate(SPEC)
    first = fams.family_of(spec)
    assert first.name == "transformer"
    assert fams.family_of(spec) is first  # the memo's answer

    class Early(type(first)):  # type: ignore[misc,valid-type]
        """Serves the same family; its name sorts first, so it now wins (name order)."""

        name = "aaa-early"

    fams.register(Early)
    assert fams.units()[0].name == "aaa-early"
    assert fams.family_of(spec).name == "aaa-early"


@pytest.mark.usefixtures("registry")
def test_validator_verdict_follows_the_registry() -> None:
    """input = "image" is not modelled for a GRU (ARC302) until a unit serves it."""
    gru = {"model": {"name": "g", "family": "gru", "hidden": 32, "input": "embeddings"}}
    bad = {"model": {**gru["model"], "input": "image"}}
    with pytest.raises(ValueError, match="not modelled"):
        Spec.model_validate(bad)
    first = fams.family_of(Spec.model_validate(gru))

    class ImageTransformer(type(first)):  # type: ignore[misc,valid-type]
        name = "aaa-image-gru"
        inputs = (*type(first).inputs, "image")

    fams.register(ImageTransformer)
    assert Spec.model_validate(bad).model.input == "image"
