"""Root command: global options, the command tree, and run(), which maps errors to exit codes.

The tree is built on demand: `app` (the whole tree, as the tests and scripts/gen_docs.py use it) is made on
first access, and build(only=...) makes a tree of just the named top-level commands, which is what
cnictl.cli.entry runs for `cnictl attach` and `cnictl detach` (see docs/performance.md). Both trees share
the root callback and every setting, so a command parses, helps and fails the same in either. The root's
name, help, epilog, top-level commands (GROUPS, COMMANDS) and own options are plain data in
cnictl.cli.rootspec, which cnictl.cli.roothelp prints the root's --help from without typer.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer import Abort
from typer.exceptions import TyperException

from cnictl.cli import complete, rootspec, state
from cnictl.cli.helpfmt import HelpGroup
from cnictl.cli.options import DryRunOpt, ExplainOpt, JsonOpt, QuietOpt, State
from cnictl.cli.rootspec import COMMANDS, FIREWALL, GROUPS, NETNS, STATE_DIR, VERSION

if TYPE_CHECKING:
    app: typer.Typer



def build(only: tuple[str, ...] | None = None, *, listing: bool = False) -> typer.Typer:
    """The root typer app with every command, or with only the top-level commands named in *only*
    (their modules alone are imported). With *listing*, every top-level command is there, but each group
    as its name and help alone: enough for the root's --help, which lists them (a group's own commands
    are built only when it runs)."""
    import importlib

    root_app = typer.Typer(
        name=rootspec.NAME,
        cls=HelpGroup,
        no_args_is_help=True,
        rich_markup_mode="markdown",
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": rootspec.HELP_OPTION_NAMES},
        help=rootspec.HELP,
        epilog=rootspec.EPILOG,
    )
    for name in GROUPS:
        if listing:
            sub = importlib.import_module(f"cnictl.cli.{name}").app
            root_app.add_typer(typer.Typer(no_args_is_help=sub.info.no_args_is_help, help=sub.info.help), name=name)
        elif only is None or name in only:
            root_app.add_typer(importlib.import_module(f"cnictl.cli.{name}").app, name=name)
    for name, (module, func, epilog) in COMMANDS.items():
        if listing or only is None or name in only:
            mod = importlib.import_module(f"cnictl.cli.{module}")
            root_app.command(epilog=getattr(mod, epilog))(getattr(mod, func))
    root_app.callback()(root)
    return root_app


def __getattr__(name: str) -> Any:
    """`app`, the whole command tree, built on first use."""
    if name == "app":
        if "app" not in globals():
            globals()["app"] = build()
        return globals()["app"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _version(value: bool) -> None:
    if value:
        from cnictl import __version__

        typer.echo(f"cnictl {__version__}")
        raise typer.Exit()


def root(
    ctx: typer.Context,
    netns: Annotated[
        str | None,
        typer.Option(*NETNS.opts, metavar=NETNS.metavar, envvar=NETNS.envvar, autocompletion=complete.namespaces,
                     help=NETNS.help),
    ] = None,
    state_dir: Annotated[
        str | None, typer.Option(*STATE_DIR.opts, metavar=STATE_DIR.metavar, envvar=STATE_DIR.envvar,
                                 help=STATE_DIR.help),
    ] = None,
    firewall: Annotated[
        str, typer.Option(*FIREWALL.opts, metavar=FIREWALL.metavar, envvar=FIREWALL.envvar,
                          autocompletion=complete.words("nftables", "iptables", "none"), help=FIREWALL.help)
    ] = FIREWALL.default or "nftables",
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
    dry_run: DryRunOpt = False,
    explain: ExplainOpt = False,
    version: Annotated[
        bool, typer.Option(*VERSION.opts, callback=_version, is_eager=True, help=VERSION.help)
    ] = False,
) -> None:
    """Host and container networking on Linux.

    Exit codes: 0 ok, 1 operation failed (rolled back), 2 bad input, 3 not found, 4 conflict,
    5 rollback incomplete, 6 missing privilege or dependency, 75 temporary (retry), 130 interrupted (nothing left
    of the change). See docs/errors.md.
    """
    from cnictl.plan import PROGRESS

    if PROGRESS.phase == "startup":
        PROGRESS.phase = "idle"  # the command runs: from now on Ctrl-C raises KeyboardInterrupt (rollback)
    json_mode = json_mode or os.environ.get("CNICTL_OUTPUT") == "json"
    state.JSON_ERRORS = json_mode
    ctx.obj = State(netns=netns, state_dir=state_dir, firewall=firewall, json_mode=json_mode, quiet=quiet,
                    dry_run=dry_run, explain=explain)


def run(tree: typer.Typer | None = None) -> None:
    """Console entry point: run the app (*tree*, default the whole one) and turn cnictl errors into one line
    and an exit code.

    An interrupt (Ctrl-C) is reported by what it met (cnictl.plan.PROGRESS): before any change, exit 130 and
    "nothing was changed"; during a change that was rolled back, exit 130 and "changes were rolled back";
    after the change completed, exit 0 with the result and a notice; a change it left half-done, exit 5."""
    from cnictl.errors import CnictlError, RollbackIncompleteError
    from cnictl.plan import PROGRESS

    debug = os.environ.get("CNICTL_DEBUG") == "1"
    try:
        rc = (tree if tree is not None else __getattr__("app"))(standalone_mode=False)
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
    from cnictl.errors import Interrupted, RollbackIncompleteError, cli
    from cnictl.plan import NOTHING_CHANGED, PROGRESS

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
    if state.JSON_ERRORS or "--json" in sys.argv:
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

    Output(json_mode=state.JSON_ERRORS or "--json" in sys.argv).error(e)  # type: ignore[arg-type]
