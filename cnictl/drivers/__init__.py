"""Network drivers by kernel link kind; `get_driver(name)` returns the one for a network.

    >>> get_driver("bridge").kind
    'bridge'
"""

from __future__ import annotations

from cnictl.errors import ConfigError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from cnictl.drivers.base import NetworkDriver

DRIVERS = ("bridge", "macvlan", "ipvlan")


def get_driver(name: str) -> NetworkDriver:
    if name == "bridge":
        from cnictl.drivers.bridge import BridgeDriver

        return BridgeDriver()
    if name in ("macvlan", "ipvlan"):
        from cnictl.drivers.macvlan import MacvlanDriver

        return MacvlanDriver(name)
    raise ConfigError(f'unknown driver "{name}" (choose one of: {", ".join(DRIVERS)})')
