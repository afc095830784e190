"""Bad input on a real kernel: every failure is one documented exit code, one stderr line (or one JSON
object with --json), nothing on stdout, no traceback, and nothing changed in the host namespace, the
container namespaces or the state directory.

Each case runs twice in the same lab, plainly and with --json, with a snapshot check after each run.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.netns.conftest import Lab

pytestmark = pytest.mark.netns

CNICTL = str(Path(sys.executable).with_name("cnictl"))

SUBNET = "10.20.0.0/24"


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
@dataclass
class World:
    """A lab after set-up: the namespaces a case may refer to by placeholder."""

    lab: Lab
    names: dict[str, str] = field(default_factory=dict)

    def fill(self, args: tuple[str, ...]) -> list[str]:
        return [a.format(**self.names) for a in args]

    def extra(self) -> list[str]:
        return [v for k, v in self.names.items() if k in ("c", "d")]


def setup_world(lab: Lab, setup: str) -> World:
    """empty: nothing; lab: network lab (10.20.0.0/24) and two container namespaces c, d;
    attached: as lab, with c attached (it gets 10.20.0.2)."""
    world = World(lab, {"host": lab.host, "missing": f"{lab.host}missing"})
    if setup in ("lab", "attached"):
        lab.cli("net", "create", "lab", "--subnet", SUBNET)
        world.names["c"] = lab.netns("c")
        world.names["d"] = lab.netns("d")
    if setup == "attached":
        lab.cli("attach", "lab", world.names["c"])
    return world


def settled_snapshot(lab: Lab, extra: list[str], quiet: float = 1.2, timeout: float = 20) -> dict[str, str]:
    """The snapshot once nothing has changed for *quiet* seconds.

    The kernel reports carrier/operstate changes of new links (bridge, veth) through linkwatch, which
    batches events for up to a second machine-wide; a snapshot taken right after a set-up can
    therefore still change on its own, without any cnictl command running."""
    snap = lab.snapshot(extra=extra)
    since = time.monotonic()
    deadline = since + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = lab.snapshot(extra=extra)
        if now != snap:
            snap, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return snap


def assert_unchanged(lab: Lab, extra: list[str], before: dict[str, str]) -> None:
    """(e): the same snapshot as *before*; on failure, a diff of each part that changed."""
    after = lab.snapshot(extra=extra)
    if after != before:
        diffs = []
        for k in sorted(set(before) | set(after)):
            a, b = before.get(k, ""), after.get(k, "")
            if a != b:
                lines = difflib.unified_diff(a.splitlines(), b.splitlines(), "before", "after", lineterm="", n=0)
                diffs.append(f"[{k}]\n" + "\n".join(lines))
        pytest.fail("the failed command changed the system:\n" + "\n".join(diffs))


def assert_plain_error(p: subprocess.CompletedProcess[str], exit_code: int, names: list[str]) -> str:
    """(a)-(d) for a plain run; returns the message after `cnictl: error: `."""
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout, p.stderr
    assert p.returncode == exit_code, f"exit {p.returncode}, wanted {exit_code}; stderr: {p.stderr!r}"
    assert p.stdout == "", f"stdout not empty: {p.stdout!r}"
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and p.stderr.endswith("\n"), f"stderr is not one line: {p.stderr!r}"
    assert lines[0].startswith("cnictl: error: "), lines[0]
    for n in names:
        assert n in lines[0], f"{n!r} not named in {lines[0]!r}"
    return lines[0].removeprefix("cnictl: error: ")


def assert_json_error(p: subprocess.CompletedProcess[str], exit_code: int, err_type: str, names: list[str]) -> dict[str, Any]:
    """(f): one JSON line {"error": {"type", "message", "exit_code"}} on stderr, nothing else."""
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout, p.stderr
    assert p.returncode == exit_code, f"exit {p.returncode}, wanted {exit_code}; stderr: {p.stderr!r}"
    assert p.stdout == "", f"stdout not empty: {p.stdout!r}"
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and p.stderr.endswith("\n"), f"stderr is not one line: {p.stderr!r}"
    doc = json.loads(lines[0])
    assert set(doc) == {"error"}, doc
    err = doc["error"]
    assert set(err) == {"type", "message", "exit_code"}, err
    assert err["type"] == err_type
    assert err["exit_code"] == exit_code
    assert isinstance(err["message"], str) and "\n" not in err["message"]
    for n in names:
        assert n in err["message"], f"{n!r} not named in {err['message']!r}"
    return err


# ---------------------------------------------------------------------------------------
# the cases
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    exit_code: int
    err_type: str
    names: tuple[str, ...]  # what the message must name ({placeholders} allowed)
    setup: str = "lab"
    marks: tuple[Any, ...] = ()


NEW = ("net", "create", "b")
NEW_OK = (*NEW, "--subnet", "10.30.0.0/24")

CASES = [
    # subnets and gateways
    Case("cidr-octet-300", (*NEW, "--subnet", "10.0.0.300/24"), 2, "ConfigError", ("10.0.0.300/24",), "empty"),
    Case("cidr-banana", (*NEW, "--subnet", "banana"), 2, "ConfigError", ("banana",), "empty"),
    Case("cidr-no-prefix", (*NEW, "--subnet", "10.30.0.0"), 2, "ConfigError", ("10.30.0.0",), "empty"),
    Case("cidr-prefix-33", (*NEW, "--subnet", "10.30.0.0/33"), 2, "ConfigError", ("10.30.0.0/33",), "empty"),
    Case("subnet-host-bits", (*NEW, "--subnet", "10.20.0.5/24"), 2, "ConfigError", ("10.20.0.5/24",), "empty"),
    Case("gateway-outside", (*NEW_OK, "--gateway", "10.31.0.1"), 2, "ConfigError", ("10.31.0.1",), "empty"),
    Case("gateway-not-ip", (*NEW_OK, "--gateway", "gw"), 2, "ConfigError", ('"gw"',), "empty"),
    Case("gateway-broadcast", (*NEW_OK, "--gateway", "10.30.0.255"), 2, "ConfigError", ("10.30.0.255",), "empty"),
    Case("subnet-overlap", (*NEW, "--subnet", "10.20.0.128/25"), 4, "ConflictError", ("10.20.0.128/25", '"lab"')),
    Case("subnet-overlap-wider", (*NEW, "--subnet", "10.0.0.0/8"), 4, "ConflictError", ("10.0.0.0/8", '"lab"')),
    Case("duplicate-name", ("net", "create", "lab", "--subnet", "10.50.0.0/24"), 4, "ConflictError", ('"lab"',)),
    # bridge names
    Case("bridge-16-bytes", (*NEW_OK, "--bridge", "abcdefghijklmnop"), 2, "ConfigError", ('"abcdefghijklmnop"',), "empty"),
    Case("bridge-16-bytes-utf8", (*NEW_OK, "--bridge", "é" * 8), 2, "ConfigError", (f'"{"é" * 8}"',), "empty"),
    Case("bridge-slash", (*NEW_OK, "--bridge", "br/x"), 2, "ConfigError", ('"br/x"',), "empty"),
    Case("bridge-colon", (*NEW_OK, "--bridge", "br:x"), 2, "ConfigError", ('"br:x"',), "empty"),
    Case("bridge-space", (*NEW_OK, "--bridge", "br x"), 2, "ConfigError", ('"br x"',), "empty"),
    Case("bridge-dotdot", (*NEW_OK, "--bridge", ".."), 2, "ConfigError", ('".."',), "empty"),
    Case("bridge-in-use", (*NEW_OK, "--bridge", "br-lab"), 4, "ConflictError", ("br-lab", '"lab"')),
    Case("bridge-not-a-bridge", (*NEW_OK, "--bridge", "lo"), 4, "ConflictError", ("lo",)),
    # the kernel expands "%d" in a new link's name (br%d -> br0): cnictl must refuse it up front
    Case("bridge-percent-d", (*NEW_OK, "--bridge", "br%d"), 2, "ConfigError", ('"br%d"',), "empty"),
    # network names that are not safe file names
    Case("name-slash", ("net", "create", "a/b", "--subnet", "10.30.0.0/24"), 2, "ConfigError", ('"a/b"',), "empty"),
    Case("name-dotdot-slash", ("net", "create", "x/../../y", "--subnet", "10.30.0.0/24"), 2, "ConfigError",
         ('"x/../../y"',), "empty"),
    Case("name-space", ("net", "create", "a b", "--subnet", "10.30.0.0/24"), 2, "ConfigError", ('"a b"',), "empty"),
    Case("name-hidden", ("net", "create", ".hidden", "--subnet", "10.30.0.0/24"), 2, "ConfigError", ('".hidden"',), "empty"),
    Case("name-64-chars", ("net", "create", "n" * 64, "--subnet", "10.30.0.0/24"), 2, "ConfigError", ("n" * 64,), "empty"),
    Case("name-newline", ("net", "create", "a\nb", "--subnet", "10.30.0.0/24"), 2, "ConfigError", ("a b",), "empty"),
    # "$" in a regex also matches before a trailing newline: "lab2\n" must not become networks/lab2\n.json
    Case("name-trailing-newline", ("net", "create", "lab2\n", "--subnet", "10.30.0.0/24", "--bridge", "brx"), 2, "ConfigError",
         ('"lab2 "',), "empty"),
    Case("inspect-name-slash", ("net", "inspect", "../networks/lab"), 2, "ConfigError", ('"../networks/lab"',)),
    Case("rm-name-slash", ("net", "rm", "../networks/lab"), 2, "ConfigError", ('"../networks/lab"',)),
    # unknown network
    Case("attach-unknown-net", ("attach", "nope", "{c}"), 3, "NotFoundError", ('"nope"',)),
    Case("detach-unknown-net", ("detach", "nope", "{c}"), 3, "NotFoundError", ('"nope"',)),
    Case("rm-unknown-net", ("net", "rm", "nope"), 3, "NotFoundError", ('"nope"',)),
    Case("inspect-unknown-net", ("net", "inspect", "nope"), 3, "NotFoundError", ('"nope"',)),
    Case("ipam-show-unknown-net", ("ipam", "show", "nope"), 3, "NotFoundError", ('"nope"',)),
    Case("ipam-release-unknown-net", ("ipam", "release", "nope", "10.20.0.2"), 3, "NotFoundError", ('"nope"',)),
    # drivers
    Case("unknown-driver", (*NEW_OK, "--driver", "ovs"), 2, "ConfigError", ('"ovs"',), "empty"),
    Case("macvlan-without-parent", (*NEW_OK, "--driver", "macvlan"), 2, "ConfigError", ("--parent",), "empty"),
    # namespaces
    Case("attach-missing-netns", ("attach", "lab", "{missing}"), 3, "NetnsNotFoundError", ('"{missing}"',)),
    Case("attach-missing-netns-path", ("attach", "lab", "/proc/999999/ns/net"), 3, "NetnsNotFoundError",
         ('"/proc/999999/ns/net"',)),
    Case("attach-bad-netns-name", ("attach", "lab", "bad name"), 2, "ConfigError", ('"bad name"',)),
    Case("attach-ifname-exists", ("attach", "lab", "{c}", "--ifname", "lo"), 4, "ConflictError", ('"lo"', "{c}")),
    Case("attach-ifname-too-long", ("attach", "lab", "{c}", "--ifname", "eth0123456789012"), 2, "ConfigError",
         ('"eth0123456789012"',)),
    Case("attach-ifname-slash", ("attach", "lab", "{c}", "--ifname", "e/0"), 2, "ConfigError", ('"e/0"',)),
    Case("attach-ifname-empty", ("attach", "lab", "{c}", "--ifname", ""), 2, "ConfigError", ('""',)),
    Case("attach-ifname-percent-d", ("attach", "lab", "{c}", "--ifname", "e%d"), 2, "ConfigError", ('"e%d"',)),
    Case("attach-bad-container-id", ("attach", "lab", "{c}", "--id", "a/b"), 2, "ConfigError", ('"a/b"',)),
    # requested addresses
    Case("ip-outside", ("attach", "lab", "{c}", "--ip", "10.99.0.5"), 2, "ConfigError", ("10.99.0.5",)),
    Case("ip-other-family", ("attach", "lab", "{c}", "--ip", "fd00::5"), 2, "ConfigError", ("fd00::5",)),
    Case("ip-gateway", ("attach", "lab", "{c}", "--ip", "10.20.0.1"), 2, "ConfigError", ("10.20.0.1",)),
    Case("ip-broadcast", ("attach", "lab", "{c}", "--ip", "10.20.0.255"), 2, "ConfigError", ("10.20.0.255",)),
    Case("ip-network-address", ("attach", "lab", "{c}", "--ip", "10.20.0.0"), 2, "ConfigError", ("10.20.0.0",)),
    Case("ip-taken", ("attach", "lab", "{d}", "--ip", "10.20.0.2"), 4, "ConflictError", ("10.20.0.2",), "attached"),
    Case("ip-text", ("attach", "lab", "{c}", "--ip", "bogus"), 2, "ConfigError", ('"bogus"',)),
    Case("ip-with-prefix", ("attach", "lab", "{c}", "--ip", "10.20.0.9/24"), 2, "ConfigError", ('"10.20.0.9/24"',)),
    Case("ipam-release-not-reserved", ("ipam", "release", "lab", "10.20.0.99"), 3, "NotFoundError", ("10.20.0.99",)),
    Case("ipam-release-bad-ip", ("ipam", "release", "lab", "bogus"), 2, "ConfigError", ('"bogus"',)),
    # more subnet shapes
    Case("subnet-slash-31", (*NEW, "--subnet", "10.30.0.0/31"), 2, "ConfigError", ("10.30.0.0/31",), "empty"),
    Case("two-ipv4-subnets", (*NEW, "--subnet", "10.30.0.0/24", "--subnet", "10.31.0.0/24"), 2, "ConfigError",
         ("--subnet",), "empty"),
    Case("ip-range-outside", (*NEW_OK, "--ip-range", "10.31.0.0/25"), 2, "ConfigError", ("10.31.0.0/25",), "empty"),
    # attachments
    Case("rm-with-attachments", ("net", "rm", "lab"), 4, "ConflictError", ('"lab"', "{c}/eth0"), "attached"),
    Case("reattach-other-ip", ("attach", "lab", "{c}", "--ip", "10.20.0.77"), 4, "ConflictError", ("{c}/eth0",), "attached"),
    # MTU, MAC, labels
    Case("mtu-10", (*NEW_OK, "--mtu", "10"), 2, "ConfigError", ("MTU 10",), "empty"),
    Case("mtu-70000", (*NEW_OK, "--mtu", "70000"), 2, "ConfigError", ("MTU 70000",), "empty"),
    Case("mtu-ipv6-1000", (*NEW, "--subnet", "fd00:30::/64", "--mtu", "1000"), 2, "ConfigError", ("MTU 1000",), "empty"),
    Case("mac-text", ("attach", "lab", "{c}", "--mac", "zz"), 2, "ConfigError", ('"zz"',)),
    Case("mac-short", ("attach", "lab", "{c}", "--mac", "02:42:ac:11:00"), 2, "ConfigError", ('"02:42:ac:11:00"',)),
    Case("mac-multicast", ("attach", "lab", "{c}", "--mac", "01:00:5e:00:00:01"), 2, "ConfigError", ('"01:00:5e:00:00:01"',)),
    Case("mac-zero", ("attach", "lab", "{c}", "--mac", "00:00:00:00:00:00"), 2, "ConfigError", ('"00:00:00:00:00:00"',)),
    Case("label-no-equals", (*NEW_OK, "--label", "env"), 2, "ConfigError", ('"env"',), "empty"),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_input_fails_cleanly(lab: Lab, case: Case) -> None:
    world = setup_world(lab, case.setup)
    args = world.fill(case.args)
    names = world.fill(case.names)
    before = settled_snapshot(lab, world.extra()) if case.setup != "empty" else lab.snapshot(extra=world.extra())

    plain = lab.cli(*args, check=False)
    message = assert_plain_error(plain, case.exit_code, names)
    assert_unchanged(lab, world.extra(), before)

    js = lab.cli("--json", *args, check=False)
    err = assert_json_error(js, case.exit_code, case.err_type, names)
    assert err["message"] == message
    assert_unchanged(lab, world.extra(), before)


@pytest.mark.parametrize("path", ["/etc/hostname", "/proc/self/ns/pid"])
def test_attach_to_a_path_that_is_not_a_netns(lab: Lab, path: str) -> None:
    world = setup_world(lab, "lab")
    before = settled_snapshot(lab, world.extra())
    p = lab.cli("attach", "lab", path, check=False)
    assert p.returncode in (2, 3), p.stderr
    assert_plain_error(p, p.returncode, [f'"{path}"'])
    assert_unchanged(lab, world.extra(), before)
    p = lab.cli("--json", "attach", "lab", path, check=False)
    assert_json_error(p, p.returncode, "ConfigError" if p.returncode == 2 else "NetnsNotFoundError", [f'"{path}"'])
    assert_unchanged(lab, world.extra(), before)


@pytest.mark.parametrize("args", [
    pytest.param(("net", "create", "b", "--subnet", "10.30.0.0/24", "--mtu", "abc"), id="mtu-not-a-number"),
    pytest.param(("net", "create", "b", "--subnet", "10.30.0.0/24", "--bogus"), id="unknown-option"),
])
def test_usage_errors_are_one_line(lab: Lab, args: tuple[str, ...]) -> None:
    before = lab.snapshot()
    p = lab.cli(*args, check=False)
    assert_plain_error(p, 2, [])
    assert_json_error(lab.cli("--json", *args, check=False), 2, "ConfigError", [])
    assert_unchanged(lab, [], before)


def test_json_flag_on_the_subcommand(lab: Lab) -> None:
    """--json after the subcommand (its own option) also turns the error into JSON."""
    world = setup_world(lab, "lab")
    before = settled_snapshot(lab, world.extra())
    p = lab.cli("net", "inspect", "nope", "--json", check=False)
    assert_json_error(p, 3, "NotFoundError", ['"nope"'])
    p = lab.cli("attach", "lab", world.names["c"], "--json", "--mac", "zz", check=False)
    assert_json_error(p, 2, "ConfigError", ['"zz"'])
    assert_unchanged(lab, world.extra(), before)


def test_cnictl_output_json_env(lab: Lab) -> None:
    world = setup_world(lab, "lab")
    env = dict(lab.env(), CNICTL_OUTPUT="json")
    p = subprocess.run([CNICTL, "--netns", lab.host, "net", "rm", "nope"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert_json_error(p, 3, "NotFoundError", ['"nope"'])
    assert world.names["c"]


def test_pool_exhausted(lab: Lab) -> None:
    """A /30 holds one container: the second attach fails with exit 1 and leaves no trace."""
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/30")
    c, d = lab.netns("c"), lab.netns("d")
    lab.cli("attach", "lab", c)
    before = settled_snapshot(lab, [c, d])

    p = lab.cli("attach", "lab", d, check=False)
    assert_plain_error(p, 1, ["10.20.0.0/30"])
    assert_unchanged(lab, [c, d], before)

    p = lab.cli("--json", "attach", "lab", d, check=False)
    assert_json_error(p, 1, "IpamExhaustedError", ["10.20.0.0/30"])
    assert_unchanged(lab, [c, d], before)

    # the first container is untouched and still reachable
    assert "10.20.0.2/30" in lab.ip(c, "-o addr show dev eth0")
    assert lab.ping(c, "10.20.0.1")


def test_pool_exhausted_with_requested_ip_taken_is_a_conflict(lab: Lab) -> None:
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/30")
    c, d = lab.netns("c"), lab.netns("d")
    lab.cli("attach", "lab", c)
    before = settled_snapshot(lab, [c, d])
    p = lab.cli("attach", "lab", d, "--ip", "10.20.0.2", check=False)
    assert_plain_error(p, 4, ["10.20.0.2"])
    assert_unchanged(lab, [c, d], before)


def test_failed_create_does_not_block_a_good_one(lab: Lab) -> None:
    """After a rejected create, the same name can be created: no half-written state blocks it."""
    p = lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24", "--mtu", "10", check=False)
    assert p.returncode == 2
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    assert lab.json("net", "inspect", "lab")["subnets"][0]["subnet"] == "10.20.0.0/24"


# ---------------------------------------------------------------------------------------
# privilege
# ---------------------------------------------------------------------------------------
def _root_links() -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, timeout=30).stdout
    return sorted(line.split(": ")[1].split("@")[0] for line in out.splitlines())


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is not installed")
@pytest.mark.parametrize("json_mode", [False, True], ids=["plain", "json"])
def test_not_root_fails_before_touching_anything(json_mode: bool) -> None:
    """As nobody, without --netns: exit 6 before any change. The state dir is world-writable, so a
    missing privilege check would show up as files in it; the subnet is one no test uses."""
    state = Path(tempfile.mkdtemp(prefix="cnictl-nobody-"))
    try:
        state.chmod(0o777)
        env = {k: v for k, v in os.environ.items() if k not in ("CNICTL_DEBUG", "CNICTL_OUTPUT")}
        env["CNICTL_STATE_DIR"] = str(state)
        links = _root_links()
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", CNICTL]
        cmd += (["--json"] if json_mode else []) + ["net", "create", "x", "--subnet", "10.40.0.0/24"]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, cwd="/")
        if json_mode:
            assert_json_error(p, 6, "PrivilegeError", ["net create", "root"])
        else:
            assert_plain_error(p, 6, ["net create", "root"])
        assert list(state.rglob("*")) == []
        assert _root_links() == links
        assert "br-x" not in links
    finally:
        shutil.rmtree(state, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# CNICTL_DEBUG
# ---------------------------------------------------------------------------------------
def test_debug_shows_the_traceback(lab: Lab) -> None:
    """The quiet one-liner is a switch: CNICTL_DEBUG=1 prints the traceback, then the same error line."""
    args = ["--netns", lab.host, "net", "create", "b", "--subnet", "banana"]
    quiet = lab.cli(*args[2:], check=False)
    assert "Traceback" not in quiet.stderr
    env = dict(lab.env(), CNICTL_DEBUG="1")
    p = subprocess.run([CNICTL, *args], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 2
    assert p.stdout == ""
    assert "Traceback (most recent call last)" in p.stderr
    assert "ConfigError" in p.stderr
    assert p.stderr.splitlines()[-1] == quiet.stderr.strip()
