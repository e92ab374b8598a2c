"""imageapi.core.concurrency: the per-key lock and the byte budget the thumbnail renders share."""

from __future__ import annotations

import threading

from imageapi.core.concurrency import ByteBudget, KeyedLocks


def test_a_key_is_held_by_one_thread_and_forgotten_after() -> None:
    locks = KeyedLocks()
    with locks.hold(("a", 256), timeout=1) as held:
        assert held
        with locks.hold(("b", 256), timeout=0) as other:
            assert other  # another key is free
        taken: list[bool] = []

        def try_same() -> None:
            with locks.hold(("a", 256), timeout=0) as again:
                taken.append(again)

        thread = threading.Thread(target=try_same)
        thread.start()
        thread.join()
        assert taken == [False]
        assert len(locks) == 1
    assert len(locks) == 0  # nothing kept for keys no thread holds or waits for


def test_reservations_fit_under_the_limit_together() -> None:
    budget = ByteBudget()
    with budget.reserve(600, limit=1000, timeout=0) as first:
        assert first and budget.in_use == 600
        with budget.reserve(500, limit=1000, timeout=0) as second:
            assert not second  # would be 1100 together
        with budget.reserve(400, limit=1000, timeout=0) as third:
            assert third and budget.in_use == 1000
    assert budget.in_use == 0


def test_a_waiting_reservation_gets_in_when_memory_is_given_back() -> None:
    budget = ByteBudget()
    fitted: list[bool] = []
    with budget.reserve(1000, limit=1000, timeout=0):
        started = threading.Event()

        def wait_for_room() -> None:
            started.set()
            with budget.reserve(1000, limit=1000, timeout=60) as got:
                fitted.append(got)

        thread = threading.Thread(target=wait_for_room)
        thread.start()
        started.wait()
    thread.join()
    assert fitted == [True]
