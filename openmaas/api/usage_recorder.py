"""UsageRecorder: the ledger that makes each call's RequestRecord a usage row, journaled and counted in quotas."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable

from openmaas.api.auth import Authenticator
from openmaas.api.metering import RequestRecord
from openmaas.control.db import utcnow
from openmaas.control.journal import CallProgress, UsageJournal
from openmaas.control.usage import UsageEntry

# model id -> (price per million input tokens, per million output tokens); (0, 0) when unknown.
PriceFn = Callable[[str], tuple[float, float]]


def no_price(model_id: str) -> tuple[float, float]:
    return 0.0, 0.0


def cost_of(record: RequestRecord, prices: tuple[float, float]) -> float:
    """The call's cost: its own token counts times the model's per-million prices."""
    input_price, output_price = prices
    # Cached prompt tokens are billed as input, as most hosted APIs without a cache discount do.
    return (record.num_prompt_tokens * input_price + record.num_completion_tokens * output_price) / 1_000_000


class UsageRecorder:
    """Runs on the event loop: appends to the journal (a plain write; the sync is the journal's thread's)
    and queues the row (the writer's thread writes it to the database)."""

    def __init__(
        self,
        submit: Callable[[UsageEntry], None],
        authenticator: Authenticator,
        price: PriceFn = no_price,
        journal: UsageJournal | None = None,
    ) -> None:
        self._submit = submit
        self._authenticator = authenticator
        self._price = price
        self._journal = journal

    def begin(self, record: RequestRecord) -> None:
        if self._journal is not None and record.call_id is not None:
            prices = self._price(record.model)
            self._journal.begin(record.call_id, self._entry(record, cost_of(record, prices)), prices)

    def progress(self, record: RequestRecord) -> None:
        if self._journal is not None and record.call_id is not None:
            self._journal.progress(
                record.call_id,
                CallProgress(
                    num_prompt_tokens=record.num_prompt_tokens,
                    num_cached_tokens=record.num_cached_tokens,
                    num_completion_tokens=record.num_completion_tokens,
                    time_to_first_token=record.time_to_first_token,
                    duration=record.duration,
                ),
            )

    def end(self, record: RequestRecord) -> concurrent.futures.Future[None] | None:
        cost = cost_of(record, self._price(record.model))
        self._authenticator.record(record, cost)
        entry = self._entry(record, cost)
        durable = self._journal.end(entry) if self._journal is not None and record.call_id is not None else None
        self._submit(entry)
        return durable

    @staticmethod
    def _entry(record: RequestRecord, cost: float) -> UsageEntry:
        return UsageEntry(
            request_id=record.request_id,
            created_at=utcnow(),
            key_id=record.key_id,
            key_prefix=record.key_prefix,
            model=record.model,
            deployment=record.deployment,
            dialect=record.dialect,
            status=record.status,
            num_prompt_tokens=record.num_prompt_tokens,
            num_cached_tokens=record.num_cached_tokens,
            num_completion_tokens=record.num_completion_tokens,
            time_to_first_token=record.time_to_first_token,
            duration=record.duration,
            # One per choice; the column holds 200 characters (a call of many choices is cut short).
            finish_reason=",".join(record.finish_reasons)[:200],
            cost=cost,
            call_id=record.call_id,
        )
