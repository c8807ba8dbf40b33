"""dbquery.IdIn: the same rows as `__in`, on SQLite and PostgreSQL (ids as one parameter)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from citriage.ci.models import JobAttempt
from citriage.dbquery import IdIn
from tests import factories

pytestmark = pytest.mark.django_db


def test_id_in_selects_the_rows_in_of_the_list_does() -> None:
    repo = factories.repository()
    ids = [factories.job(repo, name=f"job-{i}", sha=f"{i:040x}").pk for i in range(5)]
    wanted = [ids[0], ids[3], ids[4], max(ids) + 100]  # one id no row has
    found = JobAttempt.objects.filter(IdIn("id", wanted)).values_list("id", flat=True)
    assert sorted(found) == [ids[0], ids[3], ids[4]]
    assert sorted(found) == sorted(
        JobAttempt.objects.filter(id__in=wanted).values_list("id", flat=True)
    )
    # combined with other conditions, and on a foreign key column
    assert JobAttempt.objects.filter(IdIn("repository_id", [repo.pk]), name="job-2").count() == 1
    if connection.vendor == "postgresql":
        with CaptureQueriesContext(connection) as captured:
            list(JobAttempt.objects.filter(IdIn("id", wanted)))
        assert "ANY(string_to_array(" in captured[0]["sql"]


def test_no_ids_select_nothing_without_a_query() -> None:
    factories.job(factories.repository())
    with CaptureQueriesContext(connection) as captured:
        assert list(JobAttempt.objects.filter(IdIn("id", []))) == []
    assert len(captured) == 0
