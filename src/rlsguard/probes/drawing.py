"""Hypothesis where the probes call it thousands of times, without the work that only
pays off for a test written by hand: ``data.draw``'s checks and notes on every draw, and
the test's source read again on every run to derive its derandomized seed. The examples
drawn, and so the seeds and results, are the same as through Hypothesis's own calls.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Callable, Iterator
from types import CodeType
from typing import TYPE_CHECKING, Any, TypeVar

from rlsguard.probes.lazy import hypothesis, st

if TYPE_CHECKING:
    from hypothesis.strategies import DataObject, SearchStrategy

T = TypeVar("T")


def draw(data: DataObject, strategy: SearchStrategy[T], label: str | None = None) -> T:
    """``data.draw(strategy, label)``. That call also checks that the strategy left the
    global random generator alone (two copies of its state) and prepares a note of the
    value, which together cost more than most draws; only the replay Hypothesis reports
    from needs the note, and rlsguard's strategies do not touch the global generator."""
    conjecture = getattr(data, "conjecture_data", None)
    track = getattr(conjecture, "track_arg_span", None)
    if conjecture is None or track is None or _noting():
        return data.draw(strategy, label=label)
    with track():  # the span the explain phase varies, as data.draw records it
        value: T = conjecture.draw(strategy)
    return value


@functools.cache
def integers(low: int, high: int) -> SearchStrategy[int]:
    """``st.integers(low, high)``, made once: a look-up in Hypothesis's cache of
    strategies (10 µs) costs more than drawing a small index from it."""
    return st.integers(low, high)


def _noting() -> bool:
    should_note = getattr(hypothesis.control, "should_note", None)
    return should_note is None or bool(should_note())


def hypothesis_test(
    body: Callable[[DataObject], None], chosen: hypothesis.settings, run_seed: int | None
) -> Callable[[], None]:
    """``body`` as a Hypothesis test under ``chosen``, seeded with ``run_seed``; when it
    is derandomized, with the seed Hypothesis would derive from ``body``'s source, worked
    out once per body instead of on every run (each run re-read the source twice)."""
    test: Any = hypothesis.given(st.data())(hypothesis.settings(chosen)(body))
    digest = _digest(body) if run_seed is None and chosen.derandomize else None
    if digest is not None:
        run_seed = int.from_bytes(digest, "big")  # what derandomize seeds its Random with
        test._hypothesis_internal_database_key = digest  # else worked out again, unused
    if run_seed is not None:
        test = hypothesis.seed(run_seed)(test)
    result: Callable[[], None] = test
    return result


@contextlib.contextmanager
def without_local_constants() -> Iterator[None]:
    """Draws without the constants Hypothesis collects from the source of every loaded
    module outside site-packages (the project's migrations and models, rlsguard itself
    when installed editable), which it offers now and then in place of a drawn value.
    A schema's values have nothing to do with that source; collecting it parses every
    such module; and a seed must draw the same examples whatever those files say, or a
    gate's base and head, which differ in them, draw different examples."""
    try:
        providers = importlib.import_module("hypothesis.internal.conjecture.providers")
        empty = importlib.import_module("hypothesis.internal.constants_ast").Constants()
    except (ImportError, AttributeError):  # a Hypothesis without local constants
        yield
        return
    collect = getattr(providers, "_get_local_constants", None)
    cache = getattr(getattr(providers, "CONSTANTS_CACHE", None), "cache", None)
    if collect is None or cache is None:
        yield
        return
    setattr(providers, "_get_local_constants", lambda: empty)  # noqa: B010
    cache.clear()  # pools worked out with the local constants, by tests run before
    try:
        yield
    finally:
        setattr(providers, "_get_local_constants", collect)  # noqa: B010
        cache.clear()


_DIGESTS: dict[CodeType, bytes | None] = {}


def _digest(body: Callable[[DataObject], None]) -> bytes | None:
    """Hypothesis's digest of ``body``: its source and signature, the same for every
    closure made from one ``def``."""
    code = body.__code__
    if code not in _DIGESTS:
        try:
            reflection = importlib.import_module("hypothesis.internal.reflection")
            digest: bytes | None = reflection.function_digest(body)
        except (ImportError, AttributeError):  # another Hypothesis derives the seed itself
            digest = None
        _DIGESTS[code] = digest
    return _DIGESTS[code]
