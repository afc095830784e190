"""Contract points a script relies on: --exist-ok means "exists as asked", and every hint can be pasted where it
was printed (it names the --netns and --state-dir in effect)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess

from conftest import CNICTL, Lab


def test_exist_ok_with_the_same_settings_is_success(lab: Lab) -> None:
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    again = lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24", "--exist-ok")
    assert "already exists; left as it is" in again.stderr
    plain = lab.cli("net", "create", "lab", "--exist-ok")  # nothing asked beyond the name: as asked
    assert plain.returncode == 0


def test_exist_ok_with_another_setting_is_a_conflict_naming_it(lab: Lab) -> None:
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    before = lab.snapshot()
    r = lab.cli("net", "create", "lab", "--subnet", "10.21.0.0/24", "--exist-ok", check=False)
    assert r.returncode == 4, r
    assert r.stderr.count("\n") == 1
    assert "--subnet: 10.20.0.0/24 here, 10.21.0.0/24 asked" in r.stderr, r.stderr
    for flags, named in ((["--internal"], "--internal"), (["--mtu", "1400"], "--mtu"),
                         (["--bridge", "br-other"], "--bridge"), (["--no-masquerade"], "--no-masquerade")):
        r = lab.cli("net", "create", "lab", *flags, "--exist-ok", check=False)
        assert r.returncode == 4 and named in r.stderr, (flags, r.stderr)
    r = lab.cli("--json", "net", "create", "lab", "--subnet", "10.21.0.0/24", "--exist-ok", check=False)
    assert json.loads(r.stderr)["error"]["type"] == "ConflictError"
    assert lab.snapshot() == before  # nothing changed


def test_fw_check_hint_can_be_pasted_as_printed(lab: Lab) -> None:
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    lab.exec(lab.host, "nft delete table inet cnictl")
    r = lab.cli("fw", "check", check=False)
    assert r.returncode == 1
    m = re.search(r"see above; (cnictl .*?) restores", r.stderr)
    assert m, r.stderr
    hint = m.group(1)
    assert f"--netns {lab.host}" in hint and f"--state-dir {lab.state}" in hint, hint
    assert f"cnictl --netns {lab.host} --state-dir {lab.state} fw reload" in r.stdout + r.stderr
    # run it as printed, from an environment without CNICTL_STATE_DIR: it acts on the same host and state
    argv = shlex.split(hint)
    env = {k: v for k, v in lab.env().items() if k != "CNICTL_STATE_DIR"}
    subprocess.run([CNICTL, *argv[1:]], check=True, capture_output=True, env=env, timeout=60)
    assert lab.cli("fw", "check").returncode == 0


def test_not_found_hint_names_the_sandbox(lab: Lab) -> None:
    r = lab.cli("net", "inspect", "nosuch", check=False)
    assert r.returncode == 3
    assert f"see: cnictl --netns {lab.host} --state-dir {lab.state} net ls" in r.stderr, r.stderr


def test_explain_shows_the_ipam_reservation_as_dry_run_does(lab: Lab) -> None:
    lab.cli("net", "create", "lab", "--subnet", "10.20.0.0/24")
    c = lab.netns()
    dry = lab.cli("--dry-run", "attach", "lab", c).stdout
    assert f"# IPAM: reserve 10.20.0.2 -> file {lab.state}/ipam/lab/10.20.0.2" in dry
    ran = lab.cli("--explain", "attach", "lab", c).stderr
    assert f"+ # IPAM: reserve 10.20.0.2 -> file {lab.state}/ipam/lab/10.20.0.2" in ran, ran
    lines = [ln for ln in ran.splitlines() if ln.startswith("+ ")]
    assert lines.index(next(ln for ln in lines if "IPAM: reserve" in ln)) < lines.index(
        next(ln for ln in lines if " addr add 10.20.0.2/24" in ln))  # in the order the steps ran
