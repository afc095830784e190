"""The output sink of one invocation: stdout carries data only (a table, a record or JSON); the rest goes to stderr.

    >>> Output(json_mode=True).rows_to_json([{"name": "lab"}])
    '[{"name": "lab"}]'
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from cnictl.errors import CnictlError


class Output:
    def __init__(self, *, json_mode: bool = False, quiet: bool = False, explain: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self.explain = explain
        self.out: TextIO = sys.stdout
        self.err: TextIO = sys.stderr

    # ---- data --------------------------------------------------------------------------
    @staticmethod
    def rows_to_json(obj: Any) -> str:
        return json.dumps(obj)

    def json(self, obj: Any) -> None:
        self.out.write(json.dumps(obj, indent=2) + "\n")

    def table(self, rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], *, key: str = "name",
              raw: Any = None) -> None:
        """Rows as a table (people), JSON (--json: *raw* or the rows) or one key per line (-q)."""
        if self.json_mode:
            self.json(list(rows) if raw is None else raw)
            return
        if self.quiet:
            for r in rows:
                self.out.write(f"{r.get(key, '')}\n")
            return
        if not rows:
            self.err.write("(none)\n")
            return
        from tabulate import tabulate

        data = [[_cell(r.get(k)) for k, _ in columns] for r in rows]
        self.out.write(tabulate(data, headers=[h for _, h in columns], tablefmt="simple", disable_numparse=True) + "\n")

    def record(self, obj: dict[str, Any], fields: Sequence[tuple[str, str]] | None = None, *, key: str = "name") -> None:
        if self.json_mode:
            self.json(obj)
            return
        if self.quiet:
            if key in obj:
                self.out.write(f"{obj[key]}\n")
            return
        for k, label in fields or [(k, k) for k in obj]:
            self.out.write(f"{label + ':':<14} {_cell(obj.get(k))}\n")

    def line(self, text: str) -> None:
        """A human summary line on stdout (suppressed in JSON and quiet modes)."""
        if not self.json_mode and not self.quiet:
            self.out.write(text + "\n")

    # ---- messages ----------------------------------------------------------------------
    def notice(self, text: str) -> None:
        if not self.quiet:
            self.err.write(f"cnictl: {text}\n")

    def plan(self, lines: Sequence[str]) -> None:
        """A dry run: the equivalent commands on stdout, one per line (JSON: a list)."""
        if self.json_mode:
            self.json({"dry_run": True, "commands": list(lines)})
            return
        for ln in lines:
            self.out.write(ln + "\n")

    def echo_lines(self, lines: Sequence[str]) -> None:
        for ln in lines:
            self.err.write(f"+ {ln}\n")
        self.err.flush()

    def error(self, err: CnictlError) -> None:
        if self.json_mode:
            self.err.write(json.dumps({"error": err.to_dict()}) + "\n")
        else:
            self.err.write(f"cnictl: error: {err.one_line()}\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value) if value else "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) if value else "-"
    return str(value)
