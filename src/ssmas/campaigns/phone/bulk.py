"""Validation at volume: the fast path with the reference behind it, one batch spread over
every core by a process pool that is created once and reused.

:func:`check_phone` and :func:`check_many` validate in this process. :class:`BulkValidator`
is the service the bulk API calls: a batch below ``inline_below`` numbers is validated here
(the pool's round trip would cost more than it saves); a larger one is cut into chunks, the
workers answer each chunk as one MessagePack message, and the answer comes back in input order
with the duplicates marked when asked.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from types import TracebackType

import msgspec
from msgspec import Struct

from ssmas.campaigns.phone.check import PhoneCheck
from ssmas.campaigns.phone.fastpath import check_fast, prefix_table
from ssmas.campaigns.phone.inputs import BulkBatch, BulkValidationRequest, read_bulk_request
from ssmas.campaigns.phone.lada import lada_catalogue
from ssmas.campaigns.phone.reference import check_reference

__all__ = [
    "BulkItem",
    "BulkSummary",
    "BulkValidation",
    "BulkValidator",
    "check_many",
    "check_phone",
    "mark_duplicates",
]

_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(list[PhoneCheck])
_JSON = msgspec.json.Encoder()


def check_phone(raw: str) -> PhoneCheck:
    """Validate one number: the fast path when it knows the shape, else the reference."""
    found = check_fast(raw)
    return found if found is not None else check_reference(raw)


def check_many(numbers: Sequence[str]) -> list[PhoneCheck]:
    """:func:`check_phone` for each number, in order."""
    fast, reference = check_fast, check_reference
    checks = []
    for raw in numbers:
        found = fast(raw)
        checks.append(found if found is not None else reference(raw))
    return checks


def _check_chunk(numbers: list[str]) -> bytes:
    return _ENCODER.encode(check_many(numbers))


def _warm() -> None:
    lada_catalogue()
    prefix_table()


def mark_duplicates(checks: Sequence[PhoneCheck]) -> list[int | None]:
    """For each check, the index of the first earlier check of the same E.164 number (None for
    a first occurrence and for numbers without an E.164 form)."""
    first: dict[str, int] = {}
    marks: list[int | None] = []
    for index, check in enumerate(checks):
        e164 = check.e164
        if e164 is None:
            marks.append(None)
            continue
        seen = first.setdefault(e164, index)
        marks.append(seen if seen != index else None)
    return marks


class BulkItem(Struct, frozen=True, gc=False):
    """One number of a bulk answer: the input as sent, its check, its first occurrence when it
    repeats one (with dedup on) and the presence flags it came with."""

    phone: str
    check: PhoneCheck
    duplicate_of: int | None = None
    presence: dict[str, bool] | None = None


class BulkSummary(Struct, frozen=True):
    """Counts over a batch: valid, rejected by reason, repeats (0 without dedup)."""

    total: int
    valid: int
    rejected: dict[str, int]
    duplicates: int


class BulkValidation(Struct, frozen=True):
    """A bulk answer, items in input order."""

    items: list[BulkItem]
    summary: BulkSummary

    def to_json(self) -> bytes:
        return _JSON.encode(self)


class BulkValidator:
    """Validates batches on ``workers`` processes (default: every core).

    The pool starts on the first batch large enough to use it and serves every later one until
    :meth:`close`; it is safe to share between threads. Answers are the same as
    :func:`check_many` gives in this process, whatever the chunking.
    """

    def __init__(
        self, workers: int | None = None, *, chunk_size: int = 2_500, inline_below: int = 1_000
    ) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.chunk_size = chunk_size
        self.inline_below = inline_below
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=get_context("spawn"), initializer=_warm
                )
            return self._pool

    def start(self) -> BulkValidator:
        """Start the pool now (and wait for every worker to be ready) instead of on first use."""
        pool = self._executor()
        list(pool.map(_check_chunk, [["5512345678"]] * self.workers))
        return self

    def check(self, numbers: Sequence[str]) -> list[PhoneCheck]:
        """Every number's check, in order."""
        if len(numbers) < self.inline_below or self.workers == 1:
            return check_many(numbers)
        size = max(1, min(self.chunk_size, -(-len(numbers) // self.workers)))
        chunks = [list(numbers[i : i + size]) for i in range(0, len(numbers), size)]
        checks: list[PhoneCheck] = []
        for answer in self._executor().map(_check_chunk, chunks):
            checks.extend(_DECODER.decode(answer))
        return checks

    def validate(self, request: BulkBatch | BulkValidationRequest) -> BulkValidation:
        """The bulk API's answer to ``request``."""
        batch = request.batch() if isinstance(request, BulkValidationRequest) else request
        checks = self.check(batch.phones)
        marks = mark_duplicates(checks) if batch.dedup else [None] * len(checks)
        items = list(map(BulkItem, batch.phones, checks, marks, batch.presence))
        reasons = Counter(check.reason.value for check in checks if check.reason is not None)
        summary = BulkSummary(
            total=len(checks),
            valid=len(checks) - reasons.total(),
            rejected=dict(reasons),
            duplicates=len(marks) - marks.count(None),
        )
        return BulkValidation(items, summary)

    def validate_json(self, body: bytes | str) -> BulkValidation:
        """The answer to a JSON request body (see :func:`read_bulk_request` for refusals)."""
        return self.validate(read_bulk_request(body))

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def __enter__(self) -> BulkValidator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
