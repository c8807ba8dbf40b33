"""The pages. Each view gathers a page's data in a few queries; interactive parts call the API."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncDate, TruncWeek
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_tables2 import RequestConfig
from django_tasks_db.models import DBTaskResult
from prometheus_client import CONTENT_TYPE_LATEST

from citriage.ci.models import (
    FAILED_CONCLUSIONS,
    Commit,
    CommitConfig,
    JobAttempt,
    RerunRequest,
    Step,
    StoredLog,
)
from citriage.ci.tasks import request_rerun
from citriage.failurelines.models import FailureAnalysis
from citriage.github.models import (
    Delivery,
    PostedCheck,
    PostedComment,
    RejectedDelivery,
)
from citriage.ops import health, metrics, queues
from citriage.patterns import library, scanning, stats
from citriage.patterns.models import BestMatch, Match, Pattern
from citriage.patterns.tasks import scan_backlog_task
from citriage.rules import latest_attempts
from citriage.triage import classifications, expected
from citriage.triage.models import (
    FLAKY_VERDICTS,
    Classification,
    CommitSummary,
    JobVerdict,
    Verdict,
)
from citriage.web import charts, flaky_views, history, previews, search, testresult_views
from citriage.web import system as system_state
from citriage.web.access import write_required
from citriage.web.tables import FailedJobTable, PatternFilter, PatternTable

DAYS_SHOWN = 14


def _failed_jobs() -> Any:
    return JobAttempt.objects.filter(conclusion__in=FAILED_CONCLUSIONS)


def _days(days: int = DAYS_SHOWN) -> list[Any]:
    today = timezone.localdate()
    return [today - timedelta(days=days - 1 - i) for i in range(days)]


def _start_of(day: Any) -> datetime:
    """Midnight of `day` in the current time zone: `finished_at >= _start_of(day)` is the
    same filter as `finished_at__date >= day`, but one the finished_at index serves."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _verdicts_by_day(jobs: Any, days: list[Any]) -> dict[str, list[int]]:
    """Failed jobs per day of `days`, by verdict (a job without verdict counts as pending)."""
    counts: dict[str, Counter[Any]] = defaultdict(Counter)
    rows = (
        jobs.filter(finished_at__gte=_start_of(days[0]))
        .annotate(day=TruncDate("finished_at"))
        .values("day", "verdict__verdict")
        .annotate(n=Count("id"))
    )
    for row in rows:
        counts[row["verdict__verdict"] or Verdict.PENDING][row["day"]] += row["n"]
    return {
        Verdict(v).label: [counts[v][day] for day in days] for v in Verdict.values if v in counts
    }


def home(request: HttpRequest) -> HttpResponse:
    days = _days()
    by_verdict = _verdicts_by_day(_failed_jobs(), days)
    colours = {Verdict(v).label: c for v, c in charts.VERDICT_COLOURS.items()}
    failed = (
        _failed_jobs()
        .select_related("repository", "verdict", "best__pattern", "best__match")
        .order_by("-finished_at", "-id")[:25]
    )
    week_ago = timezone.now() - timedelta(days=7)
    frequent = (
        BestMatch.objects.filter(job__finished_at__gte=week_ago)
        .values("pattern_id", "pattern__expression", "pattern__description")
        .annotate(jobs=Count("job"))
        .order_by("-jobs")[:10]
    )
    context = {
        "failures_plot": charts.to_json(charts.stacked_bars(days, by_verdict, colours)),
        "failed": failed,
        "frequent": frequent,
        "progress": scanning.scan_progress(),
    }
    return render(request, "web/home.html", context)


# -- patterns -------------------------------------------------------------------


def patterns(request: HttpRequest) -> HttpResponse:
    rows = Pattern.objects.select_related("stats").prefetch_related("tags")
    found = PatternFilter(request.GET, queryset=rows)
    shares, total = stats.scanned_share()
    table = PatternTable(found.qs, shares=shares, total=total)
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    return render(request, "web/patterns.html", {"filter": found, "table": table})


class PatternEditForm(forms.Form):
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    tags = forms.CharField(required=False, help_text="space-separated, e.g. flaky infra")
    specificity = forms.IntegerField(min_value=-1000, max_value=1000)
    has_nondeterministic_values = forms.BooleanField(required=False)


