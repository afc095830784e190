"""`cnictl --help` without typer (cnictl.cli.roothelp) prints typer's screen, byte for byte.

Each case runs two fresh processes with the same environment and command line: typer's help from the whole
command tree (cnictl.cli.main.run), and the entry point (cnictl.cli.entry.main) with typer made unimportable,
so that it can only pass through the fast path. stdout, stderr and the exit code must be the same bytes, for
widths 40/80/100/140 by NO_COLOR, FORCE_COLOR on a 256-colour terminal and piped (plain), and on a real
terminal (a pty). The data the fast path prints from (cnictl.cli.rootspec) is checked against what each
piece is declared from.
"""

from __future__ import annotations

import inspect
import os
import pty
import subprocess
import sys
import sysconfig
import types
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main

from cnictl.cli import main, roothelp, rootspec

ROOT = Path(__file__).resolve().parents[2]
PATHS = [str(ROOT), sysconfig.get_paths()["purelib"]]
PRELUDE = f"import sys; sys.argv[0] = 'cnictl'; sys.path[:0] = {PATHS!r}\n"
TYPER = PRELUDE + "from cnictl.cli.main import run; run()"
FAST = PRELUDE + "sys.modules['typer'] = None  # only the fast path can print\n" \
                 "from cnictl.cli.entry import main; main()"
BASE = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
MODES = {
    "no-color": {"NO_COLOR": "1"},
    "force-color": {"FORCE_COLOR": "1", "TERM": "xterm-256color"},
    "piped": {},
}
MATRIX = [(width, mode) for width in (40, 80, 100, 140) for mode in MODES]


def run(code: str, argv: list[str], env: dict[str, str]) -> tuple[int, bytes, bytes]:
    p = subprocess.run([sys.executable, "-I", "-S", "-c", code, *argv], capture_output=True, timeout=60,
                       env={**BASE, **env}, stdin=subprocess.DEVNULL, cwd=ROOT)
    return p.returncode, p.stdout, p.stderr


def on_a_terminal(code: str, argv: list[str], env: dict[str, str], rows: int, cols: int) -> tuple[int, bytes]:
    """Run with stdout and stderr on a pty of *rows* x *cols*: the exit code and what the terminal got."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    p = subprocess.Popen([sys.executable, "-I", "-S", "-c", code, *argv], stdout=slave, stderr=slave,
                         stdin=subprocess.DEVNULL, env={**BASE, **env}, cwd=ROOT)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return p.wait(timeout=60), out


def same(argv: list[str], env: dict[str, str]) -> None:
    want, got = run(TYPER, argv, env), run(FAST, argv, env)
    assert got[0] == want[0], f"exit code {got[0]}, typer's {want[0]}; stderr: {got[2]!r}"
    assert got[2] == want[2], f"stderr differs:\n{got[2].decode()}\ntyper's:\n{want[2].decode()}"
    assert got[1] == want[1], f"stdout differs:\n{got[1].decode()}\ntyper's:\n{want[1].decode()}"
    assert b"Usage: " in want[1] and b"Commands" in want[1]


@pytest.mark.parametrize(("width", "mode"), MATRIX, ids=[f"{w}-{m}" for w, m in MATRIX])
def test_root_help_is_typers(width: int, mode: str) -> None:
    same(["--help"], {"COLUMNS": str(width), **MODES[mode]})


@pytest.mark.parametrize("argv", [[], ["-h"], ["--json", "--netns", "x", "-q", "--help"], ["--state-dir=/x", "-h"]],
                         ids=["no-args", "-h", "root-options", "valued="])
def test_every_line_that_prints_the_root_help(argv: list[str]) -> None:
    """No words at all is a usage error that prints the help (exit 2, an empty line on stderr)."""
    same(argv, {"COLUMNS": "80", "FORCE_COLOR": "1", "TERM": "xterm-256color"})


@pytest.mark.parametrize("env", [{"TERMINAL_WIDTH": "60"}, {"CNICTL_FIREWALL": "iptables", "NO_COLOR": "1"},
                                 {"_TYPER_FORCE_DISABLE_TERMINAL": "1", "FORCE_COLOR": "1"},
                                 {"PY_COLORS": "1", "COLORTERM": "truecolor"}],
                         ids=["TERMINAL_WIDTH", "env-default", "force-disable", "PY_COLORS-truecolor"])
def test_the_environment_typer_reads(env: dict[str, str]) -> None:
    same(["--help"], env)


@pytest.mark.parametrize(("cols", "env"), [(100, {"TERM": "xterm-256color"}), (57, {"TERM": "xterm"}),
                                           (80, {"TERM": "xterm-256color", "NO_COLOR": "1"})],
                         ids=["256-colour-100", "xterm-57", "no-color-80"])
def test_on_a_terminal(cols: int, env: dict[str, str]) -> None:
    want = on_a_terminal(TYPER, ["--help"], env, 40, cols)
    got = on_a_terminal(FAST, ["--help"], env, 40, cols)
    assert got == want, f"on a terminal:\n{got[1].decode()}\ntyper's:\n{want[1].decode()}"
    assert b"\x1b[" in want[1] or "NO_COLOR" in env


def test_the_entry_point_imports_neither_typer_nor_markdown() -> None:
    p = subprocess.run([sys.executable, "-X", "importtime", "-I", "-S", "-c",
                        PRELUDE + "from cnictl.cli.entry import main; main()", "--help"],
                       capture_output=True, text=True, timeout=60, env=BASE, cwd=ROOT)
    assert p.returncode == 0 and "Usage: cnictl" in p.stdout
    loaded = {line.split("|")[-1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")}
    assert "rich.console" in loaded, "the probe sees imports"
    assert not loaded & {"typer", "click", "rich.markdown", "markdown_it", "pygments", "rich.traceback"}


# --- the data: each piece the fast path prints is what its declaration says


def root_command() -> tuple[Any, Any]:
    cmd = typer.main.get_command(main.app)
    return cmd, typer.Context(cmd, info_name="cnictl", **cmd.context_settings)


def split(opts: Any) -> tuple[list[str], list[str]]:
    """The long and the short names, as the help's two columns show them (-h/--help come in either order)."""
    return [o for o in opts if "--" in o], [o for o in opts if "--" not in o]


