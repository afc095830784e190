"""Persistent state: network definitions and attachment records under the state directory, with locking.

Layout (default /var/lib/cnictl, or --state-dir / CNICTL_STATE_DIR):
    networks/<name>.json                 one file per network
    attachments/<network>/<key>.json     one file per attached interface
    lock                                 flock: exclusive for net create/rm, shared for attach/detach

    >>> attachment_key("web", "eth0")
    'web_eth0'
"""

from __future__ import annotations

import os

from cnictl import fsutil
from cnictl import jsonlite as json  # json's loads/load/dumps without importing json (start-up time)
from cnictl.errors import NotFoundError, cli
from cnictl.host import Paths
from cnictl.model import Attachment, Network
from cnictl.plan import Step

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from cnictl.host import Host


class StateLock:
    """The state lock held for a `with` body; see Store.locked()."""

    __slots__ = ("exclusive", "host", "inner", "paths", "timeout")

    def __init__(self, paths: Paths, exclusive: bool, timeout: float, host: Host | None) -> None:
        self.paths, self.exclusive, self.timeout, self.host = paths, exclusive, timeout, host
        self.inner: fsutil.locked | None = None

    def _take(self, exclusive: bool) -> None:
        self.inner = fsutil.locked(self.paths.dirs.lock, exclusive=exclusive, timeout=self.timeout, what="state lock")
        self.inner.__enter__()

    def _drop(self) -> None:
        if self.inner is not None:
            inner, self.inner = self.inner, None
            inner.__exit__(None, None, None)

    def __enter__(self) -> None:
        from cnictl import journal

        self._take(self.exclusive)
        if self.host is None or not journal.ENABLED:
            return
        if not journal.any_pending(self.paths.dirs.state_dir):
            return
        try:
            if not self.exclusive:  # recovery runs alone
                self._drop()
                self._take(True)
            from cnictl.recovery import recover_on_lock

            recover_on_lock(self.host)
            if not self.exclusive:
                self._drop()
                self._take(False)
        except BaseException:
            self._drop()
            raise

    def __exit__(self, *exc: object) -> None:
        self._drop()


def attachment_key(netns_key: str, ifname: str) -> str:
    return f"{netns_key}_{ifname}"


def _write_json(path: str, data: dict[str, Any]) -> None:
    fsutil.atomic_write(path, json.dumps(data, indent=1) + "\n")


def _read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    return data if isinstance(data, dict) else None


class Store:
    """The records under `paths` (string paths throughout: pathlib stays unimported on the plugin's path)."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self._networks = paths.dirs.networks
        self._attachments = paths.dirs.attachments

    # ---- locking -----------------------------------------------------------------------
    def locked(self, exclusive: bool, timeout: float = 60.0, host: Host | None = None) -> StateLock:
        """`with store.locked(exclusive=...):` holds the state lock (flock) for the body. With *host*, a
        command that is about to change the system: plans that a dead process left unfinished are finished
        first (cnictl.recovery), under the exclusive lock."""
        return StateLock(self.paths, exclusive, timeout, host)

    # ---- networks ----------------------------------------------------------------------
    def network_file(self, name: str) -> str:
        """The record of network *name* (`network_path` as a string)."""
        return os.path.join(self._networks, f"{name}.json")

    def network_path(self, name: str) -> Path:
        from pathlib import Path

        return Path(self.network_file(name))

    def has_network(self, name: str) -> bool:
        """Is there a record of network *name*?"""
        return os.path.exists(self.network_file(name))

    def get_network(self, name: str) -> Network:
        data = _read_json(self.network_file(name))
        if data is None:
            raise NotFoundError(f'network "{name}" not found', hint=f"see: {cli('net ls')}")
        return Network.from_dict(data)

    def find_network(self, name: str) -> Network | None:
        data = _read_json(self.network_file(name))
        return Network.from_dict(data) if data is not None else None

    def networks(self) -> list[Network]:
        try:
            names = sorted(p for p in os.listdir(self._networks) if p.endswith(".json"))
        except FileNotFoundError:
            return []
        out = []
        for n in names:
            data = _read_json(os.path.join(self._networks, n))
            if data is not None:
                out.append(Network.from_dict(data))
        return out

    def save_network(self, net: Network) -> None:
        _write_json(self.network_file(net.name), net.to_dict())

    def delete_network(self, name: str) -> None:
        try:  # noqa: SIM105 - no contextlib on the plugin's path (start-up time)
            os.unlink(self.network_file(name))
        except FileNotFoundError:
            pass
        try:  # noqa: SIM105 - no contextlib on the plugin's path (start-up time)
            os.rmdir(os.path.join(self._attachments, name))
        except OSError:
            pass

    # ---- attachments -------------------------------------------------------------------
    def attachment_file(self, network: str, key: str) -> str:
        """The record of attachment *key* of *network* (`attachment_path` as a string)."""
        return os.path.join(self._attachments, network, f"{key}.json")

    def attachment_path(self, network: str, key: str) -> Path:
        from pathlib import Path

        return Path(self.attachment_file(network, key))

    def get_attachment(self, network: str, key: str) -> Attachment | None:
        data = _read_json(self.attachment_file(network, key))
        return Attachment.from_dict(data) if data is not None else None

    def attachments(self, network: str) -> list[Attachment]:
        d = os.path.join(self._attachments, network)
        try:
            names = sorted(p for p in os.listdir(d) if p.endswith(".json"))
        except FileNotFoundError:
            return []
        out = []
        for n in names:
            data = _read_json(os.path.join(d, n))
            if data is not None:
                out.append(Attachment.from_dict(data))
        return out

    def count_attachments(self, network: str) -> int:
        try:
            return sum(1 for p in os.listdir(os.path.join(self._attachments, network)) if p.endswith(".json"))
        except FileNotFoundError:
            return 0

    def save_attachment(self, att: Attachment) -> None:
        _write_json(self.attachment_file(att.network, attachment_key(att.netns_key, att.ifname)), att.to_dict())

    def delete_attachment(self, network: str, key: str) -> None:
        try:  # noqa: SIM105 - no contextlib on the plugin's path (start-up time)
            os.unlink(self.attachment_file(network, key))
        except FileNotFoundError:
            pass


# ---- steps: state writes as named Steps (they explain as comment lines: no kernel command) ----------------


class SaveNetwork(Step):
    """Write the network's record (the last step of `net create`); undo removes it again."""

    outlives_boot = True

    def __init__(self, store: Store, net: Network) -> None:
        self.store, self.net = store, net
        self.summary = f"save network {net.name}"

    def apply(self, host: Host) -> None:
        self.store.save_network(self.net)

    def undo(self, host: Host) -> None:
        self.store.delete_network(self.net.name)

    def journal(self) -> dict[str, Any]:
        return {"net": self.net.to_dict()}  # net create checked, under the exclusive lock, that it was new

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> SaveNetwork:
        return cls(Store(host.paths), Network.from_dict(data["net"]))

    def explain(self, host: Host) -> list[str]:
        return [f"# state: write {self.store.network_file(self.net.name)}"]


