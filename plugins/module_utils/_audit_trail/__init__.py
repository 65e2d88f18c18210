# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""The trigger-based audit trail: the SQL it installs, and how a run of audit_trail,
audit_lockdown or chain_verify gets there.

What a database holds once the trail is present (``audit`` stands for the trail's schema): the
log ``audit.audit_log``, the registry ``audit.audited_tables`` and ``audit.schema_version``
(sql_tables.py); the functions that write the log, all ``SECURITY DEFINER`` with
``search_path = pg_catalog, pg_temp`` and every name qualified (sql_functions.py, sql_ddl.py);
per audited table, triggers with fixed names, all ``ENABLE ALWAYS``; the event triggers
``pgtrail_audit_ddl`` and ``pgtrail_audit_drop``; with hash_chain, the chain (sql_chain.py).

One file per concern:

- names.py: the names of what the trail installs, TrailError, ``splice`` (a fragment of SQL
  written once, used in several places);
- sql_tables.py, sql_functions.py, sql_ddl.py, sql_chain.py: the installed SQL, each opened by a
  table of contents of the tables, functions and triggers it creates;
- catalog.py: what a run reads (the catalog queries and the trail's state);
- request.py: the options, parsed and checked (pure);
- plan.py: from the state read to the steps that reach the desired one (pure);
- render.py: the statements of those steps (pure); describe.py: the diff (pure);
- converge.py: one run of audit_trail, as a sequence of short phases;
- lockdown.py: audit_lockdown (owner, grants, default privileges, parameter grants);
- verify.py: chain_verify (seal, then verify the chain read-only);
- options.py: the options the three modules share.

A run reads the catalog, plans with the pure functions (unit-tested under
tests/unit/plugins/module_utils/_audit_trail/) and runs the plan in one transaction: everything
or nothing. Definitions are compared, not re-created: a function is replaced only when its source
or settings differ, a trigger only when its definition does.
"""
