"""The `citriage` command."""

from __future__ import annotations

import functools
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID
from rich.table import Table

from citriage.scanner import patterns as pattern_files
from citriage.scanner.engine import Match, PatternSet, ScanReport
from citriage.scanner.excerpts import excerpt
from citriage.scanner.logtext import LogText, read_log
from citriage.scanner.ranking import best_match
from citriage.scanner.signature import signature

if TYPE_CHECKING:
    from citriage.scanner import failure_lines as finder

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
    failure_lines: Annotated[
        bool,
        typer.Option(
            "--failure-lines/--no-failure-lines",
            help="With --json, also find the lines most likely to explain the failure.",
        ),
    ] = True,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            help="A passing log of the same job and step: failure lines it has too say little.",
        ),
    ] = None,
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

    from citriage import logstore

    call_command("migrate", interactive=False, verbosity=1)
    try:
        logstore.log_store().create()
    except Exception as exc:  # fsspec backends raise their own kinds
        raise fail(f"the log store {logstore.log_store().url}: {exc}") from None
    Console().print("database migrated; log store ready")


@app.command()
def web(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    workers: Annotated[int, typer.Option(help="Web worker processes.")] = 2,
    threads: Annotated[
        int,
        typer.Option(
            help="Threads per worker: a request that computes (a workbench try) leaves the "
            "others free for webhook deliveries."
        ),
    ] = 4,
) -> None:
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
def worker(
    queue: Annotated[list[str], typer.Option(help="Queues to work on (repeatable).")] = ["*"],  # noqa: B006
    batch: Annotated[bool, typer.Option(help="Exit once the queue is empty.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between polls of an empty queue.")] = 1.0,
) -> None:
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
def demo(
    commits: Annotated[int, typer.Option(help="Commits on the main branch.")] = 200,
    pulls: Annotated[int, typer.Option(help="Pull requests.")] = 30,
    jobs: Annotated[int | None, typer.Option(help="Jobs per commit (default: all 24).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same history).")] = 2026,
    scan: Annotated[
        bool, typer.Option(help="Scan the logs now instead of leaving it to a worker.")
    ] = False,
) -> None:
    """Generate a realistic CI history for the fictional repository acme/rocket."""
    django_setup()
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
def rescan(
    status: Annotated[bool, typer.Option("--status", help="Show scan progress and exit.")] = False,
    log: Annotated[list[int], typer.Option(help="Rescan this stored log (repeatable).")] = [],  # noqa: B006
    job: Annotated[list[int], typer.Option(help="Rescan the logs of this job attempt.")] = [],  # noqa: B006
    commit: Annotated[
        list[str], typer.Option(help="Rescan the logs of jobs on this commit (sha or prefix).")
    ] = [],  # noqa: B006
    all_logs: Annotated[
        bool, typer.Option("--all", help="Rescan every stored log from scratch.")
    ] = False,
    now: Annotated[
        bool, typer.Option(help="Scan here and now instead of queueing for a worker.")
    ] = False,
) -> None:
    """Rescan stored logs from scratch, or show how far scanning has got."""
    django_setup()
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


patterns_app = typer.Typer(help="Import and export the pattern library.", no_args_is_help=True)
app.add_typer(patterns_app, name="patterns")


@patterns_app.command("import")
def patterns_import(
    file: Annotated[Path, typer.Argument(help="A Dr. CI pattern dump or a citriage pattern file.")],
    renumber: Annotated[
        bool, typer.Option(help="Give imported patterns new ids (skip ones already present).")
    ] = False,
) -> None:
    """Add patterns to the library; every stored log is then scanned for the new ones."""
    django_setup()
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
def patterns_export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of YAML.")] = False,
    active_only: Annotated[bool, typer.Option(help="Leave out retired patterns.")] = False,
) -> None:
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


repos_app = typer.Typer(help="Repositories citriage watches.", no_args_is_help=True)
app.add_typer(repos_app, name="repos")

PROVIDERS = ("circleci", "github-actions")


@repos_app.command("add")
def repos_add(
    full_name: Annotated[str, typer.Argument(help="owner/name on GitHub.")],
    provider: Annotated[
        list[str], typer.Option(help="CI provider: circleci or github-actions (repeatable).")
    ] = ["circleci"],  # noqa: B006
    default_branch: Annotated[
        str | None, typer.Option(help="Default branch (default: main, or what webhooks say).")
    ] = None,
) -> None:
    """Watch a repository (or add a provider to one already watched)."""
    django_setup()
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
def repos_token(
    full_name: Annotated[str, typer.Argument(help="owner/name of a watched repository.")],
    name: Annotated[str, typer.Option(help="What the token is for (e.g. the CI).")] = "",
    revoke: Annotated[
        str | None, typer.Option(help="Revoke the token starting with these characters.")
    ] = None,
    list_tokens: Annotated[bool, typer.Option("--list", help="List the tokens.")] = False,
) -> None:
    """Create (default), list or revoke the tokens that upload test reports for a repository."""
    django_setup()
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
def upload_tests(
    reports: Annotated[list[Path], typer.Argument(help="Test report files (JUnit XML, ...).")],
    repo: Annotated[str, typer.Option(help="owner/name of the repository.")] = "",
    commit: Annotated[str, typer.Option(help="The commit the tests ran on (40-digit sha).")] = "",
    job: Annotated[str, typer.Option(help="The job's name (as the CI calls it).")] = "",
    attempt: Annotated[int, typer.Option(min=1, help="The job's attempt (rerun) number.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read the reports here; send nothing.")
    ] = False,
    url: Annotated[
        str, typer.Option(envvar="CITRIAGE_URL", help="citriage's address.")
    ] = "http://127.0.0.1:8000",
    token: Annotated[
        str, typer.Option(envvar="CITRIAGE_UPLOAD_TOKEN", help="The repository's upload token.")
    ] = "",
) -> None:
    """Send test reports to citriage for a job of any CI; print what was stored per report
    (tests, failures, errors, skipped, flaky reruns). Exit status 1 if a report was refused."""
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
        raise typer.Exit(1)


