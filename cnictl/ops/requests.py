"""The typed requests of the use cases: what the CLI, the library and the CNI plugin ask for, one field per setting.

`AttachRequest` holds every per-attachment setting. `cnictl attach`, library callers and the CNI plugin's ADD
all build one and hand it to `ops.attach`, so a new setting (a bandwidth limit, labels) is one field here,
one option in cli/attach.py (or one key the plugin reads), and the code in ops/attachments.py that uses it.

    >>> req = AttachRequest("lab", "web", ports=["8080:80"])
    >>> req.ifname, req.ports, req.with_(ifname="eth1").ifname
    ('eth0', ['8080:80'], 'eth1')

This module is on the attach hot path: no typing import, no dataclasses (`@record`).
"""

from __future__ import annotations

from cnictl.record import asdict, field, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


@record(frozen=True)
class AttachRequest:
    """Attach the namespace *netns* (a name under /run/netns or a path) to *network*.

    ifname:       the interface inside the namespace
    ip:           the address to reserve (default: the next free one of the network's range)
    mac:          the MAC address of that interface (default: a random local one; not for ipvlan/passthru)
    container_id: the owner recorded in IPAM (default: the namespace's key)
    ports:        port mappings to publish, "[HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO]" each
    hairpin:      keep the bridge port in hairpin mode for the attachment's whole life (CNI hairpinMode);
                  None/False: only while cnictl publishes ports of it
    """

    network: str
    netns: str
    ifname: str = "eth0"
    ip: str | None = None
    mac: str | None = None
    container_id: str | None = None
    ports: list[str] = field(default_factory=list)
    hairpin: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ports", list(self.ports))  # any sequence in, a list of its own kept

    def with_(self, **changes: Any) -> AttachRequest:
        """A copy with some fields changed."""
        return AttachRequest(**{**asdict(self), **changes})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------
