"""Passwords never show in what rlsguard prints about a database URL."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import URL

from rlsguard.server.urls import describe, parse_dsn, redact, redact_text

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
