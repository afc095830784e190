"""`cnictl link`: a direct veth pair between two namespaces, on the real kernel: traffic, addresses, MTU, default
names, idempotency, namespaces given as paths, removal without a trace, rollback at every step, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Lab, sh

NETNS_DIR = str(Path(__file__).parent)

# Runs link_add through the library with a failure (or a real SIGINT) injected before step K; K < 0 counts steps.
DRIVER = """
import json, sys
sys.path.insert(0, {netns_dir!r})
from rollback_driver import Interrupt
from cnictl import ops
from cnictl.ops import links
from cnictl.host import Host
from cnictl.plan import FailStep
host_ns, state, k, mode, a, b = sys.argv[1:7]
k = int(k)
counted = []
def inject(plan):
    counted.append(len(plan.steps))
    plan.steps.insert(k, FailStep() if mode == "fail" else Interrupt())
raised = None
with Host(netns=host_ns, state_dir=state) as host:
    try:
        out = links.link_add(host, a + ":eth1", b + ":eth1", ops.RunOptions(dry_run=k < 0, inject=inject),
                             addresses1=["10.0.12.1/30", "fd00:12::1/64"], addresses2=["10.0.12.2/30"], mtu=9000)
        if k < 0:
            counted.append(len(out.plan.steps))
    except BaseException as e:
        raised = type(e).__name__
