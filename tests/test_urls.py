"""Passwords never show in what rlsguard prints about a database URL; a failed statement
is said with the database's own words."""

from __future__ import annotations

import string
import uuid
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from rlsguard.errors import ConfigError
from rlsguard.server.databases import connected, describe_failure
from rlsguard.server.dsn import redact_text
from rlsguard.server.urls import describe, parse_dsn, redact

names = st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=12)
passwords = st.text(
    alphabet=string.ascii_letters + string.digits + "!$%&*+-.:;=?@^_~/#", min_size=6, max_size=24
)


@given(user=names, password=passwords, host=names, database=names, port=st.integers(1, 65535))
def test_redacted_and_described_urls_hide_the_password(
    user: str, password: str, host: str, database: str, port: int
) -> None:
    url = URL.create("postgresql", user, password, host, port, database)
    rendered = url.render_as_string(hide_password=False)
    parsed = parse_dsn(rendered)
    assert parsed.password == password
    assert redact(parsed) == f"postgresql+psycopg2://{user}:***@{host}:{port}/{database}"
    assert describe(parsed) == f"{user}@{host}:{port}/{database}"


def test_redact_text_for_unparseable_urls() -> None:
    assert redact_text("postgresql://u:secret@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert redact_text("postgresql://u@h/d") == "postgresql://u@h/d"
    assert redact_text("not a url") == "not a url"


def test_an_at_sign_in_the_password_is_not_read_as_the_host() -> None:
    url = parse_dsn("postgresql://u:pa@ss@127.0.0.1:5432/db")
    assert (url.host, url.port, url.password, url.database) == ("127.0.0.1", 5432, "pa@ss", "db")


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("postgresql://u:secret@127.0.0.1:54x2/db", "is not a number"),
        ("postgresql://u:secret@127.0.0.1:99999/db", "out of range"),
    ],
)
def test_a_bad_port_is_a_clear_error(dsn: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        parse_dsn(dsn)
    assert "secret" not in str(raised.value)


def test_a_failed_migration_shows_no_password_of_a_url_in_its_error() -> None:
    error = ValueError("invalid interpolation syntax in 'postgresql://app:s3cret@db:5432/x'")
    assert describe_failure(error) == (
        "ValueError: invalid interpolation syntax in 'postgresql://app:***@db:5432/x'"
    )


def test_a_failed_statement_is_said_with_the_databases_detail(
    rlsguard_empty_database: Callable[[], URL],
) -> None:
    """The DETAIL says what the message alone does not (here: which key is missing)."""
    with connected(rlsguard_empty_database()) as connection:
        connection.exec_driver_sql("CREATE TABLE parent (id int PRIMARY KEY)")
        connection.exec_driver_sql("CREATE TABLE child (parent_id int REFERENCES parent)")
        with pytest.raises(DBAPIError) as failure:
            connection.exec_driver_sql("INSERT INTO child VALUES (7)")
    said = describe_failure(failure.value)
    first, statement, detail = said.splitlines()
    assert first.endswith('violates foreign key constraint "child_parent_id_fkey" [SQLSTATE 23503]')
    assert statement == "    SQL: INSERT INTO child VALUES (7)"
    assert detail == '    DETAIL: Key (parent_id)=(7) is not present in table "parent".'


def test_a_detail_of_several_lines_keeps_them_apart(
    rlsguard_empty_database: Callable[[], URL],
) -> None:
    role = f"rg_detail_{uuid.uuid4().hex[:8]}"  # roles are the whole server's
    with connected(rlsguard_empty_database()) as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role}")
        try:
            for table in ("first_table", "second_table"):
                connection.exec_driver_sql(f"CREATE TABLE {table} (id int)")
                connection.exec_driver_sql(f"GRANT SELECT ON {table} TO {role}")
            connection.commit()
            with pytest.raises(DBAPIError) as failure:
                connection.exec_driver_sql(f"DROP ROLE {role}")
            connection.rollback()
        finally:
            connection.exec_driver_sql(f"DROP OWNED BY {role}; DROP ROLE {role}")
            connection.commit()
    detail = describe_failure(failure.value).splitlines()[-1]
    assert detail == (
        "    DETAIL: privileges for table first_table; privileges for table second_table"
    )
