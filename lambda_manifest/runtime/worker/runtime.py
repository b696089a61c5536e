"""Turns ``process(record)`` into an SQS Lambda handler with partial batch responses.

Per record: JSON decoding and envelope unwrapping, FIFO group short-circuiting, optional idempotency, and one
log line per failed record (message id and reason, never the body); per batch, the ``batchItemFailures``
response that ``ReportBatchItemFailures`` expects.

The loop is this module's own rather than Powertools' ``BatchProcessor``: measured on Python 3.14, importing
``aws_lambda_powertools.utilities.batch`` more than doubles this runtime's cold start (it imports ``asyncio``
and every event data class), and its per-record wrapping cost more than the work this runtime does per record
(see bench/bench_worker.py). Powertools still provides the logger and, when it is on, idempotency.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, overload

from aws_lambda_powertools import Logger

from .contract import (
    ENV_FIFO,
    ENV_IDEMPOTENCY_KEY,
    ENV_IDEMPOTENCY_TABLE,
    ENV_IDEMPOTENCY_TTL_SECONDS,
    ENV_RAW_BODY,
    IDEMPOTENCY_PARTITION_KEY,
    IDEMPOTENCY_TTL_ATTRIBUTE,
)
from .record import MalformedBodyError, Skip, WorkerRecord, from_sqs_record

if TYPE_CHECKING:
    from types import TracebackType

ProcessFn = Callable[[WorkerRecord], object]
BatchResponse = dict[str, list[dict[str, str]]]
_RaiseSite = tuple["type[BaseException]", str]
_Failure = tuple[Mapping[str, Any], BaseException]

# The settings' variables; a change to any of them is noticed at the next invocation.
_ENV_NAMES = (ENV_FIFO, ENV_RAW_BODY, ENV_IDEMPOTENCY_TABLE, ENV_IDEMPOTENCY_KEY, ENV_IDEMPOTENCY_TTL_SECONDS)

DEFAULT_IDEMPOTENCY_TTL_SECONDS = 3600
_MAX_REASON_CHARS = 500
_TRACEBACK_EVERY_SECONDS = 60.0
_MAX_TRACKED_SITES = 256

logger = Logger()

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def _env_bool(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    # A typo in a deployment setting must not silently pick a delivery mode.
    raise ValueError(f"{name} must be true or false, got {value!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerSettings:
    fifo: bool = False
    raw_body: bool = False
    idempotency_table: str | None = None
    idempotency_key: str | None = None
    idempotency_ttl_seconds: int = DEFAULT_IDEMPOTENCY_TTL_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerSettings:
        env = os.environ if environ is None else environ
        ttl_text = env.get(ENV_IDEMPOTENCY_TTL_SECONDS, "").strip()
        try:
            ttl = int(ttl_text) if ttl_text else DEFAULT_IDEMPOTENCY_TTL_SECONDS
        except ValueError:
            raise ValueError(f"{ENV_IDEMPOTENCY_TTL_SECONDS} must be a whole number of seconds") from None
        if ttl <= 0:
            raise ValueError(f"{ENV_IDEMPOTENCY_TTL_SECONDS} must be positive")
        return cls(
            fifo=_env_bool(env, ENV_FIFO),
            raw_body=_env_bool(env, ENV_RAW_BODY),
            idempotency_table=env.get(ENV_IDEMPOTENCY_TABLE) or None,
            idempotency_key=env.get(ENV_IDEMPOTENCY_KEY) or None,
            idempotency_ttl_seconds=ttl,
        )


def _has_remaining_time(context: object) -> bool:
    return callable(getattr(context, "get_remaining_time_in_millis", None))


class _IdempotentRunner:
    """``process`` behind Powertools idempotency, keyed on the decoded body and the message group."""

    def __init__(self, process: ProcessFn, settings: WorkerSettings) -> None:
        # Imported here because it pulls in boto3 (~100 ms), which a worker without idempotency never needs.
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        assert settings.idempotency_table is not None
        self.config = IdempotencyConfig(
            event_key_jmespath=settings.idempotency_key or "",
            expires_after_seconds=settings.idempotency_ttl_seconds,
            # A configured key that a message lacks would otherwise run the side effect unguarded.
            raise_on_no_idempotency_key=bool(settings.idempotency_key),
        )
        store = DynamoDBPersistenceLayer(
            table_name=settings.idempotency_table,
            key_attr=IDEMPOTENCY_PARTITION_KEY,
            expiry_attr=IDEMPOTENCY_TTL_ATTRIBUTE,
        )

        # wraps() carries the user function's module and name into the idempotency key prefix, so two workers
        # sharing a table never collide.
        @functools.wraps(process)
        def once(*, key: dict[str, Any], record: WorkerRecord) -> None:
            process(record)

        self._guarded: Callable[..., None] = idempotent_function(
            once, data_keyword_argument="key", persistence_store=store, config=self.config
        )

    def bind(self, context: object) -> None:
        # Without the invocation's deadline an in-progress marker left by a timed-out run would block retries
        # for the whole expiry window instead of until that invocation could no longer be running.
        if _has_remaining_time(context):
            self.config.register_lambda_context(context)  # type: ignore[arg-type]
        else:
            self.config.lambda_context = None

    def __call__(self, record: WorkerRecord) -> None:
        self._guarded(key={"body": record.body, "group_id": record.group_id}, record=record)


class Worker:
    """A Lambda handler for an SQS event source mapping with ``ReportBatchItemFailures`` on.

    Settings come from the environment at each invocation (a handful of dict look-ups), so the same function
    object serves every configuration; keyword arguments given to :func:`worker` take precedence.
    """

    def __init__(self, process: ProcessFn, **overrides: Any) -> None:
        unknown = set(overrides) - {f.name for f in dataclasses.fields(WorkerSettings)}
        if unknown:
            raise TypeError(f"unknown worker settings: {sorted(unknown)}")
        self.process = process
        self._overrides = {name: value for name, value in overrides.items() if value is not None}
        self._idempotent: dict[tuple[str, str | None, int], _IdempotentRunner] = {}
        self._last_traceback: dict[_RaiseSite, float] = {}
        self._settings: tuple[tuple[str | None, ...], WorkerSettings] | None = None

    def __repr__(self) -> str:
        name = getattr(self.process, "__qualname__", repr(self.process))
        return f"Worker({getattr(self.process, '__module__', '?')}.{name})"

    def settings(self) -> WorkerSettings:
        # Read at every invocation, parsed only when a value changed: the look-ups are cheap, building and
        # validating the settings is not (it was a tenth of a small batch's cost).
        values = tuple(map(os.environ.get, _ENV_NAMES))
        cached = self._settings
        if cached is not None and cached[0] == values:
            return cached[1]
        settings = WorkerSettings.from_env()
        if self._overrides:
            settings = dataclasses.replace(settings, **self._overrides)
        self._settings = (values, settings)
        return settings

    def _runner(self, settings: WorkerSettings, context: object) -> ProcessFn:
        if settings.idempotency_table is None:
            return self.process
        cache_key = (settings.idempotency_table, settings.idempotency_key, settings.idempotency_ttl_seconds)
        runner = self._idempotent.get(cache_key)
        if runner is None:
            runner = self._idempotent[cache_key] = _IdempotentRunner(self.process, settings)
        runner.bind(context)
        return runner

    def __call__(self, event: Mapping[str, Any], context: object = None) -> BatchResponse:
        records = event.get("Records")
        if not records:
            return {"batchItemFailures": []}
        settings = self.settings()
        fifo = settings.fifo or str(records[0].get("eventSourceARN", "")).endswith(".fifo")
        run = self._runner(settings, context)
        raw_body = settings.raw_body
        failed: list[_Failure] = []
        # FIFO: once a message fails, the later messages of its group are not run (running them would
        # break the group's order) and are reported failed with it; other groups go on.
        failed_groups: set[str] = set()
        for record in records:
            group = (record.get("attributes") or _EMPTY).get("MessageGroupId") if fifo else None
            if group is not None and group in failed_groups:
                failed.append((record, FifoGroupSkipped(f"an earlier message of group {group!r} failed")))
                continue
            try:
                view = from_sqs_record(record, raw_body)
                if isinstance(view, Skip):
                    logger.info("record skipped", extra={"message_id": record.get("messageId"), "reason": view.reason})
                    continue
                run(view)
            except Exception as exc:
                failed.append((record, exc))
                if group is not None:
                    failed_groups.add(group)
        if not failed:
            return {"batchItemFailures": []}
        _log_failures(failed, len(records), self._last_traceback)
        return {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record, _ in failed]}


class FifoGroupSkipped(Exception):
    """A FIFO message not run because an earlier message of its group failed in the same batch."""


_EMPTY: Mapping[str, Any] = {}


def _raise_site(traceback: TracebackType) -> str:
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    return f"{traceback.tb_frame.f_code.co_filename}:{traceback.tb_lineno}"


def _log_failures(failed: list[_Failure], total: int, last_traceback: dict[_RaiseSite, float]) -> None:
    now = time.monotonic()
    if len(last_traceback) > _MAX_TRACKED_SITES:
        last_traceback.clear()
    for record, exc in failed:
        attributes = record.get("attributes") or _EMPTY
        fields: dict[str, Any] = {
            "message_id": record.get("messageId"),
            "reason": f"{type(exc).__name__}: {exc}"[:_MAX_REASON_CHARS],
            "receive_count": attributes.get("ApproximateReceiveCount"),
            "group_id": attributes.get("MessageGroupId"),
        }
        exc_info = None
        # A body that isn't JSON, or a FIFO record short-circuited behind its group's failure, has no useful
        # traceback. For the user's own errors one traceback per raise site and minute is enough (every line
        # still names the site): formatting it costs far more than a typical record, and during an outage
        # the same stack per record would multiply the log bill.
        traceback = exc.__traceback__
        if traceback is not None and not isinstance(exc, MalformedBodyError):
            fields["error_site"] = site = _raise_site(traceback)
            key = (type(exc), site)
            last = last_traceback.get(key)
            if last is None or now - last >= _TRACEBACK_EVERY_SECONDS:
                last_traceback[key] = now
                exc_info = (type(exc), exc, traceback)
        logger.warning("record failed", extra=fields, exc_info=exc_info)
    if len(failed) == total:
        logger.error("every record in the batch failed", extra={"records": total})


@overload
def worker(
    process: ProcessFn,
    *,
    fifo: bool | None = None,
    raw_body: bool | None = None,
    idempotency_table: str | None = None,
    idempotency_key: str | None = None,
    idempotency_ttl_seconds: int | None = None,
) -> Worker: ...


@overload
def worker(
    process: None = None,
    *,
    fifo: bool | None = None,
    raw_body: bool | None = None,
    idempotency_table: str | None = None,
    idempotency_key: str | None = None,
    idempotency_ttl_seconds: int | None = None,
) -> Callable[[ProcessFn], Worker]: ...


def worker(
    process: ProcessFn | None = None,
    *,
    fifo: bool | None = None,
    raw_body: bool | None = None,
    idempotency_table: str | None = None,
    idempotency_key: str | None = None,
    idempotency_ttl_seconds: int | None = None,
) -> Worker | Callable[[ProcessFn], Worker]:
    """Wrap ``process(record)`` as an SQS Lambda handler: ``handler = worker(process)``.

    Also usable as ``@worker`` or ``@worker(fifo=True)``. Arguments left as ``None`` come from the
    ``LM_WORKER_*`` environment variables at each invocation.
    """
    overrides: dict[str, Any] = {
        "fifo": fifo,
        "raw_body": raw_body,
        "idempotency_table": idempotency_table,
        "idempotency_key": idempotency_key,
        "idempotency_ttl_seconds": idempotency_ttl_seconds,
    }
    if process is None:
        return functools.partial(Worker, **overrides)
    return Worker(process, **overrides)
