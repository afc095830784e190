"""Crash safety on the real kernel: `kill -9` of a cnictl process after every step of its plan, then recovery.

A cnictl process (the CLI, or the CNI plugin) runs with the test hook of cnictl.journal: with
CNICTL_TEST_PAUSE_AFTER=k it writes its pid into CNICTL_TEST_PAUSE_FILE after k steps of its plans have
completed (k=0: right after the first plan's journal was written) and sleeps; the test SIGKILLs it there. For
every k, until the command completes without pausing:

- a create path (net create, attach, port publish, link add, CNI ADD) is undone: after `cnictl gc` (or a CNI
  DEL/GC) the host, the container namespaces and the state directory are exactly as before the command;
- a teardown (detach, net rm, CNI DEL) is completed: the result equals an ordinary, uninterrupted teardown.

Then the ordinary commands: the next one that takes the state lock finishes a dead process's plan and says so in
one line on stderr, and a torn journal (a truncated file) is refused with exit 5 until `cnictl gc` undoes what its
readable part names. The state-only version of these guarantees is tests/unit/test_journal.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CNICTL, PLUGIN, Lab, sh

pytestmark = pytest.mark.netns

Snapshot = dict[str, str]

KILL_POINTS: dict[str, int] = {}
"""Command -> the number of kill points it was tested at (printed at the end of the module, under -s)."""

BRIDGE = ["net", "create", "rb", "--subnet", "10.61.0.0/24", "--subnet", "fd00:61::/64"]
CNI_PATH = "/usr/lib/cni"


@pytest.fixture(scope="module", autouse=True)
def _kill_point_summary() -> Iterator[None]:
    yield
    if KILL_POINTS:
        print("\nkill points per command: " + ", ".join(f"{k}: {v}" for k, v in KILL_POINTS.items()))


# ---- running a process to its pause point and killing it there ---------------------------------------------

class Run:
    """One paused run of a cnictl process: *killed* (it paused and was SIGKILLed) or it finished by itself."""

    def __init__(self, killed: bool, returncode: int, stdout: str, stderr: str) -> None:
        self.killed, self.returncode, self.stdout, self.stderr = killed, returncode, stdout, stderr


_pauses = iter(range(1_000_000))


def run_paused(lab: Lab, cmd: list[str], env: dict[str, str], k: int, stdin: bytes | None = None) -> Run:
    """Run *cmd* (environment *env*, plus the pause variables) so that it pauses after *k* steps, SIGKILL it there
    and reap it. A process that exits without pausing must have succeeded (k was past its last step)."""
    flag = lab.state.parent / f"paused-{next(_pauses)}"
    env = {**env, "CNICTL_TEST_PAUSE_AFTER": str(k), "CNICTL_TEST_PAUSE_FILE": str(flag)}
    if cmd[0] == "ip":  # `ip netns exec HOST env -i VAR=... PLUGIN`: the variables go through env -i
        at = cmd.index("-i") + 1
        cmd = [*cmd[:at], f"CNICTL_TEST_PAUSE_AFTER={k}", f"CNICTL_TEST_PAUSE_FILE={flag}", *cmd[at:]]
    out, err = lab.state.parent / "paused.out", lab.state.parent / "paused.err"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=fo, stderr=fe)
        if stdin is not None:
            assert proc.stdin is not None
            proc.stdin.write(stdin)
            proc.stdin.close()
        deadline = time.monotonic() + 60
        pid = ""
        while True:
            with contextlib.suppress(FileNotFoundError):
                pid = flag.read_text().strip()
            if pid:
                break
            if proc.poll() is not None:
                res = Run(False, proc.returncode, out.read_text(), err.read_text())
                assert res.returncode == 0, f"{cmd[-6:]} at k={k} failed ({res.returncode}): {res.stdout} {res.stderr}"
                assert not flag.exists()
                return res
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise AssertionError(f"{cmd} never paused nor finished (k={k})")
            time.sleep(0.005)
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        _wait_gone(int(pid))
    flag.unlink()
    return Run(True, proc.returncode, out.read_text(), err.read_text())


def _wait_gone(pid: int) -> None:
    """Until *pid* is dead and reaped (its flock on the journal slot is then released)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1].startswith(("Z", "X")):
                    return  # a zombie holds no files
        except (FileNotFoundError, IndexError):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} outlived its SIGKILL")


def cli_cmd(lab: Lab, *args: str) -> list[str]:
    return [CNICTL, "--netns", lab.host, *args]


