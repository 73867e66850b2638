"""The playground's conversations, kept on the server per API key so they follow a user to another device.

A conversation belongs to the key that created it (``key_id``; None when the
server runs with auth off). Every read and write names the owner, and another
key's conversation answers NotFound exactly like a missing one, so ids reveal
nothing. The playground saves a conversation whole each time (``replace``); the
messages and settings are stored as given, within size limits.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, func, select
from sqlalchemy.orm import Mapped, Session, defer, mapped_column, sessionmaker

from openmaas.control.db import Base, UtcDateTime, utcnow
from openmaas.errors import Conflict, InvalidRequest, NotFound

MAX_TITLE_CHARS = 200
MAX_MODEL_CHARS = 200
MAX_MESSAGES = 1000
MAX_MESSAGES_BYTES = 2 * 1024 * 1024
MAX_CONVERSATIONS_PER_KEY = 500

# Aliases, because ConversationStore.list would shadow the builtin in the annotations of the methods after it.
ConversationSettings = dict[str, Any]
Messages = list[dict[str, Any]]


class ConversationRow(Base):
    """A saved playground conversation."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_key_id_updated_at", "key_id", "updated_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # No foreign key: the bootstrap key from the environment ("env") has an id but no row.
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    title: Mapped[str] = mapped_column(String(MAX_TITLE_CHARS))
    model: Mapped[str] = mapped_column(String(MAX_MODEL_CHARS))
    # The playground's controls (temperature, system prompt, ...), as it sent them.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    # {"role", "content"} dicts, plus whatever per-answer stats the playground keeps.
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation as plain data."""

    id: str
    key_id: str | None
    title: str
    model: str
    settings: dict[str, Any]
    messages: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


def _conversation(row: ConversationRow, with_content: bool = True) -> Conversation:
    return Conversation(
        id=row.id,
        key_id=row.key_id,
        title=row.title,
        model=row.model,
        settings=dict(row.settings or {}) if with_content else {},
        messages=list(row.messages or []) if with_content else [],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _json_size(value: object, param: str) -> int:
    """The value's size as stored; refuses what the JSON column could not hold (NaN breaks PostgreSQL's JSON)."""
    try:
        return len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8"))
    except (TypeError, ValueError):
        raise InvalidRequest(f"{param} must be plain JSON (no NaN or Infinity)", param=param) from None


def _checked(
    title: str, model: str, settings: ConversationSettings, messages: Messages
) -> tuple[str, str, ConversationSettings, Messages]:
    """The values to store: the title cut to fit; too many or too large messages refused."""
    if not isinstance(settings, dict):
        raise InvalidRequest("settings must be an object", param="settings")
    if not isinstance(messages, list) or not all(isinstance(message, dict) for message in messages):
        raise InvalidRequest("messages must be a list of objects", param="messages")
    if "\x00" in model:
        raise InvalidRequest("model must not contain NUL characters", param="model")
    if len(model) > MAX_MODEL_CHARS:
        raise InvalidRequest(f"model must be at most {MAX_MODEL_CHARS} characters", param="model")
    if len(messages) > MAX_MESSAGES:
        raise InvalidRequest(f"a conversation holds at most {MAX_MESSAGES} messages", param="messages")
    if _json_size(messages, "messages") > MAX_MESSAGES_BYTES:
        raise InvalidRequest(f"messages must be at most {MAX_MESSAGES_BYTES} bytes as JSON", param="messages")
    _json_size(settings, "settings")
    # The title is the start of a prompt: a pasted NUL (which PostgreSQL's text refuses) is just dropped.
    return title.replace("\x00", "").strip()[:MAX_TITLE_CHARS], model, settings, messages


class ConversationStore:
    """Conversations in the database, each read and written only through its owner's key."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(
        self, key_id: str | None, title: str, model: str, settings: ConversationSettings, messages: Messages
    ) -> Conversation:
        title, model, settings, messages = _checked(title, model, settings, messages)
        now = utcnow()
        owner = ConversationRow.key_id.is_(None) if key_id is None else ConversationRow.key_id == key_id
        row = ConversationRow(
            id=f"conv_{uuid.uuid4().hex[:24]}",
            key_id=key_id,
            title=title,
            model=model,
            settings=settings,
            messages=messages,
            created_at=now,
            updated_at=now,
        )
        with self._sessions.begin() as session:
            # A bound on what one key can store (each conversation holds up to MAX_MESSAGES_BYTES).
            count = session.scalar(select(func.count()).select_from(ConversationRow).where(owner)) or 0
            if count >= MAX_CONVERSATIONS_PER_KEY:
                raise Conflict(f"This key keeps at most {MAX_CONVERSATIONS_PER_KEY} conversations: delete some first")
            session.add(row)
        return _conversation(row)

    def get(self, key_id: str | None, conversation_id: str) -> Conversation:
        with self._sessions() as session:
            return _conversation(_owned(session, key_id, conversation_id))

    def replace(
        self,
        key_id: str | None,
        conversation_id: str,
        *,
        title: str,
        model: str,
        settings: ConversationSettings,
        messages: Messages,
    ) -> Conversation:
        """Writes the whole conversation over the stored one (the playground saves it whole)."""
        title, model, settings, messages = _checked(title, model, settings, messages)
        with self._sessions.begin() as session:
            row = _owned(session, key_id, conversation_id)
            row.title = title
            row.model = model
            row.settings = settings
            row.messages = messages
            row.updated_at = utcnow()
            session.flush()
            return _conversation(row)

    def delete(self, key_id: str | None, conversation_id: str) -> None:
        with self._sessions.begin() as session:
            session.delete(_owned(session, key_id, conversation_id))

    def list(self, key_id: str | None, limit: int = 200) -> list[Conversation]:
        """The key's conversations (with key None: those stored with auth off), the latest updated first.

        Without their settings and messages (empty here): a list shows titles, and a
        conversation's messages may be megabytes. ``get`` reads one whole.
        """
        if limit < 1:
            raise InvalidRequest("limit must be at least 1", param="limit")
        owner = ConversationRow.key_id.is_(None) if key_id is None else ConversationRow.key_id == key_id
        query = (
            select(ConversationRow)
            .options(defer(ConversationRow.settings, raiseload=True), defer(ConversationRow.messages, raiseload=True))
            .where(owner)
            .order_by(ConversationRow.updated_at.desc(), ConversationRow.id.desc())
            .limit(limit)
        )
        with self._sessions() as session:
            return [_conversation(row, with_content=False) for row in session.scalars(query)]


def _owned(session: Session, key_id: str | None, conversation_id: str) -> ConversationRow:
    """The row, if this key owns it; another key's conversation is NotFound too, so it reveals nothing."""
    row = session.get(ConversationRow, conversation_id)
    if row is None or row.key_id != key_id:
        raise NotFound(f"No conversation with id {conversation_id!r}")
    return row
