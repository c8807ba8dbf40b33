"""The `citriage` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from citriage.scanner import patterns as pattern_files
from citriage.scanner.engine import Match, PatternSet
from citriage.scanner.excerpts import excerpt
from citriage.scanner.logtext import LogText, read_log
from citriage.scanner.ranking import best_match

app = typer.Typer(
    help="citriage: why did CI fail, and is it my fault?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

USAGE_ERROR = 2


@app.callback()
def _root() -> None:
    """citriage: why did CI fail, and is it my fault?"""


def fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]citriage:[/] {escape(message)}")
    return typer.Exit(USAGE_ERROR)


def _match_json(match: Match) -> dict[str, Any]:
    return {
        "pattern_id": match.pattern_id,
        "line": match.line,
        "span": [match.start, match.end],
        "text": match.text,
        "captures": list(match.captures),
    }


@app.command()
def scan(
    logs: Annotated[
        list[str],
        typer.Argument(help="Log files (.gz, .zst, CircleCI step output JSON, or - for stdin)."),
    ],
    patterns: Annotated[
        Path | None,
        typer.Option(
            "--patterns",
            "-p",
            help="Pattern file (Dr. CI dump or citriage format). Default: the built-in library.",
        ),
    ] = None,
    step: Annotated[
        str | None,
        typer.Option(
            help="Step name the logs belong to; without it, step restrictions are ignored."
        ),
    ] = None,
    context: Annotated[
        int, typer.Option(min=0, max=50, help="Context lines around the best match.")
    ] = 2,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per input file, one per line.")
    ] = False,
    engine: Annotated[str, typer.Option(help="auto, hyperscan or re.")] = "auto",
) -> None:
    """Scan logs against a pattern library and show the matches and the best one."""
    if engine not in ("auto", "hyperscan", "re"):
        raise fail(f"unknown engine {engine!r}: use auto, hyperscan or re")
    missing = [name for name in logs if name != "-" and not Path(name).is_file()]
    if missing:
        raise fail(f"no such log file: {', '.join(missing)}")
    if logs.count("-") > 1:
        raise fail("stdin (-) can be given only once")
    try:
        library = pattern_files.load(patterns) if patterns else pattern_files.default_library()
        pattern_set = PatternSet(library, engine)  # type: ignore[arg-type]
    except pattern_files.PatternError as exc:
        raise fail(str(exc)) from None
    except RuntimeError as exc:
        raise fail(str(exc)) from None
    by_id = {p.id: p for p in library}
    console = Console(highlight=False)
    for name in logs:
        log = read_log(name)
        matches = pattern_set.scan(log, step)
        best = best_match(matches, by_id.get)
        if as_json:
            record = {
                "file": name,
                "lines": log.line_count,
                "truncated": log.truncated,
                "matches": [_match_json(m) for m in matches],
                "best": _match_json(best) if best else None,
            }
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            _print_human(console, name, log, matches, best, by_id, context)


def _print_human(
    console: Console,
    name: str,
    log: LogText,
    matches: list[Match],
    best: Match | None,
    by_id: dict[int, pattern_files.Pattern],
    context: int,
) -> None:
    facts = [f"{log.line_count} lines"]
    if log.truncated:
        facts.append(f"truncated: first {log.dropped_lines} lines dropped")
    facts.extend(log.warnings)
    console.rule(f"[bold]{escape(name)}[/]  [dim]{escape(', '.join(facts))}[/]")
    if best is None:
        console.print("no pattern matched")
        return
    pattern = by_id[best.pattern_id]
    tags = f" [{', '.join(pattern.tags)}]" if pattern.tags else ""
    console.print(
        f"[bold]best match:[/] pattern {pattern.id} "
        f"{escape(pattern.description or pattern.expression)}{escape(tags)} at line {best.line}"
    )
    console.print(escape(excerpt(log, best.line, context, best.span).plain()), soft_wrap=True)
    table = Table(title=f"{len(matches)} matches", title_justify="left")
    table.add_column("line", justify="right")
    table.add_column("pattern", justify="right")
    table.add_column("description")
    table.add_column("text", overflow="fold")
    for match in matches:
        shown = match.text if len(match.text) <= 200 else match.text[:197] + "..."
        table.add_row(
            str(match.line),
            str(match.pattern_id),
            escape(by_id[match.pattern_id].description),
            escape(shown),
        )
    console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
