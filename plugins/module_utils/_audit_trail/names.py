# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""The names of what the trail installs (tables, triggers, functions), the identifiers the SQL
is composed with, and the error a run refuses input with.

The package as a whole (its __init__.py stays empty, as ansible-test's empty-init asks):
The trigger-based audit trail: the SQL it installs, and how a run of audit_trail,
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

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres

LOG = "audit_log"
REGISTRY = "audited_tables"
VERSIONS = "schema_version"
CHAIN_HEAD = "chain_head"
CHAIN_BLOCK = "chain_block"
TRAIL_TABLES = (LOG, REGISTRY, VERSIONS, CHAIN_HEAD, CHAIN_BLOCK)
DEFAULT_PARTITION = "audit_log_default"

ROW_TRIGGER = "pgtrail_audit_row"
TRUNCATE_TRIGGER = "pgtrail_audit_truncate"
STATEMENT_TRIGGERS = (
    # name, event, REFERENCING OLD TABLE AS, NEW TABLE AS
    ("pgtrail_audit_stmt_ins", "INSERT", None, "pgtrail_new"),
    ("pgtrail_audit_stmt_upd", "UPDATE", "pgtrail_old", "pgtrail_new"),
    ("pgtrail_audit_stmt_del", "DELETE", "pgtrail_old", None),
)
EVENT_TRIGGERS = (("pgtrail_audit_ddl", "ddl_command_end"), ("pgtrail_audit_drop", "sql_drop"))
# The trigger functions of audited tables (the DDL event trigger refuses to let others rename
# a trigger that runs one of them).
TABLE_TRIGGER_FUNCTIONS = ("log_row_change", "log_statement_change", "log_truncate")
# Functions of row triggers, which PostgreSQL clones onto every new partition as the role that
# creates or attaches it (the table's owner), checking that role's EXECUTE: PUBLIC keeps it. A
# trigger function can only run as a trigger, and logs under the name of the table it fires on
# unless the registry says that table is audited (AUDITED_NAME): EXECUTE forges nothing.
CLONED_TRIGGER_FUNCTIONS = ("log_row_change",)

# On the trail's own tables (sql_functions.SKIP_APPLIED) and on the log (sql_chain).
SKIP_TRIGGER = "pgtrail_skip_applied"
CHAIN_TRIGGER = "pgtrail_chain_seal"
EVENT_FUNCTION = "log_event"
CHANGED_FIELDS_FUNCTION = "changed_fields"
VERIFY_FUNCTION = "verify_chain"
SEAL_FUNCTION = "seal_chain"
# Chain v2: the sealer the timer calls, and the insert-only trigger on the log and chain_block.
SEAL_BLOCKS_FUNCTION = "seal"
INSERT_ONLY_FUNCTION = "refuse_change"
INSERT_ONLY_TRIGGER = "pgtrail_insert_only"
# What the readers of the log may EXECUTE (audit_lockdown grants it).
READER_FUNCTIONS = (CHANGED_FIELDS_FUNCTION, VERIFY_FUNCTION)


class TrailError(Exception):
    """Input or database state the module refuses; ``problems`` lists every reason."""

    def __init__(self, problems):
        self.problems = list(problems)
        Exception.__init__(self, "; ".join(self.problems))


def pending_warning(what, option):
    """The warning of a check-mode run that finds ``what`` (a role, the trail) missing: an earlier
    task of the same run may create it (site.yml's canary login, the trail before its lockdown),
    which check mode does not, so the run plans without it; a real run refuses what is missing."""
    return (
        "%s does not exist (%s): check mode plans without it, as an earlier task of this run may create it; "
        "a run that is not in check mode refuses it if it is still missing" % (what, option)
    )


def sql_names(schema):
    """The trail's schema and tables as ``sql.Identifier``, by role."""
    sql = postgres.sql
    return dict(
        schema=sql.Identifier(schema),
        log=sql.Identifier(schema, LOG),
        registry=sql.Identifier(schema, REGISTRY),
        versions=sql.Identifier(schema, VERSIONS),
        head=sql.Identifier(schema, CHAIN_HEAD),
        block=sql.Identifier(schema, CHAIN_BLOCK),
        default_partition=sql.Identifier(schema, DEFAULT_PARTITION),
    )


def splice(template, name, fragment):
    """``template`` with each <name:n> marker replaced by ``fragment``, every line indented n spaces:
    how a fragment of SQL is written once and used in several places."""
    for indent in sorted({int(m) for m in re.findall("<%s:([0-9]+)>" % name, template)}):
        text = "\n".join(" " * indent + line for line in fragment.split("\n"))
        template = template.replace("<%s:%d>" % (name, indent), text)
    return template
