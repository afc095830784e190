"""Kernel feature probes over raw rtnetlink: create one link of each kind, and a tbf and an htb qdisc.

Meant for a throwaway namespace (`cnictl doctor` makes one and removes it with everything in it):
`probe(sock)` creates links in whatever namespace *sock* was opened in and never deletes them.
Each request gets its own acknowledgement, so one missing kind does not hide the others. The
answer is an errno per feature: 0 means the kernel made it, EOPNOTSUPP (links) or ENOENT
(qdiscs) means the kind is not built in and no module could be loaded, None means it was not
tried (macvlan, ipvlan, vlan and the qdiscs need the veth pair as their parent).

    >>> _, _, payload, text = vlan_request("probe-vlan", 7, "probe-veth0", 10)
    >>> text
    'ip link add probe-vlan link probe-veth0 type vlan id 10'
    >>> len(payload) % 4
    0
"""

from __future__ import annotations

import _socket
import struct
from dataclasses import dataclass, field

from cnictl.netlink.rtnl import (
    IFLA_IFNAME,
    IFLA_INFO_DATA,
    IFLA_INFO_KIND,
    IFLA_LINK,
    IFLA_LINKINFO,
    NLA_F_NESTED,
    NLM_F_CREATE,
    NLM_F_ECHO,
    NLM_F_EXCL,
    RTM_NEWLINK,
    VETH_INFO_PEER,
    Batch,
    _ifinfo,
    _rta,
)

RTM_NEWQDISC = 36
TCA_KIND, TCA_OPTIONS = 1, 2
TC_H_ROOT = 0xFFFFFFFF
IFLA_MACVLAN_MODE, MACVLAN_MODE_BRIDGE = 1, 4
IFLA_IPVLAN_MODE, IPVLAN_MODE_L2 = 1, 0
IFLA_VLAN_ID = 1
IFLA_VXLAN_ID, IFLA_VXLAN_PORT = 1, 15
TCA_TBF_PARMS, TCA_TBF_BURST = 1, 6
TCA_HTB_INIT = 2
HTB_VERSION = 3  # HTB_VER >> 16 in include/uapi/linux/pkt_sched.h
TC_LINKLAYER_ETHERNET = 1

LINK_KINDS = ("veth", "bridge", "macvlan", "ipvlan", "vlan", "vxlan")
QDISC_KINDS = ("tbf", "htb")
VETH, PEER = "probe-veth0", "probe-veth1"

Request = tuple[int, int, bytes, str]  # (message type, flags, payload, equivalent command): a Batch message


def _link(name: str, kind: str, data: bytes, *, parent: int | None = None, flags: int = 0) -> bytes:
    info = _rta(IFLA_INFO_KIND, kind.encode())
    if data:
        info += _rta(IFLA_INFO_DATA | NLA_F_NESTED, data)
    payload = _ifinfo() + _rta(IFLA_IFNAME, name.encode() + b"\0")
    if parent is not None:
        payload += _rta(IFLA_LINK, struct.pack("=I", parent))
    return payload + _rta(IFLA_LINKINFO | NLA_F_NESTED, info)


def veth_request(name: str, peer: str) -> Request:
    """A veth pair with both ends here; echoed, so the answer gives both indexes."""
    peer_info = _ifinfo() + _rta(IFLA_IFNAME, peer.encode() + b"\0")
    data = _rta(VETH_INFO_PEER | NLA_F_NESTED, peer_info)
    return (RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO, _link(name, "veth", data),
            f"ip link add {name} type veth peer name {peer}")


def bridge_request(name: str) -> Request:
    return RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, _link(name, "bridge", b""), f"ip link add {name} type bridge"


def vxlan_request(name: str, vni: int, port: int = 4789) -> Request:
    data = _rta(IFLA_VXLAN_ID, struct.pack("=I", vni)) + _rta(IFLA_VXLAN_PORT, struct.pack("!H", port))
    return (RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, _link(name, "vxlan", data),
            f"ip link add {name} type vxlan id {vni} dstport {port}")


def macvlan_request(name: str, parent: int, parent_name: str) -> Request:
    data = _rta(IFLA_MACVLAN_MODE, struct.pack("=I", MACVLAN_MODE_BRIDGE))
    return (RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, _link(name, "macvlan", data, parent=parent),
            f"ip link add {name} link {parent_name} type macvlan mode bridge")


