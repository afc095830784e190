"""Unit tests for cnictl.ipam: Range validation and order, HostLocalStore files, locking and concurrency."""

from __future__ import annotations

import fcntl
import ipaddress
import itertools
import multiprocessing
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cnictl.errors import (
    ConfigError,
    ConflictError,
    IpamExhaustedError,
    NotFoundError,
    TransientError,
)
from cnictl.ipam.allocator import Lease, Range
from cnictl.ipam.hostlocal import Allocation, HostLocalStore

ip = ipaddress.ip_address


@pytest.fixture(autouse=True)
def _umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def netdir(tmp_path: Path) -> Path:
    return tmp_path / "networks" / "net1"


@pytest.fixture
def store(netdir: Path) -> HostLocalStore:
    return HostLocalStore(netdir, lock_timeout=5.0)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def names(directory: Path) -> set[str]:
    return set(os.listdir(directory))


V4 = Range.build("10.20.0.0/24")
V6 = Range.build("fd00:20::/64")


# -- Range ---------------------------------------------------------------------------------------


def test_range_defaults_ipv4() -> None:
    r = Range.build("10.20.0.0/24")
    assert (r.gateway, r.range_start, r.range_end) == (ip("10.20.0.1"), ip("10.20.0.1"), ip("10.20.0.254"))
    assert r.capacity() == 253
    assert r.prefixlen == 24 and r.version == 4


def test_range_defaults_ipv6_end_is_last_address() -> None:
    r = Range.build("fd00:20::/64")
    assert r.gateway == ip("fd00:20::1")
    assert r.range_start == ip("fd00:20::1")
    assert r.range_end == ip("fd00:20::ffff:ffff:ffff:ffff")
    assert r.capacity() == 2**64 - 2


def test_range_smallest_allowed() -> None:
    assert Range.build("10.20.0.0/30").capacity() == 1
    assert Range.build("fd00::/126").capacity() == 2


def test_contains_and_in_subnet() -> None:
    r = Range.build("10.20.0.0/24", ip_range="10.20.0.128/25")
    assert r.contains(ip("10.20.0.128")) and r.contains(ip("10.20.0.254"))
    assert not r.contains(ip("10.20.0.127"))
    assert not r.contains(ip("10.20.0.255"))
    assert r.in_subnet(ip("10.20.0.5")) and not r.in_subnet(ip("10.21.0.5"))
    assert not r.contains(ip("fd00::1")) and not r.in_subnet(ip("fd00::1"))


def test_iter_from_round_robin_and_wrap() -> None:
    r = Range.build("10.20.0.0/29")
    assert [str(a) for a in r.iter_from(None)] == [f"10.20.0.{i}" for i in (2, 3, 4, 5, 6)]
    assert [str(a) for a in r.iter_from(ip("10.20.0.4"))] == [f"10.20.0.{i}" for i in (5, 6, 2, 3, 4)]
    # after the last address: wrap to the start, skipping the gateway
    assert [str(a) for a in r.iter_from(ip("10.20.0.6"))] == [f"10.20.0.{i}" for i in (2, 3, 4, 5, 6)]
    # an "after" outside the range (or another family) restarts at range_start
    assert next(r.iter_from(ip("192.168.1.1"))) == ip("10.20.0.2")
    assert next(r.iter_from(ip("fd00::3"))) == ip("10.20.0.2")


def test_iter_skips_custom_gateway() -> None:
    r = Range.build("10.20.0.0/29", gateway="10.20.0.4")
    got = list(r.iter_from(ip("10.20.0.2")))
    assert [str(a) for a in got] == [f"10.20.0.{i}" for i in (3, 5, 6, 1, 2)]
    assert r.capacity() == 5 == len(got)


