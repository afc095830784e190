"""cnictl: host and container networking on Linux, as a library with a thin CLI.

Kept import-light on purpose: cnictl runs once per container, so heavy modules
(pyroute2, nftables, tabulate) are imported only where they are used.

    >>> import cnictl
    >>> cnictl.__version__
    '0.1.0'
"""

__version__ = "0.1.0"
