"""Pairwise and B-cubed precision/recall on clusterings small enough to count by hand."""

from __future__ import annotations

import pytest

from footfall.identity import b_cubed, pairwise_precision_recall


def test_perfect_clustering_scores_one():
    truth = ["a", "a", "b", "c", "c", "c"]
    predicted = ["x", "x", "y", "z", "z", "z"]
    assert pairwise_precision_recall(predicted, truth).as_dict() == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert b_cubed(predicted, truth).f1 == 1.0


def test_merging_two_people_costs_precision_not_recall():
    truth = ["a", "a", "b", "b"]
    predicted = ["x", "x", "x", "x"]
    pairwise = pairwise_precision_recall(predicted, truth)
    assert (pairwise.precision, pairwise.recall) == (pytest.approx(2 / 6), 1.0)
    cubed = b_cubed(predicted, truth)
    assert (cubed.precision, cubed.recall) == (pytest.approx(0.5), 1.0)


def test_splitting_a_person_costs_recall_not_precision():
    truth = ["a", "a", "a", "a"]
    predicted = ["x", "x", "x", "y"]
    pairwise = pairwise_precision_recall(predicted, truth)
    assert (pairwise.precision, pairwise.recall) == (1.0, pytest.approx(3 / 6))
    cubed = b_cubed(predicted, truth)
    assert (cubed.precision, cubed.recall) == (1.0, pytest.approx((3 * 3 / 4 + 1 / 4) / 4))


def test_misaligned_inputs_are_refused():
    with pytest.raises(ValueError, match="predicted has 2 records"):
        b_cubed(["x", "y"], ["a"])
