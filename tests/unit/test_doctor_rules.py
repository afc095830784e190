"""cnictl doctor's rules, without a kernel: statuses from probe results, leftovers from listings, hints."""

from __future__ import annotations

import errno
import struct
from pathlib import Path

from cnictl import doctor as d
from cnictl.firewall.iptables import leftover_iptables
from cnictl.firewall.nftables.leftovers import leftover_nft, nft_bridges
from cnictl.host import Host
from cnictl.model import Attachment, Network, SubnetSpec
from cnictl.netlink.probe import RTM_NEWQDISC, ProbeResult, htb_request, tbf_request, vlan_request


def net(name: str, *, firewall: str = "nftables", internal: bool = False, v6: bool = False, icc: bool = True,
        bridge: str | None = None) -> Network:
    subnet = SubnetSpec("fd00:1::/64", "fd00:1::1") if v6 else SubnetSpec("10.20.0.0/24", "10.20.0.1")
    return Network(name=name, driver="bridge", bridge=bridge or f"br-{name}", subnets=[subnet], internal=internal,
                   firewall=firewall, icc=icc)


def att(network: str, netns: str, host_ifname: str, ifname: str = "eth0", cid: str | None = None) -> Attachment:
    return Attachment(network=network, container_id=cid or netns, netns=netns, netns_key=netns, ifname=ifname,
                      host_ifname=host_ifname, mac="02:00:00:00:00:01", addresses=[], gateways=[])


def by_name(checks: list[d.Check]) -> dict[str, d.Check]:
    return {c.check: c for c in checks}


# ---- the exit rule ---------------------------------------------------------------------
def test_only_fail_makes_doctor_unhealthy() -> None:
    assert d.healthy([d.Check("a", d.OK, "x"), d.Check("b", d.MISSING, "x"), d.Check("c", d.WARN, "x")])
    assert not d.healthy([d.Check("a", d.OK, "x"), d.Check("b", d.FAIL, "x")])
    assert d.summary([d.Check("a", d.FAIL, "x"), d.Check("b", d.WARN, "x")]) == \
        "2 checks: 0 ok, 1 warn, 1 fail; 1 problem(s): see the hints"
    assert list(d.Check("a", d.OK, "x").to_dict()) == ["check", "status", "detail", "hint"]


# ---- kernel features -------------------------------------------------------------------
def test_missing_optional_kinds_name_the_kernel_option() -> None:
    r = ProbeResult(links={"veth": 0, "bridge": 0, "macvlan": 0, "vxlan": 0, "ipvlan": errno.EOPNOTSUPP,
                           "vlan": errno.EOPNOTSUPP}, qdiscs={"tbf": 0, "htb": errno.ENOENT})
    checks = by_name(d.link_checks(r) + d.qdisc_checks(r))
    assert {k: c.status for k, c in checks.items()} == {
        "kernel.veth": "ok", "kernel.bridge": "ok", "kernel.macvlan": "ok", "kernel.ipvlan": "missing",
        "kernel.vlan": "missing", "kernel.vxlan": "ok", "kernel.qdisc.tbf": "ok", "kernel.qdisc.htb": "missing"}
    assert checks["kernel.vlan"].hint == "enable CONFIG_VLAN_8021Q (modprobe 8021q)"
    assert checks["kernel.ipvlan"].hint == "enable CONFIG_IPVLAN (modprobe ipvlan)"
    assert "ipvlan networks" in checks["kernel.ipvlan"].detail
    assert checks["kernel.qdisc.htb"].hint == "enable CONFIG_NET_SCH_HTB (modprobe sch_htb)"
    assert d.healthy(checks.values())


def test_missing_core_kinds_fail_and_untried_kinds_warn() -> None:
    r = ProbeResult(links={"veth": errno.EOPNOTSUPP, "bridge": errno.EPERM, "vxlan": 0, "macvlan": None,
                           "ipvlan": None, "vlan": None}, qdiscs={"tbf": None, "htb": None},
                    commands={"bridge": "ip link add probe-br type bridge"})
    checks = by_name(d.link_checks(r) + d.qdisc_checks(r))
    assert checks["kernel.veth"].status == "fail" and checks["kernel.veth"].hint == "enable CONFIG_VETH (modprobe veth)"
    assert checks["kernel.bridge"].status == "fail"
    assert checks["kernel.bridge"].detail == "ip link add probe-br type bridge: Operation not permitted (EPERM)"
    assert checks["kernel.macvlan"].status == "warn" and "not tried" in checks["kernel.macvlan"].detail
    assert checks["kernel.qdisc.tbf"].status == "warn"


