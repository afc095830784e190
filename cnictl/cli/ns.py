"""`cnictl ns`: named network namespaces under /run/netns (the same ones `ip netns` sees)."""

from __future__ import annotations

from typing import Annotated

import typer

from cnictl.cli.options import FormatOpt, JsonOpt, NetnsNameArg, QuietOpt, State, changes
from cnictl.render import views

app = typer.Typer(no_args_is_help=True, help="Add, list, remove named network namespaces and run commands in them.")
NewNameArg = Annotated[str, typer.Argument(metavar="NAME", help="Name of the new namespace.", show_default=False)]


@app.command("add", epilog="Example: cnictl ns add web")
@changes()
def add(
    ctx: typer.Context,
    name: NewNameArg,
    exist_ok: Annotated[bool, typer.Option("--exist-ok", help="Succeed if it already exists.")] = False,
) -> None:
    """Create a named network namespace with lo up."""
    from cnictl.ops import namespaces

    st: State = ctx.obj
    host = st.host(changes="ns add")
    st.finish(namespaces.ns_add(host, name, st.run_options(), exist_ok=exist_ok), views.ns_added(name))


@app.command("ls", epilog="Example: cnictl ns ls -q")
def ls(ctx: typer.Context, json_mode: JsonOpt = False, quiet: QuietOpt = False, fmt: FormatOpt = "auto") -> None:
    """List named network namespaces."""
    from cnictl.ops import namespaces

    st: State = ctx.obj.merge(json_mode=json_mode, quiet=quiet, fmt=fmt)
    views.namespaces(st.out, namespaces.ns_list(st.host()))


@app.command("rm", epilog="Example: cnictl ns rm web")
@changes()
def rm(
    ctx: typer.Context,
    name: NetnsNameArg,
    missing_ok: Annotated[bool, typer.Option("--missing-ok", help="Succeed if it does not exist.")] = False,
) -> None:
    """Remove a named namespace, detaching it from cnictl networks first."""
    from cnictl.ops import namespaces

    st: State = ctx.obj
    host = st.host(changes="ns rm")
    st.finish(namespaces.ns_remove(host, name, st.run_options(), missing_ok=missing_ok), views.ns_removed(name))


@app.command("exec", epilog="Example: cnictl ns exec web -- ping -c1 10.20.0.1")
def exec_(
    ctx: typer.Context,
    name: NetnsNameArg,
    command: Annotated[
        list[str], typer.Argument(metavar="COMMAND", help="Command and arguments (put them after --).", show_default=False)
    ],
) -> None:
    """Run a command inside a named namespace (replaces cnictl; exit code is the command's)."""
    import shlex

    from cnictl.ops import namespaces

    st: State = ctx.obj
    if st.dry_run:
        st.out.plan([f"ip netns exec {name} {shlex.join(command)}"])
        return
    st.host(changes="ns exec")
    namespaces.ns_exec(name, list(command))
