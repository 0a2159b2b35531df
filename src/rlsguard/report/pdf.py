"""The HTML report printed to PDF by a headless Chromium (its print stylesheet applies),
offline: every request the page might make goes to a port nothing listens on."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from rlsguard.errors import RlsguardError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER_ENV = "RLSGUARD_CHROMIUM"
PRINT_TIMEOUT = 180.0  # seconds


def find_chromium() -> str | None:
    """The first Chromium on PATH, or the one ``RLSGUARD_CHROMIUM`` names."""
    named = os.environ.get(BROWSER_ENV)
    if named:
        return shutil.which(named)
    return next(filter(None, map(shutil.which, BROWSERS)), None)


def pin_chromium(browser: str) -> None:
    """The browser found, by its full path, for a run that changes folder."""
    os.environ[BROWSER_ENV] = browser


def no_chromium() -> RlsguardError:
    named = os.environ.get(BROWSER_ENV)
    tried = f"{BROWSER_ENV}={named} is not a program" if named else ", ".join(BROWSERS)
    return RlsguardError(
        f"--pdf needs a Chromium and none was found (tried {tried}; {BROWSER_ENV} names "
        "one); the HTML report prints to the same document from a browser's Print / Save "
        "as PDF"
    )


def print_pdf(browser: str, page: Path, pdf: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="rlsguard-chromium-") as profile:
        command = [
            browser,
            "--headless",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--proxy-server=127.0.0.1:9",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            "--virtual-time-budget=10000",
            f"--print-to-pdf={pdf}",
            page.resolve().as_uri(),
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.insert(1, "--no-sandbox")  # Chromium refuses its sandbox as root
        pdf.unlink(missing_ok=True)
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=PRINT_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            raise RlsguardError(
                f"{browser} did not print {page} within {PRINT_TIMEOUT:.0f} s"
            ) from None
    if done.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
        said = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RlsguardError(f"{browser} could not print {page} to PDF: {said}")
    return pdf
