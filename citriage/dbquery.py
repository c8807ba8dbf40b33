"""Query pieces the ORM lacks, shared by the apps (no app models here).

`IdIn`: pages that read a window of history filter on thousands of ids found in Python
(the failed jobs of 300 commits). As `id IN (%s, %s, ...)` Django prepares every value,
psycopg splits the statement at every placeholder and PostgreSQL parses the list: for
3,400 ids that cost 35 ms more than the rows themselves. On PostgreSQL the ids go as one
parameter, `= ANY(string_to_array(%s, ',')::bigint[])` (as citriage.testresults.ingest
does); elsewhere as the plain list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Lookup
from django.db.models.sql.compiler import SQLCompiler


class IdIn(Lookup):  # type: ignore[type-arg]
    """`IdIn("job_id", ids)`: the column is one of these integer ids (a filter() argument)."""

    lookup_name = "id_in"
    prepare_rhs = False  # the list is passed as it is, not each value through the field

    def __init__(self, column: str, ids: Iterable[int]) -> None:
        super().__init__(F(column), [int(i) for i in ids])

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> Any:
        column, params = compiler.compile(self.lhs)
        ids: list[int] = self.rhs
        if not ids:
            raise EmptyResultSet  # as IN () does: the query is not sent at all
        if connection.vendor == "postgresql":
            sql = f"{column} = ANY(string_to_array(%s, ',')::bigint[])"
            return sql, [*params, ",".join(map(str, ids))]
        return f"{column} IN ({', '.join(['%s'] * len(ids))})", [*params, *ids]
