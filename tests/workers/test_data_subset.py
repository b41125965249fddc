"""A quick run's sample of the train split: seeded, the same on every attempt, in file order."""

import pytest

from workers.training.data import subset
from workers.training.spec import Hyperparameters

RECORDS = [[{"role": "user", "content": str(i)}] for i in range(1000)]


def test_no_limit_or_a_limit_above_the_data_keeps_everything():
    assert subset(RECORDS, 0, 42) is RECORDS
    assert subset(RECORDS, 1000, 42) is RECORDS
    assert subset(RECORDS, 5000, 42) is RECORDS


def test_the_sample_is_the_same_for_the_same_seed_and_kept_in_file_order():
    first = subset(RECORDS, 240, 42)
    assert len(first) == 240
    assert subset(RECORDS, 240, 42) == first  # a resume or a retry trains on the same examples
    positions = [int(r[0]["content"]) for r in first]
    assert positions == sorted(positions)
    # Drawn from the whole file, not its first rows: a sorted upload is not cut to one corner.
    assert positions[-1] > 900 and positions[0] < 100
    assert subset(RECORDS, 240, 7) != first


def test_a_negative_limit_is_refused():
    with pytest.raises(ValueError, match="max_examples"):
        Hyperparameters(max_examples=-1)
