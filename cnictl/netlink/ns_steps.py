"""Namespace Steps: creating a named network namespace (`ip netns add`), undone by removing it again.

    >>> CreateNetns("web").summary
    'create network namespace web'
"""

from __future__ import annotations

from cnictl.netns import NetnsRef
from cnictl.plan import Step

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from cnictl.host import Host


class CreateNetns(Step):
    """A named network namespace under /run/netns; undo removes it only if this step created it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.summary = f"create network namespace {name}"
        self.created = False

    def apply(self, host: Host) -> None:
        from cnictl import netns

        netns.create(self.name)
        self.created = True

    def undo(self, host: Host) -> None:
        from cnictl import netns

        if self.created:
            host.forget(NetnsRef.parse(self.name))
            netns.remove(self.name, missing_ok=True)

    def journal(self) -> dict[str, Any]:
        return {"name": self.name}  # ns add checked that it did not exist

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> CreateNetns:
        step = cls(data["name"])
        step.created = True  # (cut short, it may exist: the name was free when the plan began)
        return step

    def explain(self, host: Host) -> list[str]:
        return [f"ip netns add {self.name}"]


class RemoveNetns(Step):
    """Teardown: remove a named network namespace (its links go with it); already gone is fine."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.summary = f"remove network namespace {name}"

    def apply(self, host: Host) -> None:
        from cnictl import netns

        host.forget(NetnsRef.parse(self.name))
        netns.remove(self.name, missing_ok=True)

    def journal(self) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> RemoveNetns:
        return cls(data["name"])

    def explain(self, host: Host) -> list[str]:
        return [f"ip netns del {self.name}"]
