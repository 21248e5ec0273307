"""``Batcher``: calls made together share one run, in order; failures and closing reach every
caller. No Redis here: ``run`` is a recording function."""

from __future__ import annotations

import asyncio

import pytest

from waiter_sdk.cluster.batch import Batcher
from waiter_sdk.exceptions import DeliveryError


class Recorder:
    def __init__(self) -> None:
        self.runs: list[list[int]] = []
        self.gate: asyncio.Event | None = None
        self.fail: Exception | None = None

    async def __call__(self, items: list[int]) -> list[int]:
        self.runs.append(items)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error
        return [item * 10 for item in items]


async def test_calls_of_one_loop_turn_share_one_run_and_get_their_own_results() -> None:
    run = Recorder()
    batcher = Batcher(run, "t")
    results = await asyncio.gather(*(batcher.submit(n) for n in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert run.runs == [[0, 1, 2, 3, 4]]
    assert await batcher.submit(7) == 70  # a lone call runs by itself
    assert run.runs[-1] == [7]


async def test_calls_made_while_a_run_is_under_way_form_the_next_batch() -> None:
    run = Recorder()
    run.gate = asyncio.Event()
    batcher = Batcher(run, "t")
    first = asyncio.ensure_future(batcher.submit(1))
    while not run.runs:
        await asyncio.sleep(0)
    later = [asyncio.ensure_future(batcher.submit(n)) for n in (2, 3)]
    await asyncio.sleep(0)
    assert run.runs == [[1]]  # 2 and 3 wait for the run under way
    run.gate.set()
    assert await asyncio.gather(first, *later) == [10, 20, 30]
    assert run.runs == [[1], [2, 3]]


async def test_a_failed_run_fails_each_of_its_calls_and_the_next_batch_runs() -> None:
    run = Recorder()
    run.fail = DeliveryError("redis went away")
    batcher = Batcher(run, "t")
    outcomes = await asyncio.gather(*(batcher.submit(n) for n in (1, 2)), return_exceptions=True)
    assert [str(o) for o in outcomes] == ["redis went away", "redis went away"]
    assert await batcher.submit(3) == 30


async def test_closing_fails_what_waits_and_refuses_what_comes() -> None:
    run = Recorder()
    run.gate = asyncio.Event()
    batcher = Batcher(run, "answers")
    waiting = asyncio.ensure_future(batcher.submit(1))
    while not run.runs:
        await asyncio.sleep(0)
    await batcher.aclose()
    with pytest.raises(DeliveryError, match="answers: stopped while its batch was under way"):
        await waiting
    with pytest.raises(DeliveryError, match="answers: closed"):
        await batcher.submit(2)
