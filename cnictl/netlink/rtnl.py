"""A minimal rtnetlink batch: several requests in one sendmsg, one acknowledgement each.

Used on the hot path of `attach` to configure the interface inside the container namespace
(address, link up, default route) in one system-call round trip, without building a full
pyroute2 socket for a namespace that is visited once. Messages follow rtnetlink(7) exactly.

    >>> b = Batch()
    >>> b.set_up(2, "ip link set eth0 up")
    >>> len(b.messages)
    1
"""

from __future__ import annotations

import _socket  # socket's names without its enum wrappers (socket imports enum: start-up time)
import _struct as struct  # what struct re-exports, one module less to load
import errno as errno_mod
import ipaddress
import os

from cnictl.errors import CnictlError, ConflictError, DependencyError, KernelError

# Link kinds cnictl creates, and the kernel option each needs.
KERNEL_OPTION = {
    "bridge": "CONFIG_BRIDGE",
    "veth": "CONFIG_VETH",
    "macvlan": "CONFIG_MACVLAN",
    "vxlan": "CONFIG_VXLAN",
    "vlan": "CONFIG_VLAN_8021Q",
    "ipvlan": "CONFIG_IPVLAN",
    "dummy": "CONFIG_DUMMY",
}
# ... and the module that provides it, for `modprobe`.
KERNEL_MODULE = {"vlan": "8021q"}
MACVLAN_MODE = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8}
IPVLAN_MODE = {"l2": 0, "l3": 1, "l3s": 2}

NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_ECHO = 0x8
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLMSG_ERROR = 2
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
IFF_UP = 0x1
IFA_ADDRESS, IFA_LOCAL = 1, 2
IFA_F_NODAD = 0x02
RTA_DST, RTA_OIF, RTA_GATEWAY = 1, 4, 5
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 4, 5, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
IFLA_BRPORT_MODE = 4
IFLA_BRPORT_ISOLATED = 33
VETH_INFO_PEER = 1
IFLA_MACVLAN_MODE = IFLA_IPVLAN_MODE = IFLA_VLAN_ID = 1
NLA_F_NESTED = 0x8000
RT_TABLE_MAIN = 254
RTPROT_STATIC = 4
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RT_SCOPE_NOWHERE = 255
RTN_UNICAST = 1


def _rta(kind: int, data: bytes) -> bytes:
    length = 4 + len(data)
    return struct.pack("=HH", length, kind) + data + b"\0" * ((4 - length % 4) % 4)


def _ifinfo(index: int = 0, up: bool = False) -> bytes:
    flag = IFF_UP if up else 0
    return struct.pack("=BxHiII", _socket.AF_UNSPEC, 0, index, flag, flag)


def _attrs(data: bytes, off: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while off + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, off)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[off + 4 : off + length]
        off += (length + 3) & ~3
    return out


