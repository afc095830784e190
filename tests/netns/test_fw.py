"""fw reload restores cnictl's rules after a flush; fw check finds what is missing or in the way."""

from __future__ import annotations

import json

from conftest import Lab
from test_ports import call, echo_server


def rules(lab: Lab) -> list[str]:
    """The ruleset as sorted JSON objects without handles (order of creation does not matter)."""
    items = json.loads(lab.exec(lab.host, "nft -j list ruleset").stdout)["nftables"]
    out = []
    for item in items:
        if "metainfo" in item:
            continue
        for body in item.values():
            body.pop("handle", None)
            if isinstance(body.get("elem"), list):
                body["elem"] = sorted(body["elem"], key=json.dumps)
        out.append(json.dumps(item, sort_keys=True))
    return sorted(out)


def test_reload_after_a_flushed_ruleset(lab: Lab) -> None:
    up = lab.upstream()
    web, other = lab.netns(), lab.netns()
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    lab.cli("net", "create", "iso", "--subnet", "10.21.0.0/24")
    lab.cli("attach", "lab", web, "-p", "8080:80", "-p", "203.0.113.1:8082:80")
    b = lab.json("attach", "iso", other)["addresses"][0].split("/")[0]
    ruleset = rules(lab)
    assert json.loads(lab.cli("--json", "fw", "check").stdout)["ok"] is True
    # someone flushes everything
    lab.exec(lab.host, "nft flush ruleset")
    assert lab.ping(web, b)  # isolation is gone
    r = lab.cli("fw", "check", check=False)
    assert r.returncode == 1 and "problem: table inet cnictl is missing" in r.stdout
    assert r.stderr.startswith("cnictl: error: 1 problem(s) found")
    with echo_server(lab, web, 80):
        assert call(lab, up, "203.0.113.1", 8080) is None
        lab.cli("fw", "reload")
        assert call(lab, up, "203.0.113.1", 8080) == "80 203.0.113.2"
        assert call(lab, up, "203.0.113.1", 8082) == "80 203.0.113.2"
    assert not lab.ping(web, b)  # isolated again
    assert rules(lab) == ruleset
    # reload on an intact ruleset changes nothing
    lab.cli("fw", "reload")
    assert rules(lab) == ruleset
    assert lab.cli("fw", "check").returncode == 0


def test_check_names_missing_pieces_and_foreign_drops(lab: Lab) -> None:
    web = lab.netns()
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    lab.cli("attach", "lab", web, "-p", "8080:80")
    lab.exec(lab.host, "nft flush chain inet cnictl lab-fwd")
    lab.exec(lab.host, "nft flush map inet cnictl any-addr")
    lab.exec(lab.host, "nft add table ip other")
    lab.exec(lab.host, "nft 'add chain ip other gate { type filter hook forward priority 0; policy drop; }'")
    lab.exec(lab.host, "sysctl -qw net.ipv4.conf.all.forwarding=0")
    r = json.loads(lab.cli("--json", "fw", "check", check=False).stdout)
    text = "\n".join(r["problems"])
    assert r["ok"] is False
    assert "chain lab-fwd has 0 rules" in text
    assert "published port tcp 0.0.0.0:8080 of network lab is missing from map any-addr" in text
    assert "nft chain ip other gate drops forwarded traffic" in text
    assert "IPv4 forwarding is off" in text
    lab.cli("fw", "reload")
    lab.cli("forward", "enable")
    lab.exec(lab.host, "nft delete table ip other")
    assert json.loads(lab.cli("--json", "fw", "check").stdout)["problems"] == []


def test_iptables_backend_layout_reload_and_no_trace(lab: Lab) -> None:
    lab.firewall = "iptables"
    up = lab.upstream()
    web, other = lab.netns(), lab.netns()
    before = lab.exec(lab.host, "iptables-save").stdout
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    lab.cli("net", "create", "iso", "--subnet", "10.21.0.0/24")
    assert lab.json("net", "inspect", "lab")["firewall"] == "iptables"
    lab.cli("attach", "lab", web, "-p", "8080:80")
    b = lab.json("attach", "iso", other)["addresses"][0].split("/")[0]
    rules = lab.exec(lab.host, "iptables -t filter -S").stdout
    for line in ("-A FORWARD -j CNICTL-FORWARD", "-A CNICTL-FORWARD -j CNICTL-ISOLATION-STAGE-1",
                 "-A CNICTL-ISOLATION-STAGE-1 -i br-lab ! -o br-lab -j CNICTL-ISOLATION-STAGE-2",
                 "-A CNICTL-ISOLATION-STAGE-2 -o br-iso -j DROP"):
        assert line in rules
    nat = lab.exec(lab.host, "iptables -t nat -S").stdout
    assert "-A CNICTL-DNAT -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.20.0.2:80" in nat
    assert not lab.ping(web, b)  # isolation
    shown = lab.cli("fw", "show").stdout
    assert "*filter" in shown and "-A CNICTL-FORWARD -i br-lab -o br-lab -j ACCEPT" in shown and "br-iso" in shown
    only = lab.cli("fw", "show", "lab").stdout
    assert "br-lab" in only and "br-iso" not in only and "--to-destination 10.20.0.2:80" in only
    # someone flushes the ruleset: reload brings it back
    lab.exec(lab.host, "iptables -t nat -F CNICTL-DNAT")
    lab.exec(lab.host, "iptables -t filter -F CNICTL-ISOLATION-STAGE-2")
    assert lab.cli("fw", "check", check=False).returncode == 1
    with echo_server(lab, web, 80):
        assert call(lab, up, "203.0.113.1", 8080) is None
        lab.cli("fw", "reload")
        assert call(lab, up, "203.0.113.1", 8080) == "80 203.0.113.2"
    assert not lab.ping(web, b)
    assert lab.cli("fw", "check").returncode == 0
    lab.exec(lab.host, "nft flush ruleset")  # iptables-nft rules live in nftables: this wipes them all
    assert lab.ping(web, b)
    lab.cli("fw", "reload")
    assert not lab.ping(web, b) and lab.cli("fw", "check").returncode == 0
    lab.cli("net", "rm", "lab", "--force")
    lab.cli("net", "rm", "iso", "--force")
    after = lab.exec(lab.host, "iptables-save").stdout
    assert "CNICTL" not in after
    del before


def test_backends_side_by_side(lab: Lab) -> None:
    """One host, one network per backend, chosen per network at net create."""
    a, b = lab.netns(), lab.netns()
    lab.cli("net", "create", "nft1", "--subnet", "10.71.0.0/24")
    lab.cli("net", "create", "ipt1", "--subnet", "10.72.0.0/24", "--firewall", "iptables")
    assert lab.json("net", "inspect", "ipt1")["firewall"] == "iptables"
    assert lab.json("net", "inspect", "nft1")["firewall"] == "nftables"
    ia = lab.json("attach", "nft1", a)["addresses"][0].split("/")[0]
    ib = lab.json("attach", "ipt1", b)["addresses"][0].split("/")[0]
    assert lab.ping(a, "10.71.0.1") and lab.ping(b, "10.72.0.1")
    assert not lab.ping(a, ib) and not lab.ping(b, ia)
    assert "br-ipt1" in lab.exec(lab.host, "iptables -S CNICTL-FORWARD").stdout
    assert "br-ipt1" not in lab.exec(lab.host, "nft list table inet cnictl").stdout
    assert lab.cli("net", "create", "x", "--firewall", "pf", check=False).returncode == 2
    assert lab.cli("fw", "check").returncode == 0
