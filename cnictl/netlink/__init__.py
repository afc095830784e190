"""The netlink layer: the only part of cnictl that imports pyroute2.

`pyroute2/__init__.py` eagerly imports every API family (NDB, IPDB, wireguard, ...), which
costs more than the work cnictl does per container. `load()` imports just the IPRoute module:
it registers a bare package object for `pyroute2` (same search path, no eager imports) when
the real package has not been imported yet, and falls back to the normal import otherwise.

    >>> from cnictl.netlink import load
    >>> IPRoute, NetlinkError = load()
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


def load() -> tuple[Any, type[Exception]]:
    if "pyroute2" not in sys.modules:
        import importlib.util
        import types

        spec = importlib.util.find_spec("pyroute2")
        if spec is not None and spec.submodule_search_locations is not None:
            pkg = types.ModuleType("pyroute2")
            pkg.__path__ = list(spec.submodule_search_locations)
            pkg.__spec__ = spec
            pkg.__file__ = spec.origin
            sys.modules["pyroute2"] = pkg
    try:
        from pyroute2.iproute.linux import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError
    except Exception:  # pragma: no cover - fall back to the full package
        for name in [m for m in sys.modules if m == "pyroute2" or m.startswith("pyroute2.")]:
            del sys.modules[name]
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError
    return IPRoute, NetlinkError