def test_one_firewall_backend_is_enough_unless_a_network_uses_the_other() -> None:
    works = d.IptablesFacts(version="iptables v1.8.9 (nf_tables)", variants=["iptables-nft"])
    absent = d.IptablesFacts()
    c = by_name(d.firewall_checks(None, None, absent, []))
    assert c["firewall.nftables"].status == "ok" and c["firewall.iptables"].status == "missing"
    assert c["firewall.iptables"].detail == "iptables is not installed"
    c = by_name(d.firewall_checks(None, None, absent, [net("a", firewall="iptables")]))
    assert c["firewall.iptables"].status == "fail" and "used by network(s) a" in c["firewall.iptables"].detail
    c = by_name(d.firewall_checks("the nftables Python module is missing", "pip install pip-nftables", works, []))
    assert c["firewall.nftables"].status == "missing" and c["firewall.iptables"].status == "ok"
    assert c["firewall.nftables"].hint == "pip install pip-nftables (or create networks with --firewall iptables)"
    c = by_name(d.firewall_checks("broken", None, works, [net("a")]))
    assert c["firewall.nftables"].status == "fail"
    c = by_name(d.firewall_checks("broken", None, absent, []))
    assert c["firewall.nftables"].status == "fail" and c["firewall.iptables"].status == "fail"


# ---- host settings ---------------------------------------------------------------------
def test_forwarding_fails_only_when_a_network_needs_it() -> None:
    cnictl = "cnictl --netns h1"
    c = by_name(d.forwarding_checks("0", "0", [net("inner", internal=True)], cnictl))
    assert c["sysctl.ipv4_forwarding"].status == "ok" and c["sysctl.ipv6_forwarding"].status == "ok"
    c = by_name(d.forwarding_checks("0", "0", [net("lab"), net("six", v6=True)], cnictl))
    assert c["sysctl.ipv4_forwarding"].status == "fail" and c["sysctl.ipv4_forwarding"].hint == "cnictl --netns h1 forward enable"
    assert "lab" in c["sysctl.ipv4_forwarding"].detail and "six" not in c["sysctl.ipv4_forwarding"].detail
    assert c["sysctl.ipv6_forwarding"].hint == "cnictl --netns h1 forward enable --ipv6"
    lan = Network(name="lan", driver="macvlan", bridge="", subnets=[SubnetSpec("192.168.1.0/24", "192.168.1.1")],
                  firewall="none")
    assert by_name(d.forwarding_checks("0", "0", [lan], cnictl))["sysctl.ipv4_forwarding"].status == "ok"
    c = by_name(d.forwarding_checks("1", None, [net("lab")], cnictl))
    assert c["sysctl.ipv4_forwarding"].status == "ok" and c["sysctl.ipv6_forwarding"].status == "warn"


def test_br_netfilter() -> None:
    assert d.br_netfilter_check(False, None, []).status == "ok"
    assert d.br_netfilter_check(True, "1", [net("lab")]).status == "ok"
    c = d.br_netfilter_check(True, "1", [net("lab", icc=False)])
    assert c.status == "warn" and "lab" in c.detail and c.hint


def test_fw_check_problems() -> None:
    checks = by_name(d.fw_check_checks([
        "IPv4 forwarding is off: containers cannot reach out (run: cnictl forward enable)",
        "chain lab-fwd of network lab is missing",
        "nft chain inet filter forward drops forwarded traffic by policy: cnictl networks cannot reach out unless ...",
    ], 1, "cnictl"))
    assert checks["firewall.rules"].status == "fail" and checks["firewall.rules"].hint == "cnictl fw reload"
    assert checks["firewall.rules"].detail == "chain lab-fwd of network lab is missing"
    assert checks["firewall.foreign"].status == "fail" and "drops forwarded traffic" in checks["firewall.foreign"].detail
    assert [c.status for c in d.fw_check_checks([], 2, "cnictl")] == ["ok"]


# ---- leftovers -------------------------------------------------------------------------
def link(index: int, name: str, kind: str | None = "veth", master: int | None = None) -> dict[str, object]:
    return {"index": index, "ifname": name, "kind": kind, "master": master}


def test_leftover_links_are_conservative_about_bridges() -> None:
    known = d.Known([net("lab")], [att("lab", "web", "cni000000000001")])
    links = [
        link(1, "lo", None), link(2, "br-lab", "bridge"),
        link(3, "cni000000000001", master=2),             # recorded
        link(4, "cni0123456789ab", master=5),             # not recorded, port of a stray bridge
        link(5, "br-ghost", "bridge"),                    # evidence: a leftover port
        link(6, "br-0123456789ab", "bridge"),             # docker-like, no evidence: not reported
        link(7, "br-fw", "bridge"),                       # evidence: cnictl's firewall names it
        link(8, "mvh-ghost", "macvlan"), link(9, "mvh-lab", "macvlan"),
        link(10, "cniXYZ", "veth"), link(11, "eth0", "veth"),
    ]
    checks = by_name(d.leftover_links(links, known, {"br-fw", "br-lab"}, "ip -n h1"))
    assert set(checks) == {"leftover.link.cni0123456789ab", "leftover.link.br-ghost", "leftover.link.br-fw",
                           "leftover.link.mvh-ghost"}
    assert checks["leftover.link.cni0123456789ab"].hint == "ip -n h1 link del cni0123456789ab"
    assert "port of br-ghost" in checks["leftover.link.cni0123456789ab"].detail
    assert "cni0123456789ab" in checks["leftover.link.br-ghost"].detail
    assert all(c.status == "fail" for c in checks.values())


