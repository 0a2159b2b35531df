"""[tool.rlsguard]: defaults, overrides, and clear errors for what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlsguard.config import Allowance, Settings, find_project_root, load_settings
from rlsguard.errors import ConfigError
from rlsguard.history.migrate import MigrationProject
from tests.conftest import PROJECT


def write(folder: Path, table: str) -> Path:
    (folder / "pyproject.toml").write_text(f"[project]\nname = 'x'\n\n[tool.rlsguard]\n{table}\n")
    return folder


def test_defaults_without_a_table(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    assert settings == Settings(project_root=tmp_path)
    assert (settings.tenant_column, settings.tenant_setting, settings.app_role) == (
        "tenant_id",
        "app.current_tenant_id",
        "app_user",
    )
    assert (settings.admin_roles, settings.schemas) == (("uber_admin",), ("public",))


def test_this_repository_names_its_alembic_ini() -> None:
    settings = load_settings(PROJECT)
    assert settings.alembic_ini_path == PROJECT / "alembic.ini"
    assert settings.global_tables == ("public.templates",)


def test_values_and_overrides(tmp_path: Path) -> None:
    write(
        tmp_path,
        'tenant_column = "org_id"\nadmin_roles = ["ops", "support"]\nschemas = "app"\n'
        'allow = [{check = "RG101", object = "public.t", reason = "read-only lookup"}]',
    )
    settings = load_settings(tmp_path, {"tenant_setting": "app.org", "app_role": None})
    assert settings.tenant_column == "org_id"
    assert settings.tenant_setting == "app.org"
    assert settings.app_role == "app_user"
    assert settings.admin_roles == ("ops", "support")
    assert settings.schemas == ("app",)
    assert settings.allow == (Allowance("RG101", "public.t", "read-only lookup"),)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'tenant_colum = "x"',
            "unknown key 'tenant_colum' \\(did you mean 'tenant_column'\\?\\) in "
            "\\[tool.rlsguard\\] in .*known keys: alembic_ini.*; `rlsguard init` proposes",
        ),
        ("app_role = 3", "app_role in .* must be a non-empty string, got 3"),
        ('app_role = "  "', "app_role in .* must be a non-empty string"),
        ("admin_roles = 5", "admin_roles in .* must be a list of strings, got 5"),
        (
            'allow = [{check = "RG101", object = "public.t"}]',
            "allow entry 1 .* must have exactly the keys check, object, reason",
        ),
        (
            'allow = [{check = "RG101", object = "public.t", reason = ""}]',
            "allow\\[1\\].reason .* must be a non-empty string",
        ),
        ('allow = "everything"', "allow in .* must be a list"),
        ('until = "004"', "until in .* must be a table of revision ids"),
        ("until.r1 = 3", "until.'r1' in .* must be a table of keys, got 3"),
        (
            'until.r1 = {alembic_ini = "x.ini"}',
            "until.'r1' in .* cannot set 'alembic_ini'; it can set: tenant_column",
        ),
        ("until.r1 = {app_role = 5}", "app_role in until.'r1' in .* must be a non-empty string"),
        ("append_only = 1", "append_only in .* must be a list of strings, got 1"),
        ("schemas = []", "schemas in .* must name at least one schema"),
        ('preset = "firebase"', "preset in .* must be one of platform, supabase, got 'firebase'"),
        ('context = "app.user"', "context in .* must be a table of settings to values"),
        ('context_statement = "SELECT go()"', "context_statement in .* must use {tenant}"),
        ('membership = {table = "m"}', "membership in .* must have exactly the keys table"),
        ('context_functions = {f = "user"}', 'context_functions in .* "tenant" or "principal"'),
        ('lock_timeout = "soon"', "lock_timeout in .* must be a PostgreSQL duration"),
        ('migration_timeout = "5 min"', "migration_timeout in .* must be a PostgreSQL duration"),
        ("migration_timeout = 3", "migration_timeout in .* needs a unit, such as '3s' or '3min'"),
        ('lock_timeout = "500"', "lock_timeout in .* '500' alone would be 500 milliseconds"),
        ('until.r1 = {lock_timeout = "1s"}', "until.'r1' in .* cannot set 'lock_timeout'"),
        ('probe_every_table = "yes"', "probe_every_table in .* must be true or false, got 'yes'"),
        ("until.r1 = {probe_every_table = true}", "until.'r1' in .* cannot set 'probe_every"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, table))


def test_probing_every_table_is_a_switch(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "")).probe_every_table is False
    assert load_settings(write(tmp_path, "probe_every_table = true")).probe_every_table is True


def test_timeouts_have_defaults_and_take_durations(tmp_path: Path) -> None:
    defaults = load_settings(write(tmp_path, ""))
    assert (defaults.lock_timeout, defaults.statement_timeout, defaults.migration_timeout) == (
        "5s",
        "2min",
        "10min",
    )
    given = load_settings(write(tmp_path, 'lock_timeout = "250ms"\nstatement_timeout = 0'))
    assert (given.lock_timeout, given.statement_timeout) == ("250ms", "0")


def test_broken_toml(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.rlsguard\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(tmp_path)


def test_a_pyproject_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_bytes(b'[tool.rlsguard]\napp_role = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=r"pyproject\.toml is not UTF-8 text"):
        load_settings(tmp_path)


def test_rlsguard_that_is_not_a_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool]\nrlsguard = "x"\n')
    with pytest.raises(ConfigError, match=r"\[tool.rlsguard\] in .* must be a table of keys"):
        load_settings(tmp_path)


def alembic_project(folder: Path, ini: bytes, revision: str) -> Path:
    (folder / "migrations" / "versions").mkdir(parents=True)
    (folder / "migrations" / "versions" / "r1.py").write_text(revision)
    (folder / "alembic.ini").write_bytes(ini)
    return folder / "alembic.ini"


def test_an_alembic_ini_that_is_not_utf8(tmp_path: Path) -> None:
    ini = alembic_project(tmp_path, b"[alembic]\nscript_location = caf\xe9\n", "")
    with pytest.raises(ConfigError, match=r"alembic\.ini is not UTF-8 text"):
        MigrationProject(ini)


def test_a_down_revision_that_does_not_exist(tmp_path: Path) -> None:
    revision = (
        'revision = "r1"\ndown_revision = "r0_gone"\nbranch_labels = None\ndepends_on = None\n'
    )
    ini = alembic_project(tmp_path, b"[alembic]\nscript_location = migrations\n", revision)
    with (
        pytest.warns(UserWarning, match="r0_gone"),  # Alembic's own word on it
        pytest.raises(
            ConfigError, match=r"r1\.py in .* names down_revision 'r0_gone', which is no"
        ),
    ):
        MigrationProject(ini)


def test_project_root_is_the_nearest_pyproject(tmp_path: Path) -> None:
    write(tmp_path, "")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_project_root(nested) == tmp_path


HISTORY = ("r1", "r2", "r3", "r4")


def test_until_holds_up_to_its_revision(tmp_path: Path) -> None:
    settings = load_settings(
        write(
            tmp_path,
            'app_role = "app_user"\nappend_only = ["audit"]\n'
            '[tool.rlsguard.until.r1]\napp_role = "early"\n'
            '[tool.rlsguard.until.r3]\napp_role = "postgres"\nadmin_roles = ["postgres"]\n'
            'allow = [{check = "RG101", object = "public.t", reason = "shipped that way"}]',
        )
    )
    assert settings.append_only == ("audit",)
    roles = {rev: settings.as_of(rev, HISTORY).app_role for rev in HISTORY}
    assert roles == {"r1": "early", "r2": "postgres", "r3": "postgres", "r4": "app_user"}
    assert settings.as_of("r2", HISTORY).admin_roles == ("postgres",)
    assert settings.as_of("r4", HISTORY).admin_roles == ("uber_admin",)
    assert settings.as_of("r3", HISTORY).allow[0].reason == "shipped that way"
    assert settings.as_of("r4", HISTORY).allow == ()


def test_a_flag_holds_at_every_revision(tmp_path: Path) -> None:
    write(tmp_path, '[tool.rlsguard.until.r2]\napp_role = "postgres"\ntenant_column = "org"')
    settings = load_settings(tmp_path, {"app_role": "svc"})
    assert settings.as_of("r1", HISTORY).app_role == "svc"
    assert settings.as_of("r1", HISTORY).tenant_column == "org"


def test_until_names_an_unknown_revision(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, '[tool.rlsguard.until.r9]\napp_role = "x"'))
    with pytest.raises(ConfigError, match=r"names revision .r9., .* known: r1, r2, r3, r4"):
        settings.as_of("r1", HISTORY)


def test_the_supabase_preset_and_keys_that_win_over_it(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, 'preset = "supabase"\ntenant_column = "team_id"'))
    assert (settings.app_role, settings.admin_roles) == ("authenticated", ("service_role",))
    assert settings.principal_table == "auth.users"
    assert settings.tenant_setting == "request.jwt.claims"  # the setting the context names
    assert dict(settings.entry)["request.jwt.claims"].startswith('{"sub": "{principal}"')
    assert settings.untrusted_claims == ("user_metadata",)
    own = load_settings(write(tmp_path, 'preset = "supabase"\nadmin_roles = []'))
    assert own.admin_roles == ()


def test_the_context_defaults_to_the_tenant_setting_and_takes_templates(tmp_path: Path) -> None:
    assert load_settings(tmp_path).entry == (("app.current_tenant_id", "{tenant}"),)
    settings = load_settings(
        write(
            tmp_path,
            'context = { "app.user" = "{principal}", "app.org" = "{tenant}" }\n'
            'admin_context = { "app.is_admin" = "on" }\n'
            'membership = { table = "m", principal = "user_id", tenant = "org_id" }',
        )
    )
    assert settings.tenant_setting == "app.org"
    assert settings.admin_context == (("app.is_admin", "on"),)
    assert settings.membership is not None
    assert settings.membership.principal == "user_id"
    statement = load_settings(write(tmp_path, 'context_statement = "SELECT set_org({tenant})"'))
    assert statement.entry == ()  # the statement alone enters the tenant


def test_an_empty_admin_role_flag_means_no_admin(tmp_path: Path) -> None:
    assert load_settings(tmp_path, {"admin_roles": [""]}).admin_roles == ()
    assert load_settings(tmp_path, {"admin_roles": ["ops"]}).admin_roles == ("ops",)
