"""Dynamic shell completion: the names of networks, namespaces (and any other store kind) for bash, zsh and fish.

typer calls a completer as `f(ctx, args, incomplete)` while the shell asks (`_CNICTL_COMPLETE=complete_bash`
and friends, see completions/). A completer reads the global options given earlier on the command line
(`--state-dir`, `CNICTL_STATE_DIR`, `--netns`, `CNICTL_NETNS`) from the root context, lists a directory, and never raises
and never needs root: whatever goes wrong, it offers nothing rather than an error in the user's shell.

    networks        STATE_DIR/networks/*.json (cnictl.store), with the driver and subnets as the description
    namespaces      /run/netns (what `ip netns` lists)
    store_names(K)  STATE_DIR/K/*.json for any store kind K (a labs store would use store_names("labs"))
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

NETNS_DIR = "/run/netns"

Completer = Callable[[Any, list[str], str], list[tuple[str, str]]]


def _root_params(ctx: Any) -> dict[str, Any]:
    """The global options parsed so far (--state-dir, --netns), from the outermost context."""
    params: dict[str, Any] = {}
    while ctx is not None:
        params = {**dict(getattr(ctx, "params", None) or {}), **params}
        ctx = getattr(ctx, "parent", None)
    return params


def state_dir(ctx: Any) -> str:
    """The state directory this command line would use (cnictl.host.resolve_paths: --state-dir,
    CNICTL_STATE_DIR, then the per-namespace default under --netns, then /var/lib/cnictl)."""
    from cnictl.host import resolve_paths
    from cnictl.netns import NetnsRef

    params = _root_params(ctx)
    netns = params.get("netns") or os.environ.get("CNICTL_NETNS")
    key = NetnsRef.parse(netns).key if netns else None
    return str(resolve_paths(params.get("state_dir"), key).state_dir)


def store_names(kind: str, describe: Callable[[dict[str, Any]], str] | None = None) -> Completer:
    """A completer of the records STATE_DIR/*kind*/NAME.json; *describe* turns a record into its help text."""

    def complete(ctx: Any, args: list[str], incomplete: str) -> list[tuple[str, str]]:
        try:
            directory = os.path.join(state_dir(ctx), kind)
            names = sorted(f[:-5] for f in os.listdir(directory) if f.endswith(".json") and not f.startswith("."))
        except Exception:  # noqa: BLE001 - completion offers nothing rather than fail in the shell
            return []
        out = []
        for name in names:
            if not name.startswith(incomplete):
                continue
            help_text = ""
            if describe is not None:
                try:
                    with open(os.path.join(directory, f"{name}.json")) as f:
                        help_text = describe(json.load(f))
                except Exception:  # noqa: BLE001
                    help_text = ""
            out.append((name, help_text))
        return out

    return complete


def _network_help(rec: dict[str, Any]) -> str:
    subnets = ", ".join(str(s.get("subnet", "")) for s in rec.get("subnets") or [] if isinstance(s, dict))
    return " ".join(p for p in (str(rec.get("driver") or ""), subnets) if p)


networks = store_names("networks", _network_help)


def namespaces(ctx: Any, args: list[str], incomplete: str) -> list[tuple[str, str]]:
    """Named network namespaces (/run/netns)."""
    try:
        names = sorted(os.listdir(NETNS_DIR))
    except Exception:  # noqa: BLE001
        return []
    return [(n, "") for n in names if n.startswith(incomplete) and not n.startswith(".")]


def words(*choices: str) -> Completer:
    """A completer of fixed words (an option whose values are a short list but not a typed choice)."""

    def complete(ctx: Any, args: list[str], incomplete: str) -> list[tuple[str, str]]:
        return [(w, "") for w in choices if w.startswith(incomplete)]

    return complete