def _newest_weeks(matches: Any, jobs_per_week: dict[Any, int], wanted: int) -> Any:
    """`matches` (ordered newest job first) cut to the weeks holding its first `wanted`.

    The newest matches are found by walking the jobs' end-time index from today, which is
    quick unless the pattern has no recent matches (one retired long ago): bounding the
    walk by the weeks of its newest hits keeps that quick too. Each job it hits has at least
    one match, so weeks holding `wanted` of those jobs hold its first `wanted` matches.
    """
    if not jobs_per_week or None in jobs_per_week:  # jobs with no end time come first
        return matches
    newest_first = sorted(jobs_per_week, reverse=True)
    jobs = 0
    for oldest in newest_first:
        jobs += jobs_per_week[oldest]
        if jobs >= wanted:
            break
    # A day of margin on each side: week starts are local midnights.
    return matches.filter(
        job__finished_at__gte=oldest - timedelta(days=1),
        job__finished_at__lt=newest_first[0] + timedelta(days=8),
    )


def pattern(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(Pattern.objects.select_related("supersedes"), pk=pk)
    matches = (
        Match.objects.filter(pattern=row)
        .select_related("job", "log__step")
        .order_by("-job__finished_at", "-id")
    )
    # Count the jobs and logs it hits, not its matches (a job often has several): the
    # (pattern, job, log) index gives them without reading the matches themselves. For
    # the pattern in nearly every failure (275,000 entries): the job ids deduplicated in
    # the subquery (DISTINCT, in index order, not hashed), each log looked up once in the
    # (log, pattern) index (EXISTS; IN hashed the 275,000 entries in every worker).
    hits = Match.objects.filter(pattern=row)
    jobs_per_name: Counter[str] = Counter()
    jobs_per_week: Counter[Any] = Counter()
    # One pass for both plots: a job has one name and ends in one week, so the counts add up.
    for name, week, n in (
        JobAttempt.objects.filter(pk__in=hits.values("job_id").distinct())
        .values_list("name", TruncWeek("finished_at"))
        .annotate(n=Count("id"))
    ):
        jobs_per_name[name] += n
        jobs_per_week[week] += n
    weeks = stats.week_starts()
    weekly = {week: n for week, n in jobs_per_week.items() if week and week >= weeks[0]}
    paginator = Paginator(matches, 20)
    page = paginator.get_page(request.GET.get("page"))
    wanted = page.number * paginator.per_page
    page.object_list = _newest_weeks(matches, jobs_per_week, wanted)[
        wanted - paginator.per_page : wanted
    ]
    by_job = sorted(jobs_per_name.items(), key=lambda item: (-item[1], item[0]))[:15]
    by_step = (
        StoredLog.objects.filter(Exists(hits.filter(log=OuterRef("pk"))))
        .values("step__name")
        .annotate(n=Count("job", distinct=True))
        .order_by("-n", "step__name")[:15]
    )
    scanned, total = scanning.pattern_coverage(row)
    form = PatternEditForm(
        initial={
            "description": row.description,
            "tags": " ".join(row.tag_names()),
            "specificity": row.specificity,
            "has_nondeterministic_values": row.has_nondeterministic_values,
        }
    )
    context = {
        "pattern": row,
        "has_charts": bool(jobs_per_name),
        "page": page,
        "form": form,
        "scanned": scanned,
        "total": total,
        "superseded_by": Pattern.objects.filter(supersedes=row).first(),
        "jobs_plot": charts.to_json(
            charts.bars([name for name, _ in by_job], [n for _, n in by_job])
        ),
        "steps_plot": charts.to_json(
            charts.bars([r["step__name"] for r in by_step], [r["n"] for r in by_step])
        ),
        "weekly_plot": charts.to_json(
            charts.bars(
                [w.date().isoformat() for w in weeks],
                [weekly.get(w, 0) for w in weeks],
                horizontal=False,
            )
        ),
    }
    return render(request, "web/pattern.html", context)


@require_POST
@write_required
def pattern_edit(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(Pattern, pk=pk)
    form = PatternEditForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not saved: {form.errors.as_text()}")
        return redirect("web:pattern", pk=pk)
    changes = {**form.cleaned_data, "tags": form.cleaned_data["tags"].split()}
    try:
        library.edit_pattern(row, **changes)
    except library.LibraryError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Saved; the jobs it matched are being re-ranked.")
    return redirect("web:pattern", pk=pk)


@require_POST
@write_required
def pattern_retire(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(Pattern, pk=pk)
    try:
        library.edit_pattern(row, is_retired=True)
    except library.LibraryError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Pattern {pk} is retired.")
    return redirect("web:pattern", pk=pk)


def pattern_progress(request: HttpRequest, pk: int) -> JsonResponse:
    """How far the retroactive scan with this pattern has come (polled by its page)."""
    row = get_object_or_404(Pattern, pk=pk)
    scanned, total = scanning.pattern_coverage(row)
    return JsonResponse(
        {"scanned": scanned, "total": total, "matches": Match.objects.filter(pattern=row).count()}
    )


class WorkbenchForm(forms.Form):
    expression = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}))
    is_regex = forms.BooleanField(required=False, label="regular expression")
    description = forms.CharField(required=False)
    tags = forms.CharField(required=False, help_text="space-separated, e.g. flaky infra")
    applicable_steps = forms.CharField(
        required=False,
        help_text="step names, one per line; empty: every step",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    specificity = forms.IntegerField(initial=1, min_value=-1000, max_value=1000)
    lines_from_end = forms.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    has_nondeterministic_values = forms.BooleanField(required=False)
    supersedes = forms.IntegerField(required=False, widget=forms.HiddenInput)


def _workbench_logs(job_id: str | None) -> tuple[JobAttempt | None, list[StoredLog]]:
    """The logs offered for trying the expression: the chosen job's, else recent failures'."""
    job = None
    if job_id and job_id.isdigit():
        job = JobAttempt.objects.filter(pk=int(job_id)).first()
    logs = StoredLog.objects.select_related("job", "step").order_by("-job__finished_at", "-id")
    if job is not None:
        return job, list(logs.filter(job=job))
    return None, list(logs.filter(job__conclusion__in=FAILED_CONCLUSIONS)[:30])


def workbench(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _save_pattern(request)
    old = None
    if (supersedes := request.GET.get("supersedes", "")).isdigit():
        old = get_object_or_404(Pattern, pk=int(supersedes))
    initial: dict[str, Any] = {
        "expression": request.GET.get("expression", old.expression if old else ""),
        "is_regex": request.GET.get("regex", "1" if old and old.is_regex else "0") == "1",
    }
    if old:
        initial |= {
            "description": old.description,
            "tags": " ".join(old.tag_names()),
            "applicable_steps": "\n".join(old.applicable_steps),
            "specificity": old.specificity,
            "lines_from_end": old.lines_from_end,
            "supersedes": old.pk,
        }
    job, logs = _workbench_logs(request.GET.get("job"))
    chosen = request.GET.get("log", "")
    context = {
        "form": WorkbenchForm(initial=initial),
        "old": old,
        "job": job,
        "logs": logs,
        "chosen_log": int(chosen) if chosen.isdigit() else (logs[0].pk if logs else None),
    }
    return render(request, "web/workbench.html", context)


@write_required
def _save_pattern(request: HttpRequest) -> HttpResponse:
    form = WorkbenchForm(request.POST)
    if not form.is_valid():
        return render(request, "web/workbench.html", {"form": form, "logs": []}, status=400)
    data = form.cleaned_data
    old = Pattern.objects.filter(pk=data["supersedes"]).first() if data["supersedes"] else None
    try:
        row = library.create_pattern(
            data["expression"],
            is_regex=data["is_regex"],
            description=data["description"],
            tags=data["tags"].split(),
            applicable_steps=[
                s.strip() for s in data["applicable_steps"].splitlines() if s.strip()
            ],
            specificity=data["specificity"],
            lines_from_end=data["lines_from_end"],
            has_nondeterministic_values=data["has_nondeterministic_values"],
            author=request.user.get_username(),
            supersedes=old,
        )
    except library.LibraryError as exc:
        form.add_error("expression", str(exc))
        job, logs = _workbench_logs(request.GET.get("job"))
        return render(
            request, "web/workbench.html", {"form": form, "logs": logs, "job": job}, status=400
        )
    messages.success(request, f"Pattern {row.pk} saved; it is being applied to every stored log.")
    return redirect("web:pattern", pk=row.pk)


# -- jobs and commits -------------------------------------------------------------


def job(request: HttpRequest, pk: int) -> HttpResponse:
    attempt = get_object_or_404(
        JobAttempt.objects.select_related(
            "repository", "commit", "verdict", "best__match", "classification"
        ),
        pk=pk,
    )
    steps = list(attempt.steps.select_related("log"))
    logs = [step.log for step in steps if hasattr(step, "log")]
    matches = list(
        attempt.matches.select_related("pattern", "log__step")
        .prefetch_related("pattern__tags")
        .order_by("log_id", "line", "pattern_id")[:500]
    )
    siblings = JobAttempt.objects.filter(
        repository=attempt.repository, sha=attempt.sha, name=attempt.name
    ).order_by("attempt", "id")
    analyses = list(
        FailureAnalysis.objects.filter(job=attempt).select_related("log__step", "baseline__job")
    )
    best = getattr(attempt, "best", None)
    chosen = request.GET.get("log", "")
    shown_log = next((log for log in logs if str(log.pk) == chosen), None)
    if shown_log is None and logs:
        # the log of the best match, else of the likeliest failure line, else the first
        analysed = next((a.log_id for a in analyses if a.line), None)
        wanted = best.match.log_id if best else analysed
        shown_log = next((log for log in logs if log.pk == wanted), logs[0])
    match_lines = sorted({m.line for m in matches if shown_log and m.log_id == shown_log.pk})
    failure_lines = sorted(
        {
            int(c["line"])
            for a in analyses
            if shown_log and a.log_id == shown_log.pk
            for c in a.candidates
        }
    )
    context = {
        "job": attempt,
        "verdict": getattr(attempt, "verdict", None),
        "best": best,
        "steps": steps,
        "logs": logs,
        "shown_log": shown_log,
        "start_line": _start_line(shown_log, best, analyses),
        "match_lines": ",".join(map(str, match_lines)),
        "failure_lines": ",".join(map(str, failure_lines)),
        "matches": matches,
        "siblings": siblings,
        "reruns": RerunRequest.objects.filter(job=attempt).order_by("-requested_at")[:5],
        # The failure-line finder's second opinion, independent of the pattern library.
        "analyses": analyses,
        "classification": getattr(attempt, "classification", None),
        "classifications": Classification.choices,
        "pulls": history.pulls_of(attempt.sha, attempt.repository_id),
        "branch_history": history.branch_history(attempt),
        "pull_history": history.pull_history(attempt),
        "default_branch": attempt.repository.default_branch,
        "tests": testresult_views.job_test_list(attempt),
    }
    similar = flaky_views.job_similar(attempt)
    context["similar"] = similar
    context["similar_text"] = similar.summary(attempt.repository.default_branch) if similar else ""
    return render(request, "web/job.html", context)


def _start_line(log: StoredLog | None, best: Any, analyses: list[FailureAnalysis]) -> int:
    """Where the log viewer opens: the best match, else the likeliest failure line."""
    if log is None:
        return 0
    if best is not None and best.match.log_id == log.pk:
        return int(best.match.line)
    line = next((a.line for a in analyses if a.log_id == log.pk and a.line), None)
    return int(line or 0)


@require_POST
@write_required
def job_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    attempt = get_object_or_404(JobAttempt, pk=pk)
    if action == "rescan":
        count = scanning.request_full_rescan(StoredLog.objects.filter(job=attempt))
        scan_backlog_task.enqueue()
        messages.success(request, f"{count} log(s) will be scanned again from scratch.")
    elif action == "rerun":
        result = request_rerun(attempt, requested_by=request.user.get_username())
        if result.finished_at is None:
            messages.success(request, "Rerun requested: it is on its way to the CI provider.")
        else:
            messages.error(request, f"Cannot rerun: {result.response}")
    elif action == "classify":
        try:
            said = classifications.classify_failure(
                attempt,
                request.POST.get("kind", ""),
                note=request.POST.get("note", ""),
                by=request.user.get_username(),
            )
        except ValidationError as error:
            messages.error(request, "; ".join(error.messages))
        else:
            messages.success(
                request,
                f"Classified as {said.get_kind_display()}: the verdict is being recomputed.",
            )
    elif action == "unclassify":
        if classifications.clear_classification(attempt):
            messages.success(request, "Classification removed: the rules decide again.")
    elif action == "promote":
        match = Match.objects.filter(pk=request.POST.get("match", "0") or 0, job=attempt).first()
        if match is None:
            messages.error(request, "That match does not belong to this job.")
        else:
            library.promote_match(attempt, match, request.user.get_username())
            messages.success(request, f"Line {match.line} is now this job's best match.")
    else:
        raise Http404(f"unknown action {action}")
    return redirect("web:job", pk=pk)


def commit(request: HttpRequest, sha: str) -> HttpResponse:
    jobs = list(
        JobAttempt.objects.filter(sha=sha).select_related("repository", "verdict", "best__match")
    )
    known = Commit.objects.filter(sha=sha).select_related("repository").first()
    if not jobs and known is None:
        return _resolve_commit(request, sha)
    jobs.sort(key=_failures_first)
    summaries = list(CommitSummary.objects.filter(sha=sha).select_related("repository"))
    configured = CommitConfig.objects.filter(sha=sha).select_related("repository")
    coverages = [(c.repository, expected.coverage(c.repository, sha)) for c in configured]
    latest = latest_attempts(
        [j for j in jobs if j.failed and hasattr(j, "verdict")],
        lambda j: f"{j.repository_id}/{j.name}",
        lambda j: j.attempt,
    )
    context = {
        "sha": sha,
        "commit": known,
        "jobs": jobs,
        "coverages": coverages,
        "unreported": [
            job
            for _, coverage in coverages
            for job in coverage.jobs
            if job.state in (expected.MISSING, expected.WAITING, expected.NOT_STARTED)
        ],
        "not_run": [
            job
            for _, coverage in coverages
            for job in coverage.jobs
            if job.state in (expected.SKIPPED, expected.MAYBE)
        ],
        "failed": sum(1 for j in jobs if j.failed),
        "summaries": summaries,
        "pulls": history.pulls_of(sha),
        "checks": PostedCheck.objects.filter(sha=sha),
        "comments": PostedComment.objects.filter(head_sha=sha),
        "labels": dict(Verdict.choices),
        "test_groups": testresult_views.commit_tests([j.verdict for j in latest.values()]),
        "previews": [previews.preview(s) for s in summaries],
    }
    return render(request, "web/commit.html", context)


def _failures_first(job: JobAttempt) -> tuple[bool, bool, str, int]:
    """Failures that need a look, then excused failures, then the rest; by name, attempt."""
    verdict = getattr(job, "verdict", None) if job.failed else None
    return (not job.failed, bool(verdict and verdict.excused), job.name, job.attempt)


def _resolve_commit(request: HttpRequest, prefix: str) -> HttpResponse:
    """/commits/<short sha>/: the one commit it names, or the commits it could be."""
    if not search.SHA_PREFIX.match(prefix.lower()):
        raise Http404("give at least 7 hexadecimal characters of a commit sha")
    shas = search.shas_with_prefix(prefix)
    if len(shas) == 1:
        return redirect("web:commit", sha=shas[0])
    if not shas:
        raise Http404(f"citriage knows no commit starting with {prefix}")
    hits = search.search(prefix).sections.get("commits", [])
    return render(request, "web/commit_choice.html", {"prefix": prefix, "hits": hits})


def search_page(request: HttpRequest) -> HttpResponse:
    """The header's search: straight to the one thing named, else what it could be."""
    results = search.search(request.GET.get("q", ""))
    target = search.only_target(results)
    if target is not None:
        return redirect(target)
    return render(request, "web/search.html", {"results": results, "search_query": results.query})


def favicon(request: HttpRequest) -> HttpResponse:
    return redirect(static("web/favicon.svg"), permanent=True)


def unattributed(request: HttpRequest) -> HttpResponse:
    """Failed jobs that no pattern explains, grouped by job and failed step."""
    jobs = (
        _failed_jobs()
        .filter(~Exists(BestMatch.objects.filter(job=OuterRef("pk"))))
        .order_by("-finished_at", "-id")
    )
    failed_steps: dict[int, list[str]] = defaultdict(list)
    recent = list(jobs.only("id", "name", "finished_at")[:500])
    for job_id, name in (
        Step.objects.filter(job__in=[j.pk for j in recent])
        .filter(Q(status__in=("failed", "failure", "timedout", "timed_out")) | Q(timed_out=True))
        .values_list("job_id", "name")
    ):
        failed_steps[job_id].append(name)
    groups: dict[tuple[str, str], list[JobAttempt]] = defaultdict(list)
    for attempt in recent:
        step = ", ".join(failed_steps.get(attempt.pk, [])) or "(no failed step recorded)"
        groups[(attempt.name, step)].append(attempt)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    # The table's "best match" column: joined (and empty) rather than one query per row.
    table = FailedJobTable(jobs.select_related("repository", "verdict", "best__match"))
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    return render(
        request,
        "web/unattributed.html",
        {"groups": ordered, "table": table, "total": table.paginator.count},
    )


def flaky(request: HttpRequest) -> HttpResponse:
    """Flaky failures over time, by job and by pattern, with a drill-down list."""
    days = _days(28)
    flaky_jobs = _failed_jobs().filter(
        verdict__verdict__in=FLAKY_VERDICTS, finished_at__gte=_start_of(days[0])
    )
    per_job: dict[str, Counter[Any]] = defaultdict(Counter)
    per_pattern: dict[str, Counter[Any]] = defaultdict(Counter)
    rows = flaky_jobs.annotate(day=TruncDate("finished_at")).values_list(
        "day", "name", "verdict__pattern_id", "verdict__verdict"
    )
    for day, name, pattern_id, verdict in rows:
        per_job[name][day] += 1
        # no pattern: passed on rerun, or marked flaky by a person
        per_pattern[f"#{pattern_id}" if pattern_id else str(Verdict(verdict).label)][day] += 1

    def top(series: dict[str, Counter[Any]], n: int = 8) -> dict[str, list[int]]:
        ranked = sorted(series, key=lambda k: -sum(series[k].values()))[:n]
        return {k: [series[k][day] for day in days] for k in ranked}

    listed = flaky_jobs.select_related("verdict", "best__match").order_by("-finished_at")
    if name := request.GET.get("job"):
        listed = listed.filter(name=name)
    if (pattern_id := request.GET.get("pattern", "")).isdigit():
        listed = listed.filter(verdict__pattern_id=int(pattern_id))
    table = FailedJobTable(listed)
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    context = {
        "by_job_plot": charts.to_json(charts.stacked_bars(days, top(per_job))),
        "by_pattern_plot": charts.to_json(charts.stacked_bars(days, top(per_pattern))),
        "jobs": sorted(((k, sum(v.values())) for k, v in per_job.items()), key=lambda r: -r[1])[
            :20
        ],
        "patterns": JobVerdict.objects.filter(verdict__in=FLAKY_VERDICTS, pattern__isnull=False)
        .values("pattern_id", "pattern__expression")
        .annotate(n=Count("job"))
        .order_by("-n")[:20],
        "table": table,
    }
    return render(request, "web/flaky.html", context)


# -- system -----------------------------------------------------------------------


def system(request: HttpRequest) -> HttpResponse:
    context = {
        "progress": scanning.scan_progress(),
        "queue": queues.depth(),
        "queues": DBTaskResult.objects.filter(status="READY")
        .values("queue_name")
        .annotate(n=Count("id"))
        .order_by("queue_name"),
        "workers": system_state.worker_rows(),
        "budgets": system_state.rate_budget_rows(),
        "owed": system_state.owed(),
        "failing_reports": system_state.failing_reports(),
        "failed_tasks": system_state.failed_tasks(),
        "failed_deliveries": system_state.failed_deliveries(),
        "failed_fetches": system_state.failed_fetches(),
        "deliveries": Delivery.objects.order_by("-received_at")[:20],
        "rejected": RejectedDelivery.objects.order_by("-received_at")[:20],
    }
    return render(request, "web/system.html", context)


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: answers without touching the database."""
    return JsonResponse({"status": "ok"})


def metrics_page(request: HttpRequest) -> HttpResponse:
    """Prometheus' scrape: counters of every process on this machine, and gauges read
    from the database (citriage.ops.metrics)."""
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database answers and the log store reads back what it is given
    (503 naming what fails). `?queue=1` also wants a worker alive."""
    checks = health.readiness(with_queue=request.GET.get("queue") == "1")
    ready = all(c.ok for c in checks)
    return JsonResponse(
        {
            "status": "ready" if ready else "not ready",
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
        },
        status=200 if ready else 503,
    )
