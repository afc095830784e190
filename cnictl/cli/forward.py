"""`cnictl forward`: IP forwarding of the host (net.ipv4.conf.all.forwarding, and IPv6)."""

from __future__ import annotations

from typing import Annotated

import typer

from cnictl.cli.options import FormatOpt, JsonOpt, QuietOpt, State, changes
from cnictl.render import views

app = typer.Typer(no_args_is_help=True, help="Enable, disable and show IP forwarding.")
V6Opt = Annotated[bool, typer.Option("--ipv6", help="Also IPv6 (net.ipv6.conf.all.forwarding).")]
PersistOpt = Annotated[bool, typer.Option("--persist", help="Also write it to sysctl.d so it survives a reboot.")]


def _set(ctx: typer.Context, enable: bool, ipv6: bool, persist: bool) -> None:
    from cnictl.ops import forward

    st: State = ctx.obj
    host = st.host(changes="forward " + ("enable" if enable else "disable"))
    outcome = forward.forward_set(host, enable, ipv6=ipv6, persist=persist, opts=st.run_options())
    st.finish(outcome, views.forward_set(outcome.result, enable))


@app.command("enable", epilog="Example: cnictl forward enable --ipv6 --persist")
@changes()
def enable(ctx: typer.Context, ipv6: V6Opt = False, persist: PersistOpt = False) -> None:
    """Turn IP forwarding on."""
    _set(ctx, True, ipv6, persist)


@app.command("disable", epilog="Example: cnictl forward disable")
@changes()
def disable(ctx: typer.Context, ipv6: V6Opt = False, persist: PersistOpt = False) -> None:
    """Turn IP forwarding off."""
    _set(ctx, False, ipv6, persist)


quiet_line = views.forward_quiet_line


@app.command("status", epilog="Example: cnictl forward status --ipv6")
def status(ctx: typer.Context, ipv6: V6Opt = False, json_mode: JsonOpt = False, quiet: QuietOpt = False,
           fmt: FormatOpt = "auto") -> None:
    """Show forwarding for all, default and every interface.

    -q prints one line per interface, its name and the sysctl values: `all 1`, or `all 1 0` with
    --ipv6 (1 on, 0 off, - unreadable).
    """
    from cnictl.ops import forward

    st: State = ctx.obj.merge(json_mode=json_mode, quiet=quiet, fmt=fmt)
    views.forward_status(st.out, forward.forward_status(st.host(), ipv6=ipv6), ["ipv4", "ipv6"] if ipv6 else ["ipv4"])
