"""``rlsguard evidence verify``: the history's chain, the last run's files and, with a
public key, every record's signature. It loads no database or test machinery."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rlsguard.cli.exits import EXIT_FAILED, EXIT_OK, EXIT_UNABLE
from rlsguard.report.evidence.history import (
    EVIDENCE_NAME,
    HISTORY_NAME,
    NoHistory,
    signers,
    verify,
)
from rlsguard.report.evidence.signing import key_id, public_key


def run_verify(arguments: argparse.Namespace) -> int:
    folder: Path = arguments.folder
    public_key_file: Path | None = arguments.public_key
    key = public_key(public_key_file) if public_key_file else None
    try:
        held, problem = verify(folder, EVIDENCE_NAME, key)
    except NoHistory as missing:
        print(f"rlsguard: error: {missing}", file=sys.stderr)
        return EXIT_UNABLE
    if problem is not None:
        print(f"rlsguard: the evidence does NOT hold: {problem} ({held} record(s) before hold)")
        return EXIT_FAILED
    if key is not None:
        signing = f", each signed by key {key_id(key)}"
    else:
        keys = signers(folder)
        signing = (
            f"; signed by key {', '.join(keys)}, signatures not checked (give --public-key)"
            if keys
            else ""
        )
    print(
        f"rlsguard: the evidence holds: {held} record(s) in {folder / HISTORY_NAME}, each "
        f"following the one before, and the last run's files are the ones it wrote{signing}"
    )
    return EXIT_OK
