"""Pairwise precision and recall of a clustering against ground truth.

Two labellings of the same ``n`` items (a resolver's customer id per record, the
true person per record) are compared on the pairs of items they put together:

* ``predicted_pairs`` = pairs in the same predicted cluster = sum over predicted
  clusters of ``C(size, 2)``;
* ``true_pairs`` likewise for the truth;
* ``correct_pairs`` = pairs together in both = sum over the contingency table's
  cells ``n_ij`` (items in predicted cluster i and true cluster j) of ``C(n_ij, 2)``.

``precision = correct / predicted`` and ``recall = correct / true``; a ratio whose
denominator is 0 is **1.0** (no pair claimed, none wrong: all-singleton predictions
have precision 1; with no true pairs there is nothing to miss). ``f1`` is their
harmonic mean (0 when both are 0).

Everything goes through the contingency table: one hash encoding of each labelling
(pyarrow) and one sort of the combined codes (numpy), O(n log n). Pairs are never
enumerated, so millions of records score in seconds. Labels may be strings or
integers (each labelling of one kind; other hashable Python values such as tuples
work too, more slowly); a null (``None``, null, NaN) label means the
item is a singleton of its own, in either labelling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Labels", "Scores", "cluster_counts", "encode_labels", "pairwise_scores"]

#: A labelling: one label per item.
Labels: TypeAlias = "Sequence[Any] | np.ndarray | pa.Array | pa.ChunkedArray"


@dataclass(frozen=True)
class Scores:
    """Pairwise scores of a predicted clustering against the truth."""

    precision: float
    recall: float
    f1: float
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    n: int
    predicted_clusters: int
    true_clusters: int

    def __str__(self) -> str:
        return (
            f"precision {self.precision:.4f} recall {self.recall:.4f} f1 {self.f1:.4f} "
            f"({self.correct_pairs:,} of {self.predicted_pairs:,} predicted pairs correct, "
            f"{self.true_pairs:,} true pairs; {self.predicted_clusters:,} predicted and "
            f"{self.true_clusters:,} true clusters of {self.n:,} items)"
        )


def encode_labels(labels: Labels) -> np.ndarray:
    """Dense ``int64`` cluster codes ``0..k-1`` of a labelling; each null gets its own code."""
    if isinstance(labels, np.ndarray) and labels.dtype.kind in "iub":
        inverse: np.ndarray = np.unique(labels.ravel(), return_inverse=True)[1]
        return inverse.astype(np.int64)
    if isinstance(labels, pa.ChunkedArray):
        array = labels.combine_chunks()
    elif isinstance(labels, pa.Array):
        array = labels
    elif isinstance(labels, np.ndarray):
        array = pa.array(labels.ravel(), from_pandas=True)
    else:
        values = list(labels)
        try:
            array = pa.array(values, from_pandas=True)
            if not _encodable(array.type):
                return _encode_objects(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return _encode_objects(values)
    if isinstance(array, pa.DictionaryArray):
        array = array.dictionary_decode()
    if len(array) == 0 or pa.types.is_null(array.type):
        return np.arange(len(array), dtype=np.int64)
    encoded = pc.dictionary_encode(array)
    codes: np.ndarray = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    codes = codes.astype(np.int64)
    nulls = codes < 0
    if nulls.any():
        codes[nulls] = len(encoded.dictionary) + np.arange(int(nulls.sum()), dtype=np.int64)
    return codes


def _encodable(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_null(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_temporal(kind)
        or pa.types.is_decimal(kind)
    )


def _encode_objects(values: list[Any]) -> np.ndarray:
    """Codes of arbitrary hashable labels (tuples…), the slow way."""
    seen: dict[Any, int] = {}
    codes = np.empty(len(values), dtype=np.int64)
    nulls = 0
    for i, value in enumerate(values):
        if value is None:
            codes[i] = -1 - nulls
            nulls += 1
        else:
            codes[i] = seen.setdefault(value, len(seen))
    codes[codes < 0] = len(seen) - 1 - codes[codes < 0]
    return codes


def _pairs(codes: np.ndarray) -> int:
    sizes = np.bincount(codes).astype(np.int64)
    return int((sizes * (sizes - 1) // 2).sum())


def _ratio(numerator: int, denominator: int) -> float:
    return 1.0 if denominator == 0 else numerator / denominator


def pairwise_scores(predicted: Labels, truth: Labels) -> Scores:
    """Pairwise precision, recall and F1 of ``predicted`` against ``truth`` (same order)."""
    p, t = encode_labels(predicted), encode_labels(truth)
    if p.size != t.size:
        raise ValueError(f"predicted has {p.size} labels but truth has {t.size}")
    n = int(p.size)
    if n == 0:
        return Scores(1.0, 1.0, 1.0, 0, 0, 0, 0, 0, 0)
    cells = np.unique(p * (int(t.max()) + 1) + t, return_counts=True)[1].astype(np.int64)
    correct = int((cells * (cells - 1) // 2).sum())
    predicted_pairs, true_pairs = _pairs(p), _pairs(t)
    precision = _ratio(correct, predicted_pairs)
    recall = _ratio(correct, true_pairs)
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return Scores(
        precision=precision,
        recall=recall,
        f1=f1,
        true_pairs=true_pairs,
        predicted_pairs=predicted_pairs,
        correct_pairs=correct,
        n=n,
        predicted_clusters=int(p.max()) + 1,
        true_clusters=int(t.max()) + 1,
    )


def cluster_counts(predicted: Labels, truth: Labels) -> tuple[int, int]:
    """Number of clusters in each labelling (a null label counts as a cluster of one)."""
    return int(encode_labels(predicted).max(initial=-1)) + 1, int(
        encode_labels(truth).max(initial=-1)
    ) + 1
