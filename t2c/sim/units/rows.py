"""Shared by the row units (softmax, layernorm): rows of codes back to back, last flags."""
from __future__ import annotations

import numpy as np


def row_col(lens) -> tuple[np.ndarray, np.ndarray]:
    """Row index and column (position in its row) of every element of rows back to back."""
    lens = np.asarray(lens, dtype=np.int64)
    row = np.repeat(np.arange(lens.size), lens)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    return row, np.arange(row.size) - starts[row]


def last_flags(lens) -> np.ndarray:
    """1 on each row's last element (what a row unit's last_o must say), else 0."""
    row, col = row_col(lens)
    return (col == np.asarray(lens)[row] - 1).astype(np.int64)


def golden_rows(x: np.ndarray) -> tuple[np.ndarray, int]:
    """A golden tensor normalised over its last axis as rows: (flat codes, row length)."""
    n = int(x.shape[-1])
    return np.asarray(x, dtype=np.int64).reshape(-1), n
