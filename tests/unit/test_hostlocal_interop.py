"""Interop of HostLocalStore with the reference host-local plugin on one shared data directory.

The plugin is executed the way a runtime does (CNI_* environment, network config on stdin); it only
writes files under dataDir, so no root or network change is needed.
"""

from __future__ import annotations

import ipaddress
import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cnictl.errors import ConflictError, IpamExhaustedError
from cnictl.ipam.allocator import Range
from cnictl.ipam.hostlocal import HostLocalStore

HOST_LOCAL = Path("/usr/lib/cni/host-local")
NETWORK = "interop"

pytestmark = pytest.mark.skipif(
    not os.access(HOST_LOCAL, os.X_OK),
    reason=f"reference plugin {HOST_LOCAL} not installed (Debian/Ubuntu: containernetworking-plugins)",
)

ip = ipaddress.ip_address


def run_host_local(
    command: str,
    data_dir: Path,
    subnets: list[str],
    container_id: str,
    ifname: str = "eth0",
    cni_args: str | None = None,
) -> subprocess.CompletedProcess[str]:
    conf = {
        "cniVersion": "1.0.0",
        "name": NETWORK,
        "type": "bridge",
        "ipam": {
            "type": "host-local",
            "dataDir": str(data_dir),
            "ranges": [[{"subnet": subnet}] for subnet in subnets],
        },
    }
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": "/proc/self/ns/net",
        "CNI_IFNAME": ifname,
        "CNI_PATH": str(HOST_LOCAL.parent),
    }
    if cni_args is not None:
        env["CNI_ARGS"] = cni_args
    return subprocess.run([str(HOST_LOCAL)], input=json.dumps(conf), env=env, capture_output=True, text=True, timeout=30)


def hl_add(data_dir: Path, subnets: list[str], container_id: str, ifname: str = "eth0", **kw: Any) -> list[str]:
    """ADD through host-local; returns the result's addresses (CIDR strings)."""
    proc = run_host_local("ADD", data_dir, subnets, container_id, ifname, **kw)
    assert proc.returncode == 0, f"host-local ADD failed: {proc.stdout} {proc.stderr}"
    result = json.loads(proc.stdout)
    return [entry["address"] for entry in result["ips"]]


def hl_del(data_dir: Path, subnets: list[str], container_id: str, ifname: str = "eth0") -> None:
    proc = run_host_local("DEL", data_dir, subnets, container_id, ifname)
    assert proc.returncode == 0, f"host-local DEL failed: {proc.stdout} {proc.stderr}"


