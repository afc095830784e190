"""IPAM reservations without an owner: cnictl's records, the CNI runtimes' result caches, and the
addresses live in every reachable network namespace each count as an owner.

    >>> from pathlib import Path
    >>> cni_cache_owners([Path("/nonexistent")])  # no runtime's cache there: no owners from it
    {}
"""

from __future__ import annotations

import contextlib
import os
import shlex

from cnictl.doctor.check import FAIL, OK, WARN, Check
from cnictl.errors import CnictlError
from cnictl.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

    from cnictl.doctor.leftovers import Known
    from cnictl.host import Host

@record(frozen=True)
class Orphan:
    """One IPAM finding: a directory of a network with no record (*ip* None), or a reservation that no record
    holds: *owner* None when it is provably gone, else who holds it (a CNI cache entry, a live address)."""

    network: str
    directory: str
    ip: str | None = None
    who: str = ""
    owner: str | None = None
    count: int = 0  # a directory's reservations


def ipam_orphans(root: Path, private: bool, known: Known, cached: Mapping[tuple[str, str], str] | None = None,
                 live: Mapping[str, str] | None = None) -> list[Orphan]:
    """The IPAM directories of unknown networks (only in a root of cnictl's own: *private*) and the reservations
    no attachment record holds, under *root*.

    A reservation has an owner when an attachment record names it, when a CNI cache entry names its
    (container id, ifname) (*cached*: pair -> where: a runtime such as podman or `cnictl cni add` attached it
    through an emitted conflist), or when a live network namespace holds its address on an interface of the
    reservation's name (*live*: "ip%ifname" and "ip" -> where). Reservations a driver holds itself (its
    `ipam_owners`: a host-access shim's) are never orphans."""
    from cnictl.drivers import ipam_owners
    from cnictl.ipam.hostlocal import HostLocalStore

    drivers_own = ipam_owners()
    cached = cached or {}
    live = live or {}
    try:
        entries = sorted(p for p in root.iterdir() if p.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    owners: dict[str, set[tuple[str, str]]] = {}
    for att in known.attachments:
        owners.setdefault(att.network, set()).add((att.container_id, att.ifname))
    out = []
    for d in entries:
        allocations = HostLocalStore(d).allocations()
        if d.name not in known.names:
            if private:
                out.append(Orphan(d.name, str(d), count=len(allocations)))
            continue
        held = owners.get(d.name, set())
        ids = {cid for cid, _ in held}
        for a in allocations:
            if a.container_id.startswith(drivers_own):
                continue
            if (a.container_id, a.ifname) in held or (not a.ifname and a.container_id in ids):
                continue
            who = f"{a.container_id}/{a.ifname}" if a.ifname else a.container_id
            owner = cached.get((a.container_id, a.ifname)) or live.get(f"{a.ip}%{a.ifname}" if a.ifname else str(a.ip))
            if owner is None and not a.ifname:
                owner = next((w for (cid, _), w in cached.items() if cid == a.container_id), None)
            out.append(Orphan(d.name, str(d), str(a.ip), who, owner))
    return out


def leftover_ipam(root: Path, private: bool, known: Known, cnictl: str,
                  cached: Mapping[tuple[str, str], str] | None = None,
                  live: Mapping[str, str] | None = None) -> list[Check]:
    """ipam_orphans() as doctor's checks: a directory of an unknown network and a reservation whose owner is
    provably gone fail in cnictl's own root and warn in the shared /var/lib/cni/networks (where the CNI
    host-local plugin may hold them); those held elsewhere are reported once, as ok, and never get a hint that
    would free them."""
    held_elsewhere: list[str] = []
    out = []
    for o in ipam_orphans(root, private, known, cached, live):
        if o.ip is None:
            out.append(Check(f"leftover.ipam.{o.network}", FAIL,
                             f"IPAM directory {o.directory} ({o.count} reservation(s)) of network {o.network}, "
                             "which has no record", f"rm -r {shlex.quote(o.directory)}"))
        elif o.owner is not None:
            held_elsewhere.append(f"{o.ip} in {o.network} ({o.who}: {o.owner})")
        else:
            out.append(Check(f"leftover.ipam.{o.network}.{o.ip}", FAIL if private else WARN,
                             f"{o.ip} in network {o.network} is reserved for {o.who}, which has no attachment record",
                             f"{cnictl} ipam release {o.network} {o.ip}"))
    if held_elsewhere:
        shown = "; ".join(held_elsewhere[:5]) + (f"; and {len(held_elsewhere) - 5} more" if len(held_elsewhere) > 5 else "")
        out.append(Check("ipam.cni", OK, f"{len(held_elsewhere)} reservation(s) without a cnictl record are in use "
                                         f"by CNI runtimes: {shown}"))
    return out


def cni_cache_owners(cache_dirs: Iterable[Path]) -> dict[tuple[str, str], str]:
    """(container id, ifname) -> the libcni result cache file naming it, over *cache_dirs* (runtimes' caches)."""
    from cnictl.cni.cache import Cache

    out: dict[tuple[str, str], str] = {}
    for d in cache_dirs:
        with contextlib.suppress(OSError, ValueError):
            for e in Cache(d).attachments():
                out.setdefault((e.container_id, e.ifname), f"CNI cache {Cache(d).path(e.network, e.container_id, e.ifname)}")
    return out


def live_addresses(host: Host) -> dict[str, str]:
    """"ip%ifname" and "ip" -> the network namespace and interface holding it, over every namespace of this machine that can be
    reached: the named ones (/run/netns) and those of running processes (/proc/PID/ns/net), each once."""
    from cnictl.netns import NETNS_RUN_DIR, NetnsRef

    paths: list[str] = []
    with contextlib.suppress(OSError):
        paths += [f"{NETNS_RUN_DIR}/{n}" for n in sorted(os.listdir(NETNS_RUN_DIR))]
    with contextlib.suppress(OSError):
        paths += [f"/proc/{pid}/ns/net" for pid in sorted(os.listdir("/proc"), key=lambda s: (len(s), s)) if pid.isdigit()]
    seen: set[tuple[int, int]] = set()
    out: dict[str, str] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        try:
            ref = NetnsRef.parse(path)
            nl = host.nl_for(ref)
            for ifname, cidr in nl.addresses():
                ip = cidr.split("/")[0]
                out.setdefault(f"{ip}%{ifname}", f"held on {ifname} in {ref.spec}")
                out.setdefault(ip, f"held on {ifname} in {ref.spec}")
        except (CnictlError, OSError):
            continue
        finally:
            with contextlib.suppress(Exception):
                host.forget(ref)
    return out
