"""What every register page shares: a safe LIKE pattern for search and a bounded page window."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

from sakskydd.extensions import db

MAX_QUERY = 100


def search_text(raw: str | None) -> str:
    """The search box's text: stripped and bounded."""
    return (raw or "").strip()[:MAX_QUERY]


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with LIKE's own wildcards escaped (escape='\\')."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass(frozen=True)
class Page:
    number: int
    pages: int
    total: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def page_for(total: int, requested: int | None, size: int) -> Page:
    """The page of `total` rows: a missing, unreadable or too small number is the first page, one
    past the end the last."""
    pages = max((total + size - 1) // size, 1)
    return Page(min(max(requested or 1, 1), pages), pages, total, size)


def page_of(query: Select[Any], requested: int | None, size: int) -> Page:
    """Count the rows of `query` (one statement) and clamp the requested page number to them."""
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return page_for(total, requested, size)
