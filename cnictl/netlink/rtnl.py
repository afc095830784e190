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

import errno as errno_mod
import ipaddress
import os
import socket
import struct

from cnictl.errors import CnictlError, ConflictError, KernelError

NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLMSG_ERROR = 2
RTM_NEWLINK = 16
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
IFF_UP = 0x1
IFA_ADDRESS, IFA_LOCAL = 1, 2
IFA_F_NODAD = 0x02
RTA_OIF, RTA_GATEWAY = 4, 5
RT_TABLE_MAIN = 254
RTPROT_STATIC = 4
RT_SCOPE_UNIVERSE = 0
RTN_UNICAST = 1


def _rta(kind: int, data: bytes) -> bytes:
    length = 4 + len(data)
    return struct.pack("=HH", length, kind) + data + b"\0" * ((4 - length % 4) % 4)


class Batch:
    """Requests to send together; `send(sock)` raises for the first one the kernel refused."""

    def __init__(self) -> None:
        self.messages: list[tuple[int, int, bytes, str]] = []  # (type, flags, payload, ip command)

    def add_addr(self, index: int, cidr: str, text: str) -> None:
        iface = ipaddress.ip_interface(cidr)
        fam = socket.AF_INET if iface.version == 4 else socket.AF_INET6
        flags = IFA_F_NODAD if iface.version == 6 else 0
        payload = struct.pack("=BBBBI", fam, iface.network.prefixlen, flags, 0, index)
        payload += _rta(IFA_LOCAL, iface.ip.packed) + _rta(IFA_ADDRESS, iface.ip.packed)
        self.messages.append((RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, payload, text))

    def set_up(self, index: int, text: str) -> None:
        payload = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, IFF_UP, IFF_UP)
        self.messages.append((RTM_NEWLINK, 0, payload, text))

    def add_default_route(self, gateway: str, oif: int, text: str) -> None:
        gw = ipaddress.ip_address(gateway)
        fam = socket.AF_INET if gw.version == 4 else socket.AF_INET6
        payload = struct.pack("=BBBBBBBBI", fam, 0, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE,
                              RTN_UNICAST, 0)
        payload += _rta(RTA_GATEWAY, gw.packed) + _rta(RTA_OIF, struct.pack("=I", oif))
        self.messages.append((RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, payload, text))

    def send(self, sock: socket.socket) -> list[int]:
        """Send every request at once; returns each one's errno (0 = done). Nothing is raised here."""
        buf = bytearray()
        seq0 = int.from_bytes(os.urandom(3), "little") << 8
        for i, (kind, flags, payload, _) in enumerate(self.messages):
            buf += struct.pack("=LHHLL", 16 + len(payload), kind, NLM_F_REQUEST | NLM_F_ACK | flags, seq0 + i, 0)
            buf += payload
        sock.sendto(bytes(buf), (0, 0))
        results: dict[int, int] = {}
        while len(results) < len(self.messages):
            data = sock.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length, kind, _flags, seq, _pid = struct.unpack_from("=LHHLL", data, off)
                if kind == NLMSG_ERROR and seq0 <= seq < seq0 + len(self.messages):
                    (err,) = struct.unpack_from("=i", data, off + 16)
                    results[seq - seq0] = -err
                off += max(16, (length + 3) & ~3)
        return [results[i] for i in range(len(self.messages))]

    def error(self, i: int, code: int) -> CnictlError:
        text = self.messages[i][3]
        if code == errno_mod.EEXIST:
            return ConflictError(f"{text}: File exists (EEXIST)")
        return KernelError(f"{text}: {os.strerror(code)} ({errno_mod.errorcode.get(code, code)})", errno=code)


def open_socket() -> socket.socket:
    """A plain rtnetlink socket in the current namespace (open it while visiting the target namespace)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
    sock.bind((0, 0))
    return sock
