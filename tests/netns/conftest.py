"""Real-kernel fixtures: a throwaway "host" namespace that stands in for the machine, container
namespaces, and an "upstream" namespace that plays the outside world. Everything is created with a
per-run unique name and removed by that name, also when the test fails."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.netns

# CNICTL_TEST_BIN: a directory with other cnictl and cnictl-cni launchers (e.g. an older build, to see a test fail)
BIN = Path(os.environ.get("CNICTL_TEST_BIN") or Path(sys.executable).parent)
CNICTL = str(BIN / "cnictl")
PLUGIN = str(BIN / "cnictl-cni")
RUN = f"{os.getpid() % 100000}"
_counter = itertools.count()

if os.geteuid() != 0:  # pragma: no cover - the suite is run as root in CI
    pytest.skip("namespace tests need root", allow_module_level=True)


def sh(cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"command failed ({p.returncode}): {cmd}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def unique(role: str) -> str:
    return f"t{RUN}{role}{next(_counter)}"


class Lab:
    """One test's world: a host namespace, a state dir, and the namespaces it made."""

    def __init__(self, tmp: Path) -> None:
        self.host = unique("h")
        self.state = tmp / "state"
        self.namespaces: list[str] = [self.host]
        self.firewall: str | None = None  # CNICTL_FIREWALL for every cnictl call (None: the default)
        sh(f"ip netns add {self.host}")
        sh(f"ip -n {self.host} link set lo up")

    def netns(self, role: str = "c") -> str:
        """A fresh named namespace with lo up (made with ip, so tests do not depend on `cnictl ns add`)."""
        name = unique(role)
        self.namespaces.append(name)
        sh(f"ip netns add {name}")
        sh(f"ip -n {name} link set lo up")
        return name

    def track(self, name: str) -> str:
        self.namespaces.append(name)
        return name

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["CNICTL_STATE_DIR"] = str(self.state)
        env.pop("CNICTL_DEBUG", None)
        env.pop("CNICTL_OUTPUT", None)
        env.pop("CNICTL_FIREWALL", None)
        if self.firewall:
            env["CNICTL_FIREWALL"] = self.firewall
        return env

    def cli(self, *args: str, check: bool = True, host: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [CNICTL] + (["--netns", self.host] if host else []) + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, env=self.env(), timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"cnictl failed ({p.returncode}): {' '.join(args)}\nstdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def json(self, *args: str) -> Any:
        return json.loads(self.cli("--json", *args).stdout)

    def ip(self, ns: str, args: str, check: bool = True) -> str:
        return sh(f"ip -n {ns} {args}", check=check).stdout

    def exec(self, ns: str, cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return sh(f"ip netns exec {ns} {cmd}", check=check, timeout=timeout)

    def ping(self, ns: str, addr: str) -> bool:
        return self.exec(ns, f"ping -c1 -W1 {addr}", check=False).returncode == 0

    def upstream(self) -> str:
        """An upstream namespace joined to the host by a veth pair: host 203.0.113.1, upstream 203.0.113.2.

        The upstream has no route back to container subnets, so replies reach a container only
        when the host masquerades."""
        up = self.netns("u")
        sh(f"ip -n {self.host} link add up0 type veth peer name down0 netns {up}")
        sh(f"ip -n {self.host} addr add 203.0.113.1/24 dev up0")
        sh(f"ip -n {self.host} link set up0 up")
        sh(f"ip -n {up} addr add 203.0.113.2/24 dev down0")
        sh(f"ip -n {up} link set down0 up")
        sh(f"ip -n {self.host} route add default via 203.0.113.2")
        return up

    def snapshot(self, extra: list[str] | None = None) -> dict[str, str]:
        """Kernel and state seen from the host (and *extra* namespaces): for before/after comparisons.

        Waits first for IPv6 duplicate address detection to finish, so link-local addresses and their
        routes, which the kernel adds on its own a moment after a link comes up, do not count as changes."""
        import time

        for ns in [self.host, *(extra or [])]:
            self.settle(ns)
        last = self._snap(extra)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the kernel may still be adding link-local routes: wait for quiet
            time.sleep(0.15)
            now = self._snap(extra)
            if now == last:
                break
            last = now
        return last

    def _snap(self, extra: list[str] | None) -> dict[str, str]:
        snap = {
            "links": self.ip(self.host, "-d -o link show"),
            "addrs": self.ip(self.host, "-o addr show"),
            "routes": self.ip(self.host, "route show table all"),
            "nft": self.exec(self.host, "nft list ruleset").stdout,
            "fwd4": self.exec(self.host, "sysctl -n net.ipv4.conf.all.forwarding").stdout,
            "fwd6": self.exec(self.host, "sysctl -n net.ipv6.conf.all.forwarding").stdout,
            "state": "\n".join(sorted(
                f"{p.relative_to(self.state)}:{p.read_bytes()!r}" for p in self.state.rglob("*") if p.is_file()
                and p.name != "lock"
            )) if self.state.exists() else "",
        }
        for ns in extra or []:
            snap[f"{ns}.links"] = self.ip(ns, "-o link show")
            snap[f"{ns}.addrs"] = self.ip(ns, "-o addr show")
            snap[f"{ns}.routes"] = self.ip(ns, "route show table all")
        # link counters and ids that change on their own
        return {k: _normalise(v) for k, v in snap.items()}

    def settle(self, ns: str, timeout: float = 5.0) -> None:
        import time

        deadline = time.monotonic() + timeout
        while "tentative" in self.ip(ns, "-6 -o addr show", check=False) and time.monotonic() < deadline:
            time.sleep(0.05)

    def cleanup(self) -> None:
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _normalise(text: str) -> str:
    import re

    text = re.sub(r"(valid_lft|preferred_lft) \S+", r"\1 X", text)
    text = re.sub(r"(\w+_timer)\s+\S+", r"\1 X", text)  # bridge timers tick on their own
    # IPv6 link-local addresses and routes the kernel adds itself when a link first gains carrier
    text = "\n".join(ln for ln in text.split("\n") if "fe80:" not in ln and "multicast ff00::/8" not in ln)
    # packet counters of iptables-nft rules move with any traffic
    text = re.sub(r"counter packets \d+ bytes \d+", "counter", text)
    # carrier of an empty bridge: on when new, off once a port has come and gone (kernel-derived)
    text = re.sub(r"NO-CARRIER,|,LOWER_UP|state (UNKNOWN|DOWN|UP) | linkdown", "", text)
    # offload limits a bridge derives from its ports: the kernel keeps the largest ever seen
    return re.sub(r"\b([gt]so_max_(size|segs)|gro_max_size|gso_ipv4_max_size|gro_ipv4_max_size) \d+", r"\1 X", text)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    if not shutil.which("ip"):
        pytest.skip("iproute2 is not installed")
    world = Lab(tmp_path)
    try:
        yield world
    finally:
        world.cleanup()
