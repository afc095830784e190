"""Records on disk keep loading: network and attachment records written by release 0.1 (tests/data/records/,
see its README) load into the typed Network (common fields + the driver's options) and are written back
in the same flat layout, so 0.1 reads them too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cnictl.drivers.bridge import BridgeOptions
from cnictl.drivers.macvlan import MacvlanOptions
from cnictl.model import Attachment, Network, NetworkRequest, SubnetSpec
from cnictl.store import Store

RECORDS = Path(__file__).resolve().parents[1] / "data" / "records"


def record(name: str) -> dict[str, Any]:
    data = json.loads((RECORDS / f"{name}.json").read_text())
    assert isinstance(data, dict)
    return data


def test_bridge_record() -> None:
    net = Network.from_dict(record("network-lab"))
    assert (net.name, net.driver, net.mtu, net.internal, net.firewall) == ("lab", "bridge", 1400, False, "nftables")
    assert net.labels == {"env": "lab"} and net.created == "2026-12-02T15:29:42Z" and net.cni_conf_dir is None
    assert net.subnets == [SubnetSpec("10.20.0.0/24", "10.20.0.1"), SubnetSpec("fd00:20::/64", "fd00:20::1")]
    assert net.has_ipv4 and net.has_ipv6
    assert net.options == BridgeOptions(bridge="br-lab", managed_bridge=True, mac="8e:1a:0b:e2:71:b9",
                                        masquerade=True, isolate=True, icc=True)


def test_bridge_record_of_an_existing_bridge() -> None:
    net = Network.from_dict(record("network-ext"))
    assert net.driver == "bridge" and net.subnets == [SubnetSpec("10.21.0.0/24", "10.21.0.1")]
    assert net.options == BridgeOptions(bridge="mybr", managed_bridge=False, mac=None, masquerade=False,
                                        isolate=False, icc=False)


def test_macvlan_record_with_host_access_and_vlan() -> None:
    net = Network.from_dict(record("network-lan"))
    assert (net.name, net.driver, net.firewall, net.internal) == ("lan", "macvlan", "none", False)
    assert net.subnets == [SubnetSpec("192.168.1.0/24", "192.168.1.1", "192.168.1.192/27")]
    assert net.options == MacvlanOptions(parent="eth0.10", mode="bridge", vlan=10, vlan_parent="eth0",
                                         managed_parent=True, host_access=True, shim="mvh-lan",
                                         shim_addresses=["192.168.1.192/32"])


def test_attachment_record() -> None:
    att = Attachment.from_dict(record("attachment-lab"))
    assert (att.network, att.container_id, att.ifname, att.host_ifname) == ("lab", "c0ffee", "eth0", "cniec7c0e1a3d9a")
    assert att.mac == "02:42:0a:14:00:02" and att.addresses == ["10.20.0.2/24", "fd00:20::2/64"]
    assert att.gateways == ["10.20.0.1", "fd00:20::1"] and att.hairpin is False
    assert att.ports == [{"host_ip": None, "host_port": 8080, "container_port": 80, "count": 1, "proto": "tcp",
                          "spec": "8080:80/tcp"}]


@pytest.mark.parametrize("name", ["network-lab", "network-ext", "network-lan", "attachment-lab"])
def test_written_back_in_the_same_flat_layout(name: str) -> None:
    data = record(name)
    kind = Network if name.startswith("network") else Attachment
    again = kind.from_dict(data).to_dict()
    assert again == data and list(again) == list(data)  # the same keys, values and order


def test_a_store_of_records_of_the_release(tmp_path: Path) -> None:
    from cnictl.host import resolve_paths

    paths = resolve_paths(tmp_path, None)
    (paths.networks).mkdir(parents=True)
    for name in ("lab", "ext", "lan"):
        (paths.networks / f"{name}.json").write_text((RECORDS / f"network-{name}.json").read_text())
    store = Store(paths)
    assert [n.name for n in store.networks()] == ["ext", "lab", "lan"]
    lan = store.get_network("lan")
    store.save_network(lan)
    assert json.loads((paths.networks / "lan.json").read_text()) == record("network-lan")


def test_a_nested_options_object_loads_too() -> None:
    flat = record("network-lan")
    common = {k: flat[k] for k in ("name", "driver", "subnets", "mtu", "internal", "labels", "created", "firewall")}
    nested = dict(common, options={k: flat[k] for k in MacvlanOptions.__record_fields__})  # type: ignore[attr-defined]
    assert Network.from_dict(nested) == Network.from_dict(flat)


def test_the_release_spelling_of_the_constructor_and_attributes() -> None:
    net = Network("lab", "bridge", "br-lab", [SubnetSpec("10.20.0.0/24", "10.20.0.1")], mtu=1400, icc=False)
    assert net.options == BridgeOptions(bridge="br-lab", icc=False) and net.mtu == 1400
    assert net.bridge == "br-lab" and net.parent is None  # a key of the other driver reads as 0.1 wrote it
    net.isolate = False
    assert net.options.isolate is False
    req = NetworkRequest(name="lan", driver="macvlan", parent="eth0", host_access=True)
    assert req.options == {"parent": "eth0", "host_access": True} and req.parent == "eth0" and req.mode is None
    assert req.option("vlan") is None and req.asked("host_access") and not req.asked("icc")
    with pytest.raises(TypeError):
        NetworkRequest(name="x", no_such_option=1)
