"""How the anyio engine runs hooks: `async def` ones awaited on the loop, plain ones in the
server's worker threads (or on the loop when marked `@nonblocking`), each holding a
processing slot when it needs one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from smtp_proto import replies
from smtp_proto.handler import HookCall, Outcome
from smtp_proto.session import RunHook, Session
from transports import thread_pool
from transports.capacity import BUSY, Slots, SlotWaiter


def on_asyncio() -> bool:
    """Whether this task runs on an asyncio loop (rather than trio)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class Workers:
    """Runs plain hooks in worker threads and wakes the waiting task when one is done, by
    the cheapest means of the backend: a portal would start a task for each, and an
    executor makes a future and a work item for each (`ThreadPoolExecutor.submit` was 7%
    of the asyncio engine's time with a plain hook). The threads are the threaded
    engine's reusable ones; the processing slots bound how many hooks run at once."""

    def __init__(self) -> None:
        self.threads = thread_pool.Workers("smtp-proto-hook")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._trio: Any = None
        if on_asyncio():
            self._loop = asyncio.get_running_loop()
        else:
            import trio  # here: trio is an extra

            self._trio = trio

    async def run(self, call: HookCall) -> Outcome:
        """`call.run()` in a worker thread; its outcome once it returned."""
        done: list[Outcome] = []
        wait, notify = self._signal()

        def work() -> None:
            try:
                done.append(call.run())
            finally:
                notify()  # from the worker thread

        self.threads.run(work)
        await wait()
        return done[0] if done else Outcome(error=RuntimeError("the hook did not return"))

    def close(self) -> None:
        """Let the threads end (every hook has returned by now) and wait for them."""
        self.threads.close()
        self.threads.join()

    def _signal(self) -> tuple[Callable[[], Awaitable[object]], Callable[[], object]]:
        """A wait for the loop's task, and what a thread calls to end it."""
        loop = self._loop
        if loop is not None:
            future = loop.create_future()
            return (lambda: future), (lambda: loop.call_soon_threadsafe(_resolve, future))
        event = self._trio.Event()
        token = self._trio.lowlevel.current_trio_token()
        return event.wait, (lambda: token.run_sync_soon(event.set))


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def run_hook(steps: Session, step: RunHook, slots: Slots, workers: Workers) -> None:
    """Run the step's hook to its end, holding a slot when it needs one; hand its outcome
    to `steps` (or, when no slot came in time, end the session with 421)."""
    if step.slot and not await _wait_for_slot(slots):
        steps.no_slot(replies.SHUTTING_DOWN if slots.closed else BUSY)
        return
    call = step.call
    try:
        # Shielded: a running hook always finishes, so an accepted message is never lost.
        with anyio.CancelScope(shield=True):
            if call.is_async:
                outcome = await call.run_async()
            elif call.blocks:
                outcome = await workers.run(call)
            else:  # marked @nonblocking: on the loop, no thread hand-over
                outcome = call.run()
    finally:
        if step.slot:
            slots.leave()
    steps.hook_done(outcome)


async def _wait_for_slot(slots: Slots) -> bool:
    """Take a processing slot, waiting at most `slots.wait`; whether one was given."""
    waiter = slots.enter(lambda: SlotWaiter(anyio.Event()))
    if waiter is None:
        return True
    try:
        with anyio.move_on_after(slots.wait):
            await waiter.turn.wait()
    except BaseException:  # cancelled: a slot given meanwhile goes back
        if slots.settle(waiter):
            slots.leave()
        raise
    return slots.settle(waiter)
