from django.urls import path

from citriage.web import branch_views, cluster_views, pull_views, testresult_views, views

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_page, name="metrics"),
    path("patterns/", views.patterns, name="patterns"),
    path("patterns/new/", views.workbench, name="workbench"),
    path("patterns/<int:pk>/", views.pattern, name="pattern"),
    path("patterns/<int:pk>/edit", views.pattern_edit, name="pattern-edit"),
    path("patterns/<int:pk>/retire", views.pattern_retire, name="pattern-retire"),
    path("patterns/<int:pk>/progress", views.pattern_progress, name="pattern-progress"),
    path("jobs/<int:pk>/", views.job, name="job"),
    path("jobs/<int:pk>/<str:action>", views.job_action, name="job-action"),
    path("commits/<str:sha>/", views.commit, name="commit"),
    path("pulls/", pull_views.pull_list, name="pulls"),
    path("pulls/<int:number>/", pull_views.pull_by_number, name="pull-number"),
    path(
        "pulls/<str:owner>/<str:name>/<int:number>/",
        pull_views.pull_in_repository,
        name="pull",
    ),
    path("search/", views.search_page, name="search"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("unattributed/", views.unattributed, name="unattributed"),
    path("clusters/", cluster_views.clusters, name="clusters"),
    path("flaky/", views.flaky, name="flaky"),
    path("tests/", testresult_views.tests_page, name="tests"),
    path("tests/tokens/", testresult_views.tokens_page, name="test-tokens"),
    path("tests/tokens/<int:pk>/revoke", testresult_views.token_revoke, name="test-token-revoke"),
    path("tests/<int:pk>/", testresult_views.test_page, name="test"),
    path("system/", views.system, name="system"),
    path("timeline/", branch_views.timeline_page, name="timeline"),
    path("timeline/mark", branch_views.timeline_mark, name="timeline-mark"),
    path("breakages/", branch_views.breakage_list, name="breakages"),
    path("breakages/new", branch_views.breakage_create, name="breakage-new"),
    path("breakages/<int:pk>/", branch_views.breakage_detail, name="breakage"),
    path(
        "breakages/<int:pk>/close-by-revert",
        branch_views.breakage_close_by_revert,
        name="breakage-revert",
    ),
    path("breakages/<int:pk>/delete", branch_views.breakage_delete, name="breakage-delete"),
    path("health/", branch_views.health_page, name="health"),
]
