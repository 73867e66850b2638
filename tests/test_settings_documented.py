"""Every setting is documented under its environment variable name."""

from __future__ import annotations

from pathlib import Path

from openmaas.settings import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def test_every_setting_is_in_docs_settings_md() -> None:
    text = DOCS.read_text()
    missing = [name for name in Settings.model_fields if f"OPENMAAS_{name.upper()}" not in text]
    assert missing == []
