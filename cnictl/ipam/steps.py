"""IPAM Steps: releasing reservations and removing a network's host-local directory, as plan steps.

They change files only, so they explain themselves as comment lines (`# IPAM: ...`) in `--dry-run`
output and the `--explain` echo; `rm -rf DIR` for the directory, which is what it amounts to.

    >>> from pathlib import Path
    >>> from cnictl.ipam.hostlocal import HostLocalStore
    >>> ReleaseIP(HostLocalStore(Path("/s/ipam/lab")), "10.20.0.5", ("web", "eth0")).explain(None)
    ['# IPAM: release 10.20.0.5 of web/eth0 (rm /s/ipam/lab/10.20.0.5)']
"""

from __future__ import annotations

from cnictl.plan import Step

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from cnictl.host import Host
    from cnictl.ipam.allocator import IPAddress
    from cnictl.ipam.hostlocal import HostLocalStore


class ReleaseAddresses(Step):
    """Release every reservation of (container id, ifname), legacy bare-id ones too; none is fine."""

    def __init__(self, ipam: HostLocalStore, container_id: str, ifname: str) -> None:
        self.ipam, self.container_id, self.ifname = ipam, container_id, ifname
        self.summary = f"release addresses of {container_id}/{ifname}"
        self.released: list[IPAddress] = []

    def apply(self, host: Host) -> None:
        self.released = self.ipam.release(self.container_id, self.ifname)

    def explain(self, host: Host | None) -> list[str]:
        return [f"# IPAM: remove the files in {self.ipam.directory} holding '{self.container_id}\\r\\n{self.ifname}'"]


class ReleaseIP(Step):
    """Release one reserved address (`ipam release`, CNI GC); already free is fine. *holder* is the
    (container id, ifname) it was reserved for, when known, for the explained line."""

    def __init__(self, ipam: HostLocalStore, ip: str | IPAddress, holder: tuple[str, str] | None = None) -> None:
        self.ipam, self.ip, self.holder = ipam, str(ip), holder
        of = f" of {holder[0]}/{holder[1]}" if holder and holder[1] else f" of {holder[0]}" if holder else ""
        self.summary = f"release {self.ip}{of}"
        self.released: tuple[str, str] | None = None

    def apply(self, host: Host) -> None:
        self.released = self.ipam.release_ip(self.ip)

    def explain(self, host: Host | None) -> list[str]:
        return [f"# IPAM: {self.summary} (rm {self.ipam.directory / self.ip})"]


class DestroyIpamDir(Step):
    """Remove a network's host-local directory (lock, last_reserved_ip.*); refused while reservations remain."""

    def __init__(self, ipam: HostLocalStore) -> None:
        self.ipam = ipam
        self.summary = f"remove IPAM directory {ipam.directory}"

    def apply(self, host: Host) -> None:
        self.ipam.destroy()

    def explain(self, host: Host | None) -> list[str]:
        return [f"rm -rf {self.ipam.directory}"]
