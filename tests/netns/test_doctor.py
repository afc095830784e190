"""cnictl doctor on a real kernel: the features it probes, the leftovers it finds, and that it changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import CNICTL, Lab, sh

STATUSES = {"ok", "missing", "warn", "fail"}
KINDS = {  # doctor's check -> how iproute2 makes the same link in a scratch namespace
    "kernel.veth": "probe0 type veth peer name probe1",
    "kernel.bridge": "probe2 type bridge",
    "kernel.macvlan": "probe3 link probe0 type macvlan mode bridge",
    "kernel.ipvlan": "probe4 link probe0 type ipvlan mode l2",
    "kernel.vlan": "probe5 link probe0 type vlan id 10",
    "kernel.vxlan": "probe6 type vxlan id 42 dstport 4789",
}
OPTION = {"kernel.macvlan": "CONFIG_MACVLAN", "kernel.ipvlan": "CONFIG_IPVLAN", "kernel.vlan": "CONFIG_VLAN_8021Q",
          "kernel.vxlan": "CONFIG_VXLAN"}


def doctor(lab: Lab) -> tuple[int, dict[str, Any], dict[str, dict[str, Any]]]:
    p = lab.cli("doctor", "--json", check=False)
    assert p.returncode in (0, 1), p.stderr
    report = json.loads(p.stdout)
    return p.returncode, report, {c["check"]: c for c in report["checks"]}


def probe_namespaces(*, leaked: bool = True) -> list[str]:
    """Probe namespaces under /run/netns; with *leaked*, only those whose doctor process has ended (a run of
    another test session that is still going is not this test's leak)."""
    from cnictl.doctor import PROBE_RE, _alive

    names = [n for n in sh("ip netns list").stdout.split() if n.startswith("cnictl-doctor")]
    if not leaked:
        return names
    return [n for n in names if not ((m := PROBE_RE.fullmatch(n)) and _alive(int(m.group(1))))]


def run_hint(hint: str) -> None:
    """Run a hint as a user would (cnictl is the venv's binary here)."""
    if hint.startswith("cnictl "):
        hint = CNICTL + hint[len("cnictl"):]
    sh(hint)


def test_json_shape_and_kernel_features(lab: Lab) -> None:
    rc, report, checks = doctor(lab)
    assert rc == 0 and report["ok"] is True
    assert list(report) == ["ok", "checks"]
    for c in report["checks"]:
        assert list(c) == ["check", "status", "detail", "hint"] and c["status"] in STATUSES
        assert isinstance(c["detail"], str) and c["detail"]
    assert not any(c["status"] == "fail" for c in report["checks"])
    # what iproute2 says this kernel can do, tried in a scratch namespace of the test's own
    scratch = lab.netns("k")
    for name, spec in KINDS.items():
        made = sh(f"ip -n {scratch} link add {spec}", check=False).returncode == 0
        c = checks[name]
        if made:
            assert c["status"] == "ok", c
        else:
            assert c["status"] == "missing" and OPTION[name] in c["hint"], c
    for name in ("kernel.veth", "kernel.bridge", "kernel.macvlan", "kernel.vxlan"):
        assert checks[name]["status"] == "ok"
    # this machine's kernel (see the task): no 802.1Q and no ipvlan
    assert checks["kernel.vlan"]["status"] == "missing" and "CONFIG_VLAN_8021Q" in checks["kernel.vlan"]["hint"]
    assert "8021q" in checks["kernel.vlan"]["hint"]
    assert checks["kernel.ipvlan"]["status"] == "missing" and "CONFIG_IPVLAN" in checks["kernel.ipvlan"]["hint"]
    for name in ("kernel.qdisc.tbf", "kernel.qdisc.htb", "firewall.nftables", "firewall.iptables",
                 "sysctl.ipv4_forwarding", "sysctl.ipv6_forwarding", "br_netfilter", "leftovers"):
        assert checks[name]["status"] in ("ok", "missing", "warn"), checks[name]
    assert checks["leftovers"]["status"] == "ok"
    assert probe_namespaces() == []


def test_human_output_and_exit_zero_on_a_clean_host(lab: Lab) -> None:
    p = lab.cli("doctor")
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "DETAIL"]
    assert any(ln.startswith("kernel.veth ") and " ok " in ln for ln in lines)
    assert "nothing is wrong" in lines[-1]
    assert p.stderr == ""
    assert probe_namespaces() == []


