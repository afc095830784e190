"""One exception hierarchy for cnictl; every class carries its exit code and CNI error code.

Libraries raise these; only the CLI entry point turns them into an exit code and a one-line
message (docs/errors.md is generated from this module and checked by a test).

    >>> from cnictl.errors import NotFoundError
    >>> NotFoundError('network "lab" not found', hint="cnictl net ls").exit_code
    3
"""

from __future__ import annotations

CLI_PREFIX = "cnictl"
"""The command line that reaches the host and state in use (`cnictl --netns H --state-dir D`): hints built
with cli() can be pasted where they were printed and act on the same host. Set by Host()."""


def cli(args: str) -> str:
    """A cnictl command to paste, with the global options in effect: cli("fw reload") -> "cnictl --netns h1 fw reload"."""
    return f"{CLI_PREFIX} {args}"


class CnictlError(Exception):
    """Operation failed; anything already changed was rolled back."""

    exit_code: int = 1
    cni_code: int = 999
    retryable: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message
        if self.hint:
            text += f" ({self.hint})"
        return text.replace("\n", " ")

    def to_dict(self) -> dict[str, object]:
        return {"type": type(self).__name__, "message": self.one_line(), "exit_code": self.exit_code}


class ConfigError(CnictlError):
    """Invalid value given: a network, subnet, address, name or option is malformed or inconsistent."""

    exit_code = 2
    cni_code = 7


class UnsupportedFieldError(ConfigError):
    """An option this driver or this kernel cannot honour (the message names it)."""

    cni_code = 2


class NotFoundError(CnictlError):
    """The named network, namespace, attachment or address does not exist."""

    exit_code = 3


class NetnsNotFoundError(NotFoundError):
    """The network namespace (name under /run/netns or path) does not exist."""

    cni_code = 3


class ConflictError(CnictlError):
    """The name, subnet, interface or address is already in use."""

    exit_code = 4
    cni_code = 7


class IpamExhaustedError(CnictlError):
    """No free address is left in the network's range."""

    exit_code = 1
    cni_code = 100


class KernelError(CnictlError):
    """The kernel refused a change (the message gives the equivalent command and errno)."""

    exit_code = 1

    def __init__(self, message: str, *, errno: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.errno = errno
        if errno in (11, 16):  # EAGAIN, EBUSY
            self.cni_code = 11
            self.retryable = True


class FirewallError(KernelError):
    """nftables refused a rule batch (the message gives libnftables' own error)."""


class RollbackIncompleteError(CnictlError):
    """A change failed and undoing it failed too; the message lists what was left behind."""

    exit_code = 5


class PrivilegeError(CnictlError):
    """Not allowed: the command changes the network and needs root (CAP_NET_ADMIN)."""

    exit_code = 6


class DependencyError(CnictlError):
    """A needed system component is missing (libnftables, a kernel module such as CONFIG_VXLAN)."""

    exit_code = 6
    cni_code = 50


class TransientError(CnictlError):
    """A lock could not be taken in time or the kernel was busy; safe to retry."""

    exit_code = 75
    cni_code = 11
    retryable = True


class Interrupted(CnictlError):
    """Ctrl-C (SIGINT) came before the change completed; nothing is left of it (nothing was changed, or it was rolled
    back). A Ctrl-C after the change completed exits 0; one that leaves part of a change behind exits 5."""

    exit_code = 130


class CniError(CnictlError):
    """A CNI plugin or the CNI protocol failed; carries the spec's error code (0-99 reserved, 100+ the plugin's)."""

    exit_code = 1
    cni_code = 999

    def __init__(self, code: int, msg: str, details: str = "", *, hint: str | None = None) -> None:
        super().__init__(msg + (f": {details}" if details else ""), hint=hint)
        self.cni_code = code
        self.msg, self.details = msg, details

    def to_dict(self) -> dict[str, object]:
        """The usual JSON error, plus the CNI error object under "cni" (code, msg, details)."""
        return {**super().to_dict(), "cni": self.to_cni()}

    def to_cni(self, cni_version: str | None = None) -> dict[str, object]:
        """The spec's error object: cniVersion (when known), code, msg, details (when any)."""
        out: dict[str, object] = {}
        if cni_version:
            out["cniVersion"] = cni_version
        out["code"] = self.cni_code
        out["msg"] = self.msg
        if self.details:
            out["details"] = self.details
        return out


ALL_ERRORS: tuple[type[CnictlError], ...] = (
    CnictlError,
    ConfigError,
    UnsupportedFieldError,
    NotFoundError,
    NetnsNotFoundError,
    ConflictError,
    IpamExhaustedError,
    KernelError,
    FirewallError,
    RollbackIncompleteError,
    PrivilegeError,
    DependencyError,
    TransientError,
    Interrupted,
    CniError,
)