# typed results: what the use cases return; to_json() is the `--json` output (a stable contract: the
# same keys in the same order as before they were typed), render/views.py lays them out for people
# ---------------------------------------------------------------------------------------
class View:
    """Base of the result records: to_json() gives the JSON object; read by key too (`row["netns"]`), as
    the dicts they replace were, so library callers and the table code keep working."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_json().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.to_json()

    def keys(self) -> list[str]:
        return list(self.to_json())


def to_json(value: Any) -> Any:
    """A result (a View, a list of them, or plain JSON data) as plain JSON data."""
    if isinstance(value, View):
        return value.to_json()
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


@record(frozen=True)
class NamespaceView(View):
    """`ns ls`: a named namespace and its path under /run/netns."""

    name: str
    path: str


@record(frozen=True)
class PortView(View):
    """`port ls`: one published mapping of an attachment (ports as "80" or a range "8000-8009")."""

    network: str
    netns: str
    ifname: str
    container_ip: str | None
    host_ip: str
    host_ports: str
    container_ports: str
    proto: str
    spec: str


@record(frozen=True)
class LinkView(View):
    """`link ls` and `link add`: a recorded direct link (its record's fields, end1/end2 first) and whether its
    first end is still there (None: cannot tell without privilege; link add: True)."""

    record: Any  # cnictl.ops.links.LinkRecord
    present: bool | None = True

    def to_json(self) -> dict[str, Any]:
        return {**self.record.to_dict(), "present": self.present}


@record(frozen=True)
class ForwardView(View):
    """`forward status`: one interface (or all/default) and its forwarding sysctl per family asked
    (True on, False off, None unreadable); a family not asked is not in the JSON."""

    interface: str
    families: dict[str, bool | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"interface": self.interface, **self.families}


@record(frozen=True)
class SubnetUsage(View):
    """One range of a network in `ipam show`: capacity, used and free are exact (an IPv6 /64 holds 2^64-2)."""

    subnet: str
    gateway: str | None
    range: str
    capacity: int
    used: int
    free: int


@record(frozen=True)
class AllocationView(View):
    """One reservation in `ipam show`: its owner, and the namespace it belongs to when cnictl knows it."""

    ip: str
    container_id: str
    ifname: str
    netns: str | None


@record(frozen=True)
class IpamView(View):
    """`ipam show`: one network's IPAM directory, its ranges' usage and every reservation."""

    network: str
    directory: str
    subnets: list[SubnetUsage] = field(default_factory=list)
    allocations: list[AllocationView] = field(default_factory=list)


def attach_call(req: AttachRequest | str, args: tuple[Any, ...], settings: dict[str, Any]) -> tuple[AttachRequest, Any]:
    """The arguments of `ops.attach` as (request, opts): `attach(host, req, opts=None)`, or the keyword form
    from before the request, `attach(host, network, netns, opts=None, ifname=..., ip=..., ports=..., ...)`,
    which library callers and tests still use (each keyword is an AttachRequest field)."""
    rest = list(args)
    opts = settings.pop("opts", None)
    if isinstance(req, str):
        netns = rest.pop(0) if rest else settings.pop("netns")
        req = AttachRequest(req, netns, **settings)
    elif settings:
        raise TypeError(f"attach() takes the settings in the AttachRequest, not as keywords: {', '.join(sorted(settings))}")
    if len(rest) > 1 or (rest and opts is not None):
        raise TypeError("attach() takes the request (or network and netns) and opts only")
    return req, rest[0] if rest else opts


@record(frozen=True)
class AttachResult(View):
    """`attach`: the attachment as recorded (a cnictl.model.Attachment); its JSON is the record's, as stored
    under attachments/ (network, container_id, netns, ifname, host_ifname, mac, addresses, gateways, ...)."""

    attachment: Any

    def to_json(self) -> dict[str, Any]:
        return self.attachment.to_dict()


@record(frozen=True)
class NetworkView(View):
    """`net ls`, `net inspect`, `net create`: a network (a cnictl.model.Network); its JSON is the record's flat
    layout as stored under networks/, then `attachments` (ls: how many; inspect: each attachment's record) and,
    for inspect, `ipam_dir`; `net create` has neither. The driver's part of what people see is the driver's
    answer, taken when the view is made (ops/networks.py `network_view`): *link* (its link_label, the
    BRIDGE/PARENT column), *description* (its describe, the tail of "created network ...") and *fields* (its
    inspect_fields); none of these is in the JSON."""

    network: Any  # cnictl.model.Network
    attachments: Any = None  # ls: an int; inspect: a list of cnictl.model.Attachment; create: None
    ipam_dir: str | None = None
    link: str = ""
    description: str = ""
    fields: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = self.network.to_dict()
        if isinstance(self.attachments, list):
            d["attachments"] = [a.to_dict() for a in self.attachments]
        elif self.attachments is not None:
            d["attachments"] = self.attachments
        if self.ipam_dir is not None:
            d["ipam_dir"] = self.ipam_dir
        return d


@record(frozen=True)
class Removed(View):
    """`net rm`, `ns rm`: the network or namespace, whether it was removed (False: a dry run, or already gone)
    and the attachments that went with it (net rm: how many; ns rm: "network/ifname" each), not in the JSON
    when not counted (`net rm --dry-run`, a namespace already gone)."""

    name: str
    removed: bool
    detached: int | list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "removed": self.removed}
        if self.detached is not None:
            d["detached"] = self.detached
        return d


@record(frozen=True)
class DetachResult(View):
    """`detach`: the attachment asked for, whether it was there to detach and, when it was, its addresses."""

    network: str
    netns: str
    ifname: str
    detached: bool
    addresses: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"network": self.network, "netns": self.netns, "ifname": self.ifname,
                             "detached": self.detached}
        if self.addresses is not None:
            d["addresses"] = list(self.addresses)
        return d


@record(frozen=True)
class PortsChanged(View):
    """`port publish` / `port unpublish`: the attachment and the mappings published or unpublished (PortSpec
    objects); the JSON key is the verb ("published" or "unpublished")."""

    network: str
    netns: str
    ifname: str
    verb: str
    specs: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"network": self.network, "netns": self.netns, "ifname": self.ifname,
                self.verb: [dict(s) for s in self.specs]}


@record(frozen=True)
class LinkRemoved(View):
    """`link rm`: the end asked for, whether the link was removed, and its record (None: cnictl had none)."""

    end: str
    removed: bool
    record: Any = None  # cnictl.ops.links.LinkRecord or None

    def to_json(self) -> dict[str, Any]:
        return {"end": self.end, "removed": self.removed,
                "record": self.record.to_dict() if self.record is not None else None}


@record(frozen=True)
class ForwardSet(View):
    """`forward enable|disable`: each sysctl key and the value written, the keys whose value changed, and the
    file the setting was persisted in (None: not persisted)."""

    forwarding: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    persisted: str | None = None


@record(frozen=True)
class IpamReleased(View):
    """`ipam release`: the network, the addresses released (or that a dry run would release) and whether it
    was a dry run."""

    network: str
    released: list[str] = field(default_factory=list)
    dry_run: bool = False


@record(frozen=True)
class FwReloaded(View):
    """`fw reload`: the backends reloaded, how many networks and published ports their rules cover, and how
    many commands the reload ran (0 in a dry run)."""

    backends: list[str] = field(default_factory=list)
    networks: int = 0
    port_mappings: int = 0
    commands: int = 0


@record(frozen=True)
class FwRules(View):
    """`fw show`: the backends asked, their rules as data (`--json`), and the same rules as their own text
    (`nft` syntax, `iptables-save` lines) for people; the text is not part of the JSON."""

    backends: list[str] = field(default_factory=list)
    rules: list[Any] = field(default_factory=list)
    text: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"backends": list(self.backends), "rules": list(self.rules)}


@record(frozen=True)
class FwCheck(View):
    """`fw check`: the backends in use, whether every rule is in place and nothing breaks the networks (ok),
    the problems and notes found, and how many networks and published ports were checked."""

    backends: list[str] = field(default_factory=list)
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    networks: int = 0
    port_mappings: int = 0
