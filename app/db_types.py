"""Column types shared by every feature's models."""

from __future__ import annotations

from datetime import datetime, timezone

import enum

from sqlalchemy import DateTime, Enum
from sqlalchemy.types import TypeDecorator


def string_enum(cls: type[enum.Enum], name: str) -> Enum:
    """An enum stored as its values in a short VARCHAR (no native DB type to migrate)."""
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e], native_enum=False,
                length=16, validate_strings=True)


class UtcDateTime(TypeDecorator):
    """Stores aware UTC datetimes and always returns them aware.

    SQLite keeps no zone, so values read back are naive; this puts UTC back on them
    so comparisons with `utcnow()` work on every database.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=timezone.utc)