def kill_cli(lab: Lab, k: int, *args: str) -> Run:
    """`cnictl --netns HOST ARGS...` paused after *k* steps and SIGKILLed."""
    return run_paused(lab, cli_cmd(lab, *args), lab.env(), k)


def gc(lab: Lab) -> subprocess.CompletedProcess[str]:
    """`cnictl gc`: finishes every unfinished journal (and must succeed)."""
    return lab.cli("gc")


def journals(lab: Lab) -> list[Path]:
    """The non-empty journal slots under the lab's state directory."""
    jdir = lab.state / "journal"
    return sorted(p for p in jdir.iterdir() if p.read_bytes()[:1] not in (b"", b"\0")) if jdir.exists() else []


def journal_header(path: Path) -> dict[str, Any]:
    return json.loads(path.read_bytes().split(b"\n", 1)[0])


def diff(a: Snapshot, b: Snapshot) -> str:
    """The keys in which two snapshots differ, with both texts (for assertion messages)."""
    return "\n".join(f"[{key}]\n  expected: {a.get(key)!r}\n  got:      {b.get(key)!r}"
                     for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key))


def sweep(name: str, kill: Callable[[int], Run], after_kill: Callable[[int, Run], None],
          completed: Callable[[Run], None] | None = None, limit: int = 60) -> int:
    """For k = 0, 1, ...: *kill* at k, then *after_kill* checks the recovery; ends when the command completes
    unpaused (then *completed* checks that). Returns (and records) the number of kill points."""
    for k in range(limit):
        run = kill(k)
        if not run.killed:
            if completed is not None:
                completed(run)
            KILL_POINTS[name] = k
            return k
        after_kill(k, run)
    raise AssertionError(f"{name}: still pausing after {limit} steps")


def expect_undone(lab: Lab, name: str, args: list[str], before: Snapshot, extra: list[str] | None = None) -> int:
    """Kill `cnictl ARGS` after every step, `cnictl gc` each time: the snapshot must be *before* again."""

    def check(k: int, run: Run) -> None:
        assert journals(lab), f"{name}: killed after {k} step(s) but no unfinished journal was left"
        gc(lab)
        assert not journals(lab), f"{name}: gc left a journal after a kill at k={k}"
        now = lab.snapshot(extra=extra)
        assert now == before, f"{name}: killed after {k} step(s), gc did not restore the state:\n{diff(before, now)}"

    return sweep(name, lambda k: kill_cli(lab, k, *args), check)


# ---- 1, 2: net create -------------------------------------------------------------------------------------

def test_kill_bridge_net_create_at_every_step(lab: Lab) -> None:
    before = lab.snapshot()
    n = expect_undone(lab, "net create (bridge)", BRIDGE, before)
    assert n >= 7  # the intent, the bridge, 2 addresses, up, sysctls, nft, the record
    assert lab.json("net", "inspect", "rb")["name"] == "rb"  # the last, unpaused run created it
    assert lab.snapshot() != before


def host_eth0(lab: Lab) -> str:
    """A parent eth0 in the lab's host: a veth whose peer is in a namespace of its own (the "LAN")."""
    lan = lab.netns("l")
    sh(f"ip -n {lab.host} link add eth0 type veth peer name eth0 netns {lan}")
    sh(f"ip -n {lab.host} addr add 192.168.61.11/24 dev eth0")
    sh(f"ip -n {lab.host} link set eth0 up")
    sh(f"ip -n {lan} link set eth0 up")
    return lan


def test_kill_macvlan_net_create_with_host_access_at_every_step(lab: Lab) -> None:
    host_eth0(lab)
    args = ["net", "create", "mv", "--driver", "macvlan", "--parent", "eth0", "--subnet", "192.168.61.0/24",
            "--gateway", "192.168.61.1", "--ip-range", "192.168.61.64/27", "--host-access"]
    before = lab.snapshot()
    n = expect_undone(lab, "net create (macvlan --host-access)", args, before)
    assert n >= 6  # the intent, the shim, its reservation and address, routes, the record
    assert "mvh-mv" in lab.ip(lab.host, "-o link show")  # the host-access shim of the completed run
    assert lab.snapshot() != before


# ---- 3, 4: attach and port publish on an existing network ---------------------------------------------------

def bridge_with_one_attachment(lab: Lab) -> str:
    """Network rb (v4 and v6) with one attachment, so its IPAM directory exists; returns a fresh namespace."""
    other, web = lab.netns(), lab.netns()
    lab.cli(*BRIDGE)
    lab.cli("attach", "rb", other)
    return web


