"""Admin: breakages are editable here too, and such edits are kept in their history."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from citriage.triage import breakages
from citriage.triage.models import Breakage, BreakageEdit


class BreakageEditInline(admin.TabularInline):  # type: ignore[type-arg]
    model = BreakageEdit
    extra = 0
    can_delete = False
    readonly_fields = ("at", "editor", "action", "changes")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Breakage)
class BreakageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("__str__", "category", "reporter", "created")
    list_filter = ("category", "repository")
    raw_id_fields = ("cause", "fix")
    inlines = [BreakageEditInline]

    def save_model(self, request: HttpRequest, obj: Breakage, form: Any, change: bool) -> None:
        before = {}
        if change:
            old = Breakage.objects.select_related("cause", "fix").get(pk=obj.pk)
            before = breakages.snapshot(old)
        super().save_model(request, obj, form, change)
        breakages.record(
            obj, request.user.get_username(), "edited" if change else "created", before
        )
