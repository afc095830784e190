"""Shared test set-up: a whole-run guard that the machine's own network namespace is left unchanged."""

from __future__ import annotations

import os
import subprocess

import pytest


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def root_snapshot() -> dict[str, str]:
    """Links, named namespaces, nftables ruleset and ip_forward of the root namespace."""
    links = sorted(line.split(": ")[1].split("@")[0] for line in _run(["ip", "-o", "link", "show"]).splitlines())
    try:
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            fwd = f.read().strip()
    except OSError:
        fwd = "?"
    return {
        "links": " ".join(links),
        "routes": _run(["ip", "route", "show", "table", "all"]),
        "nft": _run(["nft", "list", "ruleset"]),
        "ip_forward": fwd,
    }


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.geteuid() == 0:
        session.config._cnictl_root_before = root_snapshot()  # type: ignore[attr-defined]
        session.config._cnictl_netns_before = set(_run(["ip", "netns", "list"]).split())  # type: ignore[attr-defined]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = getattr(session.config, "_cnictl_root_before", None)
    if before is None:
        return
    after = root_snapshot()
    ns_before = session.config._cnictl_netns_before  # type: ignore[attr-defined]
    ns_after = {n for n in _run(["ip", "netns", "list"]).split() if not n.startswith("(")}
    problems = [f"{k} changed:\n  before: {before[k]!r}\n  after:  {after[k]!r}" for k in before if before[k] != after[k]]
    leaked = sorted(ns_after - ns_before)
    if leaked:
        problems.append(f"named namespaces left behind: {leaked}")
    if problems:
        print("\nROOT NAMESPACE GUARD FAILED: the test run changed the machine's own network namespace:")
        for p in problems:
            print("  " + p)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
