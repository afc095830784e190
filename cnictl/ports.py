"""Published ports: the `-p [HOST_IP:]HOST_PORT[-END]:CONTAINER_PORT[-END][/tcp|/udp]` syntax and the claims
that keep two mappings from taking the same host port.

Claims live in the state directory, one file per (protocol, host port, host address), created with O_EXCL
under a lock, so finding a conflict costs the same with 1 or 10,000 published ports:
    ports/<proto>/<port>/<host-ip or "any">   containing "<network> <netns> <ifname>"

    >>> PortSpec.parse("127.0.0.1:8080-8081:80-81/udp")
    PortSpec(host_ip='127.0.0.1', host_port=8080, container_port=80, count=2, proto='udp')
    >>> str(PortSpec.parse("8080:80"))
    '8080:80/tcp'
"""

from __future__ import annotations

import ipaddress
import os

from cnictl import fsutil
from cnictl.errors import ConfigError, ConflictError, cli
from cnictl.plan import Step
from cnictl.record import asdict, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path
    from typing import Any

    from cnictl.host import Host

_SPEC = (
    r"^(?:(?P<ip>\[[0-9A-Fa-f:.]+\]|[0-9.]+):)?(?P<hp>\d+)(?:-(?P<hpe>\d+))?:(?P<cp>\d+)(?:-(?P<cpe>\d+))?"
    r"(?:/(?P<proto>[A-Za-z]+))?$"
)  # compiled on the first PortSpec.parse (importing re costs start-up time on every attach and DEL)
PROTOCOLS = ("tcp", "udp")
ANY = "any"