def test_doctor_changes_nothing_in_the_host(lab: Lab) -> None:
    web = lab.netns()
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    lab.cli("attach", "lab", web, "-p", "8080:80")
    before = lab.snapshot([web])
    rc, report, checks = doctor(lab)
    assert rc == 0, report
    assert checks["firewall.rules"]["status"] == "ok"
    assert checks["sysctl.ipv4_forwarding"]["status"] == "ok" and "=1" in checks["sysctl.ipv4_forwarding"]["detail"]
    lab.cli("doctor")
    assert lab.snapshot([web]) == before
    assert probe_namespaces() == []


def test_forwarding_off_and_missing_rules_fail(lab: Lab) -> None:
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    lab.exec(lab.host, "sysctl -qw net.ipv4.conf.all.forwarding=0")
    lab.exec(lab.host, "nft flush chain inet cnictl lab-fwd")
    rc, report, checks = doctor(lab)
    assert rc == 1 and report["ok"] is False
    c = checks["sysctl.ipv4_forwarding"]
    assert c["status"] == "fail" and "lab" in c["detail"]
    assert c["hint"] == f"cnictl --netns {lab.host} --state-dir {lab.state} forward enable"
    rules = checks["firewall.rules"]
    assert rules["status"] == "fail" and "lab-fwd" in rules["detail"] and rules["hint"].endswith("fw reload")
    run_hint(c["hint"])
    run_hint(rules["hint"])
    rc, report, checks = doctor(lab)
    assert rc == 0 and checks["firewall.rules"]["status"] == "ok"


def test_planted_leftovers_fail_and_their_hints_clear_them(lab: Lab) -> None:
    web = lab.netns()
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    lab.cli("attach", "lab", web)
    ipam = lab.state / "ipam"
    # a veth end named like cnictl's, with no attachment
    lab.ip(lab.host, "link add cni0123456789ab type veth peer name x0")
    # a host-access shim of no network
    lab.ip(lab.host, "link add mvh-ghost type veth peer name y0")
    # a network cnictl forgot: its bridge, its nft chain and set element, its IPAM directory
    lab.ip(lab.host, "link add br-ghost type bridge")
    lab.exec(lab.host, "nft 'add chain inet cnictl ghost-fwd { type filter hook forward priority 0; policy accept; }; "
                       "add rule inet cnictl ghost-fwd iifname \"br-ghost\" accept; "
                       "add element inet cnictl bridges { \"br-ghost\" }'")
    (ipam / "ghost").mkdir()
    (ipam / "ghost" / "10.99.0.2").write_bytes(b"old\r\neth0")
    # a reservation in a known network whose container has no record
    (ipam / "lab" / "10.20.0.77").write_bytes(b"gone\r\neth0")
    # not leftovers: a host-access shim's reservation, a bridge that merely looks like one (docker's naming)
    (ipam / "lab" / "10.20.0.78").write_bytes(b"cnictl-host-access-lab\r\nmvh-lab")
    lab.ip(lab.host, "link add br-0123456789ab type bridge")

    p = lab.cli("doctor", "--json", check=False)
    assert p.returncode == 1
    report = json.loads(p.stdout)
    assert report["ok"] is False
    assert json.loads(p.stderr)["error"]["exit_code"] == 1
    checks = {c["check"]: c for c in report["checks"]}
    # (leftover.netns.* would be another session's killed run: not this test's business)
    failed = {name for name, c in checks.items() if c["status"] == "fail" and not name.startswith("leftover.netns.")}
    assert failed == {
        "leftover.link.cni0123456789ab", "leftover.link.mvh-ghost", "leftover.link.br-ghost",
        "leftover.nft.ghost", "leftover.ipam.ghost", "leftover.ipam.lab.10.20.0.77",
    }, failed
    assert checks["leftover.link.cni0123456789ab"]["hint"] == f"ip -n {lab.host} link del cni0123456789ab"
    assert "ghost-fwd" in checks["leftover.nft.ghost"]["detail"]
    assert "br-ghost" in checks["leftover.nft.ghost"]["hint"]
    assert checks["leftover.ipam.lab.10.20.0.77"]["hint"].endswith("ipam release lab 10.20.0.77")
    assert str(ipam / "ghost") in checks["leftover.ipam.ghost"]["hint"]
    # the human output names each one with its hint
    human = lab.cli("doctor", check=False)
    assert human.returncode == 1
    for name in failed:
        assert f"hint ({name}): {checks[name]['hint']}" in human.stdout
    assert "6 problem(s)" in human.stdout.splitlines()[-1]
    assert human.stderr.startswith("cnictl: error: doctor found 6 problem(s)")
    for name in sorted(failed):
        run_hint(checks[name]["hint"])
    rc, report, checks = doctor(lab)
    assert rc == 0, [c for c in report["checks"] if c["status"] == "fail"]
    assert checks["leftovers"]["status"] == "ok"
    assert "br-0123456789ab" in lab.ip(lab.host, "link show")  # untouched
    assert (ipam / "lab" / "10.20.0.78").exists()
    assert probe_namespaces() == []