def test_iter_is_lazy_on_huge_ranges() -> None:
    v6 = Range.build("fd00:20::/64")
    start = time.monotonic()
    first = list(itertools.islice(v6.iter_from(v6.range_end), 3))
    assert [str(a) for a in first] == ["fd00:20::2", "fd00:20::3", "fd00:20::4"]
    v4 = Range.build("10.0.0.0/8")
    assert next(v4.iter_from(ip("10.200.0.7"))) == ip("10.200.0.8")
    assert time.monotonic() - start < 1.0


def test_ip_range_bounds() -> None:
    r = Range.build("10.20.0.0/24", ip_range="10.20.0.128/25")
    assert (r.range_start, r.range_end, r.gateway) == (ip("10.20.0.128"), ip("10.20.0.254"), ip("10.20.0.1"))
    assert r.capacity() == 127  # gateway outside the range: nothing subtracted
    low = Range.build("10.20.0.0/24", ip_range="10.20.0.0/25")
    assert (low.range_start, low.range_end) == (ip("10.20.0.1"), ip("10.20.0.127"))  # network addr clipped
    assert low.capacity() == 126  # gateway .1 inside
    assert Range.build("10.20.0.0/24", ip_range="10.20.0.0/24") == V4
    v6 = Range.build("fd00:20::/64", ip_range="fd00:20::100/120")
    assert (str(v6.range_start), str(v6.range_end)) == ("fd00:20::100", "fd00:20::1ff")
    assert v6.capacity() == 256


