"""How the application finds a request's tenant from an API key, before any tenant is set.

Revision ID: 008_api_key_tenant_lookup
Revises: 007_tenant_scoped_keys
Create Date: 2026-11-25

With RLS forced on ``tenant_api_keys``, ``app_user`` sees no key until the tenant is
set, and it needs the key to know the tenant. The answer is one narrow function:

    SELECT tenant_for_api_key(:key_hash);   -- then set_config('app.current_tenant_id', ...)

* ``tenant_for_api_key(presented_hash text) RETURNS uuid``: SECURITY DEFINER, STABLE,
  ``search_path = pg_catalog, pg_temp`` with every name schema-qualified; it returns
  only the tenant id of an unexpired key with exactly that hash, or NULL. No other
  column, no listing, no partial match.
* It runs as ``tenant_key_resolver``, a NOLOGIN role that is neither superuser nor
  BYPASSRLS and owns nothing else: it may read three columns of ``tenant_api_keys``
  (tenant_id, key_hash, expires_at), through a FOR SELECT policy of its own. RLS stays
  in force for it; the policy is what lets it see keys of every tenant, so the only
  cross-tenant read in the schema is written down in one place.
* EXECUTE is revoked from PUBLIC and granted to ``app_user`` only.

What it reveals, on purpose: given a key's hash, the tenant that owns the key. The hash
is of a random secret the caller presented; a caller who has it already holds that
tenant's key. rlsguard reports the function (RG503, RP112) and pyproject.toml accepts
both findings with this reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from platform_roles import ensure_role

revision: str = "008_api_key_tenant_lookup"
down_revision: str | None = "007_tenant_scoped_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESOLVER = "tenant_key_resolver"
FUNCTION = "public.tenant_for_api_key(text)"


def upgrade() -> None:
    op.execute(ensure_role(RESOLVER))
    op.execute(f"GRANT USAGE ON SCHEMA public TO {RESOLVER}")
    op.execute(f"GRANT SELECT (tenant_id, key_hash, expires_at) ON tenant_api_keys TO {RESOLVER}")
    op.execute(
        f"CREATE POLICY api_key_lookup_tenant_api_keys ON tenant_api_keys FOR SELECT "
        f"TO {RESOLVER} USING (true)"
    )
    op.execute(
        """
        CREATE FUNCTION public.tenant_for_api_key(presented_hash text) RETURNS uuid
            LANGUAGE sql STABLE STRICT SECURITY DEFINER
            SET search_path = pg_catalog, pg_temp
        AS $$
            SELECT api_key.tenant_id
            FROM public.tenant_api_keys AS api_key
            WHERE api_key.key_hash = presented_hash
              AND (api_key.expires_at IS NULL OR api_key.expires_at > pg_catalog.now())
        $$
        """
    )
    op.execute(f"ALTER FUNCTION {FUNCTION} OWNER TO {RESOLVER}")
    op.execute(f"REVOKE ALL ON FUNCTION {FUNCTION} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {FUNCTION} TO app_user")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {FUNCTION}")
    op.execute("DROP POLICY api_key_lookup_tenant_api_keys ON tenant_api_keys")
    op.execute(f"REVOKE ALL ON tenant_api_keys FROM {RESOLVER}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {RESOLVER}")
