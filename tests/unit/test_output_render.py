"""Human output: every listing fits 80 columns on a terminal, colour only where it belongs, and each --format.

The listings run for real (CliRunner, in-process) against a state directory written here, with long,
realistic rows: a 17-letter network name, dual-stack subnets, an IPv6 /64, a published port. Tables that
need root to produce (doctor, forward status, link ls) are drawn through the same Output code path with the
command modules' own columns and rows shaped as their ops return them.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from output_state import LONG, make_state
from typer.testing import CliRunner

from cnictl.cli import doctor as doctor_cli
from cnictl.cli import forward as forward_cli
from cnictl.cli import link as link_cli
from cnictl.cli import main
from cnictl.cli import state as cli_state
from cnictl.render.output import FORMATS, Column, Output, fit_widths, human_count

ANSI = re.compile(r"\x1b\[[0-9;]*m")
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|9[0-7]|38;[0-9;]+)m")


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return make_state(tmp_path / "state")


def cli(state: Path, *args: str, columns: int = 80, env: dict[str, str] | None = None) -> Any:
    saved = cli_state.JSON_ERRORS
    try:
        r = CliRunner(env={"COLUMNS": str(columns), "NO_COLOR": None, "FORCE_COLOR": None, "CNICTL_OUTPUT": None,
                           "CNICTL_NETNS": None, **(env or {})}).invoke(main.app, ["--state-dir", str(state), *args])
    finally:
        cli_state.JSON_ERRORS = saved
    assert r.exit_code == 0, (args, r.output, r.exception)
    return r


LISTINGS = [("net", "ls"), ("net", "inspect", LONG), ("net", "inspect", "lab"), ("ipam", "show"), ("port", "ls")]


def assert_fits(text: str, width: int) -> None:
    wide = [ln for ln in text.splitlines() if len(ln) > width]
    assert not wide, f"{len(wide)} line(s) wider than {width}:\n" + "\n".join(wide)


@pytest.mark.parametrize("argv", LISTINGS, ids=[" ".join(a) for a in LISTINGS])
def test_listing_fits_80_columns_and_keeps_headers_and_names_whole(state: Path, argv: tuple[str, ...]) -> None:
    text = cli(state, *argv, "--format", "table").stdout
    assert_fits(text, 80)
    assert "\x1b" not in text  # not a terminal: no escapes
    assert not [ln for ln in text.splitlines() if ln != ln.rstrip()], "rich's padding is stripped"
    words = set(text.split())
    if argv[:2] in (("net", "ls"), ("ipam", "show")):
        assert LONG in words or f"{LONG}:" in words, "the network name was broken across lines"
    header = next(ln for ln in text.splitlines() if ln.isupper() or ln.startswith(("NAME", "IP", "NETWORK", "NETNS")))
    assert header.split()[0] in ("NAME", "IP", "NETWORK", "NETNS"), header


def test_net_ls_at_80_columns_wraps_the_subnets_between_words(state: Path) -> None:
    lines = cli(state, "net", "ls", "--format", "table").stdout.splitlines()
    assert lines[0].split() == ["NAME", "DRIVER", "SUBNETS", "BRIDGE/PARENT", "INTERNAL", "ATTACHED"]
    row = next(i for i, ln in enumerate(lines) if ln.startswith(LONG))
    text = " ".join(lines)
    for word in ("10.30.0.0/24,", "fd00:2::/64", "br-5333b0b85931"):
        assert word in text.split(), f"{word} was folded: {lines}"
    assert lines[row].split()[-2:] == ["no", "1"]


def test_at_200_columns_a_row_is_one_line(state: Path) -> None:
    lines = cli(state, "net", "ls", "--format", "table", columns=200).stdout.splitlines()
    assert len(lines) == 1 + 3
    assert "10.30.0.0/24, fd00:2::/64" in next(ln for ln in lines if ln.startswith(LONG))


DOCTOR_ROWS = [
    {"check": "kernel.veth", "status": "ok", "detail": "created a veth link in a throwaway namespace", "hint": None},
    {"check": "kernel.vlan", "status": "missing", "hint": "enable CONFIG_VLAN_8021Q (modprobe 8021q)",
     "detail": "this kernel cannot create 802.1Q vlan links (EOPNOTSUPP); needed for networks on an 802.1Q VLAN "
               "sub-interface"},
    {"check": "firewall.iptables", "status": "ok", "hint": None,
     "detail": "iptables v1.8.9 (nf_tables); `iptables -t nat -L` works in a throwaway namespace; installed: "
               "iptables-nft, iptables-legacy"},
    {"check": "br_netfilter", "status": "warn", "hint": "modprobe br_netfilter",
     "detail": "loaded, net.bridge.bridge-nf-call-iptables=1: traffic within a bridge also passes the IP firewall "
               "hooks (cnictl's rules allow it)"},
    {"check": "leftover.link.cni0123456789ab", "status": "fail", "hint": "ip -n demo link del cni0123456789ab",
     "detail": "veth cni0123456789ab looks like a cnictl host-side link but no attachment record names it"},
]
OTHER_TABLES: list[tuple[str, list[Any], list[dict[str, Any]]]] = [
    ("doctor", doctor_cli.COLUMNS, DOCTOR_ROWS),
    ("forward status", [Column("interface", "INTERFACE"), Column("ipv4", "IPV4", status=True),
                        Column("ipv6", "IPV6", status=True)],
     [{"interface": n, "ipv4": i % 2 == 0, "ipv6": None if i == 3 else True}
      for i, n in enumerate(["all", "default", "br-5333b0b85931", "cni9ed5d4eaac98", "enp0s31f6.1042"])]),
    ("link ls", link_cli.COLUMNS,
     [{"end1": "router-one:eth1", "addresses1": ["10.0.12.1/30", "fd00:12::1/64"], "end2": "router-two:eth1",
       "addresses2": ["10.0.12.2/30", "fd00:12::2/64"], "mtu": 9000, "present": False},
      {"end1": "/proc/123456/ns/net:eth3", "addresses1": [], "end2": "r3:eth0", "addresses2": ["192.168.100.1/24"],
       "mtu": None, "present": True}]),
]


def draw(columns: list[Any], rows: list[dict[str, Any]], *, fmt: str = "table", width: int = 80,
         color: bool | None = None) -> str:
    out = Output(fmt=fmt, width=width, color=color)
    out.out = io.StringIO()
    out.table(rows, columns)
    return out.out.getvalue()


@pytest.mark.parametrize(("name", "columns", "rows"), OTHER_TABLES, ids=[t[0] for t in OTHER_TABLES])
@pytest.mark.parametrize("width", [80, 60])
def test_other_tables_fit(name: str, columns: list[Any], rows: list[dict[str, Any]], width: int) -> None:
    text = draw(columns, rows, width=width)
    assert_fits(text, width)
    lines = text.splitlines()
    assert lines[0].split() == [c.header for c in columns], "a header was wrapped"
    words = {c.key: [w for r in rows for w in str(r[c.key]).split()] for c in columns}
    needed = sum(max([len(c.header), *(len(w) for w in words[c.key])]) for c in columns) + 2 * (len(columns) - 1)
    if needed <= width:  # room for the longest word of every column: none may be folded
        cells = " ".join(str(r[c.key]) for r in rows for c in columns if isinstance(r[c.key], str))
        missing = [w for w in cells.split() if w not in text.split() and f"{w}," not in text.split()]
        assert not missing, f"words broken across lines: {missing}\n{text}"


def test_doctor_at_80_columns_has_no_161_column_separator_and_keeps_words() -> None:
    text = draw(doctor_cli.COLUMNS, DOCTOR_ROWS)
    assert_fits(text, 80)
    assert "-" * 20 not in text
    detail_col = text.splitlines()[0].index("DETAIL")
    for ln in text.splitlines()[1:]:
        assert ln[:detail_col].strip() == "" or not ln[detail_col - 1].strip(), f"detail not in its column: {ln!r}"


def test_doctor_hints_wrap_between_words_on_a_terminal() -> None:
    out = Output(fmt="table", width=50)
    out.out = io.StringIO()
    hint = "ip -n a-rather-long-namespace-name link del cni0123456789ab && cnictl doctor"
    out.prose("hint (leftover.link.cni0123456789ab):", hint)
    lines = out.out.getvalue().splitlines()
    assert_fits("\n".join(lines), 50)
    assert len(lines) > 1 and lines[0].startswith("hint (leftover.link.cni0123456789ab):")
    assert " ".join(ln.strip() for ln in lines) == f"hint (leftover.link.cni0123456789ab): {hint}"
    assert all(ln.startswith("  ") for ln in lines[1:])
    out.prose("used 1/253 free 252", "gateway 10.20.0.1", "range 10.20.0.1-10.20.0.254")
    assert out.out.getvalue().splitlines()[len(lines):] == ["used 1/253 free 252 gateway 10.20.0.1",
                                                              "  range 10.20.0.1-10.20.0.254"]


# ---- colour --------------------------------------------------------------------------------
class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_status_words_are_coloured_on_a_terminal() -> None:
    text = draw(doctor_cli.COLUMNS, DOCTOR_ROWS, color=True)
    assert "\x1b[32mok" in text and "\x1b[31mfail" in text and "\x1b[31mmissing" in text and "\x1b[33mwarn" in text
    plain = ANSI.sub("", text)
    assert "created a veth link" in plain
    detail = next(ln for ln in text.splitlines() if "created a veth link" in ln)
    assert not COLOUR.search(detail.split("ok", 1)[1]), "only the status word is coloured"


def test_yes_no_status_columns_are_coloured_but_other_yes_no_are_not() -> None:
    text = draw([Column("name", "NAME"), Column("internal", "INTERNAL"), Column("present", "PRESENT", status=True)],
                [{"name": "lab", "internal": False, "present": False}], color=True)
    row = text.splitlines()[1]
    assert ANSI.sub("", row).split() == ["lab", "no", "no"]
    assert row.count("\x1b[31mno") == 1, f"only PRESENT is a status column: {row!r}"


def test_auto_on_a_terminal_is_rich_and_no_color_gives_no_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    out = Output(width=80)
    out.out = Tty()
    assert out.rich
    out.table(DOCTOR_ROWS, doctor_cli.COLUMNS)
    text = out.out.getvalue()
    assert "CHECK" in text and "-" * 10 not in text, "auto on a terminal draws the rich table"
    assert not COLOUR.search(text), f"NO_COLOR set, yet colour codes: {text!r}"


def test_auto_on_a_terminal_colours_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    out = Output(width=80)
    out.out = Tty()
    out.table(DOCTOR_ROWS, doctor_cli.COLUMNS)
    assert COLOUR.search(out.out.getvalue()), "a terminal without NO_COLOR gets coloured status words"


def test_piped_output_has_no_escapes_in_any_format(state: Path) -> None:
    for fmt in FORMATS:
        text = cli(state, "net", "ls", "--format", fmt).stdout + cli(state, "doctor", "--help").stdout
        assert "\x1b" not in text, fmt


def test_names_in_brackets_print_literally() -> None:
    text = draw([Column("name", "NAME"), Column("link", "LINK")],
                [{"name": "[br0]", "link": "[bold]x[/bold] :smile: [/tcp|/udp]"}])
    assert "[br0]" in text and "[bold]x[/bold] :smile: [/tcp|/udp]" in text


# ---- formats -----------------------------------------------------------------------------------
def test_auto_piped_is_the_simple_table_unchanged(state: Path) -> None:
    auto = cli(state, "net", "ls").stdout
    assert auto == cli(state, "net", "ls", "--format", "simple").stdout
    lines = auto.splitlines()
    assert lines[0].split() == ["NAME", "DRIVER", "SUBNETS", "BRIDGE/PARENT", "INTERNAL", "ATTACHED"]
    assert set(lines[1]) == {"-", " "} and len(lines[1].split()) == 6
    row = next(ln for ln in lines if ln.startswith(LONG))
    assert "10.30.0.0/24, fd00:2::/64" in row, "piped rows stay on one line"
    record = cli(state, "net", "inspect", "lab").stdout.splitlines()
    assert record[0] == "name:          lab" and record[1] == "driver:        bridge"


def test_format_table_is_rich_when_piped(state: Path) -> None:
    lines = cli(state, "net", "ls", "--format", "table", columns=200).stdout.splitlines()
    assert lines[0].split()[0] == "NAME" and not set(lines[1]) <= {"-", " "}
    assert "  " in lines[0] and lines[0] == lines[0].rstrip()


def test_format_plain(state: Path) -> None:
    lines = cli(state, "net", "ls", "--format", "plain").stdout.splitlines()
    assert lines[0].split() == ["NAME", "DRIVER", "SUBNETS", "BRIDGE/PARENT", "INTERNAL", "ATTACHED"]
    assert len(lines) == 4 and not any(set(ln) <= {"-", " "} for ln in lines)


def test_format_github(state: Path) -> None:
    lines = cli(state, "net", "ls", "--format", "github").stdout.splitlines()
    assert all(ln.startswith("|") and ln.endswith("|") for ln in lines)
    assert re.fullmatch(r"\|(:?-+:?\|)+", lines[1]), lines[1]
    assert [c.strip() for c in lines[0].strip("|").split("|")][0] == "NAME"


def test_format_tsv_rows_match_the_json(state: Path) -> None:
    rows = json.loads(cli(state, "--json", "net", "ls").stdout)
    lines = cli(state, "net", "ls", "--format", "tsv").stdout.splitlines()
    assert lines[0].split("\t") == ["NAME", "DRIVER", "SUBNETS", "BRIDGE/PARENT", "INTERNAL", "ATTACHED"]
    assert len(lines) == 1 + len(rows)
    for line, r in zip(lines[1:], rows, strict=True):
        f = line.split("\t")
        assert f[0] == r["name"] and f[1] == r["driver"] and f[2] == ", ".join(s["subnet"] for s in r["subnets"])
        assert f[4] == ("yes" if r["internal"] else "no") and f[5] == str(r["attachments"])
    ipam = cli(state, "ipam", "show", "--format", "tsv").stdout.splitlines()
    assert ipam[0].split("\t") == ["NETWORK", "IP", "CONTAINER ID", "IFNAME", "NETNS"]
    assert {ln.split("\t")[1] for ln in ipam[1:]} == {"10.20.0.2", "10.20.0.3", "10.30.0.2", "fd00:2::2", "fd00:1::2"}
    record = cli(state, "net", "inspect", "lab", "--format", "tsv").stdout.splitlines()
    assert record[:3] == ["FIELD\tVALUE", "name\tlab", "driver\tbridge"]


def test_tsv_empty_table_is_its_header() -> None:
    out = Output(fmt="tsv")
    out.out, out.err = io.StringIO(), io.StringIO()
    out.table([], [("name", "NAME"), ("path", "PATH")])
    assert out.out.getvalue() == "NAME\tPATH\n" and out.err.getvalue() == ""


@pytest.mark.parametrize("fmt", FORMATS)
def test_json_and_quiet_do_not_depend_on_the_format(state: Path, fmt: str) -> None:
    for argv in (("net", "ls"), ("ipam", "show"), ("port", "ls"), ("net", "inspect", "lab")):
        assert cli(state, *argv, "--json", "--format", fmt).stdout == cli(state, "--json", *argv).stdout
        assert cli(state, "-q", *argv, "--format", fmt).stdout == cli(state, "-q", *argv).stdout
    rows = json.loads(cli(state, "--json", "net", "ls", "--format", fmt).stdout)
    assert [r["name"] for r in rows] == ["lab", LONG, "v6"]
    assert cli(state, "-q", "net", "ls", "--format", fmt).stdout == f"lab\n{LONG}\nv6\n"


def test_an_unknown_format_is_a_usage_error(state: Path) -> None:
    r = CliRunner().invoke(main.app, ["--state-dir", str(state), "net", "ls", "--format", "csv"])
    assert r.exit_code == 2


# ---- defects fixed -----------------------------------------------------------------------------
def test_quiet_inspect_prints_the_name_only(state: Path) -> None:
    assert cli(state, "-q", "net", "inspect", "lab").stdout == "lab\n"
    assert cli(state, "net", "inspect", "lab", "-q").stdout == "lab\n"


def test_quiet_forward_status_keeps_the_values() -> None:
    rows = [{"interface": "all", "ipv4": True, "ipv6": False}, {"interface": "eth0", "ipv4": False, "ipv6": None}]
    assert [forward_cli.quiet_line(r, ["ipv4"]) for r in rows] == ["all 1", "eth0 0"]
    assert [forward_cli.quiet_line(r, ["ipv4", "ipv6"]) for r in rows] == ["all 1 0", "eth0 0 -"]


def test_ipam_show_renders_a_v6_64_readably_and_json_keeps_the_integers(state: Path) -> None:
    text = cli(state, "ipam", "show", "v6").stdout
    assert "used 1/(2^64-2) free 2^64-3" in text and "18446744073709551614" not in text
    data = json.loads(cli(state, "--json", "ipam", "show", "v6").stdout)
    assert data["subnets"][0]["capacity"] == 2**64 - 2 and data["subnets"][0]["free"] == 2**64 - 3
    v4 = cli(state, "ipam", "show", "lab").stdout.splitlines()[0]
    assert v4 == "lab: 10.20.0.0/24 gateway 10.20.0.1 range 10.20.0.1-10.20.0.254 used 2/253 free 251"


@pytest.mark.parametrize(("n", "text"), [(0, "0"), (253, "253"), (2**32 - 2, "4294967294"), (2**64 - 2, "2^64-2"),
                                         (2**64, "2^64"), (2**80 + 5, "2^80+5"), (2**128 - 2, "2^128-2"),
                                         (3 * 10**20, "~3.0e20")])
def test_human_count(n: int, text: str) -> None:
    assert human_count(n) == text


def test_fit_widths_never_narrower_than_a_header_or_a_word_when_it_fits() -> None:
    headers = ["NAME", "DRIVER", "SUBNETS", "BRIDGE/PARENT", "INTERNAL", "ATTACHED"]
    cells = [[LONG, "bridge", "10.30.0.0/24, fd00:2::/64", "br-5333b0b85931", "no", "1"]]
    w = fit_widths(headers, cells, 80)
    assert sum(w) + 2 * (len(w) - 1) <= 80
    assert all(wi >= len(h) for wi, h in zip(w, headers, strict=True))
    assert w[0] == len(LONG) and w[2] >= len("fd00:2::/64")
    narrow = fit_widths(headers, cells, 40)
    assert sum(narrow) + 2 * (len(narrow) - 1) <= 40, "the last resort still fits"
