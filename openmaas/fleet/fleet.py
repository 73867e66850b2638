"""ModelFleet: the models this server serves, and which of them are loaded now.

Serverless, as Ollama does it: a registered model loads on its first request,
stays loaded for its keep-alive after its last request ends, and is unloaded
when that runs out, when it is removed, or when another model needs its room
(least recently used idle model first). A request holds a ``Lease`` on its
model while it runs, so a model in use is never unloaded. Every method runs on
the event loop; loads and unloads run in worker threads.
"""

from __future__ import annotations

import asyncio
import builtins
import enum
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from openmaas.control.keep_alive import DEFAULT_KEEP_ALIVE, parse_keep_alive
from openmaas.engine import EngineClient, EngineConfig
from openmaas.errors import ModelNotFound, Overloaded, ShuttingDown
from openmaas.fleet.memory import estimate_memory
from openmaas.fleet.sources import ModelSource

logger = logging.getLogger(__name__)

# Retry-After (seconds) of a 503 when a model cannot be loaded now: busy models end their requests soon.
RETRY_AFTER_SECONDS = 2.0

# Builds a model's engine (in a worker thread): in-process by default, a remote one in cluster mode.
EngineFactory = Callable[[ModelSource, EngineConfig], EngineClient]
LoadListener = Callable[[str, float], None]


