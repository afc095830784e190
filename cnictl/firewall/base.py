"""What every firewall backend provides, and the per-network firewall intent it is given.

    >>> NetworkFirewall("lab", "br-lab", ("10.20.0.0/24",), masquerade=True, internal=False).chains
    ('lab-fwd', 'lab-nat')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from cnictl.plan import Step


@dataclass(frozen=True)
class NetworkFirewall:
    """The rules one network needs: masquerade its subnets, forward out, isolate from other networks."""

    network: str
    bridge: str
    subnets: tuple[str, ...]
    masquerade: bool
    internal: bool

    @property
    def chains(self) -> tuple[str, str]:
        return (f"{self.network}-fwd", f"{self.network}-nat")


class FirewallBackend(Protocol):
    name: str

    def setup_network(self, fw: NetworkFirewall) -> Step: ...

    def teardown_network(self, fw: NetworkFirewall) -> Step: ...

    def rules(self, network: str | None = None) -> list[dict[str, Any]]: ...

    def text(self, network: str | None = None) -> str: ...

    def close(self) -> None: ...
