"""Shared CLI options (Annotated aliases) and the per-invocation context object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import typer

from cnictl.cli import complete

if TYPE_CHECKING:
    from cnictl.host import Host
    from cnictl.ops import Outcome, RunOptions
    from cnictl.render.output import Output

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout (a list for listings, an object otherwise).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only names, one per line.")]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print the equivalent ip/nft/sysctl commands and change nothing.")
]
ExplainOpt = Annotated[bool, typer.Option("--explain", help="Run, echoing each step's equivalent command to stderr.")]
IfnameOpt = Annotated[str, typer.Option("--ifname", "-i", metavar="IFNAME", help="Interface name inside the namespace.")]
Format = Literal["auto", "table", "plain", "simple", "github", "tsv"]
FormatOpt = Annotated[
    Format,
    typer.Option("--format", metavar="FORMAT",
                 help="Table style: auto (rich on a terminal, plain text when piped), table (rich), plain, simple, "
                      "github, or tsv (rows only)."),
]
NetworkArg = Annotated[
    str, typer.Argument(metavar="NETWORK", help="Network name.", show_default=False, autocompletion=complete.networks)
]
NetworkNameArg = Annotated[
    str, typer.Argument(metavar="NAME", help="Network name.", show_default=False, autocompletion=complete.networks)
]
OptionalNetworkArg = Annotated[
    str | None,
    typer.Argument(metavar="NETWORK", help="Only this network (default: all).", show_default=False,
                   autocompletion=complete.networks),
]
NetnsArg = Annotated[
    str,
    typer.Argument(metavar="NETNS", help="Network namespace: a name under /run/netns or a path such as /proc/PID/ns/net.",
                   show_default=False, autocompletion=complete.namespaces),
]
NetnsNameArg = Annotated[
    str, typer.Argument(metavar="NAME", help="Namespace name (under /run/netns).", show_default=False,
                        autocompletion=complete.namespaces)
]


# ---- the options of every command that changes the system: one definition ----------------------------------
CHANGE_OPTIONS: dict[str, Any] = {"json_mode": JsonOpt, "quiet": QuietOpt, "dry_run": DryRunOpt, "explain": ExplainOpt}
F = TypeVar("F", bound=Callable[..., Any])


def changes(*, quiet: bool = False, explain: bool = True) -> Callable[[F], F]:
    """Give a command that changes the system the shared options, after its own: --json, -q/--quiet (with
    *quiet*), --dry-run and --explain (unless *explain* is False). They are merged into the invocation's State
    before the command runs, so the body reads them there (`st: State = ctx.obj`); the command's first
    parameter is the typer.Context. Adding an option every mutating command takes is one entry here.

        @app.command("add", epilog="Example: cnictl ns add web")
        @changes()
        def add(ctx: typer.Context, name: NewNameArg) -> None: ...
    """
    import functools
    import inspect

    names = [n for n in CHANGE_OPTIONS if (quiet or n != "quiet") and (explain or n != "explain")]

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn, eval_str=True)
        shared = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=False, annotation=CHANGE_OPTIONS[n])
                  for n in names]

        @functools.wraps(fn)
        def command(*args: Any, **kwargs: Any) -> Any:
            flags = {n: kwargs.pop(n, False) for n in names}
            ctx = kwargs["ctx"] if "ctx" in kwargs else args[0]
            ctx.obj.merge(**flags)
            return fn(*args, **kwargs)

        command.__signature__ = sig.replace(parameters=[*sig.parameters.values(), *shared])  # type: ignore[attr-defined]
        command.__annotations__ = {**fn.__annotations__, **{n: CHANGE_OPTIONS[n] for n in names}}
        return command  # type: ignore[return-value]

    return decorate


@dataclass
class State:
    """Global options of one invocation; commands merge their own flags into it."""

    netns: str | None = None
    state_dir: str | None = None
    firewall: str = "nftables"
    json_mode: bool = False
    quiet: bool = False
    dry_run: bool = False
    explain: bool = False
    fmt: str = "auto"
    _host: Any = field(default=None, repr=False)
    _out: Any = field(default=None, repr=False)

    def merge(self, *, json_mode: bool = False, quiet: bool = False, dry_run: bool = False, explain: bool = False,
              fmt: str | None = None) -> State:
        self.json_mode |= json_mode
        if fmt is not None and fmt != "auto":
            self.fmt = fmt
        self.quiet |= quiet
        self.dry_run |= dry_run
        self.explain |= explain
        from cnictl.cli import state

        state.JSON_ERRORS = self.json_mode
        return self

    @property
    def out(self) -> Output:
        if self._out is None:
            from cnictl.render.output import Output

            self._out = Output(json_mode=self.json_mode, quiet=self.quiet, explain=self.explain, fmt=self.fmt)
        return self._out

    def host(self, *, changes: str | None = None) -> Host:
        """The Host, entered. *changes* names the command when it will change the system (needs root)."""
        from cnictl.host import Host

        if changes and not self.dry_run:
            Host.require_admin(changes)
        if self._host is None:
            h = Host(netns=self.netns, state_dir=self.state_dir, firewall=self.firewall)
            if h.netns is not None:
                Host.require_admin(f"--netns {self.netns}")
            self._host = h.enter()
        return self._host

    def run_options(self) -> RunOptions:
        from cnictl.ops import RunOptions

        echo = None
        if self.explain and not self.dry_run:
            host = self.host()
            out = self.out

            def echo(step: Any) -> None:
                out.echo_lines(step.explain(host))

        return RunOptions(dry_run=self.dry_run, echo=echo)

    def finish(self, outcome: Outcome, summary: str | None = None, *, key: str = "name") -> None:
        """Render a change: the plan (dry run) or the result, plus notices on stderr."""
        out = self.out
        if self.dry_run and outcome.plan.steps:
            out.plan(outcome.plan.explain(self.host()))
            return
        for n in outcome.notices:
            out.notice(n)
        if out.json_mode:
            from cnictl.ops.requests import to_json

            out.json(to_json(outcome.result))
        elif out.quiet:
            if key in outcome.result:
                out.out.write(f"{outcome.result[key]}\n")
        elif summary and outcome.applied:
            out.line(summary)
