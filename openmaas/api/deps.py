"""FastAPI dependencies, as named aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from openmaas.fleet.fleet import ModelFleet


def get_fleet(request: Request) -> ModelFleet:
    fleet: ModelFleet = request.app.state.fleet
    return fleet


FleetDep = Annotated[ModelFleet, Depends(get_fleet)]
