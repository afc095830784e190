"""cnictl as a CNI runtime: executes plugin chains with libcni's semantics (CNI.md 1.4 items 51-79).

    rt = Runtime(["/usr/lib/cni"], cache_dir="/var/lib/cni")
    result = rt.add(conf.load(Paths.machine().cni_conf_dir, "lab"), RuntimeConf("c1", "/run/netns/web", "eth0"))

* Plugins are found in CNI_PATH by `type`; a type with `/` is refused before anything runs (51); finding and
  running them is `cni.exec`, shared with the plugin's delegated IPAM (not found: code 50).
* Every plugin gets the runtime's environment plus all six CNI_* variables, set even when empty (52);
  the environment is the caller's, without the LC_CTYPE that Python's locale coercion adds (cni.environ).
* The request is the plugin object with `name`/`cniVersion` overwritten from the list, key order kept;
  `runtimeConfig` holds the capability args whose capability the plugin sets to true (54, 55).
* ADD runs the list in order with the previous result as `prevResult` and caches the final result
  (56-59); DEL runs it in reverse with the cached result (60-64); CHECK in order with it (65-67);
  GC deletes cached attachments not in the valid set, then sends GC (68-70); STATUS (71).
* VERSION probes and validation as libcni's GetVersionInfo / ValidateNetworkList (72, 73).
* A failing plugin's error comes from its stdout JSON, else its stderr, in libcni's words (74); its
  stderr is always copied to ours (75); "text file busy" is retried (76).

Container id, network name and ifname are validated on every verb (they build cache paths), and a
CNI_NETNS that is the runtime's own namespace is refused with code 8 unless CNI_NETNS_OVERRIDE is set.
Add/del/check/gc hold one flock on `<cacheDir>/cnictl.lock`, so GC never overlaps an ADD or DEL and
no two operations run at once for one attachment.

Plugins are child processes: they run in the namespace of the calling thread (under `cnictl --netns
HOST`, the host namespace the CLI entered).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cnictl import fsutil
from cnictl.cni.cache import Cache, CacheFormatError, Entry
from cnictl.cni.conf import ConfList, PluginConf, parse_version
from cnictl.cni.environ import caller_environ
from cnictl.cni.exec import find, run
from cnictl.cni.types import (
    CURRENT,
    DECODING_FAILURE,
    INCOMPATIBLE_VERSION,
    INVALID_CONFIG,
    INVALID_NETNS,
    convert_result,
    stringify_args,
    validate_container_id,
    validate_ifname,
    validate_network_name,
)
from cnictl.errors import CnictlError, CniError
from cnictl.netns import same_netns

DEFAULT_CNI_PATH = "/usr/lib/cni:/opt/cni/bin"


def _ge(v: str, minimum: str) -> bool:
    try:
        return parse_version(v) >= parse_version(minimum)
    except ValueError as e:
        raise CniError(INCOMPATIBLE_VERSION, str(e)) from None


@dataclass
class RuntimeConf:
    """One attachment (libcni RuntimeConf). *args*/*capability_args* None: not given (DEL and CHECK then
    take the ADD's from the cache)."""

    container_id: str
    netns: str
    ifname: str
    args: list[tuple[str, str]] | None = None
    capability_args: dict[str, Any] | None = None


@dataclass
class ProbeRow:
    plugin: str
    path: str | None
    supported: list[str] = field(default_factory=list)
    verdict: str = ""
    ok: bool = False


def wrap(e: CniError, plugin: PluginConf, verb: str) -> CniError:
    """libcni's `plugin type="bridge" failed (add): ...`, with the CNI code in the line; code, msg and details kept."""
    out = CniError(e.cni_code, e.msg, e.details, hint=e.hint)
    out.message = f"plugin {plugin.description()} failed ({verb}): CNI error code {e.cni_code}: {e.message}"
    return out


class Runtime:
    """Executes network configuration lists (libcni CNIConfig)."""

    def __init__(self, cni_path: str | Sequence[str] | None = None, cache_dir: str | os.PathLike[str] | None = None, *,
                 stderr: BinaryIO | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        if cni_path is None:
            cni_path = os.environ.get("CNI_PATH") or DEFAULT_CNI_PATH
        if isinstance(cni_path, str):
            cni_path = cni_path.split(":")
        self.path = [p for p in cni_path if p]
        self.cache = Cache(cache_dir)
        self.stderr = stderr
        self.sleep = sleep

    # ---- plugins ------------------------------------------------------------------------
    def find(self, kind: str) -> str:
        """Item 51 (libcni FindInPath): the first regular file <dir>/<type> along CNI_PATH (cni.exec.find)."""
        return find(kind, self.path)

    def env(self, command: str, rt: RuntimeConf | None = None) -> dict[str, str]:
        """Item 52: the caller's environment (as exec'd, bar Python's own locale coercion: cni.environ) with all
        six CNI_* variables set (empty when not applicable)."""
        env = caller_environ()
        env["CNI_COMMAND"] = command
        env["CNI_CONTAINERID"] = rt.container_id if rt else ""
        env["CNI_NETNS"] = rt.netns if rt else ""
        env["CNI_ARGS"] = stringify_args(rt.args or []) if rt else ""
        env["CNI_IFNAME"] = rt.ifname if rt else ""
        env["CNI_PATH"] = ":".join(self.path)
        return env

    def exec(self, path: str, stdin: bytes, env: dict[str, str]) -> bytes:
        """Run one plugin (cni.exec.run); its stdout on success, else the decoded error (items 74-76)."""
        return run(path, stdin, env, stderr=self._forward, sleep=self.sleep)

    def _forward(self, data: bytes) -> None:
        stream = self.stderr if self.stderr is not None else sys.stderr.buffer
        with contextlib.suppress(OSError, ValueError):
            stream.write(data)
            stream.flush()

    @staticmethod
    def request(conf: ConfList, plugin: PluginConf, prev_result: dict[str, Any] | None = None,
                rt: RuntimeConf | None = None, extra: dict[str, Any] | None = None) -> bytes:
        """Items 54-55: the plugin object, key order and values kept, with name/cniVersion overwritten,
        prevResult when given, and runtimeConfig for the capabilities set true that have an argument."""
        obj = dict(plugin.conf)
        obj["name"] = conf.name
        obj["cniVersion"] = conf.cni_version
        if prev_result is not None:
            obj["prevResult"] = prev_result
        for k, v in (extra or {}).items():
            obj[k] = v
        if rt is not None and rt.capability_args:
            rc = {cap: rt.capability_args[cap] for cap, on in plugin.capabilities.items()
                  if on is True and cap in rt.capability_args}
            if rc:
                obj["runtimeConfig"] = rc
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()

    @staticmethod
    def parse_result(stdout: bytes, conf_version: str) -> dict[str, Any]:
        """Item 58: the plugin's Result; one without cniVersion is read as the config's version."""
        try:
            obj = json.loads(stdout)
        except (ValueError, UnicodeDecodeError) as e:
            raise CniError(DECODING_FAILURE, "failed to decode result", str(e)) from None
        if not isinstance(obj, dict):
            raise CniError(DECODING_FAILURE, "failed to decode result", "not a JSON object")
        version = obj.get("cniVersion") or conf_version
        return convert_result({**obj, "cniVersion": version}, version)

    # ---- checks -------------------------------------------------------------------------
    def _check_attachment(self, conf: ConfList, rt: RuntimeConf) -> None:
        validate_network_name(conf.name)
        validate_container_id(rt.container_id)
        validate_ifname(rt.ifname)
        if rt.netns and same_netns(rt.netns) and os.environ.get("CNI_NETNS_OVERRIDE", "").lower() not in ("1", "true"):
            raise CniError(INVALID_NETNS, "plugin's netns and netns from CNI_NETNS should not be the same", rt.netns,
                           hint="CNI_NETNS is the runtime's own network namespace; set CNI_NETNS_OVERRIDE=1 to allow it")

    def _paths(self, conf: ConfList, verb: str) -> list[str]:
        """Every plugin located before any runs: a bad type stops the whole list, nothing executed."""
        if not conf.plugins:
            raise CniError(INVALID_CONFIG, "error parsing configuration list: no plugins in list")
        out = []
        for p in conf.plugins:
            try:
                out.append(self.find(p.type))
            except CniError as e:
                raise wrap(e, p, verb) from None
        return out

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with fsutil.locked(self.cache.dir / "cnictl.lock", timeout=None, dir_mode=0o700, flags=os.O_RDWR):
            yield

    def _with_cached_args(self, conf: ConfList, rt: RuntimeConf) -> RuntimeConf:
        """Item 64: CNI_ARGS and capability args not given are the ADD's, from the cache."""
        if rt.args is not None and rt.capability_args is not None:
            return rt
        try:
            entry = self.cache.get_entry(conf.name, rt.container_id, rt.ifname)
        except CacheFormatError:
            entry = None
        return RuntimeConf(rt.container_id, rt.netns, rt.ifname,
                           rt.args if rt.args is not None else list(entry.cni_args or []) if entry else [],
                           rt.capability_args if rt.capability_args is not None
                           else dict(entry.capability_args or {}) if entry else {})

    def cached_result(self, conf: ConfList, rt: RuntimeConf) -> dict[str, Any] | None:
        """The cached ADD result in the config's version; None without a cache; CacheFormatError/CniError
        when it cannot be read or converted."""
        raw = self.cache.get_result(conf.name, rt.container_id, rt.ifname)
        if raw is None:
            return None
        return convert_result(raw, conf.cni_version)

    # ---- verbs --------------------------------------------------------------------------
    def add(self, conf: ConfList, rt: RuntimeConf) -> dict[str, Any]:
        """Items 56-59: run the list in order, chaining prevResult; cache and return the final result."""
        self._check_attachment(conf, rt)
        rt = RuntimeConf(rt.container_id, rt.netns, rt.ifname, list(rt.args or []), dict(rt.capability_args or {}))
        paths = self._paths(conf, "add")
        with self._lock():
            result: dict[str, Any] | None = None
            for plugin, path in zip(conf.plugins, paths, strict=True):
                try:
                    out = self.exec(path, self.request(conf, plugin, result, rt), self.env("ADD", rt))
                    result = self.parse_result(out, conf.cni_version)
                except CniError as e:
                    raise wrap(e, plugin, "add") from None
            assert result is not None
            self.cache.write(Entry(container_id=rt.container_id, config=conf.raw, ifname=rt.ifname, network=conf.name,
                                   netns=rt.netns, cni_args=rt.args, capability_args=rt.capability_args, result=result))
        return result

    def delete(self, conf: ConfList, rt: RuntimeConf) -> None:
        """Items 60-64: run the list in reverse with the cached result as prevResult (>= 0.4.0); stop at the
        first error keeping the cache; remove the cache on success."""
        self._check_attachment(conf, rt)
        paths = self._paths(conf, "delete")
        with self._lock():
            self._delete(conf, self._with_cached_args(conf, rt), paths)

    def _delete(self, conf: ConfList, rt: RuntimeConf, paths: list[str]) -> None:
        cached: dict[str, Any] | None = None
        if _ge(conf.cni_version, "0.4.0"):
            try:
                cached = self.cached_result(conf, rt)
            except (CacheFormatError, CniError):
                self.cache.delete(conf.name, rt.container_id, rt.ifname)  # item 62: corrupt cache, DEL goes on
                cached = None
        for plugin, path in reversed(list(zip(conf.plugins, paths, strict=True))):
            try:
                self.exec(path, self.request(conf, plugin, cached, rt), self.env("DEL", rt))
            except CniError as e:
                raise wrap(e, plugin, "delete") from None
        self.cache.delete(conf.name, rt.container_id, rt.ifname)

    def check(self, conf: ConfList, rt: RuntimeConf) -> bool:
        """Items 65-67: False when disableCheck skipped it; errors raised; True when every plugin passed."""
        self._check_attachment(conf, rt)
        if not _ge(conf.cni_version, "0.4.0"):
            raise CniError(INCOMPATIBLE_VERSION, f'configuration version "{conf.cni_version}" does not support the CHECK command')
        if conf.disable_check:
            return False
        paths = self._paths(conf, "check")
        with self._lock():
            rt = self._with_cached_args(conf, rt)
            try:
                cached = self.cached_result(conf, rt)
            except (CacheFormatError, CniError) as e:
                raise CniError(DECODING_FAILURE, f'failed to get network "{conf.name}" cached result: {e}') from None
            for plugin, path in zip(conf.plugins, paths, strict=True):
                try:
                    self.exec(path, self.request(conf, plugin, cached, rt), self.env("CHECK", rt))
                except CniError as e:
                    raise wrap(e, plugin, "check") from None
        return True

    def gc(self, conf: ConfList, valid: Sequence[tuple[str, str]] | None) -> list[tuple[str, str]]:
        """Items 68-70: DEL every cached attachment of this network not in *valid* (None: no list, so all
        of them), then GC every plugin (>= 1.1.0). Errors are collected; returns the attachments deleted."""
        validate_network_name(conf.name)
        if conf.disable_gc:
            return []
        paths = self._paths(conf, "gc")
        deleted: list[tuple[str, str]] = []
        errs: list[CnictlError] = []
        keep = {(c, i) for c, i in valid or []}
        with self._lock():
            for entry in self.cache.attachments():
                if entry.network != conf.name or (entry.container_id, entry.ifname) in keep:
                    continue
                rt = RuntimeConf(entry.container_id, entry.netns, entry.ifname, list(entry.cni_args or []),
                                 dict(entry.capability_args or {}))
                try:
                    validate_container_id(rt.container_id)
                    validate_ifname(rt.ifname)
                    self._delete(conf, rt, paths)
                    deleted.append((rt.container_id, rt.ifname))
                except CnictlError as e:
                    errs.append(_prefixed(e, f"failed to delete stale attachment {rt.container_id} {rt.ifname}: "))
            if _ge(conf.cni_version, "1.1.0"):
                extra: dict[str, Any] = {}
                if valid is not None:
                    attachments = [{"containerID": c, "ifname": i} for c, i in valid]
                    extra = {"cni.dev/valid-attachments": attachments, "cni.dev/attachments": attachments}
                for plugin, path in zip(conf.plugins, paths, strict=True):
                    try:
                        self.exec(path, self.request(conf, plugin, None, None, extra), self.env("GC"))
                    except CniError as e:
                        errs.append(_prefixed(e, f"failed to GC plugin {plugin.type}: "))
        if errs:
            first = errs[0]
            err = CniError(first.cni_code, getattr(first, "msg", first.message), getattr(first, "details", ""))
            err.message = "\n".join(e.message for e in errs)
            raise err
        return deleted

    def status(self, conf: ConfList) -> bool:
        """Item 71: False when the version has no STATUS (< 1.1.0); the first plugin's error raised."""
        validate_network_name(conf.name)
        if not _ge(conf.cni_version, "1.1.0"):
            return False
        paths = self._paths(conf, "status")
        for plugin, path in zip(conf.plugins, paths, strict=True):
            try:
                self.exec(path, self.request(conf, plugin), self.env("STATUS"))
            except CniError as e:
                raise wrap(e, plugin, "status") from None
        return True

    def version_info(self, kind: str) -> list[str]:
        """Item 72 (libcni GetVersionInfo): the versions the plugin supports."""
        path = self.find(kind)
        env = self.env("VERSION", RuntimeConf("", "dummy", "dummy"))
        env["CNI_PATH"] = "dummy"
        try:
            out = self.exec(path, json.dumps({"cniVersion": CURRENT}, separators=(",", ":")).encode(), env)
        except CniError as e:
            if e.message == "unknown CNI_COMMAND: VERSION":
                return ["0.1.0"]
            raise
        return decode_version_info(out)

    def probe(self, conf: ConfList) -> list[ProbeRow]:
        """Item 73 as a table: each plugin, where it is, what it supports, and whether that covers the list's version."""
        want = conf.cni_version or "0.1.0"
        rows = []
        for p in conf.plugins:
            row = ProbeRow(plugin=p.type, path=None)
            try:
                row.path = self.find(p.type)
                row.supported = self.version_info(p.type)
            except CniError as e:
                row.verdict = e.message
                rows.append(row)
                continue
            row.ok = want in row.supported
            row.verdict = "ok" if row.ok else f'plugin {p.type} does not support config version "{want}"'
            rows.append(row)
        return rows

    def validate(self, conf: ConfList) -> list[str]:
        """libcni ValidateNetworkList: every plugin exists and supports the version; the enabled capabilities."""
        bad = [r for r in self.probe(conf) if not r.ok]
        if bad:
            raise CniError(INCOMPATIBLE_VERSION, "[" + " ".join(r.verdict for r in bad) + "]")
        caps: list[str] = []
        for p in conf.plugins:
            caps += [c for c, on in p.capabilities.items() if on is True and c not in caps]
        return caps


def decode_version_info(stdout: bytes) -> list[str]:
    """libcni PluginDecoder: cniVersion required; no supportedVersions means 0.1.0+0.2.0 only for a 0.2.0 reply."""
    try:
        obj = json.loads(stdout)
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError) as e:
        raise CniError(DECODING_FAILURE, f"decoding version info: {e}") from None
    if not obj.get("cniVersion"):
        raise CniError(DECODING_FAILURE, "decoding version info: missing field cniVersion")
    supported = obj.get("supportedVersions")
    if not supported:
        if obj["cniVersion"] == "0.2.0":
            return ["0.1.0", "0.2.0"]
        raise CniError(DECODING_FAILURE, "decoding version info: missing field supportedVersions")
    if not isinstance(supported, list) or not all(isinstance(v, str) for v in supported):
        raise CniError(DECODING_FAILURE, "decoding version info: supportedVersions is not a list of strings")
    return list(supported)


def _prefixed(e: CnictlError, prefix: str) -> CnictlError:
    e.message = prefix + e.message
    return e


def netns_path(spec: str) -> str:
    """cnitool's NETNS argument made absolute: a bare name is one under /run/netns."""
    if "/" not in spec:
        return f"/run/netns/{spec}"
    return str(Path(spec).absolute())


def default_container_id(netns: str) -> str:
    """cnitool's container id: "cnitool-" + the first 20 hex digits of sha512(absolute netns path)."""
    import hashlib

    return "cnitool-" + hashlib.sha512(netns.encode()).hexdigest()[:20]
