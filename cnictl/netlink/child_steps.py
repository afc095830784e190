"""Steps for links that hang off a parent interface: macvlan/ipvlan children, VLAN sub-interfaces, shim routes.

Each is one raw rtnetlink request (see cnictl.netlink.rtnl), explains itself as an `ip` command and
undoes itself. A container's child is created directly inside the container namespace: the parent is
looked up in the host namespace that sends the request, the new link is registered in the target one.

    >>> AddChild("macvlan", "eth0", "eth0", None, mode="bridge").summary
    'create macvlan eth0 on eth0 (mode bridge)'
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Callable

from cnictl.errors import CnictlError, ConfigError, ConflictError, KernelError, NetnsNotFoundError, NotFoundError, cli
from cnictl.plan import Step

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from cnictl.host import Host
    from cnictl.netns import NetnsRef


def _ref(data: dict[str, Any], key: str = "netns") -> NetnsRef | None:
    from cnictl.netns import NetnsRef

    spec = data.get(key)
    return NetnsRef.parse(spec) if spec else None


def _parent_index(name: str) -> int:
    try:
        return socket.if_nametoindex(name)
    except OSError:
        raise NotFoundError(f"parent interface {name} not found in this host",
                            hint="see: ip link (the parent must exist before its network's containers attach)") from None


def child_error(kind: str, parent: str, text: str, code: int) -> CnictlError:
    """Plain words for the kernel's answers to a macvlan/ipvlan/vlan creation."""
    from cnictl.netlink.rtnl import missing_kind

    if code == errno.EOPNOTSUPP:
        return missing_kind(text, kind)
    if code == errno.EBUSY:
        return ConflictError(
            f"{text}: parent {parent} is busy (Device or resource busy): it is a bridge port, a bond member, or "
            "already carries links of another kind (macvlan and ipvlan cannot share a parent)",
            hint=f"see: ip -d link show {parent}",
        )
    if code == errno.EEXIST:
        return ConflictError(f"{text}: File exists (EEXIST)")
    if code == errno.EINVAL and kind == "macvlan":
        return ConfigError(
            f"{text}: the kernel refused it (Invalid argument): passthru takes a parent that has no other macvlan "
            f"links, and the MTU may not exceed {parent}'s",
            hint=f"see: ip -d link show {parent}",
        )
    return KernelError(f"{text}: {os.strerror(code)} ({errno.errorcode.get(code, code)})", errno=code)


class AddChild(Step):
    """A macvlan or ipvlan link on *parent*, named *name*, in *netns* (None: in the host itself)."""

    def __init__(
        self, kind: str, parent: str, name: str, netns: NetnsRef | None, *, mode: str | None,
        mac: str | None = None, mtu: int | None = None, up: bool = False,
    ) -> None:
        self.kind, self.parent, self.name, self.netns = kind, parent, name, netns
        self.mode, self.mac, self.mtu, self.up = mode, mac, mtu, up
        where = f" in {netns.spec}" if netns is not None else ""
        self.summary = f"create {kind} {name} on {parent} (mode {mode}){where}"
        self.created = False
        self.peer_index: int | None = None  # the kernel does not echo a link born in another namespace

    def apply(self, host: Host) -> None:
        from cnictl.netlink.rtnl import Batch

        batch = Batch()
        fd = host.netns_fd(self.netns) if self.netns is not None else None
        batch.add_child(self.name, self.kind, _parent_index(self.parent), self.explain(host)[0], mode=self.mode,
                        netns_fd=fd, mac=self.mac, mtu=self.mtu, up=self.up)
        (code,) = batch.send(host.raw_socket(None))
        if code:
            raise child_error(self.kind, self.parent, self.explain(host)[0], code)
        self.created = True

    def undo(self, host: Host) -> None:
        if self.created:
            delete_link(host, self.name, self.netns)

    def journal(self) -> dict[str, Any]:
        return {"kind": self.kind, "parent": self.parent, "name": self.name,
                "netns": self.netns.spec if self.netns is not None else None, "mode": self.mode, "mac": self.mac,
                "mtu": self.mtu, "up": self.up}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> AddChild:
        step = cls(data["kind"], data["parent"], data["name"], _ref(data), mode=data["mode"], mac=data["mac"],
                   mtu=data["mtu"], up=data["up"])
        step.created = True  # (cut short, it may exist: the name was free when the plan began)
        return step

    def explain(self, host: Host) -> list[str]:
        target = ""
        if self.netns is not None:
            target = f" netns {self.netns.name}" if self.netns.name else f" netns {self.netns.path}"
        mtu = f" mtu {self.mtu}" if self.mtu else ""
        mac = f" address {self.mac}" if self.mac else ""
        lines = [f"{host.ip_cmd()} link add link {self.parent} name {self.name}{target}{mtu}{mac} "
                 f"type {self.kind} mode {self.mode}"]
        if self.up:
            lines.append(f"{self.netns.ip_prefix() if self.netns else host.ip_cmd()} link set {self.name} up")
        return lines


