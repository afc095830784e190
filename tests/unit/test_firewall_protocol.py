"""Every firewall backend satisfies the runtime FirewallBackend protocol, and one factory builds them by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cnictl.errors import ConfigError
from cnictl.firewall import BACKENDS, get_backend
from cnictl.firewall.base import FirewallBackend, Leftover
from cnictl.firewall.iptables import IptablesBackend
from cnictl.firewall.nftables import NftablesBackend
from cnictl.firewall.none import NoFirewall

ROOT = Path(__file__).resolve().parents[2]
CLASSES = {"nftables": NftablesBackend, "iptables": IptablesBackend, "none": NoFirewall}


@pytest.mark.parametrize("name", BACKENDS)
def test_each_backend_is_a_firewall_backend(name: str) -> None:
    backend = get_backend(name)
    assert isinstance(backend, FirewallBackend)
    assert type(backend) is CLASSES[name] and backend.name == name


@pytest.mark.parametrize("cls", CLASSES.values(), ids=list(CLASSES))
def test_each_backend_class_is_a_firewall_backend(cls: type) -> None:
    assert isinstance(cls(), FirewallBackend)


def test_the_protocol_is_checked_at_run_time() -> None:
    class Partial:
        name = "partial"

        def setup_network(self, fw: object) -> None: ...

    assert not isinstance(Partial(), FirewallBackend)
    assert not isinstance(object(), FirewallBackend)


def test_factory_names_every_backend_and_refuses_others_in_one_line() -> None:
    assert set(BACKENDS) == set(CLASSES)
    with pytest.raises(ConfigError) as e:
        get_backend("pf")
    assert str(e.value.message) == 'unknown firewall backend "pf" (choose one of: nftables, iptables, none)'
    assert "\n" not in e.value.message


def test_the_none_backend_has_no_leftovers() -> None:
    none = get_backend("none")
    assert none.bridges_in_rules() == set()
    assert none.leftovers(None, None) == []  # type: ignore[arg-type]
    assert Leftover("leftover.x", "detail").hint is None


def test_importing_the_backend_records_does_not_import_typing() -> None:
    """base.py is on the attach and plugin path: the protocol (which needs typing) loads on first use only."""
    code = ("import sys, cnictl.firewall.base, cnictl.firewall.none, cnictl.firewall.iptables, cnictl.firewall.nftables; "
            "print('typing' in sys.modules); from cnictl.firewall.base import FirewallBackend; print('typing' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["False", "True"]
