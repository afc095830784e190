"""The firewall backend protocol, checked at run time: what nftables, iptables and none each provide.

A driver is handed a backend and never asks which one it is; `cnictl doctor` asks every backend the
same questions in one loop. Import it from `cnictl.firewall.base` (which loads this module on first
use, so the attach path does not pay for `typing`).

    >>> from cnictl.firewall import get_backend
    >>> isinstance(get_backend("none"), FirewallBackend)
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from cnictl.firewall.base import Leftover, NetworkFirewall, PortForward
    from cnictl.host import Host
    from cnictl.model import Network
    from cnictl.plan import Step


class Records(Protocol):
    """The network records a backend's `leftovers` reads (doctor's `Known` has this shape): a backend
    owns the rules of the networks whose `firewall` is its name."""

    @property
    def networks(self) -> Sequence[Network]: ...


@runtime_checkable
class FirewallBackend(Protocol):
    name: str

    # ---- plan steps: one atomic change each
    def setup_network(self, fw: NetworkFirewall) -> Step: ...

    def teardown_network(self, fw: NetworkFirewall, last: bool = False) -> Step:
        """Remove the network's rules; *last*: no other recorded network has rules in this backend (what
        the step's explain predicts from; applying it still goes by what the ruleset holds)."""
        ...

    def publish(self, forwards: Callable[[], list[PortForward]], summary: str) -> Step: ...

    def unpublish(self, forwards: list[PortForward], summary: str) -> Step: ...

    # ---- fw reload / fw check / fw show
    def reload(self, networks: list[NetworkFirewall], forwards: list[PortForward]) -> int: ...

    def check(self, networks: list[NetworkFirewall], forwards: list[PortForward]) -> list[str]: ...

    def foreign_forward_drops(self) -> list[str]: ...

    def rules(self, network: NetworkFirewall | None = None) -> list[dict[str, Any]]: ...

    def text(self, network: NetworkFirewall | None = None) -> str: ...

    # ---- cnictl doctor: what of cnictl's is in the ruleset without a record
    def bridges_in_rules(self) -> set[str]:
        """Every bridge cnictl's rules of this backend name (evidence that a bridge was cnictl's)."""
        ...

    def leftovers(self, known: Records, host: Host) -> list[Leftover]:
        """cnictl's chains, rules and set elements that no network of *known* using this backend accounts
        for, each with the command that removes it (run in *host*'s namespace). Nothing installed to read
        the rules with means nothing to report."""
        ...

    def remove_leftover(self, leftover: Leftover) -> None:
        """Remove one of leftovers() by its commands (`cnictl gc`); already gone is fine."""
        ...

    def close(self) -> None: ...
