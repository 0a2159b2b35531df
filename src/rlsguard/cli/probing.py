"""``rlsguard scan`` without ``--static-only``: the probes, after the static analysis.
Loaded only then, since it loads Hypothesis and SQLAlchemy."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

import hypothesis
from sqlalchemy.engine import URL

from rlsguard.analyzer import Analysis
from rlsguard.config import PROBE_DSN_ENV, Settings
from rlsguard.probes.runner import probe_database
from rlsguard.server.urls import parse_dsn, with_timeouts


def probed(
    analysis: Analysis, arguments: argparse.Namespace, settings: Settings, dsn: str
) -> Analysis:
    url = with_timeouts(parse_dsn(dsn), settings.lock_timeout, settings.statement_timeout)
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON document alone
        results = probe_database(
            url,
            analysis.tenancy,
            settings_for_probes(arguments.max_examples),
            arguments.seed,
            arguments.shrink_seconds,
            probe_url=_probe_url(arguments, settings),
        )
    return analysis.with_probes(results)


def settings_for_probes(max_examples: int | None) -> hypothesis.settings:
    current = hypothesis.settings()
    return hypothesis.settings(current, max_examples=max_examples or current.max_examples)


def _probe_url(arguments: argparse.Namespace, settings: Settings) -> URL | None:
    dsn = arguments.probe_dsn or os.environ.get(PROBE_DSN_ENV)
    if not dsn:
        return None
    return with_timeouts(parse_dsn(dsn), settings.lock_timeout, settings.statement_timeout)
