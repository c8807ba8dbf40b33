from django.contrib import admin, messages
from django.http import HttpRequest

from citriage.ci.models import StoredLog
from citriage.patterns import library, scanning
from citriage.patterns.models import BestMatch, Match, Pattern, PromotedMatch, Tag
from citriage.patterns.tasks import scan_backlog_task


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin[Tag]):
    list_display = ("name", "description")


@admin.register(Pattern)
class PatternAdmin(admin.ModelAdmin[Pattern]):
    list_display = (
        "id",
        "expression",
        "is_regex",
        "specificity",
        "is_retired",
        "author",
        "created",
    )
    list_filter = ("is_retired", "is_regex", "tags")
    search_fields = ("expression", "description")
    filter_horizontal = ("tags",)
    readonly_fields = ("created", "retired_at", "supersedes", "scan_progress")

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:  # immutable once created: supersede instead
            fields += list(Pattern.IMMUTABLE_FIELDS)
        return fields

    @admin.display(description="logs scanned with it")
    def scan_progress(self, obj: Pattern) -> str:
        if obj.pk is None:
            return "-"
        scanned, total = scanning.pattern_coverage(obj)
        return f"{scanned} of {total}"

    def save_model(self, request: HttpRequest, obj: Pattern, form, change: bool) -> None:  # type: ignore[no-untyped-def]
        try:
            if change:
                changes = {
                    name: form.cleaned_data[name]
                    for name in form.changed_data
                    if name in library.MUTABLE_FIELDS and name != "tags"
                }
                original = Pattern.objects.get(pk=obj.pk)
                library.edit_pattern(original, **changes)
            else:
                created = library.create_pattern(
                    obj.expression,
                    is_regex=obj.is_regex,
                    description=obj.description,
                    applicable_steps=obj.applicable_steps or [],
                    specificity=obj.specificity,
                    lines_from_end=obj.lines_from_end,
                    has_nondeterministic_values=obj.has_nondeterministic_values,
                    author=request.user.get_username(),
                )
                obj.pk = created.pk
        except library.LibraryError as exc:
            messages.error(request, str(exc))

    def save_related(self, request, form, formsets, change):  # type: ignore[no-untyped-def]
        if form.instance.pk and Pattern.objects.filter(pk=form.instance.pk).exists():
            library.edit_pattern(
                Pattern.objects.get(pk=form.instance.pk),
                tags=[t.name for t in form.cleaned_data["tags"]],
            )


@admin.register(Match)
class MatchAdmin(admin.ModelAdmin[Match]):
    list_display = ("id", "pattern", "job", "line", "text")
    list_select_related = ("pattern", "job")
    raw_id_fields = ("log", "pattern", "job")
    search_fields = ("text",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(BestMatch)
class BestMatchAdmin(admin.ModelAdmin[Match]):
    list_display = ("job", "pattern", "match", "updated")
    raw_id_fields = ("job", "match", "pattern")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(PromotedMatch)
class PromotedMatchAdmin(admin.ModelAdmin[Match]):
    list_display = ("job", "pattern", "line", "promoted_by", "promoted_at")
    raw_id_fields = ("job", "log", "pattern")


@admin.register(StoredLog)
class StoredLogAdmin(admin.ModelAdmin[StoredLog]):
    list_display = (
        "id",
        "job",
        "step",
        "line_count",
        "stripped_bytes",
        "scanned_through",
        "needs_full_rescan",
        "scan_error",
    )
    list_filter = ("needs_full_rescan", "truncated")
    readonly_fields = [f.name for f in StoredLog._meta.fields]
    actions = ["rescan"]

    @admin.action(description="Rescan from scratch")
    def rescan(self, request, queryset):  # type: ignore[no-untyped-def]
        count = scanning.request_full_rescan(queryset)
        scan_backlog_task.enqueue()
        self.message_user(request, f"{count} log(s) queued for a full rescan.")
