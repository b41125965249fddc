"""Stage 4, on a thread of its own: groups of identical examples, numbered in row order
across blocks, and so which rows are duplicates. A block's groups depend on every block
before it, so blocks pass here in order; the split puts each group on one side
(``analysis.group_sides``), so identical examples never sit in both train and test."""

from __future__ import annotations

import numpy as np
import polars as pl


class Groups:
    """Numbers each distinct example in order of first appearance, across blocks.

    An example is known by a 64-bit hash of (input, output) (the streaming path keeps a
    96-bit digest): for a million distinct examples the chance that two collide, and the
    paths disagree, is about 3 in 100 million. The hashes live in an open-addressing table
    probed with whole arrays at once (linear probing, at most half full), so a block costs
    a few numpy passes rather than a Python loop or a sort of everything seen."""

    def __init__(self, capacity: int = 1 << 16):
        self.keys = np.zeros(capacity, dtype=np.uint64)
        self.groups = np.full(capacity, -1, dtype=np.int64)  # -1: an empty slot
        self.count = 0

    def _slots(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For distinct keys: the slot holding each, or the empty slot where it would go,
        and whether it was found."""
        mask = np.uint64(len(self.keys) - 1)
        slots = (keys & mask).astype(np.int64)
        pending = np.arange(len(keys))
        while pending.size:
            at = slots[pending]
            settled = (self.groups[at] < 0) | (self.keys[at] == keys[pending])
            moving = pending[~settled]
            slots[moving] = (slots[moving] + 1) & int(mask)
            pending = moving
        return slots, self.groups[slots] >= 0

    def _insert(self, keys: np.ndarray, groups: np.ndarray) -> None:
        while keys.size:
            slots, _ = self._slots(keys)
            # Two new keys may land on the same empty slot: the first takes it, the rest
            # probe again past it.
            _, first = np.unique(slots, return_index=True)
            self.keys[slots[first]] = keys[first]
            self.groups[slots[first]] = groups[first]
            rest = np.ones(len(keys), dtype=bool)
            rest[first] = False
            keys, groups = keys[rest], groups[rest]

    def _grow(self, needed: int) -> None:
        capacity = len(self.keys)
        while needed * 2 > capacity:
            capacity *= 2
        if capacity == len(self.keys):
            return
        used = self.groups >= 0
        keys, groups = self.keys[used], self.groups[used]
        self.keys = np.zeros(capacity, dtype=np.uint64)
        self.groups = np.full(capacity, -1, dtype=np.int64)
        self._insert(keys, groups)

    @staticmethod
    def distinct(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A block's distinct keys, where each first appears and each row's distinct key:
        needs no other block, so the preparing thread does it."""
        distinct, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        return distinct, first, inverse.ravel()

    def number(
        self, keys: np.ndarray, distinct: tuple | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each key's group, and whether an earlier row (here or in a block before) had it."""
        distinct, first, inverse = distinct or self.distinct(keys)
        self._grow(self.count + len(distinct))
        slots, found = self._slots(distinct)
        groups = np.where(found, self.groups[slots], -1)
        new = np.flatnonzero(~found)
        order = new[np.argsort(first[new], kind="stable")]  # new ones in order of appearance
        groups[order] = self.count + np.arange(len(order))
        self.count += len(order)
        self._insert(distinct[new], groups[new])
        later_here = np.arange(len(keys)) != first[inverse]
        return groups[inverse], found[inverse] | later_here


def mark(df: pl.DataFrame, keys: np.ndarray, distinct: tuple, groups: Groups) -> pl.DataFrame:
    """A block's ``group`` (-1 for a missing row) and ``duplicate`` columns, from its
    trainable rows' keys and their ``Groups.distinct``: called in order."""
    n = len(df)
    group, duplicate = groups.number(keys, distinct)
    trainable = ~df["missing"].to_numpy()
    full_group = np.full(n, -1, dtype=np.int64)
    full_group[trainable] = group
    full_duplicate = np.zeros(n, dtype=bool)
    full_duplicate[trainable] = duplicate
    return df.with_columns(group=pl.Series(full_group), duplicate=pl.Series(full_duplicate))
