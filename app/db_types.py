"""Column types and SQL expressions shared by every feature's models and queries."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime, timezone

from sqlalchemy import ARRAY, DateTime, Enum, Integer, any_, bindparam
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



def id_in(column, ids: Iterable[int], dialect: str):
    """`column IN ids` for long id lists: on PostgreSQL one array parameter (`= ANY(:ids)`)
    instead of a bound parameter per id, whose rendering and adapting cost more than the
    query itself; SQLite, which has no arrays, gets a plain IN."""
    values = list(ids)
    if dialect != "postgresql":
        return column.in_(values)
    return column == any_(bindparam(None, values, type_=ARRAY(Integer), unique=True))
