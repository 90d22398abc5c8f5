"""The request budget in-process: FIFO waits, cancelled waits (deadlines) and the held bytes."""

from __future__ import annotations

import asyncio

import pytest

from serving.admission import Budget


async def _settle():
    for _ in range(5):
        await asyncio.sleep(0)


def test_requests_that_do_not_fit_wait_in_arrival_order():
    async def main():
        budget, order = Budget(10), []

        async def request(name, size):
            await budget.reserve(size)
            order.append(name)

        budget._take(8)  # one request of 8 is being answered
        tasks = [asyncio.create_task(request(n, s)) for n, s in (("a", 6), ("b", 1), ("c", 3))]
        await _settle()
        assert order == []  # b would fit, but does not overtake a
        budget.release(8)
        await _settle()
        assert order == ["a", "b", "c"] and budget.held == 10 and budget.peak == 10
        await asyncio.gather(*tasks)

    asyncio.run(main())


def test_waits_cancelled_together_reserve_nothing_and_let_the_next_in():
    """Many waits ended by their deadline at once (a burst of 504s) leave the budget whole."""

    async def main():
        budget = Budget(10)
        budget._take(10)
        doomed = [asyncio.create_task(budget.reserve(5)) for _ in range(20)]
        survivor = asyncio.create_task(budget.reserve(4))
        await _settle()
        budget.release(10)  # grants the first two their turn...
        for task in doomed:
            task.cancel()  # ...and their deadlines pass before they run: nothing stays held
        await _settle()
        for task in doomed:
            with pytest.raises(asyncio.CancelledError):
                await task
        await survivor
        assert budget.held == 4 and not budget._waiting

    asyncio.run(main())


def test_a_request_larger_than_what_is_free_runs_alone_rather_than_never():
    async def main():
        budget = Budget(10)
        await budget.reserve(10)
        waiting = asyncio.create_task(budget.reserve(10))
        await _settle()
        assert not waiting.done()
        budget.release(10)
        await waiting
        assert budget.held == 10

    asyncio.run(main())
