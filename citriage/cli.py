"""The `citriage` command."""

from __future__ import annotations

import functools
import json
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

# click, not typer: typer 0.29 imports pydantic to coerce parameters, 0.1 s of CPU at
# every start; rich is imported only where something is printed for people, not for --json.
import click
from click.exceptions import Exit

from citriage.scanner import patterns as pattern_files
from citriage.scanner.engine import Match, PatternSet, ScanReport
from citriage.scanner.logtext import LogText, read_log
from citriage.scanner.ranking import best_match

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from citriage.scanner import failure_lines as finder

USAGE_ERROR = 2
PATH = click.Path(path_type=Path)


class _Group(click.Group):
    """Lists its commands in the order they are declared, then its groups (not
    alphabetically)."""

    group_class = type  # subgroups are _Group too

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands, key=lambda name: isinstance(self.commands[name], click.Group))


@click.group(cls=_Group, no_args_is_help=True, context_settings={"show_default": True})
def app() -> None:
    """citriage: why did CI fail, and is it my fault?"""


def fail(message: str) -> Exit:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(f"[bold red]citriage:[/] {escape(message)}")
    return Exit(USAGE_ERROR)


def _match_json(match: Match) -> dict[str, Any]:
    return {
        "pattern_id": match.pattern_id,
        "line": match.line,
        "span": [match.start, match.end],
        "text": match.text,
        "captures": list(match.captures),
    }


