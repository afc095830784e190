"""Firewall backends: nftables (default) or none; chosen by name, never by a driver.

    >>> from cnictl.firewall import BACKENDS
    >>> sorted(BACKENDS)
    ['iptables', 'nftables', 'none']
"""

from __future__ import annotations

from cnictl.errors import ConfigError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from cnictl.firewall.base import FirewallBackend

BACKENDS = ("nftables", "iptables", "none")


def get_backend(name: str) -> FirewallBackend:
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
