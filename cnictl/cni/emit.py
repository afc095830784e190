"""`cni emit`: a .conflist for a cnictl network that runtimes (podman 4.3, containerd 1.6) use unchanged.

Three flavours:

* reference (default): the plugins from containernetworking/plugins. bridge (or macvlan / ipvlan),
  host-local with `dataDir` set to cnictl's IPAM root, so both hand out addresses from one store,
  portmap for published ports. The network-wide parts stay cnictl's: the bridge's NAT, isolation and
  forwarding come from `cnictl net create` on the same host, so the chain only does per-container work
  (ipMasq off). Every plugin of it passes CHECK with the reference plugins 1.1 (`cnictl cni check`).
* reference-tuning: the same plus tuning, which disables IPv6 on the container interface of an
  IPv4-only network as `cnictl attach` does (sysctl `net.ipv6.conf.IFNAME.disable_ipv6`). tuning
  before 1.3.0 does not substitute IFNAME in CHECK, so CHECK of this list fails with those plugins.
* cnictl: one plugin of type `cnictl` naming the network; the `cnictl-cni` plugin then does exactly
  what `cnictl attach` does (including published ports and host access).

A setting that no reference plugin can express is refused with the setting named.

    >>> from cnictl.model import Network, SubnetSpec
    >>> net = Network("lab", "bridge", "br-lab", [SubnetSpec("10.20.0.0/24", "10.20.0.1")])
    >>> [p["type"] for p in conflist(net, "/var/lib/cnictl/ipam")["plugins"]]
    ['bridge', 'portmap']
    >>> [p["type"] for p in conflist(net, "/var/lib/cnictl/ipam", "reference-tuning")["plugins"]]
    ['bridge', 'tuning', 'portmap']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnictl import fsutil
from cnictl.errors import ConfigError
from cnictl.plan import Step

if TYPE_CHECKING:
    from cnictl.host import Host
    from cnictl.model import Network

CNI_VERSION = "1.0.0"  # what podman 4.3 and containerd 1.6 (libcni 1.1) accept; reference plugins 1.1 support it
FLAVOURS = ("reference", "reference-tuning", "cnictl")
DEFAULT_FLAVOUR = "reference"


def file_name(network: str) -> str:
    return f"cnictl-{network}.conflist"


def _ranges(net: Network) -> list[list[dict[str, str]]]:
    """host-local ranges that hand out exactly what cnictl's allocator does (the same Range arithmetic)."""
    from cnictl.ipam.allocator import Range

    out = []
    for s in net.subnets:
        rng: dict[str, str] = {"subnet": s.subnet, "gateway": s.gateway}
        if s.ip_range:
            built = Range.build(s.subnet, s.gateway, s.ip_range)
            rng["rangeStart"], rng["rangeEnd"] = str(built.range_start), str(built.range_end)
        out.append([rng])
    return out


def _ipam(net: Network, data_dir: str) -> dict[str, Any]:
    ipam: dict[str, Any] = {"type": "host-local", "ranges": _ranges(net), "dataDir": data_dir}
    if not net.internal:
        ipam["routes"] = [{"dst": "0.0.0.0/0" if s.network.version == 4 else "::/0"} for s in net.subnets]
    return ipam


