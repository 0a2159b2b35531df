"""``python -m rlsguard.cli``: the same as the ``rlsguard`` command."""

from rlsguard.cli.commands import main

raise SystemExit(main())
