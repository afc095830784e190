"""Network configuration lists as libcni loads them (CNI.md 1.4 items 46-50).

`load(confdir, name)` finds a network the way cnitool does: every `*.conflist` in *confdir*, in lexical
order, is parsed (a broken one aborts the lookup, as in libcni) and the first whose `name` matches wins;
only then are the deprecated single-plugin `*.conf`/`*.json` files tried, up-converted to a one-plugin
list. Unless `loadOnlyInlinedPlugins` is true, plugin objects from `<confdir>/<name>/*.conf` are appended
after the inline ones. The effective `cniVersion` is the highest of `cniVersion` and `cniVersions` that
this runtime implements (1.1.0).

Error messages are libcni's own (`error parsing configuration list: no name`, ...), so a conflist that
another runtime rejects is rejected here with the same words. Pure: reads files, never executes.

    >>> c = from_bytes(b'{"cniVersion":"0.4.0","cniVersions":["1.0.0","9.0.0"],"name":"n","plugins":[{"type":"bridge"}]}')
    >>> c.cni_version, [p.type for p in c.plugins]
    ('1.0.0', ['bridge'])
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnictl.cni.types import CURRENT, DECODING_FAILURE, INVALID_CONFIG, IO_FAILURE, validate_network_name
from cnictl.errors import CniError, NotFoundError


def go_type(value: Any) -> str:
    """The name Go's `%T` prints for a value decoded from JSON into interface{} (for libcni's messages)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return "<nil>"


def parse_version(v: str) -> tuple[int, int, int]:
    """libcni's version.ParseVersion: "" is 0.1.0, one to three dot-separated integers, else an error."""
    if v == "":
        return (0, 1, 0)
    parts = v.split(".")
    if len(parts) >= 4:
        raise ValueError(f'invalid version "{v}": too many parts')
    nums = []
    for what, part in zip(("major", "minor", "micro"), parts, strict=False):
        try:
            nums.append(int(part, 10))
        except ValueError:
            raise ValueError(f'failed to convert {what} version part "{part}"') from None
    while len(nums) < 3:
        nums.append(0)
    return nums[0], nums[1], nums[2]


@dataclass
class PluginConf:
    """One plugin object: its `type` and the object itself, key order kept (sent to the plugin as is)."""

    type: str
    conf: dict[str, Any]
    source: str | None = None

    @property
    def capabilities(self) -> dict[str, Any]:
        caps = self.conf.get("capabilities")
        return caps if isinstance(caps, dict) else {}

    def description(self) -> str:
        """libcni's pluginDescription: type="bridge" (and name="..." when the object has one)."""
        out = f"type={json.dumps(self.type)}"
        name = self.conf.get("name")
        if isinstance(name, str) and name:
            out += f" name={json.dumps(name)}"
        return out


@dataclass
class ConfList:
    """A network configuration list: the effective version and flags, the plugins (inline, then sibling
    `.conf` files), and the raw bytes as loaded (what the result cache stores as `config`)."""

    name: str
    cni_version: str
    plugins: list[PluginConf]
    raw: bytes
    disable_check: bool = False
    disable_gc: bool = False
    load_only_inlined_plugins: bool = False
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _err(msg: str, code: int = INVALID_CONFIG) -> CniError:
    return CniError(code, msg)


