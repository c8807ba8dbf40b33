from django.contrib import admin

from citriage.ci.models import Commit, JobAttempt, PullRequest, Repository, Step


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin[Repository]):
    list_display = ("full_name", "default_branch", "providers", "created")
    search_fields = ("owner", "name")


@admin.register(Commit)
class CommitAdmin(admin.ModelAdmin[Commit]):
    list_display = ("sha", "repository", "title", "author_login", "committed_at", "branch_position")
    list_filter = ("repository",)
    search_fields = ("sha", "message", "author_login")
    readonly_fields = [f.name for f in Commit._meta.fields]


@admin.register(PullRequest)
class PullRequestAdmin(admin.ModelAdmin[PullRequest]):
    list_display = ("number", "repository", "title", "author_login", "state", "head_sha")
    list_filter = ("repository", "state")
    search_fields = ("title", "author_login", "head_sha")


class StepInline(admin.TabularInline[Step, JobAttempt]):
    model = Step
    extra = 0
    can_delete = False
    readonly_fields = ("name", "index", "container", "status", "timed_out", "exit_code")
    fields = readonly_fields


@admin.register(JobAttempt)
class JobAttemptAdmin(admin.ModelAdmin[JobAttempt]):
    list_display = ("name", "attempt", "sha", "branch", "conclusion", "log_state", "finished_at")
    list_filter = ("provider", "conclusion", "log_state", "repository")
    search_fields = ("name", "sha", "provider_id", "branch")
    readonly_fields = [f.name for f in JobAttempt._meta.fields]
    inlines = [StepInline]