def conflist(net: Network, data_dir: str, flavour: str = DEFAULT_FLAVOUR, state_dir: str | None = None) -> dict[str, Any]:
    """The conflist as a dict; *data_dir* is the host-local dataDir (cnictl's IPAM root on this host), and
    *state_dir* cnictl's state directory when it is not the default (the cnictl plugin must use the same)."""
    if flavour not in FLAVOURS:
        raise ConfigError(f'unknown conflist flavour "{flavour}"', hint=f"use one of: {', '.join(FLAVOURS)}")
    if flavour == "cnictl":
        plugin: dict[str, Any] = {"type": "cnictl", "network": net.name,
                                  "capabilities": {"portMappings": True, "ips": True, "mac": True}}
        if state_dir:
            plugin["stateDir"] = state_dir
        return {"cniVersion": CNI_VERSION, "name": net.name, "plugins": [plugin]}
    from cnictl.drivers import get_driver

    driver = get_driver(net.driver)
    plugins: list[dict[str, Any]] = []
    main = driver.cni_plugin(net)  # bridge, macvlan or ipvlan; refuses what no reference plugin expresses
    if net.mtu:
        main["mtu"] = net.mtu
    main["ipam"] = _ipam(net, data_dir)
    plugins.append(main)
    if flavour == "reference-tuning" and not net.has_ipv6:  # as `cnictl attach`: no IPv6 on the container end
        plugins.append({"type": "tuning", "sysctl": {"net.ipv6.conf.IFNAME.disable_ipv6": "1"}})
    if driver.publishes_ports and not net.internal:
        plugins.append({"type": "portmap", "capabilities": {"portMappings": True}, "snat": True})
    return {"cniVersion": CNI_VERSION, "name": net.name, "plugins": plugins}


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2) + "\n"


def write(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (a reader never sees half a file), mode 0644 like the runtimes' own conflists."""
    fsutil.atomic_write(path, render(data), 0o644)


def target(out: str, network: str) -> Path:
    """--out FILE, or --out DIR (an existing directory, or a path ending in /): DIR/cnictl-NETWORK.conflist."""
    p = Path(out)
    if out.endswith("/") or p.is_dir():
        return p / file_name(network)
    return p


def emit(host: Host, network: str, out: str | None = None, flavour: str = DEFAULT_FLAVOUR) -> dict[str, Any]:
    """The conflist of *network*, written to *out* if given: {"path": str | None, "conflist": {...}}."""
    from cnictl.model import validate_network_name
    from cnictl.store import Store

    net = Store(host.paths).get_network(validate_network_name(network))
    from cnictl.host import DEFAULT_STATE_DIR

    state_dir = str(host.paths.state_dir)
    data = conflist(net, str(host.paths.ipam_root), flavour, None if state_dir == DEFAULT_STATE_DIR else state_dir)
    if out is None:
        return {"path": None, "conflist": data}
    path = target(out, network)
    write(path, data)
    return {"path": str(path), "conflist": data}


# ---- steps: the conflist `net create --cni-conf-dir` writes and `net rm` removes --------------


class WriteConflist(Step):
    """Write a network's conflist into a runtime's conf dir (`net create --cni-conf-dir`); undo removes it."""

    outlives_boot = True

    def __init__(self, path: Path, data: dict[str, Any], network: str) -> None:
        self.path, self.data, self.network = path, data, network
        self.summary = f"write CNI conflist {path}"
        self.written = False

    def apply(self, host: Host) -> None:
        write(self.path, self.data)
        self.written = True

    def undo(self, host: Host) -> None:
        if self.written:
            self.path.unlink(missing_ok=True)
            self.written = False

    def journal(self) -> dict[str, Any]:
        return {"path": str(self.path), "data": self.data, "network": self.network}

    def journal_out(self) -> dict[str, Any]:
        return {}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> WriteConflist:
        step = cls(Path(data["path"]), data["data"], data["network"])
        if out is not None:
            step.written = True
        else:  # cut short: remove the file only if it is ours
            try:
                step.written = json.loads(step.path.read_text()) == step.data
            except (OSError, ValueError):
                step.written = False
        return step

    def explain(self, host: Host) -> list[str]:
        return [f"# CNI: write {self.path} (cnictl cni emit {self.network})"]


class RemoveConflist(Step):
    """Remove the conflist written at `net create` (`net rm`); already gone is fine."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.summary = f"remove CNI conflist {path}"

    def apply(self, host: Host) -> None:
        self.path.unlink(missing_ok=True)

    def journal(self) -> dict[str, Any]:
        return {"path": str(self.path)}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> RemoveConflist:
        return cls(Path(data["path"]))

    def explain(self, host: Host) -> list[str]:
        return [f"rm -f {self.path}"]
