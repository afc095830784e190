"""Rollback: fail (or Ctrl-C) every step of `net create`, `attach` and `ns add` in turn; the system must be
exactly as before: links, addresses, routes, the nft ruleset, sysctls, state and IPAM files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Lab, sh

DRIVER = str(Path(__file__).with_name("rollback_driver.py"))


def drive(lab: Lab, op: str, k: int, mode: str, target: str | None = None) -> dict[str, object]:
    args = [sys.executable, DRIVER, lab.host, str(lab.state), op, str(k), mode] + ([target] if target else [])
    p = subprocess.run(args, capture_output=True, text=True, timeout=60, env=lab.env())
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", ["fail", "sigint"])
def test_net_create_rolls_back_at_every_step(lab: Lab, mode: str) -> None:
    n = drive(lab, "create", -1, mode)["steps"]
    assert isinstance(n, int) and n >= 7  # bridge, 2 addresses, up, 2 sysctls, nft, state
    before = lab.snapshot()
    for k in range(n + 1):
        r = drive(lab, "create", k, mode)
        assert r["raised"] == ("KernelError" if mode == "fail" else "KeyboardInterrupt"), (k, r)
        assert lab.snapshot() == before, f"state differs after a {mode} injected before step {k}"
    # and without injection it really changes things (so the comparison can fail)
    lab.cli("net", "create", "rb", "--subnet", "10.60.0.0/24", "--subnet", "fd00:60::/64")
    assert lab.snapshot() != before


@pytest.mark.parametrize("mode", ["fail", "sigint"])
def test_attach_rolls_back_at_every_step(lab: Lab, mode: str) -> None:
    web, other = lab.netns(), lab.netns()
    lab.cli("net", "create", "rb", "--subnet", "10.60.0.0/24", "--subnet", "fd00:60::/64")
    lab.cli("attach", "rb", other)  # so the IPAM directory and last_reserved_ip already exist
    n = drive(lab, "attach", -1, mode, web)["steps"]
    assert isinstance(n, int) and n >= 5  # reserve, veth, sysctl, configure inside, record
    before = lab.snapshot(extra=[web])
    for k in range(n + 1):
        r = drive(lab, "attach", k, mode, web)
        assert r["raised"] == ("KernelError" if mode == "fail" else "KeyboardInterrupt"), (k, r)
        assert lab.snapshot(extra=[web]) == before, f"state differs after a {mode} injected before step {k}"
    lab.cli("attach", "rb", web)
    assert lab.snapshot(extra=[web]) != before


def test_first_attach_rollback_removes_the_ipam_directory(lab: Lab) -> None:
    web = lab.netns()
    lab.cli("net", "create", "rb", "--subnet", "10.60.0.0/24")
    before = lab.snapshot(extra=[web])
    assert not (lab.state / "ipam" / "rb").exists()
    n = drive(lab, "attach", -1, "fail", web)["steps"]
    assert isinstance(n, int)
    drive(lab, "attach", n, "fail", web)  # fails after every real step
    assert lab.snapshot(extra=[web]) == before
    assert not (lab.state / "ipam" / "rb").exists()


def test_ns_add_rolls_back(lab: Lab) -> None:
    name = lab.track(f"{lab.host}r")
    for k in range(3):
        r = drive(lab, "ns", k, "fail", name)
        assert r["raised"] == "KernelError"
        assert name not in sh("ip netns list").stdout


@pytest.mark.parametrize("op", ["attach-ports", "publish"])
@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_published_ports_roll_back_at_every_step(lab: Lab, op: str, backend: str) -> None:
    lab.firewall = backend
    web, other = lab.netns(), lab.netns()
    lab.cli("net", "create", "rb", "--subnet", "10.60.0.0/24", "--no-icc")
    lab.cli("attach", "rb", other, "-p", "7070:70")  # maps, claims and route_localnet already in use
    if op == "publish":
        lab.cli("attach", "rb", web)
    n = drive(lab, op, -1, "fail", web)["steps"]
    assert isinstance(n, int) and n >= 4
    localnet = "sysctl -n net.ipv4.conf.br-rb.route_localnet"

    def state() -> tuple[dict[str, str], str, str]:
        saved = lab.exec(lab.host, "iptables-save").stdout if backend == "iptables" else ""
        saved = "\n".join(ln for ln in saved.splitlines() if not ln.startswith("#"))
        return lab.snapshot(extra=[web]), lab.exec(lab.host, localnet).stdout, saved

    before = state()
    for k in range(n + 1):
        for mode in ("fail", "sigint"):
            r = drive(lab, op, k, mode, web)
            assert r["raised"] in ("KernelError", "KeyboardInterrupt"), (k, r)
            assert state() == before, f"{op}: state differs after a {mode} injected before step {k}"
    assert drive(lab, op, 10_000, "fail", web)["raised"] is None  # no injection: it goes through
    assert state() != before
