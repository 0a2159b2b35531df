"""The catalog queries ``catalog`` runs: a fixed handful, whatever the number of tables."""

from __future__ import annotations

from rlsguard.schema.sql_fragments import (
    encoded_grants,
    grantee,
    in_user_schema,
    not_from_extension,
)
from rlsguard.server.driver import THROWAWAY_SETTING

USER_NAMESPACE = in_user_schema()
RELATION_ACL = (
    "coalesce(c.relacl, acldefault("
    "CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::\"char\", c.relowner))"
)

RELATIONS = f"""
SELECT c.oid, n.nspname, c.relname, c.relkind, pg_get_userbyid(c.relowner),
       c.relrowsecurity, c.relforcerowsecurity, coalesce(c.reloptions, '{{}}'), c.relispartition,
       ARRAY(SELECT pn.nspname || '.' || p.relname
             FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
             JOIN pg_namespace pn ON pn.oid = p.relnamespace
             WHERE i.inhrelid = c.oid ORDER BY i.inhseqno),
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END,
       {encoded_grants(RELATION_ACL)},
       pg_get_expr(c.relpartbound, c.oid),
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
       EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal
               AND (t.tgtype & 4) <> 0)
         OR EXISTS (SELECT FROM pg_rewrite r WHERE r.ev_class = c.oid AND r.ev_type = '3'),
       CASE WHEN c.relkind = 'v' THEN pg_relation_is_updatable(c.oid, true) ELSE 0 END,
       c.relhasrules
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND {USER_NAMESPACE}
  AND {not_from_extension("pg_class", "c.oid")}
"""

COLUMNS = f"""
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), t.typname, t.typcategory,
       t.typtype, a.atttypmod, a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity,
       a.attgenerated, elem.typname,
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
       CASE WHEN t.typtype = 'e' OR base.typtype = 'e' THEN ARRAY(
            SELECT e.enumlabel FROM pg_enum e
            WHERE e.enumtypid = CASE WHEN t.typtype = 'e' THEN t.oid ELSE base.oid END
            ORDER BY e.enumsortorder) END,
       {encoded_grants("a.attacl")},
       CASE WHEN t.typtype = 'd' THEN ARRAY(
            SELECT pg_get_constraintdef(dc.oid) FROM pg_constraint dc
            WHERE dc.contypid = t.oid AND dc.contype = 'c' ORDER BY dc.conname) END,
       coalesce((SELECT co.collname FROM pg_collation co
                 WHERE co.oid = a.attcollation AND a.attcollation <> t.typcollation), '')
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type elem ON elem.oid = t.typelem AND t.typcategory = 'A'
LEFT JOIN pg_type base ON base.oid = t.typbasetype
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND {USER_NAMESPACE}
ORDER BY a.attrelid, a.attnum
"""

CONSTRAINTS = f"""
SELECT con.conrelid, con.conname, con.contype,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord),
       pg_get_constraintdef(con.oid, true),
       CASE WHEN con.contype = 'f' THEN rn.nspname || '.' || r.relname END,
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.ord),
       con.confdeltype, con.condeferrable
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class r ON r.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE {USER_NAMESPACE}
"""

INDEXES = f"""
SELECT i.indrelid, ci.relname, i.indisunique, i.indisprimary,
       ARRAY(SELECT CASE WHEN k.num = 0 THEN NULL ELSE a.attname END
             FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY k(num, ord)
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num
             ORDER BY k.ord),
       pg_get_expr(i.indpred, i.indrelid), pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class ci ON ci.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = ci.relnamespace
WHERE {USER_NAMESPACE}
"""

POLICIES = f"""
SELECT p.polrelid, p.polname, p.polcmd, p.polpermissive,
       ARRAY(SELECT {grantee("r")} FROM unnest(p.polroles) r),
       pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid),
       ARRAY(SELECT DISTINCT dn.nspname || '.' || dc.relname
             FROM pg_depend d JOIN pg_class dc ON dc.oid = d.refobjid
             JOIN pg_namespace dn ON dn.oid = dc.relnamespace
             WHERE d.classid = 'pg_policy'::regclass AND d.objid = p.oid
               AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> p.polrelid),
       ARRAY(SELECT DISTINCT fn.nspname || '.' || f.proname || '('
                    || pg_get_function_identity_arguments(f.oid) || ')'
             FROM pg_depend d JOIN pg_proc f ON f.oid = d.refobjid
             JOIN pg_namespace fn ON fn.oid = f.pronamespace
             WHERE d.classid = 'pg_policy'::regclass AND d.objid = p.oid
               AND d.refclassid = 'pg_proc'::regclass)
FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {USER_NAMESPACE}
"""

VIEW_READS = f"""
SELECT DISTINCT r.ev_class, dn.nspname || '.' || dc.relname
FROM pg_rewrite r
JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class
JOIN pg_class dc ON dc.oid = d.refobjid
JOIN pg_namespace dn ON dn.oid = dc.relnamespace
JOIN pg_class v ON v.oid = r.ev_class
JOIN pg_namespace n ON n.oid = v.relnamespace
WHERE {USER_NAMESPACE}
"""

