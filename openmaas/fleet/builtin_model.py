"""The server's own model (``OPENMAAS_MODEL``, or the bundled Gemma 3 270M) described as a catalog entry.

It is not a catalog row (it cannot be removed), but people and tools list it beside
the catalog's models, and the bundled one has default settings of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openmaas.control.catalog import CatalogModel
from openmaas.fleet.sources import BUNDLED_FILE_NAME, BUNDLED_MODEL_ID

# The bundled model is a small base model: asked without a limit it writes until its context is
# full (minutes on a busy CPU). Its answers stop here unless a request (or deployment) says otherwise.
BUNDLED_DEFAULTS: dict[str, Any] = {"max_tokens": 256}


def builtin_model(model: str | None, model_id: str | None, home: Path) -> CatalogModel:
    """The model the server is started with, from its settings (nothing is loaded or assembled)."""
    if model:
        path = Path(model)
        return CatalogModel(id=model_id or path.name.removesuffix(".gguf"), source_kind="local", source=str(path))
    return CatalogModel(
        id=model_id or BUNDLED_MODEL_ID,
        source_kind="bundled",
        source=str(home / "models" / BUNDLED_FILE_NAME),
        display_name="Gemma 3 270M (bundled)",
        quantization="Q4_K_M",
        defaults=dict(BUNDLED_DEFAULTS),
    )