def test_shim_names_a_network_may_own() -> None:
    known = d.Known([net("averylongname")], [])
    assert known.shim_known("mvh-averylongna")  # cut short to fit IFNAMSIZ
    assert not known.shim_known("mvh-other")


def test_leftover_nft_chains_and_elements() -> None:
    table = {
        "chains": {"lab-fwd": {}, "lab-nat": {}, "ports-pre": {}, "ports-out": {}, "ports-post": {},
                   "ghost-fwd": {}, "ghost-nat": {}},
        "rules": [{"chain": "ghost-fwd", "expr": [
            {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "br-ghost"}}, {"accept": None}]}],
        "elements": ["br-lab", "br-ghost", "br-old"],
        "open": [],
    }
    checks = by_name(leftover_nft(table, d.Known([net("lab")], []), "ip netns exec h1 nft"))
    assert set(checks) == {"leftover.nft.ghost", "leftover.nft.sets"}
    assert checks["leftover.nft.ghost"].hint == (
        "ip netns exec h1 nft 'delete chain inet cnictl ghost-fwd; delete chain inet cnictl ghost-nat; "
        "delete element inet cnictl bridges { \"br-ghost\" }'")
    assert checks["leftover.nft.sets"].hint == "ip netns exec h1 nft 'delete element inet cnictl bridges { \"br-old\" }'"
    # no network uses nftables: the whole table goes
    checks = by_name(leftover_nft(table, d.Known([net("lab", firewall="iptables")], []), "nft"))
    assert list(checks) == ["leftover.nft.table"] and checks["leftover.nft.table"].hint == "nft delete table inet cnictl"
    assert leftover_nft(None, d.Known([], []), "nft") == []
    assert nft_bridges(table) == {"br-lab", "br-ghost", "br-old"}


def test_leftover_iptables() -> None:
    listings = {
        "filter": [":CNICTL-FORWARD - [0:0]", ":CNICTL-INPUT - [0:0]", "-A FORWARD -j CNICTL-FORWARD",
                   "-A CNICTL-FORWARD -i br-lab -o br-lab -j ACCEPT", "-A CNICTL-FORWARD -i br-x -o br-x -j ACCEPT"],
        "nat": [],
    }
    checks = by_name(leftover_iptables(listings, d.Known([net("lab", firewall="iptables")], []), "iptables", "cnictl"))
    assert list(checks) == ["leftover.iptables.br-x"] and checks["leftover.iptables.br-x"].hint == "cnictl fw reload"
    checks = by_name(leftover_iptables(listings, d.Known([net("lab")], []), "ip netns exec h1 iptables", "cnictl"))
    hint = checks["leftover.iptables"].hint or ""
    assert hint.split("; ") == [
        "ip netns exec h1 iptables -t filter -D FORWARD -j CNICTL-FORWARD",
        "ip netns exec h1 iptables -t filter -F CNICTL-FORWARD", "ip netns exec h1 iptables -t filter -F CNICTL-INPUT",
        "ip netns exec h1 iptables -t filter -X CNICTL-FORWARD", "ip netns exec h1 iptables -t filter -X CNICTL-INPUT",
    ]
    assert leftover_iptables({"filter": ["-A FORWARD -j DOCKER"]}, d.Known([], []), "iptables", "cnictl") == []


def reserve(root: Path, network: str, ip: str, content: bytes) -> None:
    (root / network).mkdir(parents=True, exist_ok=True)
    (root / network / ip).write_bytes(content)


