"""What every firewall backend provides, and the per-network firewall intent it is given.

    >>> NetworkFirewall("lab", "br-lab", ("10.20.0.0/24",), masquerade=True, internal=False).chains
    ('lab-fwd', 'lab-nat')
"""

from __future__ import annotations

from cnictl.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol

    from cnictl.plan import Step


@record(frozen=True)
class NetworkFirewall:
    """The rules one network needs: masquerade its subnets, forward out, isolate from other networks."""

    network: str
    bridge: str
    subnets: tuple[str, ...]
    masquerade: bool
    internal: bool
    isolate: bool = True
    open_peers: tuple[str, ...] = ()  # bridges of the other --no-isolate networks on the same backend

    @property
    def chains(self) -> tuple[str, str]:
        return (f"{self.network}-fwd", f"{self.network}-nat")


@record(frozen=True)
class PortForward:
    """One published mapping: host (address, port range, protocol) to the container's address and ports."""

    network: str
    bridge: str
    container_ip: str
    host_ip: str | None
    host_port: int
    container_port: int
    count: int
    proto: str

    def pairs(self) -> list[tuple[int, int]]:
        return [(self.host_port + i, self.container_port + i) for i in range(self.count)]


if TYPE_CHECKING:  # a type only: the backends match it by shape

    class FirewallBackend(Protocol):
        name: str

        def setup_network(self, fw: NetworkFirewall) -> Step: ...

        def teardown_network(self, fw: NetworkFirewall) -> Step: ...

        def publish(self, forwards: Callable[[], list[PortForward]], summary: str) -> Step: ...

        def unpublish(self, forwards: list[PortForward], summary: str) -> Step: ...

        def reload(self, networks: list[NetworkFirewall], forwards: list[PortForward]) -> int: ...

        def check(self, networks: list[NetworkFirewall], forwards: list[PortForward]) -> list[str]: ...

        def foreign_forward_drops(self) -> list[str]: ...

        def rules(self, network: NetworkFirewall | None = None) -> list[dict[str, Any]]: ...

        def text(self, network: NetworkFirewall | None = None) -> str: ...

        def close(self) -> None: ...
