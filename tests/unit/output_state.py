"""A cnictl state directory for the output tests: networks, attachments, IPAM reservations and ports,
written through the store (no root, no namespace needed), with long and realistic values."""

from __future__ import annotations

from pathlib import Path

from cnictl.host import resolve_paths
from cnictl.model import Attachment, Network, SubnetSpec
from cnictl.store import Store

LONG = "longernetworkname"


def make_state(root: Path) -> Path:
    """A state directory with three networks (one dual stack, one IPv6 /64), attachments, IPAM and a port."""
    paths = resolve_paths(root, None)
    store = Store(paths)
    nets = [
        Network(name="lab", driver="bridge", bridge="br-lab", subnets=[SubnetSpec("10.20.0.0/24", "10.20.0.1")],
                created="2026-12-02T12:41:23Z"),
        Network(name=LONG, driver="bridge", bridge="br-5333b0b85931",
                subnets=[SubnetSpec("10.30.0.0/24", "10.30.0.1"), SubnetSpec("fd00:2::/64", "fd00:2::1")],
                labels={"owner": "platform-team", "purpose": "integration"}, created="2026-12-02T12:41:24Z"),
        Network(name="v6", driver="bridge", bridge="br-v6", subnets=[SubnetSpec("fd00:1::/64", "fd00:1::1")],
                created="2026-12-02T12:41:25Z"),
    ]
    for n in nets:
        store.save_network(n)
    cid = "261656a29055feccdd9609b03820eaef23b05aad9733647d0ca133001bf2c71b"
    atts = [
        Attachment(network="lab", container_id="web", netns="web", netns_key="web", ifname="eth0",
                   host_ifname="cnibe8177be226b", mac="ee:06:25:14:79:d6", addresses=["10.20.0.2/24"],
                   gateways=["10.20.0.1"], ports=[{"host_ip": None, "host_port": 8080, "container_port": 80,
                                                   "count": 1, "proto": "tcp", "spec": "8080:80/tcp"}]),
        Attachment(network="lab", container_id=cid, netns="/run/netns/netns-e021b0f5-c583-6e68-d3a8-1f09657c1921",
                   netns_key="path-0123456789ab", ifname="eth0", host_ifname="cni9ed5d4eaac98",
                   mac="ee:06:25:14:79:d7", addresses=["10.20.0.3/24"], gateways=["10.20.0.1"],
                   ports=[{"host_ip": "127.0.0.1", "host_port": 5353, "container_port": 53, "count": 10,
                           "proto": "udp", "spec": "127.0.0.1:5353-5362:53-62/udp"}]),
        Attachment(network=LONG, container_id="web", netns="web", netns_key="web", ifname="eth2",
                   host_ifname="cnicfa13b683b1d", mac="ee:06:25:14:79:d8", addresses=["10.30.0.2/24", "fd00:2::2/64"],
                   gateways=["10.30.0.1", "fd00:2::1"]),
        Attachment(network="v6", container_id="web", netns="web", netns_key="web", ifname="eth1",
                   host_ifname="cni633229b9e215", mac="ee:06:25:14:79:d9", addresses=["fd00:1::2/64"],
                   gateways=["fd00:1::1"]),
    ]
    for a in atts:
        store.save_attachment(a)
        for addr in a.addresses:
            d = paths.ipam_root / a.network
            d.mkdir(parents=True, exist_ok=True)
            (d / addr.split("/")[0]).write_text(f"{a.container_id}\r\n{a.ifname}")
    return root
