"""Fixed-window request counting behind every rate limit (Redis in CI, the local cache here)."""

from datetime import UTC, datetime

import time_machine

from clinic.api.throttling import count_in_window


def test_counts_grow_within_a_window_and_start_again_in_the_next():
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC), tick=False) as clock:
        first_window = [count_in_window("user:7", 60) for _ in range(3)]
        clock.move_to(datetime(2026, 3, 2, 9, 0, 59, tzinfo=UTC))
        same_window = count_in_window("user:7", 60)
        clock.move_to(datetime(2026, 3, 2, 9, 1, 0, tzinfo=UTC))
        next_window = count_in_window("user:7", 60)

    assert first_window == [1, 2, 3]
    assert same_window == 4
    assert next_window == 1


def test_keys_are_counted_apart():
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC), tick=False):
        count_in_window("user:7", 60)
        count_in_window("user:7", 60)
        other = count_in_window("user:8", 60)

    assert other == 1