tests_app = typer.Typer(help="Test results: check reports against the quarantine.")
app.add_typer(tests_app, name="tests")


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
def tests_check(
    reports: Annotated[list[Path], typer.Argument(help="Test report files (JUnit XML, ...).")],
    repo: Annotated[str, typer.Option(help="owner/name of the repository.")],
    url: Annotated[
        str,
        typer.Option(
            envvar="CITRIAGE_URL",
            help="citriage's address: the quarantine is read from its API. Without it, "
            "from the local database (on citriage's own host).",
        ),
    ] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
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
        console = Console(highlight=False)
        for row in results:
            what = f"quarantined ({row['reason']})" if row["quarantined"] else "FAILED"
            console.print(f"{escape(str(row['test']))}: {escape(what)}")
        console.print(
            f"{len(results)} failing test(s), {len(results) - len(blocking)} quarantined"
            + (f", {len(blocking)} not" if blocking else "")
        )
    if blocking:
        raise typer.Exit(1)


def _advance(bar: Progress, task_id: TaskID, completed: int) -> None:
    bar.update(task_id, completed=completed)


@app.command()
def backfill(
    repo: Annotated[
        list[str], typer.Option(help="owner/name (repeatable; default: every watched repository).")
    ] = [],  # noqa: B006
    branch: Annotated[
        str | None, typer.Option(help="Only this branch (default: all branches).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only builds since this date (YYYY-MM-DD).")
    ] = None,
) -> None:
    """Pull builds (CircleCI) and workflow runs (GitHub Actions) citriage does not have;
    failed ones get their logs fetched.

    Running it twice changes nothing the second time.
    """
    django_setup()
    from datetime import UTC

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


github_app = typer.Typer(help="The GitHub App citriage reports through.", no_args_is_help=True)
app.add_typer(github_app, name="github")


@github_app.command("setup")
def github_setup(
    org: Annotated[str | None, typer.Option(help="Create the App in this organization.")] = None,
    code: Annotated[
        str | None,
        typer.Option(help="Exchange this code (from GitHub's redirect) for credentials."),
    ] = None,
) -> None:
    """Register citriage as a GitHub App (App-manifest flow).

    Without --code: print the manifest and the page of a running citriage that
    sends it to GitHub. With --code: print the environment variables for the new App.
    """
    django_setup(migrate=False)
    from django.conf import settings

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
def manage(ctx: typer.Context) -> None:
    """Run a Django management command: `citriage manage createsuperuser` (the database is
    migrated first, so it works on an empty data directory)."""
    django_setup()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["citriage manage", *ctx.args])


@app.command()
def up(
    port: Annotated[int, typer.Option(help="Web port.")] = 8000,
    host: Annotated[str, typer.Option(help="Web address.")] = "127.0.0.1",
    with_demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Load demo data into an empty database.")
    ] = True,
) -> None:
    """Web, worker and scheduler in one foreground process group (Ctrl-C stops all; one
    that dies is started again)."""
    django_setup(static=True)
    console = Console()
    from citriage.ci.models import JobAttempt

    if with_demo and not JobAttempt.objects.exists():
        console.print("empty database: generating the demo history (acme/rocket) ...")
        demo(commits=200, pulls=30, jobs=None, seed=2026, scan=False)
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
    raise typer.Exit(0)


@app.command()
def retention(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would be removed.")
    ] = False,
) -> None:
    """Remove what is past its retention time (the scheduler does it daily): processed
    webhook deliveries, finished task results, old stored logs and their matches, old test
    results and CI configurations, ..."""
    django_setup()
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
def check(
    queue: Annotated[
        bool, typer.Option("--queue/--no-queue", help="Also want the task queue healthy.")
    ] = True,
    process: Annotated[
        str | None,
        typer.Option(help="Also check this process: worker (of this machine) or scheduler."),
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="Also want this URL to answer 200 (a web server).")
    ] = None,
) -> None:
    """Is citriage able to work? The database, the log store and (with --queue) a live
    worker and a queue that moves; exits 1 naming what fails (for health checks of
    containers)."""
    if process not in (None, "worker", "scheduler"):
        raise fail(f"--process {process!r}: use worker or scheduler")
    django_setup(migrate=False)
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
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