class AddVlan(Step):
    """An 802.1Q sub-interface *name* of *trunk* with VLAN id *vlan*, brought up."""

    def __init__(self, name: str, trunk: str, vlan: int, mtu: int | None = None) -> None:
        self.name, self.trunk, self.vlan, self.mtu = name, trunk, vlan, mtu
        self.summary = f"create VLAN {vlan} sub-interface {name} on {trunk}"
        self.created = False

    def apply(self, host: Host) -> None:
        from cnictl.netlink.rtnl import Batch

        batch = Batch()
        batch.add_child(self.name, "vlan", _parent_index(self.trunk), self.explain(host)[0], vlan=self.vlan,
                        mtu=self.mtu, up=True)
        (code,) = batch.send(host.raw_socket(None))
        if code:
            raise child_error("vlan", self.trunk, self.explain(host)[0], code)
        self.created = True

    def undo(self, host: Host) -> None:
        if self.created:
            delete_link(host, self.name, None)

    def journal(self) -> dict[str, Any]:
        return {"name": self.name, "trunk": self.trunk, "vlan": self.vlan, "mtu": self.mtu}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> AddVlan:
        step = cls(data["name"], data["trunk"], data["vlan"], data["mtu"])
        step.created = True
        return step

    def explain(self, host: Host) -> list[str]:
        mtu = f" mtu {self.mtu}" if self.mtu else ""
        return [f"{host.ip_cmd()} link add link {self.trunk} name {self.name}{mtu} type vlan id {self.vlan}",
                f"{host.ip_cmd()} link set {self.name} up"]


class ProbeChild(Step):
    """Pre-flight: create and at once delete a throwaway child on the parent, so that a kernel without the
    link kind, or a parent the kernel will not take, is refused before anything else changes."""

    def __init__(self, kind: str, parent: str, mode: str | None, name: str) -> None:
        self.kind, self.parent, self.mode, self.name = kind, parent, mode, name
        self.summary = f"check that {parent} can carry {kind} links (mode {mode})"

    def apply(self, host: Host) -> None:
        from cnictl.netlink.rtnl import Batch

        text = f"{host.ip_cmd()} link add link {self.parent} name {self.name} type {self.kind} mode {self.mode}"
        batch = Batch()
        batch.add_child(self.name, self.kind, _parent_index(self.parent), text, mode=self.mode)
        (code,) = batch.send(host.raw_socket(None))
        if code:
            raise child_error(self.kind, self.parent, text, code)
        delete_link(host, self.name, None)

    def undo(self, host: Host) -> None:
        """Only after a crash between the probe's creation and its deletion is there anything to remove."""
        if self.resumed:
            delete_link(host, self.name, None, kind=self.kind)

    resumed = False

    def journal(self) -> dict[str, Any]:
        return {"kind": self.kind, "parent": self.parent, "mode": self.mode, "name": self.name}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> ProbeChild:
        step = cls(data["kind"], data["parent"], data["mode"], data["name"])
        step.resumed = True
        return step

    def explain(self, host: Host) -> list[str]:
        return [f"{host.ip_cmd()} link add link {self.parent} name {self.name} type {self.kind} mode {self.mode}",
                f"{host.ip_cmd()} link del {self.name}"]


