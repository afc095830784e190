"""Root command: global options, the command groups, and run(), which maps errors to exit codes."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from typer import Abort
from typer.exceptions import TyperException

from cnictl.cli import attach as attach_cmds
from cnictl.cli import cni, complete, forward, fw, ipam, link, net, ns, port
from cnictl.cli import doctor as doctor_cmds
from cnictl.cli.helpfmt import HelpGroup
from cnictl.cli.options import DryRunOpt, ExplainOpt, JsonOpt, QuietOpt, State

JSON_ERRORS = False

app = typer.Typer(
    name="cnictl",
    cls=HelpGroup,
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Host and container networking on Linux: namespaces, bridges, veth pairs, IPAM, forwarding and nftables.",
    epilog="Example: cnictl net create lab --subnet 10.20.0.0/24 && cnictl ns add web && cnictl attach lab web",
)
app.add_typer(net.app, name="net")
app.add_typer(ns.app, name="ns")
app.add_typer(ipam.app, name="ipam")
app.add_typer(forward.app, name="forward")
app.add_typer(port.app, name="port")
app.add_typer(fw.app, name="fw")
app.add_typer(link.app, name="link")
app.add_typer(cni.app, name="cni")
app.command(epilog=attach_cmds.ATTACH_EPILOG)(attach_cmds.attach)
app.command(epilog=attach_cmds.DETACH_EPILOG)(attach_cmds.detach)
app.command(epilog=doctor_cmds.EPILOG)(doctor_cmds.doctor)


def _version(value: bool) -> None:
    if value:
        from cnictl import __version__

        typer.echo(f"cnictl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    netns: Annotated[
        str | None,
        typer.Option("--netns", metavar="HOST", envvar="CNICTL_NETNS", autocompletion=complete.namespaces,
                     help="Act as if the named network namespace were the machine."),
    ] = None,
    state_dir: Annotated[
        str | None,
        typer.Option("--state-dir", metavar="DIR", envvar="CNICTL_STATE_DIR",
                     help="Keep all persistent state (networks, attachments, IPAM) under DIR."),
    ] = None,
    firewall: Annotated[
        str, typer.Option("--firewall", metavar="BACKEND", envvar="CNICTL_FIREWALL",
                          autocompletion=complete.words("nftables", "iptables", "none"),
                          help="Firewall backend for new networks: nftables, iptables or none.")
    ] = "nftables",
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
    dry_run: DryRunOpt = False,
    explain: ExplainOpt = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Host and container networking on Linux.

    Exit codes: 0 ok, 1 operation failed (rolled back), 2 bad input, 3 not found, 4 conflict,
    5 rollback incomplete, 6 missing privilege or dependency, 75 temporary (retry), 130 interrupted (nothing left
    of the change). See docs/errors.md.
    """
    global JSON_ERRORS
    from cnictl.plan import PROGRESS

    if PROGRESS.phase == "startup":
        PROGRESS.phase = "idle"  # the command runs: from now on Ctrl-C raises KeyboardInterrupt (rollback)
    json_mode = json_mode or os.environ.get("CNICTL_OUTPUT") == "json"
    JSON_ERRORS = json_mode
    ctx.obj = State(netns=netns, state_dir=state_dir, firewall=firewall, json_mode=json_mode, quiet=quiet,
                    dry_run=dry_run, explain=explain)


def run() -> None:
    """Console entry point: run the app and turn cnictl errors into one line and an exit code.

    An interrupt (Ctrl-C) is reported by what it met (cnictl.plan.PROGRESS): before any change, exit 130 and
    "nothing was changed"; during a change that was rolled back, exit 130 and "changes were rolled back";
    after the change completed, exit 0 with the result and a notice; a change it left half-done, exit 5."""
    from cnictl.errors import CnictlError, RollbackIncompleteError
    from cnictl.plan import PROGRESS

    debug = os.environ.get("CNICTL_DEBUG") == "1"
    try:
        rc = app(standalone_mode=False)
    except TyperException as e:  # the parser's own errors: one line and exit 2, like any bad input
        if PROGRESS.interrupted:
            _interrupted()
        if type(e).__name__ == "NoArgsIsHelpError" or not hasattr(e, "format_message"):
            e.show()  # type: ignore[attr-defined]
            sys.exit(getattr(e, "exit_code", 2))
        _print_error(_usage_error(e))
        sys.exit(2)
    except CnictlError as e:
        if PROGRESS.interrupted and not isinstance(e, RollbackIncompleteError):
            _interrupted()
        if debug:
            import traceback

            traceback.print_exc()
        _print_error(e)
        sys.exit(e.exit_code)
    except (KeyboardInterrupt, Abort):
        _interrupted()
    except Exception as e:  # noqa: BLE001 - last resort, one line unless debugging
        if PROGRESS.interrupted:  # an interrupt inside an import or a library surfaces as any exception
            _interrupted()
        if debug:
            raise
        err = CnictlError(f"internal error: {type(e).__name__}: {e}", hint="rerun with CNICTL_DEBUG=1 for a traceback")
        _print_error(err)
        sys.exit(err.exit_code)
    if PROGRESS.interrupted and (rc == 130 or PROGRESS.phase != "done"):
        _interrupted()  # typer turns KeyboardInterrupt into exit 130; or a read-only command was cut short
    if PROGRESS.interrupted:
        sys.stdout.flush()
        sys.stderr.write("cnictl: interrupted after the change completed; it was kept\n")
    sys.exit(rc if isinstance(rc, int) else 0)


def _interrupted() -> None:
    """Report an interrupt by what it met, and exit."""
    from cnictl.cli.entry import NOTHING_CHANGED
    from cnictl.errors import Interrupted, RollbackIncompleteError, cli
    from cnictl.plan import PROGRESS

    if PROGRESS.phase == "done":
        sys.stderr.write("cnictl: interrupted after the change completed; it was kept\n")
        sys.exit(0)
    if PROGRESS.phase == "changing":  # a change outside a plan, cut short: what it did may be left
        err: object = RollbackIncompleteError("interrupted while changing the system; part of the change may be left",
                                              hint=f"see: {cli('doctor')}")
        code = 5
    else:
        err = Interrupted("interrupted; changes were rolled back" if PROGRESS.rolled_back else NOTHING_CHANGED)
        code = 130
    if JSON_ERRORS or "--json" in sys.argv:
        _print_error(err)
    else:
        sys.stderr.write(f"cnictl: {err.one_line()}\n")  # type: ignore[attr-defined]
    sys.exit(code)


def _usage_error(e: TyperException) -> object:
    from cnictl.errors import ConfigError

    msg = e.format_message()
    param = getattr(e, "param", None)
    opts = list(getattr(param, "opts", []) or [])
    for i, word in enumerate(sys.argv[:-1]):
        if word in opts:  # name the value that was refused
            msg = f"{msg} (got {sys.argv[i + 1]!r})"
            break
    ctx = getattr(e, "ctx", None)
    where = f"{ctx.command_path} --help" if ctx is not None else "cnictl --help"
    return ConfigError(msg.rstrip("."), hint=f"see: {where}")


def _print_error(e: object) -> None:
    from cnictl.render.output import Output

    Output(json_mode=JSON_ERRORS or "--json" in sys.argv).error(e)  # type: ignore[arg-type]
