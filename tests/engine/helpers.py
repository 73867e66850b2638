"""Small helpers for driving a real engine from synchronous tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from openmaas.engine import EngineClient, EngineOutput, SamplingParams


@dataclass
class Generation:
    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    outputs: list[EngineOutput] = field(default_factory=list)

    @property
    def last(self) -> EngineOutput:
        return self.outputs[-1]


async def generate(engine: EngineClient, prompt: str | list[int], params: SamplingParams) -> Generation:
    tokens = engine.tokenize(prompt) if isinstance(prompt, str) else prompt
    result = Generation()
    async for output in engine.generate(tokens, params):
        result.text += output.text
        result.token_ids.extend(output.token_ids)
        result.outputs.append(output)
    return result