class DelChild(Step):
    """Teardown: delete a link inside a namespace; a link or a namespace already gone is fine.

    With *kind*, a link of another kind by that name is left alone: the namespace given by a path may
    belong to another process by now (a reused PID), and its interface is not cnictl's to delete."""

    def __init__(self, name: str, netns: NetnsRef | None, kind: str | None = None) -> None:
        self.name, self.netns, self.kind = name, netns, kind
        where = f" in {netns.spec}" if netns is not None else ""
        self.summary = f"delete {name}{where}"

    def apply(self, host: Host) -> None:
        delete_link(host, self.name, self.netns, kind=self.kind)

    def journal(self) -> dict[str, Any]:
        return {"name": self.name, "netns": self.netns.spec if self.netns is not None else None, "kind": self.kind}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> DelChild:
        return cls(data["name"], _ref(data), data["kind"])

    def explain(self, host: Host) -> list[str]:
        prefix = self.netns.ip_prefix() if self.netns is not None else host.ip_cmd()
        return [f"{prefix} link del {self.name}"]


def delete_link(host: Host, name: str, netns: NetnsRef | None, *, kind: str | None = None) -> None:
    from cnictl.netlink.rtnl import Batch

    try:
        sock = host.raw_socket(netns)
    except NetnsNotFoundError:
        return  # the namespace went, and its links with it
    try:
        if kind is not None:
            probe = Batch()
            probe.get_link(name, f"ip link show {name}")
            (code,) = probe.send(sock)
            if code or probe.kinds.get(name) != kind:
                return
        batch = Batch()
        batch.del_link(name, f"ip link del {name}")
        (code,) = batch.send(sock)
    finally:
        if netns is not None:
            sock.close()
    if code not in (0, errno.ENODEV):
        raise batch.error(0, code)


class HostRoutes(Step):
    """Host routes (/32, /128) to addresses through a link: how the host reaches its own macvlan containers
    through the host-access shim. The addresses are read when the step runs (after IPAM has reserved them)."""

    def __init__(self, link: str, addresses: Callable[[], list[str]], *, add: bool = True) -> None:
        self.link, self.addresses, self.add = link, addresses, add
        self.summary = f"{'add' if add else 'remove'} host routes through {link}"
        self.done: list[str] = []

    @staticmethod
    def _host(cidr: str) -> str:
        ip = ipaddress.ip_interface(cidr).ip
        return f"{ip}/{ip.max_prefixlen}"

    def _send(self, host: Host, routes: list[str], add: bool) -> list[int]:
        from cnictl.netlink.rtnl import Batch

        try:
            oif = socket.if_nametoindex(self.link)
        except OSError:
            if add:
                raise NotFoundError(f"host-access link {self.link} not found in this host",
                                    hint=f"recreate the network ({cli('net rm NAME --force')}, then net create)") from None
            return [0] * len(routes)
        batch = Batch()
        for r in routes:
            text = f"{host.ip_cmd()} route {'add' if add else 'del'} {r} dev {self.link}"
            (batch.add_route if add else batch.del_route)(r, oif, text)
        codes = batch.send(host.raw_socket(None))
        for i, code in enumerate(codes):
            if code and not (not add and code in (errno.ESRCH, errno.ENOENT, errno.ENODEV)):
                raise batch.error(i, code)
        return codes

    def apply(self, host: Host) -> None:
        routes = [self._host(a) for a in self.addresses()]
        if not routes:
            return
        self._send(host, routes, self.add)
        self.done = routes

    def undo(self, host: Host) -> None:
        if self.add and self.done:
            self._send(host, self.done, False)
            self.done = []

    def journal(self) -> dict[str, Any]:
        try:
            addresses = self.addresses()  # a teardown's (from the record); an attach's are not reserved yet
        except CnictlError:
            addresses = []
        return {"link": self.link, "add": self.add, "addresses": addresses if not self.add else []}

    def journal_out(self) -> dict[str, Any]:
        return {"done": self.done}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> HostRoutes:
        addresses = list(data["addresses"])
        step = cls(data["link"], lambda: addresses, add=data["add"])
        if out is not None:
            step.done = list(out["done"])  # (cut short while adding: routes to released addresses are left)
        return step

    def explain(self, host: Host) -> list[str]:
        try:
            routes = [self._host(a) for a in self.addresses()]
        except CnictlError:
            routes = []
        verb = "add" if self.add else "del"
        return [f"{host.ip_cmd()} route {verb} {r} dev {self.link}" for r in routes] or [
            f"{host.ip_cmd()} route {verb} ADDRESS/32 dev {self.link}"]
