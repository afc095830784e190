"""Use cases, one module per noun: networks, attachments, ports, ipam, forward, namespaces, firewall, links, cni.

Each mutating use case validates everything first (no side effects), builds a Plan, and then, unless it is a
dry run, applies it under the state lock; a failure or Ctrl-C undoes every step already done (`runner`).
The CLI, the CNI plugin and library callers share these functions.

This package imports none of its modules up front: `cnictl attach` and the CNI plugin run once per container,
so a public name is loaded from its module on first use (`cnictl.ops.attach` imports `cnictl.ops.attachments`
and what it needs, not the firewall or the namespace code). Code inside cnictl imports from the module itself.

    >>> from cnictl.host import Host
    >>> from cnictl import ops
    >>> with Host(netns="h1", state_dir="/tmp/s") as host:                # doctest: +SKIP
    ...     ops.create_network(host, ops.NetworkRequest(name="lab", subnets=["10.20.0.0/24"]))
    ...     ops.attach(host, "lab", "web")
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from cnictl.ops.attachments import attach, detach
    from cnictl.ops.cni import check_attachment, detach_container, find_attachment, gc_network, link_exists
    from cnictl.ops.firewall import fw_check, fw_reload, fw_show
    from cnictl.ops.forward import FWD_V4, FWD_V6, forward_set, forward_status
    from cnictl.ops.ipam import ipam_release, ipam_show
    from cnictl.ops.links import link_add, link_list, link_remove
    from cnictl.ops.namespaces import ns_add, ns_exec, ns_list, ns_remove
    from cnictl.ops.networks import (
        DEFAULT_POOL,
        DEFAULT_POOL_PREFIX,
        NetworkRequest,
        asked_settings,
        create_network,
        delete_network,
        inspect_network,
        list_networks,
        network_differences,
    )
    from cnictl.ops.ports import port_list, port_publish, port_unpublish
    from cnictl.ops.requests import AttachRequest
    from cnictl.ops.runner import Outcome, RunOptions

# public name -> the module of this package that defines it
_MODULE = {
    "RunOptions": "runner", "Outcome": "runner",
    "NetworkRequest": "networks", "create_network": "networks", "asked_settings": "networks",
    "network_differences": "networks", "list_networks": "networks", "inspect_network": "networks",
    "delete_network": "networks", "DEFAULT_POOL": "networks", "DEFAULT_POOL_PREFIX": "networks",
    "attach": "attachments", "detach": "attachments", "AttachRequest": "requests",
    "port_publish": "ports", "port_unpublish": "ports", "port_list": "ports",
    "ipam_show": "ipam", "ipam_release": "ipam",
    "forward_set": "forward", "forward_status": "forward", "FWD_V4": "forward", "FWD_V6": "forward",
    "ns_add": "namespaces", "ns_list": "namespaces", "ns_remove": "namespaces", "ns_exec": "namespaces",
    "fw_show": "firewall", "fw_reload": "firewall", "fw_check": "firewall",
    "link_add": "links", "link_remove": "links", "link_list": "links",
    "find_attachment": "cni", "link_exists": "cni", "detach_container": "cni", "check_attachment": "cni",
    "gc_network": "cni", "gc": "garbage",
}

__all__ = [
    "DEFAULT_POOL", "DEFAULT_POOL_PREFIX", "FWD_V4", "FWD_V6", "AttachRequest", "NetworkRequest", "Outcome", "RunOptions",
    "asked_settings", "attach", "check_attachment", "create_network", "delete_network", "detach",
    "detach_container", "find_attachment", "forward_set", "forward_status", "fw_check", "fw_reload", "fw_show",
    "gc", "gc_network", "inspect_network", "ipam_release", "ipam_show", "link_add", "link_exists", "link_list",
    "link_remove", "list_networks", "network_differences", "ns_add", "ns_exec", "ns_list", "ns_remove",
    "port_list", "port_publish", "port_unpublish",
]


def __getattr__(name: str) -> object:
    """Load a public name from its module on first use (PEP 562), and keep it here for the next."""
    module = _MODULE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    qualified = f"{__name__}.{module}"
    __import__(qualified)
    value = getattr(sys.modules[qualified], name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
