from django.contrib import admin

from citriage.ops.models import PeriodicRun, WorkerHeartbeat


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin[WorkerHeartbeat]):
    list_display = (
        "worker_id",
        "hostname",
        "pid",
        "started",
        "last_seen",
        "current_task",
        "stopped",
    )


@admin.register(PeriodicRun)
class PeriodicRunAdmin(admin.ModelAdmin[PeriodicRun]):
    list_display = ("name", "slot", "ran_at", "result")
    list_filter = ("name",)
