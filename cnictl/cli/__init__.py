"""The command line: parse, call cnictl.ops, render. No networking logic lives here."""
