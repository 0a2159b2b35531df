"""The gate's verdict on the console, read back from the evidence file the run wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def print_gate(evidence: Path) -> None:
    if not evidence.is_file():
        return
    document = json.loads(evidence.read_text())
    gate = document.get("gate")
    if not gate:
        return
    appeared_in = _where_each_appeared(document.get("timeline") or [])
    print(
        f"rlsguard: against {gate['base']} ({gate['base_revision']}): "
        f"{len(gate['added'])} finding(s) added, {len(gate['new_errors'])} of them new errors; "
        f"{len(gate['fixed'])} fixed; {len(gate['unchanged'])} unchanged"
    )
    for title, items in (("added", gate["added"]), ("fixed", gate["fixed"])):
        for item in items:
            revision = appeared_in.get((item["check"], item["object"]))
            where = f" (appeared in revision {revision})" if revision and title == "added" else ""
            print(
                f"  {title}: {item['check']} {item.get('name', '')} [{item['severity']}] "
                f"{item['object']}{where}"
            )


def _where_each_appeared(timeline: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for step in timeline:
        for item in step["appeared"]:
            found[(item["check"], item["object"])] = step["revision"]
    return found
