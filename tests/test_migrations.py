"""rlsguard's whole suite against the platform's migrations at head: the migration checks,
and every static isolation check and probe as a pytest item (e.g.
``RG101 rls-enabled[public.documents]``, ``rls[public.documents-cross-tenant-read]``).

The schema as shipped (004) fails the isolation checks; tests/test_platform_findings.py
pins exactly how. Revisions 005-008 fix it, so at head they all hold."""

from rlsguard.suite import *  # noqa: F403