def _port(text: str, spec: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise ConfigError(f'invalid port {value} in "{spec}": use 1-65535 (example: 8080:80)')
    return value


@record(frozen=True)
class PortSpec:
    host_ip: str | None
    host_port: int
    container_port: int
    count: int = 1
    proto: str = "tcp"

    @classmethod
    def parse(cls, spec: str) -> PortSpec:
        import re

        m = re.fullmatch(_SPEC, spec.strip())
        if not m:
            raise ConfigError(
                f'invalid port mapping "{spec}": use [HOST_IP:]HOST_PORT[-END]:CONTAINER_PORT[-END][/tcp|/udp] '
                "(example: 8080:80/tcp)"
            )
        proto = (m["proto"] or "tcp").lower()
        if proto not in PROTOCOLS:
            raise ConfigError(f'unknown protocol "{m["proto"]}" in "{spec}": use tcp or udp')
        hp, cp = _port(m["hp"], spec), _port(m["cp"], spec)
        hpe = _port(m["hpe"], spec) if m["hpe"] else hp
        cpe = _port(m["cpe"], spec) if m["cpe"] else cp
        if hpe < hp or cpe < cp:
            raise ConfigError(f'invalid port range in "{spec}": the end must not be below the start')
        if hpe - hp != cpe - cp:
            raise ConfigError(
                f'mismatched port ranges in "{spec}": host {hp}-{hpe} has {hpe - hp + 1} ports, '
                f"container {cp}-{cpe} has {cpe - cp + 1} (make them the same length)"
            )
        host_ip = None
        if m["ip"]:
            text = m["ip"].strip("[]")
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                raise ConfigError(f'invalid host address "{text}" in "{spec}" (example: 127.0.0.1:8080:80)') from None
            if ip.version == 6:
                raise ConfigError(f'IPv6 host address in "{spec}": publishing on IPv6 is not supported yet',
                                  hint="publish on an IPv4 address or on all addresses")
            if not ip.is_unspecified:
                host_ip = str(ip)
        return cls(host_ip=host_ip, host_port=hp, container_port=cp, count=hpe - hp + 1, proto=proto)

    def __str__(self) -> str:
        hp = f"{self.host_port}" + (f"-{self.host_port + self.count - 1}" if self.count > 1 else "")
        cp = f"{self.container_port}" + (f"-{self.container_port + self.count - 1}" if self.count > 1 else "")
        ip = f"{self.host_ip}:" if self.host_ip else ""
        return f"{ip}{hp}:{cp}/{self.proto}"

    def pairs(self) -> Iterator[tuple[int, int]]:
        for i in range(self.count):
            yield self.host_port + i, self.container_port + i

    @property
    def loopback(self) -> bool:
        return self.host_ip is not None and ipaddress.ip_address(self.host_ip).is_loopback

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["spec"] = str(self)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PortSpec:
        return cls(d["host_ip"], d["host_port"], d["container_port"], d.get("count", 1), d.get("proto", "tcp"))


class PortClaims:
    """Which host ports are taken, and by whom (see the module docstring for the layout)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _locked(self) -> fsutil.locked:
        return fsutil.locked(self.directory / "lock", timeout=None)

    def _path(self, proto: str, port: int, ip: str | None) -> Path:
        return self.directory / proto / str(port) / (ip or ANY)

    def holder(self, proto: str, port: int, ip: str | None) -> str | None:
        """Who holds a port that conflicts with (proto, port, ip), if anyone."""
        d = self.directory / proto / str(port)
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return None
        for name in names:  # at most a few: one per host address the port is published on
            if ip is None or name in (ANY, ip):
                try:
                    return (d / name).read_text().strip()
                except FileNotFoundError:
                    pass
        return None

    def claim(self, spec: PortSpec, owner: str) -> None:
        """Take every host port of *spec* for *owner*, or none of them (ConflictError naming the holder)."""
        taken: list[Path] = []
        with self._locked():
            try:
                for hp, _ in spec.pairs():
                    who = self.holder(spec.proto, hp, spec.host_ip)
                    if who is not None:
                        where = f"{spec.host_ip or '0.0.0.0'}:{hp}/{spec.proto}"
                        raise ConflictError(f"host port {where} is already published by {who}",
                                            hint=f"pick another host port, or unpublish it first; see: {cli('port ls')}")
                    path = self._path(spec.proto, hp, spec.host_ip)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                    with os.fdopen(fd, "w") as f:
                        f.write(owner)
                    taken.append(path)
            except BaseException:
                for path in taken:
                    self._unlink(path)
                raise

    def claims(self) -> list[tuple[str, str]]:
        """Every claim: (its file, relative to the directory, e.g. "tcp/8080/any"; the owner it names)."""
        out = []
        try:
            protos = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return []
        for proto in protos:
            if not (self.directory / proto).is_dir():
                continue
            for port in sorted(os.listdir(self.directory / proto)):
                for ip in sorted(os.listdir(self.directory / proto / port)):
                    rel = f"{proto}/{port}/{ip}"
                    try:
                        out.append((rel, (self.directory / rel).read_text().strip()))
                    except (FileNotFoundError, IsADirectoryError):
                        continue
        return out

    def release_claim(self, rel: str, owner: str) -> None:
        """Remove the claim file *rel* if *owner* still holds it (`cnictl gc`)."""
        with self._locked():
            path = self.directory / rel
            try:
                held = path.read_text().strip()
            except FileNotFoundError:
                return
            if held == owner:
                self._unlink(path)

    def release_owned(self, spec: PortSpec, owner: str) -> None:
        """Release the host ports of *spec* that *owner* holds (recovery of a claim cut short)."""
        with self._locked():
            for hp, _ in spec.pairs():
                path = self._path(spec.proto, hp, spec.host_ip)
                try:
                    held = path.read_text().strip()
                except FileNotFoundError:
                    continue
                if held == owner:
                    self._unlink(path)

    def release(self, spec: PortSpec) -> None:
        with self._locked():
            for hp, _ in spec.pairs():
                self._unlink(self._path(spec.proto, hp, spec.host_ip))

    @staticmethod
    def _unlink(path: Path) -> None:
        try:  # noqa: SIM105 - no contextlib on the plugin's path (start-up time)
            path.unlink()
        except FileNotFoundError:
            pass
        try:  # noqa: SIM105 - no contextlib on the plugin's path (start-up time)
            path.parent.rmdir()
        except OSError:
            pass


# ---- steps ----------------------------------------------------------------------------


class ClaimPorts(Step):
    """Claim the host ports of every mapping for *owner*, all or none (ConflictError naming the holder);
    undo releases them again."""

    def __init__(self, claims: PortClaims, specs: Sequence[PortSpec], owner: str) -> None:
        self.claims, self.specs, self.owner = claims, list(specs), owner
        self.text = ", ".join(str(s) for s in self.specs)
        self.summary = f"claim host ports {self.text}"
        self.claimed: list[PortSpec] = []

    def apply(self, host: Host) -> None:
        try:
            for s in self.specs:
                self.claims.claim(s, self.owner)
                self.claimed.append(s)
        except BaseException:
            self.undo(host)
            raise

    def undo(self, host: Host) -> None:
        for s in self.claimed:
            self.claims.release(s)
        self.claimed = []
        if self.unsure:
            for s in self.specs:
                self.claims.release_owned(s, self.owner)

    unsure = False  # resumed from a journal that does not say whether it claimed

    def journal(self) -> dict[str, Any]:
        return {"dir": str(self.claims.directory), "specs": [s.to_dict() for s in self.specs], "owner": self.owner}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> ClaimPorts:
        from pathlib import Path

        step = cls(PortClaims(Path(data["dir"])), [PortSpec.from_dict(d) for d in data["specs"]], data["owner"])
        if out is not None:
            step.claimed = list(step.specs)  # all or none: done means all of them
        else:
            step.unsure = True
        return step

    def explain(self, host: Host) -> list[str]:
        return [f"# state: claim {self.text} under {self.claims.directory}"]


class ReleasePorts(Step):
    """Release the host port claims of mappings (unpublish, detach); already released is fine."""

    def __init__(self, claims: PortClaims, specs: Sequence[PortSpec]) -> None:
        self.claims, self.specs = claims, list(specs)
        self.text = ", ".join(str(s) for s in self.specs)
        self.summary = f"release host ports {self.text}"

    def apply(self, host: Host) -> None:
        for s in self.specs:
            self.claims.release(s)

    def journal(self) -> dict[str, Any]:
        return {"dir": str(self.claims.directory), "specs": [s.to_dict() for s in self.specs]}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> ReleasePorts:
        from pathlib import Path

        return cls(PortClaims(Path(data["dir"])), [PortSpec.from_dict(d) for d in data["specs"]])

    def explain(self, host: Host) -> list[str]:
        return [f"# state: release {self.text}"]


class ReleaseClaim(Step):
    """`cnictl gc`: release a host port claim whose owner has no attachment record; already gone is fine."""

    def __init__(self, claims: PortClaims, rel: str, owner: str) -> None:
        self.claims, self.rel, self.owner = claims, rel, owner
        self.summary = f"release the claim {rel} of {owner}, which has no attachment record"

    def apply(self, host: Host) -> None:
        self.claims.release_claim(self.rel, self.owner)

    def explain(self, host: Host) -> list[str]:
        return [f"# state: remove {self.claims.directory / self.rel} (held by {self.owner!r})"]

    def journal(self) -> dict[str, Any]:
        return {"dir": str(self.claims.directory), "rel": self.rel, "owner": self.owner}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> ReleaseClaim:
        from pathlib import Path

        return cls(PortClaims(Path(data["dir"])), data["rel"], data["owner"])
