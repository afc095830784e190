"""`cnictl --help` without typer: the root's help screen, byte for byte what typer's rich help prints.

Importing typer (~45 ms) and its rich help module `typer.rich_utils` (~80 ms: rich.markdown with markdown-it,
pygments, rich.traceback) is most of what `cnictl --help` costs, for a screen that is static data. So
cnictl.cli.entry calls show() for the root's own help (no command word, or -h/--help among the root's
options), and show() prints the screen from cnictl.cli.rootspec with rich's console, panel, table and
columns alone, laid out as typer.rich_utils.rich_format_help (typer 0.28) lays it out: the same console
settings and environment variables, box, padding, styles, highlighters and widths.

The one piece of typer's help not taken as is: in markdown mode every help text is a rich.markdown.Markdown.
For a single line of plain text (no markdown syntax, no :emoji: code) Markdown renders one paragraph, a
left-justified Text with no style of its own, and measures as any width (it has no __rich_measure__):
Paragraph below does that, and show() declines (returns None: typer prints the help) when any text is not
plain in that sense, or when typer would not print this screen (TYPER_USE_RICH set, a program name that
click would wrap or spell `python -m ...`). tests/unit/test_roothelp.py compares the two, byte for byte,
across widths and colour modes. See docs/performance.md.
"""

from __future__ import annotations

import os
import sys

from cnictl.cli import rootspec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.highlighter import RegexHighlighter
    from rich.text import Text

# what typer.rich_utils (0.28) uses
STYLE_OPTION, STYLE_SWITCH, STYLE_TYPES, STYLE_USAGE = "bold cyan", "bold green", "bold yellow", "yellow"
STYLE_USAGE_COMMAND, STYLE_OPTION_ENVVAR, STYLE_OPTION_DEFAULT = "bold", "dim yellow", "dim"
STYLE_PANEL_BORDER, STYLE_COMMANDS_FIRST_COLUMN = "dim", "bold cyan"
THEME = {"option": STYLE_OPTION, "switch": STYLE_SWITCH, "negative_option": "bold magenta",
         "negative_switch": "bold red", "types": STYLE_TYPES, "types_sep": "dim", "usage": STYLE_USAGE}
OPTION_HIGHLIGHTS = [r"(^|\W)(?P<switch>\-\w+)(?![a-zA-Z0-9])", r"(^|\W)(?P<option>\-\-[\w\-]+)(?![a-zA-Z0-9])",
                     r"(?P<types>\<[^\>]+\>)", r"(?P<usage>Usage: )"]
NEGATIVE_HIGHLIGHTS = [r"(^|\W)(?P<negative_switch>\-\w+)(?![a-zA-Z0-9])",
                       r"(^|\W)(?P<negative_option>\-\-[\w\-]+)(?![a-zA-Z0-9])"]
TYPES_HIGHLIGHTS = [r"^(?P<types_sep>(\[|<))", r"(?P<types_sep>\|)", r"(?P<types_sep>(\]|>))(\.\.\.)?$"]
USAGE_ARGS = "[OPTIONS] COMMAND [ARGS]..."  # click's usage of a group with options

# what markdown (markdown-it's commonmark, and rich's Emoji.replace before it) could read as more than text; an
# underscore inside a word (br_netfilter) neither opens nor closes emphasis
_NOT_PLAIN = r"[\\`*\[\]<>~|\n\t]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|&#?\w+;|:\S*:|^[\s#>+=\-]|^\d{1,9}[.)](\s|$)|\s$"


def show(no_args: bool) -> int | None:
    """Print the root's help as typer would, and return the exit code typer's run gives (0 for --help; 2 for
    a line with no words, which prints the help as a usage error, with an empty line on stderr). None: not
    printed, typer has to."""
    prog = program_name()
    if prog is None or not plain():
        return None
    render(console(), prog)
    if no_args:
        sys.stderr.write("\n")  # click's NoArgsIsHelpError.show(): the help it carries is "" (rich printed it)
        return 2
    sys.stdout.write("\n")  # click's help option echoes get_help(), which is "" when rich printed it
    return 0


def program_name() -> str | None:
    """The name click puts in the usage line (click's _detect_program_name), or None where show() declines."""
    if "TYPER_USE_RICH" in os.environ:
        return None
    main = sys.modules.get("__main__")
    if getattr(main, "__package__", None) not in (None, ""):
        return None  # `python -m cnictl`: click spells it "python -m cnictl"
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    # click wraps the usage line at 48 columns at least: "Usage: " + prog + " " + USAGE_ARGS fits up to 14 here
    if not prog or len(prog) > 14 or any(c.isspace() for c in prog):
        return None
    return prog


