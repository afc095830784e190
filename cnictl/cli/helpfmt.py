"""How `--help` names parameters: typer's rich help, with the value placeholders made meaningful.

typer 0.29's rich help shows a type column beside every parameter: `--json <bool>` for a flag (which
takes no value), `NAME <str>` for an argument, and `{NAME}` for a required argument in the usage line.
cnictl's help shows instead what the user types: an option's metavar (`--subnet CIDR`), nothing beside a
flag, and arguments as `NAME` (required) or `[NAME]` (optional), as click and man pages do. The root
group (cnictl.cli.main.app, `cls=HelpGroup`) applies this to every command below it when it is built,
cnictl cni's too, so a command declares only its metavars. Nothing here changes parsing or completion.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperGroup


def _no_type(ctx: Any) -> None:
    return None


def _no_type_label(param: Any) -> None:
    """typer 0.28 labels an argument with its click type's metavar, or `<str>` when it has none: give the
    argument a copy of its type whose metavar is empty instead of missing (a choice keeps its `[a|b]`)."""
    import copy

    if getattr(param, "type", None) is None:  # typer 0.29 has display_type_rich instead
        return
    kind = copy.copy(param.type)
    get_metavar = kind.get_metavar

    def metavar(*args: Any, **kwargs: Any) -> Any:
        found = get_metavar(*args, **kwargs)
        return "" if found is None else found

    kind.get_metavar = metavar
    param.type = kind


def _usage_pieces(param: TyperArgument) -> Any:
    def pieces(ctx: Any) -> list[str]:
        name = param.metavar or (param.name or "").upper()
        return [name if param.required else f"[{name}]"]

    return pieces


def tidy_param(param: Any) -> None:
    """Flags lose their type (`<bool>`); an option without a metavar is named after itself (`--ifname IFNAME`);
    arguments show their metavar alone (default: their name in capitals)."""
    if getattr(param, "_cnictl_tidy", False):
        return
    param._cnictl_tidy = True
    if param.param_type_name == "option" and (getattr(param, "is_flag", False) or getattr(param, "count", False)):
        if param.metavar is None:
            param.metavar = ""
    elif param.param_type_name == "option":
        choice = getattr(getattr(param, "type_descriptor", None), "is_choice", False)
        if param.metavar is None and not choice and param.opts:  # `--conf-dir <str>` reads `--conf-dir CONF_DIR`
            param.metavar = max(param.opts, key=len).lstrip("-").replace("-", "_").upper()
    elif isinstance(param, TyperArgument):
        if param.metavar is None:
            param.metavar = (param.name or "").upper()
        if param.nargs != 1 and not param.metavar.endswith("..."):
            param.metavar += "..."
        param.display_type_rich = _no_type  # type: ignore[attr-defined, unused-ignore]  # typer 0.29
        _no_type_label(param)  # typer 0.28
        param.get_usage_pieces = _usage_pieces(param)  # type: ignore[method-assign]


def tidy_command(command: Any) -> None:
    """Tidy a command's parameters now, and its help option when click creates it (on first get_params)."""
    if getattr(command, "_cnictl_tidy", False):
        return
    command._cnictl_tidy = True
    for p in command.params:
        tidy_param(p)
    get_params = command.get_params

    def tidied(ctx: Any) -> list[Any]:
        params = get_params(ctx)
        for p in params:
            tidy_param(p)
        return list(params)

    command.get_params = tidied
    for sub in getattr(command, "commands", {}).values():
        tidy_command(sub)


class HelpGroup(TyperGroup):
    """The root group: tidies the whole command tree once, when typer builds it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tidy_command(self)
