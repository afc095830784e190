"""Direct links: a veth pair with one end in each of two network namespaces (point-to-point lab links).

`link_add(host, "r1:eth1", "r2:eth1", addresses1=["10.0.12.1/30"], addresses2=["10.0.12.2/30"])` is one
RTM_NEWLINK sent from a socket inside r1 with the peer born in r2, then one netlink batch per side (its
addresses, then up). A failure or Ctrl-C at any step deletes the pair again. Each link made is recorded as
`links/<netns key>@<ifname>.json` under the state directory (named after its first end), so `link ls` lists
it, adding the same link again is a no-op with a notice, and `link rm` removes only links cnictl made.

    >>> parse_end("r1:eth1")
    (NetnsRef(spec='r1', path='/run/netns/r1', name='r1'), 'eth1')
    >>> parse_end("/proc/42/ns/net")
    (NetnsRef(spec='/proc/42/ns/net', path='/proc/42/ns/net', name=None), None)
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnictl import fsutil
from cnictl.errors import CnictlError, ConfigError, ConflictError, cli
from cnictl.model import validate_ifname, validate_mtu
from cnictl.netns import NetnsRef, entered, same_netns
from cnictl.ops.runner import Outcome, RunOptions, _now, _recover_first
from cnictl.plan import Plan, Step

if TYPE_CHECKING:
    from cnictl.host import Host
    from cnictl.ops.requests import LinkView

DEFAULT_PREFIX = "eth"  # default interface names: the first free eth1, eth2, ... of each namespace


# ---------------------------------------------------------------------------------------
# input
# ---------------------------------------------------------------------------------------
def parse_end(text: str) -> tuple[NetnsRef, str | None]:
    """`NETNS[:IFNAME]`; NETNS is a name under /run/netns or a path. The interface is what follows the last ":"."""
    ns, sep, ifname = text.rpartition(":")
    if not sep or "/" in ifname:  # no ":" at all, or a ":" inside a path that names no interface
        return NetnsRef.parse(text), None
    if not ifname:
        raise ConfigError(f'no interface name after ":" in "{text}"',
                          hint=f"write {ns}:eth1, or just {ns} for the first free ethN")
    if not ns:
        raise ConfigError(f'no network namespace before ":" in "{text}"', hint=f"write NETNS:{ifname}, e.g. r1:{ifname}")
    return NetnsRef.parse(ns), validate_ifname(ifname)


def parse_cidr(text: str, option: str) -> str:
    """An interface address with its prefix length, normalised (`10.0.0.1/30`); refuses what cannot be a host's."""
    example = "10.0.0.1/30" if ":" not in text else "fd00:12::1/64"
    if "/" not in text:
        raise ConfigError(f'{option} "{text}" has no prefix length', hint=f"write it as {text}/{30 if ':' not in text else 64}")
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        raise ConfigError(f'{option} "{text}" is not an address with a prefix length', hint=f"example: {example}") from None
    ip, net = iface.ip, iface.network
    if ip.is_unspecified or ip.is_multicast or ip.is_loopback:
        raise ConfigError(f"{option} {text} cannot be an interface address (unspecified, multicast or loopback)",
                          hint=f"example: {example}")
    if iface.version == 4 and net.prefixlen < 31 and ip in (net.network_address, net.broadcast_address):
        first = next(net.hosts())
        raise ConfigError(f"{option} {text} is the network or broadcast address of {net}",
                          hint=f"pick a host address such as {first}/{net.prefixlen}")
    return str(iface)


def _addresses(texts: Sequence[str], option: str) -> list[str]:
    out: list[str] = []
    for text in texts:
        cidr = parse_cidr(text, option)
        if cidr in out:
            raise ConfigError(f"{option} {cidr} is given twice", hint="give each address once")
        out.append(cidr)
    return out


