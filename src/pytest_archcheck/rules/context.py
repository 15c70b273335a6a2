"""What a rule sees: one validated spec, its formula estimate, and measurements when probed."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..spec.locate import Key

if TYPE_CHECKING:
    from ..estimate import Estimate
    from ..pipeline import Measurements
    from ..runlog import RunLog
    from ..spec.load import LoadedSpec
    from ..spec.model import Spec


@dataclass(frozen=True)
class Violation:
    """A rule's verdict before it is located: message, the spec key to blame, and a fix."""

    message: str
    key: Key
    fix: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class RuleContext:
    loaded: LoadedSpec
    spec: Spec
    # None unless the probe measured this spec for the rule's concern (typed: pipeline.py)
    measured: Measurements | None = None

    @cached_property
    def estimate(self) -> Estimate:
        """Formula estimate at the budget's n (max_n, else seq_len): the worst case decides."""
        from ..estimate import estimate
        from ..families import family_of

        n = family_of(self.spec).budget_n(self.spec)  # an image model's n is its side
        return estimate(self.spec, n=n, path=self.loaded.path)

    @cached_property
    def run_log(self) -> RunLog | Exception | None:
        """The model's training log (runlog/), None when there is none, the error when it
        cannot be read."""
        from ..runlog import RunLogError, find_run_log, read_run_log

        path = find_run_log(self.loaded.path, self.spec.name, self.spec.data.run_log)
        if path is None:
            return None
        try:
            return read_run_log(path)
        except RunLogError as exc:
            return exc
