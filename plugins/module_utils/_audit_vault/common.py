# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""What the vault's modules share: the names of what the vault holds, the catalog reads more than
one of them makes, the source's connection string, the error a run refuses input with, and the
options of the modules (one argument spec, documented once in the doc fragment
pgtrail.audit.vault).

The package as a whole (its __init__.py stays empty, as ansible-test's empty-init asks): the
audit vault, the trail's log copied forward-only to a PostgreSQL host the audited hosts cannot
write to (docs/vault.md). One file per concern:

- common.py: this file;
- plan.py: the pure decisions (publication steps, the copy's columns, the comparison's merge);
- source.py: on a source, the insert-only publication and the replication login (vault_source);
- store.py: on the vault, one database per source database with a guarded copy of the log and
  its subscription (vault_store);
- compare.py: a source's log against the vault's copy, by id (vault_compare);
- slots.py: the sources' vault slots, for audit_info.

The SQL is composed with psycopg's ``sql`` module only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres
from ansible_collections.pgtrail.audit.plugins.module_utils.postgres import psycopg, sql

LOG = "audit_log"
OWNER_ACTIONS = "vault_owner_actions"
CHECKPOINTS = "checkpoints"
GUARD = "vault_guard"
# A column the vault adds to its copy of the log: when the row arrived (the vault's lag).
RECEIVED = "vault_received_at"
# Session settings under which both ends print a row the same way (the comparison hashes text).
SAME_TEXT = "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex"

# The options the vault's modules share (doc fragment pgtrail.audit.vault): where the source is,
# and the login the vault reaches it with.
SOURCE_OPTIONS = dict(
    schema=dict(type="str", default="audit"),
    conninfo=dict(type="str", required=True),
    source_database=dict(type="str", required=True),
    user=dict(type="str", default="pgtrail_vault"),
    password=dict(type="str", required=True, no_log=True),
    publication=dict(type="str", default="pgtrail_vault"),
)


def argument_spec(names, **own):
    """A vault module's argument spec: the connection options, the shared ``names`` and its ``own``."""
    spec = postgres.connection_argument_spec()
    spec.update((name, dict(SOURCE_OPTIONS[name])) for name in names)
    spec.update(own)
    return spec


def slot_name(database_oid):
    """The replication slot of a source database: slot names are cluster-wide on the source and
    allow only [a-z0-9_], so the database's oid names it, not its name."""
    return "pgtrail_vault_%d" % database_oid


ROLE = """
SELECT rolname, rolcanlogin, rolreplication, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolpassword,
       ARRAY(SELECT m.roleid::regrole::text FROM pg_catalog.pg_auth_members AS m WHERE m.member = a.oid) AS member_of
  FROM pg_catalog.pg_authid AS a WHERE rolname = %s
"""

COLUMNS = """
SELECT a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_catalog.pg_attribute AS a
 WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
"""


def ident(*parts):
    return sql.Identifier(*parts)


class Refused(Exception):
    def __init__(self, problems):
        Exception.__init__(self, "; ".join(problems))
        self.problems = problems


def conninfo(params):
    """The subscription's connection string: the inventory's part and the vault's login."""
    return psycopg.conninfo.make_conninfo(
        params["conninfo"], dbname=params["source_database"], user=params["user"], password=params["password"]
    )
