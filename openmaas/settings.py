"""Settings: read once from the environment (OPENMAAS_*) and an optional .env file, then passed down."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# An Origin header's value: scheme://host[:port], nothing after it (a trailing slash would never match).
_ORIGIN = re.compile(r"^[a-z][a-z0-9+.-]*://[^/?#\s]+$", re.IGNORECASE)


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("openmaas", appauthor=False))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class RayModelOptions(BaseModel):
    """Cluster mode: how one model is deployed on Ray Serve (OPENMAAS_RAY_MODELS overrides the defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_replicas: int | None = Field(None, ge=0)
    max_replicas: int | None = Field(None, ge=1)
    num_cpus: float | None = Field(None, ge=0)
    num_gpus: float | None = Field(None, ge=0)


class Settings(BaseSettings):
    """Every setting of the server. docs/settings.md lists them; a test keeps that list true."""

    model_config = SettingsConfigDict(env_prefix="OPENMAAS_", env_file=".env", extra="ignore")

    home: Path = Field(default_factory=default_home, description="Where models and data live.")
    host: str = Field("127.0.0.1", description="Address the HTTP server binds.")
    port: int = Field(8000, description="Port the HTTP server listens on.")
    model: str | None = Field(None, description="GGUF file to serve; unset serves the bundled Gemma 3 270M.")
    model_id: str | None = Field(None, description="Id clients use for the model; defaults from the file name.")
    # NoDecode: the environment variable is split by _split_aliases, not parsed as JSON first.
    model_aliases: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Other names the model answers to (e.g. a Hugging Face repo name)."
    )
    deployments_file: Path | None = Field(None, description="TOML file of deployments (/{deployment}/v1/...).")
    api_key: SecretStr | None = Field(
        None, description="A bootstrap admin key, accepted besides the keys in the database (no limits)."
    )
    auth_disabled: bool = Field(
        False, description="Serve without API keys: loopback development only (refused for other hosts)."
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the control-plane database; unset: SQLite openmaas.db in the home."
    )
    max_num_seqs: int = Field(32, description="Requests decoded together in one engine step.")
    max_num_batched_tokens: int = Field(512, description="Token budget of one engine step.")
    max_model_len: int = Field(2048, description="Context of one request (prompt + output), in tokens.")
    num_cache_slots: int = Field(
        16, description="KV slots where prompts are prefilled and then kept as the prefix cache."
    )
    prefill_chunk_size: int = Field(
        128, description="Prompt chunk size, and the granularity of prefix-cache reuse, in tokens."
    )
    kv_cache_type: Literal["f16", "q8_0"] = Field(
        "f16", description="Element type of the KV cache: f16, or q8_0 for about half its memory."
    )
    swa_full: bool = Field(
        False,
        description="Keep every position of sliding-window attention layers (more memory; any prefix is reusable).",
    )
    num_threads: int | None = Field(None, description="CPU threads for llama.cpp; unset uses every core.")
    max_queued_requests: int = Field(
        256, ge=1, description="Requests per model waiting for their first token; past it: 429 queue_full."
    )
    max_queued_prompt_tokens: int = Field(
        262_144, ge=1, description="Prompt tokens per model waiting for their first token; past it: 429 queue_full."
    )
    max_requests_per_call: int = Field(
        64, ge=1, description="Generations one call may ask for (prompts times n); past it: 400."
    )
    max_queue_wait: float = Field(
        30.0,
        gt=0,
        description="Seconds a call may expect to wait for its first token (from the measured service rate); "
        "past it: 429 queue_full.",
    )
    request_timeout: float | None = Field(
        None, gt=0, description="Seconds a call may generate for (X-Request-Timeout overrides); unset: no limit."
    )
    drain_timeout: float = Field(
        30.0, ge=0, description="Seconds running requests get to finish after SIGTERM before they are aborted."
    )
    max_request_bytes: int = Field(8 * 1024 * 1024, description="Largest request body accepted (413 above).")
    usage_journal_sync: bool = Field(
        False,
        description="Hold a call's last byte until its usage row is fsynced (survives a machine crash too); "
        "off: until it is written to the journal (survives the server process dying), synced within 10 ms.",
    )
    log_level: str = Field("INFO", description="Python logging level.")
    log_format: Literal["text", "json"] = Field("text", description="Log lines as text, or one JSON object each.")
    # The generate dialect's generation_config defaults (/api/generate, /api/generate-batch).
    generate_num_beams: int = Field(1, ge=1, description="generation_config.num_beams when omitted.")
    generate_do_sample: bool = Field(True, description="generation_config.do_sample when omitted (false: greedy).")
    generate_temperature: float = Field(1.0, description="generation_config.temperature when omitted.")
    generate_top_p: float = Field(1.0, description="generation_config.top_p when omitted.")
    generate_top_k: int = Field(50, description="generation_config.top_k when omitted (0: no limit).")
    generate_max_new_tokens: int = Field(256, ge=1, description="generation_config.max_new_tokens when omitted.")
    generate_repetition_penalty: float = Field(1.0, description="generation_config.repetition_penalty when omitted.")
    generate_length_penalty: float = Field(1.0, description="generation_config.length_penalty when omitted.")
    generate_max_sessions: int = Field(
        256, ge=1, description="request_id sessions kept for continuation; the least recently used go first."
    )
    generate_session_ttl: float = Field(
        600.0, gt=0, description="Seconds a request_id session is kept after its last call."
    )
    engine_debug_checks: bool = Field(
        False, description="Check the engine's slot invariants after every step (tests turn it on)."
    )
    # The serverless model lifecycle (fleet/fleet.py).
    keep_alive: float | str = Field(
        "5m",
        description="How long a model stays loaded after its last request: seconds or a duration ('5m', '1h'); "
        "0 unloads at once, negative never. Deployments and requests (keep_alive) override it.",
    )
    max_loaded_models: int | None = Field(
        3, ge=1, description="Models loaded at once; the least recently used idle one is unloaded for another."
    )
    catalog_refresh_interval: float = Field(
        5.0, gt=0, description="Seconds between reads of the catalog (models and deployments changed by the CLI)."
    )
    max_loaded_bytes: int | None = Field(
        None,
        ge=1,
        description="Memory budget of the loaded models in bytes (each: GGUF file size + KV cache); unset: none.",
    )

    # NoDecode: split by _split_origins, as the aliases are.
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins whose browser pages may call the API (CORS): a list, or '*' for any; unset: none.",
    )

    # Cluster mode (`openmaas serve --ray`, openmaas/cluster/).
    ray_address: str | None = Field(
        None, description="Ray cluster to serve on (cluster mode): 'auto', 'local' or an address; unset: one process."
    )
    ray_ingress_replicas: int = Field(1, ge=1, description="Cluster mode: replicas of the HTTP ingress.")
    ray_ingress_num_cpus: float = Field(1.0, ge=0, description="Cluster mode: CPUs each ingress replica reserves.")
    ray_min_replicas: int = Field(1, ge=0, description="Cluster mode: a model's fewest replicas (0: scale to zero).")
    ray_max_replicas: int = Field(1, ge=1, description="Cluster mode: a model's most replicas.")
    ray_num_cpus: float = Field(1.0, ge=0, description="Cluster mode: CPUs each model replica reserves.")
    ray_num_gpus: float = Field(0.0, ge=0, description="Cluster mode: GPUs each model replica reserves.")
    ray_models: dict[str, RayModelOptions] = Field(
        default_factory=dict, description="Cluster mode: per-model replicas and resources, a JSON object by model id."
    )
    ray_downscale_delay: float = Field(
        60.0, ge=0, description="Cluster mode: seconds of low load before a model loses a replica (to zero included)."
    )
    ray_cold_start_timeout: float = Field(
        120.0, gt=0, description="Cluster mode: seconds a call waits for a model's first replica (no request timeout)."
    )

    @model_validator(mode="after")
    def _auth_off_only_on_loopback(self) -> Settings:
        if self.auth_disabled and not is_loopback(self.host):
            raise ValueError(f"auth_disabled serves without keys: refused on the non-loopback host {self.host!r}")
        if self.ray_min_replicas > self.ray_max_replicas:
            raise ValueError("ray_min_replicas must not exceed ray_max_replicas")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'openmaas.db'}"

    @field_validator("model_aliases", mode="before")
    @classmethod
    def _split_aliases(cls, value: Any) -> Any:
        """A JSON array, or names separated by commas."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [name.strip() for name in text.split(",") if name.strip()]
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        """A JSON array, or origins separated by commas."""
        return cls._split_aliases(value)

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        """Each is '*' alone, or scheme://host[:port] as a browser sends it in Origin (no path)."""
        if "*" in origins and len(origins) > 1:
            raise ValueError("'*' allows every origin: give it alone, not in a list")
        for origin in origins:
            if origin != "*" and not _ORIGIN.match(origin):
                raise ValueError(f"{origin!r} is not an origin: write scheme://host[:port], without a path")
        return origins
