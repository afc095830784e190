"""Isolation between networks (--no-isolate) and between containers of one network (--no-icc)."""

from __future__ import annotations

import pytest
from conftest import Lab


def _ip(lab: Lab, net: str, ns: str) -> str:
    return str(lab.json("attach", net, ns)["addresses"][0].split("/")[0])


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_no_isolate_networks_talk_to_each_other_only(lab: Lab, backend: str) -> None:
    lab.firewall = backend
    a, b, c, d = lab.netns(), lab.netns(), lab.netns(), lab.netns()
    lab.cli("net", "create", "early", "--subnet", "10.60.0.0/24")  # an isolated network created first
    lab.cli("net", "create", "opena", "--subnet", "10.61.0.0/24", "--no-isolate")
    lab.cli("net", "create", "openb", "--subnet", "10.62.0.0/24", "--no-isolate")
    lab.cli("net", "create", "closed", "--subnet", "10.63.0.0/24")
    ia, ib, ic, id_ = _ip(lab, "opena", a), _ip(lab, "openb", b), _ip(lab, "closed", c), _ip(lab, "early", d)
    assert lab.ping(a, ib) and lab.ping(b, ia)
    assert not lab.ping(a, ic) and not lab.ping(c, ia) and not lab.ping(c, ib)
    assert not lab.ping(a, id_) and not lab.ping(d, ia)
    assert lab.json("net", "inspect", "opena")["isolate"] is False
    assert lab.cli("fw", "check").returncode == 0
    lab.cli("fw", "reload")
    assert lab.ping(a, ib) and not lab.ping(a, ic) and not lab.ping(d, ia)
    lab.cli("net", "rm", "opena", "--force")
    if backend == "nftables":
        assert "opena" not in lab.exec(lab.host, "nft list set inet cnictl open").stdout
        assert "br-openb" in lab.exec(lab.host, "nft list set inet cnictl open").stdout
    else:
        assert "br-opena" not in lab.exec(lab.host, "iptables -S").stdout
    assert lab.cli("fw", "check").returncode == 0


@pytest.mark.parametrize("br_nf", ["1", "0"])
@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_no_icc_blocks_containers_of_one_network(lab: Lab, br_nf: str, backend: str) -> None:
    lab.firewall = backend
    lab.exec(lab.host, f"sysctl -qw net.bridge.bridge-nf-call-iptables={br_nf}")
    a, b = lab.netns(), lab.netns()
    lab.cli("net", "create", "quiet", "--subnet", "10.64.0.0/24", "--no-icc")
    ia, ib = _ip(lab, "quiet", a), _ip(lab, "quiet", b)
    assert not lab.ping(a, ib) and not lab.ping(b, ia)
    assert lab.ping(a, "10.64.0.1")  # the gateway (the host) stays reachable
    port = lab.json("net", "inspect", "quiet")["attachments"][0]["host_ifname"]
    assert "isolated on" in lab.ip(lab.host, f"-d link show {port}")
    # and the default lets them talk
    c, d = lab.netns(), lab.netns()
    lab.cli("net", "create", "chatty", "--subnet", "10.65.0.0/24")
    ic, idd = _ip(lab, "chatty", c), _ip(lab, "chatty", d)
    assert lab.ping(c, idd) and lab.ping(d, ic)