class ModelState(enum.Enum):
    UNLOADED = "unloaded"
    LOADING = "loading"
    LOADED = "loaded"
    UNLOADING = "unloading"


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A loaded model: where it came from and its running engine."""

    source: ModelSource
    engine: EngineClient
    created: int


@dataclass(eq=False, slots=True)
class ModelEntry:
    """A registered model and its lifecycle. Mutated only on the event loop."""

    source: ModelSource
    config: EngineConfig
    created: int
    # Seconds to stay loaded after the last request (math.inf: until evicted); requests may override it.
    keep_alive: float
    memory_bytes: int
    state: ModelState = ModelState.UNLOADED
    served: ServedModel | None = None
    num_active: int = 0
    # Requests waiting for its load to finish.
    num_waiting: int = 0
    # time.monotonic() of the last acquire or release.
    last_used: float = field(default_factory=time.monotonic)
    # The keep-alive the latest request asked for (Ollama: the latest request's value wins).
    current_keep_alive: float = DEFAULT_KEEP_ALIVE
    loaded_at: float | None = None
    load_seconds: float | None = None
    num_loads: int = 0
    is_removed: bool = False
    task: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None

    @property
    def model_id(self) -> str:
        return self.source.model_id

    @property
    def idle_seconds(self) -> float | None:
        """Seconds since the last request ended; None while one runs."""
        return None if self.num_active else time.monotonic() - self.last_used


class Lease:
    """A running request's hold on a loaded model; ``release`` (idempotent) when the request ends.

    Released by its owner's scope (the API ties each lease to its HTTP request), never by a
    finalizer: a lease dropped unreleased keeps its model loaded."""

    def __init__(self, fleet: ModelFleet, entry: ModelEntry, served: ServedModel) -> None:
        self._fleet = fleet
        self._entry = entry
        self.served = served
        self._is_released = False

    @property
    def is_released(self) -> bool:
        return self._is_released

    def release(self) -> None:
        if not self._is_released:
            self._is_released = True
            self._fleet._release(self._entry)


class ModelFleet:
    """Registered models by id and alias; loads them on demand within a count cap and a memory budget."""

    def __init__(
        self,
        *,
        max_loaded_models: int | None = None,
        max_loaded_bytes: int | None = None,
        default_keep_alive: float = DEFAULT_KEEP_ALIVE,
        debug_checks: bool = False,
        engine_factory: EngineFactory | None = None,
        on_load: LoadListener | None = None,
    ) -> None:
        """Caps: max_loaded_models models, max_loaded_bytes of estimated memory (None: no cap);
        default_keep_alive in seconds (math.inf: until evicted). on_load(model_id, seconds) after each load."""
        self._entries: dict[str, ModelEntry] = {}
        # alias -> model id; an alias never equals a model id.
        self._aliases: dict[str, str] = {}
        # Entries loading, loaded or unloading (a removed model stays here until it is unloaded).
        self._resident: builtins.list[ModelEntry] = []
        self.max_loaded_models = max_loaded_models
        self.max_loaded_bytes = max_loaded_bytes
        self.default_keep_alive = default_keep_alive
        self._engine_factory = engine_factory or (
            lambda _source, config: EngineClient(config, check_invariants=debug_checks)
        )
        self._load_listeners: builtins.list[LoadListener] = [on_load] if on_load else []
        self._is_accepting = True
        # The model requests without a model name get (the first registered, unless set).
        self.default_model_id: str | None = None

    def add_load_listener(self, listener: LoadListener) -> None:
        """Calls listener(model_id, seconds) after every load (on the event loop)."""
        self._load_listeners.append(listener)

    # Registry ---------------------------------------------------------------------
    def register(
        self, source: ModelSource, config: EngineConfig, *, created: int, keep_alive: float | None = None
    ) -> ModelEntry:
        """Adds a model (not loaded). ValueError if one of its names is taken."""
        taken = [name for name in source.names if name in self._entries or name in self._aliases]
        if taken:
            raise ValueError(f"model names already served: {', '.join(taken)}")
        ka = self.default_keep_alive if keep_alive is None else keep_alive
        if ka < 0:  # a negative keep-alive is "forever" (as Ollama's)
            ka = math.inf
        entry = ModelEntry(source, config, created, ka, estimate_memory(config).total_bytes, current_keep_alive=ka)
        self._entries[source.model_id] = entry
        self._aliases.update(dict.fromkeys(source.aliases, source.model_id))
        if self.default_model_id is None:
            self.default_model_id = source.model_id
        logger.info("registered model %s (%s, aliases: %s)", source.model_id, source.path, list(source.aliases))
        return entry

    def unregister(self, model_id: str) -> None:
        """Removes a model: new requests get 404; it is unloaded once its running requests end."""
        entry = self.entry(model_id)
        entry.is_removed = True
        del self._entries[entry.model_id]
        for alias in entry.source.aliases:
            self._aliases.pop(alias, None)
        if self.default_model_id == entry.model_id:
            self.default_model_id = next(iter(self._entries), None)
        if entry.state is ModelState.LOADED and entry.num_active == 0:
            self._start_unload(entry)

    def entry(self, name: str) -> ModelEntry:
        """The registered model with this id or alias; ModelNotFound (404) otherwise."""
        entry = self._entries.get(self._aliases.get(name, name))
        if entry is None:
            raise ModelNotFound(f"The model '{name}' does not exist", param="model")
        return entry

    def entries(self) -> builtins.list[ModelEntry]:
        return list(self._entries.values())

    def list(self) -> list[ServedModel]:
        """The models loaded now."""
        return [e.served for e in self._entries.values() if e.served is not None]

    # Leases -----------------------------------------------------------------------
    async def acquire(self, name: str | None = None, *, keep_alive: float | str | None = None) -> Lease:
        """A lease on the model (the default model when name is None), loading it first if needed.

        Concurrent first requests share one load. Overloaded (503, Retry-After) when the
        model cannot be loaded now because busy models fill the budget.
        """
        if not self._is_accepting:
            raise ShuttingDown("the server is shutting down; retry on another replica", retry_after=5)
        requested_keep_alive = parse_keep_alive(keep_alive)
        if name is None:
            if self.default_model_id is None:
                raise ModelNotFound("no model is served", param="model")
            name = self.default_model_id
        entry = self.entry(name)
        while True:
            if entry.is_removed:
                raise ModelNotFound(f"The model '{name}' does not exist", param="model")
            if entry.state is ModelState.LOADED and entry.served is not None:
                entry.num_active += 1
                entry.last_used = time.monotonic()
                entry.current_keep_alive = entry.keep_alive if requested_keep_alive is None else requested_keep_alive
                self._cancel_timer(entry)
                return Lease(self, entry, entry.served)
            if entry.state is ModelState.UNLOADED:
                for victim in self._make_room(entry):
                    self._start_unload(victim)
                entry.state = ModelState.LOADING
                self._resident.append(entry)
                entry.task = asyncio.create_task(self._load(entry))
            task = entry.task
            if task is not None:
                entry.num_waiting += 1
                try:
                    await asyncio.shield(task)
                finally:
                    entry.num_waiting -= 1

    def stop_accepting(self) -> None:
        """From now on acquire() refuses (503 shutting_down): no model loads while the server drains."""
        self._is_accepting = False

    async def preload(self, name: str) -> None:
        """Loads a model now (as a request would) without holding it."""
        (await self.acquire(name)).release()

    def _release(self, entry: ModelEntry) -> None:
        entry.num_active -= 1
        entry.last_used = time.monotonic()
        if entry.num_active > 0 or entry.state is not ModelState.LOADED:
            return
        if entry.is_removed or entry.current_keep_alive <= 0:
            self._start_unload(entry)
        else:
            self._schedule_expiry(entry)

    # Room -------------------------------------------------------------------------
    def _make_room(self, entry: ModelEntry) -> builtins.list[ModelEntry]:
        """The idle models to unload (least recently used first) so that entry fits; Overloaded if it cannot."""
        resident = [e for e in self._resident if e.state in (ModelState.LOADING, ModelState.LOADED)]
        count = len(resident)
        memory = sum(e.memory_bytes for e in resident)
        idle = sorted(
            (e for e in resident if e.state is ModelState.LOADED and e.num_active == 0), key=lambda e: e.last_used
        )
        victims: builtins.list[ModelEntry] = []
        while not self._fits(entry, count, memory):
            if not idle:
                raise Overloaded(
                    f"The model '{entry.model_id}' cannot be loaded now: the loaded models are busy "
                    f"({count} loaded, {memory / 1e6:.0f} MB of {self._budget_text()})",
                    retry_after=RETRY_AFTER_SECONDS,
                )
            victim = idle.pop(0)
            victims.append(victim)
            count -= 1
            memory -= victim.memory_bytes
        return victims

    def _fits(self, entry: ModelEntry, count: int, memory: int) -> bool:
        if self.max_loaded_models is not None and count + 1 > self.max_loaded_models:
            return False
        # A model larger than the whole budget still loads alone (as Ollama loads what does not fit).
        if self.max_loaded_bytes is not None and count and memory + entry.memory_bytes > self.max_loaded_bytes:
            return False
        return True

    def _budget_text(self) -> str:
        if self.max_loaded_bytes is None:
            return "no memory limit"
        return f"{self.max_loaded_bytes / 1e6:.0f} MB"

    # Loading and unloading ------------------------------------------------------------
    async def _load(self, entry: ModelEntry) -> None:
        pending = [e.task for e in self._resident if e.state is ModelState.UNLOADING and e.task is not None]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        logger.info("loading model %s from %s", entry.model_id, entry.source.path)
        start = time.monotonic()
        try:
            engine = await asyncio.to_thread(self._engine_factory, entry.source, entry.config)
        except BaseException:
            entry.state = ModelState.UNLOADED
            entry.task = None
            self._resident.remove(entry)
            raise
        seconds = time.monotonic() - start
        entry.served = ServedModel(entry.source, engine, entry.created)
        entry.state = ModelState.LOADED
        entry.task = None
        entry.loaded_at = time.time()
        entry.load_seconds = seconds
        entry.num_loads += 1
        entry.last_used = time.monotonic()
        logger.info("loaded model %s in %.2f s", entry.model_id, seconds)
        for listener in self._load_listeners:
            listener(entry.model_id, seconds)
        if entry.is_removed:
            self._start_unload(entry)
        elif entry.num_waiting == 0:
            # Every request that waited for it was cancelled: idle, with the model's own keep-alive.
            entry.current_keep_alive = entry.keep_alive
            self._schedule_expiry(entry)

    def _start_unload(self, entry: ModelEntry) -> None:
        self._cancel_timer(entry)
        served = entry.served
        entry.served = None
        entry.state = ModelState.UNLOADING
        entry.task = asyncio.create_task(self._unload(entry, served))

    async def _unload(self, entry: ModelEntry, served: ServedModel | None) -> None:
        idle = time.monotonic() - entry.last_used
        try:
            if served is not None:
                await asyncio.to_thread(served.engine.close)
        except Exception:
            logger.exception("unloading model %s failed", entry.model_id)
        finally:
            entry.state = ModelState.UNLOADED
            entry.task = None
            entry.loaded_at = None
            self._resident.remove(entry)
        logger.info("unloaded model %s (idle %.1f s)", entry.model_id, idle)

    def _schedule_expiry(self, entry: ModelEntry) -> None:
        self._cancel_timer(entry)
        if math.isinf(entry.current_keep_alive):
            return
        loop = asyncio.get_running_loop()
        entry.timer = loop.call_later(max(entry.current_keep_alive, 0.0), self._expire, entry)

    def _expire(self, entry: ModelEntry) -> None:
        entry.timer = None
        if entry.state is ModelState.LOADED and entry.num_active == 0:
            self._start_unload(entry)

    @staticmethod
    def _cancel_timer(entry: ModelEntry) -> None:
        if entry.timer is not None:
            entry.timer.cancel()
            entry.timer = None

    async def aclose(self) -> None:
        """Unloads every model (waiting for loads under way) and forgets them."""
        for entry in self._resident:
            self._cancel_timer(entry)
        pending = [e.task for e in self._resident if e.task is not None]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for entry in list(self._resident):
            if entry.state is ModelState.LOADED:
                self._start_unload(entry)
        pending = [e.task for e in self._resident if e.task is not None]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
