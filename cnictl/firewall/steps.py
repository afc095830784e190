"""Firewall Steps that span a backend's whole table: `fw reload` re-applies every rule cnictl owns.

The per-network and per-port steps are the backends' own (`setup_network`, `publish`, ...); this one
hands a backend every network's intent and every published mapping, read from the state, and the
backend re-creates them in one transaction (`FirewallBackend.reload`).

    >>> from cnictl.firewall.none import NoFirewall
    >>> ReloadRules(NoFirewall(), [], []).summary
    'reload the none rules of 0 network(s) and 0 published port(s)'
"""

from __future__ import annotations

from cnictl.plan import Step

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from cnictl.firewall.base import Leftover, NetworkFirewall, PortForward
    from cnictl.firewall.protocol import FirewallBackend
    from cnictl.host import Host


class ReloadRules(Step):
    """Re-apply every rule of one backend from the state (after a flush or a firewall restart): the chains that
    exist are flushed and refilled (nftables: one transaction, port maps included; iptables: one restore per
    table). Running it on an intact ruleset changes nothing, so there is nothing to undo."""

    journaled = False  # one transaction per table: the old rules or the new ones, never half

    def __init__(self, backend: FirewallBackend, networks: list[NetworkFirewall], forwards: list[PortForward]) -> None:
        self.backend, self.networks, self.forwards = backend, list(networks), list(forwards)
        self.summary = (f"reload the {backend.name} rules of {len(self.networks)} network(s) and "
                        f"{len(self.forwards)} published port(s)")
        self.commands = 0

    def apply(self, host: Host) -> None:
        self.commands = self.backend.reload(self.networks, self.forwards)

    def explain(self, host: Host) -> list[str]:
        lines = [f"# firewall: {self.summary} from the state: cnictl's own chains are emptied and refilled, so "
                 "an intact ruleset stays as it is"]
        for fw in self.networks:
            lines += self.backend.setup_network(fw).explain(host)
        if self.forwards:
            fwds = self.forwards
            lines += self.backend.publish(lambda: fwds, f"{len(fwds)} published port(s)").explain(host)
        return lines


class RemoveLeftover(Step):
    """`cnictl gc`: remove rules or set elements of cnictl's own table/chains that no network record accounts
    for (the backend's `leftovers`), by the commands the backend gave with it; already gone is fine."""

    def __init__(self, backend: str, leftover: Leftover) -> None:
        self.backend, self.leftover = backend, leftover
        self.summary = f"remove {leftover.check}: {leftover.detail}"

    def apply(self, host: Host) -> None:
        from cnictl.firewall import get_backend

        get_backend(self.backend).remove_leftover(self.leftover)

    def explain(self, host: Host) -> list[str]:
        return [self.leftover.hint] if self.leftover.hint else [f"# firewall: {self.summary}"]

    def journal(self) -> dict[str, Any]:
        lo = self.leftover
        return {"backend": self.backend, "check": lo.check, "detail": lo.detail, "hint": lo.hint,
                "commands": list(lo.commands)}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> RemoveLeftover:
        from cnictl.firewall.base import Leftover

        return cls(data["backend"], Leftover(data["check"], data["detail"], data["hint"], tuple(data["commands"])))