def _write_json_record(head: dict[str, Any], matches: list[Match], tail: dict[str, Any]) -> None:
    """One file's object on one line, `matches` between `head` and `tail`, written a match at
    a time: 200,000 matches of 16 KiB lines would be gigabytes as one string."""
    out = sys.stdout
    out.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "matches": [')
    for number, match in enumerate(matches):
        out.write((", " if number else "") + json.dumps(_match_json(match), ensure_ascii=False))
    out.write("], " + json.dumps(tail, ensure_ascii=False)[1:] + "\n")


def _failure_lines_json(log: LogText, baseline: finder.Baseline | None) -> dict[str, Any]:
    """The finder's top candidates (pattern-independent), the best one's signature, and how
    much of the log the finder looked at (its work is bounded: lines before
    `failure_lines_cut_before` were not, when it is not 0; `failure_lines_unjudged` lines
    that might have ranked were left unjudged, when it is not 0)."""
    from citriage.scanner import failure_lines as finder
    from citriage.scanner.signature import signature

    result = finder.failure_lines(log, baseline=baseline)
    found = result.candidates
    return {
        "failure_lines": [
            {"line": c.line, "text": c.text, "score": c.score, "reason": c.reason} for c in found
        ],
        "signature": signature(found[0].text) if found else None,
        "failure_lines_looked_at": result.looked_at,
        "failure_lines_cut_before": result.cut_before,
        "failure_lines_unjudged": result.unjudged,
    }


@app.command()
@click.argument(
    "logs",
    nargs=-1,
    required=True,
    help="Log files (.gz, .zst, CircleCI step output JSON, or - for stdin).",
)
@click.option(
    "--patterns",
    "-p",
    type=PATH,
    help="Pattern file (Dr. CI dump or citriage format). Default: the built-in library.",
)
@click.option(
    "--step", help="Step name the logs belong to; without it, step restrictions are ignored."
)
@click.option(
    "--context",
    type=click.IntRange(0, 50),
    default=2,
    help="Context lines around the best match.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per input file, one per line."
)
@click.option("--engine", default="auto", help="auto, hyperscan or re.")
@click.option(
    "--failure-lines/--no-failure-lines",
    default=True,
    help="With --json, also find the lines most likely to explain the failure.",
)
@click.option(
    "--baseline",
    type=PATH,
    help="A passing log of the same job and step: failure lines it has too say little.",
)
def scan(
    logs: tuple[str, ...],
    patterns: Path | None,
    step: str | None,
    context: int,
    as_json: bool,
    engine: str,
    failure_lines: bool,
    baseline: Path | None,
) -> None:
    """Scan logs against a pattern library and show the matches and the best one."""
    if engine not in ("auto", "hyperscan", "re"):
        raise fail(f"unknown engine {engine!r}: use auto, hyperscan or re")
    missing = [name for name in logs if name != "-" and not Path(name).is_file()]
    if baseline is not None and not baseline.is_file():
        missing.append(str(baseline))
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
    if failure_lines or baseline is not None:
        # Imported when asked for: the finder's rules and numpy take longer to load than
        # a scan of a log of a few MB.
        from citriage.scanner import failure_lines as finder
    passing = finder.Baseline.of(read_log(baseline)) if baseline is not None else None
    if not as_json:
        from rich.console import Console

        console = Console(highlight=False)
    for name in logs:
        log = read_log(name)
        report = pattern_set.run(log, step)
        matches = report.matches
        best = best_match(matches, by_id.get)
        if as_json:
            head = {
                "file": name,
                "lines": log.line_count,
                "truncated": log.truncated,
                "warnings": log.warnings,
                "timed_out": {str(i): reason for i, reason in sorted(report.timed_out.items())},
                "capped": sorted(report.capped),
            }
            tail = {
                "best": _match_json(best) if best else None,
                **(_failure_lines_json(log, passing) if failure_lines else {}),
            }
            _write_json_record(head, matches, tail)
        else:
            lines = finder.failure_lines(log, baseline=passing) if failure_lines else None
            _print_human(console, name, log, report, best, by_id, context, lines)


def _print_human(
    console: Console,
    name: str,
    log: LogText,
    report: ScanReport,
    best: Match | None,
    by_id: dict[int, pattern_files.Pattern],
    context: int,
    likely: finder.FailureLines | None,
) -> None:
    from rich.markup import escape
    from rich.table import Table

    from citriage.scanner.excerpts import excerpt  # (here: --json needs none of these)

    matches = report.matches
    facts = [f"{log.line_count} lines"]
    if log.truncated:
        facts.append(f"truncated: first {log.dropped_lines} lines dropped")
    facts.extend(log.warnings)
    console.rule(f"[bold]{escape(name)}[/]  [dim]{escape(', '.join(facts))}[/]")
    for pattern_id, reason in sorted(report.timed_out.items()):
        console.print(f"[yellow]pattern {pattern_id} not applied:[/] {escape(reason)}")
    if best is None:
        console.print("no pattern matched")
        _print_failure_lines(console, likely)
        return
    pattern = by_id[best.pattern_id]
    tags = f" [{', '.join(pattern.tags)}]" if pattern.tags else ""
    console.print(
        f"[bold]best match:[/] pattern {pattern.id} "
        f"{escape(pattern.description or pattern.expression)}{escape(tags)} at line {best.line}"
    )
    console.print(escape(excerpt(log, best.line, context, best.span).plain()), soft_wrap=True)
    if report.capped:
        console.print(
            f"[dim]patterns {', '.join(map(str, sorted(report.capped)))} matched more lines "
            "than are kept: their first 999 matches and their last are shown[/]"
        )
    _print_failure_lines(console, likely)
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


def _print_failure_lines(console: Console, likely: finder.FailureLines | None) -> None:
    """The finder's likeliest failure lines (the failing test is often among them, whether
    or not a pattern matched); None when they were not asked for."""
    from rich.markup import escape

    if likely is None:
        return
    found = likely.candidates
    if not found:
        console.print("[bold]likely failure lines:[/] none found")
        return
    console.print("[bold]likely failure lines[/] [dim](found without patterns)[/]")
    width = len(str(max(c.line for c in found)))
    for candidate in found:
        shown = candidate.text if len(candidate.text) <= 200 else candidate.text[:197] + "..."
        console.print(
            f"  {candidate.line:>{width}} | {escape(shown)}  [dim]({escape(candidate.reason)})[/]",
            soft_wrap=True,
        )
    if likely.cut_before or likely.unjudged:
        console.print(f"  [dim]({escape(_finder_limits(likely))})[/]")


def _finder_limits(likely: finder.FailureLines) -> str:
    """What the finder's bounds on its work left out of one log."""
    said = []
    if likely.cut_before:
        said.append(f"looked only at lines from {likely.cut_before} on")
    if likely.unjudged:
        said.append(
            f"stopped after judging {likely.judged:,} lines; {likely.unjudged:,} more "
            "might have ranked"
        )
    return "; ".join(said)


# -- the service ----------------------------------------------------------------


def django_setup(*, migrate: bool = True, static: bool = False) -> None:
    """Configure Django and bring the database schema up to date (every command works on
    an empty data directory), unless CITRIAGE_MIGRATE_ON_START is off: then `citriage
    migrate` does it, once per deployment; with `static`, collect the static files
    pages need."""
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "citriage.settings")
    django.setup()
    from django.conf import settings

    if migrate and settings.MIGRATE_ON_START:
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
    if static:
        from citriage.web import staticfiles

        staticfiles.collect()


