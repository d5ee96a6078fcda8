"""The per-person index of a sequence's steps against a brute-force pairing of the same rows."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pytest

from footfall.segments.rules import Duration, EventMatch, Sequence
from footfall.segments.sequence_index import FOLD_FILES, SequenceIndex, new_pairs

HOUR = 3_600_000_000
AS_OF = datetime(2026, 3, 1, tzinfo=timezone.utc)
LIMIT = int(AS_OF.timestamp() * 1_000_000)


def brute_force(first, then, fresh, within_hours):
    """People with a pair (first strictly before then, within the bound, then up to as_of, same key)
    that involves at least one fresh row."""
    span = None if within_hours is None else within_hours * HOUR
    people = set()
    for i, (pa_, ka, ta) in enumerate(first):
        for j, (pb, kb, tb) in enumerate(then):
            if pa_ != pb or ka is None or ka != kb or not ta < tb <= LIMIT:
                continue
            if span is not None and tb > ta + span:
                continue
            if ("first", i) in fresh or ("then", j) in fresh:
                people.add(pa_)
    return people


@pytest.mark.parametrize("within_hours, same", [(48, ("sku",)), (None, ("sku",)), (24, ())])
@pytest.mark.parametrize("seed", [1, 2])
def test_new_pairs_match_brute_force(tmp_path, seed, within_hours, same):
    rng = np.random.default_rng(seed)
    sequence = Sequence(first=EventMatch(event="Product Viewed"), then=EventMatch(event="Order Completed"),
                        within=Duration(amount=within_hours, unit="h") if within_hours else None, same=same)

    def rows(n):
        return [(int(rng.integers(0, 30)), rng.choice(["a", "b", None]) if same else "k",
                 LIMIT - int(rng.integers(-20, 400)) * HOUR) for _ in range(n)]

    first, then = rows(300), rows(120)
    index = SequenceIndex(tmp_path, sequence)
    # the index holds the rows of several loads (a base and deltas); the last load's rows are fresh
    cut_first, cut_then = 200, 80
    fresh = {("first", i) for i in range(cut_first, len(first))} | {("then", j) for j in range(cut_then, len(then))}
    loads = [(0, cut_first, 0, cut_then), (cut_first, len(first), cut_then, len(then))]
    if seed == 2:  # many small loads: the deltas pass FOLD_FILES and are merged into a new base
        loads = [(i * 20, (i + 1) * 20, i * 8, (i + 1) * 8) for i in range(10)] + loads[1:]
    for lo_f, hi_f, lo_t, hi_t in loads:
        for number, chunk in ((0, first[lo_f:hi_f]), (1, then[lo_t:hi_t])):
            codes = np.array([r[0] for r in chunk], np.int64)
            keys = index.key_codes(pa.array([r[1] for r in chunk], pa.string()), len(chunk))
            index.add(number, codes, keys, np.array([r[2] for r in chunk], np.int64))
    assert 2 <= len(index.files.steps[0]) <= min(len(loads) - 1 if seed == 2 else 2, FOLD_FILES + 1)  # folded when many
    assert sum(index.files.rows[0]) == sum(1 for r in first if r[1] is not None)  # nothing lost in a fold

    def side(chunk):
        codes = np.array([r[0] for r in chunk], np.int64)
        keys = index.key_codes(pa.array([r[1] for r in chunk], pa.string()), len(chunk))
        times = np.array([r[2] for r in chunk], np.int64)
        usable = times <= LIMIT
        return codes[usable], keys[usable], times[usable]

    found = new_pairs(index, [side(first[cut_first:]), side(then[cut_then:])], AS_OF)
    expected = brute_force(first, then, fresh, within_hours)
    assert expected  # the data makes pairs, so the comparison can fail
    assert set(found.tolist()) == expected


def test_unseen_keys_join_the_dictionary_and_nulls_never_pair(tmp_path):
    sequence = Sequence(first=EventMatch(event="A"), then=EventMatch(event="B"), same=("sku",))
    index = SequenceIndex(tmp_path, sequence)
    assert index.key_codes(pa.array(["x", None, "y"]), 3).tolist() == [0, -1, 1]
    assert index.key_codes(pa.array(["y", "z"]), 2).tolist() == [1, 2]
    reopened = SequenceIndex(tmp_path, sequence, index.files)
    assert reopened.key_codes(pa.array(["z", "x"]), 2).tolist() == [2, 0]