def test_the_options_are_the_roots() -> None:
    cmd, ctx = root_command()
    shown = [p for p in cmd.get_params(ctx) if not p.hidden]
    assert [split(p.opts) for p in shown] == [split(o.opts) for o in rootspec.OPTIONS]
    for param, opt in zip(shown, rootspec.OPTIONS, strict=True):
        assert param.help == opt.help, opt.opts
        assert (param.make_metavar(ctx=ctx) or "") == opt.metavar, opt.opts
        assert (param.envvar if param.show_envvar else None) == opt.envvar, opt.opts
        default = param._extract_default_help_str(ctx=ctx)
        assert (default or None) == opt.default, opt.opts  # a flag's False is not shown
        assert not param.secondary_opts and not param.required and param.param_type_name == "option"
        assert not getattr(param, "rich_help_panel", None)


def test_the_commands_and_their_help_lines() -> None:
    cmd, ctx = root_command()
    names = cmd.list_commands(ctx)
    assert names == [*rootspec.COMMANDS, *rootspec.GROUPS] == list(rootspec.COMMAND_HELP)
    for name in names:
        sub = cmd.get_command(ctx, name)
        first = inspect.cleandoc(sub.short_help or sub.help or "").split("\n\n")[0]
        assert " ".join(first.split("\n")).strip() == rootspec.COMMAND_HELP[name], name
        assert not sub.hidden and not sub.deprecated and not getattr(sub, "rich_help_panel", None)
    assert (cmd.help, cmd.epilog, cmd.deprecated) == (rootspec.HELP, rootspec.EPILOG, False)
    assert cmd.get_usage(ctx) == f"Usage: cnictl {roothelp.USAGE_ARGS}"


def test_the_fast_path_is_taken() -> None:
    """Every text is plain (else show() would leave the help to typer and the target would be lost quietly)."""
    assert roothelp.plain()


@pytest.mark.parametrize("text", ["`code`", "**bold**", "*em*", "_em_", "a [link](x)", "<b>", "a\\b", ":smile:",
                                  "# heading", "- item", "1. item", "> quote", "a &amp; b", "two\nlines", "end "])
def test_markdown_is_not_plain(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rootspec, "HELP", text)
    assert not roothelp.plain()
    assert roothelp.show(no_args=False) is None


@pytest.mark.parametrize("text", ["br_netfilter", "a && b", "Example: x", "10.20.0.0/24", "step's (a, b); c."])
def test_plain_text_is_plain(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rootspec, "HELP", text)
    assert roothelp.plain()


def test_declines_where_click_names_the_program_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    script, module = types.ModuleType("__main__"), types.ModuleType("__main__")
    script.__package__, module.__package__ = None, "cnictl"
    monkeypatch.setitem(sys.modules, "__main__", script)
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/cnictl"])
    assert roothelp.program_name() == "cnictl"
    monkeypatch.setitem(sys.modules, "__main__", module)
    assert roothelp.program_name() is None, "python -m cnictl: click says so in the usage line"
    monkeypatch.setitem(sys.modules, "__main__", script)
    monkeypatch.setattr(sys, "argv", ["a-very-long-program-name"])
    assert roothelp.program_name() is None
    monkeypatch.setattr(sys, "argv", ["cnictl"])
    monkeypatch.setenv("TYPER_USE_RICH", "0")
    assert roothelp.program_name() is None
