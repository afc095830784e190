"""The no-op firewall backend, for users who manage their own rules."""

from __future__ import annotations

from cnictl.firewall.base import Leftover, NetworkFirewall, PortForward
from cnictl.plan import Note, Step

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from cnictl.firewall.protocol import Records
    from cnictl.host import Host


class NoFirewall:
    name = "none"

    def setup_network(self, fw: NetworkFirewall) -> Step:
        return Note(f"firewall backend 'none': no rules for {fw.network}")

    def teardown_network(self, fw: NetworkFirewall, last: bool = False) -> Step:
        return Note(f"firewall backend 'none': no rules to remove for {fw.network}")

    def publish(self, forwards: Callable[[], list[PortForward]], summary: str) -> Step:
        return Note(f"firewall backend 'none': {summary} needs DNAT rules you manage yourself")

    def unpublish(self, forwards: list[PortForward], summary: str) -> Step:
        return Note(f"firewall backend 'none': no rules to remove for {summary}")

    def reload(self, networks: list[NetworkFirewall], forwards: list[PortForward]) -> int:
        return 0

    def check(self, networks: list[NetworkFirewall], forwards: list[PortForward]) -> list[str]:
        return []

    def foreign_forward_drops(self) -> list[str]:
        return []

    def rules(self, network: NetworkFirewall | None = None) -> list[dict[str, Any]]:
        return []

    def text(self, network: NetworkFirewall | None = None) -> str:
        return ""

    def bridges_in_rules(self) -> set[str]:
        return set()

    def leftovers(self, known: Records, host: Host) -> list[Leftover]:
        return []  # no rules of cnictl's, so none left behind

    def remove_leftover(self, leftover: Leftover) -> None:
        return None

    def close(self) -> None:
        return None
