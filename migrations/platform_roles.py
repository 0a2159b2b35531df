"""Cluster-wide roles the revisions create (importable through prepend_sys_path)."""

from __future__ import annotations


def ensure_role(name: str) -> str:
    """SQL that leaves a NOLOGIN role ``name`` that is neither superuser nor BYPASSRLS.

    Roles outlive databases and are shared by every database of the cluster, so several
    migrations (of different databases) may run this at once. Locking pg_authid, a shared
    catalog, serializes them until the revision commits (two concurrent CREATE or ALTER
    ROLEs of one role fail); logins only read it and are not held up. A migration role
    that may not take the lock still works, unserialized."""
    return f"""
        DO $$ BEGIN
            BEGIN
                LOCK TABLE pg_catalog.pg_authid IN SHARE ROW EXCLUSIVE MODE;
            EXCEPTION WHEN insufficient_privilege THEN
                NULL;
            END;
            IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{name}') THEN
                BEGIN
                    CREATE ROLE {name} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN
                    NULL;  -- created meanwhile by a migration of another database
                END;
            ELSIF EXISTS (
                SELECT FROM pg_catalog.pg_roles
                WHERE rolname = '{name}' AND (rolsuper OR rolbypassrls)
            ) THEN
                ALTER ROLE {name} NOSUPERUSER NOBYPASSRLS;
            END IF;
        END $$
    """
