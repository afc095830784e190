"""doctor calls a reservation a leftover only when its owner is provably gone: no attachment record, no CNI
cache entry naming it, no live namespace holding its address. A container that a runtime attached through an
emitted conflist (here `cnictl cni add`, as cnitool does; podman in test_podman.py) is in use, not a leftover."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import Lab

CNI = "/usr/lib/cni"


def doctor(lab: Lab) -> tuple[int, dict[str, dict[str, Any]]]:
    r = lab.cli("--json", "doctor", check=False)
    return r.returncode, {c["check"]: c for c in json.loads(r.stdout)["checks"]}


def test_a_cni_add_through_an_emitted_conflist_is_no_leftover(lab: Lab, tmp_path: Path) -> None:
    confdir = tmp_path / "net.d"
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24", "--cni-conf-dir", str(confdir))
    ctr = lab.netns("c")
    res = lab.json("cni", "add", "lab", ctr, "--conf-dir", str(confdir), "--cni-path", CNI)
    ip = res["ips"][0]["address"].split("/")[0]
    rc, checks = doctor(lab)
    assert not [c for c in checks if c.startswith("leftover.ipam")], checks
    assert checks["ipam.cni"]["status"] == "ok" and ip in checks["ipam.cni"]["detail"]
    assert not any(ip in (c.get("hint") or "") for c in checks.values())  # no hint frees it
    assert rc == 0, [c for c in checks.values() if c["status"] == "fail"]
    # the namespace goes, the runtime's cache entry still names the attachment: a DEL is due, not a release
    lab.ip(ctr, "link set eth0 down")
    lab.cli("cni", "del", "lab", ctr, "--conf-dir", str(confdir), "--cni-path", CNI)
    rc, checks = doctor(lab)
    assert "ipam.cni" not in checks and not [c for c in checks if c.startswith("leftover.ipam")]


def test_a_reservation_held_by_a_live_namespace_is_no_leftover_until_it_goes(lab: Lab) -> None:
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    ctr = lab.netns("c")
    lab.cli("attach", "lab", ctr, "--ip", "10.20.0.54")
    for p in (lab.state / "attachments" / "lab").iterdir():
        p.unlink()  # the record is lost; the container still has its address
    rc, checks = doctor(lab)
    assert "leftover.ipam.lab.10.20.0.54" not in checks, checks.get("leftover.ipam.lab.10.20.0.54")
    assert "10.20.0.54" in checks["ipam.cni"]["detail"] and ctr in checks["ipam.cni"]["detail"]
    lab.ip(ctr, "addr flush dev eth0")  # now nothing holds it
    rc, checks = doctor(lab)
    c = checks["leftover.ipam.lab.10.20.0.54"]
    assert c["status"] == "fail" and c["hint"].endswith("ipam release lab 10.20.0.54") and rc != 0
