"""Checking many domains at once: the engine behind the drift sweep and `flask dns check`.

`validate_domain` is synchronous and asks DNS one question at a time, so a sweep gets its
speed from running many domains side by side. Each domain's check runs in a worker thread
whose resolver hands every lookup to one asyncio loop (`AsyncResolver`); the threads only
wait, the loop keeps hundreds of lookups in flight. Nothing is looked up twice or replayed:
answers are remembered for the length of one domain's check, and answers for names outside
the domain (the platform's SPF include, a blocklist's answer for our IP) are shared across
the sweep for no longer than their TTL, with one lookup in flight per name.

Targets are read lazily and results yielded as they finish, so memory stays flat however
many domains a sweep covers; shard a larger sweep across processes or RQ workers.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Coroutine, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from app.adapters.dns import Answer, AsyncResolver, DnsConfig
from app.monitoring.validator import ValidationReport, validate_domain

SHARED_ANSWERS = 4096  # names outside the checked domains remembered across a sweep
T = TypeVar("T")


@dataclass(frozen=True)
class CheckTarget:
    key: object  # the caller's id (e.g. a domain id), handed back with the report
    domain: str  # normalised fqdn
    inputs: Mapping[str, object] = field(default_factory=dict)  # kwargs for validate_domain


class SweepClosed(Exception):
    """Raised inside checks still running when the caller stops reading results."""


def check_many(targets: Iterable[CheckTarget], *, dns_config: DnsConfig,
               concurrency: int = 100) -> Iterator[tuple[CheckTarget, ValidationReport]]:
    """Validate every target, at most `concurrency` at a time, yielding each report as it
    finishes (not in input order). Usable from an RQ job or the CLI: it runs its own event
    loop in a thread. Closing the generator early abandons the checks still in flight."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be 1 or more, got {concurrency}")
    sweep = _Sweep(dns_config, concurrency)
    try:
        yield from sweep.run(iter(targets))
    finally:
        sweep.close()


class _Sweep:
    def __init__(self, dns_config: DnsConfig, concurrency: int):
        self.concurrency = concurrency
        self.resolver = AsyncResolver(dns_config)
        self.shared = _SharedAnswers(self.resolver, SHARED_ANSWERS)
        self.closed = False
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever,
                                             name="dns-sweep-loop", daemon=True)
        self._loop_thread.start()
        self._workers = ThreadPoolExecutor(max_workers=concurrency,
                                           thread_name_prefix="dns-sweep")

    def run(self, targets: Iterator[CheckTarget]) -> Iterator[tuple[CheckTarget,
                                                                    ValidationReport]]:
        in_flight: dict[Future, CheckTarget] = {}
        exhausted = False
        while True:
            # Take a target only when a slot is free: the caller's iterable is read lazily.
            while not exhausted and len(in_flight) < self.concurrency:
                target = next(targets, None)
                if target is None:
                    exhausted = True
                else:
                    in_flight[self._workers.submit(self._check, target)] = target
            if not in_flight:
                return
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                target = in_flight.pop(future)
                yield target, future.result()

    def _check(self, target: CheckTarget) -> ValidationReport:
        return validate_domain(target.domain, _DomainResolver(self, target.domain),
                               **target.inputs)

    def wait_for(self, lookup: Coroutine[Any, Any, T]) -> T:
        """Run a lookup on the loop and block this worker thread until it is answered."""
        if self.closed:
            lookup.close()
            raise SweepClosed("the sweep was closed")
        return asyncio.run_coroutine_threadsafe(lookup, self._loop).result()

    def close(self) -> None:
        self.closed = True
        self._loop.call_soon_threadsafe(_cancel_all, self._loop)
        self._workers.shutdown(wait=True, cancel_futures=True)
        asyncio.run_coroutine_threadsafe(self._close_sockets(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join()
        self._loop.close()

    async def _close_sockets(self) -> None:
        self.resolver.close()
        await asyncio.sleep(0)  # the transports finish closing on the next turn of the loop


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()


class _DomainResolver:
    """The resolver one domain's `validate_domain` sees, in its worker thread: every lookup is
    answered by the sweep's loop and remembered for the rest of this check."""

    def __init__(self, sweep: _Sweep, domain: str):
        self._sweep = sweep
        self._domain = domain.lower().removesuffix(".")
        self._answers: dict[tuple[str, str, str], object] = {}

    def query(self, name: str, rdtype: str) -> Answer:
        key = ("query", *_key(name, rdtype))
        if key not in self._answers:
            source = self._sweep.resolver if self._is_own(key[1]) else self._sweep.shared
            self._answers[key] = self._sweep.wait_for(source.query(name, rdtype))
        return self._answers[key]

    def query_each_authoritative(self, name: str, rdtype: str) -> list[Answer]:
        key = ("each", *_key(name, rdtype))
        if key not in self._answers:
            self._answers[key] = self._sweep.wait_for(
                self._sweep.resolver.query_each_authoritative(name, rdtype))
        return list(self._answers[key])

    def _is_own(self, name: str) -> bool:
        return name == self._domain or name.endswith("." + self._domain)


class _SharedAnswers:
    """Answers for names outside the checked domain, shared across a sweep: at most `size`,
    none kept past its TTL, failures never kept, and one lookup in flight per name however
    many domains ask for it at once. Used only on the sweep's loop."""

    def __init__(self, resolver: AsyncResolver, size: int):
        self._resolver, self._size = resolver, size
        self._answers: OrderedDict[tuple[str, str], tuple[float, Answer]] = OrderedDict()
        self._pending: dict[tuple[str, str], asyncio.Future[Answer]] = {}

    async def query(self, name: str, rdtype: str) -> Answer:
        key = _key(name, rdtype)
        cached = self._answers.get(key)
        if cached is not None and cached[0] > time.monotonic():
            self._answers.move_to_end(key)
            answer = cached[1]
        else:
            pending = self._pending.get(key)
            if pending is None:
                pending = self._pending[key] = asyncio.ensure_future(self._fetch(key, name,
                                                                                 rdtype))
            answer = await asyncio.shield(pending)
        return answer if answer.name == name else replace(answer, name=name)

    async def _fetch(self, key: tuple[str, str], name: str, rdtype: str) -> Answer:
        try:
            answer = await self._resolver.query(name, rdtype)
        finally:
            del self._pending[key]
        if not answer.failed and answer.ttl:
            self._answers[key] = (time.monotonic() + answer.ttl, answer)
            self._answers.move_to_end(key)
            while len(self._answers) > self._size:
                self._answers.popitem(last=False)
        return answer


def _key(name: str, rdtype: str) -> tuple[str, str]:
    return name.lower().removesuffix("."), rdtype.upper()
