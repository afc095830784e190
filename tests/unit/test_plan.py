"""Pure logic without root: plans and rollback, firewall rule generation, explain text, paths, names."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from cnictl.drivers.bridge import default_bridge_name
from cnictl.errors import KernelError, RollbackIncompleteError
from cnictl.firewall.base import NetworkFirewall
from cnictl.firewall.nftables import NftablesBackend, network_rules
from cnictl.host import Host, resolve_paths
from cnictl.model import host_ifname
from cnictl.netlink.steps import AddBridge, AddVeth, SetUp
from cnictl.netns import NetnsRef
from cnictl.plan import Plan, Step, deferred_signals


class Rec(Step):
    def __init__(self, log: list[str], name: str, fail: bool = False, undo_fails: bool = False) -> None:
        self.log, self.name, self.fail, self.undo_fails = log, name, fail, undo_fails
        self.summary = name

    def apply(self, host: Any) -> None:
        if self.fail:
            raise KernelError(f"{self.name} failed")
        self.log.append(f"do {self.name}")

    def undo(self, host: Any) -> None:
        if self.undo_fails:
            raise KernelError(f"cannot undo {self.name}")
        self.log.append(f"undo {self.name}")


def test_apply_undoes_done_steps_in_reverse_and_reraises() -> None:
    log: list[str] = []
    plan = Plan([Rec(log, "a"), Rec(log, "b"), Rec(log, "c", fail=True), Rec(log, "d")])
    with pytest.raises(KernelError, match="c failed"):
        plan.apply(None)  # type: ignore[arg-type]
    assert log == ["do a", "do b", "undo b", "undo a"]


def test_failed_undo_raises_rollback_incomplete_listing_leftovers() -> None:
    log: list[str] = []
    plan = Plan([Rec(log, "a", undo_fails=True), Rec(log, "b"), Rec(log, "c", fail=True)])
    with pytest.raises(RollbackIncompleteError) as exc:
        plan.apply(None)  # type: ignore[arg-type]
    assert "cannot undo a" in exc.value.message and exc.value.exit_code == 5
    assert log == ["do a", "do b", "undo b"]


def test_keyboard_interrupt_rolls_back() -> None:
    log: list[str] = []

    class Interrupt(Step):
        summary = "ctrl-c"

        def apply(self, host: Any) -> None:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Plan([Rec(log, "a"), Interrupt(), Rec(log, "b")]).apply(None)  # type: ignore[arg-type]
    assert log == ["do a", "undo a"]


def test_teardown_runs_every_step_and_collects_errors() -> None:
    log: list[str] = []
    errors = Plan([Rec(log, "a"), Rec(log, "b", fail=True), Rec(log, "c")]).teardown(None)  # type: ignore[arg-type]
    assert log == ["do a", "do c"]
    assert errors == ["b: b failed"]


def test_signals_are_held_while_undoing_then_delivered() -> None:
    seen: list[int] = []
    with pytest.raises(KeyboardInterrupt), deferred_signals() as pending:
        os.kill(os.getpid(), signal.SIGINT)  # held: no KeyboardInterrupt inside the block
        seen.extend(pending)
    assert seen == [signal.SIGINT]


def test_firewall_rules_text() -> None:
    fw = NetworkFirewall("lab", "br-lab", ("10.20.0.0/24", "fd00::/64"), masquerade=True, internal=False)
    fwd, nat = network_rules(fw)
    assert [r.text for r in fwd] == [
        'iifname "br-lab" oifname "br-lab" accept',
        'iifname "br-lab" oifname @bridges drop',
        'iifname "br-lab" accept',
        'oifname "br-lab" ct state established,related accept',
        'oifname "br-lab" ct status dnat accept',
        'oifname "br-lab" drop',
    ]
    assert [r.text for r in nat] == [
        "ip saddr 10.20.0.0/24 ip daddr 10.20.0.0/24 ct status dnat masquerade",
        'ip saddr 10.20.0.0/24 oifname != "br-lab" masquerade',
        'ip6 saddr fd00::/64 oifname != "br-lab" masquerade',
    ]
    internal = NetworkFirewall("priv", "br-priv", ("10.40.0.0/24",), masquerade=False, internal=True)
    ifwd, inat = network_rules(internal)
    assert inat == [] and ifwd[-1].text == 'oifname "br-priv" drop' and ifwd[-2].text == 'iifname "br-priv" drop'
    cmds, text = NftablesBackend().setup_commands(fw)
    assert cmds[0] == {"add": {"table": {"family": "inet", "name": "cnictl"}}}
    assert len([c for c in cmds if "rule" in c.get("add", {})]) == 6 + 3 + 6  # forward, nat, published-port chains
    assert text[-1] == 'add rule inet cnictl lab-nat ip6 saddr fd00::/64 oifname != "br-lab" masquerade'
    assert "add rule inet cnictl ports-post ip saddr 127.0.0.0/8 ct status dnat masquerade" in text


def test_explain_lines_with_and_without_host_namespace() -> None:
    plain, sandbox = Host(state_dir="/tmp/x"), Host(netns="h1", state_dir="/tmp/x")
    web = NetnsRef.parse("web")
    veth = AddVeth("cni0123", "eth0", web, master="br-lab", mtu=1400, peer_mac="02:00:00:00:00:01")
    assert veth.explain(plain) == [
        "ip link add cni0123 mtu 1400 master br-lab type veth peer name eth0 netns web mtu 1400 address 02:00:00:00:00:01",
        "ip link set cni0123 up",
    ]
    assert veth.explain(sandbox)[0].startswith("ip -n h1 link add cni0123")
    assert AddBridge("br-lab").explain(sandbox) == ["ip -n h1 link add br-lab type bridge"]
    assert SetUp("eth0", web).explain(sandbox) == ["ip -n web link set eth0 up"]
    path = NetnsRef.parse("/proc/42/ns/net")
    assert SetUp("eth0", path).explain(plain) == ["nsenter --net=/proc/42/ns/net ip link set eth0 up"]


def test_paths_and_names() -> None:
    assert resolve_paths(None, None).ipam_root.as_posix() == "/var/lib/cni/networks"
    assert resolve_paths("/s", "h1").ipam_root.as_posix() == "/s/ipam"
    assert resolve_paths(None, "h1").state_dir.as_posix() == "/var/lib/cnictl/netns/h1"
    assert default_bridge_name("lab") == "br-lab"
    long = default_bridge_name("a-very-long-network-name")
    assert long.startswith("br-") and len(long) == 15
    n1 = host_ifname("lab", "web", "eth0")
    assert n1 == host_ifname("lab", "web", "eth0") and n1 != host_ifname("lab", "web", "eth1") and len(n1) == 15
