"""libcni's result cache (CNI.md 1.5, items 78-79): one `cniCacheV1` file per attachment.

Path `<cacheDir>/results/<network>-<containerID>-<ifname>`, directory 0700, file 0600. The content is
what Go's json.Marshal makes of libcni's cachedInfo: fields in declaration order, no spaces, `config`
base64 (a Go []byte), maps with sorted keys, `<`, `>` and `&` escaped, the last four fields left out
when empty. So containerd, cri-o, cnitool and cnictl can read each other's caches. Files are written
to a temporary name and renamed (libcni writes in place; a reader here never sees half a file).

Readers accept legacy files that are a bare Result (item 79). The network name, container id and
interface name are validated before any path is built.

    >>> e = Entry("c1", b"{}", "eth0", "n", "/run/netns/x", [("IgnoreUnknown", "1")], {}, {"cniVersion": "1.1.0"})
    >>> encode(e).decode()[:56]
    '{"kind":"cniCacheV1","containerId":"c1","config":"e30=",'
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnictl import fsutil
from cnictl.cni.types import validate_container_id, validate_ifname, validate_network_name

KIND = "cniCacheV1"
DEFAULT_CACHE_DIR = "/var/lib/cni"


def default_cache_dir() -> str:
    return os.environ.get("CNI_CACHE_DIR") or DEFAULT_CACHE_DIR


@dataclass
class Entry:
    """One cached attachment (libcni cachedInfo)."""

    container_id: str
    config: bytes
    ifname: str
    network: str
    netns: str = ""
    cni_args: list[tuple[str, str]] | None = None
    capability_args: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    kind: str = KIND


class CacheFormatError(ValueError):
    """A cache file that cannot be decoded as either format."""


def go_json(obj: Any) -> str:
    """Go's json.Marshal for decoded JSON values: compact, map keys sorted, HTML characters escaped."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def encode(entry: Entry) -> bytes:
    """The file content, byte-compatible with libcni's cacheAdd."""
    parts = [
        f'"kind":{go_json(entry.kind)}',
        f'"containerId":{go_json(entry.container_id)}',
        f'"config":{go_json(base64.b64encode(entry.config).decode()) if entry.config else "null"}',
        f'"ifName":{go_json(entry.ifname)}',
        f'"networkName":{go_json(entry.network)}',
    ]
    if entry.netns:
        parts.append(f'"netns":{go_json(entry.netns)}')
    if entry.cni_args:
        parts.append(f'"cniArgs":{go_json([list(p) for p in entry.cni_args])}')
    if entry.capability_args:
        parts.append(f'"capabilityArgs":{go_json(entry.capability_args)}')
    if entry.result:
        parts.append(f'"result":{go_json(entry.result)}')
    return ("{" + ",".join(parts) + "}").encode()


def decode(data: bytes) -> Entry:
    """A cniCacheV1 file; CacheFormatError if it is not JSON or not of that kind (kind is kept as read)."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise CacheFormatError(f"cache file is not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise CacheFormatError("cache file is not a JSON object")
    kind = obj.get("kind")
    if kind != KIND:
        raise CacheFormatError(f"cache file kind {kind!r} is not {KIND!r}")
    try:
        config = base64.b64decode(obj.get("config") or "", validate=True)
    except (binascii.Error, TypeError, ValueError) as e:
        raise CacheFormatError(f"cache file config is not base64: {e}") from None
    args = obj.get("cniArgs") or None
    if args is not None and not (isinstance(args, list) and all(isinstance(p, list) and len(p) == 2 for p in args)):
        raise CacheFormatError("cache file cniArgs is not a list of pairs")
    caps = obj.get("capabilityArgs") or None
    result = obj.get("result") or None
    if caps is not None and not isinstance(caps, dict) or result is not None and not isinstance(result, dict):
        raise CacheFormatError("cache file capabilityArgs/result is not an object")
    return Entry(container_id=str(obj.get("containerId") or ""), config=config, ifname=str(obj.get("ifName") or ""),
                 network=str(obj.get("networkName") or ""), netns=str(obj.get("netns") or ""),
                 cni_args=[(str(k), str(v)) for k, v in args] if args else None, capability_args=caps,
                 result=result, kind=KIND)


class Cache:
    """The result cache under *cache_dir* (default $CNI_CACHE_DIR or /var/lib/cni)."""

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None) -> None:
        self.dir = Path(cache_dir or default_cache_dir()).absolute()

    @property
    def results(self) -> Path:
        return self.dir / "results"

    def path(self, network: str, container_id: str, ifname: str) -> Path:
        """Item 78; every part validated first, so no name can leave the directory."""
        validate_network_name(network)
        validate_container_id(container_id)
        validate_ifname(ifname)
        return self.results / f"{network}-{container_id}-{ifname}"

    def write(self, entry: Entry) -> Path:
        path = self.path(entry.network, entry.container_id, entry.ifname)
        return fsutil.atomic_write(path, encode(entry), 0o600, fsync=True, dir_mode=0o700)

    def read_bytes(self, network: str, container_id: str, ifname: str) -> bytes | None:
        """The file's bytes, or None when there is none (read errors count as none, as in libcni)."""
        try:
            return self.path(network, container_id, ifname).read_bytes()
        except OSError:
            return None

    def get_result(self, network: str, container_id: str, ifname: str) -> dict[str, Any] | None:
        """The cached Result (item 79): from a cniCacheV1 file, or a legacy bare-Result file (also a file
        of another kind is read as legacy). None if there is no file; CacheFormatError if it is unusable."""
        data = self.read_bytes(network, container_id, ifname)
        if data is None:
            return None
        try:
            entry = decode(data)
        except CacheFormatError:
            return _legacy_result(data)
        if entry.result is None:
            raise CacheFormatError("cache file has no result")
        return entry.result

    def get_entry(self, network: str, container_id: str, ifname: str) -> Entry | None:
        """The cached attachment (config, args, capability args); None without a file; CacheFormatError
        for a file that is not cniCacheV1 (libcni getCachedConfig)."""
        data = self.read_bytes(network, container_id, ifname)
        if data is None:
            return None
        return decode(data)

    def delete(self, network: str, container_id: str, ifname: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(network, container_id, ifname).unlink()

    def attachments(self, container_id: str = "") -> list[Entry]:
        """libcni GetCachedAttachments: cniCacheV1 files (sorted), of *container_id* when given; files of
        other kinds or without ifName/networkName are skipped."""
        try:
            names = sorted(n for n in os.listdir(self.results) if not n.startswith("."))
        except OSError:
            return []
        out = []
        for n in names:
            if container_id and f"-{container_id}-" not in n:
                continue
            try:
                entry = decode((self.results / n).read_bytes())
            except (OSError, CacheFormatError):
                continue
            if container_id and entry.container_id != container_id:
                continue
            if not entry.ifname or not entry.network:
                continue
            out.append(entry)
        return out


def _legacy_result(data: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise CacheFormatError(f"cache file is not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise CacheFormatError("cache file is not a JSON object")
    return obj
