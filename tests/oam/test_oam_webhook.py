"""The alarm webhook against a real HTTP server on 127.0.0.1 (`webhook_receiver`): retries
and their backoff, refusals, ordering, timeouts, and that a dead receiver costs the event
loop nothing."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from webhook_receiver import receiver

from peers.net import free_port
from pycc.oam.alarms import Webhook


async def settled(hook: Webhook, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while hook.delivered + hook.failed == 0 or (hook._task is not None and \
                not hook._task.done()):
            await asyncio.sleep(0.01)


def test_payloads_arrive_as_json_in_order() -> None:
    async def main() -> None:
        async with receiver() as rx:
            hook = Webhook(rx.url, timeout=2.0)
            for n in range(3):
                hook.send({"event": "alarm.raised", "n": n})
            await rx.wait_for(3)
            await hook.close()
            assert rx.bodies == [{"event": "alarm.raised", "n": n} for n in range(3)]
            assert (hook.delivered, hook.failed) == (3, 0)

    asyncio.run(main())


def test_a_server_error_is_retried_with_growing_pauses() -> None:
    async def main() -> None:
        async with receiver([500, 503]) as rx:
            hook = Webhook(rx.url, retries=3, backoff=0.1)
            hook.send({"event": "alarm.raised"})
            await rx.wait_for(3)
            await settled(hook)
            await hook.close()
            assert len(rx.bodies) == 3  # two failures, then delivered: no fourth try
            first, second = rx.times[1] - rx.times[0], rx.times[2] - rx.times[1]
            assert first >= 0.09 and second >= 0.19  # 0.1 s, then twice as long
            assert (hook.delivered, hook.failed) == (1, 0)

    asyncio.run(main())


def test_a_refusal_is_not_retried_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with receiver([400]) as rx:
            hook = Webhook(rx.url, retries=3, backoff=0.05)
            hook.send({"event": "alarm.cleared"})
            await settled(hook)
            hook.send({"event": "alarm.raised"})
            await rx.wait_for(2)
            await hook.close()
            assert [b["event"] for b in rx.bodies] == ["alarm.cleared", "alarm.raised"]  # type: ignore[index]
            assert (hook.delivered, hook.failed) == (1, 1)

    with caplog.at_level(logging.WARNING, logger="pycc.alarms"):
        asyncio.run(main())
    assert any("alarm.cleared not delivered (HTTP 400)" in r.getMessage()
               for r in caplog.records)


def test_an_unreachable_receiver_never_blocks_the_loop_nor_raises(
        caplog: pytest.LogCaptureFixture) -> None:
    port = free_port("tcp")  # nothing listens there

    async def main() -> None:
        hook = Webhook(f"http://127.0.0.1:{port}/alarms", timeout=0.5, retries=2,
                       backoff=0.05)
        started = time.monotonic()
        hook.send({"event": "alarm.raised"})
        assert time.monotonic() - started < 0.05  # send only queues
        # The loop keeps turning while the webhook fails in the background.
        ticks = 0
        while hook.failed == 0:
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks >= 5
        await hook.close()

    with caplog.at_level(logging.WARNING, logger="pycc.alarms"):
        asyncio.run(asyncio.wait_for(main(), 10))
    assert any("not delivered" in r.getMessage() and "ConnectError" in r.getMessage()
               for r in caplog.records)


def test_a_slow_receiver_times_out_and_close_gives_up_after_its_grace() -> None:
    async def main() -> None:
        async with receiver(delay=5.0) as rx:
            hook = Webhook(rx.url, timeout=0.2, retries=0)
            hook.send({"event": "alarm.raised"})
            await settled(hook)
            assert hook.failed == 1  # ReadTimeout after 0.2 s
            hook.send({"event": "alarm.cleared"})
            await rx.wait_for(2)
            started = time.monotonic()
            await hook.close(grace=0.1)
            assert time.monotonic() - started < 1.0

    asyncio.run(asyncio.wait_for(main(), 10))


def test_the_oldest_waiting_payload_goes_when_too_many_wait() -> None:
    async def main() -> None:
        async with receiver(delay=0.2) as rx:
            hook = Webhook(rx.url, max_queue=2)
            hook.send({"n": 0})
            await rx.wait_for(1)  # 0 is being posted (the receiver takes 0.2 s)
            for n in range(1, 4):
                hook.send({"n": n})  # 1 pushes 0 out of the queue, 3 pushes 1 out
            await rx.wait_for(3)
            await hook.close()
            assert [b["n"] for b in rx.bodies] == [0, 2, 3]  # type: ignore[index]
            assert hook.delivered == 3

    asyncio.run(main())