class RemoveNetwork(Step):
    """Remove the network's record. In a teardown it runs only when every step before it succeeded
    (`clean_only`), so a half-removed network keeps its record and `net rm` can simply run again."""

    clean_only = True

    def __init__(self, store: Store, name: str) -> None:
        self.store, self.name = store, name
        self.summary = f"remove the record of network {name}"

    def apply(self, host: Host) -> None:
        self.store.delete_network(self.name)

    def journal(self) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> RemoveNetwork:
        return cls(Store(host.paths), data["name"])

    def explain(self, host: Host) -> list[str]:
        return [f"# state: remove {self.store.network_file(self.name)}"]


class SaveAttachment(Step):
    """Write an attachment's record (the last step of `attach`); undo removes it again.

    *addresses* is read when the step runs: the addresses IPAM reserved earlier in the same plan."""

    def __init__(self, store: Store, att: Attachment, addresses: Callable[[], list[str]] | None = None,
                 ports: list[dict[str, Any]] | None = None) -> None:
        self.store, self.att, self.addresses, self.ports = store, att, addresses, ports
        self.summary = f"record attachment {att.netns}/{att.ifname}"

    def _path(self) -> str:
        return self.store.attachment_file(self.att.network, attachment_key(self.att.netns_key, self.att.ifname))

    def apply(self, host: Host) -> None:
        if self.addresses is not None:
            self.att.addresses = self.addresses()
        if self.ports is not None:
            self.att.ports = list(self.ports)
        self.store.save_attachment(self.att)

    def undo(self, host: Host) -> None:
        self.store.delete_attachment(self.att.network, attachment_key(self.att.netns_key, self.att.ifname))

    def journal(self) -> dict[str, Any]:
        return {"att": self.att.to_dict(), "ports": self.ports}  # attach checked that it was not attached

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> SaveAttachment:
        return cls(Store(host.paths), Attachment.from_dict(data["att"]), None, data.get("ports"))

    def explain(self, host: Host) -> list[str]:
        return [f"# state: write {self._path()}"]


class SaveAttachmentPorts(Step):
    """Rewrite an attachment's record with another list of published ports; undo writes the previous list back.

    *what* says what changes, for the explained line (`+8080:80/tcp`, `-8080:80/tcp`)."""

    def __init__(self, store: Store, att: Attachment, ports: list[dict[str, Any]], what: str) -> None:
        self.store, self.att, self.ports, self.what = store, att, list(ports), what
        self.before: list[dict[str, Any]] | None = None
        self.summary = f"record ports {what} on {att.netns}/{att.ifname}"

    def apply(self, host: Host) -> None:
        self.before = list(self.att.ports)
        self.att.ports = list(self.ports)
        self.store.save_attachment(self.att)

    def undo(self, host: Host) -> None:
        if self.before is not None:
            self.att.ports = self.before
            self.store.save_attachment(self.att)
            self.before = None

    def journal(self) -> dict[str, Any]:
        # the record as it is now (the ports before the change): undo writes it back, done or not
        return {"att": self.att.to_dict(), "ports": self.ports, "what": self.what}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> SaveAttachmentPorts:
        att = Attachment.from_dict(data["att"])
        step = cls(Store(host.paths), att, data["ports"], data["what"])
        step.before = list(att.ports)
        return step

    def explain(self, host: Host) -> list[str]:
        path = self.store.attachment_file(self.att.network, attachment_key(self.att.netns_key, self.att.ifname))
        return [f"# state: write {path} (ports {self.what})"]


class ForgetAttachment(Step):
    """Remove an attachment's record (the last step of a detach); already gone is fine."""

    def __init__(self, store: Store, network: str, key: str, label: str) -> None:
        self.store, self.network, self.key = store, network, key
        self.summary = f"forget attachment {label}"

    def apply(self, host: Host) -> None:
        self.store.delete_attachment(self.network, self.key)

    def journal(self) -> dict[str, Any]:
        return {"network": self.network, "key": self.key, "label": self.summary.removeprefix("forget attachment ")}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> ForgetAttachment:
        return cls(Store(host.paths), data["network"], data["key"], data["label"])

    def explain(self, host: Host) -> list[str]:
        return [f"# state: remove {self.store.attachment_file(self.network, self.key)}"]
