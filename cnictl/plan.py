"""Plans: ordered Steps that apply one kernel change each, explain themselves and undo in reverse.

A Plan is built first (validation, no side effects), then applied. If a step fails or the
user presses Ctrl-C, the steps already done are undone in reverse with SIGINT/SIGTERM held
back, so the system is left exactly as it was. Teardown plans run every step, treat "already
gone" as success and collect errors instead of stopping.

    >>> p = Plan([Note("nothing to do")])
    >>> p.explain()
    ['# nothing to do']
"""

from __future__ import annotations

import _signal as signal  # signal's own names without its enum wrappers (signal imports enum: start-up time)
import os

from cnictl.errors import CnictlError, KernelError, RollbackIncompleteError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from cnictl.host import Host


class Progress:
    """How far this process has got in changing the system, so that an interrupt is honoured and reported
    truthfully (the CLI's SIGINT handler reads it). One instance, PROGRESS; *phase* is one of:

    - "startup": interpreter start-up, imports, parsing: nothing can have changed, Ctrl-C ends the process at once;
    - "idle": the command runs but no change is in flight: Ctrl-C raises KeyboardInterrupt;
    - "changing": a plan (or another change) is being applied: Ctrl-C raises KeyboardInterrupt and the plan
      rolls back what it did;
    - "done": a change completed: Ctrl-C is held until the command has printed its result (exit 0).

    Each phase change is one attribute store, so a signal handler sees one phase or the other, never half.
    """

    def __init__(self) -> None:
        self.phase = "startup"
        self.rolled_back = False  # an interrupted change was undone completely
        self.interrupted = False  # SIGINT arrived


PROGRESS = Progress()
# what an interrupt before any change reports (the SIGINT handler of cnictl.cli.entry and cnictl.cli.main.run)
NOTHING_CHANGED = "interrupted; nothing was changed"


# The context managers here are small classes rather than contextlib.contextmanager generators: contextlib
# would be one module more for the CNI plugin to import on every ADD and DEL.


class changing:  # noqa: N801 - used as a function: `with changing():`
    """Mark a change made outside a Plan (a direct state or firewall update): an interrupt inside it raises,
    and the phase is "done" once it completed."""

    __slots__ = ("before",)

    def __enter__(self) -> None:
        self.before = PROGRESS.phase
        PROGRESS.phase = "changing"

    def __exit__(self, exc_type: object, *_: object) -> None:
        PROGRESS.phase = self.before if exc_type is not None else "done"


class held:  # noqa: N801 - used as a function: `with held():`
    """A short change made outside a Plan (releasing reservations, reloading rules): Ctrl-C is held until it
    completed, and then the change stands (phase "done")."""

    __slots__ = ("change", "signals")

    def __enter__(self) -> None:
        self.signals, self.change = deferred_signals(), changing()
        self.signals.__enter__()
        self.change.__enter__()

    def __exit__(self, *exc: object) -> None:
        try:
            self.change.__exit__(*exc)
        finally:
            self.signals.__exit__(*exc)


class Step:
    """One kernel (or state) transaction with its undo and its equivalent shell command.

    Every change is a named Step of the subsystem it changes (netlink links and namespaces in
    cnictl.netlink, IPAM in cnictl.ipam.steps, records in cnictl.store, firewall rules in the backends),
    and each explains itself: a state-only step as a comment line (`# state: write FILE`), so --dry-run
    and the --explain echo show every change. tests/unit/test_plans.py checks every plan the CLI builds.
    """

    summary: str = ""
    echo_after: bool = False
    """--explain echoes this step after it ran (its command names what apply() chose, such as a reserved address)."""
    clean_only: bool = False
    """In a teardown, this step runs only if every step before it succeeded (forgetting a record)."""

    def apply(self, host: Host) -> None:
        raise NotImplementedError

    def undo(self, host: Host) -> None:
        """Reverse only what apply() changed; tolerate objects that are already gone."""

    def explain(self, host: Host) -> list[str]:
        return []

    def explain_undo(self, host: Host) -> list[str]:
        return []