@app.command()
def migrate() -> None:
    """Bring the database schema up to date and make the log store's bucket or folder
    (run once per deployment, before web, workers and scheduler start)."""
    django_setup(migrate=False)
    from django.core.management import call_command
    from rich.console import Console

    from citriage import logstore

    call_command("migrate", interactive=False, verbosity=1)
    try:
        logstore.log_store().create()
    except Exception as exc:  # fsspec backends raise their own kinds
        raise fail(f"the log store {logstore.log_store().url}: {exc}") from None
    Console().print("database migrated; log store ready")


@app.command()
@click.option("--port", default=8000, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option("--workers", default=2, help="Web worker processes.")
@click.option(
    "--threads",
    default=4,
    help="Threads per worker: a request that computes (a workbench try) leaves the "
    "others free for webhook deliveries.",
)
def web(port: int, host: str, workers: int, threads: int) -> None:
    """Serve the web UI and the webhook endpoint (gunicorn)."""
    import os

    django_setup(static=True)
    os.execvp(
        sys.executable,
        [
            sys.executable,
            "-m",
            "gunicorn",
            "citriage.wsgi:application",
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "5",
        ],
    )


@app.command()
@click.option("--queue", multiple=True, default=["*"], help="Queues to work on (repeatable).")
@click.option("--batch/--no-batch", default=False, help="Exit once the queue is empty.")
@click.option("--interval", default=1.0, help="Seconds between polls of an empty queue.")
def worker(queue: tuple[str, ...], batch: bool, interval: float) -> None:
    """Run background tasks (any number of workers may run against PostgreSQL)."""
    django_setup()
    from citriage.ops.worker import run_worker

    run_worker(queues=list(queue), interval=interval, batch=batch)


@app.command()
def scheduler() -> None:
    """Run the periodic sweeps (they only enqueue tasks; two schedulers do not double up)."""
    django_setup()
    from citriage.ops.scheduler import run_scheduler

    run_scheduler()


@app.command()
@click.option("--commits", default=200, help="Commits on the main branch.")
@click.option("--pulls", default=30, help="Pull requests.")
@click.option("--jobs", type=int, help="Jobs per commit (default: all 24).")
@click.option("--seed", default=2026, help="Random seed (same seed, same history).")
@click.option(
    "--scan/--no-scan", default=False, help="Scan the logs now instead of leaving it to a worker."
)
def demo(commits: int, pulls: int, jobs: int | None, seed: int, scan: bool) -> None:
    """Generate a realistic CI history for the fictional repository acme/rocket."""
    django_setup()
    from rich.console import Console
    from rich.progress import Progress

    from citriage.ci.models import Repository
    from citriage.demo.history import REPOSITORY, generate_demo

    console = Console()
    owner, name = REPOSITORY.split("/")
    if Repository.objects.filter(owner=owner, name=name).exists():
        raise fail(f"{REPOSITORY} already has data; the demo only fills an empty repository")

    with Progress(console=console, transient=True) as bar:
        progress_task = bar.add_task("generating CI history", total=None)
        counts = generate_demo(
            commits=commits,
            pulls=pulls,
            jobs=jobs,
            seed=seed,
            progress=lambda done, total: bar.update(progress_task, completed=done, total=total),
        )
    console.print(
        f"demo: {counts['commits']} commits, {counts['jobs']} job attempts, "
        f"{counts['logs']} failed-step logs"
    )
    if scan:
        _scan_now(console)


def _scan_now(console: Console) -> None:
    """Scan what is not scanned, and recompute the verdicts that changed, here and now."""
    from citriage.patterns import scanning
    from citriage.triage import summary

    done = scanning.scan_backlog(time_budget=float("inf"))
    console.print(f"scanned {done} logs")
    commits = summary.summarize_stale()
    console.print(f"verdicts recomputed on {commits} commits")


@app.command()
@click.option("--status", is_flag=True, help="Show scan progress and exit.")
@click.option("--log", type=int, multiple=True, help="Rescan this stored log (repeatable).")
@click.option("--job", type=int, multiple=True, help="Rescan the logs of this job attempt.")
@click.option(
    "--commit", multiple=True, help="Rescan the logs of jobs on this commit (sha or prefix)."
)
@click.option("--all", "all_logs", is_flag=True, help="Rescan every stored log from scratch.")
@click.option(
    "--now/--no-now", default=False, help="Scan here and now instead of queueing for a worker."
)
def rescan(
    status: bool,
    log: tuple[int, ...],
    job: tuple[int, ...],
    commit: tuple[str, ...],
    all_logs: bool,
    now: bool,
) -> None:
    """Rescan stored logs from scratch, or show how far scanning has got."""
    django_setup()
    from rich.console import Console

    from citriage.ci.models import StoredLog
    from citriage.patterns import scanning
    from citriage.patterns.tasks import scan_backlog_task

    console = Console()
    if not status:
        chosen = StoredLog.objects.none()
        if all_logs:
            chosen = StoredLog.objects.all()
        for log_id in log:
            chosen = chosen | StoredLog.objects.filter(pk=log_id)
        for job_id in job:
            chosen = chosen | StoredLog.objects.filter(job_id=job_id)
        for sha in commit:
            if len(sha) < 7:
                raise fail(f"commit {sha!r}: give at least 7 characters of the sha")
            chosen = chosen | StoredLog.objects.filter(job__sha__startswith=sha)
        if not (all_logs or log or job or commit):
            raise fail("say what to rescan: --log, --job, --commit or --all (or --status)")
        count = scanning.request_full_rescan(chosen)
        console.print(f"{count} log(s) marked for a full rescan")
        if now:
            _scan_now(console)
        else:
            scan_backlog_task.enqueue()
            console.print("queued: a running `citriage worker` will do it")
    progress = scanning.scan_progress()
    console.print(
        f"{progress['up_to_date']} of {progress['logs']} logs scanned with every pattern "
        f"(highest pattern id {progress['highest_pattern']}); backlog {progress['backlog']}"
    )


@app.group("patterns", no_args_is_help=True)
def patterns_app() -> None:
    """Import and export the pattern library."""


@patterns_app.command("import")
@click.argument("file", type=PATH, help="A Dr. CI pattern dump or a citriage pattern file.")
@click.option(
    "--renumber/--no-renumber",
    default=False,
    help="Give imported patterns new ids (skip ones already present).",
)
def patterns_import(file: Path, renumber: bool) -> None:
    """Add patterns to the library; every stored log is then scanned for the new ones."""
    django_setup()
    from rich.console import Console

    from citriage.patterns import library

    try:
        report = library.import_patterns(pattern_files.load(file), renumber=renumber)
    except (pattern_files.PatternError, library.LibraryError) as exc:
        raise fail(str(exc)) from None
    Console().print(
        f"{len(report.created)} created, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged"
    )


@patterns_app.command("export")
@click.option("--output", "-o", type=PATH, help="File to write (default: stdout).")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of YAML.")
@click.option("--active-only/--no-active-only", default=False, help="Leave out retired patterns.")
def patterns_export(output: Path | None, as_json: bool, active_only: bool) -> None:
    """Write the library in citriage's pattern format (import reads it back unchanged)."""
    django_setup()
    from citriage.patterns import library

    text = pattern_files.dumps(
        library.export_patterns(include_retired=not active_only), as_json=as_json
    )
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


@app.group("repos", no_args_is_help=True)
def repos_app() -> None:
    """Repositories citriage watches."""


PROVIDERS = ("circleci", "github-actions")


@repos_app.command("add")
@click.argument("full_name", help="owner/name on GitHub.")
@click.option(
    "--provider",
    multiple=True,
    default=["circleci"],
    help="CI provider: circleci or github-actions (repeatable).",
)
@click.option("--default-branch", help="Default branch (default: main, or what webhooks say).")
def repos_add(full_name: str, provider: tuple[str, ...], default_branch: str | None) -> None:
    """Watch a repository (or add a provider to one already watched)."""
    django_setup()
    from rich.console import Console

    from citriage.ci import recording

    unknown = [p for p in provider if p not in PROVIDERS]
    if unknown:
        raise fail(f"unknown provider {unknown[0]!r}: use {' or '.join(PROVIDERS)}")
    try:
        repository = recording.get_repository(full_name, create=True)
    except ValueError as exc:
        raise fail(str(exc)) from None
    repository.providers = sorted(set(repository.providers) | set(provider))
    if default_branch:
        repository.default_branch = default_branch
    repository.save()
    Console().print(
        f"watching {repository.full_name} ({', '.join(repository.providers)}; "
        f"default branch {repository.default_branch})"
    )


@repos_app.command("list")
def repos_list() -> None:
    """Show the watched repositories."""
    django_setup()
    from rich.console import Console
    from rich.table import Table

    from citriage.ci.models import Repository

    table = Table("repository", "providers", "default branch", "jobs")
    for repository in Repository.objects.order_by("owner", "name"):
        table.add_row(
            repository.full_name,
            ", ".join(repository.providers),
            repository.default_branch,
            str(repository.jobs.count()),
        )
    Console().print(table)


@repos_app.command("token")
@click.argument("full_name", help="owner/name of a watched repository.")
@click.option("--name", default="", show_default=False, help="What the token is for (e.g. the CI).")
@click.option("--revoke", help="Revoke the token starting with these characters.")
@click.option("--list", "list_tokens", is_flag=True, help="List the tokens.")
def repos_token(full_name: str, name: str, revoke: str | None, list_tokens: bool) -> None:
    """Create (default), list or revoke the tokens that upload test reports for a repository."""
    django_setup()
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from citriage.ci.models import Repository
    from citriage.testresults import uploads
    from citriage.testresults.models import UploadToken

    owner, _, short = full_name.partition("/")
    repository = Repository.objects.filter(owner=owner, name=short).first()
    if repository is None:
        raise fail(f"{full_name} is not watched; add it with `citriage repos add {full_name}`")
    console = Console(highlight=False)
    if list_tokens:
        table = Table("token", "name", "created", "last used", "state")
        for row in UploadToken.objects.filter(repository=repository):
            table.add_row(
                f"{row.prefix}…",
                escape(row.name),
                f"{row.created:%Y-%m-%d %H:%M} {escape(row.created_by)}",
                f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never",
                "active" if row.active else f"revoked {row.revoked_at:%Y-%m-%d}",
            )
        console.print(table)
        return
    if revoke:
        found = list(
            UploadToken.objects.filter(
                repository=repository, prefix__startswith=revoke[:12], revoked_at__isnull=True
            )
        )
        if len(found) != 1:
            raise fail(f"{len(found)} active tokens of {full_name} start with {revoke!r}")
        uploads.revoke(found[0])
        console.print(f"revoked {found[0].prefix}… of {full_name}")
        return
    _row, token = uploads.create_token(repository, name=name, created_by="citriage repos token")
    console.print(f"upload token for {full_name} (shown only now; keep it secret):")
    sys.stdout.write(token + "\n")


UPLOAD_COLUMNS = ("tests", "failures", "errors", "skipped", "reruns")


def _print_uploads(console: Console, reports: list[dict[str, Any]]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table("report", "format", *UPLOAD_COLUMNS, "flaky tests", "stored")
    for report in reports:
        if error := report.get("error"):
            # some errors say "refused: ..." themselves
            said = error if error.startswith("refused") else f"refused: {error}"
            table.add_row(
                escape(report["name"]),
                "",
                *[""] * len(UPLOAD_COLUMNS),
                "",
                f"[red]{escape(said)}[/]",
            )
            continue
        table.add_row(
            escape(report["name"]),
            report.get("format", ""),
            *[str(report.get(column, 0)) for column in UPLOAD_COLUMNS],
            str(report.get("flaky_tests", 0)),
            "yes" if report.get("stored") else "already stored" if "stored" in report else "-",
        )
    console.print(table)


@app.command("upload-tests")
@click.argument(
    "reports", nargs=-1, required=True, type=PATH, help="Test report files (JUnit XML, ...)."
)
@click.option("--repo", default="", show_default=False, help="owner/name of the repository.")
@click.option(
    "--commit",
    default="",
    show_default=False,
    help="The commit the tests ran on (40-digit sha).",
)
@click.option("--job", default="", show_default=False, help="The job's name (as the CI calls it).")
@click.option(
    "--attempt", type=click.IntRange(min=1), default=1, help="The job's attempt (rerun) number."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--dry-run", is_flag=True, help="Read the reports here; send nothing.")
@click.option(
    "--url",
    envvar="CITRIAGE_URL",
    show_envvar=True,
    default="http://127.0.0.1:8000",
    help="citriage's address.",
)
@click.option(
    "--token",
    envvar="CITRIAGE_UPLOAD_TOKEN",
    show_envvar=True,
    default="",
    show_default=False,
    help="The repository's upload token.",
)
def upload_tests(
    reports: tuple[Path, ...],
    repo: str,
    commit: str,
    job: str,
    attempt: int,
    as_json: bool,
    dry_run: bool,
    url: str,
    token: str,
) -> None:
    """Send test reports to citriage for a job of any CI; print what was stored per report
    (tests, failures, errors, skipped, flaky reruns). Exit status 1 if a report was refused."""
    from rich.console import Console

    from citriage.providers.base import ProviderError
    from citriage.providers.http import HttpClient
    from citriage.testreports.model import ReportError
    from citriage.testreports.reports import read_report

    missing = [str(r) for r in reports if not r.is_file()]
    if missing:
        raise fail(f"no such report: {', '.join(missing)}")
    console = Console(highlight=False)
    if dry_run:
        results: list[dict[str, Any]] = []
        for path in reports:
            try:
                report = read_report(path)
            except ReportError as exc:
                results.append({"name": path.name, "error": str(exc)})
                continue
            flaky = sum(case.flaky for case in report.merged_cases())
            results.append(
                {
                    "name": path.name,
                    "format": report.format,
                    **report.counts.as_dict(),
                    "flaky_tests": flaky,
                    "error": "",
                }
            )
        answer: dict[str, Any] = {"dry_run": True, "reports": results}
    else:
        if not (repo and commit and job):
            raise fail("say which job the reports are of: --repo, --commit and --job")
        if not token:
            raise fail("no upload token: set CITRIAGE_UPLOAD_TOKEN or pass --token")
        client = HttpClient(url.rstrip("/"), headers={"Authorization": f"Bearer {token}"})
        handles = [path.open("rb") for path in reports]
        try:
            response = client.request(
                "POST",
                "/api/test-reports",
                data={"repository": repo, "commit": commit, "job": job, "attempt": attempt},
                files=[
                    ("reports", (path.name, handle))
                    for path, handle in zip(reports, handles, strict=True)
                ],
            )
            answer = response.json()
        except ProviderError as exc:
            raise fail(str(exc)) from None
        finally:
            for handle in handles:
                handle.close()
            client.close()
    if as_json:
        sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
    else:
        if answer.get("job_url"):
            console.print(
                f"stored for {answer['repository']}: {url.rstrip('/')}{answer['job_url']}"
            )
        _print_uploads(console, answer["reports"])
    if any(r.get("error") for r in answer["reports"]):
        raise Exit(1)


@app.group("tests", no_args_is_help=False)
def tests_app() -> None:
    """Test results: check reports against the quarantine."""


def _quarantine_from_server(url: str, repo: str) -> list[dict[str, Any]]:
    from citriage.providers.base import ProviderError
    from citriage.providers.http import HttpClient

    owner, _, name = repo.partition("/")
    client = HttpClient(url.rstrip("/"))
    try:
        response = client.request("GET", f"/api/repos/{owner}/{name}/quarantine")
        rows: list[dict[str, Any]] = response.json()["quarantined"]
        return rows
    except ProviderError as exc:
        raise fail(f"could not read the quarantine of {repo} from {url}: {exc}") from None
    finally:
        client.close()


def _quarantine_from_database(repo: str) -> list[dict[str, Any]]:
    django_setup()
    from citriage.ci.models import Repository
    from citriage.flaky import quarantine

    owner, _, name = repo.partition("/")
    repository = Repository.objects.filter(owner=owner, name=name).first()
    if repository is None:
        raise fail(f"{repo} is not a watched repository")
    return [
        {
            "key": row.test.key,
            "label": row.test.label,
            "reason": row.reason,
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        }
        for row in quarantine.active(repository).values()
    ]


@tests_app.command("check")
@click.argument(
    "reports", nargs=-1, required=True, type=PATH, help="Test report files (JUnit XML, ...)."
)
@click.option("--repo", required=True, help="owner/name of the repository.")
@click.option(
    "--url",
    envvar="CITRIAGE_URL",
    show_envvar=True,
    default="",
    show_default=False,
    help="citriage's address: the quarantine is read from its API. Without it, "
    "from the local database (on citriage's own host).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tests_check(reports: tuple[Path, ...], repo: str, url: str, as_json: bool) -> None:
    """Print the failing tests of the reports, each quarantined or not. Exit status 0 when
    every failing test is quarantined (or none failed), 1 otherwise, 2 on bad input:
    a CI step can keep running quarantined tests without failing the build."""
    from citriage.testreports.model import FAILING, ReportError
    from citriage.testreports.reports import read_report

    if "/" not in repo:
        raise fail(f"--repo must be owner/name, got {repo!r}")
    missing = [str(r) for r in reports if not r.is_file()]
    if missing:
        raise fail(f"no such report: {', '.join(missing)}")
    failing: dict[str, str] = {}  # test key -> name
    for path in reports:
        try:
            report = read_report(path)
        except ReportError as exc:
            raise fail(f"{path}: {exc}") from None
        for case in report.merged_cases():
            if case.outcome in FAILING:
                failing[case.key] = f"{case.suite}::{case.name}" if case.suite else case.name
    rows = _quarantine_from_server(url, repo) if url else _quarantine_from_database(repo)
    quarantined = {str(row["key"]): row for row in rows}
    results = [
        {
            "test": name,
            "quarantined": key in quarantined,
            "reason": quarantined[key]["reason"] if key in quarantined else "",
        }
        for key, name in sorted(failing.items(), key=lambda item: item[1])
    ]
    blocking = [r for r in results if not r["quarantined"]]
    if as_json:
        answer = {"failing": results, "ok": not blocking}
        sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
    else:
        from rich.console import Console
        from rich.markup import escape

        console = Console(highlight=False)
        for row in results:
            what = f"quarantined ({row['reason']})" if row["quarantined"] else "FAILED"
            console.print(f"{escape(str(row['test']))}: {escape(what)}")
        console.print(
            f"{len(results)} failing test(s), {len(results) - len(blocking)} quarantined"
            + (f", {len(blocking)} not" if blocking else "")
        )
    if blocking:
        raise Exit(1)


def _advance(bar: Progress, task_id: TaskID, completed: int) -> None:
    bar.update(task_id, completed=completed)


@app.command()
@click.option(
    "--repo",
    multiple=True,
    help="owner/name (repeatable; default: every watched repository).",
)
@click.option("--branch", help="Only this branch (default: all branches).")
@click.option("--since", help="Only builds since this date (YYYY-MM-DD).")
def backfill(repo: tuple[str, ...], branch: str | None, since: str | None) -> None:
    """Pull builds (CircleCI) and workflow runs (GitHub Actions) citriage does not have;
    failed ones get their logs fetched.

    Running it twice changes nothing the second time.
    """
    django_setup()
    from datetime import UTC

    from rich.console import Console

    from citriage.ci import sources
    from citriage.ci.models import Repository

    when = None
    if since:
        try:
            when = datetime.fromisoformat(since).replace(tzinfo=UTC)
        except ValueError:
            raise fail(f"--since {since!r}: expected a date like 2026-11-01") from None
    chosen = [] if repo else [r for r in Repository.objects.all() if r.providers]
    for name in repo:
        owner, _, short = name.partition("/")
        found = Repository.objects.filter(owner=owner, name=short).first()
        if found is None:
            raise fail(f"{name} is not watched; add it with `citriage repos add {name}`")
        chosen.append(found)
    console = Console()
    for repository in chosen:
        name = repository.full_name
        for source in sources.watched(repository):
            if problem := source.configured(repository):
                console.print(f"{name}: {problem}")
                continue
            counts = _backfill_one(
                console,
                f"{name}: reading {source.provider}",
                source.backfill,
                repository,
                branch,
                when,
            )
            if "runs" in counts:
                console.print(
                    f"{name}: {counts['seen']} of {counts['runs']} workflow run(s) "
                    f"read, {counts['recorded']} job(s) recorded; "
                    f"{counts['to_fetch']} job(s) with logs owed (failed, or a passing sample)"
                )
            else:
                console.print(
                    f"{name}: {counts['seen']} new or unfinished build(s) recorded; "
                    f"{counts['to_fetch']} build(s) with logs owed (failed, or a passing sample)"
                )


def _backfill_one(
    console: Console,
    label: str,
    backfill: Callable[..., dict[str, int]],
    repository: Any,
    branch: str | None,
    since: datetime | None,
) -> dict[str, int]:
    """Run one provider's backfill with a progress line; an API error ends the command."""
    from rich.progress import Progress

    from citriage.providers.base import ProviderError

    with Progress(console=console, transient=True) as bar:
        task_id = bar.add_task(label, total=None)
        try:
            return backfill(
                repository,
                branch=branch,
                since=since,
                progress=functools.partial(_advance, bar, task_id),
            )
        except ProviderError as exc:
            raise fail(f"{repository.full_name}: {exc}") from None


@app.group("github", no_args_is_help=True)
def github_app() -> None:
    """The GitHub App citriage reports through."""


@github_app.command("setup")
@click.option("--org", help="Create the App in this organization.")
@click.option("--code", help="Exchange this code (from GitHub's redirect) for credentials.")
def github_setup(org: str | None, code: str | None) -> None:
    """Register citriage as a GitHub App (App-manifest flow).

    Without --code: print the manifest and the page of a running citriage that
    sends it to GitHub. With --code: print the environment variables for the new App.
    """
    django_setup(migrate=False)
    from django.conf import settings
    from rich.console import Console

    from citriage.github import setup

    console = Console()
    if code:
        try:
            registered = setup.convert(code)
        except Exception as exc:  # httpx errors, bad JSON: say what happened
            raise fail(f"GitHub refused the code: {exc}") from None
        for name, value in setup.environment(registered).items():
            sys.stdout.write(f"{name}={json.dumps(value)}\n")
        return
    query = f"?org={org}" if org else ""
    console.print(
        f"Open {settings.PUBLIC_URL}/github/setup{query} (as a staff user) and press the button,"
    )
    console.print(f"or post this manifest to {setup.registration_url(org)} yourself:")
    sys.stdout.write(json.dumps(setup.manifest(), indent=2) + "\n")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@click.pass_context
def manage(ctx: click.Context) -> None:
    """Run a Django management command: `citriage manage createsuperuser` (the database is
    migrated first, so it works on an empty data directory)."""
    django_setup()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["citriage manage", *ctx.args])


@app.command()
@click.option("--port", default=8000, help="Web port.")
@click.option("--host", default="127.0.0.1", help="Web address.")
@click.option(
    "--demo/--no-demo", "with_demo", default=True, help="Load demo data into an empty database."
)
@click.pass_context
def up(ctx: click.Context, port: int, host: str, with_demo: bool) -> None:
    """Web, worker and scheduler in one foreground process group (Ctrl-C stops all; one
    that dies is started again)."""
    django_setup(static=True)
    from rich.console import Console

    console = Console()
    from citriage.ci.models import JobAttempt

    if with_demo and not JobAttempt.objects.exists():
        console.print("empty database: generating the demo history (acme/rocket) ...")
        ctx.invoke(demo, commits=200, pulls=30, jobs=None, seed=2026, scan=False)
    from django.db import connections

    from citriage.ops.metrics import forget_counts

    connections.close_all()
    forget_counts()  # every process starts here: the counters start from zero
    me = [sys.executable, "-m", "citriage.cli"]
    commands = {
        "web": [*me, "web", "--port", str(port), "--host", host],
        "worker": [*me, "worker"],
        "scheduler": [*me, "scheduler"],
    }
    console.print(f"citriage is running on http://{host}:{port}/ (Ctrl-C to stop)")
    supervise(console, commands)


def supervise(console: Console, commands: dict[str, list[str]]) -> None:
    """Run the processes until Ctrl-C (or SIGTERM): one that dies is started again, after
    a delay that grows while it keeps dying; the others carry on."""
    import subprocess

    children = {name: subprocess.Popen(command) for name, command in commands.items()}
    restarts = dict.fromkeys(commands, 0)
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    due: dict[str, float] = {}
    while not stopping:
        time.sleep(0.5)
        for name, child in children.items():
            code = child.poll()
            if code is None or name in due or stopping:
                continue
            restarts[name] += 1
            wait = min(30.0, 2.0 ** min(restarts[name], 5) / 2)
            console.print(
                f"[red]citriage {name} exited with {code}; starting it again in {wait:.0f} s[/]"
            )
            due[name] = time.monotonic() + wait
        for name, when in list(due.items()):
            if time.monotonic() >= when and not stopping:
                children[name] = subprocess.Popen(commands[name])
                del due[name]
    for child in children.values():
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
    raise Exit(0)


@app.command()
@click.option("--dry-run", is_flag=True, help="Only show what would be removed.")
def retention(dry_run: bool) -> None:
    """Remove what is past its retention time (the scheduler does it daily): processed
    webhook deliveries, finished task results, old stored logs and their matches, old test
    results and CI configurations, ..."""
    django_setup()
    from rich.console import Console
    from rich.table import Table

    from citriage.ops import retention as forgetting

    console = Console()
    if dry_run:
        table = Table("would be removed", "rows", title="retention (dry run)", title_justify="left")
        for what, count in forgetting.preview().items():
            table.add_row(what, f"{count:,}")
        console.print(table)
        return
    console.print(str(forgetting.run()))


@app.command()
@click.option("--queue/--no-queue", default=True, help="Also want the task queue healthy.")
@click.option("--process", help="Also check this process: worker (of this machine) or scheduler.")
@click.option("--url", help="Also want this URL to answer 200 (a web server).")
def check(queue: bool, process: str | None, url: str | None) -> None:
    """Is citriage able to work? The database, the log store and (with --queue) a live
    worker and a queue that moves; exits 1 naming what fails (for health checks of
    containers)."""
    if process not in (None, "worker", "scheduler"):
        raise fail(f"--process {process!r}: use worker or scheduler")
    django_setup(migrate=False)
    from rich.console import Console
    from rich.markup import escape

    from citriage.ops import health

    checks = health.readiness(with_queue=queue)
    if process == "worker":
        checks.append(health.this_worker())
    elif process == "scheduler":
        checks.append(health.scheduler())
    if url:
        checks.append(health.web(url))
    console = Console()
    for item in checks:
        mark = "[green]ok[/]" if item.ok else "[red]failing[/]"
        console.print(f"{item.name}: {mark} ({escape(item.detail)})")
    if not all(item.ok for item in checks):
        raise Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
