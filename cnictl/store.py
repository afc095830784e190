"""Persistent state: network definitions and attachment records under the state directory, with locking.

Layout (default /var/lib/cnictl, or --state-dir / CNICTL_STATE_DIR):
    networks/<name>.json                 one file per network
    attachments/<network>/<key>.json     one file per attached interface
    lock                                 flock: exclusive for net create/rm, shared for attach/detach

    >>> attachment_key("web", "eth0")
    'web_eth0'
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from cnictl.errors import NotFoundError, TransientError, cli
from cnictl.host import Paths
from cnictl.model import Attachment, Network

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


def attachment_key(netns_key: str, ifname: str) -> str:
    return f"{netns_key}_{ifname}"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    return data if isinstance(data, dict) else None


class Store:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths

    # ---- locking -----------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, exclusive: bool, timeout: float = 60.0) -> Iterator[None]:
        self.paths.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.paths.lock, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TransientError(
                            f"state lock {self.paths.lock} is held by another cnictl", hint="retry in a moment"
                        ) from None
                    time.sleep(0.01)
            yield
        finally:
            os.close(fd)

    # ---- networks ----------------------------------------------------------------------
    def network_path(self, name: str) -> Path:
        return self.paths.networks / f"{name}.json"

    def get_network(self, name: str) -> Network:
        data = _read_json(self.network_path(name))
        if data is None:
            raise NotFoundError(f'network "{name}" not found', hint=f"see: {cli('net ls')}")
        return Network.from_dict(data)

    def find_network(self, name: str) -> Network | None:
        data = _read_json(self.network_path(name))
        return Network.from_dict(data) if data is not None else None

    def networks(self) -> list[Network]:
        try:
            names = sorted(p for p in os.listdir(self.paths.networks) if p.endswith(".json"))
        except FileNotFoundError:
            return []
        out = []
        for n in names:
            data = _read_json(self.paths.networks / n)
            if data is not None:
                out.append(Network.from_dict(data))
        return out

    def save_network(self, net: Network) -> None:
        _write_json(self.network_path(net.name), net.to_dict())

    def delete_network(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.network_path(name))
        with contextlib.suppress(OSError):
            os.rmdir(self.paths.attachments / name)

    # ---- attachments -------------------------------------------------------------------
    def attachment_path(self, network: str, key: str) -> Path:
        return self.paths.attachments / network / f"{key}.json"

    def get_attachment(self, network: str, key: str) -> Attachment | None:
        data = _read_json(self.attachment_path(network, key))
        return Attachment.from_dict(data) if data is not None else None

    def attachments(self, network: str) -> list[Attachment]:
        d = self.paths.attachments / network
        try:
            names = sorted(p for p in os.listdir(d) if p.endswith(".json"))
        except FileNotFoundError:
            return []
        out = []
        for n in names:
            data = _read_json(d / n)
            if data is not None:
                out.append(Attachment.from_dict(data))
        return out

    def count_attachments(self, network: str) -> int:
        try:
            return sum(1 for p in os.listdir(self.paths.attachments / network) if p.endswith(".json"))
        except FileNotFoundError:
            return 0

    def save_attachment(self, att: Attachment) -> None:
        _write_json(self.attachment_path(att.network, attachment_key(att.netns_key, att.ifname)), att.to_dict())

    def delete_attachment(self, network: str, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.attachment_path(network, key))