def test_a_killed_runs_probe_namespace_is_a_leftover(lab: Lab) -> None:
    ended = subprocess.Popen(["true"])
    ended.wait()
    name = lab.track(f"cnictl-doctor-{ended.pid}-abcdef")
    sh(f"ip netns add {name}")
    rc, report, checks = doctor(lab)
    assert rc == 1
    c = checks[f"leftover.netns.{name}"]
    assert c["status"] == "fail" and c["hint"] == f"ip netns del {name}"
    run_hint(c["hint"])
    assert doctor(lab)[0] == 0


def test_iptables_leftovers(lab: Lab) -> None:
    if subprocess.run(["which", "iptables-save"], capture_output=True).returncode != 0:
        pytest.skip("iptables is not installed")
    web = lab.netns()
    lab.cli("net", "create", "keep", "--subnet", "10.30.0.0/24", "--firewall", "iptables")
    lab.cli("net", "create", "gone", "--subnet", "10.31.0.0/24", "--firewall", "iptables")
    lab.cli("attach", "gone", web)
    # a stray rule naming a bridge no network uses: fw reload drops it
    lab.exec(lab.host, "iptables -A CNICTL-FORWARD -i br-stray -o br-stray -j ACCEPT")
    # forget network "gone": its records go, its kernel objects stay
    state: Path = lab.state
    (state / "networks" / "gone.json").unlink()
    for f in (state / "attachments" / "gone").iterdir():
        f.unlink()
    rc, report, checks = doctor(lab)
    assert rc == 1
    failed = {name for name, c in checks.items() if c["status"] == "fail"}
    assert {"leftover.iptables.br-stray", "leftover.iptables.br-gone", "leftover.link.br-gone",
            "leftover.ipam.gone"} <= failed, failed
    assert any(n.startswith("leftover.link.cni") for n in failed)
    assert checks["leftover.iptables.br-stray"]["hint"].endswith("fw reload")
    for name in sorted(failed):
        if name != "leftover.iptables.br-gone":  # the same fw reload clears both
            run_hint(checks[name]["hint"])
    rc, report, checks = doctor(lab)
    assert rc == 0, [c for c in report["checks"] if c["status"] == "fail"]
    # with the last iptables network gone too, cnictl's chains themselves are the leftover
    (state / "networks" / "keep.json").unlink()
    rc, report, checks = doctor(lab)
    assert rc == 1 and checks["leftover.iptables"]["status"] == "fail"
    run_hint(checks["leftover.iptables"]["hint"])
    for name, c in checks.items():
        if c["status"] == "fail" and name != "leftover.iptables":
            run_hint(c["hint"])
    assert doctor(lab)[0] == 0
    assert "CNICTL" not in lab.exec(lab.host, "iptables-save").stdout
    assert probe_namespaces() == []


def test_probe_namespace_is_removed_when_interrupted(lab: Lab, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Ctrl-C in the middle of the probes still removes the throwaway namespace (in-process run)."""
    from cnictl import doctor as lib
    from cnictl.host import Host
    from cnictl.netlink import probe as probe_mod

    def interrupted(sock: object) -> None:
        assert any(n.startswith(f"cnictl-doctor-{os.getpid()}-") for n in probe_namespaces(leaked=False))  # it exists
        raise KeyboardInterrupt

    monkeypatch.setattr(probe_mod, "probe", interrupted)
    host = Host(state_dir=tmp_path / "s")  # not entered: the probe namespace is made beside this process's own
    try:
        with pytest.raises(KeyboardInterrupt):
            lib.probe_features(host, [])
    finally:
        host.close()
    assert probe_namespaces() == []
