"""The history a schema is built from: the project's Alembic revisions (``migrate``) and
the git repository they live in (``git``)."""