def plain() -> bool:
    """Every text of the screen is one line that markdown renders as that text, unstyled."""
    import re

    texts = [rootspec.HELP, rootspec.EPILOG, *(o.help for o in rootspec.OPTIONS), *rootspec.COMMAND_HELP.values()]
    return all(t and not re.search(_NOT_PLAIN, t) for t in texts)


def console() -> Console:
    """typer.rich_utils._get_rich_console(), with the environment read now (typer reads it on import)."""
    from rich.console import Console
    from rich.theme import Theme

    getenv = os.environ.get
    force = True if getenv("GITHUB_ACTIONS") or getenv("FORCE_COLOR") or getenv("PY_COLORS") else None
    if getenv("_TYPER_FORCE_DISABLE_TERMINAL"):
        force = False
    width = getenv("TERMINAL_WIDTH")
    return Console(theme=Theme(THEME), highlighter=_highlighter(OPTION_HIGHLIGHTS), color_system="auto",
                   force_terminal=force, width=int(width) if width else None, stderr=False)


class Paragraph:
    """What rich.markdown.Markdown renders for one line of plain text with no style: a paragraph, that is a
    left-justified Text. Like Markdown it has no __rich_measure__, so a table or columns measure it as any
    width."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.text import Text

        text = Text(justify="left")
        text.append(self.text)
        yield text


def render(con: Console, prog: str) -> None:
    """Print the screen as typer.rich_utils.rich_format_help prints the root group's."""
    from rich.align import Align
    from rich.columns import Columns
    from rich.console import Group, RenderableType
    from rich.padding import Padding
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    highlight = _highlighter(OPTION_HIGHLIGHTS)
    negative = _highlighter(NEGATIVE_HIGHLIGHTS)
    types = _highlighter(TYPES_HIGHLIGHTS)

    con.print(Padding(highlight(f"Usage: {prog} {USAGE_ARGS}"), 1), style=STYLE_USAGE_COMMAND)
    con.print(Padding(Align(Group(Paragraph(rootspec.HELP), fit=True), pad=False), (0, 1, 1, 1)))

    options = Table(highlight=True, show_header=False, expand=True, box=None, show_lines=False, leading=0,
                    border_style=None, row_styles=None, pad_edge=False, padding=(0, 1))
    for opt in rootspec.OPTIONS:
        long = ",".join(o for o in opt.opts if "--" in o)
        short = ",".join(o for o in opt.opts if "--" not in o)
        metavar = Text(style=STYLE_TYPES, overflow="fold")
        if opt.metavar and "bool" not in opt.metavar.lower():
            metavar.append(opt.metavar)
        items: list[RenderableType] = [Paragraph(opt.help)]
        if opt.envvar:
            items.append(Text(f"[env var: {opt.envvar}]", style=STYLE_OPTION_ENVVAR))
        if opt.default is not None:
            items.append(Text(f"[default: {opt.default}]", style=STYLE_OPTION_DEFAULT))
        options.add_row(highlight(long), highlight(short), negative(""), negative(""), types(metavar), Columns(items))
    con.print(Panel(options, border_style=STYLE_PANEL_BORDER, title=_title("Options"), title_align="left"))

    names = [*rootspec.COMMANDS, *rootspec.GROUPS]
    commands = Table(highlight=False, show_header=False, expand=True, box=None, show_lines=False, leading=0,
                     border_style=None, row_styles=None, pad_edge=False, padding=(0, 1))
    commands.add_column(style=STYLE_COMMANDS_FIRST_COLUMN, no_wrap=True, width=max(len(n) for n in names))
    commands.add_column("Description", justify="left", no_wrap=False, ratio=10)
    for name in names:
        commands.add_row(Text(name), Paragraph(rootspec.COMMAND_HELP[name]))
    con.print(Panel(commands, border_style=STYLE_PANEL_BORDER, title=_title("Commands"), title_align="left"))

    con.print(Padding(Align(Paragraph(rootspec.EPILOG), pad=False), 1))


def _title(title: str) -> Text:
    """What Panel makes of a title given as a str (Text.from_markup) that has no markup and no :emoji: code,
    without loading rich's table of emoji codes (3 ms) to find none."""
    from rich.text import Text

    return Text(title, style="")


def _highlighter(highlights: list[str]) -> RegexHighlighter:
    """A RegexHighlighter with these patterns, as typer.rich_utils' OptionHighlighter and the others are."""
    from rich.highlighter import RegexHighlighter

    return type("Highlighter", (RegexHighlighter,), {"highlights": highlights})()
