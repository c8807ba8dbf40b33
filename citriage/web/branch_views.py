"""Pages about the default branch: the timeline grid, breakages, health over time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from citriage.ci.models import Commit, Repository
from citriage.triage import breakages, health, timeline
from citriage.triage.inference import infer_spans
from citriage.triage.models import Breakage, JobVerdict, breakage_categories
from citriage.triage.reverts import reverts_closing
from citriage.web import charts
from citriage.web.access import write_required

HEALTH_COLOURS = {"known breakage": "#0969da", "flaky": "#1a7f37", "unexplained": "#cf222e"}


def _repository(request: HttpRequest) -> Repository | None:
    """The repository named by ?repo=owner/name, else the first one with a default branch."""
    name = request.GET.get("repo") or request.POST.get("repo") or ""
    if name:
        owner, _, repo = name.partition("/")
        found = Repository.objects.filter(owner=owner, name=repo).first()
        if found is None:
            raise Http404(f"no repository {name}")
        return found
    return (
        Repository.objects.filter(commits__branch_position__isnull=False).order_by("pk").first()
        or Repository.objects.order_by("pk").first()
    )


def human(delta: timedelta | None) -> str:
    """A duration as people say it: "3 d 4 h", "5 h 20 min", "12 min"."""
    if delta is None:
        return ""
    minutes = int(delta.total_seconds() // 60)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _user(request: HttpRequest) -> str:
    return request.user.get_username() if request.user.is_authenticated else ""


def _commit(repository: Repository, sha: str, what: str) -> Commit:
    sha = sha.strip().lower()
    if len(sha) < 7:
        raise ValidationError({what: f"give at least 7 characters of the commit sha, not {sha!r}"})
    found = list(Commit.objects.filter(repository=repository, sha__startswith=sha)[:2])
    if len(found) != 1:
        problem = "is ambiguous" if found else f"is not a known commit of {repository}"
        raise ValidationError({what: f"{sha[:40]} {problem}"})
    return found[0]


def _jobs(value: str) -> list[str]:
    return sorted({j.strip() for j in value.replace(",", "\n").splitlines() if j.strip()})


class BreakageForm(forms.Form):
    cause = forms.CharField(label="first bad commit", max_length=40)
    fix = forms.CharField(
        label="first fixed commit", max_length=40, required=False, help_text="empty while ongoing"
    )
    jobs = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="one per line (or comma-separated); empty means every job",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    category = forms.ChoiceField(choices=[])
    issue_url = forms.URLField(
        assume_scheme="https",
        label="issue",
        required=False,
        max_length=500,
        help_text="link to the issue tracking it",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [(c, c) for c in breakage_categories()]  # type: ignore[attr-defined]

    def values(self, repository: Repository) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "cause": _commit(repository, data["cause"], "cause"),
            "fix": _commit(repository, data["fix"], "fix") if data["fix"].strip() else None,
            "jobs": _jobs(data["jobs"]),
            "description": data["description"],
            "category": data["category"],
            "issue_url": data["issue_url"],
        }

    @classmethod
    def of(cls, breakage: Breakage) -> BreakageForm:
        return cls(
            initial={
                "cause": breakage.cause.sha,
                "fix": breakage.fix.sha if breakage.fix else "",
                "jobs": "\n".join(breakage.jobs),
                "description": breakage.description,
                "category": breakage.category,
                "issue_url": breakage.issue_url,
            }
        )


def _add_errors(form: forms.Form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for name, problems in error.message_dict.items():
            form.add_error(name if name in form.fields else None, problems)
    else:
        form.add_error(None, error.messages)


# --- timeline -------------------------------------------------------------------------


def timeline_page(request: HttpRequest) -> HttpResponse:
    repository = _repository(request)
    if repository is None:
        return render(request, "web/timeline.html", {"grid": None})
    try:
        page = int(request.GET.get("page", "1"))
        per_page = min(200, max(10, int(request.GET.get("per", "100"))))
    except ValueError:
        page, per_page = 1, 100
    show_green = request.GET.get("green") == "1"
    grid = timeline.build(repository, page=page, per_page=per_page, show_green=show_green)
    open_breakages = Breakage.objects.filter(repository=repository).select_related("cause", "fix")
    choices = list(open_breakages.order_by("-cause__branch_position")[:50])
    return render(
        request,
        "web/timeline.html",
        {
            "grid": grid,
            "repository": repository,
            "repositories": Repository.objects.order_by("owner", "name"),
            "show_green": show_green,
            "per_page": per_page,
            "breakage_choices": choices,
            # what "fixed it" or "add jobs" most likely means: the newest ongoing breakage
            "default_breakage": next((b.pk for b in choices if b.ongoing), None),
            "categories": breakage_categories(),
            "github_url": timeline.pull_url(repository, 0).rsplit("/pull/", 1)[0],
        },
    )


@require_POST
@write_required
def timeline_mark(request: HttpRequest) -> HttpResponse:
    """The grid's selection: start a breakage at the selected cells, mark its fix, or
    add the selected jobs to it."""
    repository = _repository(request)
    if repository is None:
        raise Http404("no repository")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("web:timeline")
    action = request.POST.get("action", "")
    shas = [s for s in request.POST.getlist("sha") if s]
    jobs = _jobs("\n".join(request.POST.getlist("job")))
    try:
        commits = sorted(
            (_commit(repository, sha, "commit") for sha in shas),
            key=lambda c: c.branch_position or 0,
        )
        if action == "start":
            if not commits:
                raise ValidationError("select a cell on the first bad commit")
            breakage = breakages.create_breakage(
                repository,
                cause=commits[0],
                jobs=jobs,
                description=request.POST.get("description", ""),
                category=request.POST.get("category") or breakage_categories()[0],
                reporter=_user(request),
            )
            messages.success(request, f"Breakage #{breakage.pk} starts at {commits[0].sha[:10]}.")
        elif action in ("fix", "add-jobs"):
            breakage = get_object_or_404(
                Breakage, pk=request.POST.get("breakage") or 0, repository=repository
            )
            if action == "fix":
                if len(commits) != 1:
                    raise ValidationError("select cells on exactly one commit: the first fixed one")
                breakages.update_breakage(breakage, editor=_user(request), fix=commits[0])
                messages.success(
                    request, f"Breakage #{breakage.pk} is fixed by {commits[0].sha[:10]}."
                )
            else:
                if not jobs:
                    raise ValidationError("select cells in the jobs to add")
                breakages.update_breakage(
                    breakage, editor=_user(request), jobs=[*breakage.jobs, *jobs]
                )
                messages.success(request, f"Breakage #{breakage.pk} now covers {', '.join(jobs)}.")
        else:
            raise ValidationError(f"unknown action {action!r}")
    except ValidationError as error:
        messages.error(request, "; ".join(_flat(error)))
    return redirect(back)


def _flat(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [f"{name}: {m}" for name, ms in error.message_dict.items() for m in ms]
    return list(error.messages)


# --- breakages ------------------------------------------------------------------------


def breakage_list(request: HttpRequest) -> HttpResponse:
    repository = _repository(request)
    rows = list(
        Breakage.objects.filter(repository=repository)
        .select_related("cause", "fix", "repository")
        .order_by("-cause__branch_position", "-pk")[:500]
    )
    head = (
        Commit.objects.filter(repository=repository, branch_position__isnull=False)
        .order_by("-branch_position")
        .values_list("branch_position", flat=True)
        .first()
        or 0
    )
    downstream = dict(
        JobVerdict.objects.filter(breakage__in=rows)
        .exclude(
            sha__in=Commit.objects.filter(
                repository=repository, branch_position__isnull=False
            ).values("sha")
        )
        .values("breakage_id")
        .annotate(commits=Count("sha", distinct=True))
        .values_list("breakage_id", "commits")
    )
    table = [
        {
            "breakage": b,
            "commits": ((b.fix.branch_position if b.fix else head + 1) or 0)
            - (b.cause.branch_position or 0),
            "duration": human(breakages.duration(b)),
            "downstream": downstream.get(b.pk, 0),
        }
        for b in rows
    ]
    suggestions = []
    if repository is not None:
        annotated = [(b, b.cause.branch_position or 0) for b in rows]
        for span in infer_spans(repository, low=head - 300, high=head):
            if span.weak:
                continue
            first = span.first.branch_position or 0
            if any(
                b.covers_job(span.job)
                and start <= first
                and (b.fix is None or first < (b.fix.branch_position or 0))
                for b, start in annotated
            ):
                continue
            suggestions.append(span)
    return render(
        request,
        "web/breakages.html",
        {
            "repository": repository,
            "rows": table,
            "suggestions": suggestions[:50],
            "categories": breakage_categories(),
            "form": BreakageForm(),
        },
    )


@require_POST
@write_required
def breakage_create(request: HttpRequest) -> HttpResponse:
    repository = _repository(request)
    if repository is None:
        raise Http404("no repository")
    form = BreakageForm(request.POST)
    if form.is_valid():
        try:
            breakage = breakages.create_breakage(
                repository, **form.values(repository), reporter=_user(request)
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"Breakage #{breakage.pk} recorded.")
            return redirect("web:breakage", pk=breakage.pk)
    messages.error(
        request,
        "The breakage was not recorded: "
        + "; ".join(f"{k}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items()),
    )
    return redirect(f"{reverse('web:breakages')}?repo={repository.full_name}")


def breakage_detail(request: HttpRequest, pk: int) -> HttpResponse:
    breakage = get_object_or_404(
        Breakage.objects.select_related("cause", "fix", "repository"), pk=pk
    )
    if request.method == "POST":
        return _breakage_edit(request, breakage)
    return _detail(request, breakage, BreakageForm.of(breakage), 200)


def _detail(
    request: HttpRequest, breakage: Breakage, form: BreakageForm, status: int
) -> HttpResponse:
    affected = (
        JobVerdict.objects.filter(breakage=breakage)
        .select_related("job")
        .order_by("-computed_at")[:200]
    )
    return render(
        request,
        "web/breakage.html",
        {
            "breakage": breakage,
            "form": form,
            "history": breakage.history.all(),
            "reverts": reverts_closing(breakage),
            "affected": affected,
            "duration": human(breakages.duration(breakage)),
            "repository": breakage.repository,
        },
        status=status,
    )


@write_required
def _breakage_edit(request: HttpRequest, breakage: Breakage) -> HttpResponse:
    form = BreakageForm(request.POST)
    if form.is_valid():
        try:
            breakages.update_breakage(
                breakage, editor=_user(request), **form.values(breakage.repository)
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, "Saved.")
            return redirect("web:breakage", pk=breakage.pk)
    breakage.refresh_from_db()
    return _detail(request, breakage, form, 400)


@require_POST
@write_required
def breakage_close_by_revert(request: HttpRequest, pk: int) -> HttpResponse:
    breakage = get_object_or_404(Breakage.objects.select_related("cause", "repository"), pk=pk)
    revert = get_object_or_404(
        Commit, repository=breakage.repository, sha=request.POST.get("revert", "")
    )
    try:
        breakages.close_by_revert(breakage, revert, editor=_user(request))
        messages.success(
            request, f"Breakage #{breakage.pk} is closed by the revert {revert.sha[:10]}."
        )
    except ValidationError as error:
        messages.error(request, "; ".join(_flat(error)))
    return redirect("web:breakage", pk=breakage.pk)


@require_POST
@write_required
def breakage_delete(request: HttpRequest, pk: int) -> HttpResponse:
    breakage = get_object_or_404(Breakage.objects.select_related("repository"), pk=pk)
    full_name = breakage.repository.full_name
    breakage.delete()
    messages.success(request, f"Breakage #{pk} deleted.")
    return redirect(f"{reverse('web:breakages')}?repo={full_name}")


# --- health ---------------------------------------------------------------------------


def health_page(request: HttpRequest) -> HttpResponse:
    repository = _repository(request)
    if repository is None:
        return render(request, "web/health.html", {"health": None})
    state = health.compute(repository)
    percentages = cast(dict[str, Sequence[int]], state.shares)  # floats plot the same
    shares = charts.stacked_bars([d.isoformat() for d in state.days], percentages, HEALTH_COLOURS)
    shares["layout"] = {
        **shares["layout"],
        "yaxis": {"title": "% of commits", "range": [0, 100], "automargin": True},
    }
    time_to_fix = {
        "data": [
            {
                "type": "bar",
                "name": "annotated",
                "x": [f"#{b.pk} {', '.join(b.jobs) or 'all jobs'}"[:40] for b, _ in state.fixed],
                "y": [hours for _, hours in state.fixed],
                "marker": {"color": "#0969da"},
            },
            {
                "type": "bar",
                "name": "inferred",
                "x": [label for label, _ in state.inferred_fixed],
                "y": [hours for _, hours in state.inferred_fixed],
                "marker": {"color": "#d4a72c"},
            },
        ],
        "layout": {
            **charts.LAYOUT,
            "yaxis": {"title": "hours to fix", "automargin": True},
            "xaxis": {"automargin": True, "tickangle": -30},
            "barmode": "group",
        },
    }
    lag = {
        "data": [{"type": "scatter", "mode": "lines", "x": state.lag_times, "y": state.lag}],
        "layout": {
            **charts.LAYOUT,
            "yaxis": {"title": "commits behind head", "automargin": True},
        },
    }
    return render(
        request,
        "web/health.html",
        {
            "repository": repository,
            "health": state,
            "fig_shares": charts.to_json(shares),
            "fig_fix": charts.to_json(time_to_fix),
            "fig_lag": charts.to_json(lag),
            "repositories": Repository.objects.order_by("owner", "name"),
        },
    )
