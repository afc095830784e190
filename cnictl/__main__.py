"""`python -m cnictl` runs the CLI."""

from cnictl.cli.main import run

run()
