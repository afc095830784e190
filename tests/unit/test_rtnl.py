"""The rtnetlink batch encoder: exact message layout (rtnetlink(7)) and error mapping, without a kernel."""

from __future__ import annotations

import socket
import struct

import pytest

from cnictl.errors import ConflictError, KernelError
from cnictl.netlink.rtnl import RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE, Batch


def test_addr_message_layout() -> None:
    b = Batch()
    b.add_addr(7, "10.20.0.2/24", "ip addr add 10.20.0.2/24 dev eth0")
    kind, flags, payload, _ = b.messages[0]
    assert kind == RTM_NEWADDR and flags == 0x600  # CREATE | EXCL
    fam, plen, aflags, scope, index = struct.unpack_from("=BBBBI", payload)
    assert (fam, plen, aflags, scope, index) == (socket.AF_INET, 24, 0, 0, 7)
    # IFA_LOCAL then IFA_ADDRESS, 4-byte payloads
    assert payload[8:16] == struct.pack("=HH", 8, 2) + bytes([10, 20, 0, 2])
    assert payload[16:24] == struct.pack("=HH", 8, 1) + bytes([10, 20, 0, 2])


def test_ipv6_addr_is_nodad_and_route_has_gateway_and_oif() -> None:
    b = Batch()
    b.add_addr(3, "fd00::2/64", "")
    b.add_default_route("fd00::1", 3, "")
    b.set_up(3, "")
    _, _, addr, _ = b.messages[0]
    assert struct.unpack_from("=BBBB", addr) == (socket.AF_INET6, 64, 0x02, 0)
    kind, _, route, _ = b.messages[1]
    assert kind == RTM_NEWROUTE
    assert struct.unpack_from("=BBBBBBBB", route) == (socket.AF_INET6, 0, 0, 0, 254, 4, 0, 1)
    assert route[12:16] == struct.pack("=HH", 20, 5)  # RTA_GATEWAY with 16 bytes
    assert route[32:40] == struct.pack("=HHI", 8, 4, 3)  # RTA_OIF
    kind, flags, link, _ = b.messages[2]
    assert kind == RTM_NEWLINK and flags == 0
    assert struct.unpack("=BxHiII", link) == (0, 0, 3, 1, 1)


def test_errors_name_the_command() -> None:
    b = Batch()
    b.set_up(9, "ip -n web link set eth0 up")
    e = b.error(0, 19)
    assert isinstance(e, KernelError) and "ip -n web link set eth0 up: No such device (ENODEV)" in e.message
    assert isinstance(b.error(0, 17), ConflictError)


def test_batch_against_a_fake_kernel() -> None:
    """send() writes every request in one datagram and pairs each acknowledgement with its request."""

    class FakeSock:
        def __init__(self) -> None:
            self.sent = b""

        def sendto(self, data: bytes, addr: object) -> None:
            self.sent = data

        def recv(self, n: int) -> bytes:
            out = b""
            off = 0
            i = 0
            while off < len(self.sent):
                length, _, _, seq, _ = struct.unpack_from("=LHHLL", self.sent, off)
                err = -17 if i == 1 else 0
                out += struct.pack("=LHHLL", 36, 2, 0, seq, 0) + struct.pack("=i", err) + self.sent[off:off + 16]
                off += length
                i += 1
            return out

    b = Batch()
    b.add_addr(2, "10.0.0.2/24", "a")
    b.add_default_route("10.0.0.1", 2, "r")
    sock = FakeSock()
    assert b.send(sock) == [0, 17]  # type: ignore[arg-type]
    assert sock.sent.count(struct.pack("=H", RTM_NEWADDR)) >= 1


@pytest.mark.parametrize("cidr", ["10.0.0.2/24", "fd00::2/64"])
def test_message_lengths_are_aligned(cidr: str) -> None:
    b = Batch()
    b.add_addr(1, cidr, "")
    assert len(b.messages[0][2]) % 4 == 0


def test_veth_message_nests_the_peer_and_asks_for_an_echo() -> None:
    from cnictl.netlink.rtnl import _attrs

    b = Batch()
    b.add_veth("cni0", "eth0", 9, "ip link add", master=4, mtu=1400, peer_mac="02:00:00:00:00:01", up=True)
    kind, flags, payload, _ = b.messages[0]
    assert kind == RTM_NEWLINK and flags == 0x600 | 0x8  # CREATE | EXCL | ECHO
    assert struct.unpack_from("=BxHiII", payload) == (0, 0, 0, 1, 1)  # host end up
    top = _attrs(payload, 16)
    assert top[3] == b"cni0\0" and top[4] == struct.pack("=I", 1400) and top[10] == struct.pack("=I", 4)
    info = _attrs(top[18], 0)
    assert info[1] == b"veth"
    peer = _attrs(info[2], 0)[1]  # VETH_INFO_PEER: ifinfomsg + attributes
    assert struct.unpack_from("=BxHiII", peer) == (0, 0, 0, 0, 0)  # peer stays down until configured
    pattrs = _attrs(peer, 16)
    assert pattrs[3] == b"eth0\0" and pattrs[28] == struct.pack("=I", 9) and pattrs[1] == bytes([2, 0, 0, 0, 0, 1])


def test_del_link_by_name() -> None:
    from cnictl.netlink.rtnl import RTM_DELLINK, _attrs

    b = Batch()
    b.del_link("cni0", "ip link del cni0")
    kind, _, payload, _ = b.messages[0]
    assert kind == RTM_DELLINK and _attrs(payload, 16)[3] == b"cni0\0"
