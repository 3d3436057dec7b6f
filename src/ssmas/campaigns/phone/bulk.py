"""Validation at volume: the fast path with the reference behind it, one batch spread over
every core by worker processes (:mod:`ssmas.campaigns.phone.workers`) started once and reused.

:func:`check_phone` and :func:`check_many` validate in this process. :class:`BulkValidator`
is the service the bulk API calls: a batch below ``inline_below`` numbers is validated here
(the pool's round trip would cost more than it saves); a larger one is cut into one chunk per
worker plus a smaller one this process answers meanwhile, one MessagePack message each way per
chunk, and the answer comes back in input order with the repeats marked when asked.

Two answers with one meaning: :meth:`BulkValidator.validate` gives objects (for the import
pipeline); :meth:`BulkValidator.validate_json` gives the JSON body for the HTTP API, and there
the workers send each check already encoded, with only its E.164 and reason beside it, so this
process never rebuilds 10,000 checks to encode them again. Tests hold the JSON answer to the
objects' encoding byte for byte.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import TypeVar

import msgspec
from msgspec import Raw, Struct

from ssmas.campaigns.phone.check import PhoneCheck
from ssmas.campaigns.phone.fastpath import check_fast, prefix_table
from ssmas.campaigns.phone.inputs import BulkBatch, BulkValidationRequest, read_bulk_request
from ssmas.campaigns.phone.lada import lada_catalogue
from ssmas.campaigns.phone.reference import check_reference
from ssmas.campaigns.phone.workers import Workers

__all__ = [
    "BulkItem",
    "BulkSummary",
    "BulkValidation",
    "BulkValidator",
    "check_many",
    "check_phone",
    "mark_duplicates",
]

T = TypeVar("T")
# What a worker sends back for the JSON answer: each check's JSON, E.164 and reason.
Encoded = tuple[list[bytes], list[str | None], list[str | None]]
# The same for the answer's assembly: checks as objects (this process's) or as JSON (workers').
Checked = tuple[list[PhoneCheck] | list[Raw], list[str | None], list[str | None]]

_MSGPACK = msgspec.msgpack.Encoder()
_CHECKS = msgspec.msgpack.Decoder(list[PhoneCheck])
_ENCODED = msgspec.msgpack.Decoder(Encoded)
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
    return _MSGPACK.encode(check_many(numbers))


def _encode_chunk(numbers: list[str]) -> bytes:
    checks = check_many(numbers)
    encoded: Encoded = (
        [_JSON.encode(check) for check in checks],
        [check.e164 for check in checks],
        [check.reason for check in checks],
    )
    return _MSGPACK.encode(encoded)


def _checked(numbers: list[str]) -> Checked:
    checks = check_many(numbers)
    return checks, [check.e164 for check in checks], [check.reason for check in checks]


def _decode_encoded(answer: bytes) -> Checked:
    jsons, e164s, reasons = _ENCODED.decode(answer)
    return list(map(Raw, jsons)), e164s, reasons


# The workers' jobs, by index.
_CHECK, _ENCODE = 0, 1
_JOBS = (_check_chunk, _encode_chunk)


def _warm() -> None:
    lada_catalogue()
    prefix_table()


def mark_duplicates(e164s: Iterable[str | None]) -> list[int | None]:
    """For each number, the index of the first earlier one with the same E.164 form (None for
    a first occurrence and for numbers without an E.164 form)."""
    first: dict[str, int] = {}
    marks: list[int | None] = []
    for index, e164 in enumerate(e164s):
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


class _EncodedItem(Struct, frozen=True, gc=False):
    """:class:`BulkItem` whose check may be already encoded by a worker (same JSON)."""

    phone: str
    check: PhoneCheck | Raw
    duplicate_of: int | None = None
    presence: dict[str, bool] | None = None


class _EncodedValidation(Struct, frozen=True):
    items: list[_EncodedItem]
    summary: BulkSummary


def _summary(reasons: Iterable[str | None], marks: list[int | None]) -> BulkSummary:
    rejected = Counter(str(reason) for reason in reasons if reason is not None)
    return BulkSummary(
        total=len(marks),
        valid=len(marks) - rejected.total(),
        rejected=dict(rejected),
        duplicates=len(marks) - marks.count(None),
    )


def _marks(batch: BulkBatch, e164s: Sequence[str | None]) -> list[int | None]:
    return mark_duplicates(e164s) if batch.dedup else [None] * len(e164s)


class BulkValidator:
    """Validates batches on ``workers`` processes (default: every core).

    The workers start on the first batch large enough to use them (or at :meth:`start`) and
    serve every later one until :meth:`close`; a worker that dies fails its batch and the next
    batch gets new workers. Safe to share between threads (one batch at a time uses the
    workers). Answers are the same as :func:`check_many` gives in this process.
    """

    def __init__(self, workers: int | None = None, *, inline_below: int = 1_000) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.inline_below = inline_below
        self._pool: Workers | None = None
        self._lock = threading.Lock()

    def _workers(self) -> Workers:
        with self._lock:
            if self._pool is None or self._pool.broken:
                if self._pool is not None:
                    self._pool.close()
                self._pool = Workers(self.workers, _JOBS, _warm)
            return self._pool

    def start(self) -> BulkValidator:
        """Start the pool now (and wait for every worker to be ready) instead of on first use."""
        pool = self._workers()
        pool.run(_CHECK, [["5512345678"]] * pool.count, lambda: None)
        return self

    def _inline(self, numbers: Sequence[str]) -> bool:
        return len(numbers) < self.inline_below or self.workers == 1

    def _spread(
        self,
        numbers: Sequence[str],
        job: int,
        local: Callable[[list[str]], T],
        decode: Callable[[bytes], T],
    ) -> list[T]:
        """The answers to consecutive chunks of ``numbers``, in order: one chunk per worker
        (``job``, encoded), and a first one this process answers (``local``) while they work,
        half a worker's share since it also reads the request and assembles the answer."""
        mine = len(numbers) // (2 * self.workers + 1)
        size = -(-(len(numbers) - mine) // self.workers)
        chunks = [list(numbers[i : i + size]) for i in range(mine, len(numbers), size)]
        own, answers = self._workers().run(job, chunks, lambda: local(list(numbers[:mine])))
        return [own, *map(decode, answers)]

    def check(self, numbers: Sequence[str]) -> list[PhoneCheck]:
        """Every number's check, in order."""
        if self._inline(numbers):
            return check_many(numbers)
        checks: list[PhoneCheck] = []
        for answer in self._spread(numbers, _CHECK, check_many, _CHECKS.decode):
            checks.extend(answer)
        return checks

    def validate(self, request: BulkBatch | BulkValidationRequest) -> BulkValidation:
        """The bulk answer to ``request``, as objects."""
        batch = request.batch() if isinstance(request, BulkValidationRequest) else request
        checks = self.check(batch.phones)
        marks = _marks(batch, [check.e164 for check in checks])
        items = list(map(BulkItem, batch.phones, checks, marks, batch.presence))
        return BulkValidation(items, _summary((check.reason for check in checks), marks))

    def validate_json(self, body: bytes | str) -> bytes:
        """The JSON answer to a JSON request body: ``validate(read_bulk_request(body))``
        encoded. Raises what :func:`read_bulk_request` raises for a body it refuses."""
        return self.answer_json(read_bulk_request(body))

    def answer_json(self, batch: BulkBatch) -> bytes:
        """The JSON answer to a batch already read (the bulk API reads the body first, to
        charge the tenant's quota for its size before validating)."""
        if self._inline(batch.phones):
            return self.validate(batch).to_json()
        fragments: list[PhoneCheck | Raw] = []
        e164s: list[str | None] = []
        reasons: list[str | None] = []
        for checks, chunk_e164s, chunk_reasons in self._spread(
            batch.phones, _ENCODE, _checked, _decode_encoded
        ):
            fragments.extend(checks)
            e164s.extend(chunk_e164s)
            reasons.extend(chunk_reasons)
        marks = _marks(batch, e164s)
        items = list(map(_EncodedItem, batch.phones, fragments, marks, batch.presence))
        return _JSON.encode(_EncodedValidation(items, _summary(reasons, marks)))

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
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
