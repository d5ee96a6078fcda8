"""Accuracy of a clustering against ground truth: pairwise precision/recall and B-cubed.

Both take two aligned sequences: the predicted cluster of each record and its true cluster (the
person behind it). Pairwise precision is the share of record pairs put together that truly belong
together; pairwise recall the share of truly-together pairs that were put together. B-cubed (Bagga
and Baldwin, 1998) averages per record: precision is the share of the record's predicted cluster that
shares its true cluster, recall the share of its true cluster found in its predicted cluster. Pairwise
scores weigh big clusters quadratically; B-cubed weighs every record equally, so both are reported.

Counting runs on the contingency table of (predicted, true) cells with numpy, so millions of records
take a second or two (benchmarks reuse these functions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

@dataclass(frozen=True)
class Scores:
    """Precision, recall and their harmonic mean (F1)."""

    precision: float
    recall: float

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 0.0 if total == 0 else 2 * self.precision * self.recall / total

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "f1": self.f1}


def _cells(predicted: Sequence[object], truth: Sequence[object]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sizes of the non-empty contingency cells, and the predicted and true cluster size of each cell."""
    if len(predicted) != len(truth):
        raise ValueError(f"predicted has {len(predicted)} records, truth has {len(truth)}")
    _, pred_codes = np.unique(np.asarray(predicted, dtype=object).astype(str), return_inverse=True)
    _, true_codes = np.unique(np.asarray(truth, dtype=object).astype(str), return_inverse=True)
    pairs = pred_codes.astype(np.int64) * (int(true_codes.max(initial=0)) + 1) + true_codes
    cell_keys, cell_sizes = np.unique(pairs, return_counts=True)
    cell_pred = cell_keys // (int(true_codes.max(initial=0)) + 1)
    cell_true = cell_keys % (int(true_codes.max(initial=0)) + 1)
    pred_sizes = np.bincount(pred_codes)[cell_pred]
    true_sizes = np.bincount(true_codes)[cell_true]
    return cell_sizes.astype(np.float64), pred_sizes.astype(np.float64), true_sizes.astype(np.float64)


def pairwise_precision_recall(predicted: Sequence[object], truth: Sequence[object]) -> Scores:
    """Pairwise precision and recall of `predicted` clusters against `truth` (1.0 when no pairs)."""
    cells, _, _ = _cells(predicted, truth)
    _, pred_counts = np.unique(np.asarray(predicted, dtype=object).astype(str), return_counts=True)
    _, true_counts = np.unique(np.asarray(truth, dtype=object).astype(str), return_counts=True)
    together = float((cells * (cells - 1) / 2).sum())
    predicted_pairs = float((pred_counts * (pred_counts - 1) / 2).sum())
    true_pairs = float((true_counts * (true_counts - 1) / 2).sum())
    return Scores(
        precision=together / predicted_pairs if predicted_pairs else 1.0,
        recall=together / true_pairs if true_pairs else 1.0,
    )


def b_cubed(predicted: Sequence[object], truth: Sequence[object]) -> Scores:
    """B-cubed precision and recall of `predicted` clusters against `truth`."""
    cells, pred_sizes, true_sizes = _cells(predicted, truth)
    records = float(cells.sum())
    if records == 0:
        return Scores(1.0, 1.0)
    return Scores(
        precision=float((cells * cells / pred_sizes).sum()) / records,
        recall=float((cells * cells / true_sizes).sum()) / records,
    )
