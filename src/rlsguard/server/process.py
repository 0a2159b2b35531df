"""Signals that cannot cut a cleanup short, and waits on the database that a Ctrl-C ends
(``children`` starts the processes that cannot outlive rlsguard)."""

from __future__ import annotations

import contextlib
import select
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

import psycopg2
from psycopg2 import extensions


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while cleaning up, so a second Ctrl-C cannot leave a server
    half-stopped; a signal that arrived meanwhile is re-raised afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def remember(signum: int, _frame: object) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, remember) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:
            signal.raise_signal(received[0])


# pytest's warning for an exception CPython dropped, when it is the KeyboardInterrupt of
# InterruptSignals raised inside a gc callback: raised again at the next safe point, so
# said already (a warnings filter's message: matched from the start, no colon in it)
DROPPED_INTERRUPT = (
    r"(?s)Exception ignored in.*rlsguard.server.process\.py\", line \d+, in _raise\n"
    r".*KeyboardInterrupt"
)


class InterruptSignals:
    """While installed, SIGINT and SIGTERM raise KeyboardInterrupt in the main thread, so the
    same ``finally`` blocks and fixture finalizers run for both.

    CPython drops an exception raised inside a garbage-collector callback (Hypothesis
    installs one) with an "Exception ignored" line, so a signal handled there would be
    lost and the run would go on. The signal is therefore also remembered, and
    ``raise_if_interrupted`` raises it again at the next safe point."""

    pending: KeyboardInterrupt | None = None

    def __init__(self) -> None:
        self._installed: list[signal.Signals] = []

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
        for sig, default in defaults.items():
            if signal.getsignal(sig) is default:  # a handler someone else set is theirs
                signal.signal(sig, self._raise)
                self._installed.append(sig)
        if self._installed:  # inside a command's, the plugin's installs (and forgets) nothing
            InterruptSignals.pending = None

    def uninstall(self) -> None:
        if threading.current_thread() is not threading.main_thread() or not self._installed:
            return
        for sig in self._installed:
            signal.signal(
                sig, signal.default_int_handler if sig is signal.SIGINT else signal.SIG_DFL
            )
        self._installed.clear()
        InterruptSignals.pending = None

    @staticmethod
    def _raise(signum: int, _frame: object) -> None:
        if InterruptSignals.pending is not None:
            return  # already stopping: a second Ctrl-C must not cut the cleanup short
        interrupt = KeyboardInterrupt() if signum == signal.SIGINT else KeyboardInterrupt("SIGTERM")
        InterruptSignals.pending = interrupt
        raise interrupt


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """While inside, a command can be stopped at any moment: SIGINT and SIGTERM raise
    KeyboardInterrupt (``InterruptSignals``), and a statement that runs is cancelled on
    the server at once (``wait_interruptibly``). Process-wide, so only commands use it."""
    signals = InterruptSignals()
    signals.install()
    previous_wait = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(wait_interruptibly)
    previous_hook = sys.unraisablehook

    def remembered(unraisable: Any) -> None:
        """An interrupt dropped in a gc callback is raised again at the next checkpoint:
        no "Exception ignored" traceback for it."""
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous_hook(unraisable)

    sys.unraisablehook = remembered
    try:
        yield
    finally:
        stopping = InterruptSignals.pending is not None
        sys.unraisablehook = previous_hook
        psycopg2.extensions.set_wait_callback(previous_wait)
        signals.uninstall()
        if stopping:  # what is left is saying so and exiting 2: no later signal changes that
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)


def raise_if_interrupted() -> None:
    """Raise a signal that arrived while its exception could not propagate."""
    if InterruptSignals.pending is not None:
        raise InterruptSignals.pending


def wait_interruptibly(connection: Any) -> None:
    """A psycopg2 wait callback: queries wait in select(), so a KeyboardInterrupt (Ctrl-C,
    or SIGTERM through InterruptSignals) cancels the statement on the server and is
    then raised, instead of waiting for the statement to finish. Unlike
    ``psycopg2.extras.wait_select``, it does not turn the interrupt into a query error."""
    interrupted: KeyboardInterrupt | None = None
    while True:
        try:
            state = connection.poll()
            if state == extensions.POLL_OK:
                break
            if state == extensions.POLL_READ:
                select.select([connection.fileno()], [], [])
            elif state == extensions.POLL_WRITE:
                select.select([], [connection.fileno()], [])
            else:
                raise psycopg2.OperationalError(f"unexpected poll state {state}")
        except KeyboardInterrupt as interrupt:
            interrupted = interrupted or interrupt
            try:
                connection.cancel()
            except psycopg2.Error:  # still connecting: nothing to cancel, the attempt is dropped
                raise interrupted from None
        except psycopg2.Error:
            if interrupted is not None:
                raise interrupted from None
            raise
    if interrupted is not None:
        raise interrupted