class Batch:
    """Requests to send together; `send(sock)` raises for the first one the kernel refused."""

    def __init__(self) -> None:
        self.messages: list[tuple[int, int, bytes, str]] = []  # (type, flags, payload, ip command)

    def add_addr(self, index: int, cidr: str, text: str) -> None:
        iface = ipaddress.ip_interface(cidr)
        fam = _socket.AF_INET if iface.version == 4 else _socket.AF_INET6
        flags = IFA_F_NODAD if iface.version == 6 else 0
        payload = struct.pack("=BBBBI", fam, iface.network.prefixlen, flags, 0, index)
        payload += _rta(IFA_LOCAL, iface.ip.packed) + _rta(IFA_ADDRESS, iface.ip.packed)
        self.messages.append((RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, payload, text))

    def set_up(self, index: int, text: str) -> None:
        payload = struct.pack("=BxHiII", _socket.AF_UNSPEC, 0, index, IFF_UP, IFF_UP)
        self.messages.append((RTM_NEWLINK, 0, payload, text))

    def add_default_route(self, gateway: str, oif: int, text: str) -> None:
        gw = ipaddress.ip_address(gateway)
        fam = _socket.AF_INET if gw.version == 4 else _socket.AF_INET6
        payload = struct.pack("=BBBBBBBBI", fam, 0, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE,
                              RTN_UNICAST, 0)
        payload += _rta(RTA_GATEWAY, gw.packed) + _rta(RTA_OIF, struct.pack("=I", oif))
        self.messages.append((RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, payload, text))

    def add_veth(
        self, name: str, peer: str, peer_netns_fd: int, text: str, *, master: int | None = None,
        mtu: int | None = None, peer_mac: str | None = None, up: bool = False,
    ) -> None:
        """A veth pair whose peer is born in another namespace; echoed, so the answer names the peer's index."""
        peer_attrs = _rta(IFLA_IFNAME, peer.encode() + b"\0") + _rta(IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd))
        if peer_mac:
            peer_attrs += _rta(IFLA_ADDRESS, bytes.fromhex(peer_mac.replace(":", "")))
        if mtu:
            peer_attrs += _rta(IFLA_MTU, struct.pack("=I", mtu))
        info = _rta(IFLA_INFO_KIND, b"veth") + _rta(
            IFLA_INFO_DATA | NLA_F_NESTED, _rta(VETH_INFO_PEER | NLA_F_NESTED, _ifinfo() + peer_attrs)
        )
        payload = _ifinfo(up=up) + _rta(IFLA_IFNAME, name.encode() + b"\0")
        if mtu:
            payload += _rta(IFLA_MTU, struct.pack("=I", mtu))
        if master:
            payload += _rta(IFLA_MASTER, struct.pack("=I", master))
        payload += _rta(IFLA_LINKINFO | NLA_F_NESTED, info)
        self.messages.append((RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO, payload, text))

    def add_child(
        self, name: str, kind: str, parent_index: int, text: str, *, mode: str | None = None, vlan: int | None = None,
        netns_fd: int | None = None, mac: str | None = None, mtu: int | None = None, up: bool = False,
    ) -> None:
        """A macvlan, ipvlan or vlan link on top of *parent_index*, born in the namespace *netns_fd* if given.

        The parent is looked up in the sender's namespace; the new link is registered in the target one.
        """
        if kind == "macvlan":
            data = _rta(IFLA_MACVLAN_MODE, struct.pack("=I", MACVLAN_MODE[mode or "bridge"]))
        elif kind == "ipvlan":
            data = _rta(IFLA_IPVLAN_MODE, struct.pack("=H", IPVLAN_MODE[mode or "l2"]))
        elif kind == "vlan":
            data = _rta(IFLA_VLAN_ID, struct.pack("=H", vlan or 0))
        else:
            raise ValueError(kind)
        payload = _ifinfo(up=up) + _rta(IFLA_IFNAME, name.encode() + b"\0") + _rta(IFLA_LINK, struct.pack("=I", parent_index))
        if netns_fd is not None:
            payload += _rta(IFLA_NET_NS_FD, struct.pack("=I", netns_fd))
        if mac:
            payload += _rta(IFLA_ADDRESS, bytes.fromhex(mac.replace(":", "")))
        if mtu:
            payload += _rta(IFLA_MTU, struct.pack("=I", mtu))
        info = _rta(IFLA_INFO_KIND, kind.encode()) + _rta(IFLA_INFO_DATA | NLA_F_NESTED, data)
        payload += _rta(IFLA_LINKINFO | NLA_F_NESTED, info)
        self.messages.append((RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, payload, text))

    def add_route(self, cidr: str, oif: int, text: str) -> None:
        """A directly connected route to *cidr* through the link *oif* (scope link)."""
        net = ipaddress.ip_network(cidr)
        fam = _socket.AF_INET if net.version == 4 else _socket.AF_INET6
        payload = struct.pack("=BBBBBBBBI", fam, net.prefixlen, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_LINK,
                              RTN_UNICAST, 0)
        payload += _rta(RTA_DST, net.network_address.packed) + _rta(RTA_OIF, struct.pack("=I", oif))
        self.messages.append((RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, payload, text))

    def del_route(self, cidr: str, oif: int, text: str) -> None:
        net = ipaddress.ip_network(cidr)
        fam = _socket.AF_INET if net.version == 4 else _socket.AF_INET6
        payload = struct.pack("=BBBBBBBBI", fam, net.prefixlen, 0, 0, RT_TABLE_MAIN, 0, RT_SCOPE_NOWHERE, 0, 0)
        payload += _rta(RTA_DST, net.network_address.packed) + _rta(RTA_OIF, struct.pack("=I", oif))
        self.messages.append((RTM_DELROUTE, 0, payload, text))

    def set_hairpin(self, name: str, on: bool, text: str) -> None:
        """Bridge port hairpin mode: frames may leave through the port they came in on."""
        self.set_brport(name, {IFLA_BRPORT_MODE: on}, text)

    def set_brport(self, name: str, flags: dict[int, bool], text: str) -> None:
        """Bridge port flags (IFLA_BRPORT_*, one byte each) of the port *name*."""
        slave = b"".join(_rta(k, struct.pack("=B", 1 if v else 0)) for k, v in flags.items())
        info = _rta(IFLA_INFO_SLAVE_KIND, b"bridge") + _rta(IFLA_INFO_SLAVE_DATA | NLA_F_NESTED, slave)
        payload = _ifinfo() + _rta(IFLA_IFNAME, name.encode() + b"\0") + _rta(IFLA_LINKINFO | NLA_F_NESTED, info)
        self.messages.append((RTM_NEWLINK, 0, payload, text))

    def get_link(self, name: str, text: str) -> None:
        """Ask for the link *name*; its index lands in `self.links` after `send`."""
        self.messages.append((RTM_GETLINK, 0, _ifinfo() + _rta(IFLA_IFNAME, name.encode() + b"\0"), text))

    def del_link(self, name: str, text: str) -> None:
        """Delete a link by name (with a veth, its peer goes too)."""
        self.messages.append((RTM_DELLINK, 0, _ifinfo() + _rta(IFLA_IFNAME, name.encode() + b"\0"), text))

    def send(self, sock: _socket.socket) -> list[int]:
        """Send every request at once; returns each one's errno (0 = done). Nothing is raised here.

        Echoed RTM_NEWLINK answers are kept in `self.links`: ifname -> (ifindex, IFLA_LINK or None), and
        `self.kinds`: ifname -> link kind (None for a link without one, such as lo).
        """
        buf = bytearray()
        seq0 = int.from_bytes(os.urandom(3), "little") << 8
        for i, (kind, flags, payload, _) in enumerate(self.messages):
            buf += struct.pack("=LHHLL", 16 + len(payload), kind, NLM_F_REQUEST | NLM_F_ACK | flags, seq0 + i, 0)
            buf += payload
        sock.sendto(bytes(buf), (0, 0))
        results: dict[int, int] = {}
        self.links: dict[str, tuple[int, int | None]] = {}
        self.kinds: dict[str, str | None] = {}
        while len(results) < len(self.messages):
            data = sock.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length, kind, _flags, seq, _pid = struct.unpack_from("=LHHLL", data, off)
                if kind == NLMSG_ERROR and seq0 <= seq < seq0 + len(self.messages):
                    (err,) = struct.unpack_from("=i", data, off + 16)
                    results[seq - seq0] = -err
                elif kind == RTM_NEWLINK:
                    (index,) = struct.unpack_from("=i", data, off + 20)
                    attrs = _attrs(data[: off + length], off + 32)
                    ifname = attrs.get(IFLA_IFNAME, b"").rstrip(b"\0").decode()
                    link = attrs.get(IFLA_LINK)
                    self.links[ifname] = (index, struct.unpack("=i", link[:4])[0] if link else None)
                    info = _attrs(attrs.get(IFLA_LINKINFO, b""), 0)
                    self.kinds[ifname] = info.get(IFLA_INFO_KIND, b"").rstrip(b"\0").decode() or None
                off += max(16, (length + 3) & ~3)
        return [results[i] for i in range(len(self.messages))]

    def error(self, i: int, code: int, kind: str | None = None) -> CnictlError:
        text = self.messages[i][3]
        if kind is not None and code == errno_mod.EOPNOTSUPP:
            return missing_kind(text, kind)
        if code == errno_mod.EEXIST:
            return ConflictError(f"{text}: File exists (EEXIST)")
        return KernelError(f"{text}: {os.strerror(code)} ({errno_mod.errorcode.get(code, code)})", errno=code)


def missing_kind(text: str, kind: str) -> DependencyError:
    """The one-line error for a link kind this kernel lacks, naming the kernel option and the module."""
    opt = KERNEL_OPTION.get(kind, f"support for {kind} links")
    module = KERNEL_MODULE.get(kind, kind)
    return DependencyError(f"{text}: this kernel cannot create {kind} links (Unknown device type)",
                           hint=f"build the kernel with {opt} or load its module: modprobe {module}")


def link_index(sock: _socket.socket, name: str) -> int | None:
    """The index of *name* in the socket's namespace (None if there is none)."""
    batch = Batch()
    batch.get_link(name, f"ip link show {name}")
    (code,) = batch.send(sock)
    if code == errno_mod.ENODEV:
        return None
    if code:
        raise batch.error(0, code)
    return batch.links[name][0]


def open_socket() -> _socket.socket:
    """A plain rtnetlink socket in the current namespace (open it while visiting the target namespace)."""
    sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, _socket.NETLINK_ROUTE)
    sock.bind((0, 0))
    return sock
