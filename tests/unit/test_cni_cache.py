"""libcni's result cache format (CNI.md 1.5, items 78-79): exact bytes, modes, legacy files, kind mismatch."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from cnictl.cni.cache import Cache, CacheFormatError, Entry, decode, default_cache_dir, encode
from cnictl.errors import CniError

RESULT = {"cniVersion": "1.1.0", "interfaces": [{"name": "eth0", "mac": "00:11:22:33:44:66", "sandbox": "/var/run/netns/blue"}],
          "ips": [{"interface": 0, "address": "10.1.0.5/16", "gateway": "10.1.0.1"}], "routes": [{"dst": "0.0.0.0/0"}]}
CONFIG = b'{"cniVersion":"1.1.0","name":"dbnet","plugins":[]}'


def _entry(**kw: object) -> Entry:
    base: dict[str, object] = dict(container_id="f3a1c0de", config=CONFIG, ifname="eth0", network="dbnet",
                                   netns="/var/run/netns/blue",
                                   cni_args=[("IgnoreUnknown", "1"), ("K8S_POD_NAME", "web-0")],
                                   capability_args={"portMappings": [{"hostPort": 8080, "containerPort": 80,
                                                                      "protocol": "tcp"}]},
                                   result=RESULT)
    base.update(kw)
    return Entry(**base)  # type: ignore[arg-type]


def test_exact_bytes_of_the_spec_example() -> None:
    """The example of CNI.md 1.5, as Go's json.Marshal writes it (maps with sorted keys)."""
    expected = (
        '{"kind":"cniCacheV1","containerId":"f3a1c0de",'
        '"config":"eyJjbmlWZXJzaW9uIjoiMS4xLjAiLCJuYW1lIjoiZGJuZXQiLCJwbHVnaW5zIjpbXX0=",'
        '"ifName":"eth0","networkName":"dbnet","netns":"/var/run/netns/blue",'
        '"cniArgs":[["IgnoreUnknown","1"],["K8S_POD_NAME","web-0"]],'
        '"capabilityArgs":{"portMappings":[{"containerPort":80,"hostPort":8080,"protocol":"tcp"}]},'
        '"result":{"cniVersion":"1.1.0","interfaces":[{"mac":"00:11:22:33:44:66","name":"eth0",'
        '"sandbox":"/var/run/netns/blue"}],"ips":[{"address":"10.1.0.5/16","gateway":"10.1.0.1","interface":0}],'
        '"routes":[{"dst":"0.0.0.0/0"}]}}'
    )
    assert encode(_entry()).decode() == expected


def test_empty_fields_are_left_out_and_html_is_escaped() -> None:
    text = encode(_entry(netns="", cni_args=None, capability_args={}, result={"cniVersion": "1.0.0", "x": "<&>"})).decode()
    assert list(json.loads(text)) == ["kind", "containerId", "config", "ifName", "networkName", "result"]
    assert "\\u003c\\u0026\\u003e" in text


def test_round_trip() -> None:
    e = _entry()
    assert decode(encode(e)) == e


def test_write_path_and_modes(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    path = cache.write(_entry())
    assert path == tmp_path / "c" / "results" / "dbnet-f3a1c0de-eth0"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert base64.b64decode(json.loads(path.read_text())["config"]) == CONFIG
    assert cache.get_result("dbnet", "f3a1c0de", "eth0") == RESULT
    entry = cache.get_entry("dbnet", "f3a1c0de", "eth0")
    assert entry is not None and entry.cni_args == [("IgnoreUnknown", "1"), ("K8S_POD_NAME", "web-0")]
    assert [p.name for p in tmp_path.joinpath("c", "results").iterdir()] == [path.name]  # no temp file left
    cache.delete("dbnet", "f3a1c0de", "eth0")
    cache.delete("dbnet", "f3a1c0de", "eth0")  # twice is fine
    assert cache.get_result("dbnet", "f3a1c0de", "eth0") is None


def test_legacy_bare_result_files(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "dbnet-f3a1c0de-eth0").write_text(json.dumps(RESULT))
    assert cache.get_result("dbnet", "f3a1c0de", "eth0") == RESULT
    with pytest.raises(CacheFormatError):  # no config in a legacy file
        cache.get_entry("dbnet", "f3a1c0de", "eth0")
    assert cache.attachments() == []


def test_kind_mismatch(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    (tmp_path / "results").mkdir()
    other = {"kind": "cniCacheV2", "containerId": "f3a1c0de", "ifName": "eth0", "networkName": "dbnet",
             "cniVersion": "1.0.0"}
    (tmp_path / "results" / "dbnet-f3a1c0de-eth0").write_text(json.dumps(other))
    with pytest.raises(CacheFormatError, match="kind"):
        cache.get_entry("dbnet", "f3a1c0de", "eth0")
    assert cache.get_result("dbnet", "f3a1c0de", "eth0") == other  # read as a legacy Result, as libcni does
    assert cache.attachments() == []


def test_corrupt_files(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "dbnet-f3a1c0de-eth0").write_bytes(b"")
    with pytest.raises(CacheFormatError):
        cache.get_result("dbnet", "f3a1c0de", "eth0")


def test_attachments_filter_like_libcni(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.write(_entry())
    cache.write(_entry(container_id="abc", ifname="net1"))
    cache.write(_entry(container_id="abc", network="other"))
    assert [(e.network, e.container_id, e.ifname) for e in cache.attachments()] == [
        ("dbnet", "abc", "net1"), ("dbnet", "f3a1c0de", "eth0"), ("other", "abc", "eth0")]
    assert [(e.network, e.ifname) for e in cache.attachments("abc")] == [("dbnet", "net1"), ("other", "eth0")]


@pytest.mark.parametrize(("net", "cid", "ifname"), [("../x", "c", "eth0"), ("n", "../c", "eth0"), ("n", "c", "a/b"),
                                                    ("n", "c", "..")])
def test_names_are_validated_before_a_path_is_built(tmp_path: Path, net: str, cid: str, ifname: str) -> None:
    with pytest.raises(CniError):
        Cache(tmp_path).path(net, cid, ifname)


def test_default_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CNI_CACHE_DIR", raising=False)
    assert default_cache_dir() == "/var/lib/cni"
    monkeypatch.setenv("CNI_CACHE_DIR", "/tmp/cc")
    assert Cache().dir == Path("/tmp/cc")
