"""How the probes enter a tenant: settings from templates, a claims document with the
claims a user edited, a statement, and the admin's context reset before a tenant acts."""

from __future__ import annotations

import json

from rlsguard.probes.entry import SET_CONFIG, Entry


def test_templates_are_filled_and_the_admin_context_is_reset() -> None:
    entry = Entry(
        "web",
        (("request.jwt.claims", '{"sub": "{principal}", "app_metadata": {"org": "{tenant}"}}'),),
        admin=(("app.is_admin", "on"),),
    )
    (claims, (_, claims_params)), reset = entry.enter(7, "u-1")[0], entry.enter(7, "u-1")[1]
    assert claims == SET_CONFIG
    assert json.loads(claims_params) == {"sub": "u-1", "app_metadata": {"org": "7"}}
    assert reset == (SET_CONFIG, ("app.is_admin", ""))
    assert entry.as_admin() == [(SET_CONFIG, ("app.is_admin", "on"))]
    assert entry.emptied() == [
        (SET_CONFIG, ("request.jwt.claims", "")),
        (SET_CONFIG, ("app.is_admin", "")),
    ]


def test_edited_claims_are_set_inside_the_document() -> None:
    entry = Entry("web", (("request.jwt.claims", '{"sub": "{principal}"}'),))
    _, (_, text) = entry.enter(1, "u", {"user_metadata.tenant_id": 9})[0]
    assert json.loads(text) == {"sub": "u", "user_metadata": {"tenant_id": "9"}}


def test_a_statement_gets_its_values_as_parameters() -> None:
    entry = Entry("web", (), statement="SELECT set_tenant({tenant}, '100%')")
    assert entry.enter(5, None) == [
        ("SELECT set_tenant(%(tenant)s, '100%%')", {"tenant": "5", "principal": None})
    ]
    assert not entry.needs_principal
