"""Named parameters for asyncpg: `:name` becomes `$n`, casts and literals are left alone."""

from __future__ import annotations

import pytest
from gateway.readmodel.sql import bind, bind_many


def test_names_become_numbered_placeholders_in_order_of_first_use() -> None:
    sql, args = bind(
        "UPDATE runs SET status = :status, updated_at = :at, finished_at = :at"
        " WHERE id = :run_id AND selection = :selection::jsonb",
        run_id="r",
        at="t",
        status="failed",
        selection="{}",
    )
    assert sql == (
        "UPDATE runs SET status = $1, updated_at = $2, finished_at = $2"
        " WHERE id = $3 AND selection = $4::jsonb"
    )
    assert args == ("failed", "t", "r", "{}")


def test_quoted_literals_and_casts_are_not_parameters() -> None:
    sql, args = bind("SELECT ':not_me', 'it''s :nor_me', x::text FROM t WHERE a = :a", a=1)
    assert sql == "SELECT ':not_me', 'it''s :nor_me', x::text FROM t WHERE a = $1"
    assert args == (1,)


def test_values_must_name_exactly_the_parameters() -> None:
    with pytest.raises(TypeError, match="missing"):
        bind("SELECT :a, :b", a=1)
    with pytest.raises(TypeError, match="unknown"):
        bind("SELECT :a", a=1, b=2)


def test_many_rows() -> None:
    sql, rows = bind_many("INSERT INTO t VALUES (:x, :y)", [{"x": 1, "y": 2}, {"y": 4, "x": 3}])
    assert sql == "INSERT INTO t VALUES ($1, $2)"
    assert rows == [(1, 2), (3, 4)]
