# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The privileges of a pgaudit object-audit role, as sets: validate, compare, plan (pure logic).

pgaudit's object auditing logs a statement on a table when the role named by ``pgaudit.role``
holds the statement's privilege on that table or on a column it touches. The object_audit
module declares those privileges; these functions check the declaration, then compare it with
what the catalog says the role holds and return the GRANT and REVOKE steps between the two.

A table's state is ``{"table": set of privileges, "columns": {column: set of privileges}}``;
a database's state maps ``(schema, table)`` to that.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils.identifiers import render

# What pgaudit object auditing covers, in the order it is shown.
AUDITED = ("SELECT", "INSERT", "UPDATE", "DELETE")
# Every table privilege the catalog can show (MAINTAIN since PostgreSQL 17), in display order.
ALL_PRIVILEGES = AUDITED + ("TRUNCATE", "REFERENCES", "TRIGGER", "MAINTAIN")
# Privileges that have a column form (GRANT SELECT (a, b) ON t): SELECT, INSERT, UPDATE, REFERENCES.
COLUMN_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "REFERENCES")


def order(privileges):
    """Privileges in display order (audited first)."""
    return sorted(privileges, key=lambda p: (ALL_PRIVILEGES.index(p) if p in ALL_PRIVILEGES else 99, p))


def check_privileges(privileges, columns=None):
    """Return the upper-case privilege list of one declared grant, or raise ValueError saying why not."""
    if not privileges:
        raise ValueError("no privileges given; give some of %s" % ", ".join(AUDITED))
    result = []
    for privilege in privileges:
        name = str(privilege).strip().upper()
        if name == "TRUNCATE":
            raise ValueError(
                "TRUNCATE is not covered by pgaudit object auditing (it checks SELECT, INSERT, UPDATE and DELETE "
                "only); log it with the session class 'write' instead"
            )
        if name not in AUDITED:
            raise ValueError(
                "privilege %r cannot be audited by object; give some of %s" % (privilege, ", ".join(AUDITED))
            )
        if columns and name not in COLUMN_PRIVILEGES:
            raise ValueError("%s has no column form; declare it for the whole table, without columns" % name)
        if name not in result:
            result.append(name)
    return order(result)


def empty_table():
    return {"table": set(), "columns": {}}


def add(state, schema, table, privileges, columns=None):
    """Add one declared grant to a database state (in place)."""
    entry = state.setdefault((schema, table), empty_table())
    if columns:
        for column in columns:
            entry["columns"].setdefault(column, set()).update(privileges)
    else:
        entry["table"].update(privileges)


def _by_privilege(columns):
    inverted = {}
    for column, privileges in columns.items():
        for privilege in privileges:
            inverted.setdefault(privilege, set()).add(column)
    return inverted


def plan_table(current, desired, exclusive=True):
    """Return (steps, after) for one table.

    Steps are ``(verb, privileges, columns)`` with verb 'revoke' or 'grant', columns None for a
    table-level step, in the order they must run: table revokes, column revokes, table grants,
    column grants. A table-level REVOKE also removes the column privileges of the same kind
    (PostgreSQL does that), so those are granted again when still declared.
    """
    current = current or empty_table()
    desired = desired or empty_table()
    have_cols = _by_privilege(current["columns"])
    want_cols = _by_privilege(desired["columns"])
    steps = []
    table = set(current["table"])
    revoke_table = (table - desired["table"]) if exclusive else set()
    if revoke_table:
        steps.append(("revoke", order(revoke_table), None))
        table -= revoke_table
        for privilege in revoke_table:
            have_cols.pop(privilege, None)
    if exclusive:
        for privilege in order(have_cols):
            extra = have_cols[privilege] - want_cols.get(privilege, set())
            if extra:
                steps.append(("revoke", [privilege], sorted(extra)))
                have_cols[privilege] -= extra
    grant_table = desired["table"] - table
    if grant_table:
        steps.append(("grant", order(grant_table), None))
        table |= grant_table
    for privilege in order(want_cols):
        missing = want_cols[privilege] - have_cols.get(privilege, set())
        if missing:
            steps.append(("grant", [privilege], sorted(missing)))
            have_cols.setdefault(privilege, set()).update(missing)
    columns = {}
    for privilege, names in have_cols.items():
        for name in names:
            columns.setdefault(name, set()).add(privilege)
    return steps, {"table": table, "columns": columns}


def plan_database(current, desired, exclusive=True):
    """Return ([(schema, table, steps)], after state) for one database, tables sorted.

    Only tables in ``desired`` are planned unless ``exclusive``; then every table the role
    holds a privilege on is planned too, so undeclared privileges are revoked.
    """
    names = set(desired)
    if exclusive:
        names |= set(current)
    plans = []
    after = {}
    for key in sorted(names):
        steps, state = plan_table(current.get(key), desired.get(key), exclusive)
        if steps:
            plans.append((key[0], key[1], steps))
        if state["table"] or state["columns"]:
            after[key] = state
    return plans, after


def describe(database, state):
    """A database state as grant entries, the shape the module takes: table-level privileges
    first, then one entry per set of columns sharing the same privileges."""
    entries = []
    for (schema, table), entry in sorted(state.items()):
        name = render(schema, table)
        if entry["table"]:
            entries.append(dict(database=database, table=name, privileges=order(entry["table"])))
        groups = {}
        for privilege, columns in _by_privilege(entry["columns"]).items():
            groups.setdefault(tuple(sorted(columns)), []).append(privilege)
        for columns, privileges in sorted(groups.items()):
            entries.append(dict(database=database, table=name, privileges=order(privileges), columns=list(columns)))
    return entries
