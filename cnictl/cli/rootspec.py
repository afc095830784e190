"""The root command as plain data: its name, help, epilog, top-level commands and its own options.

cnictl.cli.main declares the root (typer) from this, and cnictl.cli.roothelp prints the root's --help from
it without importing typer (docs/performance.md). This module imports nothing.

What the root's --help shows but is declared elsewhere is echoed here: the shared flags
(cnictl.cli.options), typer's and click's own options, and the help lines of the top-level commands and
groups (COMMAND_HELP; their modules import typer). tests/unit/test_roothelp.py checks each echo against
its declaration, and the whole screen against typer's, byte for byte.
"""

from __future__ import annotations


class Opt:
    """One option of the root as its --help shows it: names, metavar, environment variable, default, help."""

    __slots__ = ("default", "envvar", "help", "metavar", "opts")

    def __init__(self, *opts: str, metavar: str = "", envvar: str | None = None, default: str | None = None,
                 help: str = "") -> None:  # noqa: A002 - typer's name for it
        self.opts, self.metavar, self.envvar, self.default, self.help = opts, metavar, envvar, default, help


NAME = "cnictl"
HELP = "Host and container networking on Linux: namespaces, bridges, veth pairs, IPAM, forwarding and nftables."
EPILOG = "Example: cnictl net create lab --subnet 10.20.0.0/24 && cnictl ns add web && cnictl attach lab web"
HELP_OPTION_NAMES = ["-h", "--help"]

# top-level command groups, in --help order: name -> module (each has `app`, a typer.Typer)
GROUPS = ("net", "ns", "ipam", "forward", "port", "fw", "link", "cni")
# top-level commands: name -> (module, function, the module's epilog constant)
COMMANDS = {
    "attach": ("attach", "attach", "ATTACH_EPILOG"),
    "detach": ("attach", "detach", "DETACH_EPILOG"),
    "doctor": ("doctor", "doctor", "EPILOG"),
    "gc": ("gc", "gc", "EPILOG"),
}

# the root's own options (cnictl.cli.main.root declares them from these)
NETNS = Opt("--netns", metavar="HOST", envvar="CNICTL_NETNS",
            help="Act as if the named network namespace were the machine.")
STATE_DIR = Opt("--state-dir", metavar="DIR", envvar="CNICTL_STATE_DIR",
                help="Keep all persistent state (networks, attachments, IPAM) under DIR.")
FIREWALL = Opt("--firewall", metavar="BACKEND", envvar="CNICTL_FIREWALL", default="nftables",
               help="Firewall backend for new networks: nftables, iptables or none.")
VERSION = Opt("--version", help="Print the version and exit.")

# echoed: declared elsewhere, shown by the root's --help (checked by tests/unit/test_roothelp.py)
JSON = Opt("--json", help="Print JSON on stdout (a list for listings, an object otherwise).")  # cli.options
QUIET = Opt("--quiet", "-q", help="Print only names, one per line.")
DRY_RUN = Opt("--dry-run", help="Print the equivalent ip/nft/sysctl commands and change nothing.")
EXPLAIN = Opt("--explain", help="Run, echoing each step's equivalent command to stderr.")
INSTALL_COMPLETION = Opt("--install-completion", help="Install completion for the current shell.")  # typer's
SHOW_COMPLETION = Opt("--show-completion",
                      help="Show completion for the current shell, to copy it or customize the installation.")
HELP_OPTION = Opt(*HELP_OPTION_NAMES, help="Show this message and exit.")  # click's

# the root's options in --help order (the order of cnictl.cli.main.root's parameters, then typer's and click's)
OPTIONS = (NETNS, STATE_DIR, FIREWALL, JSON, QUIET, DRY_RUN, EXPLAIN, VERSION, INSTALL_COMPLETION, SHOW_COMPLETION,
           HELP_OPTION)

# the first paragraph of each top-level command's help, in --help order (typer lists commands, then groups)
COMMAND_HELP = {
    "attach": "Attach a network namespace to NETWORK: a veth pair, an address, a default route, published ports.",
    "detach": "Detach a network namespace from NETWORK; succeeds with a notice if it was not attached.",
    "doctor": "Check this host for cnictl: kernel features, forwarding, br_netfilter, leftovers; exit 1 if anything "
              "is wrong.",
    "gc": "Finish interrupted changes and remove leftovers that cnictl's records prove are its own.",
    "net": "Create, list, inspect and remove networks.",
    "ns": "Add, list, remove named network namespaces and run commands in them.",
    "ipam": "Show and release IP address reservations.",
    "forward": "Enable, disable and show IP forwarding.",
    "port": "Publish container ports on the host, list and unpublish them.",
    "fw": "Show the firewall rules cnictl owns.",
    "link": "Add, list and remove direct veth links between two network namespaces.",
    "cni": "Run CNI plugins like a runtime (add, del, check, gc, status, version), emit conflists, install the "
           "plugin.",
}
