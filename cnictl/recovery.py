"""Finishing the plans that a dead process left half-done, from their journals (cnictl.journal).

An unfinished *apply* plan (net create, attach, port publish, link add, a CNI ADD...) is undone: each step that
was marked done is undone from what its journal line and done mark hold, in reverse, and so is the step after
the last done one (it may have been cut short: its undo reverses only what is provably its own). An unfinished
*teardown* (detach, net rm, a CNI DEL...) is completed: the steps after the last done one run again, tolerating
what is already gone. A torn journal, or one written in another boot (a power cut: the done marks are not flushed
to disk), is handled with every step that is not marked done treated as possibly cut short: the kernel objects
went with the boot, the files did not.

This module is imported only when a journal is found, so its cost is never paid by a command that finds none.

    >>> describe({"command": "cnictl attach lab web", "pid": 7, "time": "2026-12-02T18:00:00Z"})
    '"cnictl attach lab web" (pid 7, 2026-12-02T18:00:00Z)'
"""

from __future__ import annotations

import os
import sys

from cnictl import journal
from cnictl.errors import RollbackIncompleteError, cli
from cnictl.plan import Step, deferred_signals
from cnictl.record import field, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from cnictl.host import Host


@record
class Recovered:
    """What recovery did (or, in a dry run, would do) with one unfinished journal."""

    journal: str
    command: str
    pid: int
    started: str
    kind: str  # "apply" (undone) or "teardown" (completed)
    action: str  # "undone", "completed", "would undo", "would complete"
    steps: list[str] = field(default_factory=list)  # the summaries of the steps undone or run
    errors: list[str] = field(default_factory=list)
    torn: bool = False
    problem: str = ""
    other_boot: bool = False

    @property
    def finished(self) -> bool:
        return not self.errors and self.action in ("undone", "completed")

    def message(self) -> str:
        what = describe({"command": self.command, "pid": self.pid, "time": self.started})
        torn = f" (its journal {self.journal} is torn: {self.problem})" if self.torn else ""
        if self.errors:
            return (f"could not finish the interrupted {what}{torn}: " + "; ".join(self.errors)
                    + f"; run {cli('gc')} after fixing it")
        n = len(self.steps)
        if self.kind == "apply":
            return f"{self.action} the interrupted {what}{torn}: {n} step(s) rolled back"
        return f"{self.action} the interrupted {what}{torn}: ran its {n} remaining step(s)"

    def to_json(self) -> dict[str, Any]:
        return {"journal": self.journal, "command": self.command, "pid": self.pid, "started": self.started,
                "kind": self.kind, "action": self.action, "steps": self.steps, "errors": self.errors,
                "torn": self.torn, "problem": self.problem, "other_boot": self.other_boot}


def describe(header: dict[str, Any]) -> str:
    return f'"{header.get("command", "?")}" (pid {header.get("pid", "?")}, {header.get("time", "?")})'


def step_class(name: str) -> type[Step]:
    """The Step class a journal line names ("module:Class"); only cnictl's own."""
    module, _, qualname = name.partition(":")
    if not module.startswith("cnictl.") or not qualname:
        raise ValueError(f"not a cnictl step: {name!r}")
    __import__(module)
    obj: Any = sys.modules[module]
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, Step)):
        raise ValueError(f"not a Step class: {name!r}")
    return obj


def _plan_of(parsed: journal.Parsed, unsure_all: bool) -> tuple[list[tuple[int, dict[str, Any], dict[str, Any] | None]], int]:
    """The steps to undo (apply) or run (teardown), each (index, journal line, out or None), and their count."""
    steps = {int(rec["i"]): rec for rec in parsed.steps if isinstance(rec.get("i"), int)}
    done = parsed.done
    last = max(done) if done else -1
    out: list[tuple[int, dict[str, Any], dict[str, Any] | None]] = []
    if parsed.kind == "teardown":
        start = 0 if unsure_all else last + 1
        for i in sorted(steps):
            if i >= start:
                out.append((i, steps[i], None))
        return out, len(out)
    # the step that may have been cut short: the first after the last done one that has anything to undo
    # (steps without journal data get no done mark)
    first = next((i for i in sorted(steps) if i > last and steps[i].get("data") is not None), None)
    for i in sorted(steps, reverse=True):
        if i in done:  # a done mark that could be read is true, torn journal or not
            out.append((i, steps[i], done[i] or {}))
        elif unsure_all or i == first:
            out.append((i, steps[i], None))  # it may have been cut short (or its mark lost)
    return out, len(out)


