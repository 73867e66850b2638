"""Settings: read once from the environment (OPENMAAS_*) and an optional .env file, then passed down."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("openmaas", appauthor=False))


class Settings(BaseSettings):
    """Every setting of the server. docs/settings.md lists them; a test keeps that list true."""

    model_config = SettingsConfigDict(env_prefix="OPENMAAS_", env_file=".env", extra="ignore")

    home: Path = Field(default_factory=default_home, description="Where models and data live.")
    host: str = Field("127.0.0.1", description="Address the HTTP server binds.")
    port: int = Field(8000, description="Port the HTTP server listens on.")
    model: str | None = Field(None, description="GGUF file to serve; unset serves the bundled Gemma 3 270M.")
    model_id: str | None = Field(None, description="Id clients use for the model; defaults from the file name.")
    max_num_seqs: int = Field(32, description="Requests decoded together in one engine step.")
    max_num_batched_tokens: int = Field(512, description="Token budget of one engine step.")
    max_model_len: int = Field(2048, description="Context of one request (prompt + output), in tokens.")
    num_cache_slots: int = Field(
        16, description="KV slots where prompts are prefilled and then kept as the prefix cache."
    )
    prefill_chunk_size: int = Field(
        64, description="Prompt chunk size, and the granularity of prefix-cache reuse, in tokens."
    )
    num_threads: int | None = Field(None, description="CPU threads for llama.cpp; unset uses every core.")
    max_request_bytes: int = Field(8 * 1024 * 1024, description="Largest request body accepted (413 above).")
    log_level: str = Field("INFO", description="Python logging level.")
    engine_debug_checks: bool = Field(
        False, description="Check the engine's slot invariants after every step (tests turn it on)."
    )
