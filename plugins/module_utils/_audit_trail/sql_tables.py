# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""The trail's tables and their migrations: what the schema holds once the trail is present.

Table of contents (``audit`` stands for the trail's schema; the hash chain's table and columns,
migration 2, are in sql_chain.py):

- migration 1 (always): ``audit.audit_log`` (LOG_TABLE: one row per audited change, TRUNCATE,
  application event or DDL command; its first columns are the seed document's, so queries
  written for the seed keep working), its index ``audit_log_changed_at_brin`` (LOG_INDEXES) and
  column comments (LOG_COMMENTS); ``audit.audited_tables`` (REGISTRY_TABLE: the audited tables,
  the module's source of truth and what the DDL event trigger looks them up in);
- before any migration: ``audit.schema_version`` (VERSION_TABLE: the migrations applied, so a
  later release upgrades the log in place; RECORD_VERSION records one);
- every table: REVOKE_TABLE (PUBLIC holds nothing on them).

Templates are psycopg ``sql.SQL`` texts: {log}, {registry} and the like are filled with
``sql.Identifier`` names and ``sql.Literal`` values only, so ``{{`` and ``}}`` stand for literal
braces.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.names import (
    CHAIN_BLOCK,
    CHAIN_HEAD,
    LOG,
    REGISTRY,
)

# Migration 1: the log, the registry and their indexes. {partitioning} is empty, or
# "PARTITION BY RANGE (changed_at)" for partition: monthly (then the key holds changed_at).
LOG_TABLE = """
CREATE TABLE {log} (
    id bigserial NOT NULL,
    table_name text NOT NULL,
    action text NOT NULL,
    old_data jsonb,
    new_data jsonb,
    actor_id text,
    changed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    kind text NOT NULL,
    schema_name text,
    txid bigint NOT NULL DEFAULT pg_catalog.txid_current(),
    statement_at timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    wall_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    login_role text NOT NULL DEFAULT SESSION_USER,
    effective_role text NOT NULL DEFAULT (
        CASE WHEN pg_catalog.current_setting('role') = 'none' THEN SESSION_USER::text
             ELSE pg_catalog.current_setting('role') END),
    application_name text DEFAULT pg_catalog.current_setting('application_name'),
    client_addr inet DEFAULT pg_catalog.inet_client_addr(),
    client_port integer DEFAULT pg_catalog.inet_client_port(),
    resource text,
    success boolean,
    client_ip inet,
    user_agent text,
    metadata jsonb,
    CONSTRAINT audit_log_pkey PRIMARY KEY ({key})
){partitioning}
"""

# Every index and constraint of the log is paid by each audited row (a row trigger starts one
# INSERT per row, which opens every index and prepares every CHECK expression again), so the log
# has the fewest: the key, and BRIN on time. The log is append-only, so rows are physically in
# changed_at order and a BRIN index answers time ranges ("what happened to this table between t1
# and t2" reads only the ranges of [t1, t2]) at a tiny fraction of a btree's size and write cost.
# No CHECK on kind: only the trail's own functions write the log, with constant kinds.
# (benchmarks/ measures each of these choices.)
LOG_INDEXES = ("CREATE INDEX audit_log_changed_at_brin ON {log} USING brin (changed_at)",)

LOG_COMMENTS = (
    "COMMENT ON TABLE {log} IS 'pgtrail.audit: row changes, TRUNCATE, application events and DDL on audited "
    "tables, written only by the trail''s triggers and log_event()'",
    "COMMENT ON COLUMN {log}.actor_id IS 'the application''s actor (text: any application id, uuid included), "
    "from the transaction-local actor setting or log_event()'",
    "COMMENT ON COLUMN {log}.changed_at IS 'transaction start time (now()); statement_at and wall_at are the "
    "statement''s and the clock''s'",
    "COMMENT ON COLUMN {log}.login_role IS 'session_user: the role that logged in'",
    "COMMENT ON COLUMN {log}.effective_role IS 'the role set with SET ROLE, else the login role'",
    "COMMENT ON COLUMN {log}.kind IS 'row, truncate, event (log_event) or ddl (event trigger)'",
    "COMMENT ON COLUMN {log}.new_data IS 'the row after an INSERT or UPDATE; changed_fields(old_data, new_data) "
    "names the columns an UPDATE changed'",
)

REGISTRY_TABLE = """
CREATE TABLE {registry} (
    relid regclass PRIMARY KEY,
    schema_name text NOT NULL,
    table_name text NOT NULL,
    mode text NOT NULL CHECK (mode IN ('row', 'statement')),
    excluded_columns text[] NOT NULL DEFAULT '{{}}',
    added_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
)
"""

VERSION_TABLE = """
CREATE TABLE {versions} (
    version integer PRIMARY KEY,
    description text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    applied_by text NOT NULL DEFAULT SESSION_USER
)
"""

RECORD_VERSION = "INSERT INTO {versions} (version, description) VALUES ({version}, {description})"

REVOKE_TABLE = "REVOKE ALL ON TABLE {table} FROM PUBLIC"

# (version, description): applied in order to reach the newest. A later release appends a step,
# whose statements upgrade the log in place, keeping its rows. A step named in OPTIONAL is
# applied only when its option is on (hash_chain: true for step 2); the others always are.
# schema_version records every step applied, so an optional step can come after later ones.
MIGRATIONS = (
    (1, "the audit log, the registry of audited tables and their indexes"),
    (2, "the hash chain: chain_seq, prev_hash and row_hash on the log, and the chain head"),
    (3, "chain v2: chain_block, BRIN (changed_at, txid), v1 rows become block 0"),
)
# Step 2 is chain v1, which this release no longer installs (no option asks for it): a log
# chained by an earlier release keeps it, and step 3 upgrades it in place (its rows become
# block 0). hash_chain: true applies step 3.
OPTIONAL = {2: "hash_chain_v1", 3: "hash_chain"}
CHAIN_MIGRATION = 2
CHAIN_V2_MIGRATION = 3
SCHEMA_VERSION = MIGRATIONS[-1][0]

# The tables each migration creates (a locked-down trail's owner takes them over).
MIGRATION_TABLES = {1: (LOG, REGISTRY), CHAIN_MIGRATION: (CHAIN_HEAD,), CHAIN_V2_MIGRATION: (CHAIN_HEAD, CHAIN_BLOCK)}