def finish(host: Host, path: str, fd: int, *, dry_run: bool = False) -> Recovered:
    """Undo (or complete) the journal in slot *path*, whose flock *fd* holds; the slot is emptied when every
    step went well. *fd* is closed."""
    try:
        parsed = journal.read(fd)
        head = parsed.header
        other_boot = bool(head.get("boot")) and head.get("boot") != journal.boot_id()
        unsure_all = parsed.torn or other_boot
        todo, _ = _plan_of(parsed, unsure_all)
        kind = parsed.kind
        rec = Recovered(path, str(head.get("command", "?")), int(head.get("pid", 0) or 0), str(head.get("time", "?")),
                        kind, ("would undo" if kind == "apply" else "would complete") if dry_run else
                        ("undone" if kind == "apply" else "completed"), torn=parsed.torn, problem=parsed.problem,
                        other_boot=other_boot)
        with deferred_signals():  # Ctrl-C waits: recovery is not itself left half-done
            for i, line, out in todo:
                data = line.get("data")
                if data is None:
                    continue  # nothing to undo or redo: its effect went with another step
                summary = str(line.get("summary", line.get("step")))
                try:
                    step = step_class(str(line["step"])).resume(host, data, out)
                    if kind == "teardown" and step.clean_only and rec.errors:
                        continue
                    if not dry_run:
                        if kind == "apply":
                            step.undo(host)
                        else:
                            step.apply(host)
                    rec.steps.append(summary)
                except Exception as e:  # noqa: BLE001 - every failure is reported, the rest still runs
                    from cnictl.plan import _describe

                    rec.errors.append(f"step {i} ({summary}): {_describe(e)}")
            if not dry_run and not rec.errors:
                os.pwrite(fd, b"\0", 0)  # empty first (durably), then gone
                os.fdatasync(fd)
                try:  # noqa: SIM105
                    os.unlink(path)
                except FileNotFoundError:
                    pass
        return rec
    finally:
        os.close(fd)


def recover(host: Host, *, dry_run: bool = False, torn_ok: bool = True) -> list[Recovered]:
    """Finish every unfinished journal under the host's state directory (the caller holds the exclusive state
    lock), newest first. *torn_ok* False: a torn journal is not touched; it raises instead (after the others
    were finished), since only `cnictl gc` acts on a journal whose end is unknown."""
    found = journal.pending(host.paths.dirs.state_dir)
    entries = []
    for path, fd in found:
        parsed = journal.read(fd)
        entries.append((str(parsed.header.get("time", "")), path, fd, parsed))
    entries.sort(key=lambda e: (e[0], e[1]), reverse=True)
    done: list[Recovered] = []
    torn: list[tuple[str, journal.Parsed]] = []
    boot = journal.boot_id()
    for _t, path, fd, parsed in entries:
        other_boot = bool(parsed.header.get("boot")) and parsed.header.get("boot") != boot
        if parsed.torn and not torn_ok and not other_boot:  # (a power cut may tear an unflushed journal)
            os.close(fd)
            torn.append((path, parsed))
            continue
        done.append(finish(host, path, fd, dry_run=dry_run))
    if torn:
        path, parsed = torn[0]
        what = describe(parsed.header) if parsed.header else "change"
        raise RollbackIncompleteError(
            f"the journal {path} of an interrupted {what} is torn ({parsed.problem}), so it is not known how far "
            "it got", hint=f"run {cli('gc')}: it undoes what the journal's readable part names")
    return done


def recover_on_lock(host: Host) -> list[Recovered]:
    """What a command that takes the state lock runs first when journals are pending: finish them and say so,
    one line on stderr each."""
    done = recover(host, torn_ok=False)
    for rec in done:
        sys.stderr.write(f"cnictl: {rec.message()}\n")
    return done
