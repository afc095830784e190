"""`cni emit`: the conflist a cnictl network turns into (pure; no root)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnictl.cni import emit
from cnictl.errors import ConfigError, UnsupportedFieldError
from cnictl.model import Network, SubnetSpec

IPAM_ROOT = "/var/lib/cnictl/ipam"


def bridge_net(**kw: object) -> Network:
    net = Network("lab", "bridge", "br-lab", [SubnetSpec("10.20.0.0/24", "10.20.0.1")])
    for k, v in kw.items():
        setattr(net, k, v)
    return net


def test_bridge_network_uses_reference_plugins_and_cnictls_ipam_directory() -> None:
    data = emit.conflist(bridge_net(mtu=1400), IPAM_ROOT, "reference-tuning")  # the default has no tuning (issue 9 E)
    assert data["cniVersion"] == "1.0.0" and data["name"] == "lab"
    bridge, tuning, portmap = data["plugins"]
    assert bridge["type"] == "bridge" and bridge["bridge"] == "br-lab" and bridge["isGateway"] is True
    assert bridge["ipMasq"] is False  # the network's own NAT is cnictl's (net create), not per container
    assert bridge["mtu"] == 1400
    ipam = bridge["ipam"]
    assert ipam == {"type": "host-local", "dataDir": IPAM_ROOT, "routes": [{"dst": "0.0.0.0/0"}],
                    "ranges": [[{"subnet": "10.20.0.0/24", "gateway": "10.20.0.1"}]]}
    assert tuning == {"type": "tuning", "sysctl": {"net.ipv6.conf.IFNAME.disable_ipv6": "1"}}
    assert portmap["type"] == "portmap" and portmap["capabilities"] == {"portMappings": True}


def test_dual_stack_ip_range_and_internal() -> None:
    net = Network("ds", "bridge", "br-ds", [SubnetSpec("10.30.0.0/24", "10.30.0.1", "10.30.0.128/25"),
                                            SubnetSpec("fd00:30::/64", "fd00:30::1")], internal=True)
    data = emit.conflist(net, IPAM_ROOT)
    assert [p["type"] for p in data["plugins"]] == ["bridge"]  # internal: no portmap; IPv6: no tuning
    ipam = data["plugins"][0]["ipam"]
    assert "routes" not in ipam
    assert ipam["ranges"] == [
        [{"subnet": "10.30.0.0/24", "gateway": "10.30.0.1", "rangeStart": "10.30.0.128", "rangeEnd": "10.30.0.254"}],
        [{"subnet": "fd00:30::/64", "gateway": "fd00:30::1"}],
    ]


def test_macvlan_network() -> None:
    net = Network("lan", "macvlan", "", [SubnetSpec("192.168.1.0/24", "192.168.1.1", "192.168.1.192/27")],
                  firewall="none", parent="eth0.10", mode="vepa", vlan=10, vlan_parent="eth0")
    (main, tuning) = emit.conflist(net, IPAM_ROOT, "reference-tuning")["plugins"]
    assert main["type"] == "macvlan" and main["master"] == "eth0.10" and main["mode"] == "vepa"
    assert main["ipam"]["ranges"][0][0]["rangeStart"] == "192.168.1.192"
    assert tuning["type"] == "tuning"


@pytest.mark.parametrize("field,value,words", [
    ("icc", False, ["--no-icc", "portIsolation"]),
    ("host_access", True, ["--host-access", "no reference plugin"]),
])
def test_what_no_reference_plugin_expresses_is_refused_with_the_setting_named(field: str, value: object,
                                                                              words: list[str]) -> None:
    net = bridge_net(**{field: value})
    if field == "host_access":
        net.driver, net.parent, net.mode, net.shim = "macvlan", "eth0", "bridge", "mvh-lab"
    with pytest.raises(UnsupportedFieldError) as e:
        emit.conflist(net, IPAM_ROOT)
    for w in words:
        assert w in e.value.one_line()
    assert e.value.cni_code == 2 and "--plugin cnictl" in e.value.one_line()
    # the cnictl flavour carries it all
    data = emit.conflist(net, IPAM_ROOT, "cnictl")
    assert data["plugins"] == [{"type": "cnictl", "network": "lab",
                                "capabilities": {"portMappings": True, "ips": True, "mac": True}}]


def test_unknown_flavour() -> None:
    with pytest.raises(ConfigError):
        emit.conflist(bridge_net(), IPAM_ROOT, "calico")


def test_write_is_atomic_and_readable(tmp_path: Path) -> None:
    data = emit.conflist(bridge_net(), IPAM_ROOT)
    path = emit.target(str(tmp_path) + "/", "lab")
    assert path == tmp_path / "cnictl-lab.conflist"
    emit.write(path, data)
    assert json.loads(path.read_text()) == data
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["cnictl-lab.conflist"]
    assert emit.target(str(tmp_path / "x.conflist"), "lab") == tmp_path / "x.conflist"
