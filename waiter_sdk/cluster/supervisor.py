"""``Supervisor``: ``waiter-sdk run --workers N``, one ingress and N workers on one machine.

Usage::

    code = asyncio.run(Supervisor(3, ingress_args=["--adapter", "onebot11"],
                                  worker_args=["--plugins", "mybot.plugins"]).run())

Each child is ``python -m waiter_sdk ingress ...`` or ``python -m waiter_sdk worker ...``
(``sys.executable``, the supervisor's own environment), in a session of its own, so a
terminal's Ctrl-C reaches the supervisor alone and the order of shutdown stays its choice:

- SIGINT or SIGTERM (or ``request_stop``): the same signal goes to every worker first, and the
  supervisor waits for them, because a worker's goodbyes (its sessions ending on shutdown) are
  sent through the ingress; then to the ingress. A child that has not exited ``stop_timeout``
  seconds after its signal is killed.
- A worker that exits on its own is started again after ``restart_delay`` seconds, with a
  WARNING naming it and its exit code. Its conversations were handed over by the ingress.
- The ingress exiting on its own stops the workers and ends the supervisor with the ingress's
  exit code (1 if it was 0): nothing reaches the platform without it, so whatever supervises
  the supervisor (systemd, a container runtime) should restart the whole.

When ``WAITER_CLUSTER__WORKER_ID`` is set, worker number ``i`` gets ``<id>-<i>``: two live
workers must never share an id. The supervisor itself imports no Redis code; the children do.
A supervisor killed with SIGKILL leaves its children running (they are in their own sessions).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from loguru import logger

__all__ = ["Supervisor"]

_ID = "WAITER_CLUSTER__WORKER_ID"


@dataclass(slots=True)
class _Child:
    role: str  # "ingress" or "worker"
    index: int
    process: asyncio.subprocess.Process | None = None
    waiting: asyncio.Task[int] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return "the ingress" if self.role == "ingress" else f"worker {self.index}"


class Supervisor:
    """Starts, restarts and stops the processes of a one-machine cluster."""

    def __init__(
        self,
        workers: int,
        *,
        ingress_args: Sequence[str] = (),
        worker_args: Sequence[str] = (),
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        restart_delay: float = 1.0,
        stop_timeout: float = 30.0,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be 1 or more, not {workers}")
        self.workers = workers
        self.ingress_args = list(ingress_args)
        self.worker_args = list(worker_args)
        # What starts a child, before its role and arguments; replaceable for tests.
        self.command = (
            list(command) if command is not None else [sys.executable, "-m", "waiter_sdk"]
        )
        self.env = dict(os.environ if env is None else env)
        self.restart_delay = restart_delay
        self.stop_timeout = stop_timeout
        self._stop: asyncio.Event | None = None
        self._signal = signal.SIGTERM

    def request_stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop every child, workers first, forwarding ``sig`` (safe from a signal handler)."""
        self._signal = signal.Signals(sig)
        if self._stop is not None:
            self._stop.set()

    async def run(self) -> int:
        """Run until stopped (0) or until the ingress exits on its own (its code, or 1)."""
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
                loop.add_signal_handler(sig, self.request_stop, sig)
        ingress = _Child("ingress", 0)
        workers = [_Child("worker", i) for i in range(self.workers)]
        stopping = loop.create_task(self._stop.wait())
        code = 0
        try:
            await self._spawn(ingress)
            for worker in workers:
                await self._spawn(worker)
            code = await self._watch(ingress, workers, stopping)
        finally:
            stopping.cancel()
            await self._halt(workers)
            await self._halt([ingress])
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
        return code

    async def _watch(
        self, ingress: _Child, workers: list[_Child], stopping: asyncio.Task[bool]
    ) -> int:
        while True:
            children = {c.waiting: c for c in [ingress, *workers] if c.waiting is not None}
            done, _ = await asyncio.wait([stopping, *children], return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                return 0
            for task in done:
                child = children[task]
                code = task.result()
                child.waiting = None
                if child is ingress:
                    logger.error("the ingress exited with code {}; stopping the workers", code)
                    return code or 1
                logger.warning(
                    "worker {} (pid {}) exited with code {}; starting it again in {} s",
                    child.index,
                    child.process.pid if child.process is not None else "?",
                    code,
                    self.restart_delay,
                )
            # Restart the dead workers after the delay, unless a stop comes first.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.restart_delay):
                    await asyncio.shield(stopping)
            if stopping.done():
                return 0
            for child in workers:
                if child.waiting is None:
                    await self._spawn(child)

    async def _spawn(self, child: _Child) -> None:
        env = dict(self.env)
        args = self.ingress_args if child.role == "ingress" else self.worker_args
        if child.role == "worker" and env.get(_ID):
            env[_ID] = f"{env[_ID]}-{child.index}"
        child.process = await asyncio.create_subprocess_exec(
            *self.command, child.role, *args, env=env, start_new_session=True
        )
        child.waiting = asyncio.get_running_loop().create_task(child.process.wait())
        logger.info("started {} (pid {})", child.name, child.process.pid)

    async def _halt(self, children: Sequence[_Child]) -> None:
        """Signal ``children``, wait for all of them, kill those that outlast stop_timeout."""
        running = [c for c in children if c.process is not None and c.process.returncode is None]
        for child in running:
            assert child.process is not None
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(self._signal)
        for child in running:
            assert child.process is not None
            try:
                async with asyncio.timeout(self.stop_timeout):
                    await child.process.wait()
            except TimeoutError:
                logger.warning("{} did not stop in {} s; killing it", child.name, self.stop_timeout)
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
                await child.process.wait()
        for child in children:
            if child.waiting is not None:
                child.waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await child.waiting
                child.waiting = None