@pytest.mark.parametrize("how, least", [(["-p", "8080:80"], 8), (["--ip", "10.61.0.50"], 5)],
                         ids=["published-port", "fixed-ip"])
def test_kill_attach_at_every_step(lab: Lab, how: list[str], least: int) -> None:
    web = bridge_with_one_attachment(lab)
    before = lab.snapshot(extra=[web])
    n = expect_undone(lab, f"attach {' '.join(how)}", ["attach", "rb", web, *how], before, extra=[web])
    assert n >= least  # the intent, reserve, veth, sysctls, configure inside, (claims, rules), the record
    att = lab.json("net", "inspect", "rb")["attachments"]
    assert web in [a["netns"] for a in att]
    assert "10.61.0." in lab.ip(web, "-o -4 addr show dev eth0")


def test_kill_port_publish_at_every_step(lab: Lab) -> None:
    web = bridge_with_one_attachment(lab)
    lab.cli("attach", "rb", web)
    before = lab.snapshot(extra=[web])
    n = expect_undone(lab, "port publish", ["port", "publish", "rb", web, "9090:90"], before, extra=[web])
    assert n >= 5  # the intent, claims, route_localnet, rules, the record
    assert "9090" in lab.cli("port", "ls").stdout


# ---- 5, 6: detach and net rm are completed ------------------------------------------------------------------

def expect_completed(lab: Lab, name: str, setup: Callable[[], None], args: list[str],
                     extra: list[str] | None = None) -> int:
    """*setup* makes the thing `cnictl ARGS` tears down (identically every time); the fully removed state is
    what an unpaused teardown leaves. Kill the teardown after every step, `cnictl gc`: the same state."""
    setup()
    lab.cli(*args)
    removed = lab.snapshot(extra=extra)

    def kill(k: int) -> Run:
        setup()
        return kill_cli(lab, k, *args)

    def check(k: int, run: Run) -> None:
        assert journals(lab), f"{name}: killed after {k} step(s) but no unfinished journal was left"
        gc(lab)
        assert not journals(lab), f"{name}: gc left a journal after a kill at k={k}"
        now = lab.snapshot(extra=extra)
        assert now == removed, f"{name}: killed after {k} step(s), gc did not complete it:\n{diff(removed, now)}"

    def done(run: Run) -> None:
        now = lab.snapshot(extra=extra)
        assert now == removed, f"{name}: the unpaused run differs from the first one:\n{diff(removed, now)}"

    return sweep(name, kill, check, done)


def test_kill_detach_of_a_published_port_at_every_step(lab: Lab) -> None:
    other, web = lab.netns(), lab.netns()
    lab.cli("net", "create", "td", "--subnet", "10.63.0.0/24")
    lab.cli("attach", "td", other)
    attached: list[Snapshot] = []

    def setup() -> None:  # a fixed address and MAC: every round makes the same attachment (and IPAM state)
        lab.cli("attach", "td", web, "--ip", "10.63.0.50", "--mac", "02:00:00:00:63:50", "-p", "8080:80")
        if not attached:
            attached.append(lab.snapshot(extra=[web]))

    n = expect_completed(lab, "detach (published port)", setup, ["detach", "td", web], extra=[web])
    assert n >= 5  # the intent, unpublish (rules, claims), the veth, the addresses, the record
    assert lab.snapshot(extra=[web]) != attached[0]
    assert [a["netns"] for a in lab.json("net", "inspect", "td")["attachments"]] == [other]


@pytest.mark.parametrize("force", [False, True], ids=["empty", "force-with-attachment"])
def test_kill_net_rm_at_every_step(lab: Lab, force: bool) -> None:
    web = lab.netns()

    def setup() -> None:
        lab.cli("net", "create", "rm1", "--subnet", "10.64.0.0/24", "--subnet", "fd00:64::/64")
        if force:
            lab.cli("attach", "rm1", web, "-p", "8081:81")

    args = ["net", "rm", "rm1", *(["--force"] if force else [])]
    n = expect_completed(lab, "net rm --force (1 attachment)" if force else "net rm (empty)", setup, args, extra=[web])
    assert n >= (10 if force else 5)
    assert lab.json("net", "ls") == []


# ---- 7: link add --------------------------------------------------------------------------------------------

