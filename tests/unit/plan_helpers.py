"""A Step made of two callables, for tests of the Plan machinery itself (phases, signals, rollback order).

cnictl's own plans have no such step: every change there is a named Step of the subsystem it changes
(tests/unit/test_plans.py checks that). This one lived in cnictl.plan as `Call` until issue 10.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cnictl.host import Host
from cnictl.plan import Step


class Call(Step):
    def __init__(
        self,
        summary: str,
        do: Callable[[Host], Any],
        undo: Callable[[Host], Any] | None = None,
        explain: Callable[[Host], list[str]] | None = None,
    ) -> None:
        self.summary = summary
        self._do, self._undo, self._explain = do, undo, explain

    def apply(self, host: Host) -> None:
        self._do(host)

    def undo(self, host: Host) -> None:
        if self._undo is not None:
            self._undo(host)

    def explain(self, host: Host) -> list[str]:
        return self._explain(host) if self._explain else []