def test_alternating_allocation_until_exhausted(tmp_path: Path) -> None:
    subnets = ["10.77.0.0/29"]  # allocatable: .2 .. .6 (gateway .1)
    netdir = tmp_path / NETWORK
    store = HostLocalStore(netdir, lock_timeout=10.0)
    ranges = [Range.build(subnets[0])]
    owners: dict[str, tuple[str, str]] = {}
    order: list[str] = []

    for step in range(5):
        if step % 2 == 0:
            cid, ifname = f"hl-{step}", "eth0"
            addresses = hl_add(tmp_path, subnets, cid, ifname)
            assert len(addresses) == 1
            address = addresses[0]
        else:
            cid, ifname = f"cn-{step}", "eth1"
            leases = store.allocate(ranges, cid, ifname)
            address = leases[0].cidr
            assert leases[0].gateway == ip("10.77.0.1")
        got = address.split("/")[0]
        # both tools walk the same round-robin order, each continuing after the other's last reservation
        assert address == f"10.77.0.{2 + step}/29"
        assert (netdir / "last_reserved_ip.0").read_bytes() == got.encode()
        assert store.last_reserved(0) == ip(got)
        owners[got] = (cid, ifname)
        order.append(got)

    assert len(set(order)) == 5
    # cnictl sees host-local's reservations with their owner, and vice versa through the files
    assert [(str(a.ip), a.container_id, a.ifname) for a in store.allocations()] == [(addr, *owners[addr]) for addr in order]
    # byte-identical format: host-local's files are exactly what cnictl writes
    for addr, (cid, ifname) in owners.items():
        assert (netdir / addr).read_bytes() == f"{cid}\r\n{ifname}".encode()
        if cid.startswith("cn-"):
            assert stat.S_IMODE((netdir / addr).stat().st_mode) == 0o600
        else:  # host-local < v1.4.0 writes 0644, later releases 0600
            assert stat.S_IMODE((netdir / addr).stat().st_mode) & 0o077 in (0o000, 0o044)
    assert set(os.listdir(netdir)) == {"lock", "last_reserved_ip.0", *order}
    assert (netdir / "lock").read_bytes() == b""

    # the range is full for both tools
    with pytest.raises(IpamExhaustedError, match="no free address in 10.77.0.0/29"):
        store.allocate(ranges, "cn-full", "eth0")
    proc = run_host_local("ADD", tmp_path, subnets, "hl-full")
    assert proc.returncode != 0
    assert "no IP addresses available" in json.loads(proc.stdout)["msg"]
    assert set(os.listdir(netdir)) == {"lock", "last_reserved_ip.0", *order}

    # host-local DEL releases a cnictl reservation by (id, ifname) and only that one
    hl_del(tmp_path, subnets, "cn-1", "eth0")  # wrong ifname: nothing released
    assert (netdir / "10.77.0.3").exists()
    hl_del(tmp_path, subnets, "cn-1", "eth1")
    assert not (netdir / "10.77.0.3").exists()
    # cnictl releases a host-local reservation
    assert store.release("hl-0", "eth0") == [ip("10.77.0.2")]
    assert store.find("hl-2", "eth0") == [ip("10.77.0.4")]

    # wrap-around agreement: last reserved is .6, so cnictl wraps to .2, then host-local continues at .3
    assert store.allocate(ranges, "cn-wrap", "eth0")[0].ip == ip("10.77.0.2")
    assert hl_add(tmp_path, subnets, "hl-wrap") == ["10.77.0.3/29"]
    assert (netdir / "10.77.0.3").read_bytes() == b"hl-wrap\r\neth0"

    # everything released by the other tool leaves only lock + last_reserved_ip.0
    for addr in ("10.77.0.4", "10.77.0.6"):
        cid, ifname = owners[addr]
        assert store.release(cid, ifname) == [ip(addr)]
    hl_del(tmp_path, subnets, "cn-3", "eth1")
    hl_del(tmp_path, subnets, "cn-wrap", "eth0")
    assert store.release("hl-wrap", "eth0") == [ip("10.77.0.3")]
    assert set(os.listdir(netdir)) == {"lock", "last_reserved_ip.0"}
    store.destroy()
    assert not netdir.exists()


def test_dual_stack_range_indexes_agree(tmp_path: Path) -> None:
    subnets = ["10.78.0.0/24", "fd78::/120"]
    netdir = tmp_path / NETWORK
    store = HostLocalStore(netdir)
    ranges = [Range.build(s) for s in subnets]

    assert hl_add(tmp_path, subnets, "hl-a") == ["10.78.0.2/24", "fd78::2/120"]
    assert [lease.cidr for lease in store.allocate(ranges, "cn-b", "eth0")] == ["10.78.0.3/24", "fd78::3/120"]
    assert hl_add(tmp_path, subnets, "hl-c") == ["10.78.0.4/24", "fd78::4/120"]
    assert (netdir / "last_reserved_ip.1").read_bytes() == b"fd78::4"
    assert (netdir / "fd78::2").read_bytes() == b"hl-a\r\neth0"
    assert (netdir / "fd78::3").read_bytes() == b"cn-b\r\neth0"
    # host-local DEL of cnictl's dual-stack attachment removes both families
    hl_del(tmp_path, subnets, "cn-b", "eth0")
    assert {str(a.ip) for a in store.allocations()} == {"10.78.0.2", "fd78::2", "10.78.0.4", "fd78::4"}
    assert store.release("hl-a", "eth0") == [ip("10.78.0.2"), ip("fd78::2")]


def test_requested_ip_conflicts_across_tools(tmp_path: Path) -> None:
    subnets = ["10.79.0.0/24"]
    store = HostLocalStore(tmp_path / NETWORK)
    ranges = [Range.build(subnets[0])]

    assert hl_add(tmp_path, subnets, "hl-static", cni_args="IP=10.79.0.50") == ["10.79.0.50/24"]
    with pytest.raises(ConflictError, match="10.79.0.50 is already reserved, held by container hl-static ifname eth0"):
        store.allocate(ranges, "cn-x", "eth0", requested=["10.79.0.50"])

    store.allocate(ranges, "cn-static", "eth0", requested=["10.79.0.60"])
    proc = run_host_local("ADD", tmp_path, subnets, "hl-y", cni_args="IP=10.79.0.60")
    assert proc.returncode != 0
    assert "10.79.0.60" in json.loads(proc.stdout)["msg"]
    assert store.release_ip("10.79.0.50") == ("hl-static", "eth0")
