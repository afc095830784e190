"""Ctrl-C at any moment of `cnictl net create` and `cnictl attach`: the exit code and the one line say what
happened. Either the change completed (exit 0, the result printed, and it stays) or nothing of it is left
(exit 130 with "interrupted; nothing was changed" or "interrupted; changes were rolled back"), and never a
traceback. SIGINT goes to the cnictl process at 20 evenly spaced moments of its run."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

import pytest
from conftest import CNICTL, Lab

MOMENTS = 20
NOTHING = "cnictl: interrupted; nothing was changed"
ROLLED_BACK = "cnictl: interrupted; changes were rolled back"


def _timed(lab: Lab, argv: list[str]) -> float:
    t0 = time.monotonic()
    lab.cli(*argv)
    return time.monotonic() - t0


def _interrupted(lab: Lab, argv: list[str], after: float) -> subprocess.CompletedProcess[str]:
    p = subprocess.Popen([CNICTL, "--netns", lab.host, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=lab.env())
    time.sleep(after)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def _sweep(lab: Lab, argv: list[str], undo: list[str], extra: list[str], present: Callable[[], bool]) -> dict[str, int]:
    """Interrupt *argv* at MOMENTS points over its normal duration; *undo* removes what a completed run made."""
    duration = _timed(lab, argv)
    lab.cli(*undo)
    before = lab.snapshot(extra)
    seen = {"completed": 0, "nothing": 0, "rolled back": 0}
    problems = []
    for i in range(MOMENTS):
        at = 1.3 * duration * i / (MOMENTS - 1)  # from the start to past the normal end (its length varies)
        r = _interrupted(lab, argv, at)
        what = f"SIGINT at {at * 1000:.0f} ms: exit {r.returncode}, stderr {r.stderr.strip()!r}"
        if "Traceback" in r.stderr or "KeyboardInterrupt" in r.stderr:
            problems.append(f"{what}: a traceback")
        if r.returncode == 0:
            seen["completed"] += 1
            if not present():
                problems.append(f"{what}: exit 0 but the change is not there")
            if not r.stdout.strip():
                problems.append(f"{what}: exit 0 without the result on stdout")
            lab.cli(*undo)
            before = lab.snapshot(extra)  # (host-local's last_reserved_ip moves on with a completed attach)
            continue
        elif r.returncode == 130:
            last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
            if last == NOTHING:
                seen["nothing"] += 1
            elif last == ROLLED_BACK:
                seen["rolled back"] += 1
            else:
                problems.append(f"{what}: exit 130 without saying what happened")
            if present():
                problems.append(f"{what}: exit 130 but the change stayed")
                lab.cli(*undo)
        elif r.returncode == -signal.SIGINT and not r.stderr:
            # killed before the interpreter had started (the shell reports 130): nothing can have changed
            seen["nothing"] += 1
            if present():
                problems.append(f"{what}: killed by SIGINT after the change was made")
                lab.cli(*undo)
        else:
            problems.append(f"{what}: neither 0 nor 130")
            if present():
                lab.cli(*undo)
        after = lab.snapshot(extra)
        if after != before:
            import difflib

            diff = [line for k in before for line in difflib.unified_diff(
                before[k].splitlines(), after.get(k, "").splitlines(), k, k, lineterm="", n=0)]
            problems.append(f"{what}: the system differs from before: " + "\n".join(diff[:20]))
            break
    assert not problems, "\n".join(problems)
    print(f"{' '.join(argv)}: {duration * 1000:.0f} ms; outcomes of {MOMENTS} interrupts: {seen}")
    return seen


def test_sigint_at_20_moments_of_net_create(lab: Lab) -> None:
    argv = ["net", "create", "ctl", "--subnet", "10.74.0.0/24"]

    def present() -> bool:
        return lab.cli("net", "inspect", "ctl", check=False).returncode == 0

    seen = _sweep(lab, argv, ["net", "rm", "ctl"], [], present)
    assert seen["nothing"] > 0 and seen["completed"] > 0, seen


def test_sigint_at_20_moments_of_attach(lab: Lab) -> None:
    lab.cli("net", "create", "cta", "--subnet", "10.74.1.0/24")
    c = lab.netns("c")
    argv = ["attach", "cta", c]

    def present() -> bool:
        return bool(lab.json("net", "inspect", "cta")["attachments"])

    seen = _sweep(lab, argv, ["detach", "cta", c], [c], present)
    assert seen["nothing"] > 0 and seen["completed"] > 0, seen


@pytest.mark.parametrize("at", [0.0, 0.01, 0.03])
def test_sigint_at_start_up_is_one_line(lab: Lab, at: float) -> None:
    r = _interrupted(lab, ["net", "ls"], at)
    if r.returncode == -signal.SIGINT:  # killed before the interpreter had started: silent, the shell says 130
        assert r.stderr == ""
        return
    assert r.returncode == 130 or (r.returncode == 0 and r.stdout), (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    if r.returncode == 130:
        assert r.stderr.strip() == NOTHING
