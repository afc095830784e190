"""The plan journal: what a plan is about to do, written durably before its first step, so that a plan cut short
by `kill -9`, an OOM kill or a power cut is finished by the next cnictl (cnictl.recovery) instead of being left
half-made.

A journal lives in a *slot*: a file `<state dir>/journal/<n>` that a process makes at its first plan, reuses for
its later plans and removes at exit. The process holds an exclusive flock on its slot (the kernel drops it when
the process dies, however it dies), so a non-empty slot that nobody holds is an unfinished plan of a process that
is gone. Its text, up to the first NUL byte, is JSON lines:

    {"v": 1, "kind": "apply", "steps": 9, "pid": 4242, "boot": "<boot_id>", "time": "...", "command": "..."}
    {"i": 0, "step": "cnictl.netlink.steps:AddVeth", "summary": "create veth ...", "data": {...}}
    ...                                                   (one line per step: what recovery needs to undo/redo it)
    {"done": 0}                                           (appended after each step; "out": what apply chose)

The header and the step lines are written in one pwrite before the first step, and flushed to disk (a new slot:
fsync of the file and of the directory; a reused one: one fdatasync) when the plan's result outlives a reboot
(Step.outlives_boot: net create); the `done` lines are plain writes,
which a killed process cannot lose (they are in the page cache) and a power cut only loses together with the
kernel objects they describe (a boot id other than ours says so). Committing writes a NUL at offset 0 and flushes
it again: the slot is empty. A file that ends before its NUL terminator (or whose lines do not parse) is *torn*.

    >>> text = encode_header("apply", 1, "cnictl attach lab web") + encode_step(0, "m:C", "x", {"a": 1})
    >>> parse(text + b"\\0").steps[0]["data"]
    {'a': 1}
"""

from __future__ import annotations

import fcntl
import os
import sys
import time

from cnictl import jsonlite as json
from cnictl.fsutil import _still_linked

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

ENABLED = True
"""Plans write a journal. Only benchmarks turn it off (to measure what it costs)."""

VERSION = 1

_held: dict[str, Slot] = {}  # journal directory -> the slot this process holds there
_boot: list[str] = []


def directory(state_dir: str) -> str:
    return os.path.join(state_dir, "journal")


def boot_id() -> str:
    """This boot's id (a power cut or reboot since a journal was written changes it)."""
    if not _boot:
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                _boot.append(f.read().strip())
        except OSError:
            _boot.append("")
    return _boot[0]


def _command() -> str:
    argv = [os.path.basename(sys.argv[0] or "cnictl")] + sys.argv[1:] if sys.argv else ["cnictl"]
    cni = os.environ.get("CNI_COMMAND")
    if cni:
        argv += [f"CNI_COMMAND={cni}", f"CNI_CONTAINERID={os.environ.get('CNI_CONTAINERID', '')}",
                 f"CNI_IFNAME={os.environ.get('CNI_IFNAME', '')}"]
    return " ".join(argv)[:400]


