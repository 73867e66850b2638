"""The request log: one INFO line per API call, from its RequestRecord.

It names the call (request id, key prefix, deployment, model, dialect), its
outcome and its token counts and timings; never a prompt, an output or a
secret. In JSON format every field is its own key.
"""

from __future__ import annotations

import logging

from openmaas.api.metering import RequestRecord

logger = logging.getLogger("openmaas.requests")


def log_request(record: RequestRecord) -> None:
    ttft = "-" if record.time_to_first_token is None else f"{record.time_to_first_token * 1000:.0f}ms"
    logger.info(
        "%s %s %s status=%s prompt=%d cached=%d completion=%d ttft=%s duration=%.0fms key=%s",
        record.dialect,
        record.deployment or "-",
        record.model,
        record.status,
        record.num_prompt_tokens,
        record.num_cached_tokens,
        record.num_completion_tokens,
        ttft,
        record.duration * 1000,
        record.key_prefix or "-",
        extra={
            "event": "request",
            "request_id": record.request_id,
            "dialect": record.dialect,
            "deployment": record.deployment,
            "model": record.model,
            "status": record.status,
            "prompt_tokens": record.num_prompt_tokens,
            "cached_tokens": record.num_cached_tokens,
            "completion_tokens": record.num_completion_tokens,
            "finish_reasons": list(record.finish_reasons),
            "time_to_first_token_ms": None if record.time_to_first_token is None else record.time_to_first_token * 1000,
            "duration_ms": record.duration * 1000,
            "key_prefix": record.key_prefix,
        },
    )
