"""Sysctls of the current network namespace, read and written through /proc/sys.

/proc/sys/net follows the network namespace of the calling thread, so after cnictl enters a
host namespace (`--netns HOST`) these read and write that namespace's values.

    >>> key_path("net.ipv4.conf.all.forwarding")
    '/proc/sys/net/ipv4/conf/all/forwarding'
"""

from __future__ import annotations

from cnictl.errors import KernelError, NotFoundError


def key_path(key: str) -> str:
    # interface names may contain dots; `sysctl` writes those as '/' in keys. Keep it simple:
    # split the fixed prefix and keep the interface part intact.
    parts = key.split(".")
    if len(parts) >= 5 and parts[0] == "net" and parts[2] == "conf":
        ifname = ".".join(parts[3:-1])
        return "/proc/sys/" + "/".join(parts[:3] + [ifname, parts[-1]])
    return "/proc/sys/" + key.replace(".", "/")


def read(key: str) -> str:
    try:
        with open(key_path(key)) as f:
            return f.read().strip()
    except FileNotFoundError:
        raise NotFoundError(f"sysctl {key} does not exist in this namespace") from None


def write(key: str, value: str) -> None:
    try:
        with open(key_path(key), "w") as f:
            f.write(value)
    except FileNotFoundError:
        raise NotFoundError(f"sysctl {key} does not exist in this namespace") from None
    except PermissionError as e:
        raise KernelError(f"sysctl -w {key}={value}: permission denied", errno=e.errno) from None



from cnictl.plan import Step  # noqa: E402

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from cnictl.host import Host
    from cnictl.netns import NetnsRef


class WriteSysctl(Step):
    """Set a sysctl; undo restores the value it had before. Missing keys can be tolerated."""

    def __init__(
        self, key: str, value: str, *, optional: bool = False, restore: bool = True, netns: NetnsRef | None = None
    ) -> None:
        self.key, self.value, self.optional, self.restore, self.netns = key, value, optional, restore, netns
        self.summary = f"set {key}={value}" + (f" in {netns.spec}" if netns else "")
        self.previous: str | None = None
        self.changed = False

    def apply(self, host: Host) -> None:
        if self.netns is not None:
            from cnictl.netns import entered

            with entered(host.netns_fd(self.netns), host.home_fd()):
                return self._apply()
        return self._apply()

    def _apply(self) -> None:
        try:
            self.previous = read(self.key)
        except NotFoundError:
            if self.optional:
                return
            raise
        if self.previous != self.value:
            write(self.key, self.value)
            self.changed = True

    def undo(self, host: Host) -> None:
        if self.changed and self.restore and self.previous is not None and self.netns is None:
            try:  # noqa: SIM105 - no contextlib on the plugin's path (start-up time)
                write(self.key, self.previous)
            except NotFoundError:
                pass

    def journal(self) -> dict[str, Any]:
        before = None
        if self.netns is None and self.restore:  # what undo would write back (read now: the step runs next)
            try:
                before = read(self.key)
            except (NotFoundError, KernelError):
                before = None
        return {"key": self.key, "value": self.value, "optional": self.optional, "restore": self.restore,
                "netns": self.netns.spec if self.netns is not None else None, "before": before}

    def journal_out(self) -> dict[str, Any]:
        return {"changed": self.changed, "previous": self.previous}

    @classmethod
    def resume(cls, host: Host, data: dict[str, Any], out: dict[str, Any] | None) -> WriteSysctl:
        from cnictl.netns import NetnsRef

        ns = NetnsRef.parse(data["netns"]) if data.get("netns") else None
        step = cls(data["key"], data["value"], optional=data["optional"], restore=data["restore"], netns=ns)
        if out is not None:
            step.changed, step.previous = bool(out["changed"]), out.get("previous")
        else:
            step.previous = data.get("before")
            step.changed = step.previous is not None and step.previous != step.value
        return step

    def explain(self, host: Host) -> list[str]:
        prefix = f"{self.netns.exec_prefix()} " if self.netns is not None else host.exec_prefix()
        return [f"{prefix}sysctl -w {self.key}={self.value}"]


class PersistSysctls(Step):
    """Write sysctl settings into a sysctl.d file, so they hold after a reboot (`forward --persist`).

    The file is replaced as a whole; it is cnictl's own (a name no package uses)."""

    HEADER = "# written by cnictl forward --persist\n"
    journaled = False  # cnictl's own file, replaced as a whole: running the same command again rewrites it
    outlives_boot = True

    def __init__(self, path: Path, values: dict[str, str]) -> None:
        self.path, self.values = path, dict(values)
        self.summary = f"persist in {path}"

    def _body(self) -> str:
        return "".join(f"{k} = {v}\n" for k, v in self.values.items())

    def apply(self, host: Host) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(self.HEADER + self._body())

    def explain(self, host: Host) -> list[str]:
        text = (self.HEADER + self._body()).replace("\n", "\\n")
        return [f"printf '{text}' > {self.path}"]