def test_kill_link_add_at_every_step(lab: Lab) -> None:
    a, b = lab.netns(), lab.netns()
    before = lab.snapshot(extra=[a, b])
    args = ["link", "add", f"{a}:eth1", f"{b}:eth1", "--address1", "10.62.0.1/30", "--address2", "10.62.0.2/30"]
    n = expect_undone(lab, "link add", args, before, extra=[a, b])
    assert n >= 3  # the pair, the record, and the intent (the ends configured go with the pair: no mark)
    assert lab.ping(a, "10.62.0.2")


# ---- 8: the CNI plugin --------------------------------------------------------------------------------------

def cni_conf(lab: Lab) -> dict[str, Any]:
    return {"cniVersion": "1.1.0", "name": "pnet", "type": "cnictl", "stateDir": str(lab.state),
            "subnet": "10.65.0.0/24",
            "runtimeConfig": {"portMappings": [{"hostPort": 8082, "containerPort": 80, "protocol": "tcp"}],
                              "ips": ["10.65.0.50"]}}


def cni_cmd(lab: Lab, command: str, cid: str = "c1", netns: str = "") -> list[str]:
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": f"/run/netns/{netns}" if netns else "",
           "CNI_IFNAME": "eth0" if cid else "", "CNI_ARGS": "IgnoreUnknown=1", "CNI_PATH": CNI_PATH,
           "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    return ["ip", "netns", "exec", lab.host, "env", "-i", *[f"{k}={v}" for k, v in env.items()], PLUGIN]


def cni(lab: Lab, command: str, conf: dict[str, Any], cid: str = "c1", netns: str = "") -> subprocess.CompletedProcess[str]:
    p = subprocess.run(cni_cmd(lab, command, cid, netns), input=json.dumps(conf), capture_output=True, text=True,
                       timeout=60)
    assert "Traceback" not in p.stderr, p.stderr
    return p


def cni_ok(lab: Lab, command: str, conf: dict[str, Any], cid: str = "c1", netns: str = "") -> str:
    p = cni(lab, command, conf, cid, netns)
    assert p.returncode == 0, f"CNI {command} failed ({p.returncode}): {p.stdout} {p.stderr}"
    return p.stdout


def check_cni_recovered(lab: Lab, what: str, k: int, expected: Snapshot, extra: list[str]) -> None:
    """After the CNI command that should have finished the killed one: no journal is left and the state is
    *expected* (a DEL that finds nothing to do still takes the state lock, and so finishes the dead plan)."""
    assert not journals(lab), f"{what}: the killed process's journal is still there after a kill at k={k}"
    now = lab.snapshot(extra=extra)
    assert now == expected, f"{what} killed after {k} step(s):\n{diff(expected, now)}"


def test_kill_cni_add_at_every_step_then_del_or_gc(lab: Lab) -> None:
    c0, c = lab.netns(), lab.netns()
    conf = cni_conf(lab)
    cni_ok(lab, "ADD", conf, "c0", c0)  # the plugin creates the network (its own plan)...
    cni_ok(lab, "DEL", conf, "c0", c0)  # ...which stays: the ADD below is one plan
    before = lab.snapshot(extra=[c])
    gc_at: list[int] = []

    def kill(k: int) -> Run:
        return run_paused(lab, cni_cmd(lab, "ADD", "c1", c), dict(os.environ), k, json.dumps(conf).encode())

    def check(k: int, run: Run) -> None:
        assert journals(lab), f"CNI ADD: killed after {k} step(s) but no unfinished journal was left"
        if k in (1, 4):  # a runtime's GC (no attachment is valid) also undoes it
            gc_at.append(k)
            p = cni(lab, "GC", {**conf, "cni.dev/valid-attachments": []}, cid="")
            assert p.returncode == 0, f"CNI GC after a kill at k={k}: {p.stdout} {p.stderr}"
            now = lab.snapshot(extra=[c])
            assert now == before, f"CNI ADD killed after {k} step(s), GC did not undo it:\n{diff(before, now)}"
        cni_ok(lab, "DEL", conf, "c1", c)  # what a runtime does about an ADD that never answered
        check_cni_recovered(lab, "CNI ADD (then DEL)", k, before, [c])

    def done(run: Run) -> None:
        assert json.loads(run.stdout)["ips"][0]["address"] == "10.65.0.50/24"

    n = sweep("CNI ADD", kill, check, done)
    assert n >= 10 and gc_at == [1, 4]
    assert "10.65.0.50/24" in lab.ip(c, "-o addr show dev eth0")