def ipvlan_request(name: str, parent: int, parent_name: str) -> Request:
    data = _rta(IFLA_IPVLAN_MODE, struct.pack("=H", IPVLAN_MODE_L2))
    return (RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, _link(name, "ipvlan", data, parent=parent),
            f"ip link add {name} link {parent_name} type ipvlan mode l2")


def vlan_request(name: str, parent: int, parent_name: str, vid: int) -> Request:
    data = _rta(IFLA_VLAN_ID, struct.pack("=H", vid))
    return (RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, _link(name, "vlan", data, parent=parent),
            f"ip link add {name} link {parent_name} type vlan id {vid}")


def _qdisc(index: int, kind: str, options: bytes, text: str) -> Request:
    tcmsg = struct.pack("=BxxxiIII", _socket.AF_UNSPEC, index, 0x10000, TC_H_ROOT, 0)  # handle 1:, parent root
    payload = tcmsg + _rta(TCA_KIND, kind.encode() + b"\0") + _rta(TCA_OPTIONS | NLA_F_NESTED, options)
    return RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, payload, text


def tbf_request(index: int, dev: str, rate: int = 125_000, burst: int = 32_000, limit: int = 10_000) -> Request:
    """`tc qdisc add dev IF root handle 1: tbf rate 1mbit burst 32000 limit 10000` (rate in bytes per second)."""
    ratespec = struct.pack("=BBHhHI", 0, TC_LINKLAYER_ETHERNET, 0, 0, 0, rate)
    buffer_ticks = (burst * 1_000_000_000 // rate) >> 6  # psched ticks are 64 ns
    qopt = ratespec + b"\0" * 12 + struct.pack("=III", limit, buffer_ticks, 0)
    options = _rta(TCA_TBF_PARMS, qopt) + _rta(TCA_TBF_BURST, struct.pack("=I", burst))
    return _qdisc(index, "tbf", options, f"tc qdisc add dev {dev} root handle 1: tbf rate {rate * 8 // 1000}kbit "
                                         f"burst {burst} limit {limit}")


def htb_request(index: int, dev: str) -> Request:
    """`tc qdisc add dev IF root handle 1: htb`."""
    glob = struct.pack("=IIIII", HTB_VERSION, 10, 0, 0, 0)  # version, rate2quantum, defcls, debug, direct_pkts
    return _qdisc(index, "htb", _rta(TCA_HTB_INIT, glob), f"tc qdisc add dev {dev} root handle 1: htb")


@dataclass
class ProbeResult:
    """errno per feature (0 = created; None = not tried), and the equivalent command of each request."""

    links: dict[str, int | None] = field(default_factory=dict)
    qdiscs: dict[str, int | None] = field(default_factory=dict)
    commands: dict[str, str] = field(default_factory=dict)


def _send(sock: _socket.socket, requests: dict[str, Request]) -> tuple[dict[str, int], Batch]:
    batch = Batch()
    batch.messages = list(requests.values())
    codes = batch.send(sock) if batch.messages else []
    return dict(zip(requests, codes, strict=True)), batch


def probe(sock: _socket.socket) -> ProbeResult:
    """Create one link of each kind in LINK_KINDS and a root tbf and htb qdisc, in *sock*'s namespace.

    Only for a namespace that is thrown away afterwards: nothing made here is deleted.
    """
    result = ProbeResult()
    first = {"veth": veth_request(VETH, PEER), "bridge": bridge_request("probe-br"),
             "vxlan": vxlan_request("probe-vx", 42)}
    codes, batch = _send(sock, first)
    result.links.update(codes)
    result.commands.update({k: r[3] for k, r in first.items()})
    ends = batch.links.get(VETH) if codes["veth"] == 0 else None
    if ends is None:
        result.links.update({"macvlan": None, "ipvlan": None, "vlan": None})
        result.qdiscs.update(dict.fromkeys(QDISC_KINDS))
        return result
    parent, peer = ends
    second = {"macvlan": macvlan_request("probe-mv", parent, VETH), "ipvlan": ipvlan_request("probe-ipvl", parent, VETH),
              "vlan": vlan_request("probe-vlan", parent, VETH, 10)}
    # each qdisc on its own device: a root qdisc replaces nothing and fails only for its own reason
    qdisc = {"tbf": tbf_request(parent, VETH),
             "htb": htb_request(peer, PEER) if peer is not None else htb_request(parent, VETH)}
    codes, _ = _send(sock, second | qdisc)
    result.links.update({k: codes[k] for k in second})
    result.qdiscs.update({k: codes[k] for k in qdisc})
    result.commands.update({k: r[3] for k, r in (second | qdisc).items()})
    return result
