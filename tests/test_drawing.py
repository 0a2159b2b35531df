"""The probes' cheaper Hypothesis calls draw exactly what Hypothesis's own would: the
same values from the same seed, and a derandomized run seeded as Hypothesis seeds it."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.internal import reflection

from rlsguard.probes import drawing

DERANDOMIZED = hypothesis.settings(derandomize=True, database=None, max_examples=30)
MIXED = st.tuples(st.integers(-5, 500), st.text("abc", max_size=4), st.booleans())


def recording(drawn: list[object], *, cheap: bool) -> Callable[[st.DataObject], None]:
    def body(data: st.DataObject) -> None:
        for _ in range(3):
            value = drawing.draw(data, MIXED, "row") if cheap else data.draw(MIXED, "row")
            drawn.append(value)

    return body


@pytest.mark.parametrize("run_seed", [None, 1234])
def test_the_cheap_draw_and_seed_give_hypothesiss_own_examples(run_seed: int | None) -> None:
    """``None``: derandomized, so Hypothesis seeds from the body's source."""
    ours: list[object] = []
    drawing.hypothesis_test(recording(ours, cheap=True), DERANDOMIZED, run_seed)()
    theirs: list[object] = []
    test = given(st.data())(DERANDOMIZED(recording(theirs, cheap=False)))
    if run_seed is not None:
        test = hypothesis.seed(run_seed)(test)
    test()
    assert len(ours) == 90
    assert ours == theirs


def test_a_derandomized_body_is_digested_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    digest = reflection.function_digest

    def counted(function: object) -> bytes:
        calls.append(getattr(function, "__name__", "?"))
        return digest(function)

    monkeypatch.setattr(reflection, "function_digest", counted)
    monkeypatch.setattr(drawing, "_DIGESTS", {})
    for _ in range(3):
        drawing.hypothesis_test(recording([], cheap=True), DERANDOMIZED, None)()
    assert calls == ["body"]


def test_a_failing_example_is_reported_with_its_draws() -> None:
    """The final replay of a failure draws through ``data.draw``, whose notes say what
    was drawn."""

    def body(data: st.DataObject) -> None:
        if drawing.draw(data, st.integers(0, 10), label="count") > 3:
            raise AssertionError("too many")

    with pytest.raises(AssertionError) as failure:
        drawing.hypothesis_test(body, DERANDOMIZED, None)()
    assert "Draw 1 (count): 4" in "\n".join(getattr(failure.value, "__notes__", []))


SENTINEL = 10**12 + 123_456_789  # a constant only the module below holds
WIDE = st.integers(10**12, 10**13)


def drawn_with_a_local_constant_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, local_constants: bool
) -> list[int]:
    """Integers drawn while a project module (outside site-packages) holding SENTINEL is
    loaded, as a migration or model module is when the probes run."""
    source = tmp_path / "project_constants.py"
    source.write_text(f"LIMIT = {SENTINEL}\n")
    spec = importlib.util.spec_from_file_location("project_constants", source)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "project_constants", module)
    drawn: list[int] = []

    def body(data: st.DataObject) -> None:
        drawn.extend(drawing.draw(data, WIDE) for _ in range(20))

    test = drawing.hypothesis_test(body, DERANDOMIZED, 42)
    if local_constants:
        test()
    else:
        with drawing.without_local_constants():
            test()
    return drawn


def test_probes_draw_no_constant_from_the_projects_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hypothesis offers constants it read in local modules; the probes draw without them
    (the same examples whatever the project's files say), and other tests keep them."""
    before = drawn_with_a_local_constant_loaded(tmp_path, monkeypatch, local_constants=True)
    assert SENTINEL in before  # the control: Hypothesis does offer it
    within = drawn_with_a_local_constant_loaded(tmp_path, monkeypatch, local_constants=False)
    assert len(within) == 600
    assert SENTINEL not in within
    after = drawn_with_a_local_constant_loaded(tmp_path, monkeypatch, local_constants=True)
    assert SENTINEL in after  # restored for the tests that run after a probe