def test_kill_cni_del_at_every_step_then_del_again(lab: Lab) -> None:
    c = lab.netns()
    conf = cni_conf(lab)
    cni_ok(lab, "ADD", conf, "c1", c)
    cni_ok(lab, "DEL", conf, "c1", c)
    removed = lab.snapshot(extra=[c])

    def kill(k: int) -> Run:
        cni_ok(lab, "ADD", conf, "c1", c)  # the same address and port every time: the same removed state
        return run_paused(lab, cni_cmd(lab, "DEL", "c1", c), dict(os.environ), k, json.dumps(conf).encode())

    def check(k: int, run: Run) -> None:
        assert journals(lab), f"CNI DEL: killed after {k} step(s) but no unfinished journal was left"
        cni_ok(lab, "DEL", conf, "c1", c)
        check_cni_recovered(lab, "CNI DEL (then DEL)", k, removed, [c])

    def done(run: Run) -> None:
        assert lab.snapshot(extra=[c]) == removed

    n = sweep("CNI DEL", kill, check, done)
    assert n >= 5


# ---- 9, 10: the next ordinary command finishes the job ------------------------------------------------------

def recovery_lines(stderr: str, verb: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith(f"cnictl: {verb} the interrupted")]


def test_the_next_attach_undoes_a_killed_attach(lab: Lab) -> None:
    web = bridge_with_one_attachment(lab)
    k = 3
    run = kill_cli(lab, k, "attach", "rb", web, "-p", "8080:80")
    assert run.killed
    (slot,) = journals(lab)
    head = journal_header(slot)
    assert 0 < k < head["steps"] and head["kind"] == "apply", head  # killed in the middle
    p = lab.cli("attach", "rb", web, "-p", "8080:80")
    lines = recovery_lines(p.stderr, "undone")
    assert len(lines) == 1, p.stderr
    assert f"attach rb {web} -p 8080:80" in lines[0] and f"(pid {head['pid']}," in lines[0], lines
    assert "step(s) rolled back" in lines[0]
    assert not journals(lab)
    # the attachment is the one an ordinary attach makes
    att = [a for a in lab.json("net", "inspect", "rb")["attachments"] if a["netns"] == web]
    assert len(att) == 1, att
    assert [x["netns"] for x in lab.json("port", "ls") if "8080" in json.dumps(x)] == [web]
    addr = att[0]["addresses"][0].split("/")[0]
    assert addr in lab.ip(web, "-o -4 addr show dev eth0")
    assert lab.ping(web, "10.61.0.1")
    shown = lab.json("ipam", "show", "rb")
    assert sorted(x["netns"] for x in shown["allocations"] if "." in x["ip"]).count(web) == 1


def test_the_next_command_completes_a_killed_detach(lab: Lab) -> None:
    web = bridge_with_one_attachment(lab)
    late = lab.netns()
    lab.cli("attach", "rb", web, "-p", "8080:80")
    k = 2
    run = kill_cli(lab, k, "detach", "rb", web)
    assert run.killed
    (slot,) = journals(lab)
    head = journal_header(slot)
    assert 0 < k < head["steps"] and head["kind"] == "teardown", head
    p = lab.cli("attach", "rb", late)
    lines = recovery_lines(p.stderr, "completed")
    assert len(lines) == 1, p.stderr
    assert f"detach rb {web}" in lines[0] and "remaining step(s)" in lines[0], lines
    assert not journals(lab)
    atts = sorted(a["netns"] for a in lab.json("net", "inspect", "rb")["attachments"])
    assert web not in atts and late in atts
    assert "eth0" not in lab.ip(web, "-o link show")
    assert lab.json("port", "ls") == []
    assert web not in json.dumps(lab.json("ipam", "show", "rb"))


# ---- 11: a torn journal -------------------------------------------------------------------------------------

