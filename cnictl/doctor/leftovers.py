"""What cnictl left behind without a record: links, firewall rules, IPAM reservations, probe namespaces.

Pure rules (`leftover_links`, `leftover_probe_namespaces`, `Known.shim_known`) judge what the host
namespace and the state directory hold; the firewall backends judge their own rules (`bridges_in_rules`,
`leftovers`), all asked through one loop; `cnictl.doctor.ipam` judges reservations. Each finding comes
with the exact command that removes it.

    >>> [c.check for c in leftover_probe_namespaces(["cnictl-doctor-1-abc123"], lambda pid: False)]
    ['leftover.netns.cnictl-doctor-1-abc123']
"""

from __future__ import annotations

import os
import re

from cnictl.doctor.check import FAIL, Check, cnictl_prefix
from cnictl.doctor.features import PROBE_RE
from cnictl.errors import CnictlError
from cnictl.model import short_hash
from cnictl.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from typing import Any

    from cnictl.host import Host
    from cnictl.model import Attachment, Network

HOST_VETH_RE = re.compile(r"^cni[0-9a-f]{12}$")  # model.host_ifname


# ---------------------------------------------------------------------------------------
# leftovers (pure: from what the host namespace and the state directory hold)
# ---------------------------------------------------------------------------------------
@record
class Known:
    """What the state records own."""

    networks: list[Network]
    attachments: list[Attachment]

    @property
    def names(self) -> set[str]:
        return {n.name for n in self.networks}

    @property
    def bridges(self) -> set[str]:
        """The networks' own host links (bridges), as their drivers name them."""
        from cnictl.drivers import host_links

        return host_links(self.networks)

    @property
    def host_ifnames(self) -> set[str]:
        return {a.host_ifname for a in self.attachments}

    def shim_known(self, name: str) -> bool:
        """A host link with a driver's prefix (`host_link_prefixes`: a host-access shim, mvh-) belongs to a
        network when the record names it, or when its name is the prefix + the network's name (possibly cut
        short) or + a prefix of its hash. Generous on purpose: an unknown one is reported only when no
        network could own it."""
        from cnictl.drivers import host_link_prefixes

        prefix = next((p for p in host_link_prefixes() if name.startswith(p)), "")
        suffix = name[len(prefix):]
        for net in self.networks:
            if name in set(_strings(net.to_dict())):
                return True
            if suffix and (net.name.startswith(suffix) or short_hash(net.name).startswith(suffix)):
                return True
        return False


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def leftover_links(links: Sequence[dict[str, Any]], known: Known, fw_bridges: set[str], ip: str) -> list[Check]:
    """cni<12 hex> veth ends and the drivers' other host links (mvh-* shims) without a record; bridges only when
    cnictl's evidence names them.

    A `br-*` bridge alone proves nothing (docker's bridges are br-<12 hex> too), so an unknown bridge
    is reported only when cnictl's firewall rules still name it or a leftover cnictl veth is its port.
    """
    from cnictl.drivers import host_link_prefixes

    prefixes = host_link_prefixes()
    names = {link["index"]: str(link["ifname"]) for link in links}
    out = []
    stray_ports: dict[int, list[str]] = {}
    for link in links:
        name = str(link["ifname"])
        if HOST_VETH_RE.fullmatch(name) and name not in known.host_ifnames:
            master = link.get("master")
            where = f"a port of {names.get(master, master)}" if master else "not a bridge port"
            if master:
                stray_ports.setdefault(master, []).append(name)
            out.append(Check(f"leftover.link.{name}", FAIL,
                             f"host end of a cnictl veth pair ({where}) with no attachment record",
                             f"{ip} link del {name}"))
        elif name.startswith(prefixes) and not known.shim_known(name):
            out.append(Check(f"leftover.link.{name}", FAIL,
                             f"host-access shim ({link.get('kind') or 'link'}) of no known network",
                             f"{ip} link del {name}"))
    from cnictl.drivers import host_link_kinds

    kinds = host_link_kinds()  # the kernel link kinds of the networks' host links (bridge)
    for link in links:
        name = str(link["ifname"])
        if link.get("kind") not in kinds or name in known.bridges:
            continue
        evidence = []
        if name in fw_bridges:
            evidence.append("cnictl's firewall rules name it")
        if link["index"] in stray_ports:
            evidence.append(f"its port(s) {', '.join(stray_ports[link['index']])} are leftover cnictl veths")
        if evidence:
            out.append(Check(f"leftover.link.{name}", FAIL, f"bridge of no known network; {'; '.join(evidence)}",
                             f"{ip} link del {name}"))
    return out


def leftover_probe_namespaces(names: Iterable[str], alive: Callable[[int], bool]) -> list[Check]:
    """Probe namespaces of doctor runs that were killed before removing them (their process is gone)."""
    out = []
    for name in names:
        m = PROBE_RE.fullmatch(name)
        if m and not alive(int(m.group(1))):
            out.append(Check(f"leftover.netns.{name}", FAIL, "probe namespace of a cnictl doctor run that ended "
                                                             "before it could remove it", f"ip netns del {name}"))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _known(host: Host, checks: list[Check]) -> Known:
    """The network and attachment records; a record that cannot be read is a failure of its own."""
    from cnictl.store import Store

    store = Store(host.paths)
    try:
        networks = store.networks()
        return Known(networks, [a for n in networks for a in store.attachments(n.name)])
    except (CnictlError, OSError, TypeError, ValueError, KeyError) as e:
        checks.append(Check("state.records", FAIL, f"cannot read the records under {host.paths.state_dir}: {e}",
                            "fix or move the broken record file"))
        return Known([], [])


def firewall_leftovers(host: Host, known: Known) -> tuple[set[str], list[Check]]:
    """Every firewall backend, asked the same two questions: which bridges its rules name (evidence for
    `leftover_links`), and what of cnictl's it holds that no network accounts for."""
    from cnictl.firewall import BACKENDS, get_backend

    bridges: set[str] = set()
    found: list[Check] = []
    for name in BACKENDS:
        try:
            backend = get_backend(name)
            bridges |= backend.bridges_in_rules()
            found += [Check(x.check, FAIL, x.detail, x.hint) for x in backend.leftovers(known, host)]
        except CnictlError:  # rules that cannot be read: nothing to report from that backend
            continue
    return bridges, found


def leftover_checks(host: Host, known: Known) -> list[Check]:
    """Links, firewall rules, IPAM reservations and probe namespaces of cnictl's that lack a record."""
    from pathlib import Path

    from cnictl.doctor.ipam import cni_cache_owners, leftover_ipam, live_addresses
    from cnictl.netns import list_named

    cnictl = cnictl_prefix(host)
    fw_bridges, fw_found = firewall_leftovers(host, known)
    out = leftover_links(host.nl().links(), known, fw_bridges, host.ip_cmd())
    out += fw_found
    root = host.paths.ipam_root
    caches = [Path(getattr(host.paths, "cni_cache_dir", "") or host.paths.state_dir / "cni"), Path("/var/lib/cni")]
    out += leftover_ipam(root, root.is_relative_to(host.paths.state_dir), known, cnictl,
                         cni_cache_owners(dict.fromkeys(caches)), live_addresses(host))
    out += leftover_probe_namespaces(list_named(), _alive)
    return out