class Note(Step):
    """A comment in the explained output; changes nothing."""

    def __init__(self, text: str) -> None:
        self.summary = text

    def apply(self, host: Host) -> None:
        return None

    def explain(self, host: Host | None = None) -> list[str]:
        return [f"# {self.summary}"]


class deferred_signals:  # noqa: N801 - used as a function: `with deferred_signals() as pending:`
    """Hold back SIGINT/SIGTERM while undoing; re-deliver the first one afterwards."""

    __slots__ = ("old", "pending")

    def __init__(self) -> None:
        self.pending: list[int] = []
        self.old: dict[int, Any] = {}

    def _hold(self, signum: int, _frame: object) -> None:
        self.pending.append(signum)

    def __enter__(self) -> list[int]:
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.old[sig] = signal.signal(sig, self._hold)
        except ValueError:  # not the main thread: signals cannot be handled here anyway
            self.old.clear()
        return self.pending

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.old.items():
            signal.signal(sig, handler)
        if self.pending:
            os.kill(os.getpid(), self.pending[0])  # now handled as usual (Ctrl-C raises KeyboardInterrupt)


class Plan:
    """An ordered list of Steps."""

    def __init__(self, steps: list[Step] | None = None) -> None:
        self.steps: list[Step] = list(steps or [])

    def add(self, step: Step) -> Step:
        self.steps.append(step)
        return step

    def extend(self, other: Plan) -> None:
        self.steps.extend(other.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def explain(self, host: Host | None = None) -> list[str]:
        return [line for s in self.steps for line in s.explain(host)]  # type: ignore[arg-type]

    def apply(self, host: Host, *, echo: Callable[[Step], None] | None = None) -> None:
        """Apply every step; on any failure (or Ctrl-C) undo the done ones in reverse and re-raise."""
        done: list[Step] = []
        before = PROGRESS.phase
        PROGRESS.phase = "changing"
        try:
            for step in self.steps:
                if echo is not None and not step.echo_after:
                    echo(step)
                with deferred_signals():  # Ctrl-C lands between steps: a step that ran is always in *done*
                    step.apply(host)
                    done.append(step)
                if echo is not None and step.echo_after:
                    echo(step)
            PROGRESS.phase = "done"  # from here on an interrupt is held: the change stands
        except BaseException as exc:
            leftovers: list[str] = []
            with deferred_signals():
                for step in reversed(done):
                    try:
                        step.undo(host)
                    except Exception as e:  # noqa: BLE001 - collect every undo failure
                        leftovers.append(f"{step.summary}: {e}")
                if not leftovers:
                    PROGRESS.rolled_back = PROGRESS.rolled_back or bool(done)
                PROGRESS.phase = before
            if leftovers:
                raise RollbackIncompleteError(
                    f"{_describe(exc)}; undo also failed, left behind: " + "; ".join(leftovers),
                    hint="remove these by hand, then retry",
                ) from exc
            raise

    def teardown(self, host: Host, *, echo: Callable[[Step], None] | None = None) -> list[str]:
        """Run every step even when some fail; returns the failures (empty when all went well)."""
        errors: list[str] = []
        with deferred_signals():
            PROGRESS.phase = "changing"
            for step in self.steps:
                if step.clean_only and errors:
                    continue  # something was left: keep what lets the same removal run again
                if echo is not None:
                    echo(step)
                try:
                    step.apply(host)
                except Exception as e:  # noqa: BLE001
                    errors.append(f"{step.summary}: {_describe(e)}")
            PROGRESS.phase = "done"  # an interrupt held meanwhile is delivered now, and held again
        return errors


def _describe(exc: BaseException) -> str:
    if isinstance(exc, CnictlError):
        return exc.message
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return f"{type(exc).__name__}: {exc}"


class FailStep(Step):
    """A step that always fails: used by tests to exercise rollback at every index."""

    summary = "injected failure"

    def apply(self, host: Host) -> None:
        raise KernelError("injected failure")