def _decode(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise CniError(DECODING_FAILURE, f"{what}: {e}") from None


def plugin_from_bytes(data: bytes, source: str | None = None) -> PluginConf:
    """libcni NetworkPluginConfFromBytes: a JSON object with a non-empty string `type`."""
    obj = _decode(data, "error parsing configuration")
    return _plugin(obj, "error parsing configuration", source)


def _plugin(obj: Any, prefix: str, source: str | None) -> PluginConf:
    if not isinstance(obj, dict):
        raise _err(f"{prefix}: cannot unmarshal {go_type(obj)} into a plugin configuration object")
    kind = obj.get("type")
    if kind is not None and not isinstance(kind, str):
        raise _err(f"{prefix}: json: cannot unmarshal {go_type(kind)} into Go struct field NetConf.type of type string")
    if not kind:
        raise _err(f"{prefix}: missing 'type'")
    return PluginConf(type=kind, conf=obj, source=source)


def _read_bool(raw: dict[str, Any], key: str) -> bool:
    """JSON booleans, or the strings "true"/"false" in any case; anything else is an error (item 48)."""
    if key not in raw:
        return False
    val = raw[key]
    if isinstance(val, bool):
        return val
    if not isinstance(val, str):
        raise _err(f"error parsing configuration list: invalid type {go_type(val)} for {key}")
    low = val.lower()
    if low in ("true", "false"):
        return low == "true"
    raise _err(f"error parsing configuration list: invalid value {json.dumps(low)} for {key}")


def _gt(a: str, b: str) -> bool:
    return parse_version(a) > parse_version(b)


def select_version(cni_version: str, cni_versions: Any) -> str:
    """Item 50: the highest of cniVersion and cniVersions not above this runtime's 1.1.0; without
    cniVersions, cniVersion as is."""
    if cni_versions is None:
        return cni_version
    prefix = "error parsing configuration list"
    if not isinstance(cni_versions, list):
        raise _err(f"{prefix}: invalid type for cniVersions: {go_type(cni_versions)}")
    usable: list[str] = []
    for i, v in enumerate(cni_versions):
        if not isinstance(v, str):
            raise _err(f"{prefix}: invalid type for cniVersions index {i}: {go_type(v)}")
        try:
            too_new = _gt(v, CURRENT)
        except ValueError as e:
            raise _err(f"{prefix}: invalid cniVersions entry {v} at index {i}: {e}") from None
        if not too_new:
            usable.append(v)
    if cni_version:
        try:
            too_new = _gt(cni_version, CURRENT)
        except ValueError as e:
            raise _err(f"{prefix}: invalid cniVersion {cni_version}: {e}") from None
        if not too_new:
            usable.append(cni_version)
    if not usable:
        return cni_version
    return max(usable, key=parse_version)


def from_bytes(data: bytes, source: str | None = None) -> ConfList:
    """libcni NetworkConfFromBytes: the list itself, inline plugins only (items 47, 48, 50)."""
    prefix = "error parsing configuration list"
    raw = _decode(data, prefix)
    if not isinstance(raw, dict):
        raise _err(f"{prefix}: json: cannot unmarshal {go_type(raw)} into Go value of type map[string]interface {{}}")
    if "name" not in raw:
        raise _err(f"{prefix}: no name")
    name = raw["name"]
    if not isinstance(name, str):
        raise _err(f"{prefix}: invalid name type {go_type(name)}")
    cni_version = ""
    if "cniVersion" in raw:
        cni_version = raw["cniVersion"]
        if not isinstance(cni_version, str):
            raise _err(f"{prefix}: invalid cniVersion type {go_type(cni_version)}")
    cni_version = select_version(cni_version, raw.get("cniVersions") if "cniVersions" in raw else None)
    disable_check = _read_bool(raw, "disableCheck")
    disable_gc = _read_bool(raw, "disableGC")
    only_inlined = _read_bool(raw, "loadOnlyInlinedPlugins")
    plugins: list[PluginConf] = []
    if "plugins" in raw:
        items = raw["plugins"]
        if not isinstance(items, list):
            raise _err(f"{prefix}: invalid 'plugins' type {go_type(items)}")
        if not items:
            raise _err(f"{prefix}: no plugins in list")
        for i, obj in enumerate(items):
            try:
                plugins.append(_plugin(obj, "error parsing configuration", source))
            except CniError as e:
                raise _err(f"failed to parse plugin config {i}: {e.msg}") from None
    extra = {k: v for k, v in raw.items() if k not in ("name", "cniVersion", "plugins")}
    return ConfList(name=name, cni_version=cni_version, plugins=plugins, raw=data, disable_check=disable_check,
                    disable_gc=disable_gc, load_only_inlined_plugins=only_inlined, source=source, extra=extra)


def conf_files(directory: str | os.PathLike[str], extensions: tuple[str, ...]) -> list[Path]:
    """libcni ConfFiles: regular files (not directories) with one of *extensions*, sorted; none if the
    directory does not exist."""
    d = Path(directory)
    try:
        entries = sorted(os.listdir(d))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise CniError(IO_FAILURE, f"failed to read directory {d}: {e.strerror}") from None
    return [d / n for n in entries if not (d / n).is_dir() and os.path.splitext(n)[1] in extensions]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise CniError(IO_FAILURE, f"error reading {path}: {e.strerror}") from None


def sibling_plugins(confdir: str | os.PathLike[str], name: str) -> list[PluginConf]:
    """Item 49: plugin objects from `<confdir>/<name>/*.conf`, in directory order. The name is checked
    first: it builds a path."""
    folder = Path(confdir) / validate_network_name(name)
    return [plugin_from_bytes(_read(p), str(p)) for p in conf_files(folder, (".conf",))]


def from_file(path: str | os.PathLike[str]) -> ConfList:
    """libcni NetworkConfFromFile: the list, plus `<dir>/<name>/*.conf` unless loadOnlyInlinedPlugins."""
    p = Path(path)
    conf = from_bytes(_read(p), str(p))
    if not conf.load_only_inlined_plugins:
        conf.plugins += sibling_plugins(p.parent, conf.name)
    if not conf.plugins:
        if conf.load_only_inlined_plugins:
            raise _err("error parsing configuration list: no plugins in list")
        raise NotFoundError(f"no net configuration files found in {p.parent / conf.name}")
    return conf


def conflist_from_conf(plugin_bytes: bytes, source: str | None = None) -> ConfList:
    """libcni ConfListFromConf: a deprecated single-plugin .conf as a one-plugin list (keys sorted, as Go
    re-marshals them)."""
    obj = _decode(plugin_bytes, "error parsing configuration")
    plugin = _plugin(obj, "error parsing configuration", source)
    name = obj.get("name") if isinstance(obj.get("name"), str) else ""
    version = obj.get("cniVersion") if isinstance(obj.get("cniVersion"), str) else ""
    data = json.dumps({"cniVersion": version, "name": name, "plugins": [plugin.conf]}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False).encode()
    return from_bytes(data, source)


def load(confdir: str | os.PathLike[str], name: str) -> ConfList:
    """Item 46: the network *name* from *confdir*, as libcni LoadNetworkConf (cnitool) finds it."""
    d = Path(confdir)
    lists = conf_files(d, (".conflist",))
    for path in lists:
        conf = from_file(path)  # any broken list aborts the lookup, as in libcni
        if conf.name == name:
            return conf
    singles = conf_files(d, (".conf", ".json"))
    if not singles:
        if lists:
            raise NotFoundError(f'no net configuration with name "{name}" in {d}')
        raise NotFoundError(f"no net configuration files found in {d}")
    for path in singles:
        data = _read(path)
        obj = _decode(data, "error parsing configuration")
        _plugin(obj, "error parsing configuration", str(path))
        if obj.get("name") == name:
            return conflist_from_conf(data, str(path))
    raise NotFoundError(f'no net configuration with name "{name}" in {d}')


def list_all(confdir: str | os.PathLike[str]) -> list[ConfList]:
    """Every loadable list in *confdir* (broken ones skipped), for listings and completion."""
    out = []
    for path in conf_files(confdir, (".conflist",)):
        try:
            out.append(from_file(path))
        except (CniError, NotFoundError):
            continue
    return out
