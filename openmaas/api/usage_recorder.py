"""UsageRecorder: the metering listener that turns each RequestRecord into a usage row and counts it in quotas."""

from __future__ import annotations

from collections.abc import Callable

from openmaas.api.auth import Authenticator
from openmaas.api.metering import RequestRecord
from openmaas.control.db import utcnow
from openmaas.control.usage import UsageEntry

# model id -> (price per million input tokens, per million output tokens); (0, 0) when unknown.
PriceFn = Callable[[str], tuple[float, float]]


def no_price(model_id: str) -> tuple[float, float]:
    return 0.0, 0.0


class UsageRecorder:
    """Called on the event loop when a call ends: only queues the row (the writer's thread writes it)."""

    def __init__(
        self, submit: Callable[[UsageEntry], None], authenticator: Authenticator, price: PriceFn = no_price
    ) -> None:
        self._submit = submit
        self._authenticator = authenticator
        self._price = price

    def __call__(self, record: RequestRecord) -> None:
        input_price, output_price = self._price(record.model)
        # Cached prompt tokens are billed as input, as most hosted APIs without a cache discount do.
        cost = (record.num_prompt_tokens * input_price + record.num_completion_tokens * output_price) / 1_000_000
        self._authenticator.record(record, cost)
        now = utcnow()
        self._submit(
            UsageEntry(
                request_id=record.request_id,
                created_at=now,
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
            )
        )
