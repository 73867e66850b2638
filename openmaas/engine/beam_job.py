"""BeamJob: runs one beam search in its own slots, one llama_decode per engine step."""

from __future__ import annotations

from openmaas.engine.beam import BeamSearch, BeamSettings
from openmaas.engine.request import Request
from openmaas.engine.runners.llama_cpp import LlamaCppRunner


class BeamJob:
    """A beam-search request in progress.

    It holds ``2 * num_beams`` prompt slots. The prompt is computed in the
    first one, in the canonical chunks (so its KV is what any other request
    would compute), then each step decodes every live beam in one call and
    copies each successor's parent into the spare half of the slots. Its
    calls never include other requests' rows, so its result does not depend
    on the load.
    """

    def __init__(self, request: Request, settings: BeamSettings, slots: list[int], chunk_size: int) -> None:
        if len(slots) != 2 * settings.num_beams:
            raise ValueError("a beam job needs 2 * num_beams slots")
        self.request = request
        self.search = BeamSearch(request, settings)
        self._live = slots[: settings.num_beams]
        self._spare = slots[settings.num_beams :]
        self._chunk_size = chunk_size

    @property
    def slots(self) -> list[int]:
        return self._live + self._spare

    def step(self, runner: LlamaCppRunner) -> None:
        """Computes one prompt chunk, or one token of every live beam."""
        request = self.request
        if request.num_computed_tokens < request.num_prompt_tokens:
            start = request.num_computed_tokens
            end = min(start + self._chunk_size - start % self._chunk_size, request.num_prompt_tokens)
            done = end == request.num_prompt_tokens
            row = runner.run_prompt_chunk(self._live[0], request.token_ids[start:end], start, done)
            request.num_computed_tokens = end
            if row is not None:
                self._advance(runner, row[None, :])
            return
        position = request.num_prompt_tokens + len(self.search.beams[0].token_ids) - 1
        rows = [(slot, beam.token_ids[-1], position) for slot, beam in zip(self._live, self.search.beams, strict=False)]
        self._advance(runner, runner.run_decode(rows, [], pad=False))

    def _advance(self, runner: LlamaCppRunner, logits: object) -> None:
        parents = self.search.advance(logits)  # type: ignore[arg-type]
        if self.search.finished:
            return
        # Successor i continues beam parents[i]: copy its KV into a spare slot, then swap halves.
        for child, parent in enumerate(parents):
            runner.copy_sequence(self._live[parent], self._spare[child])
        self._live, self._spare = self._spare, self._live

    def result(self) -> list[int]:
        return self.search.hypotheses.best()
