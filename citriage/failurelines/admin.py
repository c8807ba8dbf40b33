from django.contrib import admin

from citriage.failurelines.models import FailureAnalysis


@admin.register(FailureAnalysis)
class FailureAnalysisAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("log", "job", "line", "signature", "generic", "analysed_at")
    list_filter = ("generic",)
    search_fields = ("signature", "text")
    raw_id_fields = ("log", "job")
