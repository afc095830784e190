"""Per-process CLI state that more than one module reads: whether errors are printed as JSON.

The root callback sets it from `--json`/`CNICTL_OUTPUT=json`, a command's own `--json` sets it again
(cnictl.cli.options.State.merge), and cnictl.cli.main.run reads it when it prints an error. It lives here,
not in cnictl.cli.main, so that the options module does not import the whole command tree to set it.
"""

from __future__ import annotations

JSON_ERRORS = False
