"""The one thread PJSIP runs on, and the bridge between it and the asyncio loop.

PJSUA2 objects must be created, used and destroyed on a thread PJSIP knows, and PJSIP's own
callbacks must never wait on Python's event loop. So the endpoint is created with no SIP worker
threads (``threadCnt=0``) and this thread owns it: it polls ``libHandleEvents`` and, between
polls, runs the commands the loop submits (``call`` returns an awaitable future). Callbacks hand
their results to the loop with ``call_soon_threadsafe`` and return at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger("medvoice.sip")

T = TypeVar("T")
POLL_MS = 5
TICK_S = 0.5


class PjsipThread:
    """Runs ``setup`` (which creates the PJSIP endpoint), then events, commands and ticks until stopped.

    Args:
        setup: Called first on the thread; an exception fails ``start``.
        teardown: Called last on the thread (destroys the endpoint).
        handle_events: One poll of PJSIP's events (``Endpoint.libHandleEvents``), at most ``ms`` long.
        tick: Called about every ``TICK_S`` (RTP timeouts, stream statistics).
    """

    def __init__(
        self,
        setup: Callable[[], None],
        teardown: Callable[[], None],
        handle_events: Callable[[int], Any],
        tick: Callable[[], None],
    ) -> None:
        self._setup = setup
        self._teardown = teardown
        self._handle_events = handle_events
        self._tick = tick
        self._commands: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def is_current(self) -> bool:
        return threading.current_thread() is self._thread

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the thread and wait for ``setup``; re-raises its exception."""
        self._thread = threading.Thread(target=self._run, name="pjsip", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"PJSIP did not start within {timeout_s:.0f} s")
        if self._error is not None:
            self._thread.join(timeout_s)
            raise self._error

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Run ``fn`` on the PJSIP thread; its result or exception comes back in the future."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        if self._stopping or self._thread is None or not self._thread.is_alive():
            future.set_exception(RuntimeError("the SIP endpoint is not running"))
            return future
        self._commands.put((fn, future))
        return future

    async def call(self, fn: Callable[[], T]) -> T:
        """``submit`` awaited from the event loop (runs inline when already on the PJSIP thread)."""
        if self.is_current:
            return fn()
        return await asyncio.wrap_future(self.submit(fn))

    def defer(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` after the current callback returns (e.g. deleting the Call object it belongs to)."""
        self._commands.put((fn, concurrent.futures.Future()))

    def stop(self, timeout_s: float = 10.0) -> None:
        """Run ``teardown`` on the thread and wait for it to end."""
        if self._thread is None:
            return
        self._stopping = True
        self._commands.put(None)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            logger.warning("PJSIP thread still running %.0f s after stop", timeout_s)

    def _run(self) -> None:
        try:
            self._setup()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        next_tick = time.monotonic() + TICK_S
        try:
            while True:
                self._handle_events(POLL_MS)
                if not self._drain():
                    break
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + TICK_S
                    self._guard(self._tick)
        finally:
            self._drain(final=True)
            self._guard(self._teardown)

    def _drain(self, final: bool = False) -> bool:
        while True:
            try:
                item = self._commands.get_nowait()
            except queue.Empty:
                return True
            if item is None:
                if not final:
                    return False
                continue
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

    @staticmethod
    def _guard(fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception:
            logger.exception("PJSIP thread: %s failed", getattr(fn, "__name__", fn))