def encode_header(kind: str, steps: int, command: str | None = None) -> bytes:
    head = {"v": VERSION, "kind": kind, "steps": steps, "pid": os.getpid(), "boot": boot_id(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": command or _command()}
    return (json.dumps(head) + "\n").encode()


def encode_step(i: int, step: str, summary: str, data: dict[str, Any] | None) -> bytes:
    return (json.dumps({"i": i, "step": step, "summary": summary, "data": data}) + "\n").encode()


class Slot:
    """One journal file held (flock) by this process. *fresh*: made by this process and not yet flushed, so the
    first journal in it also flushes the file's metadata and its directory entry."""

    __slots__ = ("fd", "fresh", "path", "pos")

    def __init__(self, fd: int, path: str, fresh: bool = False) -> None:
        self.fd, self.path, self.pos, self.fresh = fd, path, 0, fresh

    def write(self, data: bytes, at: int) -> None:
        os.pwrite(self.fd, data + b"\0", at)

    def flush(self) -> None:
        if not self.fresh:
            os.fdatasync(self.fd)  # an existing slot: the data (and the size, when it grew)
            return
        os.fsync(self.fd)
        dfd = os.open(os.path.dirname(self.path), os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        self.fresh = False


def _names(jdir: str) -> list[str]:
    try:
        return sorted((n for n in os.listdir(jdir) if n.isdigit()), key=int)
    except FileNotFoundError:
        return []


def _new_slot(jdir: str, taken: set[str]) -> Slot:
    os.makedirs(jdir, mode=0o700, exist_ok=True)
    n = 0
    while True:
        name = str(n)
        n += 1
        if name in taken:
            continue
        path = os.path.join(jdir, name)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another process's pending() took it for an orphan: it goes, try the next
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        if not _still_linked(path, fd):  # ... and removed it before we had the lock
            os.close(fd)
            continue
        return Slot(fd, path, fresh=True)


def _lock_unheld(path: str) -> int | None:
    """A descriptor holding the flock of the slot at *path*, or None if it is gone or a live process holds it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def take(state_dir: str) -> Slot:
    """The slot this process journals in (kept for its lifetime, removed at exit when empty): a free empty one,
    else a new one. A slot that holds an unfinished journal is never reused: it is left for recovery."""
    jdir = directory(state_dir)
    slot = _held.get(jdir)
    if slot is not None:
        return slot
    names = _names(jdir)
    for name in names:
        path = os.path.join(jdir, name)
        fd = _lock_unheld(path)
        if fd is None:
            continue
        if os.pread(fd, 1, 0) in (b"\0", b"") and _still_linked(path, fd):
            slot = Slot(fd, path)
            break
        os.close(fd)  # an unfinished journal (recovery's), or a slot removed meanwhile
    else:
        slot = _new_slot(jdir, set(names))
    if not _held:
        import atexit

        atexit.register(close_slots)
    _held[jdir] = slot
    return slot


def close_slots() -> None:
    """At exit: an empty slot goes (a journal still in one stays, for recovery)."""
    for jdir in list(_held):
        slot = _held.pop(jdir)
        try:
            if os.pread(slot.fd, 1, 0) in (b"\0", b""):
                os.unlink(slot.path)
        except OSError:
            pass
        os.close(slot.fd)


def pending(state_dir: str) -> list[tuple[str, int]]:
    """The unfinished journals of processes that are gone: (path, descriptor holding its flock), in slot order.
    Cheap when there are none (one listdir; an open and a flock per slot). Empty slots that nobody holds (their
    process was killed between plans) are removed on the way."""
    jdir = directory(state_dir)
    mine = _held.get(jdir)
    out = []
    for name in _names(jdir):
        path = os.path.join(jdir, name)
        if mine is not None and mine.path == path:
            continue
        fd = _lock_unheld(path)
        if fd is None:  # gone, or a live process's slot
            continue
        if os.pread(fd, 1, 0) in (b"\0", b""):
            if _still_linked(path, fd):
                os.unlink(path)
            os.close(fd)
            continue
        out.append((path, fd))
    return out


def any_pending(state_dir: str) -> bool:
    """Is there an unfinished journal of a process that is gone? (The flocks pending() took are let go.)"""
    found = pending(state_dir)
    for _path, fd in found:
        os.close(fd)
    return bool(found)


def release(state_dir: str) -> None:
    """Let go of this process's slot (tests, and processes that open many state dirs)."""
    slot = _held.pop(directory(state_dir), None)
    if slot is not None:
        os.close(slot.fd)


# ---- the running plan's journal -----------------------------------------------------------------------------

_pause_after = os.environ.get("CNICTL_TEST_PAUSE_AFTER")  # tests: stop after this many steps so a SIGKILL lands
_steps_done = [0]


def _pause_point() -> None:
    if _pause_after is None or int(_pause_after) != _steps_done[0]:
        return
    path = os.environ.get("CNICTL_TEST_PAUSE_FILE")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
    while True:  # the test kills us here
        time.sleep(60)


class Journal:
    """The journal of one running plan, in this process's slot."""

    __slots__ = ("durable", "slot")

    def __init__(self, slot: Slot, durable: bool) -> None:
        self.slot, self.durable = slot, durable

    @classmethod
    def begin(cls, state_dir: str, kind: str, steps: list[tuple[str, str, dict[str, Any] | None]],
              durable: bool = True) -> Journal:
        """Write the intent (header and one line per step: (name, summary, data)); returns the journal.

        *durable*: the plan's result outlives a reboot (a network record, a file in a runtime's conf dir), so
        the intent is flushed to disk before the first step and the commit after the last. Any other plan's
        journal stays in the page cache, where `kill -9`, an OOM kill or a crashed runtime cannot touch it;
        a power cut takes every effect of such a plan but its files (a reservation, a claim, a record of an
        attachment whose namespace is gone), which are then those of a dead attachment: `cnictl gc` and
        recovery treat them as such."""
        slot = take(state_dir)
        text = encode_header(kind, len(steps)) + b"".join(
            encode_step(i, name, summary, data) for i, (name, summary, data) in enumerate(steps))
        slot.write(text, 0)
        if durable:
            slot.flush()
        slot.pos = len(text)
        _pause_point()
        return cls(slot, durable)

    def done(self, i: int, out: dict[str, Any] | None = None) -> None:
        line = (json.dumps({"done": i, "out": out}) if out else f'{{"done": {i}}}').encode() + b"\n"
        slot = self.slot
        slot.write(line, slot.pos)
        slot.pos += len(line)
        _steps_done[0] += 1
        _pause_point()

    def mark(self, record: dict[str, Any]) -> None:
        """Any other line (recovery's progress)."""
        line = (json.dumps(record) + "\n").encode()
        self.slot.write(line, self.slot.pos)
        self.slot.pos += len(line)

    def abandon(self) -> None:
        """Leave the journal as it is (its undo did not complete) and let go of the slot, so that recovery (of
        this process or another) finds it."""
        for jdir, slot in list(_held.items()):
            if slot is self.slot:
                del _held[jdir]
        os.close(self.slot.fd)

    def finish(self) -> None:
        """The plan committed or was undone completely: the slot is empty again.

        Flushed only for a durable plan. Any other plan's result dies with the boot (an attachment: its
        namespace goes, and with it every link, rule and address it had), so a commit that a power cut loses
        makes the next boot's recovery undo what is dead anyway: its records, reservations and claims."""
        os.pwrite(self.slot.fd, b"\0", 0)
        if self.durable:
            os.fdatasync(self.slot.fd)
        self.slot.pos = 0


# ---- reading ------------------------------------------------------------------------------------------------

class Parsed:
    """A journal's readable part. *torn*: the text ended early or a line did not parse (then *problem* says
    where); *steps* holds the step lines that could be read, *done* the indexes marked done (and their "out")."""

    def __init__(self) -> None:
        self.header: dict[str, Any] = {}
        self.steps: list[dict[str, Any]] = []
        self.done: dict[int, dict[str, Any] | None] = {}
        self.marks: list[dict[str, Any]] = []
        self.torn = False
        self.problem = ""

    @property
    def kind(self) -> str:
        return str(self.header.get("kind", "apply"))


def parse(raw: bytes) -> Parsed:
    out = Parsed()
    end = raw.find(b"\0")
    if end < 0:
        out.torn, out.problem = True, f"it ends at byte {len(raw)} without its terminator (truncated)"
        text = raw
    else:
        text = raw[:end]
    lines = text.split(b"\n")
    if lines and lines[-1] != b"":
        if not out.torn:
            out.torn, out.problem = True, f"its last line is cut short at byte {len(text)}"
        lines = lines[:-1]
    for n, line in enumerate(lines):
        if not line:
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            out.torn = True
            out.problem = out.problem or f"line {n + 1} does not parse"
            continue
        if not isinstance(rec, dict):
            out.torn, out.problem = True, out.problem or f"line {n + 1} is not an object"
        elif n == 0 and "v" in rec:
            out.header = rec
        elif "step" in rec:
            out.steps.append(rec)
        elif "done" in rec:
            out.done[int(rec["done"])] = rec.get("out")
        else:
            out.marks.append(rec)
    if not out.header:
        out.torn, out.problem = True, out.problem or "its header is missing"
    elif len(out.steps) < int(out.header.get("steps", 0)):
        out.torn = True
        out.problem = out.problem or f"it names {len(out.steps)} of its {out.header.get('steps')} steps"
    return out


def read(fd: int) -> Parsed:
    size = os.fstat(fd).st_size
    return parse(os.pread(fd, max(size, 1), 0))