# ---------------------------------------------------------------------------------------
# records (links/<netns key>@<ifname>.json under the state dir)
# ---------------------------------------------------------------------------------------
@dataclass
class LinkRecord:
    netns1: str
    netns_key1: str
    ifname1: str
    netns2: str
    netns_key2: str
    ifname2: str
    addresses1: list[str] = field(default_factory=list)
    addresses2: list[str] = field(default_factory=list)
    mtu: int | None = None
    created: str = ""

    @property
    def end1(self) -> str:
        return f"{self.netns1}:{self.ifname1}"

    @property
    def end2(self) -> str:
        return f"{self.netns2}:{self.ifname2}"

    def to_dict(self) -> dict[str, Any]:
        return {"end1": self.end1, "end2": self.end2, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinkRecord:
        return cls(**{k: v for k, v in data.items() if k not in ("end1", "end2")})

    def has_end(self, key: str, ifname: str) -> bool:
        return (self.netns_key1, self.ifname1) == (key, ifname) or (self.netns_key2, self.ifname2) == (key, ifname)


class LinkStore:
    """The link records under `<state dir>/links/`, written by rename (mode 0600), with a lock for add/rm."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "links"

    def path(self, key: str, ifname: str) -> Path:
        return self.directory / f"{key}@{ifname}.json"  # "@" never occurs in a namespace key

    def records(self) -> list[LinkRecord]:
        try:
            names = sorted(n for n in os.listdir(self.directory) if n.endswith(".json"))
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            try:
                data = json.loads((self.directory / name).read_text())
                out.append(LinkRecord.from_dict(data))
            except (OSError, ValueError, TypeError):
                continue  # a foreign or damaged file: not ours to interpret
        return out

    def find(self, key: str, ifname: str) -> LinkRecord | None:
        """The record with an end (either one) at this namespace key and interface."""
        return next((r for r in self.records() if r.has_end(key, ifname)), None)

    def save(self, rec: LinkRecord) -> None:
        path = self.path(rec.netns_key1, rec.ifname1)
        fsutil.atomic_write(path, json.dumps(asdict(rec), indent=1) + "\n")

    def delete(self, rec: LinkRecord) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(rec.netns_key1, rec.ifname1))

    @contextlib.contextmanager
    def locked(self, timeout: float = 30.0) -> Iterator[None]:
        """Exclusive: two `link add` picking the first free ethN of one namespace must not race."""
        with fsutil.locked(self.directory / "lock", timeout=timeout, what="link lock"):
            yield


@contextlib.contextmanager
def _locked(host: Host, store: LinkStore) -> Iterator[None]:
    """The state lock (shared; unfinished plans are finished first), then the link lock: always in this order."""
    from cnictl.store import Store

    with Store(host.paths).locked(exclusive=False, host=host), store.locked():
        yield


class SaveLinkRecord(Step):
    """Write a link's record (the last step of `link add`); undo removes it again."""

    def __init__(self, store: LinkStore, rec: LinkRecord) -> None:
        self.store, self.rec = store, rec
        self.summary = f"record link {rec.end1} <-> {rec.end2}"

    def apply(self, host: Host) -> None:
        self.store.save(self.rec)

    def undo(self, host: Host) -> None:
        self.store.delete(self.rec)

    def journal(self) -> dict[str, Any]:
        return {"rec": self.rec.to_dict()}  # link add checked, under the link lock, that it was new

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> SaveLinkRecord:
        return cls(LinkStore(host.paths.state_dir), LinkRecord.from_dict(data["rec"]))

    def explain(self, host: Host) -> list[str]:
        return [f"# state: write {self.store.path(self.rec.netns_key1, self.rec.ifname1)}"]


class ForgetLinks(Step):
    """Remove link records (`link rm`; `ns rm`, whose namespace took the links with it); already gone is fine."""

    def __init__(self, store: LinkStore, recs: Sequence[LinkRecord], summary: str | None = None) -> None:
        self.store, self.recs = store, list(recs)
        self.summary = summary or (f"forget link {recs[0].end1} <-> {recs[0].end2}" if len(recs) == 1
                                   else f"forget {len(recs)} links")

    def apply(self, host: Host) -> None:
        for rec in self.recs:
            self.store.delete(rec)

    def journal(self) -> dict[str, Any]:
        return {"recs": [r.to_dict() for r in self.recs], "summary": self.summary}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> ForgetLinks:
        return cls(LinkStore(host.paths.state_dir), [LinkRecord.from_dict(r) for r in data["recs"]], data["summary"])

    def explain(self, host: Host) -> list[str]:
        return [f"# state: remove {self.store.path(r.netns_key1, r.ifname1)}" for r in self.recs]


def _link_add_plan(store: LinkStore, rec: LinkRecord) -> Plan:
    """The pair (peer born in the second namespace), one configuration batch per end, the record."""
    from cnictl.netlink.steps import AddVethPair, ConfigureEnd

    ref1, ref2 = NetnsRef.parse(rec.netns1), NetnsRef.parse(rec.netns2)
    pair = AddVethPair(rec.ifname1, ref1, rec.ifname2, ref2, mtu=rec.mtu)
    return Plan([pair, ConfigureEnd(pair, 1, ref1, rec.ifname1, rec.addresses1),
                 ConfigureEnd(pair, 2, ref2, rec.ifname2, rec.addresses2), SaveLinkRecord(store, rec)])


def _link_remove_plan(store: LinkStore, rec: LinkRecord | None, ref: NetnsRef, ifname: str, present: bool | None) -> Plan:
    """Delete the link if it is there (its peer goes with it), then forget its record."""
    from cnictl.netlink.steps import DelLink

    plan = Plan()
    if present:
        plan.add(DelLink(ifname, ref))
    if rec is not None:
        plan.add(ForgetLinks(store, [rec]))
    return plan


# ---------------------------------------------------------------------------------------
# kernel look-ups (no pyroute2: visit the namespace and ask for its interface names)
# ---------------------------------------------------------------------------------------
def _names_in(host: Host, ref: NetnsRef) -> set[str]:
    with entered(host.netns_fd(ref), host.home_fd()):
        return {name for _index, name in socket.if_nameindex()}


def _present(host: Host, ref: NetnsRef, ifname: str) -> bool | None:
    """Whether the interface exists; None when that cannot be told (no privilege to visit the namespace)."""
    if not ref.exists():
        return False
    try:
        return ifname in _names_in(host, ref)
    except (CnictlError, OSError):
        return None


def _first_free(taken: set[str]) -> str:
    n = 1
    while f"{DEFAULT_PREFIX}{n}" in taken:
        n += 1
    return f"{DEFAULT_PREFIX}{n}"


# ---------------------------------------------------------------------------------------
# use cases
# ---------------------------------------------------------------------------------------
def _view(rec: LinkRecord, present: bool | None = True) -> dict[str, Any]:
    return {**rec.to_dict(), "present": present}


def _matching(store: LinkStore, host: Host, ref1: NetnsRef, if1: str | None, ref2: NetnsRef,
              if2: str | None) -> tuple[LinkRecord, bool] | None:
    """A recorded link that is still there between these two ends (an omitted name matches any); (record, swapped)."""
    for rec in store.records():
        for swapped in (False, True):
            k1, n1, k2, n2 = (rec.netns_key1, rec.ifname1, rec.netns_key2, rec.ifname2)
            if swapped:
                k1, n1, k2, n2 = k2, n2, k1, n1
            if (k1, k2) != (ref1.key, ref2.key) or (if1 is not None and if1 != n1) or (if2 is not None and if2 != n2):
                continue
            if _present(host, ref1, n1):
                return rec, swapped
    return None


def link_add(
    host: Host,
    end1: str,
    end2: str,
    opts: RunOptions | None = None,
    *,
    addresses1: Sequence[str] = (),
    addresses2: Sequence[str] = (),
    mtu: int | None = None,
) -> Outcome:
    """Connect two namespaces with a veth pair; both ends up, with the given addresses. Idempotent."""
    opts = opts or RunOptions()
    _recover_first(host, opts)
    ref1, if1 = parse_end(end1)
    ref2, if2 = parse_end(end2)
    cidrs1, cidrs2 = _addresses(addresses1, "--address1"), _addresses(addresses2, "--address2")
    mine = {c.split("/")[0] for c in cidrs1}
    for c in cidrs2:
        if c.split("/")[0] in mine:
            raise ConfigError(f"{c.split('/')[0]} is given for both ends", hint="give each end its own address")
    validate_mtu(mtu, ipv6=any(":" in c for c in cidrs1 + cidrs2))
    host.netns_fd(ref1)  # both namespaces must exist (NetnsNotFoundError, exit 3)
    host.netns_fd(ref2)
    same = same_netns(host.netns_fd(ref1), host.netns_fd(ref2))
    if same and if1 is not None and if1 == if2:
        raise ConfigError(f'both ends would be "{if1}" in the same namespace {ref1.spec}',
                          hint=f"give them different names, e.g. {ref1.spec}:{if1} {ref2.spec}:{_first_free({if1})}")
    store = LinkStore(host.paths.state_dir)
    lock = contextlib.nullcontext() if opts.dry_run else _locked(host, store)
    with lock:
        found = _matching(store, host, ref1, if1, ref2, if2)
        if found is not None:
            rec, swapped = found
            have1, have2 = (rec.addresses2, rec.addresses1) if swapped else (rec.addresses1, rec.addresses2)
            differs = [what for what, given, have in (("--address1", cidrs1, have1), ("--address2", cidrs2, have2))
                       if given and sorted(given) != sorted(have)]
            if mtu is not None and mtu != rec.mtu:
                differs.append("--mtu")
            if differs:
                raise ConflictError(f"link {rec.end1} <-> {rec.end2} already exists with other {', '.join(differs)} "
                                    f"(addresses {', '.join(rec.addresses1 + rec.addresses2) or 'none'}, "
                                    f"mtu {rec.mtu or 'default'})",
                                    hint=f"remove it first: {cli('link rm ' + rec.end1)}")
            return Outcome(_view(rec), Plan(), [f"link {rec.end1} <-> {rec.end2} already exists; left as it is"])
        names1 = _names_in(host, ref1)
        names2 = names1 if same else _names_in(host, ref2)
        for ref, ifname, names in ((ref1, if1, names1), (ref2, if2, names2)):
            if ifname is not None and ifname in names:
                raise ConflictError(f'interface "{ifname}" already exists in {ref.spec}',
                                    hint=f"pick another name ({ref.spec}:IFNAME) or leave it out for the first free ethN")
        if1 = if1 or _first_free(names1 | ({if2} if same and if2 else set()))
        if2 = if2 or _first_free(names2 | ({if1} if same else set()))
        rec = LinkRecord(netns1=ref1.spec, netns_key1=ref1.key, ifname1=if1, netns2=ref2.spec, netns_key2=ref2.key,
                         ifname2=if2, addresses1=cidrs1, addresses2=cidrs2, mtu=mtu, created=_now())
        plan = _link_add_plan(store, rec)
        applied = not opts.dry_run
        if applied:
            if opts.inject is not None:
                opts.inject(plan)
            plan.apply(host, echo=opts.echo)
    return Outcome(_view(rec, applied or None), plan, _subnet_notices(rec), applied=applied)


def _subnet_notices(rec: LinkRecord) -> list[str]:
    out = []
    for a in rec.addresses1:
        i1 = ipaddress.ip_interface(a)
        peers = [ipaddress.ip_interface(b) for b in rec.addresses2 if ipaddress.ip_interface(b).version == i1.version]
        if peers and not any(p.ip in i1.network or i1.ip in p.network for p in peers):
            out.append(f"{a} on {rec.end1} and {', '.join(map(str, peers))} on {rec.end2} share no subnet: "
                       "add routes to make them reach each other")
    return out


def link_remove(host: Host, end: str, opts: RunOptions | None = None, *, force: bool = False) -> Outcome:
    """Delete a link by either end (its peer goes too) and forget its record; already gone is fine."""
    opts = opts or RunOptions()
    _recover_first(host, opts)
    ref, ifname = parse_end(end)
    if ifname is None:
        raise ConfigError(f'"{end}" names no interface', hint=f"write {end}:IFNAME (see: {cli('link ls')})")
    store = LinkStore(host.paths.state_dir)
    rec = store.find(ref.key, ifname)
    present = _present(host, ref, ifname)
    from cnictl.ops.requests import LinkRemoved

    result = LinkRemoved(f"{ref.spec}:{ifname}", False, rec)
    if rec is None and not present:
        return Outcome(result, Plan(), [f"{ref.spec}:{ifname} does not exist and cnictl has no record of it; nothing to do"])
    if rec is None and not force:
        raise ConflictError(f"{ref.spec}:{ifname} was not made by cnictl link add (no record under {store.directory})",
                            hint=f"delete it with: {ref.ip_prefix()} link del {ifname}, or use --force")
    plan = _link_remove_plan(store, rec, ref, ifname, present)
    notices = [] if present else [f"{ref.spec}:{ifname} was already gone; forgetting its record"]
    if opts.dry_run:
        return Outcome(result, plan, notices)
    with _locked(host, store):
        errors = plan.teardown(host, echo=opts.echo)
    if errors:
        raise CnictlError(f"removing {ref.spec}:{ifname} was incomplete: " + "; ".join(errors),
                          hint=f"run {cli(f'link rm {ref.spec}:{ifname}')} again")
    return Outcome(LinkRemoved(result.end, True, rec), plan, notices, applied=True)


def link_list(host: Host) -> list[LinkView]:
    """Every recorded link, and whether its first end is still there (None: cannot tell without privilege)."""
    from cnictl.ops.requests import LinkView

    rows = []
    for rec in LinkStore(host.paths.state_dir).records():
        try:
            ref = NetnsRef.parse(rec.netns1)
        except ConfigError:
            rows.append(LinkView(rec, None))
            continue
        rows.append(LinkView(rec, _present(host, ref, rec.ifname1)))
    return rows
