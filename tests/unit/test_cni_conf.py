"""Conflist loading as libcni does it (CNI.md items 46-50), and the pure parts of the runtime (items 54-55, 72,
74, 76): request building, error decoding, VERSION decoding, the "text file busy" retry."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cnictl.cni import conf
from cnictl.cni.exec import plugin_error
from cnictl.cni.runtime import Runtime, RuntimeConf, decode_version_info
from cnictl.errors import CniError, NotFoundError


def _msg(data: object) -> str:
    with pytest.raises(CniError) as e:
        conf.from_bytes(json.dumps(data).encode())
    return e.value.message


# ---- item 47: list validation, libcni's words ----------------------------------------------------
@pytest.mark.parametrize(("data", "expected"), [
    ({"plugins": [{"type": "a"}]}, "error parsing configuration list: no name"),
    ({"name": 5, "plugins": [{"type": "a"}]}, "error parsing configuration list: invalid name type float64"),
    ({"name": "n", "cniVersion": 1, "plugins": [{"type": "a"}]},
     "error parsing configuration list: invalid cniVersion type float64"),
    ({"name": "n", "plugins": {"type": "a"}},
     "error parsing configuration list: invalid 'plugins' type map[string]interface {}"),
    ({"name": "n", "plugins": []}, "error parsing configuration list: no plugins in list"),
    ({"name": "n", "plugins": [{"type": "a"}, {"bridge": "x"}]},
     "failed to parse plugin config 1: error parsing configuration: missing 'type'"),
])
def test_list_errors(data: object, expected: str) -> None:
    assert _msg(data) == expected


def test_not_json_is_a_decoding_error() -> None:
    with pytest.raises(CniError) as e:
        conf.from_bytes(b"{nope")
    assert e.value.cni_code == 6 and e.value.message.startswith("error parsing configuration list: ")


# ---- item 48: readBool -------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [(True, True), (False, False), ("TRUE", True), ("False", False)])
def test_read_bool_accepts_booleans_and_strings(value: object, expected: bool) -> None:
    c = conf.from_bytes(json.dumps({"name": "n", "disableCheck": value, "disableGC": value,
                                    "plugins": [{"type": "a"}]}).encode())
    assert c.disable_check is expected and c.disable_gc is expected


@pytest.mark.parametrize(("value", "expected"), [
    ("yes", 'error parsing configuration list: invalid value "yes" for disableCheck'),
    (1, "error parsing configuration list: invalid type float64 for disableCheck"),
])
def test_read_bool_rejects_anything_else(value: object, expected: str) -> None:
    assert _msg({"name": "n", "disableCheck": value, "plugins": [{"type": "a"}]}) == expected


# ---- item 50: version selection ------------------------------------------------------------------
@pytest.mark.parametrize(("version", "versions", "expected"), [
    ("0.4.0", ["1.0.0", "0.3.1"], "1.0.0"),
    ("1.0.0", ["1.1.0", "2.0.0"], "1.1.0"),  # above 1.1.0 is ignored
    ("", ["0.3.1"], "0.3.1"),
    ("9.9.9", None, "9.9.9"),  # without cniVersions: as is
    ("1.0.0", [], "1.0.0"),
])
def test_cni_versions_selection(version: str, versions: list[str] | None, expected: str) -> None:
    data: dict[str, object] = {"name": "n", "cniVersion": version, "plugins": [{"type": "a"}]}
    if versions is not None:
        data["cniVersions"] = versions
    assert conf.from_bytes(json.dumps(data).encode()).cni_version == expected


def test_unparsable_cni_versions_entry_is_an_error() -> None:
    msg = _msg({"name": "n", "cniVersions": ["1.0.0", "x.1"], "plugins": [{"type": "a"}]})
    assert msg.startswith("error parsing configuration list: invalid cniVersions entry x.1 at index 1: ")
    assert _msg({"name": "n", "cniVersions": [1], "plugins": [{"type": "a"}]}) == \
        "error parsing configuration list: invalid type for cniVersions index 0: float64"


# ---- items 46, 49: files ---------------------------------------------------------------------------
def _write(d: Path, name: str, data: object) -> Path:
    p = d / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


def test_sibling_conf_files_are_appended_in_order(tmp_path: Path) -> None:
    _write(tmp_path, "10-n.conflist", {"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "a"}]})
    _write(tmp_path, "n/20-c.conf", {"type": "c"})
    _write(tmp_path, "n/10-b.conf", {"type": "b"})
    _write(tmp_path, "n/30-x.json", {"type": "ignored"})
    c = conf.load(tmp_path, "n")
    assert [p.type for p in c.plugins] == ["a", "b", "c"]
    assert c.raw == (tmp_path / "10-n.conflist").read_bytes()  # the cache keeps the list's own bytes


def test_load_only_inlined_plugins(tmp_path: Path) -> None:
    _write(tmp_path, "10-n.conflist", {"name": "n", "loadOnlyInlinedPlugins": "true", "plugins": [{"type": "a"}]})
    _write(tmp_path, "n/10-b.conf", {"type": "b"})
    assert [p.type for p in conf.load(tmp_path, "n").plugins] == ["a"]
    _write(tmp_path, "10-n.conflist", {"name": "n", "loadOnlyInlinedPlugins": True})
    with pytest.raises(CniError, match="no plugins in list"):
        conf.load(tmp_path, "n")


def test_plugins_only_from_the_sibling_folder(tmp_path: Path) -> None:
    _write(tmp_path, "10-n.conflist", {"cniVersion": "1.0.0", "name": "n"})
    with pytest.raises(NotFoundError, match=f"no net configuration files found in {tmp_path / 'n'}"):
        conf.load(tmp_path, "n")
    _write(tmp_path, "n/10-b.conf", {"type": "b"})
    assert [p.type for p in conf.load(tmp_path, "n").plugins] == ["b"]


def test_lexical_order_first_match_wins(tmp_path: Path) -> None:
    _write(tmp_path, "20-b.conflist", {"name": "n", "plugins": [{"type": "second"}]})
    _write(tmp_path, "10-a.conflist", {"name": "n", "plugins": [{"type": "first"}]})
    _write(tmp_path, "05-other.conflist", {"name": "other", "plugins": [{"type": "x"}]})
    assert [p.type for p in conf.load(tmp_path, "n").plugins] == ["first"]


def test_a_broken_earlier_conflist_aborts_the_lookup(tmp_path: Path) -> None:
    _write(tmp_path, "05-broken.conflist", "{not json")
    _write(tmp_path, "10-a.conflist", {"name": "n", "plugins": [{"type": "a"}]})
    with pytest.raises(CniError, match="error parsing configuration list"):
        conf.load(tmp_path, "n")


def test_legacy_conf_fallback_is_up_converted(tmp_path: Path) -> None:
    _write(tmp_path, "10-other.conflist", {"name": "other", "plugins": [{"type": "x"}]})
    _write(tmp_path, "50-n.conf", {"cniVersion": "0.4.0", "name": "n", "type": "bridge", "bridge": "b0"})
    c = conf.load(tmp_path, "n")
    assert (c.name, c.cni_version, [p.type for p in c.plugins]) == ("n", "0.4.0", ["bridge"])
    assert json.loads(c.raw) == {"cniVersion": "0.4.0", "name": "n", "plugins": [
        {"bridge": "b0", "cniVersion": "0.4.0", "name": "n", "type": "bridge"}]}


def test_not_found_messages(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=f"no net configuration files found in {tmp_path}"):
        conf.load(tmp_path, "n")
    _write(tmp_path, "10-a.conflist", {"name": "a", "plugins": [{"type": "a"}]})
    with pytest.raises(NotFoundError, match=f'no net configuration with name "n" in {tmp_path}'):
        conf.load(tmp_path, "n")


def test_a_name_that_would_leave_the_directory_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "10-a.conflist", {"name": "../etc", "plugins": [{"type": "a"}]})
    with pytest.raises(CniError, match="invalid characters found in network name"):
        conf.load(tmp_path, "x")


# ---- runtime, pure parts ------------------------------------------------------------------------------
def test_request_overwrites_name_and_version_and_injects_enabled_capabilities_only() -> None:
    c = conf.from_bytes(b'{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"t","name":"old","cniVersion":"0.1.0",'
                        b'"big":12345678901234567890,"capabilities":{"portMappings":true,"mac":false,"ips":true}}]}')
    rt = RuntimeConf("c", "/x", "eth0", [], {"portMappings": [1], "mac": "m", "bandwidth": {}})
    out = Runtime.request(c, c.plugins[0], {"cniVersion": "1.0.0"}, rt)
    assert out == (b'{"type":"t","name":"n","cniVersion":"1.0.0","big":12345678901234567890,"capabilities":'
                   b'{"portMappings":true,"mac":false,"ips":true},"prevResult":{"cniVersion":"1.0.0"},'
                   b'"runtimeConfig":{"portMappings":[1]}}')
    no_caps = Runtime.request(c, c.plugins[0], None, RuntimeConf("c", "/x", "eth0", [], {"mac": "m"}))
    assert b"runtimeConfig" not in no_caps and b"prevResult" not in no_caps


@pytest.mark.parametrize(("stdout", "stderr", "code", "message"), [
    (b'{"code":7,"msg":"bad","details":"d"}', b"", 7, "bad: d"),
    (b"", b"oops\n", 0, 'netplugin failed: "oops\\n"'),
    (b"", b"", 0, "netplugin failed with no error message"),
])
def test_plugin_error_decoding(stdout: bytes, stderr: bytes, code: int, message: str) -> None:
    e = plugin_error(stdout, stderr)
    assert (e.cni_code, e.message) == (code, message)


def test_plugin_error_that_is_not_json() -> None:
    e = plugin_error(b"garbage", b"")
    assert e.cni_code == 0 and e.message.startswith('netplugin failed but error parsing its diagnostic message "garbage": ')


def test_version_info_decoding() -> None:
    assert decode_version_info(b'{"cniVersion":"0.2.0"}') == ["0.1.0", "0.2.0"]
    assert decode_version_info(b'{"cniVersion":"1.1.0","supportedVersions":["1.0.0"]}') == ["1.0.0"]
    with pytest.raises(CniError, match="missing field cniVersion"):
        decode_version_info(b'{"cniVersion":""}')
    with pytest.raises(CniError, match="missing field supportedVersions"):
        decode_version_info(b'{"cniVersion":"1.0.0"}')


def test_old_plugins_without_version_support_0_1_0(tmp_path: Path) -> None:
    p = tmp_path / "old"
    p.write_text('#!/bin/sh\necho \'{"code":4,"msg":"unknown CNI_COMMAND: VERSION"}\'\nexit 1\n')
    p.chmod(0o755)
    assert Runtime([str(tmp_path)], tmp_path / "cache").version_info("old") == ["0.1.0"]


def test_text_file_busy_is_retried(tmp_path: Path) -> None:
    script = tmp_path / "busy"
    script.write_text("#!/bin/sh\necho '{}'\n")
    script.chmod(0o755)
    fd = os.open(script, os.O_WRONLY)  # open for writing: exec fails with ETXTBSY
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        if len(sleeps) == 2:
            os.close(fd)

    rt = Runtime([str(tmp_path)], tmp_path / "cache", sleep=sleep)
    assert rt.exec(str(script), b"{}", {}) == b"{}\n"
    assert sleeps == [1.0, 1.0]


def test_text_file_busy_gives_up_after_five_retries(tmp_path: Path) -> None:
    script = tmp_path / "busy"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    fd = os.open(script, os.O_WRONLY)
    sleeps: list[float] = []
    try:
        with pytest.raises(CniError, match="text file busy") as e:
            Runtime([str(tmp_path)], tmp_path / "cache", sleep=sleeps.append).exec(str(script), b"", {})
    finally:
        os.close(fd)
    assert len(sleeps) == 5 and e.value.cni_code == 11


def test_find_refuses_paths_and_reports_the_search_path(tmp_path: Path) -> None:
    rt = Runtime([str(tmp_path), "/nonexistent"], tmp_path / "cache")
    with pytest.raises(CniError, match="invalid plugin name"):
        rt.find("../bin/sh")
    with pytest.raises(CniError, match=rf'failed to find plugin "x" in path \[{tmp_path} /nonexistent\]'):
        rt.find("x")
