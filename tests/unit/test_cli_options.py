"""The mutating-command options have one definition (cnictl.cli.options.changes): every command that takes
--dry-run takes it from there, with --json and --explain, and the flags reach the invocation's State."""

from __future__ import annotations

from typing import Any

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from cnictl.cli import main
from cnictl.cli import state as cli_state
from cnictl.cli.options import CHANGE_OPTIONS, State, changes


def commands(cmd: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = [(path, cmd)]
    for name, sub in getattr(cmd, "commands", {}).items():
        out += commands(sub, (*path, name))
    return out


MUTATING = [(p, c) for p, c in commands(typer.main.get_command(main.app))
            if any(getattr(param, "name", "") == "dry_run" for param in getattr(c, "params", []))]


def test_the_mutating_commands_are_found() -> None:
    names = {" ".join(p) for p, _ in MUTATING}
    assert {"attach", "detach", "net create", "net rm", "ns add", "port publish", "link rm", "fw reload"} <= names


@pytest.mark.parametrize(("path", "command"), MUTATING, ids=[" ".join(p) for p, _ in MUTATING])
def test_every_mutating_command_takes_the_shared_options(path: tuple[str, ...], command: Any) -> None:
    assert hasattr(command.callback, "__wrapped__"), f"cnictl {' '.join(path)}: declare its options with @changes()"
    params = {p.name: p for p in command.params}
    for name in ("json_mode", "dry_run", "explain"):
        assert name in params, f"cnictl {' '.join(path)} lacks {name}"
    shared = {n: a.__metadata__[0] for n, a in CHANGE_OPTIONS.items()}
    for name, param in params.items():
        if name in shared:
            assert param.help == shared[name].help


def test_the_flags_reach_the_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_state, "JSON_ERRORS", cli_state.JSON_ERRORS)  # --json sets it; put it back after
    seen: list[State] = []
    app = typer.Typer()

    @app.command()
    @changes(quiet=True)
    def cmd(ctx: typer.Context, name: str, ifname: str = "eth0") -> None:
        """A command."""
        seen.append(ctx.obj)
        assert (name, ifname) == ("lab", "eth1")

    r = CliRunner().invoke(app, ["lab", "--ifname", "eth1", "--dry-run", "-q", "--json"], obj=State())
    assert r.exit_code == 0, r.output
    st = seen[0]
    assert (st.dry_run, st.quiet, st.json_mode, st.explain) == (True, True, True, False)
