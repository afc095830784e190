"""`cnictl gc` on real namespaces: it removes what cnictl's records and table prove are its own, and keeps the
rest (issue 11). The crash paths (journals of killed commands) are in tests/netns/test_crash.py."""

from __future__ import annotations

import json

from conftest import Lab


def test_gc_removes_rules_reservations_and_claims_without_a_record_and_keeps_the_rest(lab: Lab) -> None:
    web = lab.netns()
    lab.cli("net", "create", "keep", "--subnet", "10.63.0.0/24")
    before = lab.snapshot()
    lab.cli("net", "create", "lost", "--subnet", "10.64.0.0/24")
    lab.cli("attach", "lost", web, "-p", "8085:80")
    # the records of "lost" vanish (as if removed by hand): its chains, reservation and port claim are orphans
    (lab.state / "networks" / "lost.json").unlink()
    for f in (lab.state / "attachments" / "lost").iterdir():
        f.unlink()
    # a veth that only looks like cnictl's: no record or journal says cnictl made it
    lab.ip(lab.host, "link add cni0123456789ab type veth peer name foreign0")
    dry = json.loads(lab.cli("--json", "gc", "--dry-run").stdout)
    assert dry["dry_run"] and dry["removed"] and dry["commands"]
    assert (lab.state / "ipam" / "lost").exists()  # a dry run changes nothing
    out = json.loads(lab.cli("--json", "gc").stdout)
    removed = " ".join(out["removed"])
    assert "leftover.nft.lost" in removed and "10.64.0.2" in removed and "tcp/8085/any" in removed
    assert [k["check"] for k in out["kept"] if "cni0123456789ab" in k["check"]], out["kept"]
    nft = lab.exec(lab.host, "nft list ruleset").stdout
    assert "lost-fwd" not in nft and "keep-fwd" in nft
    assert not (lab.state / "ipam" / "lost").exists()
    assert not list((lab.state / "ports").rglob("8085"))
    links = lab.ip(lab.host, "-br link")
    assert "cni0123456789ab" in links and "br-lost" in links  # kept: a bridge proves nothing by its name
    lab.ip(lab.host, "link del cni0123456789ab")
    lab.ip(lab.host, "link del br-lost")
    lab.ip(web, "link del eth0", check=False)  # the container's end, a leftover of the test's own making
    assert lab.snapshot() == before
    again = json.loads(lab.cli("--json", "gc").stdout)
    assert again["removed"] == [] and again["recovered"] == []
