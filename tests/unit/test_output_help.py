"""Every `--help` screen at 80 columns: rich help that fits, meaningful placeholders, whole summaries.

No `<str>`/`<bool>`/`<list[str]>` type labels and no `{name}`: each option that takes a value shows its
metavar (CIDR, IP, IFNAME, DIR, ...), a flag shows none, arguments are NAME / [NAME]. No metavar is broken
across lines and no command summary is cut short with "...".
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from cnictl.cli import main

ENV = {"COLUMNS": "80", "TERMINAL_WIDTH": None, "NO_COLOR": "1", "FORCE_COLOR": None, "CNICTL_STATE_DIR": None,
       "CNICTL_NETNS": None, "CNICTL_FIREWALL": None, "CNICTL_OUTPUT": None}


def tree(cmd: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = [(path, cmd)]
    for name, sub in getattr(cmd, "commands", {}).items():
        if not sub.hidden:
            out += tree(sub, (*path, name))
    return out


COMMANDS = tree(typer.main.get_command(main.app))


def help_of(path: tuple[str, ...]) -> str:
    r = CliRunner(env=ENV).invoke(main.app, [*path, "--help"], prog_name="cnictl", color=False)
    assert r.exit_code == 0, r.output
    return r.output


def flat(text: str) -> str:
    """The words of the help, box drawing removed, lines joined."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(("cnictl", *p)) for p, _ in COMMANDS])
def test_help_screen(path: tuple[str, ...], command: Any) -> None:
    text = help_of(path)
    assert "╭─" in text, "rich help"
    wide = [ln for ln in text.splitlines() if len(ln) > 80]
    assert not wide, "\n".join(wide)
    assert not re.search(r"<[a-z]+(\[[a-z|]+\])?>", text), f"a type label instead of a metavar:\n{text}"
    assert not re.search(r"\{[A-Za-z_]+\}", text), f"a {{name}} placeholder:\n{text}"
    assert "…" not in text, f"something was cut short:\n{text}"
    words = flat(text)
    usage = next(ln for ln in text.splitlines() if "Usage:" in ln)
    for p in command.params:
        if p.param_type_name == "argument":
            assert p.metavar and p.metavar.upper() == p.metavar, f"argument {p.name} has no NAME-style metavar"
            assert (p.metavar if p.required else f"[{p.metavar}]") in usage.split(), usage
        elif not getattr(p, "is_flag", False) and not p.hidden:
            metavar = p.metavar or ""
            assert metavar and not metavar.startswith("<"), f"{p.opts} has no metavar"
            assert f" {metavar} " in f" {words} ", f"the metavar {metavar} of {p.opts} is broken across lines"
    for name, sub in getattr(command, "commands", {}).items():
        if sub.hidden:
            continue
        summary = " ".join((sub.help or "").split("\n\n")[0].replace("`", "").split())  # markdown: `x` is code
        assert summary in words, f"the summary of `{name}` is not shown whole: {summary!r}"


def test_flags_show_no_type_and_values_show_their_metavar() -> None:
    words = flat(help_of(("net", "create")))
    assert "--subnet CIDR" in words and "--gateway IP" in words and "--parent IFNAME" in words
    assert "--internal No route out" in words, "a flag is followed by its help, not by a type"
    assert "Usage: cnictl net create [OPTIONS] NAME" in words
    assert "cnictl ns exec [OPTIONS] NAME COMMAND..." in flat(help_of(("ns", "exec")))
    assert "cnictl ipam show [OPTIONS] [NETWORK]" in flat(help_of(("ipam", "show")))


def test_help_text_is_literal_not_markup() -> None:
    words = flat(help_of(("port", "publish")))
    assert "[HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO]" in words
