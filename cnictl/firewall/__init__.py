"""Firewall backends: nftables (default), iptables or none, built by name here and handed to drivers.

`get_backend` is the one factory: a use case (cnictl.ops) builds the backend a network names and hands it
to the plans (a driver's `plan_create`/`plan_delete` get it in a `FirewallContext`), and `cnictl doctor` asks
each of `BACKENDS` the same questions. Every backend satisfies `cnictl.firewall.base.FirewallBackend`.

    >>> from cnictl.firewall import BACKENDS
    >>> sorted(BACKENDS)
    ['iptables', 'nftables', 'none']
    >>> get_backend("none").name
    'none'
"""

from __future__ import annotations

from cnictl.errors import ConfigError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from cnictl.firewall.base import FirewallBackend

BACKENDS = ("nftables", "iptables", "none")


def get_backend(name: str) -> FirewallBackend:
    """A new backend called *name* (each module is imported only when its backend is asked for)."""
    if name == "nftables":
        from cnictl.firewall.nftables import NftablesBackend

        return NftablesBackend()
    if name == "iptables":
        from cnictl.firewall.iptables import IptablesBackend

        return IptablesBackend()
    if name == "none":
        from cnictl.firewall.none import NoFirewall

        return NoFirewall()
    raise ConfigError(f'unknown firewall backend "{name}" (choose one of: {", ".join(BACKENDS)})')
