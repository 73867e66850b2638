"""/api/console/conversations: the playground's conversations, kept per API key.

A key sees only its own conversations (another key's id answers 404, as if absent),
so a user's chats follow the key to any browser. With keys off, they are shared by
everyone who can reach the server.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from openmaas.api.auth import Caller, KeyDep
from openmaas.api.deps import ControlPlaneDep
from openmaas.control.conversations import Conversation

router = APIRouter(prefix="/api/console/conversations", tags=["console"])


class ConversationWrite(BaseModel):
    """A conversation as the playground saves it: the whole of it, each time."""

    # The store cuts the title to fit and checks the rest (control/conversations.py holds the limits).
    title: str = ""
    model: str = ""
    settings: dict[str, Any] = Field(default_factory=dict)
    messages: list[dict[str, Any]] = Field(default_factory=list)


class ConversationSummary(BaseModel):
    id: str
    object: str = "conversation"
    title: str
    model: str
    created_at: datetime
    updated_at: datetime


class ConversationPublic(ConversationSummary):
    settings: dict[str, Any]
    messages: list[dict[str, Any]]

    @classmethod
    def of(cls, conversation: Conversation) -> ConversationPublic:
        return cls(**{name: value for name, value in dataclasses.asdict(conversation).items() if name != "key_id"})


class ConversationsPublic(BaseModel):
    object: str = "list"
    data: list[ConversationSummary]
    count: int


def _owner(caller: Caller | None) -> str | None:
    return caller.key_id if caller is not None else None


@router.get("")
async def list_conversations(
    caller: KeyDep, plane: ControlPlaneDep, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> ConversationsPublic:
    """The key's conversations, the most recently updated first (without their messages)."""
    found = await run_in_threadpool(plane.conversations.list, _owner(caller), limit)
    summaries = [ConversationSummary.model_validate(item, from_attributes=True) for item in found]
    return ConversationsPublic(data=summaries, count=len(summaries))


@router.post("", status_code=201)
async def create_conversation(body: ConversationWrite, caller: KeyDep, plane: ControlPlaneDep) -> ConversationPublic:
    created = await run_in_threadpool(
        plane.conversations.create, _owner(caller), body.title, body.model, body.settings, body.messages
    )
    return ConversationPublic.of(created)


@router.get("/{conversation_id}")
async def get_conversation(conversation_id: str, caller: KeyDep, plane: ControlPlaneDep) -> ConversationPublic:
    return ConversationPublic.of(await run_in_threadpool(plane.conversations.get, _owner(caller), conversation_id))


@router.put("/{conversation_id}")
async def replace_conversation(
    conversation_id: str, body: ConversationWrite, caller: KeyDep, plane: ControlPlaneDep
) -> ConversationPublic:
    replaced = await run_in_threadpool(
        lambda: plane.conversations.replace(
            _owner(caller),
            conversation_id,
            title=body.title,
            model=body.model,
            settings=body.settings,
            messages=body.messages,
        )
    )
    return ConversationPublic.of(replaced)


@router.delete("/{conversation_id}", status_code=204)
async def delete_conversation(conversation_id: str, caller: KeyDep, plane: ControlPlaneDep) -> Response:
    await run_in_threadpool(plane.conversations.delete, _owner(caller), conversation_id)
    return Response(status_code=204)
