"""`Row`, the core's immutable sequence with cheap one-item changes, behaves as a tuple does."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trunkguard.core.values import Row

changes = st.lists(st.tuples(st.integers(0, 299), st.integers()), max_size=20)


@given(st.lists(st.integers(), min_size=1, max_size=300), changes)
def test_set_and_update_match_a_tuple_rebuilt_by_hand(items: list[int], edits: list[tuple[int, int]]) -> None:
    row, expected = Row(items), list(items)
    edits = [(i % len(items), v) for i, v in edits]
    for i, v in edits[:5]:
        row = row.set(i, v)
        expected[i] = v
    row = row.update(dict(edits[5:]))
    for i, v in dict(edits[5:]).items():
        expected[i] = v
    assert row == tuple(expected) and tuple(expected) == row and list(row) == expected
    assert len(row) == len(expected) and row[-1] == expected[-1] and row[1:4] == tuple(expected[1:4])
    assert hash(row) == hash(tuple(expected)) and row == Row(expected)


def test_a_change_leaves_the_original_as_it_was() -> None:
    before = Row(range(200))
    after = before.set(130, -1)
    assert before[130] == 130 and after[130] == -1 and after != before


def test_out_of_range_is_an_index_error() -> None:
    with pytest.raises(IndexError):
        Row([1, 2])[2]
    with pytest.raises(IndexError):
        Row([1, 2]).set(5, 0)