def test_a_torn_journal_is_refused_then_undone_by_gc(lab: Lab) -> None:
    web = bridge_with_one_attachment(lab)
    late = lab.netns()
    before = lab.snapshot(extra=[web, late])
    k = 3
    assert kill_cli(lab, k, "attach", "rb", web, "-p", "8080:80").killed
    (slot,) = journals(lab)
    raw = slot.read_bytes()
    text = raw[:raw.index(b"\0")]
    last = text.rstrip(b"\n").rfind(b"\n") + 1  # where the last line starts
    cut = last + (len(text) - last) // 2
    slot.write_bytes(text[:cut])  # truncated in the middle of its last line, no terminator
    torn = lab.snapshot(extra=[web, late])
    assert torn != before
    p = lab.cli("attach", "rb", late, check=False)
    assert p.returncode == 5, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "is torn" in lines[0] and "gc" in lines[0], p.stderr
    now = lab.snapshot(extra=[web, late])
    assert now == torn, f"a refused command changed something:\n{diff(torn, now)}"
    g = gc(lab)
    assert g.returncode == 0
    now = lab.snapshot(extra=[web, late])
    assert now == before, f"gc did not undo the torn journal's attach:\n{diff(before, now)}"
    assert not journals(lab)


# ---- recovery before planning: each use case finishes dead plans before it reads the records ----

def steps_of(lab: Lab, *args: str) -> int:
    """How many steps the plan of `cnictl ARGS` has (from its journal header: killed at k=0, then gc)."""
    assert kill_cli(lab, 0, *args).killed
    (slot,) = journals(lab)
    n = int(journal_header(slot)["steps"])
    gc(lab)
    return n


def test_the_same_attach_with_a_fixed_ip_recovers_a_killed_one(lab: Lab) -> None:
    web = bridge_with_one_attachment(lab)
    assert kill_cli(lab, 1, "attach", "rb", web, "--ip", "10.61.0.50").killed  # the address is reserved
    p = lab.cli("attach", "rb", web, "--ip", "10.61.0.50", check=False)
    assert p.returncode == 0, p.stderr
    assert len(recovery_lines(p.stderr, "undone")) == 1, p.stderr
    assert "10.61.0.50/24" in lab.ip(web, "-o -4 addr show dev eth0")


def test_the_same_attach_after_a_kill_after_the_last_step_keeps_the_attachment(lab: Lab) -> None:
    web = bridge_with_one_attachment(lab)
    other = lab.json("net", "inspect", "rb")["attachments"][0]["netns"]
    n = steps_of(lab, "attach", "rb", web)  # an upper bound: steps with nothing to undo get no done mark
    while not kill_cli(lab, n, "attach", "rb", web).killed:  # every step done, not committed
        lab.cli("detach", "rb", web)  # (it ran to the end: past the last mark)
        n -= 1
        assert n > 0
    p = lab.cli("attach", "rb", web)
    assert p.returncode == 0
    lab.cli("port", "publish", "rb", other, "7070:70")  # any command that takes the state lock
    assert web in [a["netns"] for a in lab.json("net", "inspect", "rb")["attachments"]], \
        "the attachment that `attach` said exists was undone by a later command"
    assert "eth0" in lab.ip(web, "-o link show")


@pytest.mark.parametrize("killed", ["ADD-at-0", "DEL-at-end"])
def test_a_del_that_finds_nothing_to_do_still_finishes_the_killed_plan(lab: Lab, killed: str) -> None:
    c = lab.netns()
    conf = cni_conf(lab)
    cni_ok(lab, "ADD", conf, "c0", c)
    cni_ok(lab, "DEL", conf, "c0", c)
    if killed == "ADD-at-0":
        k = 0
        cmd = "ADD"
    else:
        cni_ok(lab, "ADD", conf, "c1", c)
        k = 5  # a DEL with a published port has 5 steps: killed after the last one, before it committed
        cmd = "DEL"
    assert run_paused(lab, cni_cmd(lab, cmd, "c1", c), dict(os.environ), k, json.dumps(conf).encode()).killed
    cni_ok(lab, "DEL", conf, "c1", c)
    assert not journals(lab), "the DEL exited 0 and left the killed plan's journal unfinished"


def test_a_publish_after_a_killed_publish_does_not_record_the_undone_port(lab: Lab) -> None:
    web = bridge_with_one_attachment(lab)
    lab.cli("attach", "rb", web)
    n = steps_of(lab, "port", "publish", "rb", web, "9090:90")
    assert kill_cli(lab, n, "port", "publish", "rb", web, "9090:90").killed  # every step done, not committed
    p = lab.cli("port", "publish", "rb", web, "9091:91")
    assert len(recovery_lines(p.stderr, "undone")) == 1, p.stderr
    assert "9090" not in lab.exec(lab.host, "nft list ruleset").stdout  # recovery unpublished it...
    rows = lab.json("port", "ls")
    assert [x for x in rows if "9090" in json.dumps(x)] == [], f"port ls: {rows}"  # ...but the record names it
