"""Input validation and error reporting without root or a kernel: the validators the CLI calls before it
touches anything, the error classes, and the CLI's own entry points (--version, --help, unknown command,
and run()'s mapping of an error to one stderr line and an exit code)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cnictl import __version__, errors
from cnictl.cli import main, state
from cnictl.errors import (
    ALL_ERRORS,
    CnictlError,
    CniError,
    ConfigError,
    ConflictError,
    DependencyError,
    FirewallError,
    Interrupted,
    IpamExhaustedError,
    KernelError,
    NetnsNotFoundError,
    NotFoundError,
    PrivilegeError,
    RollbackIncompleteError,
    TransientError,
    UnsupportedFieldError,
)
from cnictl.ipam.allocator import Range, parse_ip
from cnictl.model import parse_labels, validate_ifname, validate_mac, validate_mtu, validate_network_name
from cnictl.netns import NetnsRef


def raises_config(func: Any, *args: Any, **kwargs: Any) -> str:
    """Call *func*, expect a ConfigError, and return its one-line message."""
    with pytest.raises(ConfigError) as info:
        func(*args, **kwargs)
    e = info.value
    assert e.exit_code == 2
    line = e.one_line()
    assert "\n" not in line
    return line


# ---------------------------------------------------------------------------------------
# interface names (IFNAMSIZ, the kernel's dev_valid_name)
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["eth0", "e", "a" * 15, "br-lab", "veth.1_x-y", "é" * 7])
def test_ifname_ok(name: str) -> None:
    assert validate_ifname(name) == name


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("a" * 16, id="16-ascii"),
        pytest.param("é" * 8, id="16-bytes-utf8"),
        pytest.param("eth0123456789012", id="16-mixed"),
    ],
)
def test_ifname_length(name: str) -> None:
    msg = raises_config(validate_ifname, name)
    assert f'"{name}"' in msg
    assert "1-15 bytes" in msg


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(".", id="dot"),
        pytest.param("..", id="dotdot"),
        pytest.param("a/b", id="slash"),
        pytest.param("a:b", id="colon"),
        pytest.param("a b", id="space"),
        pytest.param("a\tb", id="tab"),
        pytest.param("eth0\n", id="newline"),
        pytest.param("e%d", id="percent-d"),  # the kernel would expand it to e0
    ],
)
def test_ifname_bad_characters(name: str) -> None:
    msg = raises_config(validate_ifname, name)
    assert name.replace("\n", " ") in msg


def test_ifname_message_says_what_it_checked() -> None:
    assert raises_config(validate_ifname, "a/b", "bridge name").startswith('bridge name "a/b"')
    assert raises_config(validate_ifname, "a" * 16).startswith('interface name "')


# ---------------------------------------------------------------------------------------
# network names (used as file names)
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["lab", "a", "Lab1", "lab-1_x.y", "1lab", "n" * 63])
def test_network_name_ok(name: str) -> None:
    assert validate_network_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("a/b", id="slash"),
        pytest.param("../x", id="parent"),
        pytest.param("a b", id="space"),
        pytest.param(".hidden", id="hidden"),
        pytest.param(".", id="dot"),
        pytest.param("..", id="dotdot"),
        pytest.param("-x", id="dash-first"),
        pytest.param("_x", id="underscore-first"),
        pytest.param("n" * 64, id="64-chars"),
        pytest.param("a\nb", id="inner-newline"),
        pytest.param("lab\x00", id="nul"),
        pytest.param("läb", id="non-ascii"),
        pytest.param("lab\n", id="trailing-newline"),  # "$" alone would let this through
    ],
)
def test_network_name_bad(name: str) -> None:
    msg = raises_config(validate_network_name, name)
    assert msg.startswith(f'invalid network name "{name.replace(chr(10), " ")}"')
    assert "example: lab1" in msg


# ---------------------------------------------------------------------------------------
# MTU, MAC, labels
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("mtu", "ipv6"), [(None, False), (None, True), (68, False), (1500, False), (65535, False),
                                           (1280, True), (9000, True)])
def test_mtu_ok(mtu: int | None, ipv6: bool) -> None:
    assert validate_mtu(mtu, ipv6=ipv6) == mtu


@pytest.mark.parametrize(("mtu", "ipv6", "low"), [(10, False, 68), (67, False, 68), (0, False, 68), (-1, False, 68),
                                                  (65536, False, 68), (70000, False, 68), (1279, True, 1280),
                                                  (1000, True, 1280), (70000, True, 1280)])
def test_mtu_bad(mtu: int, ipv6: bool, low: int) -> None:
    msg = raises_config(validate_mtu, mtu, ipv6=ipv6)
    assert f"MTU {mtu}" in msg
    assert f"{low}-65535" in msg


@pytest.mark.parametrize(("mac", "want"), [(None, None), ("02:42:ac:11:00:02", "02:42:ac:11:00:02"),
                                           ("02:42:AC:11:00:02", "02:42:ac:11:00:02"), ("aa:bb:cc:dd:ee:ff", None)])
def test_mac_ok(mac: str | None, want: str | None) -> None:
    assert validate_mac(mac) == (want or mac)


@pytest.mark.parametrize(
    "mac",
    [
        pytest.param("zz", id="text"),
        pytest.param("", id="empty"),
        pytest.param("02:42:ac:11:00", id="short"),
        pytest.param("02:42:ac:11:00:02:03", id="long"),
        pytest.param("02-42-ac-11-00-02", id="dashes"),
        pytest.param("0242.ac11.0002", id="cisco"),
        pytest.param("2:42:ac:11:0:2", id="single-digits"),
        pytest.param("01:00:5e:00:00:01", id="multicast"),
        pytest.param("ff:ff:ff:ff:ff:ff", id="broadcast"),
        pytest.param("00:00:00:00:00:00", id="all-zero"),  # the kernel refuses it (EADDRNOTAVAIL)
        pytest.param("02:42:ac:11:00:02\n", id="trailing-newline"),
    ],
)
def test_mac_bad(mac: str) -> None:
    msg = raises_config(validate_mac, mac)
    assert msg.startswith(f'bad MAC address "{mac.strip()}')
    assert "unicast" in msg


@pytest.mark.parametrize(("items", "want"), [
    ([], {}),
    (["env=lab"], {"env": "lab"}),
    (["a=1", "b=2"], {"a": "1", "b": "2"}),
    (["a="], {"a": ""}),
    (["a=b=c"], {"a": "b=c"}),
    (["a=1", "a=2"], {"a": "2"}),
])
def test_labels_ok(items: list[str], want: dict[str, str]) -> None:
    assert parse_labels(items) == want


@pytest.mark.parametrize("item", ["env", "=lab", "", "="])
def test_labels_bad(item: str) -> None:
    msg = raises_config(parse_labels, ["ok=1", item])
    assert msg.startswith(f'bad label "{item}"')
    assert "KEY=VALUE" in msg


# ---------------------------------------------------------------------------------------
# Range.build and parse_ip
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "starts", "contains"),
    [
        (("10.0.0.300/24",), 'invalid subnet "10.0.0.300/24": not an IP network in CIDR form', "example: 10.20.0.0/24"),
        (("banana",), 'invalid subnet "banana": not an IP network in CIDR form', "example: 10.20.0.0/24"),
        (("10.20.0.0",), 'invalid subnet "10.20.0.0": not an IP network in CIDR form', "CIDR"),
        (("10.20.0.0/33",), 'invalid subnet "10.20.0.0/33"', "CIDR"),
        (("",), 'invalid subnet ""', "CIDR"),
        (("10.20.0.5/24",), 'subnet "10.20.0.5/24" has host bits set', "use 10.20.0.0/24"),
        (("fd00::5/64",), 'subnet "fd00::5/64" has host bits set', "use fd00::/64"),
        (("10.20.0.0/31",), "subnet 10.20.0.0/31 is too small to allocate from", "/30 or shorter prefix for IPv4"),
        (("10.20.0.0/32",), "subnet 10.20.0.0/32 is too small", "IPv4"),
        (("fd00::/127",), "subnet fd00::/127 is too small to allocate from", "/126 or shorter prefix for IPv6"),
        (("10.20.0.0/24", "10.21.0.1"), "gateway 10.21.0.1 is outside subnet 10.20.0.0/24", "inside"),
        (("10.20.0.0/24", "fd00::1"), "gateway fd00::1 is IPv6 but subnet 10.20.0.0/24 is IPv4", "inside"),
        (("10.20.0.0/24", "gw"), 'invalid gateway "gw": not an IP address', "example: 10.20.0.5"),
        (("10.20.0.0/24", "10.20.0.0"), "gateway 10.20.0.0 is the network address of subnet 10.20.0.0/24", "10.20.0.1"),
        (("10.20.0.0/24", "10.20.0.255"), "gateway 10.20.0.255 is the broadcast address of subnet 10.20.0.0/24",
         "10.20.0.1"),
        (("10.20.0.0/24", None, "x"), 'invalid ip range "x": not an IP network in CIDR form', "example: 10.20.0.0/25"),
        (("10.20.0.0/24", None, "10.20.0.5/25"), 'ip range "10.20.0.5/25" has host bits set', "use 10.20.0.0/25"),
        (("10.20.0.0/24", None, "10.21.0.0/25"), "ip range 10.21.0.0/25 is not inside subnet 10.20.0.0/24", "inside"),
        (("10.20.0.0/24", None, "10.0.0.0/8"), "ip range 10.0.0.0/8 is not inside subnet 10.20.0.0/24", "inside"),
        (("10.20.0.0/24", None, "fd00::/64"), "ip range fd00::/64 is IPv6 but subnet 10.20.0.0/24 is IPv4", "inside"),
        (("10.20.0.0/24", None, "10.20.0.0/32"), "ip range 10.20.0.0/32 has no usable address in subnet 10.20.0.0/24",
         "larger range"),
        (("10.20.0.0/24", None, "10.20.0.1/32"), "range 10.20.0.1-10.20.0.1 of subnet 10.20.0.0/24 holds only the gateway",
         "10.20.0.1"),
    ],
)
def test_range_build_errors(args: tuple[Any, ...], starts: str, contains: str) -> None:
    msg = raises_config(Range.build, *args)
    assert msg.startswith(starts), msg
    assert contains in msg


@pytest.mark.parametrize(("args", "gateway", "start", "end", "capacity"), [
    (("10.20.0.0/24",), "10.20.0.1", "10.20.0.1", "10.20.0.254", 253),
    ((" 10.20.0.0/24 ",), "10.20.0.1", "10.20.0.1", "10.20.0.254", 253),
    (("10.20.0.0/30",), "10.20.0.1", "10.20.0.1", "10.20.0.2", 1),
    (("10.20.0.0/24", "10.20.0.254"), "10.20.0.254", "10.20.0.1", "10.20.0.254", 253),
    (("10.20.0.0/24", None, "10.20.0.128/25"), "10.20.0.1", "10.20.0.128", "10.20.0.254", 127),
    (("fd00::/126",), "fd00::1", "fd00::1", "fd00::3", 2),
])
def test_range_build_ok(args: tuple[Any, ...], gateway: str, start: str, end: str, capacity: int) -> None:
    r = Range.build(*args)
    assert (str(r.gateway), str(r.range_start), str(r.range_end), r.capacity()) == (gateway, start, end, capacity)


def test_parse_ip_names_what_and_value() -> None:
    msg = raises_config(parse_ip, "bogus", "--ip")
    assert msg.startswith('invalid --ip "bogus": not an IP address')
    assert raises_config(parse_ip, "10.20.0.5/24").startswith('invalid IP address "10.20.0.5/24"')
    assert str(parse_ip(" 10.20.0.5 ")) == "10.20.0.5"


# ---------------------------------------------------------------------------------------
# NetnsRef.parse
# ---------------------------------------------------------------------------------------
def test_netns_ref_by_name() -> None:
    ref = NetnsRef.parse("web")
    assert (ref.spec, ref.path, ref.name, ref.key) == ("web", "/run/netns/web", "web", "web")
    assert ref.ip_prefix() == "ip -n web"
    assert ref.exec_prefix() == "ip netns exec web"


def test_netns_ref_by_path() -> None:
    ref = NetnsRef.parse("/proc/123/ns/net")
    assert (ref.spec, ref.path, ref.name) == ("/proc/123/ns/net", "/proc/123/ns/net", None)
    assert ref.key == "path-" + hashlib.sha256(b"/proc/123/ns/net").hexdigest()[:12]
    assert ref.ip_prefix() == "nsenter --net=/proc/123/ns/net ip"
    # the key is of the normalised path, so spellings of one path share state
    assert NetnsRef.parse("/proc/123/ns/../ns//net").key == ref.key
    assert NetnsRef.parse("/proc/124/ns/net").key != ref.key


def test_netns_ref_relative_path_is_a_path() -> None:
    ref = NetnsRef.parse("./ns/net")
    assert ref.name is None and ref.path == "ns/net"


@pytest.mark.parametrize(
    ("spec", "starts"),
    [
        pytest.param("", "empty network namespace", id="empty"),
        pytest.param("a b", 'invalid namespace name "a b"', id="space"),
        pytest.param(".hidden", 'invalid namespace name ".hidden"', id="hidden"),
        pytest.param("-x", 'invalid namespace name "-x"', id="dash-first"),
        pytest.param("n" * 64, f'invalid namespace name "{"n" * 64}"', id="64-chars"),
        pytest.param("web\n", 'invalid namespace name "web ', id="trailing-newline"),
    ],
)
def test_netns_ref_bad(spec: str, starts: str) -> None:
    assert raises_config(NetnsRef.parse, spec).startswith(starts)


def test_netns_ref_parse_does_not_touch_the_filesystem() -> None:
    NetnsRef.parse("surely-missing-namespace")
    NetnsRef.parse("/surely/missing/path")


# ---------------------------------------------------------------------------------------
# error classes
# ---------------------------------------------------------------------------------------
EXPECTED = {
    CnictlError: (1, 999, False),
    ConfigError: (2, 7, False),
    UnsupportedFieldError: (2, 2, False),
    NotFoundError: (3, 999, False),
    NetnsNotFoundError: (3, 3, False),
    ConflictError: (4, 7, False),
    IpamExhaustedError: (1, 100, False),
    KernelError: (1, 999, False),
    FirewallError: (1, 999, False),
    RollbackIncompleteError: (5, 999, False),
    PrivilegeError: (6, 999, False),
    DependencyError: (6, 50, False),
    TransientError: (75, 11, True),
    Interrupted: (130, 999, False),
    CniError: (1, 999, False),  # its code is the plugin's: CniError(7, ...).cni_code == 7
}


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_error_codes(cls: type[CnictlError]) -> None:
    e = cls(999, "boom") if cls is CniError else cls("boom")  # type: ignore[call-arg]
    assert (e.exit_code, e.cni_code, e.retryable) == EXPECTED[cls]
    assert issubclass(cls, CnictlError)
    assert cls.__doc__, f"{cls.__name__} needs a docstring (docs/errors.md is generated from it)"


def test_all_errors_lists_every_class() -> None:
    found = {v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, CnictlError)}
    assert found == set(ALL_ERRORS) == set(EXPECTED)
    assert len(ALL_ERRORS) == len(set(ALL_ERRORS))


def test_error_subclassing() -> None:
    assert issubclass(NetnsNotFoundError, NotFoundError)
    assert issubclass(UnsupportedFieldError, ConfigError)
    assert issubclass(FirewallError, KernelError)


@pytest.mark.parametrize("errno", [11, 16])
def test_kernel_error_busy_is_retryable(errno: int) -> None:
    e = KernelError("ip link add x: busy", errno=errno)
    assert (e.retryable, e.cni_code, e.exit_code, e.errno) == (True, 11, 1, errno)
    # the class itself is unchanged
    assert (KernelError.retryable, KernelError.cni_code) == (False, 999)
    assert FirewallError("nft", errno=16).retryable


@pytest.mark.parametrize("errno", [None, 1, 17, 22])
def test_kernel_error_other_errno_is_not_retryable(errno: int | None) -> None:
    e = KernelError("x", errno=errno)
    assert (e.retryable, e.cni_code) == (False, 999)


def test_one_line_and_to_dict() -> None:
    e = NotFoundError('network "lab" not found', hint="see: cnictl net ls")
    assert e.message == 'network "lab" not found'
    assert str(e) == 'network "lab" not found'
    assert e.one_line() == 'network "lab" not found (see: cnictl net ls)'
    assert e.to_dict() == {"type": "NotFoundError", "message": e.one_line(), "exit_code": 3}
    assert json.loads(json.dumps(e.to_dict())) == e.to_dict()


def test_one_line_without_hint_and_with_newlines() -> None:
    assert ConfigError("bad").one_line() == "bad"
    e = CnictlError("partly removed:\nbr-lab\nrules", hint="run it\nagain")
    assert e.one_line() == "partly removed: br-lab rules (run it again)"
    assert "\n" not in str(e.to_dict()["message"])
    assert e.to_dict()["type"] == "CnictlError"


# ---------------------------------------------------------------------------------------
# the CLI: version, help, unknown command, run()'s error mapping
# ---------------------------------------------------------------------------------------
runner = CliRunner()


def test_version() -> None:
    res = runner.invoke(main.app, ["--version"])
    assert res.exit_code == 0
    assert res.stdout == f"cnictl {__version__}\n"


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["net", "--help"], ["net", "create", "--help"], ["attach", "-h"]])
def test_help(args: list[str]) -> None:
    res = runner.invoke(main.app, args)
    assert res.exit_code == 0, res.output
    assert "Usage:" in res.stdout


def test_help_lists_the_commands() -> None:
    out = runner.invoke(main.app, ["--help"]).stdout
    for cmd in ("attach", "detach", "net", "ns", "ipam", "forward", "fw"):
        assert cmd in out


def test_unknown_command() -> None:
    res = runner.invoke(main.app, ["bogus"])
    assert res.exit_code == 2
    assert "bogus" in res.stderr
    assert res.stdout == ""


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("CNICTL_DEBUG", "CNICTL_OUTPUT", "CNICTL_FIREWALL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CNICTL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(state, "JSON_ERRORS", False)


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """cnictl.cli.main.run() in-process, as the console script calls it."""
    monkeypatch.setattr(sys, "argv", ["cnictl", *args])
    with pytest.raises(SystemExit) as info:
        main.run()
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


# `net create` parses --label before it looks at the host: a path with no privilege or kernel access.
BAD_LABEL = ("net", "create", "b", "--subnet", "10.30.0.0/24", "--label", "oops")


@pytest.mark.usefixtures("clean_env")
def test_run_prints_one_error_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(monkeypatch, capsys, *BAD_LABEL)
    assert code == 2
    assert out == ""
    assert err == 'cnictl: error: bad label "oops": use KEY=VALUE (example: env=lab)\n'


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("where", ["global", "command", "env"])
def test_run_prints_json_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], where: str) -> None:
    args = list(BAD_LABEL)
    if where == "global":
        args.insert(0, "--json")
    elif where == "command":
        args.append("--json")
    else:
        monkeypatch.setenv("CNICTL_OUTPUT", "json")
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert json.loads(err) == {"error": {"type": "ConfigError", "message": 'bad label "oops": use KEY=VALUE (example: env=lab)',
                                         "exit_code": 2}}


def _explode(items: list[str]) -> dict[str, str]:
    raise RuntimeError("kaboom")


@pytest.mark.usefixtures("clean_env")
def test_run_turns_an_unexpected_exception_into_one_line(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import cnictl.model

    monkeypatch.setattr(cnictl.model, "parse_labels", _explode)
    code, out, err = run_cli(monkeypatch, capsys, *BAD_LABEL)
    assert code == 1
    assert out == ""
    assert err == "cnictl: error: internal error: RuntimeError: kaboom (rerun with CNICTL_DEBUG=1 for a traceback)\n"
    assert "Traceback" not in err


@pytest.mark.usefixtures("clean_env")
def test_run_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CNICTL_DEBUG", "1")
    code, out, err = run_cli(monkeypatch, capsys, *BAD_LABEL)
    assert code == 2
    assert "Traceback (most recent call last)" in err
    assert err.splitlines()[-1] == 'cnictl: error: bad label "oops": use KEY=VALUE (example: env=lab)'


@pytest.mark.usefixtures("clean_env")
def test_run_debug_reraises_unexpected_exceptions(monkeypatch: pytest.MonkeyPatch) -> None:
    import cnictl.model

    monkeypatch.setenv("CNICTL_DEBUG", "1")
    monkeypatch.setattr(cnictl.model, "parse_labels", _explode)
    monkeypatch.setattr(sys, "argv", ["cnictl", *BAD_LABEL])
    with pytest.raises(RuntimeError, match="kaboom"):
        main.run()
