"""macvlan (and ipvlan, 802.1Q) networks on a two-machine LAN built from namespaces.

    switch:  bridge br0 with ports to host 1, host 2 and the router (a "LAN switch")
    host 1:  lab.host, eth0 = 192.168.77.11/24 (the machine cnictl acts on: --netns lab.host)
    host 2:  a second "machine", eth0 = 192.168.77.12/24, with its own cnictl state directory
    router:  eth0 = 192.168.77.1/24, the LAN's gateway

Host 1 hands out 192.168.77.64/27 and host 2 192.168.77.96/27, as two docker hosts on one LAN would.
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import CNICTL, Lab, sh, unique

SUBNET, GW = "192.168.77.0/24", "192.168.77.1"
RANGE1, RANGE2 = "192.168.77.64/27", "192.168.77.96/27"


@functools.cache
def kernel_has(kind: str) -> bool:
    """Whether this kernel can create *kind* links (tried in a scratch namespace)."""
    ns = unique("k")
    sh(f"ip netns add {ns}")
    try:
        sh(f"ip -n {ns} link add p0 type veth peer name p1")
        args = {"vlan": "type vlan id 5", "ipvlan": "type ipvlan mode l2", "macvlan": "type macvlan"}[kind]
        return sh(f"ip -n {ns} link add link p0 name x0 {args}", check=False).returncode == 0
    finally:
        sh(f"ip netns del {ns}", check=False)


def reach(lab: Lab, ns: str, addr: str, tries: int = 3) -> bool:
    """A ping that may take a few tries: the first one may wait on ARP (negative checks use lab.ping once)."""
    return any(lab.ping(ns, addr) for _ in range(tries))


class Lan:
    def __init__(self, lab: Lab, tmp: Path) -> None:
        self.lab = lab
        self.switch = lab.netns("s")
        self.host2 = lab.netns("h")
        self.router = lab.netns("r")
        self.state2 = tmp / "state2"
        sh(f"ip -n {self.switch} link add br0 type bridge")
        sh(f"ip -n {self.switch} link set br0 up")
        for i, ns in enumerate((lab.host, self.host2, self.router)):
            port = f"sw{i}"
            sh(f"ip -n {self.switch} link add {port} type veth peer name eth0 netns {ns}")
            sh(f"ip -n {self.switch} link set {port} master br0 up")
            sh(f"ip -n {ns} link set eth0 up")
        sh(f"ip -n {lab.host} addr add 192.168.77.11/24 dev eth0")
        sh(f"ip -n {self.host2} addr add 192.168.77.12/24 dev eth0")
        sh(f"ip -n {self.router} addr add {GW}/24 dev eth0")

    def cli2(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = self.lab.env()
        env["CNICTL_STATE_DIR"] = str(self.state2)
        p = subprocess.run([CNICTL, "--netns", self.host2, *args], capture_output=True, text=True, env=env, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError(f"cnictl on host 2 failed ({p.returncode}): {args}\n{p.stderr}")
        return p

    def addr(self, ns: str, ifname: str = "eth0") -> str:
        data = json.loads(self.lab.ip(ns, f"-j -4 addr show {ifname}"))
        return str(data[0]["addr_info"][0]["local"])

    def link(self, ns: str, ifname: str = "eth0") -> dict[str, Any]:
        return json.loads(self.lab.ip(ns, f"-j -d link show {ifname}"))[0]  # type: ignore[no-any-return]


@pytest.fixture
def lan(lab: Lab, tmp_path: Path) -> Lan:
    return Lan(lab, tmp_path)


def create1(lab: Lab, name: str = "lan", *extra: str) -> None:
    lab.cli("net", "create", name, "--driver", "macvlan", "--parent", "eth0", "--subnet", SUBNET, "--gateway", GW,
            "--ip-range", RANGE1, *extra)


def test_containers_reach_each_other_and_the_router_across_machines(lab: Lab, lan: Lan) -> None:
    create1(lab)
    lan.cli2("net", "create", "lan", "--driver", "macvlan", "--parent", "eth0", "--subnet", SUBNET, "--gateway", GW,
             "--ip-range", RANGE2)
    c1, c2, c3 = lab.netns(), lab.netns(), lab.netns()
    lab.cli("attach", "lan", c1)
    lab.cli("attach", "lan", c3)
    lan.cli2("attach", "lan", c2)
    a1, a2, a3 = lan.addr(c1), lan.addr(c2), lan.addr(c3)
    assert a1.startswith("192.168.77.6") and a2.startswith("192.168.77.9"), (a1, a2)
    info = lan.link(c1)["linkinfo"]
    assert info["info_kind"] == "macvlan" and info["info_data"]["mode"] == "bridge"
    assert f"default via {GW} dev eth0" in lab.ip(c1, "route")
    # across "machines", to the router and back (no NAT: the router sees the container's own address)
    assert reach(lab, c1, a2) and reach(lab, c2, a1)
    assert reach(lab, c1, GW) and reach(lab, lan.router, a1) and reach(lab, lan.router, a2)
    assert reach(lab, c1, a3)  # bridge mode: children of one parent reach each other inside the host
    # the other machine reaches host 1's containers; host 1 itself cannot (kernel design)
    assert reach(lab, lan.host2, a1)
    assert not lab.ping(lab.host, a1)
    assert not lab.ping(c1, "192.168.77.11")
    # no bridge, no firewall, no forwarding change on host 1
    assert lab.exec(lab.host, "nft list ruleset").stdout.strip() == ""
    assert lab.exec(lab.host, "sysctl -n net.ipv4.conf.all.forwarding").stdout.strip() == "0"
    lab.cli("detach", "lan", c1)
    assert "eth0" not in lab.ip(c1, "-o link show")
    assert not lab.ping(c3, a1)


def test_host_access_shim_lets_the_host_reach_its_containers(lab: Lab, lan: Lan) -> None:
    before = lab.snapshot()
    create1(lab, "lan", "--host-access")
    c1, c2 = lab.netns(), lab.netns()
    lab.cli("attach", "lan", c1)
    lab.cli("attach", "lan", c2)
    net = lab.json("net", "inspect", "lan")
    shim, (shim_cidr,) = net["shim"], net["shim_addresses"]
    shim_ip = shim_cidr.split("/")[0]
    assert shim.startswith("mvh-") and shim_cidr.endswith("/32")
    a1, a2 = lan.addr(c1), lan.addr(c2)
    assert shim_ip not in (a1, a2)  # the shim's address is reserved in the network's IPAM
    owners = {a["ip"]: a["netns"] for a in lab.json("ipam", "show", "lan")["allocations"]}
    assert owners[shim_ip] == f"host ({shim})"
    routes = lab.ip(lab.host, "route")
    assert f"{a1} dev {shim}" in routes and f"{a2} dev {shim}" in routes
    assert reach(lab, lab.host, a1) and reach(lab, lab.host, a2)
    assert reach(lab, c1, shim_ip)  # and the containers reach the host
    assert reach(lab, c1, "192.168.77.11")
    assert reach(lab, c1, a2) and reach(lab, c1, GW)
    lab.cli("detach", "lan", c2)
    assert a2 not in lab.ip(lab.host, "route")
    lab.cli("net", "rm", "lan", "--force")
    assert shim not in lab.ip(lab.host, "-o link show")
    assert lab.snapshot() == before


def test_private_mode_keeps_siblings_apart_but_not_the_lan(lab: Lab, lan: Lan) -> None:
    create1(lab, "lan", "--mode", "private")
    c1, c2 = lab.netns(), lab.netns()
    lab.cli("attach", "lan", c1)
    lab.cli("attach", "lan", c2)
    assert lan.link(c1)["linkinfo"]["info_data"]["mode"] == "private"
    assert not lab.ping(c1, lan.addr(c2))
    # private also drops what the switch sends back (hairpin): siblings stay apart even then
    sh(f"ip -n {lan.switch} link set sw0 type bridge_slave hairpin on")
    assert not lab.ping(c1, lan.addr(c2))
    assert reach(lab, c1, GW) and reach(lab, lan.host2, lan.addr(c1))


def test_vepa_mode_sends_sibling_traffic_through_the_switch(lab: Lab, lan: Lan) -> None:
    create1(lab, "lan", "--mode", "vepa")
    c1, c2 = lab.netns(), lab.netns()
    lab.cli("attach", "lan", c1)
    lab.cli("attach", "lan", c2)
    a2 = lan.addr(c2)
    assert lan.link(c1)["linkinfo"]["info_data"]["mode"] == "vepa"
    assert not lab.ping(c1, a2)  # a plain switch does not send a frame back out of the port it came in on
    sh(f"ip -n {lan.switch} link set sw0 type bridge_slave hairpin on")  # a VEPA-capable (hairpin) switch
    assert reach(lab, c1, a2)
    assert reach(lab, c1, GW)


def test_passthru_gives_one_container_the_parent(lab: Lab, lan: Lan) -> None:
    create1(lab, "lan", "--mode", "passthru")
    c1, c2 = lab.netns(), lab.netns()
    lab.cli("attach", "lan", c1)
    assert reach(lab, c1, GW)
    before = lab.snapshot(extra=[c2])
    p = lab.cli("attach", "lan", c2, check=False)
    assert p.returncode == 4 and "passthru" in p.stderr and c1 in p.stderr and len(p.stderr.splitlines()) == 1
    assert lab.snapshot(extra=[c2]) == before


def test_published_ports_are_refused_with_a_reason(lab: Lab, lan: Lan) -> None:
    create1(lab)
    c1 = lab.netns()
    before = lab.snapshot(extra=[c1])
    p = lab.cli("attach", "lan", c1, "-p", "8080:80", check=False)
    assert p.returncode == 2 and "no NAT" in p.stderr and "Traceback" not in p.stderr
    assert lab.snapshot(extra=[c1]) == before


BAD_INPUTS = [
    # (what, extra setup in host 1, net create arguments, exit code, words in the message)
    ("parent missing", None, ["--parent", "eth9"], 3, ["eth9", "not found"]),
    ("parent is a bridge port", "ip link add br9 type bridge; ip link add eth8 type veth peer name p8; "
     "ip link set eth8 master br9", ["--parent", "eth8"], 4, ["port of bridge br9", "--parent br9"]),
    ("parent is a macvlan", "ip link add link eth0 name mv9 type macvlan mode bridge", ["--parent", "mv9"], 4,
     ["itself a macvlan", "--parent eth0"]),
    ("parent carries another mode", "ip link add link eth0 name mv9 type macvlan mode vepa", ["--parent", "eth0"], 4,
     ["mv9", "mode vepa"]),
    ("mtu above the parent's", None, ["--parent", "eth0", "--mtu", "9000"], 2, ["--mtu 9000", "1500"]),
    ("bad mode", None, ["--parent", "eth0", "--mode", "bridged"], 2, ['"bridged"', "vepa"]),
    ("host access in private mode", None, ["--parent", "eth0", "--mode", "private", "--host-access"], 2,
     ["--host-access", "private"]),
    ("bridge option", None, ["--parent", "eth0", "--no-icc"], 2, ["--no-icc", "bridge networks"]),
    ("bad vlan id", None, ["--parent", "eth0", "--vlan", "4095"], 2, ["4095", "1-4094"]),
    ("internal", None, ["--parent", "eth0", "--internal"], 2, ["--internal", "LAN of its parent"]),
    ("no masquerade", None, ["--parent", "eth0", "--no-masquerade"], 2, ["--no-masquerade", "no NAT"]),
]


@pytest.mark.parametrize("what,setup,args,code,words", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_preflight_refuses_bad_input_and_changes_nothing(lab: Lab, lan: Lan, what: str, setup: str | None,
                                                         args: list[str], code: int, words: list[str]) -> None:
    for cmd in (setup or "").split(";"):
        if cmd.strip():
            sh(f"ip -n {lab.host} {cmd.strip().removeprefix('ip ')}")
    before = lab.snapshot()
    p = lab.cli("net", "create", "bad", "--driver", "macvlan", "--subnet", SUBNET, "--gateway", GW, *args, check=False)
    assert p.returncode == code, (what, p.returncode, p.stderr)
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr, p.stderr
    for w in words:
        assert w in p.stderr, (what, w, p.stderr)
    assert lab.snapshot() == before, what


def test_second_network_on_a_parent_must_not_overlap_or_change_mode(lab: Lab, lan: Lan) -> None:
    create1(lab)
    before = lab.snapshot()
    p = lab.cli("net", "create", "two", "--driver", "macvlan", "--parent", "eth0", "--subnet", "192.168.77.128/25",
                check=False)
    assert p.returncode == 4 and "overlaps" in p.stderr and "same parent eth0" in p.stderr
    p = lab.cli("net", "create", "two", "--driver", "macvlan", "--parent", "eth0", "--subnet", "192.168.78.0/24",
                "--mode", "vepa", check=False)
    assert p.returncode == 4 and 'network "lan" in mode bridge' in p.stderr
    assert lab.snapshot() == before
    # the same mode and a separate subnet is fine
    lab.cli("net", "create", "two", "--driver", "macvlan", "--parent", "eth0", "--subnet", "192.168.78.0/24")


def test_detach_tolerates_a_namespace_already_gone(lab: Lab, lan: Lan) -> None:
    create1(lab, "lan", "--host-access")
    c1 = lab.netns()
    lab.cli("attach", "lan", c1)
    a1 = lan.addr(c1)
    sh(f"ip netns del {c1}")
    lab.cli("detach", "lan", c1)
    assert a1 not in lab.ip(lab.host, "route")
    assert lab.json("ipam", "show", "lan")["subnets"][0]["used"] == 1  # only the shim's address is left


def test_detach_leaves_a_foreign_interface_of_the_same_name_alone(lab: Lab, lan: Lan) -> None:
    create1(lab)
    c1 = lab.netns()
    lab.cli("attach", "lan", c1)
    # the container's macvlan is replaced by someone else's veth called eth0: not cnictl's to delete
    sh(f"ip -n {c1} link del eth0")
    sh(f"ip -n {c1} link add eth0 type veth peer name other0")
    lab.cli("detach", "lan", c1)
    assert "eth0" in lab.ip(c1, "-o link show")


# ---- 802.1Q VLAN sub-interfaces and ipvlan: run where the kernel has them, explain where it has not --------------
@pytest.mark.skipif(kernel_has("vlan"), reason="this kernel has 802.1Q VLAN: the error path cannot be shown here")
def test_vlan_missing_from_the_kernel_is_one_clear_line(lab: Lab, lan: Lan) -> None:
    for args in (["--parent", "eth0", "--vlan", "10"], ["--parent", "eth0.10"]):
        before = lab.snapshot()
        p = lab.cli("net", "create", "v10", "--driver", "macvlan", "--subnet", "10.10.0.0/24", *args, check=False)
        assert p.returncode == 6, p.stderr
        assert "CONFIG_VLAN_8021Q" in p.stderr and "modprobe 8021q" in p.stderr
        assert len(p.stderr.strip().splitlines()) == 1
        assert lab.snapshot() == before


@pytest.mark.skipif(not kernel_has("vlan"), reason="this kernel lacks 802.1Q VLAN (CONFIG_VLAN_8021Q, module 8021q)")
def test_vlan_groups_split_containers_across_machines(lab: Lab, lan: Lan) -> None:
    lab.cli("net", "create", "v10", "--driver", "macvlan", "--parent", "eth0", "--vlan", "10",
            "--subnet", "10.10.0.0/24", "--ip-range", "10.10.0.64/27")
    lan.cli2("net", "create", "v10", "--driver", "macvlan", "--parent", "eth0.10", "--subnet", "10.10.0.0/24",
             "--ip-range", "10.10.0.96/27")
    lab.cli("net", "create", "v20", "--driver", "macvlan", "--parent", "eth0", "--vlan", "20",
            "--subnet", "10.20.0.0/24", "--ip-range", "10.20.0.64/27")
    sub = json.loads(lab.ip(lab.host, "-j -d link show eth0.10"))[0]
    assert sub["linkinfo"]["info_kind"] == "vlan" and sub["linkinfo"]["info_data"]["id"] == 10
    c1, c2, c3 = lab.netns(), lab.netns(), lab.netns()
    lab.cli("attach", "v10", c1)
    lan.cli2("attach", "v10", c2)
    lab.cli("attach", "v20", c3)
    assert reach(lab, c1, lan.addr(c2))  # VLAN 10 on both machines
    assert not lab.ping(c3, lan.addr(c2).replace("10.10.", "10.20."))
    lab.cli("net", "rm", "v10", "--force")
    assert "eth0.10" not in lab.ip(lab.host, "-o link show")  # cnictl made it, so it goes with the network
    # a sub-interface that was there before stays
    sh(f"ip -n {lab.host} link add link eth0 name eth0.30 type vlan id 30")
    lab.cli("net", "create", "v30", "--driver", "macvlan", "--parent", "eth0.30", "--subnet", "10.30.0.0/24")
    lab.cli("net", "rm", "v30")
    assert "eth0.30" in lab.ip(lab.host, "-o link show")


@pytest.mark.skipif(kernel_has("ipvlan"), reason="this kernel has ipvlan: the error path cannot be shown here")
def test_ipvlan_missing_from_the_kernel_is_one_clear_line(lab: Lab, lan: Lan) -> None:
    before = lab.snapshot()
    p = lab.cli("net", "create", "iv", "--driver", "ipvlan", "--parent", "eth0", "--subnet", SUBNET, check=False)
    assert p.returncode == 6 and "CONFIG_IPVLAN" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert lab.snapshot() == before


@pytest.mark.skipif(not kernel_has("ipvlan"), reason="this kernel lacks ipvlan (CONFIG_IPVLAN)")
@pytest.mark.parametrize("mode", ["l2", "l3"])
def test_ipvlan_containers_share_the_parent_mac_and_reach_the_lan(lab: Lab, lan: Lan, mode: str) -> None:
    lab.cli("net", "create", "iv", "--driver", "ipvlan", "--mode", mode, "--parent", "eth0", "--subnet", SUBNET,
            "--gateway", GW, "--ip-range", RANGE1)
    c1, c2 = lab.netns(), lab.netns()
    lab.cli("attach", "iv", c1)
    lab.cli("attach", "iv", c2)
    parent_mac = lan.link(lab.host)["address"]
    assert lan.link(c1)["address"] == parent_mac
    assert reach(lab, c1, lan.addr(c2))
    if mode == "l2":
        assert reach(lab, c1, GW) and reach(lab, lan.router, lan.addr(c1))
    lab.cli("net", "rm", "iv", "--force")


@pytest.mark.parametrize("mode", ["fail", "sigint"])
def test_create_and_attach_with_host_access_roll_back_at_every_step(lab: Lab, lan: Lan, mode: str) -> None:
    from test_rollback import drive

    n = drive(lab, "mv-create", -1, mode)["steps"]
    assert isinstance(n, int) and n >= 5  # reserve, shim, sysctl, addresses, up, state
    before = lab.snapshot()
    for k in range(n + 1):
        r = drive(lab, "mv-create", k, mode)
        assert r["raised"] == ("KernelError" if mode == "fail" else "KeyboardInterrupt"), (k, r)
        assert lab.snapshot() == before, f"net create: state differs after a {mode} injected before step {k}"
    assert drive(lab, "mv-create", 10_000, mode)["raised"] is None
    c1, c2 = lab.netns(), lab.netns()
    lab.cli("attach", "mv", c2)  # IPAM directory and host routes already in use
    n = drive(lab, "mv-attach", -1, mode, c1)["steps"]
    assert isinstance(n, int) and n >= 5  # reserve, macvlan, sysctl, configure inside, host route, record
    before = lab.snapshot(extra=[c1])
    for k in range(n + 1):
        r = drive(lab, "mv-attach", k, mode, c1)
        assert r["raised"] == ("KernelError" if mode == "fail" else "KeyboardInterrupt"), (k, r)
        assert lab.snapshot(extra=[c1]) == before, f"attach: state differs after a {mode} injected before step {k}"
    assert drive(lab, "mv-attach", 10_000, mode, c1)["raised"] is None
    assert lab.snapshot(extra=[c1]) != before
    assert reach(lab, lab.host, lan.addr(c1))
