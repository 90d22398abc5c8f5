"""How many request bytes the server holds at once: REST bodies and gRPC messages, together.

Memory under load grows with the requests being read, parsed and run at the same moment, not with
the number of clients. A request that does not fit waits, unread, in arrival order (a REST body
stays in the client's socket, a gRPC message in its stream's flow-control window) until earlier
requests are answered, or its deadline passes.

REST knows a body's size from Content-Length before reading it, so it reserves exactly that (the
largest body, --max_request_bytes, when the body is chunked). gRPC learns a message's size only by
reading it: a call reserves a share of the budget before its message is read (the interceptor),
and exchanges it for the message's real size once read (the deserializer). At most
`budget / share` calls are being read at once, so the bytes held stay under
budget + (budget / share) * (largest message - share): 512 MiB with the defaults (a 64 MiB budget,
an eighth of it a share, 64 MiB messages). Requests that wait cost what the transport buffered for
them: nothing more for REST, part of a gRPC stream's flow-control window.

Slow senders block nobody: a REST body still arriving after a second gives its place back and
queues again once it is complete; a gRPC call whose message has not arrived after two seconds
gives its share back and counts its message once read. Such late arrivals can take the bytes held
past the bound above, by what they send; --idle_timeout_seconds ends a REST body that stalls.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import deque
from collections.abc import Callable

import grpc

from serving.metrics import BYTES_HELD, BYTES_HELD_PEAK, REQUESTS_WAITING, Metrics

# The admission of the gRPC call this task is answering (interceptor -> deserializer -> handler).
_TICKET: contextvars.ContextVar[Ticket | None] = contextvars.ContextVar("ticket", default=None)


class Budget:
    """Bytes reserved by requests in flight; reservations that do not fit wait in FIFO order."""

    def __init__(self, limit: int):
        self.limit = limit
        self.held = 0
        self.peak = 0
        self._waiting: deque[tuple[int, asyncio.Future]] = deque()

    async def reserve(self, size: int) -> None:
        """Return once `size` bytes are reserved; cancelling a wait reserves nothing."""
        # A lone request always fits (the limit is at least --max_request_bytes), and nobody
        # overtakes a waiter: a large request is not starved by a stream of small ones.
        if not self._waiting and (self.held == 0 or self.held + size <= self.limit):
            self._take(size)
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append((size, waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(size)  # granted just as the wait was cancelled
            else:
                with contextlib.suppress(ValueError):  # _grant may have dropped it already
                    self._waiting.remove((size, waiter))
                self._grant()  # the head may have been blocking others that now fit
            raise

    def report_to(self, metrics: Metrics) -> None:
        metrics.gauge(BYTES_HELD, lambda: self.held)
        metrics.gauge(BYTES_HELD_PEAK, lambda: self.peak)
        metrics.gauge(REQUESTS_WAITING, lambda: len(self._waiting))

    def release(self, size: int) -> None:
        self.held -= size
        self._grant()

    def resize(self, old: int, new: int) -> None:
        """A reservation's true size is known: it may go over the limit (bounded, see above)."""
        self.held += new - old
        self.peak = max(self.peak, self.held)
        if new < old:
            self._grant()

    def _take(self, size: int) -> None:
        self.held += size
        self.peak = max(self.peak, self.held)

    def _grant(self) -> None:
        while self._waiting:
            size, waiter = self._waiting[0]
            if waiter.done():  # cancelled (its deadline passed, its client went away)
                self._waiting.popleft()
                continue
            if self.held and self.held + size > self.limit:
                return
            self._waiting.popleft()
            self._take(size)
            waiter.set_result(None)


class Ticket:
    """One gRPC call's reservation: a provisional share until its message is read, then its size."""

    def __init__(self, budget: Budget, share: int, unread_seconds: float):
        self.budget, self.size, self.read = budget, share, False
        # A message slow to arrive gives its share back after a while, so a slow sender blocks
        # nobody; read later, it is counted from then on. A call that ends unread closes it.
        loop = asyncio.get_running_loop()
        self._expiry = loop.call_later(unread_seconds, self._expire)

    def received(self, size: int) -> None:
        if self.read:
            return
        self.read = True
        self._expiry.cancel()
        self.budget.resize(self.size, size)
        self.size = size

    def _expire(self) -> None:
        if not self.read:
            self.budget.release(self.size)
            self.size = 0

    def close(self) -> None:
        self._expiry.cancel()
        self.budget.release(self.size)
        self.size = 0
        self.read = True


class GrpcAdmission(grpc.aio.ServerInterceptor):
    """Holds each call to the services named until its share of the budget is free."""

    def __init__(
        self, budget: Budget, share: int, services: tuple[str, ...], unread_seconds: float = 2.0
    ):
        self.budget, self.share, self.unread_seconds = budget, share, unread_seconds
        self._prefixes = tuple(f"/{s}/" for s in services)

    async def intercept_service(self, continuation, handler_call_details):
        if handler_call_details.method.startswith(self._prefixes):
            await self.budget.reserve(self.share)
            ticket = Ticket(self.budget, self.share, self.unread_seconds)
            _TICKET.set(ticket)
            # However the call ends (answered, aborted before any handler ran, cancelled by the
            # client), its task ends, and the bytes go back.
            asyncio.current_task().add_done_callback(lambda _task: ticket.close())
        return await continuation(handler_call_details)


def counting(deserialize: Callable[[bytes], object]) -> Callable[[bytes], object]:
    """A request deserializer that tells the call's ticket how large the message was."""

    def read(raw: bytes):
        ticket = _TICKET.get()
        if ticket is not None:
            ticket.received(len(raw))
        return deserialize(raw)

    return read