def test_ip_range_allocation_stays_inside(store: HostLocalStore) -> None:
    r = Range.build("10.20.0.0/24", ip_range="10.20.0.252/30")
    got = [store.allocate([r], f"c{i}", "eth0")[0].ip for i in range(3)]
    assert got == [ip("10.20.0.252"), ip("10.20.0.253"), ip("10.20.0.254")]
    with pytest.raises(IpamExhaustedError):
        store.allocate([r], "c9", "eth0")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"subnet": "10.0.0.300/24"},
            'invalid subnet "10.0.0.300/24": not an IP network in CIDR form (example: 10.20.0.0/24)',
        ),
        (
            {"subnet": "10.20.0.0"},
            'invalid subnet "10.20.0.0": not an IP network in CIDR form (example: 10.20.0.0/24)',
        ),
        ({"subnet": "lab"}, 'invalid subnet "lab": not an IP network in CIDR form (example: 10.20.0.0/24)'),
        ({"subnet": "10.20.0.5/24"}, 'subnet "10.20.0.5/24" has host bits set (use 10.20.0.0/24)'),
        ({"subnet": "fd00::5/64"}, 'subnet "fd00::5/64" has host bits set (use fd00::/64)'),
        (
            {"subnet": "10.20.0.0/31"},
            "subnet 10.20.0.0/31 is too small to allocate from (use a /30 or shorter prefix for IPv4)",
        ),
        (
            {"subnet": "10.20.0.0/32"},
            "subnet 10.20.0.0/32 is too small to allocate from (use a /30 or shorter prefix for IPv4)",
        ),
        (
            {"subnet": "fd00::/127"},
            "subnet fd00::/127 is too small to allocate from (use a /126 or shorter prefix for IPv6)",
        ),
        (
            {"subnet": "10.20.0.0/24", "gateway": "10.30.0.1"},
            "gateway 10.30.0.1 is outside subnet 10.20.0.0/24 (pick an address inside it)",
        ),
        (
            {"subnet": "10.20.0.0/24", "gateway": "10.20.0"},
            'invalid gateway "10.20.0": not an IP address (example: 10.20.0.5 or fd00:20::5)',
        ),
        (
            {"subnet": "10.20.0.0/24", "gateway": "fd00::1"},
            "gateway fd00::1 is IPv6 but subnet 10.20.0.0/24 is IPv4 (pick an address inside the subnet)",
        ),
        (
            {"subnet": "10.20.0.0/24", "gateway": "10.20.0.0"},
            "gateway 10.20.0.0 is the network address of subnet 10.20.0.0/24 "
            "(pick a host address such as 10.20.0.1)",
        ),
        (
            {"subnet": "10.20.0.0/24", "gateway": "10.20.0.255"},
            "gateway 10.20.0.255 is the broadcast address of subnet 10.20.0.0/24 "
            "(pick a host address such as 10.20.0.1)",
        ),
        (
            {"subnet": "10.20.0.0/24", "ip_range": "10.30.0.0/25"},
            "ip range 10.30.0.0/25 is not inside subnet 10.20.0.0/24 "
            "(pick a range inside it: 10.20.0.0/24 itself or a longer prefix within it)",
        ),
        (
            {"subnet": "10.20.0.0/24", "ip_range": "10.0.0.0/8"},
            "ip range 10.0.0.0/8 is not inside subnet 10.20.0.0/24 "
            "(pick a range inside it: 10.20.0.0/24 itself or a longer prefix within it)",
        ),
        (
            {"subnet": "10.20.0.0/24", "ip_range": "fd00::/64"},
            "ip range fd00::/64 is IPv6 but subnet 10.20.0.0/24 is IPv4 (pick a range inside the subnet)",
        ),
        (
            {"subnet": "10.20.0.0/24", "ip_range": "10.20.0.130/25"},
            'ip range "10.20.0.130/25" has host bits set (use 10.20.0.128/25)',
        ),
        (
            {"subnet": "10.20.0.0/24", "ip_range": "10.20.0.128"},
            'invalid ip range "10.20.0.128": not an IP network in CIDR form (example: 10.20.0.0/25)',
        ),
        (
            {"subnet": "10.20.0.0/24", "ip_range": "10.20.0.255/32"},
            "ip range 10.20.0.255/32 has no usable address in subnet 10.20.0.0/24 "
            "(use a larger range that is not only the network or broadcast address)",
        ),
        (
            {"subnet": "10.20.0.0/24", "ip_range": "10.20.0.1/32"},
            "range 10.20.0.1-10.20.0.1 of subnet 10.20.0.0/24 holds only the gateway 10.20.0.1 "
            "(use a larger ip range or another gateway)",
        ),
    ],
)
def test_range_build_errors(kwargs: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        Range.build(**kwargs)
    assert info.value.one_line() == expected
    assert info.value.exit_code == 2
    assert "\n" not in info.value.one_line()


def test_lease_cidr_and_dict() -> None:
    lease = Lease(ip=ip("10.20.0.2"), prefixlen=24, gateway=ip("10.20.0.1"), range_index=0)
    assert lease.cidr == "10.20.0.2/24"
    assert lease.to_dict() == {"address": "10.20.0.2/24", "gateway": "10.20.0.1", "range_index": 0}
    bare = Lease(ip=ip("fd00::2"), prefixlen=64, gateway=None, range_index=1)
    assert bare.to_dict() == {"address": "fd00::2/64", "gateway": None, "range_index": 1}


# -- HostLocalStore: files -------------------------------------------------------------------------


def test_directory_created_lazily_on_first_allocation(store: HostLocalStore, netdir: Path) -> None:
    assert store.allocations() == []
    assert store.find("c1", "eth0") == []
    assert store.release("c1", "eth0") == []
    assert store.release_ip("10.20.0.2") is None
    assert store.last_reserved(0) is None
    store.destroy()
    assert not netdir.exists() and not netdir.parent.exists()
    store.allocate([V4], "c1", "eth0")
    assert netdir.is_dir() and mode(netdir) == 0o755
    assert store.network == "net1"


def test_exact_bytes_and_modes(store: HostLocalStore, netdir: Path) -> None:
    leases = store.allocate([V4], "  a1b2c3 ", "eth0")
    assert leases == [Lease(ip=ip("10.20.0.2"), prefixlen=24, gateway=ip("10.20.0.1"), range_index=0)]
    assert names(netdir) == {"lock", "last_reserved_ip.0", "10.20.0.2"}
    reservation = netdir / "10.20.0.2"
    assert reservation.read_bytes() == b"a1b2c3\r\neth0"
    assert reservation.read_bytes().hex(" ") == "61 31 62 32 63 33 0d 0a 65 74 68 30"
    assert mode(reservation) == 0o600
    assert (netdir / "last_reserved_ip.0").read_bytes() == b"10.20.0.2"
    assert mode(netdir / "last_reserved_ip.0") == 0o600
    assert (netdir / "lock").read_bytes() == b""
    assert mode(netdir / "lock") == 0o750


def test_ipv6_file_names_are_canonical(store: HostLocalStore, netdir: Path) -> None:
    r = Range.build("FD00:0020:0000::/64")
    lease = store.allocate([r], "c1", "eth0")[0]
    assert str(lease.ip) == "fd00:20::2"
    assert (netdir / "fd00:20::2").read_bytes() == b"c1\r\neth0"
    assert (netdir / "last_reserved_ip.0").read_bytes() == b"fd00:20::2"


def test_round_robin_continues_after_last_reserved_and_wraps(store: HostLocalStore, netdir: Path) -> None:
    got = [store.allocate([V4], f"c{i}", "eth0")[0].ip for i in range(3)]
    assert got == [ip("10.20.0.2"), ip("10.20.0.3"), ip("10.20.0.4")]
    assert store.release_ip("10.20.0.3") == ("c1", "eth0")
    # the freed .3 is not reused immediately: allocation continues after the last reserved .4
    assert store.allocate([V4], "c3", "eth0")[0].ip == ip("10.20.0.5")
    assert store.last_reserved(0) == ip("10.20.0.5")
    (netdir / "last_reserved_ip.0").write_bytes(b"10.20.0.253")
    assert store.allocate([V4], "c4", "eth0")[0].ip == ip("10.20.0.254")
    # wrap: .1 is the gateway, .2 is taken, .3 was freed
    assert store.allocate([V4], "c5", "eth0")[0].ip == ip("10.20.0.3")
    assert store.last_reserved(0) == ip("10.20.0.3")


@pytest.mark.parametrize("content", [b"garbage", b"192.168.0.9", b"fd00::9", b""])
def test_last_reserved_outside_range_restarts_at_start(
    store: HostLocalStore, netdir: Path, content: bytes
) -> None:
    netdir.mkdir(parents=True)
    (netdir / "last_reserved_ip.0").write_bytes(content)
    assert store.allocate([V4], "c1", "eth0")[0].ip == ip("10.20.0.2")


@pytest.mark.parametrize("gateway", [None, "10.20.0.4"])
def test_gateway_never_allocated(store: HostLocalStore, gateway: str | None) -> None:
    r = Range.build("10.20.0.0/29", gateway=gateway)
    got = {store.allocate([r], f"c{i}", "eth0")[0].ip for i in range(r.capacity())}
    assert len(got) == 5
    assert r.gateway not in got
    with pytest.raises(IpamExhaustedError):
        store.allocate([r], "extra", "eth0")


def test_requested_ip_inside(store: HostLocalStore, netdir: Path) -> None:
    lease = store.allocate([V4], "c1", "eth0", requested=["10.20.0.77"])[0]
    assert lease.ip == ip("10.20.0.77") and lease.cidr == "10.20.0.77/24"
    assert (netdir / "10.20.0.77").read_bytes() == b"c1\r\neth0"
    assert store.last_reserved(0) == ip("10.20.0.77")  # host-local records requested IPs too
    assert store.allocate([V4], "c2", "eth0")[0].ip == ip("10.20.0.78")


def test_requested_ip_outside_ip_range_but_inside_subnet(store: HostLocalStore) -> None:
    r = Range.build("10.20.0.0/24", ip_range="10.20.0.128/25")
    assert store.allocate([r], "c1", "eth0", requested=[ip("10.20.0.5")])[0].ip == ip("10.20.0.5")
    assert store.allocate([r], "c2", "eth0")[0].ip == ip("10.20.0.128")


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("10.30.0.5", "requested IP 10.30.0.5 is outside subnet 10.20.0.0/24 (choose an address inside it)"),
        ("fd00::5", "requested IP fd00::5 is outside subnet 10.20.0.0/24 (choose an address inside it)"),
        (
            "10.20.0.1",
            "requested IP 10.20.0.1 is the gateway of subnet 10.20.0.0/24 (choose another address)",
        ),
        (
            "10.20.0.0",
            "requested IP 10.20.0.0 is the network address of subnet 10.20.0.0/24 "
            "(choose a host address inside it)",
        ),
        (
            "10.20.0.255",
            "requested IP 10.20.0.255 is the broadcast address of subnet 10.20.0.0/24 "
            "(choose a host address inside it)",
        ),
        (
            "10.20.0.x",
            'invalid requested IP "10.20.0.x": not an IP address (example: 10.20.0.5 or fd00:20::5)',
        ),
    ],
)
def test_requested_ip_rejected(store: HostLocalStore, netdir: Path, requested: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        store.allocate([V4], "c1", "eth0", requested=[requested])
    assert info.value.one_line() == expected
    assert not netdir.exists()


def test_two_requested_ips_in_one_subnet_rejected(store: HostLocalStore) -> None:
    with pytest.raises(ConfigError, match="both in subnet 10.20.0.0/24"):
        store.allocate([V4], "c1", "eth0", requested=["10.20.0.5", "10.20.0.6"])


def test_requested_ip_taken(store: HostLocalStore, netdir: Path) -> None:
    store.allocate([V4], "c1", "eth0", requested=["10.20.0.9"])
    with pytest.raises(ConflictError) as info:
        store.allocate([V4], "c2", "eth1", requested=["10.20.0.9"])
    err = info.value
    assert err.message == "requested IP 10.20.0.9 is already reserved, held by container c1 ifname eth0"
    assert err.hint == "see reservations with: cnictl ipam show net1"
    assert err.exit_code == 4
    assert (netdir / "10.20.0.9").read_bytes() == b"c1\r\neth0"  # untouched
    (netdir / "10.20.0.10").write_bytes(b"legacy-id")
    with pytest.raises(ConflictError, match="held by container legacy-id$"):
        store.allocate([V4], "c2", "eth1", requested=["10.20.0.10"])


@pytest.mark.parametrize(
    ("cid", "ifname"), [("", "eth0"), ("  ", "eth0"), ("a\nb", "eth0"), ("c1", ""), ("c1", "e 0")]
)
def test_invalid_owner_rejected(store: HostLocalStore, netdir: Path, cid: str, ifname: str) -> None:
    with pytest.raises(ConfigError):
        store.allocate([V4], cid, ifname)
    assert not netdir.exists()


def test_exhaustion_on_slash30(store: HostLocalStore, netdir: Path) -> None:
    r = Range.build("10.20.0.0/30")
    assert store.allocate([r], "c1", "eth0")[0].ip == ip("10.20.0.2")
    before = {p: p.read_bytes() for p in netdir.iterdir()}
    with pytest.raises(IpamExhaustedError) as info:
        store.allocate([r], "c2", "eth0")
    assert info.value.one_line() == (
        "no free address in 10.20.0.0/30 (range 10.20.0.1-10.20.0.2, 1 addresses all in use); "
        "release one with: cnictl ipam release net1 <ip>"
    )
    assert info.value.cni_code == 100
    assert {p: p.read_bytes() for p in netdir.iterdir()} == before


def test_dual_stack_allocation(store: HostLocalStore, netdir: Path) -> None:
    leases = store.allocate([V4, V6], "c1", "eth0")
    assert [lease.to_dict() for lease in leases] == [
        {"address": "10.20.0.2/24", "gateway": "10.20.0.1", "range_index": 0},
        {"address": "fd00:20::2/64", "gateway": "fd00:20::1", "range_index": 1},
    ]
    assert names(netdir) == {"lock", "last_reserved_ip.0", "last_reserved_ip.1", "10.20.0.2", "fd00:20::2"}
    assert (netdir / "last_reserved_ip.1").read_bytes() == b"fd00:20::2"
    assert (netdir / "fd00:20::2").read_bytes() == b"c1\r\neth0"
    # requested IPs are matched to their own family's range
    leases = store.allocate([V4, V6], "c2", "eth0", requested=["fd00:20::99"])
    assert [lease.cidr for lease in leases] == ["10.20.0.3/24", "fd00:20::99/64"]


def test_dual_stack_second_range_exhausted_releases_first(store: HostLocalStore, netdir: Path) -> None:
    small6 = Range.build("fd00:20::/126")  # ::2 and ::3 allocatable
    store.allocate([small6], "a", "eth0")
    store.allocate([small6], "b", "eth0")
    with pytest.raises(IpamExhaustedError, match="no free address in fd00:20::/126"):
        store.allocate([V4, small6], "c1", "eth0")
    assert not (netdir / "10.20.0.2").exists()
    assert {a.container_id for a in store.allocations()} == {"a", "b"}


def test_dual_stack_second_range_conflict_releases_first(store: HostLocalStore, netdir: Path) -> None:
    store.allocate([V6], "other", "eth0", requested=["fd00:20::7"])
    with pytest.raises(ConflictError):
        store.allocate([V4, V6], "c1", "eth0", requested=["fd00:20::7"])
    assert [str(a.ip) for a in store.allocations()] == ["fd00:20::7"]


def test_release_by_id_and_ifname(store: HostLocalStore, netdir: Path) -> None:
    store.allocate([V4, V6], "c1", "eth0")
    store.allocate([V4], "c1", "eth1")
    store.allocate([V4], "c2", "eth0")
    assert store.release("c1", "eth0") == [ip("10.20.0.2"), ip("fd00:20::2")]
    assert [(str(a.ip), a.container_id, a.ifname) for a in store.allocations()] == [
        ("10.20.0.3", "c1", "eth1"),
        ("10.20.0.4", "c2", "eth0"),
    ]
    assert store.release("c1", "eth0") == []
    assert store.release(" c1 ", "eth1") == [ip("10.20.0.3")]
    assert names(netdir) == {"lock", "last_reserved_ip.0", "last_reserved_ip.1", "10.20.0.4"}


def test_release_legacy_bare_id(store: HostLocalStore, netdir: Path) -> None:
    store.allocate([V4], "keep", "eth0")
    (netdir / "10.20.0.50").write_bytes(b"old-ctr")
    (netdir / "10.20.0.51").write_bytes(b"old-ctr\n")
    (netdir / "10.20.0.52").write_bytes(b"old-ctr-2")
    assert store.find("old-ctr", "eth9") == [ip("10.20.0.50"), ip("10.20.0.51")]
    assert store.release("old-ctr", "eth9") == [ip("10.20.0.50"), ip("10.20.0.51")]
    assert names(netdir) == {"lock", "last_reserved_ip.0", "10.20.0.2", "10.20.0.52"}


def test_release_ip(store: HostLocalStore, netdir: Path) -> None:
    store.allocate([V4], "c1", "eth0")
    (netdir / "10.20.0.60").write_bytes(b"legacy")
    assert store.release_ip(ip("10.20.0.2")) == ("c1", "eth0")
    assert not (netdir / "10.20.0.2").exists()
    assert store.release_ip("10.20.0.2") is None
    assert store.release_ip("10.20.0.60") == ("legacy", "")
    with pytest.raises(ConfigError):
        store.release_ip("last_reserved_ip.0")
    assert (netdir / "last_reserved_ip.0").exists()


def test_allocations_listing(store: HostLocalStore, netdir: Path) -> None:
    for i in range(10):
        store.allocate([V4], f"c{i}", "eth0")
    store.allocate([V6], "c6", "eth1")
    (netdir / "10.20.0.100").write_bytes(b"legacy")
    (netdir / "README").write_text("not a reservation")
    (netdir / "10.20.0.999").write_text("x")
    (netdir / "10.20.0.200").mkdir()
    listing = store.allocations()
    assert [str(a.ip) for a in listing] == [f"10.20.0.{i}" for i in (*range(2, 12), 100)] + ["fd00:20::2"]
    assert listing[0] == Allocation(ip=ip("10.20.0.2"), container_id="c0", ifname="eth0")
    assert listing[-2] == Allocation(ip=ip("10.20.0.100"), container_id="legacy", ifname="")
    assert listing[-1].to_dict() == {"ip": "fd00:20::2", "container_id": "c6", "ifname": "eth1"}
    assert store.find("c6", "eth0") == [ip("10.20.0.8")]
    assert store.find("c6", "eth1") == [ip("fd00:20::2")]
    assert store.find("nobody", "eth0") == []


def test_destroy(store: HostLocalStore, netdir: Path) -> None:
    store.allocate([V4, V6], "c1", "eth0")
    with pytest.raises(ConflictError, match="still has 2 reserved address"):
        store.destroy()
    assert names(netdir) == {"lock", "last_reserved_ip.0", "last_reserved_ip.1", "10.20.0.2", "fd00:20::2"}
    store.release("c1", "eth0")
    store.destroy()
    assert not netdir.exists()
    assert netdir.parent.exists()
    store.destroy()  # already gone: fine


def test_destroy_leaves_foreign_files(store: HostLocalStore, netdir: Path) -> None:
    store.allocate([V4], "c1", "eth0")
    store.release("c1", "eth0")
    (netdir / "notes.txt").write_text("mine")
    store.destroy()
    assert names(netdir) == {"notes.txt"}


def test_allocate_is_constant_in_number_of_reservations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = Range.build("10.20.0.0/22")
    big = HostLocalStore(tmp_path / "big")
    for i in range(500):
        big.allocate([r], f"c{i}", "eth0")
    assert len(os.listdir(big.directory)) == 502
    small = HostLocalStore(tmp_path / "small")
    small.allocate([r], "c0", "eth0")

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("allocate must not list the directory")

    real_open = os.open
    opened: list[str] = []

    def counting_open(path: Any, *args: Any, **kwargs: Any) -> int:
        opened.append(os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", forbidden)
    monkeypatch.setattr(os, "listdir", forbidden)
    monkeypatch.setattr(os, "walk", forbidden)
    monkeypatch.setattr(Path, "iterdir", forbidden)
    monkeypatch.setattr(Path, "glob", forbidden)
    monkeypatch.setattr(os, "open", counting_open)

    assert big.allocate([r], "next", "eth0")[0].ip == ip("10.20.1.246")
    big_opens = len(opened)
    opened.clear()
    assert small.allocate([r], "next", "eth0")[0].ip == ip("10.20.0.3")
    assert len(opened) == big_opens <= 4


# -- locking -------------------------------------------------------------------------------------


def test_lock_timeout_raises_transient(netdir: Path) -> None:
    netdir.mkdir(parents=True)
    holder = os.open(netdir / "lock", os.O_RDONLY | os.O_CREAT, 0o750)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        store = HostLocalStore(netdir, lock_timeout=0.3)
        start = time.monotonic()
        with pytest.raises(TransientError) as info:
            store.allocate([V4], "c1", "eth0")
        elapsed = time.monotonic() - start
        assert 0.3 <= elapsed < 3.0
        assert str(netdir / "lock") in info.value.one_line()
        assert "retry" in info.value.one_line()
        assert info.value.exit_code == 75 and info.value.retryable
        with pytest.raises(TransientError):
            store.release("c1", "eth0")
        assert names(netdir) == {"lock"}
    finally:
        os.close(holder)
    assert store.allocate([V4], "c1", "eth0")[0].ip == ip("10.20.0.2")


def test_locked_is_reentrant_and_excludes_others(store: HostLocalStore, netdir: Path) -> None:
    with pytest.raises(NotFoundError), store.locked():
        pass
    other = HostLocalStore(netdir, lock_timeout=0.2)
    with store.locked(create=True):
        assert store.allocate([V4], "c1", "eth0")[0].ip == ip("10.20.0.2")
        assert store.release_ip("10.20.0.2") == ("c1", "eth0")
        with pytest.raises(TransientError):
            other.allocate([V4], "c2", "eth0")
    assert other.allocate([V4], "c2", "eth0")[0].ip == ip("10.20.0.3")  # round-robin after .2


def test_waiter_survives_destroy_of_lock_file(netdir: Path) -> None:
    first = HostLocalStore(netdir, lock_timeout=5.0)
    second = HostLocalStore(netdir, lock_timeout=5.0)
    result: list[object] = []

    def waiter() -> None:
        try:
            result.append(second.allocate([V4], "late", "eth0")[0].ip)
        except Exception as exc:  # reported through `result`
            result.append(exc)

    with first.locked(create=True):
        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.2)  # the waiter is now polling flock on the old lock file
        first.destroy()
        assert not netdir.exists()
    thread.join(10)
    assert result == [ip("10.20.0.2")]
    assert names(netdir) == {"lock", "last_reserved_ip.0", "10.20.0.2"}


# -- concurrency ---------------------------------------------------------------------------------

WORKERS = 32


def _allocate_worker(directory: str, index: int, barrier: Any, queue: Any) -> None:
    try:
        store = HostLocalStore(Path(directory), lock_timeout=60.0)
        barrier.wait(30)
        leases = store.allocate([Range.build("10.20.0.0/24")], f"ctr{index}", "eth0")
        queue.put((index, [str(lease.ip) for lease in leases]))
    except BaseException as exc:
        queue.put((index, repr(exc)))


def _release_worker(directory: str, index: int, barrier: Any, queue: Any) -> None:
    try:
        store = HostLocalStore(Path(directory), lock_timeout=60.0)
        barrier.wait(30)
        queue.put((index, [str(a) for a in store.release(f"ctr{index}", "eth0")]))
    except BaseException as exc:
        queue.put((index, repr(exc)))


def _run_workers(target: Any, directory: Path) -> dict[int, object]:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(WORKERS)
    queue = ctx.Queue()
    procs = [ctx.Process(target=target, args=(str(directory), i, barrier, queue)) for i in range(WORKERS)]
    for proc in procs:
        proc.start()
    results = dict(queue.get(timeout=60) for _ in procs)
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    return results


def test_concurrent_processes_get_distinct_ips_then_release(netdir: Path) -> None:
    allocated = _run_workers(_allocate_worker, netdir)
    assert all(isinstance(v, list) and len(v) == 1 for v in allocated.values()), allocated
    ips = [v[0] for v in allocated.values() if isinstance(v, list)]
    assert len(set(ips)) == WORKERS
    assert set(ips) == {f"10.20.0.{i}" for i in range(2, 2 + WORKERS)}
    for index, value in allocated.items():
        assert isinstance(value, list)
        assert (netdir / value[0]).read_bytes() == f"ctr{index}\r\neth0".encode()
    assert (netdir / "last_reserved_ip.0").read_bytes() == f"10.20.0.{1 + WORKERS}".encode()

    released = _run_workers(_release_worker, netdir)
    assert released == allocated
    assert names(netdir) == {"lock", "last_reserved_ip.0"}
