"""SQL pieces the catalog readers share. Queries run with pyformat parameters, so a
literal % is written %%."""

from __future__ import annotations


def in_user_schema(column: str = "n.nspname") -> str:
    """Not a system schema (nor a TOAST or temporary one)."""
    return (
        f"{column} NOT IN ('pg_catalog', 'information_schema') "
        f"AND {column} NOT LIKE 'pg\\_toast%%' AND {column} NOT LIKE 'pg\\_temp\\_%%'"
    )


def not_from_extension(catalog: str, oid: str) -> str:
    """The object was not created by an extension."""
    return (
        "NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = "
        f"'{catalog}'::regclass AND dep.objid = {oid} AND dep.deptype = 'e')"
    )


def grantee(column: str) -> str:
    """A role name for a role OID, with 0 as PUBLIC."""
    return f"CASE WHEN {column} = 0 THEN 'PUBLIC' ELSE pg_get_userbyid({column}) END"


def encoded_grants(acl: str) -> str:
    """An array of ``grantee:PRIVILEGE:grantable`` strings for an ACL expression."""
    return (
        f"ARRAY(SELECT {grantee('acl_item.grantee')} || ':' || acl_item.privilege_type || ':' "
        f"|| acl_item.is_grantable::text FROM aclexplode({acl}) acl_item)"
    )
