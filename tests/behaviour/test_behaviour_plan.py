"""How deep a model the behavioural checks build (measure.behaviour_plan, issue #18): the
family's reference module at 2 layers, again at full depth for the reach check only where
depth changes the reach; a repository's factory as it is built unless it is too large."""

from __future__ import annotations

from typing import Any

from pytest_archcheck.measure import behaviour_plan
from pytest_archcheck.spec.model import Spec


def spec(**model: Any) -> Spec:
    return Spec.model_validate({"model": model, "budget": {"span": 64}})


GPT = {"family": "transformer", "layers": 12, "d_model": 64, "heads": 4, "vocab": 100}


def test_reference_transformer_is_cut_and_reach_needs_no_depth() -> None:
    plan = behaviour_plan(spec(**GPT))
    assert plan.skip is None and plan.spec is not None
    assert plan.spec.model.layers == 2
    assert plan.reach_spec is None  # full attention reaches everything at any depth


def test_windowed_reference_measures_reach_at_full_depth() -> None:
    # 12 layers of window 8 reach 96 positions back, 2 layers only 16
    windowed = spec(**GPT, attention="sliding", window=8)
    plan = behaviour_plan(windowed)
    assert plan.spec is not None and plan.spec.model.layers == 2
    assert plan.reach_spec is windowed


def test_conv_stack_reach_at_full_depth() -> None:
    tcn = spec(family="tcn", layers=6, d_model=16, vocab=50, kernel=3,
               dilations=[1, 2, 4, 8, 16, 32])  # fmt: skip
    plan = behaviour_plan(tcn)
    assert plan.spec is not None and plan.spec.model.layers == 2
    assert plan.reach_spec is tcn


def test_shallow_reference_is_built_as_it_is() -> None:
    shallow = spec(**{**GPT, "layers": 2})
    plan = behaviour_plan(shallow)
    assert plan.spec is shallow and plan.reach_spec is None


def test_factories_are_built_as_the_repository_builds_them() -> None:
    literal = spec(**GPT, factory="model:build", factory_args={"layers": 12})
    assert behaviour_plan(literal).spec is literal
    # depth from the spec and small enough: full depth (a bug may sit in a later block)
    driven = spec(**GPT, factory="model:build", factory_args={"n_layer": "{model.layers}"})
    assert behaviour_plan(driven).spec is driven


def test_spec_driven_factory_too_large_is_cut_then_skipped() -> None:
    big = {**GPT, "d_model": 4096, "heads": 32, "vocab": 32000, "layers": 32}
    driven = spec(**big, factory="model:T", config_args={"n_layers": "{model.layers}"})
    plan = behaviour_plan(driven)  # 32 layers at d 4096: 6.5 B parameters
    # at 2 layers still 2 x 201 M + 2 x 131 M (untied table and head) > 300 M: not run
    assert plan.spec is None and plan.skip is not None and "too large" in plan.skip
    medium = {**GPT, "d_model": 1024, "heads": 16, "vocab": 32000, "layers": 48}
    plan = behaviour_plan(spec(**medium, factory="model:T",
                               config_args={"n_layers": "{model.layers}"}))  # fmt: skip
    # 48 x 12.6 M + 32.8 M = 637 M over the limit; at 2 layers 58 M
    assert plan.spec is not None and plan.spec.model.layers == 2
