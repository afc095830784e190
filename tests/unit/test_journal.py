"""The plan journal (cnictl.journal) and recovery from it (cnictl.recovery), on state-only plans: no root, no kernel.

A child process applies a plan of file steps (an IPAM reservation, port claims, a network record, an attachment
record) in a temporary state directory and is SIGKILLed after step k, for every k; recovery in this process must
then leave the state directory exactly as it was before the plan. The kernel side of the same guarantee (links,
rules, namespaces) is tested on real namespaces in tests/netns/test_crash.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnictl import journal
from cnictl.errors import RollbackIncompleteError
from cnictl.host import Host
from cnictl.plan import FailStep, Plan, Step
from cnictl.recovery import recover

ROOT = Path(__file__).resolve().parents[2]

# The child: a plan of state-only steps, as attach builds them (a reservation, port claims, the record).
CHILD = r"""
import sys
from pathlib import Path
from cnictl.host import Host
from cnictl.ipam.allocator import Range
from cnictl.ipam.hostlocal import HostLocalStore
from cnictl.ipam.steps import ReserveIP, ReleaseAddresses
from cnictl.model import Attachment
from cnictl.plan import Plan
from cnictl.ports import ClaimPorts, PortClaims, PortSpec, ReleasePorts
from cnictl.store import SaveAttachment, ForgetAttachment, Store

state, kind = sys.argv[1], sys.argv[2]
host = Host(state_dir=state)
store = Store(host.paths)
ipam = HostLocalStore(host.paths.ipam_root / "lab")
claims = PortClaims(host.paths.state_dir / "ports")
spec = PortSpec.parse("8080:80")
att = Attachment.from_dict({"network": "lab", "container_id": "web", "netns": "web", "netns_key": "web",
                            "ifname": "eth0", "host_ifname": "vethx", "mac": "02:00:00:00:00:01", "addresses": [],
                            "gateways": ["10.20.0.1"], "created": "2026-01-01T00:00:00Z"})
if kind == "apply":
    reserve = ReserveIP(ipam, [Range.build("10.20.0.0/24")], "web", "eth0", [], [])
    plan = Plan([reserve, ClaimPorts(claims, [spec], "lab/web/eth0"),
                 SaveAttachment(store, att, lambda: [lease.cidr for lease in reserve.leases], [spec.to_dict()])])
    plan.apply(host)
else:
    plan = Plan([ReleasePorts(claims, [spec]), ReleaseAddresses(ipam, "web", "eth0"),
                 ForgetAttachment(store, "lab", "web_eth0", "web/eth0")])
    assert not plan.teardown(host)