# rlsguard's own probe logins (probes/login.py) are not part of the schema under test.
# Each role's grants, then those it may SET ROLE to, then those whose privileges it
# inherits: from PostgreSQL 16 each grant says (WITH SET, WITH INHERIT); before, every
# membership allows SET ROLE and a role inherits unless it is NOINHERIT.
_GRANTED = """ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
             WHERE m.member = r.oid{condition})"""


def _roles(may_set: str, inherits: str) -> str:
    return f"""
SELECT r.rolname, r.rolsuper, r.rolbypassrls, r.rolinherit, r.rolcanlogin,
       {_GRANTED.format(condition="")},
       {_GRANTED.format(condition=may_set)},
       {_GRANTED.format(condition=inherits)}
FROM pg_roles r
WHERE r.rolname NOT LIKE 'rlsguard\\_probe\\_%%'
"""


ROLES_SINCE_16 = _roles(may_set=" AND m.set_option", inherits=" AND m.inherit_option")
ROLES_BEFORE_16 = _roles(may_set="", inherits=" AND r.rolinherit")

FUNCTIONS = f"""
SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), p.prokind,
       p.prosecdef, p.proleakproof, p.provolatile, pg_get_userbyid(p.proowner),
       coalesce(p.proconfig, '{{}}'), l.lanname, coalesce(p.prosrc, ''),
       {encoded_grants("coalesce(p.proacl, acldefault('f', p.proowner))")},
       pg_get_function_result(p.oid),
       ARRAY(SELECT coalesce(nullif(a.name, ''), '$' || a.position)
             FROM unnest(coalesce(p.proargnames, ARRAY[]::text[]),
                         coalesce(p.proargmodes::text[], ARRAY[]::text[]))
                  WITH ORDINALITY a(name, mode, position)
             WHERE coalesce(a.mode, 'i') IN ('i', 'b', 'v'))
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
WHERE {USER_NAMESPACE} AND {not_from_extension("pg_proc", "p.oid")}
"""

SCHEMAS = f"""
SELECT n.nspname, pg_get_userbyid(n.nspowner),
       {encoded_grants("coalesce(n.nspacl, acldefault('n', n.nspowner))")}
FROM pg_namespace n WHERE {USER_NAMESPACE}
"""

TRIGGERS = f"""
SELECT t.tgrelid, t.tgname, fn.nspname || '.' || f.proname || '('
       || pg_get_function_identity_arguments(f.oid) || ')', t.tgtype, t.tgenabled
FROM pg_trigger t
JOIN pg_proc f ON f.oid = t.tgfoid
JOIN pg_namespace fn ON fn.oid = f.pronamespace
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND {USER_NAMESPACE}
ORDER BY t.tgrelid, t.tgname
"""

# settings given to sessions of this database by ALTER DATABASE / ALTER ROLE ... SET
DEFAULTS = """
SELECT coalesce(d.datname, ''), coalesce(r.rolname, ''), s.setconfig
FROM pg_db_role_setting s
LEFT JOIN pg_database d ON d.oid = s.setdatabase
LEFT JOIN pg_roles r ON r.oid = s.setrole
WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
"""

DATABASE = f"""
SELECT current_database(), current_setting('server_version_num')::int,
       coalesce(current_setting('{THROWAWAY_SETTING}', true), '') = 'throwaway',
       ARRAY(SELECT DISTINCT proname FROM pg_proc
             WHERE proleakproof AND pronamespace = 'pg_catalog'::regnamespace)
"""

# the roles the probes act as, as they meet them: the application's and the admins', the
# roles those are members of (recursively), their attributes, memberships and server-wide
# settings, as one digest; other roles on the server (other projects', rlsguard's own
# probe logins) are left out. %(roles)s: the role names the tenancy names.
ROLE_STATE = """
WITH RECURSIVE reach(oid) AS (
    SELECT oid FROM pg_roles WHERE rolname = ANY(%(roles)s)
  UNION
    SELECT m.roleid FROM pg_auth_members m JOIN reach ON m.member = reach.oid
)
SELECT md5(coalesce(string_agg(item, E'\\n' ORDER BY item), '')) FROM (
    SELECT 'role ' || rolname || ' ' || rolsuper || rolinherit || rolbypassrls || rolcanlogin
           || rolcreaterole || rolcreatedb AS item
    FROM pg_roles WHERE oid IN (SELECT oid FROM reach)
  UNION ALL
    SELECT 'member ' || m.roleid::regrole || ' ' || m.member::regrole || ' '
           || (to_jsonb(m) - 'oid' - 'roleid' - 'member' - 'grantor')::text
    FROM pg_auth_members m WHERE m.member IN (SELECT oid FROM reach)
  UNION ALL
    SELECT 'setting ' || s.setrole || ' ' || s.setconfig::text
    FROM pg_db_role_setting s
    WHERE s.setdatabase = 0 AND (s.setrole = 0 OR s.setrole IN (SELECT oid FROM reach))
  UNION ALL
    SELECT 'missing ' || name FROM unnest(%(roles)s::text[]) AS name
    WHERE name NOT IN (SELECT rolname FROM pg_roles)
) AS state
"""
