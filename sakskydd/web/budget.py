"""The statement budget's reading (DESIGN.md "Performance budget"; docs/benchmarks.md section 2).

"≤ 10 SQL statements per page" counts what a page itself runs. Every signed-in request also pays a
fixed overhead before and after any page, identified here by its SQL so that the tests
(tests/functional/test_page_budget.py) and `make bench` count the same way:

- the session lookup, and the session's last-seen write (at most once a minute, accounts/sessions.py);
- the user's row for Flask-Login (with their operator);
- the user's policy entity: their row with their active roles, then their operators' chain
  (authz/entities.py `user_entity`);
- for a page that is a sensitive read, its audit append: lock the chain head, move it, insert.

Anything else a page runs is its own, whatever it reads.
"""

from __future__ import annotations

PAGE_STATEMENTS = 10


def _overhead_positions(statements: list[str]) -> set[int]:
    fixed: set[int] = set()
    user_loaded = False
    after_user_entity = False
    for position, statement in enumerate(statements):
        sql = " ".join(statement.split())
        is_user_row = sql.startswith("SELECT user_account.") and " WHERE user_account.id = " in sql
        if sql.startswith(("SELECT user_session.", "UPDATE user_session SET")):
            fixed.add(position)
        elif is_user_row and not user_loaded:
            user_loaded = True  # Flask-Login's request loader: the first read of the user's row
            fixed.add(position)
        elif "LEFT OUTER JOIN (SELECT role_assignment.user_id" in sql:
            after_user_entity = True  # the user's row with their active roles
            fixed.add(position)
        elif after_user_entity and sql.startswith("WITH RECURSIVE operator_ancestors"):
            after_user_entity = False  # their operators' chain, read right after
            fixed.add(position)
        elif "FROM audit_head" in sql or sql.startswith(("UPDATE audit_head", "INSERT INTO audit_event")):
            fixed.add(position)
        else:
            after_user_entity = False
    return fixed


def _counted(statements: list[str]) -> list[str]:
    return [s for s in statements if not s.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE"))]


def request_overhead(statements: list[str]) -> list[str]:
    """The statements of one request (in order) that every signed-in request pays."""
    counted = _counted(statements)
    fixed = _overhead_positions(counted)
    return [s for position, s in enumerate(counted) if position in fixed]


def page_statements(statements: list[str]) -> list[str]:
    """What the page itself ran: one request's statements without BEGIN and the fixed overhead."""
    counted = _counted(statements)
    fixed = _overhead_positions(counted)
    return [s for position, s in enumerate(counted) if position not in fixed]