"""


def snapshot(state: Path) -> dict[str, bytes]:
    """Every file under *state* but the journal slots and lock files (which stay, empty)."""
    out = {}
    for p in sorted(state.rglob("*")):
        rel = p.relative_to(state)
        if p.is_file() and rel.parts[0] != "journal" and p.name != "lock":
            out[str(rel)] = p.read_bytes()
    return out


def run_child(state: Path, kind: str, pause: int | None) -> subprocess.Popen[bytes] | int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if pause is None:
        return subprocess.run([sys.executable, "-c", CHILD, str(state), kind], env=env, check=True).returncode
    flag = state.parent / f"paused-{pause}"
    env.update(CNICTL_TEST_PAUSE_AFTER=str(pause), CNICTL_TEST_PAUSE_FILE=str(flag))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(state), kind], env=env)
    deadline = time.monotonic() + 20
    while not flag.exists():
        if proc.poll() is not None:
            assert proc.returncode == 0, f"the child failed ({proc.returncode})"
            return proc.returncode  # finished before the pause point: every step ran
        assert time.monotonic() < deadline, "the child never paused"
        time.sleep(0.01)
    flag.unlink()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc


def test_kill_after_every_step_of_an_apply_plan_then_recover(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    before = snapshot(state)
    k = 0
    while True:
        proc = run_child(state, "apply", k)
        if isinstance(proc, int):
            break
        assert journal.any_pending(str(state)), f"killed after step {k}: no unfinished journal"
        host = Host(state_dir=state)
        done = recover(host)
        assert len(done) == 1 and done[0].finished, done
        assert done[0].kind == "apply" and done[0].action == "undone"
        assert snapshot(state) == before, f"killed after step {k}: recovery left {snapshot(state)}"
        assert not journal.any_pending(str(state))
        k += 1
    assert k == 4  # the intent (k=0) and after each of the three steps
    after = snapshot(state)
    assert "attachments/lab/web_eth0.json" in after and "ipam/lab/10.20.0.2" in after


def test_kill_after_every_step_of_a_teardown_then_recover(tmp_path: Path) -> None:
    ref = tmp_path / "ref"
    ref.mkdir()
    run_child(ref, "apply", None)
    attached = snapshot(ref)
    run_child(ref, "teardown", None)
    removed = snapshot(ref)
    assert removed != attached and "attachments/lab/web_eth0.json" not in removed
    k = 0
    while True:
        state = tmp_path / f"state-{k}"
        state.mkdir()
        run_child(state, "apply", None)
        assert snapshot(state) == attached
        proc = run_child(state, "teardown", k)
        if isinstance(proc, int):
            break
        done = recover(Host(state_dir=state))
        assert len(done) == 1 and done[0].finished and done[0].action == "completed", done
        assert snapshot(state) == removed, f"killed after step {k}: the teardown was not completed"
        k += 1
    assert k == 4


def test_a_committed_plan_leaves_an_empty_slot_and_a_failed_one_too(tmp_path: Path) -> None:
    from test_plans import bridge_record

    from cnictl.model import Network
    from cnictl.store import SaveNetwork, Store

    host = Host(state_dir=tmp_path)
    store = Store(host.paths)
    net = Network.from_dict(bridge_record())
    Plan([SaveNetwork(store, net)]).apply(host)
    slots = list((tmp_path / "journal").iterdir())
    assert len(slots) == 1 and slots[0].read_bytes()[:1] == b"\0"  # kept (empty) for this process's next plan
    with pytest.raises(Exception, match="injected failure"):
        Plan([SaveNetwork(store, Network.from_dict(bridge_record(name="two"))), FailStep()]).apply(host)
    assert not store.has_network("two") and store.has_network("lab")
    assert slots[0].read_bytes()[:1] == b"\0" and not journal.any_pending(str(tmp_path))
    journal.close_slots()  # what happens at exit: the empty slot goes
    assert not list((tmp_path / "journal").iterdir())


def test_a_torn_journal_is_refused_by_ordinary_commands_and_undone_by_gc(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    before = snapshot(state)
    run_child(state, "apply", 3)  # every step done, not committed
    (slot,) = [p for p in (state / "journal").iterdir()]
    raw = slot.read_bytes()
    end = raw.index(b"\0")
    slot.write_bytes(raw[:end - 5])  # truncated inside its last line, and no terminator
    host = Host(state_dir=state)
    with pytest.raises(RollbackIncompleteError, match="is torn") as err:
        recover(host, torn_ok=False)
    assert "gc" in (err.value.hint or "")
    assert snapshot(state) != before  # refused: nothing was touched
    done = recover(host, torn_ok=True)
    assert len(done) == 1 and done[0].torn and done[0].finished
    assert snapshot(state) == before


def test_parse_says_where_a_journal_is_torn() -> None:
    head = journal.encode_header("apply", 2, "cnictl attach lab web")
    one = journal.encode_step(0, "cnictl.store:SaveNetwork", "save network lab", {"net": {}})
    two = journal.encode_step(1, "cnictl.store:SaveNetwork", "save network two", {"net": {}})
    whole = journal.parse(head + one + two + b'{"done": 0}\n\0')
    assert not whole.torn and whole.done == {0: None} and len(whole.steps) == 2
    assert journal.parse(head + one + two[:10]).torn
    cut = journal.parse(head + one)
    assert cut.torn and "truncated" in cut.problem
    short = journal.parse(head + one + b"\0")
    assert short.torn and "names 1 of its 2 steps" in short.problem
    assert journal.parse(b"\0\0\0").header == {}


def test_every_step_class_is_journaled_or_says_why_not() -> None:
    """A step with an undo (or one a teardown runs) carries what recovery needs; one that needs nothing says so
    with `journaled = False` in its own class body."""
    import importlib
    import pkgutil

    import cnictl

    for mod in pkgutil.walk_packages(cnictl.__path__, "cnictl."):
        if not mod.name.endswith("__main__"):
            importlib.import_module(mod.name)
    found: list[type[Step]] = []
    todo: list[type[Step]] = [Step]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("cnictl."):
                found.append(sub)
            todo.append(sub)
    missing = []
    for cls in found:
        if cls.journaled:
            if cls.journal is Step.journal or cls.resume.__func__ is Step.resume.__func__:  # type: ignore[attr-defined]
                missing.append(f"{cls.__module__}.{cls.__name__}")
        elif "journaled" not in vars(cls) and not any("journaled" in vars(b) for b in cls.__mro__[1:-1]
                                                       if b is not Step):
            missing.append(f"{cls.__module__}.{cls.__name__} (journaled = False inherited)")
    assert not missing, f"Step classes without journal()/resume(): {missing}"


def test_step_class_refuses_what_is_not_a_cnictl_step() -> None:
    from cnictl.recovery import step_class
    from cnictl.store import SaveNetwork

    assert step_class("cnictl.store:SaveNetwork") is SaveNetwork
    for bad in ("os:system", "cnictl.store:Store", "cnictl.store"):
        with pytest.raises((ValueError, AttributeError)):
            step_class(bad)
