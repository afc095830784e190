"""What every firewall backend provides, and the per-network firewall intent it is given.

`FirewallBackend` is a runtime protocol (`isinstance(backend, FirewallBackend)` holds for each backend):
it is defined in `cnictl.firewall.protocol` and loaded from here on first use, because `typing` costs
~2 ms and this module is on the attach and plugin path, which never needs the protocol.

    >>> NetworkFirewall("lab", "br-lab", ("10.20.0.0/24",), masquerade=True, internal=False).chains
    ('lab-fwd', 'lab-nat')
"""

from __future__ import annotations

from cnictl.record import asdict, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from cnictl.firewall.protocol import FirewallBackend as FirewallBackend
    from cnictl.firewall.protocol import Records as Records


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


@record(frozen=True)
class Leftover:
    """Something of cnictl's in a backend's rules that no network record accounts for (`cnictl doctor`
    reports each as a failed check named *check*), with the command that removes it."""

    check: str  # leftover.nft.<network>, leftover.iptables.<bridge>, ...
    detail: str
    hint: str | None = None
    commands: tuple[str, ...] = ()
    """What `cnictl gc` runs to remove it, in the backend's own words (nft commands; iptables arguments), when
    the backend's own table or chains hold it: empty when removing it needs a person's judgement."""


def __getattr__(name: str) -> object:
    """`FirewallBackend` and `Records`, imported on first use (they need `typing`)."""
    if name in ("FirewallBackend", "Records"):
        from cnictl.firewall import protocol

        return getattr(protocol, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---- the journal's form of the intents (cnictl.journal) -------------------------------------------------------

def fw_data(fw: NetworkFirewall) -> dict[str, Any]:
    return asdict(fw)


def fw_from(data: dict[str, Any]) -> NetworkFirewall:
    return NetworkFirewall(**{**data, "subnets": tuple(data["subnets"]), "open_peers": tuple(data.get("open_peers", ()))})


def forwards_data(fwds: list[PortForward]) -> list[dict[str, Any]]:
    return [asdict(pf) for pf in fwds]


def forwards_from(data: list[dict[str, Any]]) -> list[PortForward]:
    return [PortForward(**d) for d in data]
