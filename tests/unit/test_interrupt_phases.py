"""What Ctrl-C does in each phase (cnictl.cli.entry.on_sigint reading cnictl.plan.PROGRESS), and that a plan
keeps the phase truthful: "changing" while it applies, "done" once it completed, restored when rolled back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from plan_helpers import Call

from cnictl.cli import entry
from cnictl.plan import PROGRESS, FailStep, Plan, held


@pytest.fixture(autouse=True)
def fresh_progress() -> Iterator[None]:
    saved = (PROGRESS.phase, PROGRESS.rolled_back, PROGRESS.interrupted)
    PROGRESS.phase, PROGRESS.rolled_back, PROGRESS.interrupted = "idle", False, False
    yield
    PROGRESS.phase, PROGRESS.rolled_back, PROGRESS.interrupted = saved


def test_done_holds_the_interrupt() -> None:
    PROGRESS.phase = "done"
    entry.on_sigint(signal.SIGINT, None)  # returns: the change stands, the command finishes
    assert PROGRESS.interrupted


@pytest.mark.parametrize("phase", ["idle", "changing"])
def test_idle_and_changing_raise(phase: str) -> None:
    PROGRESS.phase = phase
    with pytest.raises(KeyboardInterrupt):
        entry.on_sigint(signal.SIGINT, None)


def test_startup_exits_130_with_one_line() -> None:
    code = ("import os, signal; from cnictl.cli import entry; entry.install(); "
            "os.kill(os.getpid(), signal.SIGINT); import time; time.sleep(5)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert (p.returncode, p.stderr) == (130, "cnictl: interrupted; nothing was changed\n")


def test_plan_phases_and_rollback_flag() -> None:
    seen: list[str] = []
    Plan([Call("look", lambda h: seen.append(PROGRESS.phase))]).apply(None)  # type: ignore[arg-type]
    assert seen == ["changing"] and PROGRESS.phase == "done" and not PROGRESS.rolled_back
    PROGRESS.phase = "idle"
    with pytest.raises(Exception, match="injected"):
        Plan([Call("one", lambda h: None), FailStep()]).apply(None)  # type: ignore[arg-type]
    assert PROGRESS.phase == "idle" and PROGRESS.rolled_back


def test_a_signal_during_a_step_lands_after_it() -> None:
    """SIGINT sent inside a step is delivered when the step returns, so the step is among those undone."""
    undone: list[str] = []

    def interrupt(h: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10000):  # a KeyboardInterrupt here would leave the step out of the rollback
            pass

    steps = [Call("first", interrupt, lambda h: undone.append("first")), Call("second", lambda h: None)]
    with pytest.raises(KeyboardInterrupt):
        Plan(steps).apply(None)  # type: ignore[arg-type]
    assert undone == ["first"]


def test_held_change_completes_then_stands() -> None:
    order: list[str] = []
    old = signal.signal(signal.SIGINT, entry.on_sigint)
    try:
        with held():
            os.kill(os.getpid(), signal.SIGINT)
            order.append("body finished")
        order.append(PROGRESS.phase)
    finally:
        signal.signal(signal.SIGINT, old)
    assert order == ["body finished", "done"] and PROGRESS.interrupted
