"""Sortable, paginated tables (django-tables2) and their filters (django-filter)."""

from __future__ import annotations

from typing import Any

import django_filters
import django_tables2 as tables
from django import forms
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils.html import format_html

from citriage.ci.models import JobAttempt
from citriage.patterns.models import Pattern, Tag
from citriage.web.charts import sparkline
from citriage.web.templatetags.triage_tags import match_html, verdict_label


class PatternFilter(django_filters.FilterSet):
    text = django_filters.CharFilter(method="search", label="text")
    tag = django_filters.ModelChoiceFilter(
        queryset=Tag.objects.all(), field_name="tags", to_field_name="name", label="tag"
    )
    retired = django_filters.BooleanFilter(
        field_name="is_retired",
        label="retired",
        widget=forms.Select(choices=[("", "any"), ("false", "no"), ("true", "yes")]),
    )

    class Meta:
        model = Pattern
        fields: list[str] = []

    def search(self, queryset: QuerySet[Pattern], name: str, value: str) -> QuerySet[Pattern]:
        return queryset.filter(Q(expression__icontains=value) | Q(description__icontains=value))


class PatternTable(tables.Table):
    id = tables.Column(linkify=("web:pattern", {"pk": tables.A("pk")}), verbose_name="#")
    expression = tables.Column(attrs={"td": {"class": "expr"}})
    tags = tables.Column(empty_values=(), orderable=False)
    applicable_steps = tables.Column(verbose_name="steps", orderable=False)
    specificity = tables.Column()
    best_jobs = tables.Column(accessor="stats__best_jobs", verbose_name="best match in", default=0)
    matched_jobs = tables.Column(accessor="stats__matched_jobs", verbose_name="matched", default=0)
    first_seen = tables.DateTimeColumn(accessor="stats__first_seen", format="Y-m-d", default="—")
    last_seen = tables.DateTimeColumn(accessor="stats__last_seen", format="Y-m-d", default="—")
    scanned = tables.Column(empty_values=(), orderable=False, verbose_name="logs scanned")
    trend = tables.Column(empty_values=(), orderable=False)

    class Meta:
        model = Pattern
        fields = ("id", "expression", "tags", "applicable_steps", "specificity")
        attrs = {"class": "table", "data-table": "patterns"}
        order_by = ("-best_jobs",)
        row_attrs = {"class": lambda record: "retired" if record.is_retired else ""}

    def __init__(self, *args: Any, shares: dict[int, int], total: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shares, self.total = shares, total

    def render_expression(self, record: Pattern) -> str:
        kind = "regex" if record.is_regex else "literal"
        return format_html('<code>{}</code> <span class="muted">{}</span>', record.expression, kind)

    def render_tags(self, record: Pattern) -> str:
        return format_html(
            "{}",
            " ".join(sorted(t.name for t in record.tags.all())) or "—",
        )

    def render_applicable_steps(self, value: list[str]) -> str:
        return ", ".join(value) if value else "all"

    def render_scanned(self, record: Pattern) -> str:
        if not self.total:
            return "—"
        done = self.shares.get(record.pk, 0)
        return f"{100 * done // self.total}%"

    def render_trend(self, record: Pattern) -> str:
        stats = getattr(record, "stats", None)
        return sparkline(stats.weekly if stats else [])


class FailedJobTable(tables.Table):
    name = tables.Column(linkify=("web:job", {"pk": tables.A("pk")}), verbose_name="job")
    attempt = tables.Column()
    sha = tables.Column(verbose_name="commit")
    branch = tables.Column()
    finished_at = tables.DateTimeColumn(format="Y-m-d H:i", verbose_name="finished")
    verdict = tables.Column(accessor="verdict__verdict", default="—")
    best = tables.Column(
        accessor="best__match", verbose_name="best match", default="—", orderable=False
    )

    class Meta:
        model = JobAttempt
        fields = ("name", "attempt", "sha", "branch", "finished_at")
        attrs = {"class": "table"}
        order_by = ("-finished_at",)

    def render_sha(self, value: str, record: JobAttempt) -> str:
        url = reverse("web:commit", kwargs={"sha": value})
        return format_html('<a href="{}"><code class="sha">{}</code></a>', url, value[:10])

    def render_verdict(self, value: str) -> str:
        return format_html('<span class="verdict v-{}">{}</span>', value, verdict_label(value))

    def render_best(self, value: Any) -> str:
        return match_html(value, 160)