def test_leftover_ipam(tmp_path: Path) -> None:
    known = d.Known([net("lab")], [att("lab", "web", "cni000000000001"), att("lab", "old", "cni000000000002")])
    reserve(tmp_path, "lab", "10.20.0.2", b"web\r\neth0")          # recorded
    reserve(tmp_path, "lab", "10.20.0.3", b"old")                  # legacy bare id of a recorded container
    reserve(tmp_path, "lab", "10.20.0.4", b"gone\r\neth0")         # no record
    reserve(tmp_path, "lab", "10.20.0.5", b"cnictl-host-access-lab\r\nmvh-lab")  # the shim's
    reserve(tmp_path, "ghost", "10.99.0.2", b"x\r\neth0")
    checks = by_name(d.leftover_ipam(tmp_path, True, known, "cnictl --state-dir /s"))
    assert set(checks) == {"leftover.ipam.lab.10.20.0.4", "leftover.ipam.ghost"}
    assert checks["leftover.ipam.lab.10.20.0.4"].hint == "cnictl --state-dir /s ipam release lab 10.20.0.4"
    assert checks["leftover.ipam.ghost"].hint == f"rm -r {tmp_path / 'ghost'}"
    assert all(c.status == "fail" for c in checks.values())
    # the shared host-local root: unknown directories are not cnictl's to judge, orphans only warn
    checks = by_name(d.leftover_ipam(tmp_path, False, known, "cnictl"))
    assert set(checks) == {"leftover.ipam.lab.10.20.0.4"} and checks["leftover.ipam.lab.10.20.0.4"].status == "warn"
    assert d.leftover_ipam(tmp_path / "none", True, known, "cnictl") == []


def test_probe_namespaces_of_ended_runs() -> None:
    names = ["cnictl-doctor-100-abc123", "cnictl-doctor-200-def456", "web", "cnictl-doctor-x"]
    checks = d.leftover_probe_namespaces(names, lambda pid: pid == 200)
    assert [(c.check, c.hint) for c in checks] == [
        ("leftover.netns.cnictl-doctor-100-abc123", "ip netns del cnictl-doctor-100-abc123")]
    assert d.PROBE_RE.fullmatch(d.probe_name())


def test_host_access_owner_matches_the_macvlan_driver() -> None:
    from cnictl.drivers.macvlan import HOST_ACCESS_ID

    assert d.HOST_ACCESS_ID == HOST_ACCESS_ID


def test_hints_reach_the_same_host_and_state() -> None:
    assert d.cnictl_prefix(Host(netns="h1", state_dir="/tmp/s")) == "cnictl --netns h1 --state-dir /tmp/s"
    assert d.cnictl_prefix(Host(netns="h1", state_dir="/var/lib/cnictl/netns/h1")) == "cnictl --netns h1"
    assert d.cnictl_prefix(Host(state_dir="/var/lib/cnictl")) == "cnictl"
    assert d.probe_name().startswith("cnictl-doctor-")


# ---- probe messages --------------------------------------------------------------------
def test_qdisc_and_vlan_messages() -> None:
    kind, flags, payload, text = tbf_request(7, "veth0")
    assert kind == RTM_NEWQDISC and flags == 0x600
    assert struct.unpack_from("=BxxxiIII", payload) == (0, 7, 0x10000, 0xFFFFFFFF, 0)
    assert payload[20:28] == struct.pack("=HH", 8, 1) + b"tbf\0"  # TCA_KIND
    assert text == "tc qdisc add dev veth0 root handle 1: tbf rate 1000kbit burst 32000 limit 10000"
    _, _, payload, text = htb_request(8, "veth1")
    assert payload[-20:] == struct.pack("=IIIII", 3, 10, 0, 0, 0) and text.endswith("htb")
    _, _, payload, _ = vlan_request("v", 3, "p", 10)
    assert struct.pack("=HHH", 6, 1, 10) in payload  # IFLA_VLAN_ID
    assert struct.pack("=HHI", 8, 5, 3) in payload  # IFLA_LINK


def test_leftover_ipam_spares_reservations_with_a_cni_or_live_owner(tmp_path: Path) -> None:
    known = d.Known([net("lab")], [])
    reserve(tmp_path, "lab", "10.20.0.54", b"cnitool-1234\r\neth0")   # a CNI cache entry names it
    reserve(tmp_path, "lab", "10.20.0.55", b"podman-ctr\r\neth0")     # its address is up in a live namespace
    reserve(tmp_path, "lab", "10.20.0.56", b"other\r\neth1")          # the address is live, on another ifname
    reserve(tmp_path, "lab", "10.20.0.57", b"gone\r\neth0")           # nobody
    cached = {("cnitool-1234", "eth0"): "CNI cache /var/lib/cni/results/lab-cnitool-1234-eth0"}
    live = {"10.20.0.55%eth0": "held on eth0 in /run/netns/netns-1", "10.20.0.55": "held on eth0 in /run/netns/netns-1",
            "10.20.0.56%eth0": "held on eth0 in /run/netns/x", "10.20.0.56": "held on eth0 in /run/netns/x"}
    checks = by_name(d.leftover_ipam(tmp_path, True, known, "cnictl", cached, live))
    assert set(checks) == {"leftover.ipam.lab.10.20.0.56", "leftover.ipam.lab.10.20.0.57", "ipam.cni"}
    assert checks["ipam.cni"].status == "ok" and checks["ipam.cni"].hint is None
    assert "10.20.0.54" in checks["ipam.cni"].detail and "10.20.0.55" in checks["ipam.cni"].detail