print(json.dumps({{"steps": counted[0] if counted else 0, "raised": raised}}))
"""


def drive(lab: Lab, k: int, mode: str, a: str, b: str) -> dict[str, object]:
    code = DRIVER.format(netns_dir=NETNS_DIR)
    p = subprocess.run([sys.executable, "-c", code, lab.host, str(lab.state), str(k), mode, a, b],
                       capture_output=True, text=True, timeout=60, env=lab.env())
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_link_carries_traffic_with_addresses_and_mtu(lab: Lab) -> None:
    a, b = lab.netns(), lab.netns()
    r = lab.json("link", "add", f"{a}:eth1", f"{b}:eth1", "--address1", "10.0.12.1/30", "--address1", "fd00:12::1/64",
                 "--address2", "10.0.12.2/30", "--address2", "fd00:12::2/64", "--mtu", "9000")
    assert (r["end1"], r["end2"]) == (f"{a}:eth1", f"{b}:eth1")
    assert r["addresses1"] == ["10.0.12.1/30", "fd00:12::1/64"] and r["mtu"] == 9000 and r["present"] is True
    for ns, addr in ((a, "10.0.12.1/30"), (b, "10.0.12.2/30")):
        link = lab.ip(ns, "-d link show eth1")
        assert "mtu 9000" in link and "veth" in link and "UP" in link
        assert addr in lab.ip(ns, "-4 addr show eth1")
    assert lab.ping(a, "10.0.12.2") and lab.ping(b, "10.0.12.1")
    assert lab.exec(a, "ping -6 -c1 -W2 fd00:12::2", check=False).returncode == 0
    # a full-size frame crosses without fragmentation (the MTU really is 9000 on both ends)
    assert lab.exec(a, "ping -c1 -W1 -M do -s 8972 10.0.12.2", check=False).returncode == 0
    # the two ends are each other's peer
    assert f"link-netns {b}" in lab.ip(a, "link show eth1")
    # the record, as link ls shows it
    rows = lab.json("link", "ls")
    assert [(x["end1"], x["end2"], x["present"]) for x in rows] == [(f"{a}:eth1", f"{b}:eth1", True)]
    assert json.loads((lab.state / "links" / f"{a}@eth1.json").read_text())["addresses2"] == ["10.0.12.2/30", "fd00:12::2/64"]


def test_default_names_and_idempotent_add(lab: Lab) -> None:
    a, b = lab.netns(), lab.netns()
    r = lab.json("link", "add", a, b)
    assert (r["ifname1"], r["ifname2"]) == ("eth1", "eth1")
    again = lab.cli("link", "add", a, b)
    assert "already exists" in again.stderr
    reversed_ = lab.cli("link", "add", f"{b}:eth1", a)  # the same link named from its other end
    assert "already exists" in reversed_.stderr
    # asking for a different MTU of the same link is a conflict, not a silent no-op
    p = lab.cli("link", "add", a, b, "--mtu", "1400", check=False)
    assert p.returncode == 4 and "remove it first" in p.stderr
    # a named second link takes the next free ethN on the other side
    r2 = lab.json("link", "add", f"{a}:eth5", b)
    assert (r2["ifname1"], r2["ifname2"]) == ("eth5", "eth2")
    assert sorted(x["end1"] for x in lab.json("link", "ls")) == [f"{a}:eth1", f"{a}:eth5"]
    assert lab.cli("-q", "link", "ls").stdout.split() == [f"{a}:eth1", f"{a}:eth5"]
    # both ends in one namespace: two distinct names
    r3 = lab.json("link", "add", a, a)
    assert (r3["ifname1"], r3["ifname2"]) == ("eth2", "eth3")
    assert "eth2@eth3" in lab.ip(a, "link show eth2")  # peers of each other, in the same namespace


def test_namespace_given_as_a_path(lab: Lab) -> None:
    a = lab.netns()
    proc = subprocess.Popen(["unshare", "-n", "sleep", "60"])
    try:
        path = f"/proc/{proc.pid}/ns/net"
        sh(f"for i in $(seq 50); do [ \"$(readlink {path})\" != \"$(readlink /proc/self/ns/net)\" ] && break; "
           "sleep 0.05; done")
        dry = lab.cli("--dry-run", "link", "add", f"{path}:p0", f"{a}:eth1").stdout
        assert f"nsenter --net={path} ip link add p0 type veth peer name eth1 netns {a}" in dry
        lab.cli("link", "add", f"{path}:p0", f"{a}:eth1", "--address1", "10.0.13.1/24", "--address2", "10.0.13.2/24")
        assert "10.0.13.1/24" in sh(f"nsenter --net={path} ip -4 addr show p0").stdout
        assert lab.ping(a, "10.0.13.1")
        lab.cli("link", "rm", f"{path}:p0")
        assert "p0" not in sh(f"nsenter --net={path} ip -o link").stdout
        assert "eth1" not in lab.ip(a, "-o link")
    finally:
        proc.kill()
        proc.wait()


def test_rm_leaves_nothing_and_tolerates_gone(lab: Lab) -> None:
    a, b = lab.netns(), lab.netns()
    before = lab.snapshot(extra=[a, b])
    lab.cli("link", "add", f"{a}:eth1", f"{b}:e1", "--address1", "10.0.12.1/30", "--address2", "10.0.12.2/30")
    assert lab.snapshot(extra=[a, b]) != before
    r = lab.json("link", "rm", f"{b}:e1")  # either end names the link
    assert r["removed"] is True and r["record"]["end1"] == f"{a}:eth1"
    assert lab.snapshot(extra=[a, b]) == before
    assert lab.json("link", "ls") == []
    gone = lab.cli("link", "rm", f"{a}:eth1")
    assert gone.returncode == 0 and "nothing to do" in gone.stderr
    # the link vanished with its namespace: rm forgets the record
    c = lab.netns()
    lab.cli("link", "add", a, c)
    sh(f"ip netns del {c}")
    assert lab.json("link", "ls")[0]["present"] is False
    stale = lab.cli("link", "rm", f"{a}:eth1")
    assert stale.returncode == 0 and "already gone" in stale.stderr
    assert lab.json("link", "ls") == []


def test_ns_rm_forgets_the_links_of_the_namespace(lab: Lab) -> None:
    a, b, c = lab.netns(), lab.netns(), lab.netns()
    lab.cli("link", "add", a, b)
    lab.cli("link", "add", b, c)
    gone = lab.track(f"{lab.host}x")
    lab.cli("ns", "add", gone, host=False)
    lab.cli("link", "add", gone, a)
    assert len(lab.json("link", "ls")) == 3
    plan = lab.cli("--dry-run", "ns", "rm", gone, host=False).stdout
    assert "# state: remove" in plan and "links" in plan
    lab.cli("ns", "rm", gone, host=False)
    left = lab.json("link", "ls")
    assert len(left) == 2 and all(gone not in (r["netns1"], r["netns2"]) for r in left)
    assert all(r["present"] for r in left)


def test_rm_refuses_a_link_cnictl_did_not_make(lab: Lab) -> None:
    a = lab.netns()
    lab.ip(a, "link add v0 type veth peer name v1")
    p = lab.cli("link", "rm", f"{a}:v0", check=False)
    assert p.returncode == 4 and len(p.stderr.strip().splitlines()) == 1 and "--force" in p.stderr
    assert "v0" in lab.ip(a, "-o link")
    lab.cli("link", "rm", f"{a}:v0", "--force")
    assert "v0" not in lab.ip(a, "-o link")


def test_name_taken_in_the_second_namespace_changes_nothing(lab: Lab) -> None:
    a, b = lab.netns(), lab.netns()
    lab.ip(b, "link add eth1 type veth peer name eth9")
    before = lab.snapshot(extra=[a, b])
    p = lab.cli("link", "add", f"{a}:eth1", f"{b}:eth1", "--address1", "10.0.12.1/30", check=False)
    assert p.returncode == 4, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and '"eth1" already exists in ' + b in lines[0]
    assert lab.snapshot(extra=[a, b]) == before


@pytest.mark.parametrize("mode", ["fail", "sigint"])
def test_rollback_at_every_step(lab: Lab, mode: str) -> None:
    a, b = lab.netns(), lab.netns()
    n = drive(lab, -1, mode, a, b)["steps"]
    assert n == 4  # the pair, each end's addresses and up, the record
    before = lab.snapshot(extra=[a, b])
    for k in range(n + 1):
        r = drive(lab, k, mode, a, b)
        assert r["raised"] == ("KernelError" if mode == "fail" else "KeyboardInterrupt"), (k, r)
        assert lab.snapshot(extra=[a, b]) == before, f"state differs after a {mode} injected before step {k}"
    lab.cli("link", "add", f"{a}:eth1", f"{b}:eth1")
    assert lab.snapshot(extra=[a, b]) != before  # so the comparison can fail


def test_dry_run_prints_ip_commands_and_changes_nothing(lab: Lab) -> None:
    a, b = lab.netns(), lab.netns()
    before = lab.snapshot(extra=[a, b])
    out = lab.cli("--dry-run", "link", "add", a, b, "--address1", "fd00::1/64", "--mtu", "1400").stdout.splitlines()
    assert out[:3] == [
        f"ip -n {a} link add eth1 mtu 1400 type veth peer name eth1 netns {b} mtu 1400",
        f"ip -n {a} addr add fd00::1/64 dev eth1 nodad",
        f"ip -n {a} link set eth1 up",
    ]
    assert out[3] == f"ip -n {b} link set eth1 up" and out[4].startswith("# state: write ")
    assert json.loads(lab.cli("--json", "--dry-run", "link", "add", a, b).stdout)["dry_run"] is True
    assert lab.snapshot(extra=[a, b]) == before


def test_bad_input_exits_2_with_one_line_and_changes_nothing(lab: Lab) -> None:
    a, b = lab.netns(), lab.netns()
    before = lab.snapshot(extra=[a, b])
    cases = [
        ([f"{a}:x", f"{a}:x"], "same namespace"),
        ([a, b, "--address1", "10.0.12.1"], "no prefix length"),
        ([a, b, "--address1", "300.1.1.1/24"], "300.1.1.1/24"),
        ([a, b, "--address2", "10.0.12.0/24"], "network or broadcast"),
        ([a, b, "--address1", "10.0.12.1/30", "--address2", "10.0.12.1/30"], "both ends"),
        ([a, b, "--mtu", "10"], "MTU"),
        ([f"{a}:", b], "no interface name"),
        ([f"{a}:averyverylongname", b], "1-15 bytes"),
        ([a, "bad name!"], "invalid namespace name"),
    ]
    for args, words in cases:
        p = lab.cli("link", "add", *args, check=False)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 2 and len(lines) == 1 and words in lines[0], (args, p.returncode, p.stderr)
    p = lab.cli("link", "rm", a, check=False)
    assert p.returncode == 2 and "names no interface" in p.stderr
    missing = lab.cli("link", "add", a, "nosuchns0", check=False)
    assert missing.returncode == 3 and "not found" in missing.stderr
    assert lab.snapshot(extra=[a, b]) == before
