"""`python -m cnictl` runs the CLI."""

from cnictl.cli.entry import main

main()
