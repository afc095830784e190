"""The output sink of one invocation: stdout carries data only (a table, a record or JSON); the rest goes to stderr.

Human tables have one row source and several renderings, chosen by `--format` (sqlite-utils style):

    auto    a rich table on a terminal; piped, the plain-text "simple" table (what scripts and tests parse)
    table   a rich table, also when piped (no colour unless stdout is a terminal)
    plain, simple, github   tabulate's formats, for docs and copy-paste
    tsv     a header line, then one tab-separated line per row; no summaries or hints

On a terminal the rich table fits the width: every column gets at least its header and its longest word,
the rest of the width goes to the columns that want it, and cells wrap between words (a word is folded
only when the terminal is too narrow for it). Status words are coloured (ok/yes green, fail/missing/no
red, warn yellow); `NO_COLOR` or a pipe gives no colour. rich and tabulate are imported only here, and
only when a table or a record is drawn: a one-line result or an error imports neither.

    >>> Output(json_mode=True).rows_to_json([{"name": "lab"}])
    '[{"name": "lab"}]'
    >>> human_count(253), human_count(2**64 - 2), human_count(3 * 10**20)
    ('253', '2^64-2', '~3.0e20')
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from cnictl.errors import CnictlError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

FORMATS = ("auto", "table", "plain", "simple", "github", "tsv")
TABULATE_FORMATS = ("plain", "simple", "github")
STATUS_STYLES = {"ok": "green", "yes": "green", "fail": "red", "missing": "red", "no": "red", "warn": "yellow"}
GAP = 2  # spaces between the columns of a rich table


class Column:
    """A table column: the row key, the header, and how a terminal table treats it.

    *status*: colour the cell by its word (STATUS_STYLES). *no_wrap*: keep the cell on one line as long
    as the table still fits (names, short codes). *justify*: "left" or "right" (counts)."""

    __slots__ = ("key", "header", "status", "no_wrap", "justify")

    def __init__(self, key: str, header: str, *, status: bool = False, no_wrap: bool = False,
                 justify: str = "left") -> None:
        self.key = key
        self.header = header
        self.status = status
        self.no_wrap = no_wrap
        self.justify = justify

    def __repr__(self) -> str:
        return f"Column({self.key!r}, {self.header!r})"


ColumnSpec = Column | tuple[str, str]


def as_column(spec: ColumnSpec) -> Column:
    return spec if isinstance(spec, Column) else Column(spec[0], spec[1])


class Output:
    def __init__(self, *, json_mode: bool = False, quiet: bool = False, explain: bool = False, fmt: str = "auto",
                 width: int | None = None, color: bool | None = None) -> None:
        """*fmt*: one of FORMATS. *width* and *color* override what the terminal says (tests, docs)."""
        if fmt not in FORMATS:
            from cnictl.errors import ConfigError

            raise ConfigError(f"unknown output format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
        self.json_mode = json_mode
        self.quiet = quiet
        self.explain = explain
        self.fmt = fmt
        self.width = width
        self.color = color
        self.out: TextIO = sys.stdout
        self.err: TextIO = sys.stderr
        self._console: Console | None = None

    # ---- which rendering ---------------------------------------------------------------
    @property
    def rich(self) -> bool:
        """Whether tables and records are drawn with rich: --format table, or auto on a terminal."""
        return self.fmt == "table" or (self.fmt == "auto" and (self.color is True or _isatty(self.out)))

    @property
    def data_only(self) -> bool:
        """Whether stdout takes rows only, no summary or hint lines (JSON, -q, --format tsv)."""
        return self.json_mode or self.quiet or self.fmt == "tsv"

    def console(self) -> Console:
        """The rich console on stdout (created on first use, so rich is imported only when it draws)."""
        if self._console is None or self._console.file is not self.out:
            from rich.console import Console

            self._console = Console(file=self.out, markup=False, highlight=False, emoji=False, width=self.width,
                                    force_terminal=self.color, no_color=None if self.color is None else not self.color,
                                    soft_wrap=False)
        return self._console

    # ---- data --------------------------------------------------------------------------
    @staticmethod
    def rows_to_json(obj: Any) -> str:
        return json.dumps(obj)

    def json(self, obj: Any) -> None:
        self.out.write(json.dumps(obj, indent=2) + "\n")

    def table(self, rows: Sequence[dict[str, Any]], columns: Sequence[ColumnSpec], *, key: str = "name",
              raw: Any = None) -> None:
        """Rows as a table (people; see --format), JSON (--json: *raw* or the rows) or one key per line (-q)."""
        if self.json_mode:
            self.json(list(rows) if raw is None else raw)
            return
        if self.quiet:
            for r in rows:
                self.out.write(f"{r.get(key, '')}\n")
            return
        cols = [as_column(c) for c in columns]
        if not rows and self.fmt != "tsv":
            self.err.write("(none)\n")
            return
        self.draw(cols, [[_cell(r.get(c.key)) for c in cols] for r in rows])

    def record(self, obj: dict[str, Any], fields: Sequence[tuple[str, str]] | None = None, *, key: str = "name") -> None:
        """One object as label/value lines (people), JSON (--json) or its *key* (-q)."""
        if self.json_mode:
            self.json(obj)
            return
        if self.quiet:
            if key in obj:
                self.out.write(f"{obj[key]}\n")
            return
        pairs = [(label, _cell(obj.get(k))) for k, label in fields or [(k, k) for k in obj]]
        if self.rich:
            self._rich_record(pairs)
        elif self.fmt == "auto":
            for label, value in pairs:
                self.out.write(f"{label + ':':<14} {value}\n")
        else:
            self.draw([Column("field", "FIELD"), Column("value", "VALUE")], [list(p) for p in pairs])

    def draw(self, cols: Sequence[Column], cells: Sequence[Sequence[str]]) -> None:
        """Cells (already strings) under *cols*, in this invocation's format."""
        if self.fmt == "tsv":
            for line in [[c.header for c in cols], *cells]:
                self.out.write("\t".join(_tsv(v) for v in line) + "\n")
        elif self.rich:
            self._rich_table(cols, cells)
        else:
            from tabulate import tabulate

            fmt = "simple" if self.fmt == "auto" else self.fmt
            self.out.write(tabulate([list(r) for r in cells], headers=[c.header for c in cols], tablefmt=fmt,
                                    disable_numparse=True) + "\n")

    def line(self, text: str) -> None:
        """A human summary line on stdout (suppressed in JSON and quiet modes). Written as is: no rich."""
        if not self.json_mode and not self.quiet:
            self.out.write(text + "\n")

    def prose(self, *chunks: str, status: str | None = None) -> None:
        """A human line that goes with a table (a summary, a hint), given as chunks that read best unbroken.
        Piped: the chunks joined by spaces, one line. On a terminal: wrapped between chunks (and between
        the words of a chunk wider than the terminal), continuation lines indented. Left out of JSON, -q
        and tsv. *status* colours the line by that status word (STATUS_STYLES)."""
        if self.data_only:
            return
        if not self.rich:
            self.out.write(" ".join(chunks) + "\n")
            return
        from rich.text import Text

        console = self.console()
        lines = wrap_chunks(chunks, console.width)
        self._print(Text("\n".join(lines), style=STATUS_STYLES.get(status or "", ""), overflow="fold"))

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

    # ---- rich --------------------------------------------------------------------------
    def _print(self, renderable: Any) -> None:
        """Print with rich, without the padding rich leaves at the end of each line (copy-paste)."""
        console = self.console()
        with console.capture() as captured:
            console.print(renderable)
        self.out.write("\n".join(line.rstrip(" ") for line in captured.get().split("\n")))

    @staticmethod
    def _text(value: str, style: str | None = None) -> Text:
        from rich.text import Text

        return Text(value, style=style or "", overflow="fold")

    def _rich_table(self, cols: Sequence[Column], cells: Sequence[Sequence[str]]) -> None:
        from rich.table import Table

        console = self.console()
        widths = fit_widths([c.header for c in cols], cells, console.width, no_wrap=[c.no_wrap for c in cols])
        table = Table(box=None, padding=(0, GAP // 2), pad_edge=False, show_edge=False, header_style="bold",
                      expand=False)
        for c, w in zip(cols, widths, strict=True):
            table.add_column(self._text(c.header), width=w, overflow="fold", justify=c.justify)  # type: ignore[arg-type]
        for row in cells:
            table.add_row(*(self._text(v, STATUS_STYLES.get(v.lower()) if c.status else None)
                            for c, v in zip(cols, row, strict=True)))
        self._print(table)

    def _rich_record(self, pairs: Sequence[tuple[str, str]]) -> None:
        from rich.table import Table

        labels = [f"{label}:" for label, _ in pairs]
        grid = Table.grid(padding=(0, GAP, 0, 0))
        grid.add_column(no_wrap=True, style="bold")
        grid.add_column(overflow="fold")
        for label, (_, value) in zip(labels, pairs, strict=True):
            grid.add_row(self._text(label), self._text(value))
        self._print(grid)


def fit_widths(headers: Sequence[str], cells: Sequence[Sequence[str]], width: int, *,
               no_wrap: Sequence[bool] | None = None) -> list[int]:
    """Column widths for a table of *width* columns (gaps included) that never breaks a header or a word
    when it can help it: each column starts at its header and its longest word (its whole cell if
    *no_wrap*); the room left goes to the columns that want more, evenly, none beyond its longest cell.
    Only when even that does not fit do the widest columns shrink (and words fold).

    >>> fit_widths(["NAME", "SUBNETS"], [["lab", "10.0.0.0/24, fd00::/64"]], 80)
    [4, 22]
    >>> fit_widths(["NAME", "SUBNETS"], [["lab", "10.0.0.0/24, fd00::/64"]], 20)
    [4, 14]
    """
    n = len(headers)
    flags = list(no_wrap or [False] * n)
    mins, maxs = [], []
    for i, h in enumerate(headers):
        column = [row[i] for row in cells]
        longest_cell = max([_len(h), *(_len(v) for v in column)])
        longest_word = max([_len(h), *(_longest(v) for v in column)])
        maxs.append(longest_cell)
        mins.append(longest_cell if flags[i] else longest_word)
    room = max(width - GAP * (n - 1), n)
    if sum(maxs) <= room:
        return maxs
    widths = list(mins)
    spare = room - sum(widths)
    if spare < 0:
        return _shrink(widths, [_len(h) for h in headers], room)
    wanting = [i for i in range(n) if maxs[i] > widths[i]]
    while spare > 0 and wanting:
        share = max(spare // len(wanting), 1)
        for i in sorted(wanting, key=lambda j: maxs[j] - widths[j]):
            give = min(maxs[i] - widths[i], share, spare)
            widths[i] += give
            spare -= give
            if spare == 0:
                break
        wanting = [i for i in wanting if maxs[i] > widths[i]]
    return widths


def wrap_chunks(chunks: Sequence[str], width: int, indent: int = 2) -> list[str]:
    """Lines of at most *width* columns: chunks joined by spaces, a line broken only between chunks unless a
    chunk alone is too wide (then between its words); continuation lines start with *indent* spaces.

    >>> wrap_chunks(["v6: fd00:1::/64", "gateway fd00:1::1", "used 1/253", "free 252"], 36)
    ['v6: fd00:1::/64 gateway fd00:1::1', '  used 1/253 free 252']
    """
    lines: list[str] = []
    line = ""
    for chunk in chunks:
        pieces = [chunk] if _len(chunk) <= width - indent else chunk.split()
        for piece in pieces:
            if not line:
                line = piece if not lines else " " * indent + piece
            elif _len(line) + 1 + _len(piece) <= width:
                line += " " + piece
            else:
                lines.append(line)
                line = " " * indent + piece
    if line or not lines:
        lines.append(line)
    return lines


def _shrink(widths: list[int], floors: list[int], room: int) -> list[int]:
    """The last resort: take one column at a time off the widest column, down to its header, then below."""
    widths = list(widths)
    for floor in (floors, [1] * len(widths)):
        while sum(widths) > room:
            i = max(range(len(widths)), key=lambda j: widths[j] - floor[j])
            if widths[i] <= floor[i]:
                break
            widths[i] -= 1
    return widths


def human_count(n: int) -> str:
    """A count for people: exact up to 2^32, then 2^K-D when it is that close to a power of two, else ~1.2e19."""
    if n < 2**32:
        return str(n)
    k = n.bit_length()
    for p in (k - 1, k):
        d = n - 2**p
        if abs(d) <= 1024:
            return f"2^{p}" + (f"{d:+d}" if d else "")
    return f"~{n:.1e}".replace("e+", "e")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _len(text: str) -> int:
    from rich.cells import cell_len

    return cell_len(text)


def _longest(text: str) -> int:
    return max((_len(w) for w in text.split()), default=0)


def _tsv(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


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
