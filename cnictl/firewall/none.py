"""The no-op firewall backend, for users who manage their own rules."""

from __future__ import annotations

from typing import Any

from cnictl.firewall.base import NetworkFirewall
from cnictl.plan import Note, Step


class NoFirewall:
    name = "none"

    def setup_network(self, fw: NetworkFirewall) -> Step:
        return Note(f"firewall backend 'none': no rules for {fw.network}")

    def teardown_network(self, fw: NetworkFirewall) -> Step:
        return Note(f"firewall backend 'none': no rules to remove for {fw.network}")

    def rules(self, network: str | None = None) -> list[dict[str, Any]]:
        return []

    def text(self, network: str | None = None) -> str:
        return ""

    def close(self) -> None:
        return None
