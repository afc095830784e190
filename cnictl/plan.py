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
    from cnictl.journal import Journal


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
    journaled: bool = True
    """False: by design journal() is None (nothing to undo or redo; tests/unit/test_journal.py checks the rest)."""
    outlives_boot: bool = False
    """What it makes survives a reboot (a network's record, a file in a runtime's conf dir): a plan with such
    a step flushes its commit to disk, so a power cut cannot make the next boot undo it."""

    def apply(self, host: Host) -> None:
        raise NotImplementedError

    def undo(self, host: Host) -> None:
        """Reverse only what apply() changed; tolerate objects that are already gone."""

    def explain(self, host: Host) -> list[str]:
        return []

    def explain_undo(self, host: Host) -> list[str]:
        return []

    # ---- the journal (cnictl.journal, cnictl.recovery) ------------------------------------------------------
    def journal(self) -> dict[str, Any] | None:
        """What recovery needs, as plain JSON data, to undo this step (in a teardown: to run it again) after the
        process that ran it died. None: there is nothing to undo or redo (a probe, a comment, a setting that goes
        with the link another step created). Every other step also implements resume()."""
        return None

    def journal_out(self) -> dict[str, Any] | None:
        """What apply() chose that undo needs (a reserved address), written with the step's done mark."""
        return None

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> Step:
        """The step rebuilt from journal() *data*, ready for undo() (or, in a teardown, apply()). *out* is
        journal_out() when the step was marked done; None when it may have been cut short or never ran: undo
        must then reverse only what is provably this step's (tolerating that nothing was done)."""
        raise NotImplementedError(f"{cls.__name__} has no resume()")


class Note(Step):
    """A comment in the explained output; changes nothing."""

    journaled = False

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


def step_name(step: Step) -> str:
    """How the journal names a step's class (recovery imports it from there)."""
    cls = type(step)
    return f"{cls.__module__}:{cls.__qualname__}"


def _begin(host: Host, steps: list[Step], kind: str) -> Journal | None:
    from cnictl import journal

    paths = getattr(host, "paths", None)
    if not journal.ENABLED or paths is None or not steps:
        return None
    intent = [(step_name(s), s.summary, s.journal()) for s in steps]
    durable = kind == "apply" and any(s.outlives_boot for s in steps)
    try:
        return journal.Journal.begin(paths.dirs.state_dir, kind, intent, durable)
    except OSError as e:
        raise CnictlError(f"cannot write the plan journal under {journal.directory(paths.dirs.state_dir)}: "
                          f"{e.strerror or e}", hint="check that the state directory is writable (run as root)") from e


class Plan:
    """An ordered list of Steps.

    Applying (or tearing down) a plan journals it first (cnictl.journal): the intent is on disk before the first
    step and each step is marked done, so a process killed in the middle leaves what the next cnictl needs to
    finish the job (cnictl.recovery)."""

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
        journal = None
        try:
            journal = _begin(host, self.steps, "apply")
            for i, step in enumerate(self.steps):
                if echo is not None and not step.echo_after:
                    echo(step)
                with deferred_signals():  # Ctrl-C lands between steps: a step that ran is always in *done*
                    step.apply(host)
                    done.append(step)
                    if journal is not None and step.journaled:  # (nothing to undo: no mark needed)
                        journal.done(i, step.journal_out())
                if echo is not None and step.echo_after:
                    echo(step)
            if journal is not None:
                with deferred_signals():
                    journal.finish()
            PROGRESS.phase = "done"  # from here on an interrupt is held: the change stands
        except BaseException as exc:
            leftovers: list[str] = []
            with deferred_signals():
                for step in reversed(done):
                    try:
                        step.undo(host)
                    except Exception as e:  # noqa: BLE001 - collect every undo failure
                        leftovers.append(f"{step.summary}: {e}")
                if journal is not None:
                    if leftovers:
                        journal.abandon()  # kept: the next cnictl (or this process's next lock) tries again
                    else:
                        journal.finish()
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
            journal = _begin(host, self.steps, "teardown")
            for i, step in enumerate(self.steps):
                if step.clean_only and errors:
                    if journal is not None:
                        journal.done(i, {"skipped": True})
                    continue  # something was left: keep what lets the same removal run again
                if echo is not None:
                    echo(step)
                try:
                    step.apply(host)
                except Exception as e:  # noqa: BLE001
                    errors.append(f"{step.summary}: {_describe(e)}")
                if journal is not None:
                    journal.done(i)
            if journal is not None:
                journal.finish()  # the user is told of any failure; the same removal can run again
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
    journaled = False

    def apply(self, host: Host) -> None:
        raise KernelError("injected failure")
