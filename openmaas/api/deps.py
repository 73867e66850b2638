"""FastAPI dependencies, as named aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from openmaas.api.openai.serving import OpenAIServing
from openmaas.fleet.fleet import ModelFleet


def get_fleet(request: Request) -> ModelFleet:
    fleet: ModelFleet = request.app.state.fleet
    return fleet


def get_openai_serving(request: Request) -> OpenAIServing:
    serving: OpenAIServing = request.app.state.openai_serving
    return serving


FleetDep = Annotated[ModelFleet, Depends(get_fleet)]
OpenAIServingDep = Annotated[OpenAIServing, Depends(get_openai_serving)]
