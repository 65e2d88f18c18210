# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The trigger-based audit trail: the SQL it installs, and how a run gets there (one place).

What a database holds once the trail is present (``audit`` stands for the trail's schema):

- ``audit.audit_log``: one row per audited change, TRUNCATE, application event or DDL command.
  Its first columns are the seed document's (id, table_name, action, old_data, new_data,
  actor_id, changed_at) so queries written for the seed keep working.
- ``audit.audited_tables``: the registry of audited tables (the module's source of truth, and
  what the DDL event trigger looks audited tables up in); ``audit.schema_version``: the
  migrations applied, so a later release upgrades the log in place.
- Functions, all ``SECURITY DEFINER`` with ``search_path = pg_catalog, pg_temp`` and every name
  qualified (``current_actor``, a one-line SQL function inlined into them, excepted):
  ``log_row_change`` (row triggers),
  ``log_statement_change`` (statement triggers with transition tables), ``log_truncate``,
  ``log_ddl`` (event triggers) and ``log_event`` (application events, callable by app roles).
- Per audited table, triggers with fixed names, all ``ENABLE ALWAYS`` so that
  ``session_replication_role = replica`` cannot skip them; the table's schema, name and
  excluded columns travel as trigger arguments, so partitions log under their parent.
- Event triggers ``pgtrail_audit_ddl`` (ddl_command_end) and ``pgtrail_audit_drop`` (sql_drop).

The module reads the catalog, plans with the pure functions below (unit-tested) and runs the
plan in one transaction: everything or nothing. Definitions are compared, not re-created: a
function is replaced only when its source or settings differ, a trigger only when its
definition does.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import re

from ansible_collections.pgtrail.audit.plugins.module_utils import identifiers, postgres
from ansible_collections.pgtrail.audit.plugins.module_utils.identifiers import render

# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------

LOG = "audit_log"
REGISTRY = "audited_tables"
VERSIONS = "schema_version"
CHAIN_HEAD = "chain_head"
TRAIL_TABLES = (LOG, REGISTRY, VERSIONS, CHAIN_HEAD)
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

SEARCH_PATH = "search_path=pg_catalog, pg_temp"
MODES = ("row", "statement")
# Months of partitions made ahead of the current one (partition: monthly).
PREMAKE_MONTHS = 3

_GUC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)+$")
_MONTH_PARTITION = re.compile(r"^audit_log_(\d{4})(\d{2})$")


class TrailError(Exception):
    """Input or database state the module refuses; ``problems`` lists every reason."""

    def __init__(self, problems):
        self.problems = list(problems)
        Exception.__init__(self, "; ".join(self.problems))


# ---------------------------------------------------------------------------------------------
# The SQL the trail installs. Templates are psycopg ``sql.SQL`` texts: {log}, {registry} and
# the like are filled with ``sql.Identifier`` names and ``sql.Literal`` values only, so ``{{``
# and ``}}`` stand for literal braces.
# ---------------------------------------------------------------------------------------------

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

# The actor: an optional trusted expression (Supabase: auth.uid()), else the transaction-local
# setting the application sets with set_config(<setting>, <id>, true). current_actor() is a
# one-line SQL function, so PostgreSQL inlines it into the statements that call it. With
# require_actor, the trigger functions refuse a write without an actor ({required} below);
# events and DDL are logged without one.
ACTOR_RESOLVE = "SELECT nullif(pg_catalog.current_setting({setting}, true), '')"
ACTOR_RESOLVE_EXPRESSION = (
    "SELECT coalesce(({expression})::text, nullif(pg_catalog.current_setting({setting}, true), ''))"
)
ACTOR_REQUIRED = """
    IF actor IS NULL THEN
        RAISE EXCEPTION 'pgtrail.audit: no actor for a write to %.%', TG_ARGV[0], TG_ARGV[1]
            USING ERRCODE = 'insufficient_privilege',
                  HINT = pg_catalog.format('Run SELECT pg_catalog.set_config(%L, <actor id>, true) in the '
                                           'transaction before writing.', {setting});
    END IF;"""

# How a row becomes JSON (old_data, new_data). The common case is one to_jsonb() of the row.
# row_data() takes the rows that cannot take it: a table with excluded columns (they are set to
# NULL in the row before it is serialised, then removed, so a secret or a huge excluded value is
# never turned into JSON), virtual generated columns (PostgreSQL 18: triggers see them as NULL,
# so they are left out), and rows larger than INLINE_ROW_BYTES as stored (compressed, TOAST
# included): below that no row can come near ROW_DATA_LIMIT as JSON. Values that do not fit are
# logged as {"pgtrail_too_large": {"type", "length", "sha256"}}, the largest first until the row
# fits; length and sha256 are those of the value's binary form (record_send, as COPY BINARY
# sends it: a bytea's bytes, a text's characters).
INLINE_ROW_BYTES = 8192
ROW_DATA_LIMIT = 64 * 1024 * 1024
TOO_LARGE = "pgtrail_too_large"

ROW_DATA = """
#variable_conflict use_variable
DECLARE
    -- r: a row of the audited table rel (a transition table's row has no named type: nothing
    -- here reads a column by name); hidden: its excluded columns.
    whole jsonb;
    wire bytea;
    names text[];
    types text[];
    factors integer[];
    lens integer[] := '{{}}';
    starts integer[] := '{{}}';
    pos integer := 4;
    budget bigint := {limit};
    marked text[];
    i integer;
BEGIN
    IF {virtual} THEN
        hidden := hidden OPERATOR(pg_catalog.||) ARRAY(
            SELECT a.attname::text FROM pg_catalog.pg_attribute AS a
             WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = 'v');
    END IF;
    IF pg_catalog.cardinality(hidden) > 0 THEN
        r := pg_catalog.jsonb_populate_record(r, {hidden_nulls});
    END IF;
    IF pg_catalog.pg_column_size(r) <= {inline} THEN
        RETURN pg_catalog.to_jsonb(r) - hidden;
    END IF;
    -- A large row: each value's length from the row in binary (record_send: a column count, then
    -- for each column its type, its length, -1 for NULL, and its bytes).
    wire := pg_catalog.record_send(r);
    -- A value's JSON is taken as about its binary length for strings, json and xml, twice that
    -- for others (exact for bytea: two hex digits a byte).
    SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attnum),
           pg_catalog.array_agg(pg_catalog.format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum),
           pg_catalog.array_agg(CASE WHEN t.typcategory = 'S' OR t.typname IN ('json', 'jsonb', 'xml') THEN 1 ELSE 2 END
                                ORDER BY a.attnum)
      INTO names, types, factors
      FROM pg_catalog.pg_attribute AS a JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
     WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped;
    FOR i IN 1 .. pg_catalog.cardinality(names) LOOP
        lens := lens OPERATOR(pg_catalog.||)
                ('x' || pg_catalog.encode(pg_catalog.substring(wire, pos + 5, 4), 'hex'))::pg_catalog.bit(32)::integer;
        starts := starts OPERATOR(pg_catalog.||) (pos + 9);
        pos := pos + 8 + GREATEST(lens[i], 0);
    END LOOP;
    -- The largest values are marked while the others would take more than the budget as JSON;
    -- should the JSON still not fit, again with half the budget.
    LOOP
        SELECT coalesce(pg_catalog.array_agg(v.name), '{{}}') INTO marked
          FROM (SELECT e.name, e.size, pg_catalog.sum(e.size) OVER () AS total,
                       pg_catalog.sum(e.size) OVER (ORDER BY e.size DESC, e.name ROWS UNBOUNDED PRECEDING) AS through
                  FROM (SELECT u.name, CASE WHEN u.len < 0 THEN 0 ELSE u.factor * u.len::bigint + 8 END AS size
                          FROM ROWS FROM (pg_catalog.unnest(names), pg_catalog.unnest(lens), pg_catalog.unnest(factors))
                               AS u(name, len, factor)) AS e) AS v
         WHERE v.size > 0 AND v.total - v.through + v.size > budget;
        BEGIN
            whole := pg_catalog.to_jsonb(pg_catalog.jsonb_populate_record(r, {marked_nulls})) - hidden;
            EXIT WHEN pg_catalog.pg_column_size(whole) <= {limit};
        EXCEPTION WHEN program_limit_exceeded THEN
            NULL;
        END;
        budget := budget / 2;
    END LOOP;
    FOR i IN 1 .. pg_catalog.cardinality(names) LOOP
        IF names[i] = ANY (marked) THEN
            whole := whole OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(names[i],
                pg_catalog.jsonb_build_object({too_large}, pg_catalog.jsonb_build_object(
                    'type', types[i], 'length', lens[i], 'sha256',
                    pg_catalog.encode(pg_catalog.sha256(pg_catalog.substring(wire, starts[i], lens[i])), 'hex'))));
        END IF;
    END LOOP;
    RETURN whole;
END
"""

# The name a trigger logs under: its audited table's current name. TG_ARGV[0] and TG_ARGV[1]
# hold the name the table had when the module made the trigger. No query while the table that
# fires still has that name, nor on a partition whose root still has it (two function calls).
# After a rename or SET SCHEMA (until the next run gives the trigger the new name), or under an
# audited table that is itself a partition: the nearest audited table at or above it in the
# registry, which log_ddl keeps current; else the table that fires (a trail trigger on a table
# the trail does not audit names that table).
AUDITED_NAME = """
    audited_schema := TG_TABLE_SCHEMA;
    audited_table := TG_TABLE_NAME;
    IF audited_table <> TG_ARGV[1] OR audited_schema <> TG_ARGV[0] THEN
        IF pg_catalog.pg_partition_root(TG_RELID)::pg_catalog.text
           = pg_catalog.format('%I.%I', TG_ARGV[0], TG_ARGV[1]) THEN
            audited_schema := TG_ARGV[0];
            audited_table := TG_ARGV[1];
        ELSE
            SELECT a.schema_name, a.table_name INTO audited_schema, audited_table
              FROM (SELECT TG_RELID AS relid, 0::bigint AS level
                    UNION ALL
                    SELECT x.relid::pg_catalog.oid, x.level
                      FROM pg_catalog.pg_partition_ancestors(TG_RELID) WITH ORDINALITY AS x(relid, level)) AS u
              JOIN {registry} AS a ON a.relid::pg_catalog.oid = u.relid
             ORDER BY u.level
             LIMIT 1;
            IF NOT FOUND THEN
                audited_schema := TG_TABLE_SCHEMA;
                audited_table := TG_TABLE_NAME;
            END IF;
        END IF;
    END IF;"""

# Changes a logical replication worker applies (it runs with session_replication_role = replica)
# are marked in metadata with the subscription that applied them; any other session in replica
# mode with a null subscription. The check of the setting is all that other writes pay.
REPLICATION = (
    "CASE WHEN pg_catalog.current_setting('session_replication_role') = 'replica' THEN "
    "pg_catalog.jsonb_build_object('replication_role', 'replica', 'subscription', "
    "(SELECT s.subname::text FROM pg_catalog.pg_stat_subscription AS s "
    "WHERE s.pid = pg_catalog.pg_backend_pid() LIMIT 1)) END"
)

LOG_ROW_CHANGE = """
#variable_conflict use_variable
DECLARE
    -- TG_ARGV: the audited table's schema and name (a partition logs under its parent), then
    -- the excluded columns, which never reach the log.
    -- One INSERT per row and nothing else that runs a query: this runs once per audited row
    -- (row_data(), which may, only for the rows to_jsonb() cannot take as they are; excluded
    -- columns are set to NULL before the row is serialised; a table renamed since the last
    -- run also looks up its current name: AUDITED_NAME).
    old_row jsonb;
    new_row jsonb;
    actor text;
    audited_schema text;
    audited_table text;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        IF pg_catalog.pg_column_size(OLD) > {inline} OR ({virtual} AND NOT (OLD IS NOT NULL)) THEN
            old_row := {row_data}(OLD, TG_RELID, TG_ARGV[2:TG_NARGS - 1]);
        ELSIF TG_NARGS > 2 THEN
            old_row := pg_catalog.to_jsonb(pg_catalog.jsonb_populate_record(OLD, {excluded_nulls}))
                       - TG_ARGV[2:TG_NARGS - 1];
        ELSE
            old_row := pg_catalog.to_jsonb(OLD);
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        IF pg_catalog.pg_column_size(NEW) > {inline} OR ({virtual} AND NOT (NEW IS NOT NULL)) THEN
            new_row := {row_data}(NEW, TG_RELID, TG_ARGV[2:TG_NARGS - 1]);
        ELSIF TG_NARGS > 2 THEN
            new_row := pg_catalog.to_jsonb(pg_catalog.jsonb_populate_record(NEW, {excluded_nulls}))
                       - TG_ARGV[2:TG_NARGS - 1];
        ELSE
            new_row := pg_catalog.to_jsonb(NEW);
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' AND old_row = new_row THEN
        RETURN NULL; -- only excluded columns changed, or none did
    END IF;
    actor := {current_actor}();{required}{audited_name}
    INSERT INTO {log} (kind, schema_name, table_name, action, old_data, new_data, actor_id, metadata)
    VALUES ('row', audited_schema, audited_table, TG_OP, old_row, new_row, actor, {replication});
    RETURN NULL;
END
"""

# The JSON of each row of a transition table ({rows}), as data: masked and measured as in
# log_row_change, set-based. Every name is qualified or a variable (use_variable): a column of
# the audited table cannot capture it.
# {"<name>": null, ...} for the columns named in {names}: the mask jsonb_populate_record() applies.
NULLS = "pg_catalog.jsonb_object({names}, pg_catalog.array_fill(NULL::text, ARRAY[pg_catalog.cardinality({names})]))"

STATEMENT_ROWS = """(SELECT CASE WHEN pg_catalog.pg_column_size(m.r) <= {inline} THEN pg_catalog.to_jsonb(m.r) - hidden
                     ELSE {row_data}(m.r, TG_RELID, hidden) END AS data
                FROM (SELECT CASE WHEN mask IS NULL THEN t.* ELSE pg_catalog.jsonb_populate_record(t.*, mask) END AS r
                        FROM {rows} AS t) AS m)"""

LOG_STATEMENT_CHANGE = """
#variable_conflict use_variable
DECLARE
    -- One trigger per event, with transition tables pgtrail_old and pgtrail_new; TG_ARGV as
    -- for log_row_change. One log row per changed row, written set-based.
    hidden text[] := TG_ARGV[2:TG_NARGS - 1];
    mask jsonb;
    key_column text;
    non_key text[];
    actor text;
    audited_schema text;
    audited_table text;
BEGIN{audited_name}
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT FROM pgtrail_new) THEN
            RETURN NULL;
        END IF;
    ELSIF NOT EXISTS (SELECT FROM pgtrail_old) THEN
        RETURN NULL;
    END IF;
    -- Excluded and virtual generated columns (NULL in a trigger) are set to NULL before a row
    -- is serialised, then removed.
    hidden := hidden OPERATOR(pg_catalog.||) ARRAY(
        SELECT a.attname::text FROM pg_catalog.pg_attribute AS a
         WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = 'v');
    IF pg_catalog.cardinality(hidden) > 0 THEN
        mask := {hidden_nulls};
    END IF;
    actor := {current_actor}();{required}
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {log} (kind, schema_name, table_name, action, new_data, actor_id, metadata)
        SELECT 'row', audited_schema, audited_table, 'INSERT', n.data, actor, {replication} FROM {new_rows} AS n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO {log} (kind, schema_name, table_name, action, old_data, actor_id)
        SELECT 'row', audited_schema, audited_table, 'DELETE', o.data, actor FROM {old_rows} AS o;
    ELSIF TG_OP = 'UPDATE' THEN
        -- Old and new rows are paired by primary key, each row's JSON built once: the key's
        -- value for a one-column key, else the row minus its other columns. A row whose key
        -- changed, or any row of a table without a key (both NULL: no key matches), is logged
        -- as an old and a new half.
        SELECT a.attname::text INTO key_column
          FROM pg_catalog.pg_index AS i
          JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = TG_RELID AND i.indisprimary AND i.indnkeyatts = 1;
        IF key_column IS NULL
           AND EXISTS (SELECT FROM pg_catalog.pg_index AS i WHERE i.indrelid = TG_RELID AND i.indisprimary) THEN
            SELECT coalesce(pg_catalog.array_agg(a.attname::text), '{{}}') INTO non_key
              FROM pg_catalog.pg_attribute AS a
             WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped
               AND NOT EXISTS (SELECT FROM pg_catalog.pg_index AS i
                                WHERE i.indrelid = TG_RELID AND i.indisprimary AND a.attnum = ANY (i.indkey));
        END IF;
        INSERT INTO {log} (kind, schema_name, table_name, action, old_data, new_data, actor_id)
        WITH o AS MATERIALIZED (SELECT CASE WHEN key_column IS NULL THEN d.data - non_key ELSE d.data -> key_column END
                                       AS row_key, d.data
                                  FROM {old_rows} AS d),
             n AS MATERIALIZED (SELECT CASE WHEN key_column IS NULL THEN d.data - non_key ELSE d.data -> key_column END
                                       AS row_key, d.data
                                  FROM {new_rows} AS d)
        SELECT 'row', audited_schema, audited_table, 'UPDATE', o.data, n.data, actor
          FROM o FULL JOIN n ON n.row_key = o.row_key
         WHERE o.data IS DISTINCT FROM n.data;
    END IF;
    RETURN NULL;
END
"""

# The columns an UPDATE changed, computed when the log is read (a sub-select per audited row at
# write time cost the row trigger a fifth of its time). Plain SQL, IMMUTABLE and not pinned, so
# that it is inlined into the reader's query; every operator is qualified.
CHANGED_FIELDS = """
SELECT pg_catalog.array_agg(n.key ORDER BY n.key)
  FROM pg_catalog.jsonb_each(new_data) AS n
 WHERE old_data IS NOT NULL
   AND (old_data OPERATOR(pg_catalog.->) n.key IS NULL
        OR NOT n.value OPERATOR(pg_catalog.=) (old_data OPERATOR(pg_catalog.->) n.key))
"""

LOG_TRUNCATE = """
#variable_conflict use_variable
DECLARE
    actor text := {current_actor}();
    audited_schema text;
    audited_table text;
BEGIN
    -- TRUNCATE of a partitioned table fires for it and for each partition: one row each, all
    -- under the audited table's name, the truncated relation in metadata when it differs.{required}{audited_name}
    INSERT INTO {log} (kind, schema_name, table_name, action, actor_id, metadata)
    VALUES ('truncate', audited_schema, audited_table, 'TRUNCATE', actor,
            CASE WHEN TG_TABLE_SCHEMA = audited_schema AND TG_TABLE_NAME = audited_table THEN NULL
                 ELSE pg_catalog.jsonb_build_object('relation',
                          pg_catalog.format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME)) END);
    RETURN NULL;
END
"""

LOG_EVENT = """
#variable_conflict use_variable
DECLARE
    new_id bigint;
BEGIN
    IF action IS NULL OR resource IS NULL THEN
        RAISE EXCEPTION 'pgtrail.audit: log_event needs an action and a resource'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    INSERT INTO {log} (kind, table_name, action, resource, success, metadata, client_ip, user_agent, actor_id)
    VALUES ('event', resource, action, resource, success, coalesce(metadata, '{{}}'::jsonb), client_ip,
            user_agent, coalesce(actor_id, {current_actor}()))
    RETURNING id INTO new_id;
    RETURN new_id;
END
"""

# For a dropped trigger (d, a row of pg_event_trigger_dropped_objects()): the OID of its table
# when that table stays, found by name in the catalog.
TRIGGER_TABLE = """SELECT k.oid AS relid
                  FROM pg_catalog.pg_class AS k
                  JOIN pg_catalog.pg_namespace AS n ON n.oid = k.relnamespace
                 WHERE d.object_type = 'trigger' AND n.nspname = d.address_names[1]
                   AND k.relname = d.address_names[2]"""

# DDL on audited tables (on the table itself, a partition, an index or a trigger of it) and on
# the trail's own objects. Runs for every DDL command of the database, so it only reads the
# small registry and the catalog.
#
# It also refuses, to anyone but a superuser (or a member of the trail's owner, the role this
# function runs as), DDL that weakens the trail: a trail trigger left other than ENABLE ALWAYS
# (DISABLE, ENABLE, ENABLE REPLICA, CREATE OR REPLACE), renamed, or dropped while its table
# stays. A table's owner may still drop the table itself (recorded). Superusers are recorded,
# not refused: like pgaudit, the trail does not protect against them.
#
# It runs as the trail's owner, who may have no USAGE on the audited tables' schemas: it finds
# relations by OID in the catalog (never to_regclass or a regclass cast of a name, which check
# USAGE), and it keeps the registry's names current after a rename or SET SCHEMA, so that the
# triggers log later writes under the table's current name.
LOG_DDL = """
#variable_conflict use_variable
DECLARE
    actor text := {current_actor}();
    privileged boolean := EXISTS (SELECT FROM pg_catalog.pg_roles AS a
                                   WHERE a.rolsuper AND a.rolname IN (SESSION_USER, pg_catalog.current_setting('role')))
                          OR pg_catalog.pg_has_role(SESSION_USER, CURRENT_USER, 'MEMBER');
    weakened text;
BEGIN
    IF TG_EVENT = 'ddl_command_end' THEN
        -- An audited table renamed, moved to another schema, or in a schema renamed.
        UPDATE {registry} AS a
           SET schema_name = n.nspname, table_name = k.relname, updated_at = pg_catalog.now()
          FROM pg_catalog.pg_class AS k
          JOIN pg_catalog.pg_namespace AS n ON n.oid = k.relnamespace
         WHERE k.oid = a.relid::pg_catalog.oid
           AND (a.schema_name, a.table_name) IS DISTINCT FROM (n.nspname::text, k.relname::text)
           AND EXISTS (SELECT FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
                        WHERE (c.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.objid = k.oid)
                           OR (c.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND c.objid = n.oid));
        INSERT INTO {log} (kind, schema_name, table_name, action, actor_id, metadata)
        SELECT DISTINCT 'ddl', w.schema_name, w.table_name, c.command_tag, actor,
               pg_catalog.jsonb_build_object('object_type', c.object_type, 'object_identity', c.object_identity,
                                             'statement', pg_catalog.current_query())
          FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
         CROSS JOIN LATERAL (
                SELECT CASE c.classid
                         WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN
                           coalesce((SELECT i.indrelid FROM pg_catalog.pg_index AS i WHERE i.indexrelid = c.objid),
                                    c.objid)
                         WHEN 'pg_catalog.pg_trigger'::pg_catalog.regclass THEN
                           (SELECT t.tgrelid FROM pg_catalog.pg_trigger AS t WHERE t.oid = c.objid)
                       END AS relid) AS r
         CROSS JOIN LATERAL (
                -- the audited table itself, one above it (a partition) or one below it (ATTACH)
                SELECT a.schema_name, a.table_name
                  FROM {registry} AS a
                 WHERE a.relid::pg_catalog.oid IN (SELECT r.relid UNION ALL
                                                   SELECT x.relid FROM pg_catalog.pg_partition_ancestors(r.relid) AS x
                                                   UNION ALL
                                                   SELECT x.relid FROM pg_catalog.pg_partition_tree(r.relid) AS x)
                UNION ALL
                -- audited tables in a schema renamed
                SELECT a.schema_name, a.table_name
                  FROM {registry} AS a
                  JOIN pg_catalog.pg_class AS k ON k.oid = a.relid::pg_catalog.oid
                 WHERE c.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND k.relnamespace = c.objid
                UNION ALL
                SELECT c.schema_name,
                       coalesce((SELECT k.relname::text FROM pg_catalog.pg_class AS k WHERE k.oid = r.relid),
                                c.object_identity)
                 WHERE c.schema_name = {schema_name}) AS w;
        IF NOT privileged THEN
            SELECT pg_catalog.format('%s %I on %s',
                                     CASE WHEN t.tgname NOT LIKE 'pgtrail\\_audit\\_%' THEN 'renames the audit trigger'
                                          ELSE 'leaves the audit trigger' END,
                                     t.tgname, t.tgrelid::pg_catalog.regclass) ||
                   CASE WHEN t.tgname LIKE 'pgtrail\\_audit\\_%' THEN ' not ENABLE ALWAYS' ELSE '' END
              INTO weakened
              FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
             CROSS JOIN LATERAL (
                    SELECT CASE c.classid
                             WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN
                               coalesce((SELECT i.indrelid FROM pg_catalog.pg_index AS i WHERE i.indexrelid = c.objid),
                                        c.objid)
                             WHEN 'pg_catalog.pg_trigger'::pg_catalog.regclass THEN
                               (SELECT t.tgrelid FROM pg_catalog.pg_trigger AS t WHERE t.oid = c.objid)
                           END AS relid) AS r
             CROSS JOIN LATERAL (SELECT r.relid UNION
                                 SELECT x.relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree(r.relid) AS x) AS p
              JOIN pg_catalog.pg_trigger AS t ON t.tgrelid = p.relid
             WHERE NOT t.tgisinternal
               AND (t.tgname LIKE 'pgtrail\\_audit\\_%' OR t.tgfoid IN (
                      SELECT f.oid FROM pg_catalog.pg_proc AS f
                        JOIN pg_catalog.pg_namespace AS n ON n.oid = f.pronamespace
                       WHERE n.nspname = {schema_name} AND f.proname IN ({table_functions})))
               AND (t.tgenabled <> 'A' OR t.tgname NOT LIKE 'pgtrail\\_audit\\_%')
             ORDER BY t.tgrelid, t.tgname
             LIMIT 1;
            IF weakened IS NOT NULL THEN
                RAISE EXCEPTION 'pgtrail.audit: % %; only a superuser may weaken the audit trail', TG_TAG, weakened
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
        END IF;
    ELSIF TG_EVENT = 'sql_drop' THEN
        IF NOT privileged THEN
            SELECT d.object_identity INTO weakened
              FROM pg_catalog.pg_event_trigger_dropped_objects() AS d
             CROSS JOIN LATERAL ({trigger_table}) AS s
             WHERE d.address_names[3] LIKE 'pgtrail\\_audit\\_%'
             LIMIT 1;
            IF weakened IS NOT NULL THEN
                RAISE EXCEPTION 'pgtrail.audit: % drops the audit trigger % of a table that stays; only a superuser '
                                'may weaken the audit trail', TG_TAG, weakened
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
        END IF;
        INSERT INTO {log} (kind, schema_name, table_name, action, actor_id, metadata)
        SELECT DISTINCT 'ddl', w.schema_name, w.table_name, TG_TAG, actor,
               pg_catalog.jsonb_build_object('object_type', d.object_type, 'object_identity', d.object_identity,
                                             'statement', pg_catalog.current_query())
          FROM pg_catalog.pg_event_trigger_dropped_objects() AS d
          LEFT JOIN LATERAL ({trigger_table}) AS s ON true
         CROSS JOIN LATERAL (
                -- an audited table
                SELECT a.schema_name, a.table_name
                  FROM {registry} AS a
                 WHERE d.object_type = 'table' AND a.relid::pg_catalog.oid = d.objid
                UNION ALL
                -- a trail trigger on an audited table, or on one of its partitions, still there
                SELECT a.schema_name, a.table_name
                  FROM {registry} AS a
                 WHERE d.address_names[3] LIKE 'pgtrail\\_audit\\_%'
                   AND a.relid::pg_catalog.oid IN (SELECT s.relid UNION ALL
                                                   SELECT x.relid FROM pg_catalog.pg_partition_ancestors(s.relid) AS x)
                UNION ALL
                -- a relation gone with its trail triggers, not an audited table: a partition
                SELECT d.address_names[1], d.address_names[2]
                 WHERE d.object_type = 'trigger' AND d.address_names[3] LIKE 'pgtrail\\_audit\\_%'
                   AND s.relid IS NULL
                   AND NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger_dropped_objects() AS g
                                     JOIN {registry} AS a ON a.relid::pg_catalog.oid = g.objid
                                    WHERE g.object_type = 'table' AND g.schema_name = d.address_names[1]
                                      AND g.object_name = d.address_names[2])
                UNION ALL
                -- an index dropped by name in a schema of audited tables, under its own name (the
                -- catalog no longer links it to its table by now)
                SELECT d.schema_name, d.object_name
                 WHERE d.object_type = 'index' AND d.original
                   AND EXISTS (SELECT FROM {registry} AS a WHERE a.schema_name = d.schema_name)
                UNION ALL
                -- the trail's own tables and functions
                SELECT d.schema_name, coalesce(d.object_name, d.object_identity)
                 WHERE d.schema_name = {schema_name} AND d.object_type IN ('table', 'function')) AS w;
        DELETE FROM {registry} AS a
         USING pg_catalog.pg_event_trigger_dropped_objects() AS d
         WHERE d.object_type = 'table' AND a.relid::pg_catalog.oid = d.objid;
    END IF;
END
"""

# The trail's own tables in a FOR ALL TABLES publication: each node keeps its own log, so a
# logical replication worker (a row of pg_stat_subscription) applying another node's log rows,
# head, registry or versions skips them (a BEFORE trigger that returns NULL). Only what the
# worker applies itself (trigger depth 1): the rows this node's own trail functions write while
# the worker applies a change to an audited table are kept. ENABLE REPLICA: it fires only in
# replica mode, and lets through the rows of any other session in that mode.
SKIP_APPLIED = """
BEGIN
    IF pg_catalog.pg_trigger_depth() = 1
       AND EXISTS (SELECT FROM pg_catalog.pg_stat_subscription AS s WHERE s.pid = pg_catalog.pg_backend_pid()) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
"""
SKIP_TRIGGER = "pgtrail_skip_applied"

# name, arguments (as pg_get_function_arguments prints them), result, SECURITY DEFINER, body.
# current_actor is SQL (inlined where it is called, so neither definer nor pinned: it runs inside
# the definer functions, under their search_path); the others are PL/pgSQL.
FUNCTIONS = (
    ("current_actor", "", "text", False, None),
    ("changed_fields", "old_data jsonb, new_data jsonb", "text[]", False, CHANGED_FIELDS),
    ("row_data", "r anyelement, rel oid, hidden text[]", "jsonb", False, ROW_DATA),
    ("log_row_change", "", "trigger", True, LOG_ROW_CHANGE),
    ("log_statement_change", "", "trigger", True, LOG_STATEMENT_CHANGE),
    ("log_truncate", "", "trigger", True, LOG_TRUNCATE),
    ("log_ddl", "", "event_trigger", True, LOG_DDL),
    ("skip_applied", "", "trigger", True, SKIP_APPLIED),
    (
        "log_event",
        "action text, resource text, success boolean DEFAULT true, metadata jsonb DEFAULT '{}'::jsonb, "
        "client_ip inet DEFAULT NULL::inet, user_agent text DEFAULT NULL::text, actor_id text DEFAULT NULL::text",
        "bigint",
        True,
        LOG_EVENT,
    ),
)
EVENT_FUNCTION = "log_event"
CHANGED_FIELDS_FUNCTION = "changed_fields"
# What the readers of the log may EXECUTE (audit_lockdown grants it).
READER_FUNCTIONS = (CHANGED_FIELDS_FUNCTION, "verify_chain")  # verify_chain: VERIFY_FUNCTION, below

# Settings a function runs with besides the definer's pinned search_path. The statement trigger's
# pairing query: the planner cannot estimate a join on jsonb and expects the square of the rows,
# so without jit = off a bulk statement spends its time compiling JIT code; and the hash join of
# a bulk statement's rows stays in memory.
FUNCTION_SETTINGS = {"log_statement_change": (("jit", "off"), ("work_mem", "32MB"))}

# ---------------------------------------------------------------------------------------------
# The hash chain (migration 2, with hash_chain: true)
#
# Each log row gets its position in the chain (chain_seq), the previous row's hash (prev_hash)
# and its own: row_hash = sha256(prev_hash || canonical(row)), the first row's prev_hash being
# 32 zero bytes. chain_head holds the last position and hash.
#
# Rows are chained at COMMIT, not at INSERT, so writers never wait for each other: a deferred
# constraint trigger on the log calls seal_chain(), which only *tries* to lock the row of
# chain_head (FOR UPDATE SKIP LOCKED). Only the trail's owner and superusers can lock that row
# (it takes UPDATE on chain_head); an advisory key, which any role can take, would let any
# session stop the sealing. The transaction that gets it
# seals every unsealed row it can see (others' committed rows
# and its own), in id order, from the head it reads under the lock with a fresh snapshot (READ
# COMMITTED takes one per statement); one that does not get it returns at once, and its rows
# are sealed by the holder or the next writer. One sealer at a time extending the head it read
# under the lock: no forks and no gaps; the lock is tried, never waited for, after the writer's
# own row locks: no deadlocks. chain_seq, assigned under the lock, is the order the verifier
# walks. A REPEATABLE READ or SERIALIZABLE transaction does not seal (its snapshot could miss the
# last head); its rows are sealed by the next READ COMMITTED writer, or by chain_verify.
#
# The sealing trigger is ENABLE (origin), not ALWAYS: a logical replication worker runs in
# replica mode inside a security-restricted operation, where a deferred trigger cannot fire and
# would stop the subscription. The rows it applies are sealed by the next local writer or by
# chain_verify, like those of a REPEATABLE READ writer.
# ---------------------------------------------------------------------------------------------

CHAIN_TRIGGER = "pgtrail_chain_seal"
SEAL_BATCH = 10000

# The canonical serialisation of a log row ({seq} is its position, the row is "l"): the text of
# a record of its position and every column, timestamps as UTC text through to_char, as UTF-8.
# No session setting (TimeZone, DateStyle, IntervalStyle, extra_float_digits, bytea_output,
# search_path, lc_*) changes it: the other columns are bigint, integer, boolean, text,
# inet and jsonb, whose text output is fixed, and a record's text quotes its fields so that it
# reads back as the same values (one text per row). A record rather than jsonb_build_array():
# the same guarantees at half the cost (jsonb_build_array looks up each argument's type on each
# call), which is what keeps a million-row verification in seconds. A later migration that adds
# a column must keep this text for the rows sealed before it.
CANONICAL_COLUMNS = (
    "l.id", "l.table_name", "l.action", "l.old_data", "l.new_data", "l.actor_id", "{utc:changed_at}", "l.kind",
    "l.schema_name", "l.txid", "{utc:statement_at}", "{utc:wall_at}", "l.login_role",
    "l.effective_role", "l.application_name", "l.client_addr", "l.client_port", "l.resource", "l.success",
    "l.client_ip", "l.user_agent", "l.metadata",
)  # fmt: skip
UTC_TEXT = "pg_catalog.to_char(l.%s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
CANONICAL = "pg_catalog.convert_to(ROW({seq}, %s)::text, 'UTF8')" % ", ".join(
    UTC_TEXT % c[5:-1] if c.startswith("{utc:") else c for c in CANONICAL_COLUMNS
)
# The position in the canonical text: the sealer numbers the rows it seals from the head it
# read; the verifier reads the stored position.
CANONICAL_SEQ = dict(
    seal_chain="head_seq + pg_catalog.row_number() OVER (ORDER BY l.id)",
    verify_chain="l.chain_seq",
)
GENESIS = "pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex')"

SEAL_CHAIN = """
#variable_conflict use_variable
DECLARE
    head_seq bigint;
    head_hash bytea;
    next_hash bytea;
    r record;
    sealed bigint := 0;
    ids bigint[] := '{{}}';
    ats timestamptz[] := '{{}}';
    seqs bigint[] := '{{}}';
    prevs bytea[] := '{{}}';
    hashes bytea[] := '{{}}';
BEGIN
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        RETURN 0;
    END IF;
    IF wait THEN
        SELECT h.seq, h.hash INTO head_seq, head_hash FROM {head} AS h FOR UPDATE;
    ELSE
        SELECT h.seq, h.hash INTO head_seq, head_hash FROM {head} AS h FOR UPDATE SKIP LOCKED;
    END IF;
    IF NOT FOUND THEN
        RETURN 0; -- another sealer holds it (or the head was deleted: verify_chain says so)
    END IF;
    FOR r IN
        SELECT l.id, l.changed_at, head_seq + pg_catalog.row_number() OVER (ORDER BY l.id) AS seq,
               {canonical} AS body
          FROM {log} AS l
         WHERE l.chain_seq IS NULL
         ORDER BY l.id
    LOOP
        next_hash := pg_catalog.sha256(head_hash || r.body);
        ids := pg_catalog.array_append(ids, r.id);
        ats := pg_catalog.array_append(ats, r.changed_at);
        seqs := pg_catalog.array_append(seqs, r.seq);
        prevs := pg_catalog.array_append(prevs, head_hash);
        hashes := pg_catalog.array_append(hashes, next_hash);
        head_seq := r.seq;
        head_hash := next_hash;
        sealed := sealed + 1;
        IF pg_catalog.cardinality(ids) >= {batch} THEN
            UPDATE {log} AS l SET chain_seq = u.seq, prev_hash = u.prev, row_hash = u.hash
              FROM ROWS FROM (pg_catalog.unnest(ids), pg_catalog.unnest(ats), pg_catalog.unnest(seqs),
                                  pg_catalog.unnest(prevs), pg_catalog.unnest(hashes)) AS u(id, at, seq, prev, hash)
             WHERE l.id = u.id AND l.changed_at = u.at AND l.chain_seq IS NULL;
            ids := '{{}}'; ats := '{{}}'; seqs := '{{}}'; prevs := '{{}}'; hashes := '{{}}';
        END IF;
    END LOOP;
    IF sealed > 0 THEN
        UPDATE {log} AS l SET chain_seq = u.seq, prev_hash = u.prev, row_hash = u.hash
          FROM ROWS FROM (pg_catalog.unnest(ids), pg_catalog.unnest(ats), pg_catalog.unnest(seqs),
                              pg_catalog.unnest(prevs), pg_catalog.unnest(hashes)) AS u(id, at, seq, prev, hash)
         WHERE l.id = u.id AND l.changed_at = u.at AND l.chain_seq IS NULL;
        UPDATE {head} AS h SET seq = head_seq, hash = head_hash, sealed_at = pg_catalog.clock_timestamp();
    END IF;
    RETURN sealed;
END
"""

# Fired at COMMIT once per inserted row: the first call seals every row it can (its own among
# them); the others find their row sealed and return at once (a probe of the small partial index
# of unsealed rows).
SEAL_AT_COMMIT = """
BEGIN
    IF EXISTS (SELECT FROM {log} AS l WHERE l.id = NEW.id AND l.changed_at = NEW.changed_at AND l.chain_seq IS NULL)
    THEN
        PERFORM {seal}(false);
    END IF;
    RETURN NULL;
END
"""

# Two streaming passes over the sealed rows from where the chain starts (chain_head.first_seq:
# 1, or past what retention dropped), then the head. The content pass recomputes every
# row_hash (independent per row, so PostgreSQL may spread it over parallel workers); the link
# pass walks the chain in chain_seq order (its index, through a window) and stops at the first
# position missing or doubled, or prev_hash that is not the row_hash before it. The first break
# of either is reported. Then the last row against chain_head, and against the head exported
# earlier (expected_seq, expected_hash), which is what catches a deleted tail. STABLE: every
# statement reads the snapshot of the calling query, whatever commits meanwhile, and it writes
# nothing, so it runs in a read-only transaction too. Hashes are hex text.
VERIFY_CHAIN = """
DECLARE
    genesis CONSTANT bytea := {genesis};
    start_seq bigint;
    start_prev bytea;
    bad record;
    bad_content bigint;
    last_seq bigint;
    last_hash bytea;
    stored_seq bigint;
    stored_hash bytea;
    found_hash bytea;
    found_id bigint;
    -- the column found: in PL/pgSQL that name is the FOUND flag
    found_text text;
BEGIN
    ok := true;
    SELECT h.first_seq, h.first_prev INTO start_seq, start_prev FROM {head} AS h;
    start_seq := coalesce(start_seq, 1);
    start_prev := coalesce(start_prev, genesis);
    SELECT pg_catalog.count(*) INTO unsealed FROM {log} AS l WHERE l.chain_seq IS NULL;
    SELECT l.chain_seq, l.row_hash INTO last_seq, last_hash
      FROM {log} AS l WHERE l.chain_seq >= start_seq ORDER BY l.chain_seq DESC LIMIT 1;
    head_seq := coalesce(last_seq, start_seq - 1);
    last_hash := coalesce(last_hash, start_prev);
    head_hash := pg_catalog.encode(last_hash, 'hex');
    SELECT pg_catalog.min(l.chain_seq) FILTER (WHERE l.row_hash IS DISTINCT FROM
                                                     pg_catalog.sha256(l.prev_hash || {canonical}))
      INTO bad_content
      FROM {log} AS l WHERE l.chain_seq >= start_seq;
    SELECT c.* INTO bad
      FROM (SELECT l.id, l.chain_seq, l.prev_hash, l.row_hash,
                   pg_catalog.row_number() OVER w AS walked,
                   pg_catalog.lag(l.chain_seq, 1, start_seq - 1) OVER w AS before_seq,
                   pg_catalog.lag(l.row_hash, 1, start_prev) OVER w AS before_hash
              FROM {log} AS l
             WHERE l.chain_seq >= start_seq
            WINDOW w AS (ORDER BY l.chain_seq)) AS c
     WHERE c.chain_seq <> c.before_seq + 1 OR c.prev_hash IS DISTINCT FROM c.before_hash
     ORDER BY c.chain_seq
     LIMIT 1;
    IF FOUND AND (bad_content IS NULL OR bad.chain_seq <= bad_content) THEN
        ok := false;
        checked := bad.walked - 1;
        broken_id := bad.id;
        expected := pg_catalog.encode(bad.before_hash, 'hex');
        found_text := pg_catalog.encode(bad.prev_hash, 'hex');
        IF bad.chain_seq > bad.before_seq + 1 THEN
            broken_seq := bad.before_seq + 1;
            reason := pg_catalog.format('position %s is missing: the chain goes from position %s to position %s '
                                        '(id %s); rows were deleted',
                                        broken_seq, bad.before_seq, bad.chain_seq, bad.id);
        ELSIF bad.chain_seq <> bad.before_seq + 1 THEN
            broken_seq := bad.chain_seq;
            reason := pg_catalog.format('position %s appears more than once (id %s): rows were added to the chain',
                                        bad.chain_seq, bad.id);
        ELSE
            broken_seq := bad.chain_seq;
            reason := pg_catalog.format('the row at position %s (id %s) does not link to the row before it: its '
                                        'prev_hash is not that row''s row_hash', bad.chain_seq, bad.id);
        END IF;
        RETURN QUERY SELECT ok, checked, broken_id, broken_seq, expected, found_text, head_seq, head_hash,
                            unsealed, reason;
        RETURN;
    END IF;
    IF bad_content IS NOT NULL THEN
        ok := false;
        checked := bad_content - start_seq;
        broken_seq := bad_content;
        SELECT l.id, pg_catalog.encode(pg_catalog.sha256(l.prev_hash || {canonical}), 'hex'),
               pg_catalog.encode(l.row_hash, 'hex')
          INTO broken_id, expected, found_text
          FROM {log} AS l WHERE l.chain_seq = bad_content LIMIT 1;
        reason := pg_catalog.format('the row at position %s (id %s) was changed after it was sealed: its content '
                                    'no longer hashes to its row_hash', bad_content, broken_id);
        RETURN QUERY SELECT ok, checked, broken_id, broken_seq, expected, found_text, head_seq, head_hash,
                            unsealed, reason;
        RETURN;
    END IF;
    checked := head_seq - start_seq + 1;
    SELECT h.seq, h.hash INTO stored_seq, stored_hash FROM {head} AS h;
    IF stored_seq IS DISTINCT FROM head_seq OR stored_hash IS DISTINCT FROM last_hash THEN
        ok := false;
        expected := pg_catalog.encode(stored_hash, 'hex');
        IF stored_seq > head_seq THEN
            broken_seq := head_seq + 1;
            reason := pg_catalog.format('the chain ends at position %s but its head is at position %s: the last '
                                        'rows were deleted', head_seq, stored_seq);
        ELSE
            broken_seq := stored_seq;
            SELECT l.id, l.row_hash INTO found_id, found_hash FROM {log} AS l WHERE l.chain_seq = stored_seq;
            broken_id := found_id;
            found_text := pg_catalog.encode(found_hash, 'hex');
            reason := pg_catalog.format('the chain head (position %s) does not match the log, which ends at '
                                        'position %s: the head or the rows after it were changed',
                                        stored_seq, head_seq);
        END IF;
        RETURN QUERY SELECT ok, checked, broken_id, broken_seq, expected, found_text, head_seq, head_hash,
                            unsealed, reason;
        RETURN;
    END IF;
    -- A head exported before retention dropped its position cannot be checked any more.
    IF expected_seq IS NOT NULL AND expected_seq >= start_seq THEN
        IF expected_seq > head_seq THEN
            ok := false;
            broken_seq := expected_seq;
            expected := pg_catalog.lower(expected_hash);
            reason := pg_catalog.format('the log no longer reaches the head exported earlier (position %s): it ends '
                                        'at position %s; the rows at the end were deleted', expected_seq, head_seq);
        ELSE
            SELECT l.id, l.row_hash INTO found_id, found_hash FROM {log} AS l WHERE l.chain_seq = expected_seq;
            IF expected_hash IS NOT NULL
               AND pg_catalog.lower(expected_hash) IS DISTINCT FROM pg_catalog.encode(found_hash, 'hex') THEN
                ok := false;
                broken_seq := expected_seq;
                broken_id := found_id;
                expected := pg_catalog.lower(expected_hash);
                found_text := pg_catalog.encode(found_hash, 'hex');
                reason := pg_catalog.format('the row at position %s (id %s) no longer has the hash exported earlier: '
                                            'the chain was rewritten up to there', expected_seq, found_id);
            END IF;
        END IF;
    END IF;
    RETURN QUERY SELECT ok, checked, broken_id, broken_seq, expected, found_text, head_seq, head_hash,
                        unsealed, reason;
END
"""

VERIFY_RESULT = (
    "TABLE(ok boolean, checked bigint, broken_id bigint, broken_seq bigint, expected text, found text, "
    "head_seq bigint, head_hash text, unsealed bigint, reason text)"
)

# Functions of the chain, as FUNCTIONS; seal_chain(wait => true) waits for the lock (the
# modules use it, never a writer).
CHAIN_FUNCTIONS = (
    ("seal_chain", "wait boolean DEFAULT false", "bigint", True, SEAL_CHAIN),
    ("seal_chain_at_commit", "", "trigger", True, SEAL_AT_COMMIT),
    (
        "verify_chain",
        "expected_seq bigint DEFAULT NULL::bigint, expected_hash text DEFAULT NULL::text",
        VERIFY_RESULT,
        True,
        VERIFY_CHAIN,
    ),
)
VERIFY_FUNCTION = "verify_chain"
SEAL_FUNCTION = "seal_chain"

# seq and hash: the last position and its row_hash. first_seq and first_prev: where the chain
# starts and the hash its first row links to (1 and the zero hash, until retention drops the
# oldest rows and moves them past the last position it dropped).
CHAIN_HEAD_TABLE = """
CREATE TABLE {head} (
    one_row boolean PRIMARY KEY DEFAULT true CHECK (one_row),
    seq bigint NOT NULL,
    hash bytea NOT NULL,
    sealed_at timestamptz,
    first_seq bigint NOT NULL,
    first_prev bytea NOT NULL
)
"""

CHAIN_COLUMNS = "ALTER TABLE {log} ADD COLUMN chain_seq bigint, ADD COLUMN prev_hash bytea, ADD COLUMN row_hash bytea"
# Unique on a plain log; on a partitioned one a unique index must hold the partition key, so
# there the verifier is what catches a position used twice. Partial: a row is inserted unsealed
# (chain_seq NULL), so the insert, which every audited write pays, adds no entry to it.
CHAIN_INDEXES = (
    "CREATE {unique}INDEX audit_log_chain_seq ON {log} (chain_seq) WHERE chain_seq IS NOT NULL",
    "CREATE INDEX audit_log_unsealed ON {log} (id) WHERE chain_seq IS NULL",
)
CHAIN_COMMENTS = (
    "COMMENT ON COLUMN {log}.chain_seq IS 'position in the hash chain, set at COMMIT by seal_chain()'",
    "COMMENT ON COLUMN {log}.row_hash IS 'sha256(prev_hash || the row''s canonical text); verify_chain() checks it'",
    "COMMENT ON TABLE {head} IS 'pgtrail.audit: the last position and hash of the hash chain, and where it starts'",
)
CHAIN_HEAD_ROW = "INSERT INTO {head} (seq, hash, first_seq, first_prev) VALUES (0, {genesis}, 1, {genesis})"

# Retention drops the oldest rows: the chain then starts after the last position dropped, and
# its first row links to that position's hash. A row sealed later but older than the cutoff (a
# transaction across the month's end) goes too, so the start is past every position dropped.
CHAIN_RETENTION = """
UPDATE {head} AS h SET first_seq = o.chain_seq + 1, first_prev = o.row_hash
  FROM (SELECT l.chain_seq, l.row_hash FROM {log} AS l
         WHERE l.changed_at < {cutoff}::timestamptz AND l.chain_seq IS NOT NULL
         ORDER BY l.chain_seq DESC LIMIT 1) AS o
 WHERE o.chain_seq >= h.first_seq
"""

# A module's transaction waits for the sealer's lock (the head's row, when there is one) and
# keeps it: while it changes the log's tables, no writer seals (they only try the lock), so no
# writer's COMMIT can wait for it in a cycle, and what it writes to the head is not raced.
HEAD_EXISTS = """
SELECT EXISTS (SELECT FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
                WHERE n.nspname = %(schema)s AND c.relname = %(head)s) AS present
"""
CHAIN_LOCK = "SELECT h.seq FROM {head} AS h FOR UPDATE"

CREATE_CHAIN_TRIGGER = (
    "CREATE CONSTRAINT TRIGGER {name} AFTER INSERT ON {log} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
    "EXECUTE FUNCTION {function}()"
)
SEAL_NOW = "SELECT {seal}(wait => true) AS sealed"
# In a module's own transaction: deferred triggers (the chain's sealer) fire at the end of each
# statement, so DDL on the log never meets pending trigger events.
SET_SEALS_IMMEDIATE = "SET CONSTRAINTS ALL IMMEDIATE"

CREATE_FUNCTION = (
    "CREATE OR REPLACE FUNCTION {function}({arguments}) RETURNS {result} LANGUAGE {language}{definer} AS {body}"
)

# ---------------------------------------------------------------------------------------------
# What the module reads
# ---------------------------------------------------------------------------------------------

LOCK = "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgtrail.audit.audit_trail')) IS NULL AS locked"

SESSION_FACTS = """
SELECT r.rolsuper, r.rolname::text AS current_role_name,
       pg_catalog.date_part('year', pg_catalog.now() AT TIME ZONE 'UTC')::int AS utc_year,
       pg_catalog.date_part('month', pg_catalog.now() AT TIME ZONE 'UTC')::int AS utc_month,
       n.oid AS schema_oid, pg_catalog.pg_get_userbyid(n.nspowner)::text AS schema_owner,
       (SELECT pg_catalog.pg_get_userbyid(c.relowner)::text FROM pg_catalog.pg_class AS c
         WHERE c.relnamespace = n.oid AND c.relname = 'audit_log') AS log_owner,
       (SELECT pg_catalog.pg_has_role(CURRENT_USER, c.relowner, 'MEMBER') FROM pg_catalog.pg_class AS c
         WHERE c.relnamespace = n.oid AND c.relname = 'audit_log') AS can_become_log_owner
  FROM pg_catalog.pg_roles AS r
  LEFT JOIN pg_catalog.pg_namespace AS n ON n.nspname = %(schema)s
 WHERE r.rolname = CURRENT_USER
"""

TRAIL_RELATIONS = """
SELECT c.relname, c.relkind FROM pg_catalog.pg_class AS c
 WHERE c.relnamespace = %(schema_oid)s AND c.relname = ANY (%(names)s)
"""

SCHEMA_VERSIONS = "SELECT coalesce(pg_catalog.array_agg(version), '{{}}') AS versions FROM {versions}"

# The chain's sealing trigger on the log and on its partitions (clones), for a comparison.
CHAIN_TRIGGER_STATE = """
SELECT t.tgrelid = %(log_oid)s AS on_log, t.tgenabled, t.tgdeferrable, t.tginitdeferred, t.tgtype,
       n.nspname AS function_schema, p.proname AS function_name
  FROM pg_catalog.pg_trigger AS t
  JOIN pg_catalog.pg_proc AS p ON p.oid = t.tgfoid
  JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
 WHERE t.tgname = %(name)s
   AND t.tgrelid IN (SELECT %(log_oid)s::pg_catalog.oid
                     UNION ALL SELECT x.relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree(%(log_oid)s) AS x)
"""

# The skip_applied trigger on the trail's tables (and their partitions' clones).
SKIP_TRIGGERS = """
SELECT c.relname::text AS relname, coalesce(r.relname, c.relname)::text AS root, t.tgparentid <> 0 AS clone,
       t.tgenabled, t.tgtype, n.nspname AS function_schema, p.proname AS function_name
  FROM pg_catalog.pg_trigger AS t
  JOIN pg_catalog.pg_class AS c ON c.oid = t.tgrelid
  LEFT JOIN pg_catalog.pg_class AS r ON c.relispartition AND r.oid = pg_catalog.pg_partition_root(c.oid)
  JOIN pg_catalog.pg_proc AS p ON p.oid = t.tgfoid
  JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
 WHERE t.tgname = %(name)s AND c.relnamespace = %(schema_oid)s
"""

REGISTRY_ROWS = """
SELECT a.relid::pg_catalog.oid AS relid, a.schema_name, a.table_name, a.mode, a.excluded_columns,
       EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = a.relid::pg_catalog.oid) AS present
  FROM {registry} AS a
"""

TRAIL_FUNCTIONS = """
SELECT p.oid, p.proname, p.prosrc, p.prosecdef, p.proconfig, l.lanname, p.provolatile,
       pg_catalog.pg_get_function_arguments(p.oid) AS arguments,
       pg_catalog.pg_get_function_identity_arguments(p.oid) AS identity_arguments,
       pg_catalog.pg_get_function_result(p.oid) AS result,
       p.proacl IS NULL OR EXISTS (SELECT FROM pg_catalog.aclexplode(p.proacl) AS g
                                    WHERE g.grantee = 0 AND g.privilege_type = 'EXECUTE') AS public_execute,
       ARRAY(SELECT r.rolname::text FROM pg_catalog.aclexplode(p.proacl) AS g
               JOIN pg_catalog.pg_roles AS r ON r.oid = g.grantee
              WHERE g.privilege_type = 'EXECUTE' AND g.grantee <> p.proowner ORDER BY 1) AS grantees
  FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
 WHERE p.pronamespace = %(schema_oid)s AND p.proname = ANY (%(names)s)
"""

# Triggers of the trail (by function or by name), with what a comparison needs. Clones on
# partitions (tgparentid <> 0) follow their parent and are read for their enabled state only.
TRAIL_TRIGGERS = """
SELECT t.tgrelid AS relid, n.nspname AS rel_schema, c.relname AS rel_name, t.tgname, t.tgtype, t.tgenabled,
       t.tgargs, t.tgnargs, t.tgoldtable, t.tgnewtable, t.tgparentid <> 0 AS clone,
       t.tgqual IS NOT NULL OR t.tgconstraint <> 0 OR pg_catalog.array_length(t.tgattr::int2[], 1) > 0 AS unusual,
       fn.nspname AS function_schema, p.proname AS function_name
  FROM pg_catalog.pg_trigger AS t
  JOIN pg_catalog.pg_class AS c ON c.oid = t.tgrelid
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_proc AS p ON p.oid = t.tgfoid
  JOIN pg_catalog.pg_namespace AS fn ON fn.oid = p.pronamespace
 WHERE NOT t.tgisinternal
   AND (t.tgname LIKE 'pgtrail\\_audit\\_%%' OR (fn.nspname = %(schema)s AND p.proname = ANY (%(functions)s)))
"""

TRAIL_EVENT_TRIGGERS = """
SELECT e.evtname, e.evtevent, e.evtenabled, e.evttags IS NOT NULL AS tagged,
       n.nspname AS function_schema, p.proname AS function_name
  FROM pg_catalog.pg_event_trigger AS e
  JOIN pg_catalog.pg_proc AS p ON p.oid = e.evtfoid
  JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
 WHERE e.evtname LIKE 'pgtrail\\_audit\\_%%' OR (n.nspname = %(schema)s AND p.proname = 'log_ddl')
"""

# Every relation named in the request, with what validation needs.
RELATIONS = """
SELECT q.schema_name, q.table_name, c.oid AS relid, c.relkind, c.relispartition, c.relpersistence,
       rn.nspname AS root_schema, rc.relname AS root_name,
       EXISTS (SELECT FROM pg_catalog.pg_index AS i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_key,
       ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute AS a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS columns
  FROM ROWS FROM (pg_catalog.unnest(%(schemas)s::text[]), pg_catalog.unnest(%(tables)s::text[]))
       AS q(schema_name, table_name)
  LEFT JOIN pg_catalog.pg_namespace AS n ON n.nspname = q.schema_name
  LEFT JOIN pg_catalog.pg_class AS c ON c.relnamespace = n.oid AND c.relname = q.table_name
  LEFT JOIN pg_catalog.pg_class AS rc ON c.relispartition AND rc.oid = pg_catalog.pg_partition_root(c.oid)
  LEFT JOIN pg_catalog.pg_namespace AS rn ON rn.oid = rc.relnamespace
"""

# Descendants of the partitioned tables audited, at every level.
PARTITIONS = """
SELECT p.root, t.relid::pg_catalog.oid AS relid, n.nspname AS rel_schema, c.relname AS rel_name
  FROM pg_catalog.unnest(%(roots)s::oid[]) AS p(root)
 CROSS JOIN LATERAL pg_catalog.pg_partition_tree(p.root) AS t
  JOIN pg_catalog.pg_class AS c ON c.oid = t.relid
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
 WHERE t.relid::pg_catalog.oid <> p.root
 ORDER BY p.root, t.level, c.relname
"""

SCHEMA_TABLES = """
SELECT q.schema_name, n.oid IS NOT NULL AS present,
       ARRAY(SELECT c.relname::text FROM pg_catalog.pg_class AS c
              WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                AND c.relpersistence <> 't' ORDER BY c.relname) AS tables
  FROM pg_catalog.unnest(%(schemas)s::text[]) AS q(schema_name)
  LEFT JOIN pg_catalog.pg_namespace AS n ON n.nspname = q.schema_name
"""

ROLES = "SELECT r.rolname::text AS rolname FROM pg_catalog.pg_roles AS r WHERE r.rolname = ANY (%(names)s)"

SCHEMA_USAGE = """
SELECT r.rolname::text AS rolname FROM pg_catalog.pg_namespace AS n
 CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) AS g
  JOIN pg_catalog.pg_roles AS r ON r.oid = g.grantee
 WHERE n.oid = %(schema_oid)s AND g.privilege_type = 'USAGE'
"""

PUBLIC_TABLE_GRANTS = """
SELECT DISTINCT c.relname FROM pg_catalog.pg_class AS c CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) AS g
 WHERE c.relnamespace = %(schema_oid)s AND c.relname = ANY (%(names)s) AND g.grantee = 0
"""

LOG_PARTITIONS = """
SELECT c.relname, pg_catalog.pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' AS is_default
  FROM pg_catalog.pg_inherits AS i JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
 WHERE i.inhparent = %(log_oid)s
"""

LOG_OID = "SELECT c.oid FROM pg_catalog.pg_class AS c WHERE c.relnamespace = %(schema_oid)s AND c.relname = 'audit_log'"

DEFAULT_PARTITION_MONTHS = """
SELECT DISTINCT pg_catalog.date_part('year', changed_at AT TIME ZONE 'UTC')::int AS year,
       pg_catalog.date_part('month', changed_at AT TIME ZONE 'UTC')::int AS month
  FROM {default_partition} ORDER BY 1, 2
"""

# The actor expression is trusted SQL from the inventory; it is checked here by running it
# (the parameter makes psycopg refuse more than one statement).
CHECK_ACTOR_EXPRESSION = "SELECT ({expression})::text AS actor WHERE %s"

# ---------------------------------------------------------------------------------------------
# Input: parsing and checking (pure)
# ---------------------------------------------------------------------------------------------


def parse_columns(columns, where):
    if columns is None:
        return [], []
    if not isinstance(columns, list):
        return [], ["%s: exclude_columns must be a list of column names" % where]
    names, problems = [], []
    for column in columns:
        try:
            name = identifiers.parse_single(column, "column")
        except ValueError as exc:
            problems.append("%s: %s" % (where, exc))
            continue
        if name not in names:
            names.append(name)
    return names, problems


def normalize_request(tables, schemas, exclude_columns):
    """The declared selection, before the catalog is read.

    Returns ``(explicit, schema_rules, exclusions, problems)``: explicit maps (schema, table) to
    {given, mode, exclude}; schema_rules is a list of (given, schema, patterns); exclusions maps
    (schema, table) to (given key, columns) from the top-level exclude_columns option.
    """
    problems = []
    explicit = {}
    for index, entry in enumerate(tables or []):
        where = "tables[%d]" % index
        if isinstance(entry, dict):
            unknown = sorted(set(entry) - {"name", "mode", "exclude_columns"})
            if unknown:
                problems.append(
                    "%s: unknown key(s) %s (known: name, mode, exclude_columns)" % (where, ", ".join(unknown))
                )
                continue
            given, mode, columns = entry.get("name"), entry.get("mode") or "row", entry.get("exclude_columns")
        else:
            given, mode, columns = entry, "row", None
        try:
            key = identifiers.parse_qualified(given)
        except ValueError as exc:
            problems.append("%s: %s" % (where, exc))
            continue
        where = "%s (%s)" % (where, given)
        if mode not in MODES:
            problems.append("%s: mode %r is not one of %s" % (where, mode, ", ".join(MODES)))
            continue
        names, column_problems = parse_columns(columns, where)
        problems.extend(column_problems)
        if key in explicit:
            problems.append("%s: table %s is listed twice" % (where, render(*key)))
            continue
        explicit[key] = dict(given=given, mode=mode, exclude=names)

    rules = []
    for index, entry in enumerate(schemas or []):
        where = "schemas[%d]" % index
        try:
            schema = identifiers.parse_single(entry.get("name"), "schema")
        except ValueError as exc:
            problems.append("%s: %s" % (where, exc))
            continue
        patterns = entry.get("exclude") or []
        if not all(isinstance(p, str) for p in patterns):
            problems.append("%s (%s): exclude must be a list of glob patterns" % (where, entry.get("name")))
            continue
        rules.append((entry.get("name"), schema, list(patterns)))

    exclusions = {}
    for given, columns in sorted((exclude_columns or {}).items()):
        where = "exclude_columns[%s]" % given
        try:
            key = identifiers.parse_qualified(given)
        except ValueError as exc:
            problems.append("%s: %s" % (where, exc))
            continue
        names, column_problems = parse_columns(columns, where)
        problems.extend(column_problems)
        exclusions[key] = (given, names)
    return explicit, rules, exclusions, problems


def select_from_schemas(rules, schema_tables, trail_schema):
    """Tables chosen by schema rules: {(schema, table): given} and problems.

    ``schema_tables`` maps a schema name to its tables, or None when the schema does not exist.
    Patterns are shell globs matched, case-sensitively, against the table name.
    """
    chosen, problems = {}, []
    for given, schema, patterns in rules:
        if schema == trail_schema:
            problems.append("schema %s is the audit trail's own schema and cannot be audited" % render(schema))
            continue
        tables = schema_tables.get(schema)
        if tables is None:
            problems.append("schema %s does not exist" % render(schema))
            continue
        for table in tables:
            if any(fnmatch.fnmatchcase(table, pattern) for pattern in patterns):
                continue
            chosen.setdefault((schema, table), given)
    return chosen, problems


def merge_selection(explicit, chosen, exclusions):
    """{(schema, table): {given, mode, exclude}}: explicit entries win over schema rules; the
    top-level exclude_columns add to an entry's own. Problems for exclusions of unselected tables."""
    selection = {}
    for key in chosen:
        selection[key] = dict(given=render(*key), mode="row", exclude=[])
    for key, entry in explicit.items():
        selection[key] = dict(entry, exclude=list(entry["exclude"]))
    problems = []
    for key, (given, columns) in sorted(exclusions.items()):
        if key not in selection:
            problems.append("exclude_columns names table %s, which is not audited (list it in tables)" % given)
            continue
        for column in columns:
            if column not in selection[key]["exclude"]:
                selection[key]["exclude"].append(column)
    return selection, problems


def check_relation(key, entry, info, trail_schema):
    """Problems with one selected table, from its catalog row (None when it does not exist)."""
    name = render(*key)
    if key[0] == trail_schema:
        return ["table %s belongs to the audit trail's own schema and cannot be audited" % name]
    if info is None or info.get("relid") is None:
        return ["table %s does not exist" % name]
    if info["relkind"] not in ("r", "p"):
        return [
            "%s is not a table (relkind %r); only tables and partitioned tables can be audited"
            % (name, info["relkind"])
        ]
    if info["relpersistence"] == "t":
        return ["table %s is temporary" % name]
    if info["relispartition"]:
        return [
            "table %s is a partition of %s: audit the partitioned table, whose triggers cover every partition"
            % (name, render(info["root_schema"], info["root_name"]))
        ]
    problems = []
    for column in entry["exclude"]:
        if column not in info["columns"]:
            problems.append("column %s does not exist in table %s" % (render(column), name))
    if entry["mode"] == "statement" and not info["has_key"]:
        problems.append("table %s has no primary key: statement mode pairs old and new rows by it; use mode row" % name)
    return problems


def check_options(params):
    problems = []
    problem = identifiers.name_problem(params["schema"])
    if problem:
        problems.append("schema: %s" % problem)
    if not _GUC_NAME.match(params["actor_setting"] or ""):
        problems.append(
            "actor_setting %r is not a custom setting name (two or more identifiers joined by dots, like "
            "pgtrail.actor_id)" % params["actor_setting"]
        )
    if params["partition"] != "monthly" and params.get("retention_months") is not None:
        problems.append("retention_months needs partition: monthly (retention drops whole monthly partitions)")
    if params.get("retention_months") is not None and params["retention_months"] < 1:
        problems.append("retention_months must be 1 or more (or null to keep everything)")
    for role in params.get("app_roles") or []:
        problem = identifiers.name_problem(role)
        if problem:
            problems.append("app_roles: %s" % problem)
    return problems


# ---------------------------------------------------------------------------------------------
# Triggers (pure)
# ---------------------------------------------------------------------------------------------

TG_ROW, TG_BEFORE, TG_INSERT, TG_DELETE, TG_UPDATE, TG_TRUNCATE, TG_INSTEAD = 1, 2, 4, 8, 16, 32, 64
EVENT_BITS = (("INSERT", TG_INSERT), ("UPDATE", TG_UPDATE), ("DELETE", TG_DELETE), ("TRUNCATE", TG_TRUNCATE))


def trigger_spec(relation, level, events, function, args, old_table=None, new_table=None):
    return dict(
        relation=tuple(relation),
        level=level,
        events=tuple(e for e, _bit in EVENT_BITS if e in events),
        function=function,
        args=tuple(args),
        old_table=old_table,
        new_table=new_table,
    )


def desired_triggers(table):
    """{(relid, trigger name): spec} for one audited table.

    ``table``: {relid, schema, name, mode, exclude, partitions: [(relid, schema, name)]}. Row
    triggers go on the table only (PostgreSQL clones them onto partitions). TRUNCATE and
    statement triggers fire for the relation a statement names, so they also go on every
    partition; all of them log under the audited table's name.
    """
    logical = (table["schema"], table["name"])
    args = logical + tuple(table["exclude"])
    relations = [(table["relid"], table["schema"], table["name"])] + list(table.get("partitions") or [])
    triggers = {}
    if table["mode"] == "row":
        triggers[(table["relid"], ROW_TRIGGER)] = trigger_spec(
            logical, "row", ("INSERT", "UPDATE", "DELETE"), "log_row_change", args
        )
    for relid, schema, name in relations:
        if table["mode"] == "statement":
            for trigger, event, old_table, new_table in STATEMENT_TRIGGERS:
                triggers[(relid, trigger)] = trigger_spec(
                    (schema, name), "statement", (event,), "log_statement_change", args, old_table, new_table
                )
        triggers[(relid, TRUNCATE_TRIGGER)] = trigger_spec(
            (schema, name), "statement", ("TRUNCATE",), "log_truncate", logical
        )
    return triggers


def decode_args(tgargs, nargs, encoding="utf-8"):
    """pg_trigger.tgargs (each argument NUL-terminated) -> tuple of str."""
    if isinstance(tgargs, memoryview):
        tgargs = tgargs.tobytes()
    parts = (tgargs or b"").split(b"\0")[:nargs]
    return tuple(part.decode(encoding, "replace") for part in parts)


def spec_from_catalog(row, encoding="utf-8"):
    """A trigger spec from a TRAIL_TRIGGERS row; 'unusual' (BEFORE, WHEN, columns...) never matches."""
    tgtype = row["tgtype"]
    events = tuple(e for e, bit in EVENT_BITS if tgtype & bit)
    spec = trigger_spec(
        (row["rel_schema"], row["rel_name"]),
        "row" if tgtype & TG_ROW else "statement",
        events,
        row["function_name"],
        decode_args(row["tgargs"], row["tgnargs"], encoding),
        row["tgoldtable"],
        row["tgnewtable"],
    )
    spec["unusual"] = bool(row["unusual"] or tgtype & (TG_BEFORE | TG_INSTEAD))
    spec["enabled"] = row["tgenabled"]
    return spec


def same_trigger(current, desired):
    keys = ("level", "events", "function", "args", "old_table", "new_table")
    return not current.get("unusual") and all(current[k] == desired[k] for k in keys)


def plan_triggers(current, desired, clones=None):
    """Steps from the catalog's triggers to the desired ones, drops first.

    ``current`` and ``desired`` map (relid, name) to specs. ``clones`` maps (relid, name) of a
    row trigger's clone on a partition to {relation, enabled, root}, root being the relid of the
    table whose trigger it clones. Steps are ("drop"|"create"|"replace"|"enable", key, spec).
    Every created or replaced trigger is then enabled ALWAYS (CREATE OR REPLACE TRIGGER resets
    it, and its clones, to ORIGIN; enabling the parent enables the clones).
    """
    steps = []
    for key in sorted(set(current) - set(desired)):
        steps.append(("drop", key, current[key]))
    rebuilt = set()
    for key in sorted(desired):
        spec = desired[key]
        have = current.get(key)
        if have is None:
            steps.append(("create", key, spec))
            steps.append(("enable", key, spec))
            rebuilt.add(key)
        elif not same_trigger(have, spec):
            steps.append(("replace", key, spec))
            steps.append(("enable", key, spec))
            rebuilt.add(key)
        elif have.get("enabled") != "A":
            steps.append(("enable", key, spec))
    for key, clone in sorted((clones or {}).items()):
        parent = (clone.get("root"), key[1])
        if clone["enabled"] != "A" and parent in desired and parent not in rebuilt:
            steps.append(("enable", key, dict(relation=clone["relation"])))
    return steps


def describe_trigger(name, spec, enabled="A"):
    """One line per trigger, the same for the catalog and the plan, so a diff shows only changes."""
    events = " OR ".join(spec["events"])
    referencing = ""
    if spec.get("old_table") or spec.get("new_table"):
        parts = []
        if spec.get("old_table"):
            parts.append("OLD TABLE AS %s" % spec["old_table"])
        if spec.get("new_table"):
            parts.append("NEW TABLE AS %s" % spec["new_table"])
        referencing = " REFERENCING %s" % " ".join(parts)
    args = ", ".join("'%s'" % a.replace("'", "''") for a in spec["args"])
    text = "%s AFTER %s ON %s%s FOR EACH %s EXECUTE FUNCTION %s(%s)" % (
        name,
        events,
        render(*spec["relation"]),
        referencing,
        spec["level"].upper(),
        spec["function"],
        args,
    )
    if spec.get("unusual"):
        text += " (with BEFORE/INSTEAD OF, WHEN, columns or a constraint)"
    return text + {"A": " ENABLE ALWAYS", "O": "", "D": " DISABLED", "R": " ENABLE REPLICA"}.get(enabled, "")


# ---------------------------------------------------------------------------------------------
# Functions and event triggers (pure)
# ---------------------------------------------------------------------------------------------


VOLATILITY = {"s": " STABLE", "i": " IMMUTABLE"}


def language_of(name):
    """current_actor is SQL, STABLE (so it is inlined), changed_fields SQL, IMMUTABLE; verify_chain
    PL/pgSQL, STABLE (so all its statements read one snapshot, whatever commits meanwhile); the
    others PL/pgSQL, VOLATILE."""
    if name == "current_actor":
        return ("sql", "s")
    if name == CHANGED_FIELDS_FUNCTION:
        return ("sql", "i")
    return ("plpgsql", "s") if name == VERIFY_FUNCTION else ("plpgsql", "v")


def same_function(current, desired):
    """Whether a catalog function already is the desired one (source, settings, signature)."""
    return (
        current["prosrc"] == desired["source"]
        and bool(current["prosecdef"]) == desired["definer"]
        and list(current["proconfig"] or []) == function_config(desired)
        and (current["lanname"], current["provolatile"]) == language_of(desired["name"])
        and current["arguments"] == desired["arguments"]
        and current["result"] == desired["result"]
    )


def plan_functions(current, desired):
    """[("create"|"replace"|"recreate", name)] in definition order.

    ``recreate`` (DROP, then CREATE) when the signature differs, which CREATE OR REPLACE cannot
    change; a function of the same name with other argument types is a different function and
    is dropped by the same step.
    """
    steps = []
    for spec in desired:
        have = current.get(spec["name"])
        if not have:
            steps.append(("create", spec["name"]))
        elif len(have) > 1 or have[0]["arguments"] != spec["arguments"] or have[0]["result"] != spec["result"]:
            steps.append(("recreate", spec["name"]))
        elif not same_function(have[0], spec):
            steps.append(("replace", spec["name"]))
    return steps


def function_config(spec):
    """proconfig of a desired function: the definer's search_path, then FUNCTION_SETTINGS."""
    config = [SEARCH_PATH] if spec["definer"] else []
    return config + ["%s=%s" % setting for setting in FUNCTION_SETTINGS.get(spec["name"], ())]


def describe_function(schema, spec, language=None):
    language, volatility = language or language_of(spec["name"])
    header = "%s(%s) RETURNS %s LANGUAGE %s%s%s%s" % (
        render(schema, spec["name"]),
        spec["arguments"],
        spec["result"],
        language,
        VOLATILITY.get(volatility, ""),
        " SECURITY DEFINER" if spec["definer"] else "",
        "".join(" SET %s" % setting for setting in function_config(spec)),
    )
    return header + "\n" + spec["source"].strip("\n")


def describe_catalog_function(schema, row):
    spec = dict(
        name=row["proname"],
        arguments=row["arguments"],
        result=row["result"],
        definer=bool(row["prosecdef"]),
        source=row["prosrc"],
    )
    text = describe_function(schema, spec, (row["lanname"], row["provolatile"]))
    config = list(row["proconfig"] or [])
    if config != function_config(spec):
        text = text.replace("\n", " [settings: %s]\n" % ", ".join(config), 1)
    return text


def plan_event_triggers(current, trail_schema):
    """[("create"|"recreate"|"enable", name, event)] for the two DDL event triggers."""
    steps = []
    for name, event in EVENT_TRIGGERS:
        have = current.get(name)
        if have is None:
            steps.append(("create", name, event))
            steps.append(("enable", name, event))
        elif (
            have["evtevent"] != event
            or have["tagged"]
            or have["function_schema"] != trail_schema
            or have["function_name"] != "log_ddl"
        ):
            steps.append(("recreate", name, event))
            steps.append(("enable", name, event))
        elif have["evtenabled"] != "A":
            steps.append(("enable", name, event))
    return steps


def plan_grants(current_grantees, app_roles):
    """(grant, revoke) lists of roles for EXECUTE on log_event."""
    wanted = sorted(set(app_roles))
    have = set(current_grantees)
    return [r for r in wanted if r not in have], sorted(have - set(wanted))


# ---------------------------------------------------------------------------------------------
# Schema versions (pure)
# ---------------------------------------------------------------------------------------------

# (version, description): applied in order to reach the newest. A later release appends a step,
# whose statements upgrade the log in place, keeping its rows. A step named in OPTIONAL is
# applied only when its option is on (hash_chain: true for step 2); the others always are.
# schema_version records every step applied, so an optional step can come after later ones.
MIGRATIONS = (
    (1, "the audit log, the registry of audited tables and their indexes"),
    (2, "the hash chain: chain_seq, prev_hash and row_hash on the log, and the chain head"),
)
OPTIONAL = {2: "hash_chain"}
CHAIN_MIGRATION = 2
SCHEMA_VERSION = MIGRATIONS[-1][0]


def plan_migrations(applied, options=(), migrations=MIGRATIONS, optional=None):
    """The (version, description) steps still to apply, in order.

    ``applied`` is the set of versions recorded (an int n stands for 1..n), ``options`` the
    names of the optional steps wanted (``hash_chain``). ValueError for an unknown newer version.
    """
    optional = OPTIONAL if optional is None else optional
    if isinstance(applied, int):
        applied = set(range(1, applied + 1))
    newest = migrations[-1][0]
    if applied and max(applied) > newest:
        raise ValueError(
            "the trail's schema version is %d, newer than this collection knows (%d): upgrade pgtrail.audit "
            "before running it on this database" % (max(applied), newest)
        )
    return [
        step
        for step in migrations
        if step[0] not in applied and (step[0] not in optional or optional[step[0]] in options)
    ]


def migration_statements(version, schema, partitioned):
    """The SQL of one migration step, as a list of ``sql.Composed``."""
    sql = postgres.sql
    names = _names(schema)
    if version == 1:
        statements = [
            sql.SQL(LOG_TABLE.strip()).format(
                log=names["log"],
                key=sql.SQL("id, changed_at" if partitioned else "id"),
                partitioning=sql.SQL(" PARTITION BY RANGE (changed_at)" if partitioned else ""),
            )
        ]
        statements += [sql.SQL(text).format(log=names["log"]) for text in LOG_INDEXES + LOG_COMMENTS]
        statements.append(sql.SQL(REGISTRY_TABLE.strip()).format(registry=names["registry"]))
        statements += [sql.SQL(REVOKE_TABLE).format(table=names[n]) for n in ("log", "registry")]
        return statements
    if version == CHAIN_MIGRATION:
        parts = dict(log=names["log"], head=names["head"], genesis=sql.SQL(GENESIS))
        statements = [sql.SQL(CHAIN_COLUMNS).format(**parts)]
        unique = sql.SQL("" if partitioned else "UNIQUE ")
        statements += [sql.SQL(text).format(unique=unique, **parts) for text in CHAIN_INDEXES]
        statements.append(sql.SQL(CHAIN_HEAD_TABLE.strip()).format(**parts))
        statements.append(sql.SQL(CHAIN_HEAD_ROW).format(**parts))
        statements.append(sql.SQL(REVOKE_TABLE).format(table=names["head"]))
        statements += [sql.SQL(text).format(**parts) for text in CHAIN_COMMENTS]
        return statements
    raise ValueError("no migration step %r" % version)


# The tables each migration creates (a locked-down trail's owner takes them over).
MIGRATION_TABLES = {1: (LOG, REGISTRY), CHAIN_MIGRATION: (CHAIN_HEAD,)}


def owner_statement(kind, name, owner):
    """ALTER <kind> <name> OWNER TO <owner>; ``name`` is composed SQL (a signature for functions)."""
    sql = postgres.sql
    return sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(kind), name, sql.Identifier(owner))


def chain_retention_statement(schema, cutoff):
    """Move the chain's start past the rows older than the month ``cutoff`` (before they go)."""
    sql = postgres.sql
    names = _names(schema)
    return sql.SQL(CHAIN_RETENTION.strip()).format(
        head=names["head"], log=names["log"], cutoff=sql.Literal(month_start(cutoff))
    )


def plan_chain_trigger(rows, schema):
    """Steps ("drop", "create", "enable", "seal") for the sealing trigger, from its catalog rows
    (on the log and on its partitions). Rows waiting unsealed are sealed whenever the trigger was
    missing or not enabled as it should be (ENABLE: origin and local sessions, see CHAIN_TRIGGER)."""
    on_log = [r for r in rows if r["on_log"]]
    if not on_log:
        return ["create", "enable", "seal"]
    row = on_log[0]
    kind = row["tgtype"] & (TG_ROW | TG_BEFORE | TG_INSERT | TG_DELETE | TG_UPDATE | TG_TRUNCATE | TG_INSTEAD)
    if not (
        row["tgdeferrable"]
        and row["tginitdeferred"]
        and kind == TG_ROW | TG_INSERT
        and (row["function_schema"], row["function_name"]) == (schema, "seal_chain_at_commit")
    ):
        return ["drop", "create", "enable", "seal"]
    if any(r["tgenabled"] != "O" for r in rows):
        return ["enable", "seal"]
    return []


def plan_skip_triggers(rows, tables, schema):
    """[(table, steps)] for the skip_applied trigger of each trail table in ``tables``, from the
    catalog rows of SKIP_TRIGGERS (partitions' clones included); steps are "drop", "create" and
    "enable" (ENABLE REPLICA)."""
    plan = []
    for table in tables:
        own = [r for r in rows if r["relname"] == table and not r["clone"]]
        clones = [r for r in rows if r["root"] == table and r["clone"]]
        if not own:
            plan.append((table, ["create", "enable"]))
            continue
        row = own[0]
        kind = row["tgtype"] & (TG_ROW | TG_BEFORE | TG_INSERT | TG_DELETE | TG_UPDATE | TG_TRUNCATE | TG_INSTEAD)
        if kind != TG_ROW | TG_BEFORE | TG_INSERT | TG_DELETE | TG_UPDATE or (
            row["function_schema"],
            row["function_name"],
        ) != (schema, "skip_applied"):
            plan.append((table, ["drop", "create", "enable"]))
        elif any(r["tgenabled"] != "R" for r in own + clones):
            plan.append((table, ["enable"]))
    return plan


def skip_trigger_statements(schema, plan):
    sql = postgres.sql
    trigger = sql.Identifier(SKIP_TRIGGER)
    statements = []
    for table, steps in plan:
        relation = sql.Identifier(schema, table)
        for step in steps:
            if step == "drop":
                statements.append(sql.SQL("DROP TRIGGER {} ON {}").format(trigger, relation))
            elif step == "create":
                statements.append(
                    sql.SQL(
                        "CREATE TRIGGER {} BEFORE INSERT OR UPDATE OR DELETE ON {} FOR EACH ROW EXECUTE FUNCTION {}()"
                    ).format(trigger, relation, sql.Identifier(schema, "skip_applied"))
                )
            else:
                statements.append(sql.SQL("ALTER TABLE {} ENABLE REPLICA TRIGGER {}").format(relation, trigger))
    return statements


def chain_trigger_statements(schema, steps):
    sql = postgres.sql
    names = _names(schema)
    trigger = sql.Identifier(CHAIN_TRIGGER)
    statements = []
    for step in steps:
        if step == "drop":
            statements.append(sql.SQL("DROP TRIGGER {} ON {}").format(trigger, names["log"]))
        elif step == "create":
            statements.append(
                sql.SQL(CREATE_CHAIN_TRIGGER).format(
                    name=trigger, log=names["log"], function=sql.Identifier(schema, "seal_chain_at_commit")
                )
            )
        elif step == "enable":
            statements.append(sql.SQL("ALTER TABLE {} ENABLE TRIGGER {}").format(names["log"], trigger))
        elif step == "seal":
            statements.append(sql.SQL(SEAL_NOW).format(seal=sql.Identifier(schema, SEAL_FUNCTION)))
    return statements


def lock_chain(session, schema):
    """Hold the sealer's lock (the chain head's row) until the end of the transaction."""
    if session.scalar(HEAD_EXISTS, dict(schema=schema, head=CHAIN_HEAD)):
        session.query(postgres.sql.SQL(CHAIN_LOCK).format(head=_names(schema)["head"]))


def _names(schema):
    sql = postgres.sql
    return dict(
        schema=sql.Identifier(schema),
        log=sql.Identifier(schema, LOG),
        registry=sql.Identifier(schema, REGISTRY),
        versions=sql.Identifier(schema, VERSIONS),
        head=sql.Identifier(schema, CHAIN_HEAD),
        default_partition=sql.Identifier(schema, DEFAULT_PARTITION),
    )


# ---------------------------------------------------------------------------------------------
# Monthly partitions (pure)
# ---------------------------------------------------------------------------------------------


def month_add(month, count):
    """(year, month) plus count months (count may be negative)."""
    index = month[0] * 12 + (month[1] - 1) + count
    return (index // 12, index % 12 + 1)


def partition_name(month):
    return "audit_log_%04d%02d" % month


def month_start(month):
    """The first instant of a month in UTC, as PostgreSQL reads a timestamptz literal."""
    return "%04d-%02d-01 00:00:00+00" % month


def plan_partitions(today, existing, has_default, default_months, retention_months, premake=PREMAKE_MONTHS):
    """What keeps a monthly-partitioned log in shape.

    ``today`` is the (year, month) of now() in UTC; ``existing`` the months that have a
    partition; ``default_months`` the months of the rows that landed in the default partition
    (the module did not run in time). Returns a dict:
    create (months, ascending), move (whether rows leave the default partition for their month),
    purge_before (month: default rows older than it are deleted by retention, or None), drop
    (partition names, by retention), create_default.
    """
    cutoff = month_add(today, -retention_months) if retention_months else None
    wanted = {month_add(today, k) for k in range(premake + 1)}
    kept_default = {m for m in default_months if cutoff is None or m >= cutoff}
    wanted |= kept_default
    create = sorted(m for m in wanted if m not in existing)
    drop = sorted(partition_name(m) for m in existing if cutoff is not None and m < cutoff)
    purge = cutoff if cutoff is not None and any(m < cutoff for m in default_months) else None
    return dict(
        create=create,
        move=bool(kept_default),
        purge_before=purge,
        drop=drop,
        create_default=not has_default,
    )


def month_of_partition(name):
    match = _MONTH_PARTITION.match(name)
    if not match:
        return None
    month = (int(match.group(1)), int(match.group(2)))
    return month if 1 <= month[1] <= 12 else None


# ---------------------------------------------------------------------------------------------
# Reading the catalog
# ---------------------------------------------------------------------------------------------


def read_trail(session, schema):
    """The trail's current state in the database (nothing is changed)."""
    sql = postgres.sql
    facts = session.query(SESSION_FACTS, dict(schema=schema))[0]
    state = dict(
        superuser=facts["rolsuper"],
        current_user=facts["current_role_name"],
        schema_owner=facts["schema_owner"],
        log_owner=facts["log_owner"],
        can_become_log_owner=bool(facts["can_become_log_owner"]),
        today=(facts["utc_year"], facts["utc_month"]),
        schema_oid=facts["schema_oid"],
        relations={},
        version=0,
        applied=set(),
        chain_trigger=[],
        skip_triggers=[],
        registry={},
        functions={},
        triggers={},
        clones={},
        foreign=[],
        event_triggers={},
        schema_usage=set(),
        public_tables=[],
        partitions=None,
    )
    names = _names(schema)
    function_names = [f[0] for f in FUNCTIONS]
    encoding = _encoding(session)
    # The sealing trigger on the log runs a chain function: it is not an audited table's trigger.
    for row in session.query(TRAIL_TRIGGERS, dict(schema=schema, functions=function_names)):
        if row["tgname"] == SKIP_TRIGGER:
            continue  # on the trail's own tables: see plan_skip_triggers
        if row["function_schema"] != schema or row["function_name"] not in function_names:
            state["foreign"].append(
                "trigger %s on %s runs %s: another audit trail (or another tool) uses the pgtrail_audit_ names in "
                "this database; only one trail per database is supported"
                % (
                    row["tgname"],
                    render(row["rel_schema"], row["rel_name"]),
                    render(row["function_schema"], row["function_name"]),
                )
            )
            continue
        key = (row["relid"], row["tgname"])
        if row["clone"]:
            state["clones"][key] = dict(relation=(row["rel_schema"], row["rel_name"]), enabled=row["tgenabled"])
        else:
            state["triggers"][key] = spec_from_catalog(row, encoding)
    for row in session.query(TRAIL_EVENT_TRIGGERS, dict(schema=schema)):
        if row["function_schema"] != schema:
            state["foreign"].append(
                "event trigger %s runs %s: another audit trail uses this database (schema %s); only one trail per "
                "database is supported"
                % (row["evtname"], render(row["function_schema"], row["function_name"]), row["function_schema"])
            )
            continue
        state["event_triggers"][row["evtname"]] = row
    if facts["schema_oid"] is None:
        return state
    oid = dict(schema_oid=facts["schema_oid"])
    state["relations"] = {
        r["relname"]: r["relkind"] for r in session.query(TRAIL_RELATIONS, dict(oid, names=list(TRAIL_TABLES)))
    }
    if VERSIONS in state["relations"]:
        state["applied"] = set(session.scalar(sql.SQL(SCHEMA_VERSIONS).format(versions=names["versions"])) or [])
        state["version"] = max(state["applied"] or [0])
    if REGISTRY in state["relations"]:
        for row in session.query(sql.SQL(REGISTRY_ROWS).format(registry=names["registry"])):
            state["registry"][row["relid"]] = row
    chain_names = [f[0] for f in CHAIN_FUNCTIONS]
    for row in session.query(TRAIL_FUNCTIONS, dict(oid, names=function_names + chain_names)):
        state["functions"].setdefault(row["proname"], []).append(row)
    state["skip_triggers"] = session.query(SKIP_TRIGGERS, dict(oid, name=SKIP_TRIGGER))
    state["schema_usage"] = {r["rolname"] for r in session.query(SCHEMA_USAGE, oid)}
    state["public_tables"] = sorted(
        r["relname"] for r in session.query(PUBLIC_TABLE_GRANTS, dict(oid, names=list(TRAIL_TABLES)))
    )
    log_oid = session.scalar(LOG_OID, oid) if LOG in state["relations"] else None
    if log_oid is not None:
        state["chain_trigger"] = session.query(CHAIN_TRIGGER_STATE, dict(log_oid=log_oid, name=CHAIN_TRIGGER))
    if state["relations"].get(LOG) == "p":
        existing, has_default = set(), False
        for row in session.query(LOG_PARTITIONS, dict(log_oid=log_oid)):
            if row["is_default"]:
                has_default = row["relname"] == DEFAULT_PARTITION
            month = month_of_partition(row["relname"])
            if month:
                existing.add(month)
        default_months = []
        if has_default:
            default_months = [
                (r["year"], r["month"])
                for r in session.query(
                    sql.SQL(DEFAULT_PARTITION_MONTHS).format(default_partition=names["default_partition"])
                )
            ]
        state["partitions"] = dict(existing=existing, has_default=has_default, default_months=default_months)
    return state


def _encoding(session):
    try:
        return session.conn.info.encoding
    except Exception:  # pragma: no cover - older psycopg
        return "utf-8"


def read_selection(session, rules, trail_schema):
    """The tables the schema rules choose: ({(schema, table): given}, problems)."""
    problems = []
    if rules:
        schemas = sorted({rule[1] for rule in rules})
        found = {
            r["schema_name"]: (list(r["tables"]) if r["present"] else None)
            for r in session.query(SCHEMA_TABLES, dict(schemas=schemas))
        }
        chosen, rule_problems = select_from_schemas(rules, found, trail_schema)
        problems.extend(rule_problems)
    else:
        chosen = {}
    return chosen, problems


def describe_relations(session, keys):
    """{(schema, table): catalog row} for the given keys."""
    if not keys:
        return {}
    rows = session.query(RELATIONS, dict(schemas=[k[0] for k in keys], tables=[k[1] for k in keys]))
    return {(r["schema_name"], r["table_name"]): r for r in rows}


def partitions_of(session, roots):
    result = {}
    if not roots:
        return result
    for row in session.query(PARTITIONS, dict(roots=list(roots))):
        result.setdefault(row["root"], []).append((row["relid"], row["rel_schema"], row["rel_name"]))
    return result


# ---------------------------------------------------------------------------------------------
# Rendering: the statements of a plan
# ---------------------------------------------------------------------------------------------


def function_specs(
    schema, actor_setting, actor_expression, require_actor, context, hash_chain=False, virtual_columns=False
):
    """The desired functions, in definition order, with their source rendered for ``context``
    (the chain's functions too with ``hash_chain``; ``virtual_columns``: the server has virtual
    generated columns, PostgreSQL 18 and later)."""
    sql = postgres.sql
    names = _names(schema)
    setting = sql.Literal(actor_setting)
    if actor_expression:
        resolve = sql.SQL(ACTOR_RESOLVE_EXPRESSION).format(expression=sql.SQL(actor_expression), setting=setting)
    else:
        resolve = sql.SQL(ACTOR_RESOLVE).format(setting=setting)
    required = sql.SQL(ACTOR_REQUIRED).format(setting=setting) if require_actor else sql.SQL("")
    parts = dict(
        log=names["log"],
        registry=names["registry"],
        current_actor=sql.Identifier(schema, "current_actor"),
        schema_name=sql.Literal(schema),
        required=required,
        table_functions=sql.SQL(", ").join(sql.Literal(n) for n in TABLE_TRIGGER_FUNCTIONS),
        trigger_table=sql.SQL(TRIGGER_TABLE),
        audited_name=sql.SQL(AUDITED_NAME).format(registry=names["registry"]),
        head=names["head"],
        seal=sql.Identifier(schema, SEAL_FUNCTION),
        replication=sql.SQL(REPLICATION),
        batch=sql.Literal(SEAL_BATCH),
        genesis=sql.SQL(GENESIS),
        row_data=sql.Identifier(schema, "row_data"),
        inline=sql.Literal(INLINE_ROW_BYTES),
        limit=sql.Literal(ROW_DATA_LIMIT),
        too_large=sql.Literal(TOO_LARGE),
        virtual=sql.Literal(virtual_columns),
    )
    for names, array in (("hidden", "hidden"), ("marked", "marked"), ("excluded", "TG_ARGV[2:TG_NARGS - 1]")):
        parts[names + "_nulls"] = sql.SQL(NULLS).format(names=sql.SQL(array))
    for rows in ("old", "new"):
        parts[rows + "_rows"] = sql.SQL(STATEMENT_ROWS).format(rows=sql.Identifier("pgtrail_" + rows), **parts)
    specs = []
    for name, arguments, result, definer, body in FUNCTIONS + (CHAIN_FUNCTIONS if hash_chain else ()):
        if name in CANONICAL_SEQ:
            parts["canonical"] = sql.SQL(CANONICAL).format(seq=sql.SQL(CANONICAL_SEQ[name]))
        template = resolve if body is None else sql.SQL(body).format(**parts)
        specs.append(
            dict(
                name=name,
                arguments=arguments,
                result=result,
                definer=definer,
                source=template.as_string(context),
            )
        )
    return specs


def create_function(schema, spec):
    sql = postgres.sql
    definer = [sql.SQL(" SECURITY DEFINER SET search_path = pg_catalog, pg_temp")] if spec["definer"] else []
    definer += [
        sql.SQL(" SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
        for name, value in FUNCTION_SETTINGS.get(spec["name"], ())
    ]
    language, volatility = language_of(spec["name"])
    return sql.SQL(CREATE_FUNCTION).format(
        function=sql.Identifier(schema, spec["name"]),
        arguments=sql.SQL(spec["arguments"]),
        result=sql.SQL(spec["result"]),
        language=sql.SQL(language + VOLATILITY.get(volatility, "")),
        definer=sql.Composed(definer),
        body=sql.Literal(spec["source"]),
    )


def drop_function(schema, name, identity_arguments):
    sql = postgres.sql
    return sql.SQL("DROP FUNCTION {}({})").format(sql.Identifier(schema, name), sql.SQL(identity_arguments))


def function_acl(schema, spec, verb, role):
    """GRANT or REVOKE EXECUTE on one trail function; role None means PUBLIC."""
    sql = postgres.sql
    grantee = sql.SQL("PUBLIC") if role is None else sql.Identifier(role)
    template = "GRANT EXECUTE ON FUNCTION {}({}) TO {}" if verb == "grant" else "REVOKE ALL ON FUNCTION {}({}) FROM {}"
    function = sql.Identifier(schema, spec["name"])
    return sql.SQL(template).format(function, sql.SQL(_identity(spec["arguments"])), grantee)


def _identity(arguments):
    """Argument types of a signature, for GRANT/REVOKE/DROP (defaults dropped)."""
    if not arguments:
        return ""
    types = []
    for argument in arguments.split(", "):
        words = argument.split(" DEFAULT ")[0].split(" ")
        types.append(" ".join(words[1:]) if len(words) > 1 else words[0])
    return ", ".join(types)


def trigger_statements(schema, step):
    """The statements of one trigger step."""
    sql = postgres.sql
    verb, key, spec = step
    name = sql.Identifier(key[1])
    relation = sql.Identifier(*spec["relation"])
    if verb == "drop":
        return [sql.SQL("DROP TRIGGER {} ON {}").format(name, relation)]
    if verb == "enable":
        return [sql.SQL("ALTER TABLE {} ENABLE ALWAYS TRIGGER {}").format(relation, name)]
    referencing = []
    if spec["old_table"]:
        referencing.append(sql.SQL("OLD TABLE AS {}").format(sql.Identifier(spec["old_table"])))
    if spec["new_table"]:
        referencing.append(sql.SQL("NEW TABLE AS {}").format(sql.Identifier(spec["new_table"])))
    referencing = sql.SQL(" REFERENCING {}").format(sql.SQL(" ").join(referencing)) if referencing else sql.SQL("")
    template = (
        "CREATE {replace}TRIGGER {name} AFTER {events} ON {relation}{referencing} FOR EACH {level} "
        "EXECUTE FUNCTION {function}({args})"
    )
    return [
        sql.SQL(template).format(
            replace=sql.SQL("OR REPLACE " if verb == "replace" else ""),
            name=name,
            events=sql.SQL(" OR ".join(spec["events"])),
            relation=relation,
            referencing=referencing,
            level=sql.SQL("ROW" if spec["level"] == "row" else "STATEMENT"),
            function=sql.Identifier(schema, spec["function"]),
            args=sql.SQL(", ").join(sql.Literal(a) for a in spec["args"]),
        )
    ]


def event_trigger_statements(schema, step):
    sql = postgres.sql
    verb, name, event = step
    statements = []
    if verb == "recreate":
        statements.append(sql.SQL("DROP EVENT TRIGGER {}").format(sql.Identifier(name)))
    if verb in ("create", "recreate"):
        statements.append(
            sql.SQL("CREATE EVENT TRIGGER {} ON {} EXECUTE FUNCTION {}()").format(
                sql.Identifier(name), sql.SQL(event), sql.Identifier(schema, "log_ddl")
            )
        )
    if verb == "enable":
        statements.append(sql.SQL("ALTER EVENT TRIGGER {} ENABLE ALWAYS").format(sql.Identifier(name)))
    return statements


def registry_statement(schema, verb, relid, entry=None):
    """INSERT, UPDATE or DELETE of one registry row (a deleted table may be gone: by oid)."""
    sql = postgres.sql
    registry = sql.Identifier(schema, REGISTRY)
    if verb == "delete":
        return sql.SQL("DELETE FROM {} WHERE relid::pg_catalog.oid = {}").format(registry, sql.Literal(relid))
    values = dict(
        registry=registry,
        relation=sql.Literal(render(entry["schema"], entry["name"])),
        schema=sql.Literal(entry["schema"]),
        table=sql.Literal(entry["name"]),
        mode=sql.Literal(entry["mode"]),
        exclude=_text_array(entry["exclude"]),
    )
    if verb == "insert":
        return sql.SQL(
            "INSERT INTO {registry} (relid, schema_name, table_name, mode, excluded_columns) "
            "VALUES ({relation}::pg_catalog.regclass, {schema}, {table}, {mode}, {exclude})"
        ).format(**values)
    return sql.SQL(
        "UPDATE {registry} SET schema_name = {schema}, table_name = {table}, mode = {mode}, "
        "excluded_columns = {exclude}, updated_at = pg_catalog.now() "
        "WHERE relid = {relation}::pg_catalog.regclass"
    ).format(**values)


def _text_array(values):
    sql = postgres.sql
    if not values:
        return sql.SQL("'{}'::text[]")
    return sql.SQL("ARRAY[{}]::text[]").format(sql.SQL(", ").join(sql.Literal(v) for v in values))


def partition_statements(schema, plan, today):
    """The statements of a plan_partitions() result, in the order they must run.

    Rows waiting in the default partition move through a temporary table (DML only), so the
    default partition stays attached; the current month's partition is created first, because
    the DDL event trigger logs this very run's partition DDL into it.
    """
    sql = postgres.sql
    names = _names(schema)
    log, default = names["log"], names["default_partition"]
    moving = sql.Identifier("pg_temp", "pgtrail_moving")
    statements = []
    if plan["create_default"]:
        statements.append(sql.SQL("CREATE TABLE {} PARTITION OF {} DEFAULT").format(default, log))
    if plan["move"]:
        kept = sql.SQL("")
        if plan["purge_before"]:
            kept = sql.SQL(" WHERE changed_at >= {}::timestamptz").format(
                sql.Literal(month_start(plan["purge_before"]))
            )
        statements.append(sql.SQL("CREATE TEMPORARY TABLE {} (LIKE {}) ON COMMIT DROP").format(moving, log))
        statements.append(
            sql.SQL("WITH moved AS (DELETE FROM {}{} RETURNING *) INSERT INTO {} SELECT * FROM moved").format(
                default, kept, moving
            )
        )
    if plan["purge_before"]:
        statements.append(
            sql.SQL("DELETE FROM {} WHERE changed_at < {}::timestamptz").format(
                default, sql.Literal(month_start(plan["purge_before"]))
            )
        )
    for month in sorted(plan["create"], key=lambda m: (m != today, m)):
        statements.append(
            sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(schema, partition_name(month)),
                log,
                sql.Literal(month_start(month)),
                sql.Literal(month_start(month_add(month, 1))),
            )
        )
    if plan["move"]:
        statements.append(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(log, moving))
    for name in plan["drop"]:
        partition = sql.Identifier(schema, name)
        statements.append(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(log, partition))
        statements.append(sql.SQL("DROP TABLE {}").format(partition))
    return statements


# ---------------------------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------------------------


def converge(session, params):
    """Bring the trail of one database to ``params``; returns the module's result.

    Call it inside one transaction. Reads and checks everything first (TrailError lists every
    problem, before any change), then runs the plan through ``session.change`` (recorded, and
    skipped in check mode).
    """
    sql = postgres.sql
    schema = params["schema"]
    present = params["state"] == "present"
    partitioned = params["partition"] == "monthly"
    problems = check_options(params)
    explicit, rules, exclusions, request_problems = normalize_request(
        params["tables"], params["schemas"], params["exclude_columns"]
    )
    problems.extend(request_problems)
    if problems:
        raise TrailError(problems)

    session.query(LOCK)
    # The chain's sealing trigger is deferred to COMMIT; DDL on the log (a partition, a
    # migration) refuses to run while its events are pending, so they fire at once in this run.
    session.query(SET_SEALS_IMMEDIATE)
    lock_chain(session, schema)
    state = read_trail(session, schema)
    problems.extend(state["foreign"])
    migrations = []
    chained = CHAIN_MIGRATION in state["applied"]
    hash_chain = present and (bool(params.get("hash_chain")) or chained)
    if present:
        try:
            migrations = plan_migrations(state["applied"], ("hash_chain",) if hash_chain else ())
        except ValueError as exc:
            problems.append(str(exc))
        if chained and not params.get("hash_chain"):
            problems.append(
                "the log of this database is hash-chained (schema version %d): the chain cannot be switched off, "
                "set hash_chain: true" % CHAIN_MIGRATION
            )
        if state["version"] == 0 and (LOG in state["relations"] or REGISTRY in state["relations"]):
            problems.append(
                "schema %s already holds %s without a recorded schema version: it was not made by this module; "
                "rename it or choose another schema" % (render(schema), LOG if LOG in state["relations"] else REGISTRY)
            )
        log_kind = state["relations"].get(LOG)
        if log_kind and (log_kind == "p") != partitioned:
            problems.append(
                "%s is %s but partition is %s: changing the partitioning of an existing log is not supported"
                % (
                    render(schema, LOG),
                    "partitioned by month" if log_kind == "p" else "not partitioned",
                    params["partition"],
                )
            )

    # The selection: explicit tables, schema rules, exclusions; every name checked in the catalog.
    selection = {}
    if present:
        chosen, selection_problems = read_selection(session, rules, schema)
        problems.extend(selection_problems)
        selection, merge_problems = merge_selection(explicit, chosen, exclusions)
        problems.extend(merge_problems)
    catalog = describe_relations(session, sorted(selection))
    for key, entry in sorted(selection.items()):
        problems.extend(check_relation(key, entry, catalog.get(key), schema))
    app_roles = sorted(set(params["app_roles"] or [])) if present else []
    if app_roles:
        found = {r["rolname"] for r in session.query(ROLES, dict(names=app_roles))}
        problems.extend("role %s does not exist (app_roles)" % render(r) for r in app_roles if r not in found)
    if present and params.get("actor_expression"):
        try:
            with session.conn.transaction():
                session.query(
                    sql.SQL(CHECK_ACTOR_EXPRESSION).format(expression=sql.SQL(params["actor_expression"])), [True]
                )
        except postgres.psycopg.Error as exc:
            problems.append("actor_expression %r does not run: %s" % (params["actor_expression"], str(exc).strip()))
    if problems:
        raise TrailError(problems)

    # What should be: tables (with their partitions), triggers, functions, event triggers.
    tables = {}
    for key, entry in selection.items():
        info = catalog[key]
        tables[info["relid"]] = dict(
            relid=info["relid"],
            schema=key[0],
            name=key[1],
            mode=entry["mode"],
            exclude=sorted(entry["exclude"]),
            relkind=info["relkind"],
        )
    registry = state["registry"]
    roots = [t["relid"] for t in tables.values() if t["relkind"] == "p"]
    roots += [relid for relid, row in registry.items() if row["present"] and relid not in tables]
    partitions = partitions_of(session, roots)
    desired = {}
    for table in tables.values():
        table["partitions"] = partitions.get(table["relid"], []) if table["relkind"] == "p" else []
        desired.update(desired_triggers(table))
    root_of = {}
    for root, members in partitions.items():
        for relid, _schema, _name in members:
            root_of[relid] = root
    clones = {}
    for key, clone in state["clones"].items():
        clones[key] = dict(clone, root=root_of.get(key[0]))
    trigger_steps = plan_triggers(state["triggers"], desired, clones)

    specs = (
        function_specs(
            schema,
            params["actor_setting"],
            params.get("actor_expression"),
            params["require_actor"],
            session.conn,
            hash_chain,
            session.conn.info.server_version >= 180000,
        )
        if present
        else []
    )
    chain_steps = plan_chain_trigger(state["chain_trigger"], schema) if hash_chain else []
    skip_plan = []
    if present:
        trail_tables = [LOG, REGISTRY, VERSIONS] + ([CHAIN_HEAD] if hash_chain else [])
        skip_plan = plan_skip_triggers(state["skip_triggers"], trail_tables, schema)
    function_steps = plan_functions(state["functions"], specs)
    event_steps = plan_event_triggers(state["event_triggers"], schema) if present else []
    if event_steps and not state["superuser"]:
        raise TrailError(
            [
                "the DDL event triggers (pgtrail_audit_ddl, pgtrail_audit_drop) need a superuser to be created or "
                "changed, and %s is not one" % render(session.scalar("SELECT CURRENT_USER::text AS u"))
            ]
        )
    partition_plan = None
    if present and partitioned:
        log = state["partitions"] or dict(existing=set(), has_default=False, default_months=[])
        partition_plan = plan_partitions(
            state["today"], log["existing"], log["has_default"], log["default_months"], params.get("retention_months")
        )

    # The registry: what the module and the DDL event trigger know as audited.
    registry_steps = []
    added, updated, removed = set(), set(), []
    for relid, table in sorted(tables.items()):
        row = registry.get(relid)
        if row is None:
            registry_steps.append(("insert", relid, table))
            added.add(relid)
        elif (row["schema_name"], row["table_name"], row["mode"], sorted(row["excluded_columns"] or [])) != (
            table["schema"],
            table["name"],
            table["mode"],
            table["exclude"],
        ):
            registry_steps.append(("update", relid, table))
            updated.add(relid)
    for relid, row in sorted(registry.items()):
        if relid not in tables:
            removed.append(render(row["schema_name"], row["table_name"]))
    for _verb, key, spec in trigger_steps:
        relid = root_of.get(key[0], key[0])
        if relid in tables:
            if relid not in added:
                updated.add(relid)
        elif relid not in registry:
            # Triggers of the trail on a table the registry does not know: removed as well.
            name = render(*spec["relation"])
            if name not in removed:
                removed.append(name)

    # The statements, in the order they must run.
    names = _names(schema)
    run = []
    if present:
        if state["schema_oid"] is None:
            run.append(sql.SQL("CREATE SCHEMA {}").format(names["schema"]))
        if VERSIONS not in state["relations"]:
            run.append(sql.SQL(VERSION_TABLE.strip()).format(versions=names["versions"]))
            run.append(sql.SQL(REVOKE_TABLE).format(table=names["versions"]))
        # A trail locked down by audit_lockdown belongs to its owner: what this run adds does too.
        adopt_to = None
        if state["log_owner"] and state["log_owner"] != state["current_user"] and state["can_become_log_owner"]:
            adopt_to = state["log_owner"]
        for version, description in migrations:
            run.extend(migration_statements(version, schema, partitioned))
            if adopt_to:
                for table in MIGRATION_TABLES.get(version, ()):
                    run.append(owner_statement("TABLE", sql.Identifier(schema, table), adopt_to))
            run.append(
                sql.SQL(RECORD_VERSION).format(
                    versions=names["versions"], version=sql.Literal(version), description=sql.Literal(description)
                )
            )
        if partition_plan:
            made = partition_statements(schema, partition_plan, state["today"])
            if chained and (partition_plan["drop"] or partition_plan["purge_before"]):
                cutoff = month_add(state["today"], -params["retention_months"])
                made.insert(0, chain_retention_statement(schema, cutoff))
            if made and adopt_to:
                # As the owner, so that its default privileges (audit_lockdown) give new
                # partitions the log's rights.
                made = [sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(adopt_to))] + made
                made.append(sql.SQL("SET LOCAL ROLE NONE"))
            run.extend(made)
        for table in state["public_tables"]:
            run.append(sql.SQL(REVOKE_TABLE).format(table=sql.Identifier(schema, table)))
        by_name = dict((spec["name"], spec) for spec in specs)
        # Dropping a function fires the DDL event trigger, whose function may call the one being
        # dropped (current_actor): the event triggers are off while functions are re-created, and
        # enabled again below, in the same transaction (other sessions never see them off).
        paused = []
        if any(verb == "recreate" for verb, _name in function_steps):
            paused = [(name, event) for name, event in EVENT_TRIGGERS if name in state["event_triggers"]]
        for name, _event in paused:
            run.append(sql.SQL("ALTER EVENT TRIGGER {} DISABLE").format(sql.Identifier(name)))
        event_steps = event_steps + [
            ("enable", name, event) for name, event in paused if ("enable", name, event) not in event_steps
        ]
        fresh = set()
        for verb, name in function_steps:
            if verb == "recreate":
                for row in state["functions"][name]:
                    run.append(drop_function(schema, name, row["identity_arguments"]))
            run.append(create_function(schema, by_name[name]))
            if verb != "replace":
                fresh.add(name)
                if adopt_to:
                    run.append(
                        owner_statement(
                            "FUNCTION",
                            sql.SQL("{}({})").format(
                                sql.Identifier(schema, name), sql.SQL(_identity(by_name[name]["arguments"]))
                            ),
                            adopt_to,
                        )
                    )
        for spec in specs:
            rows = state["functions"].get(spec["name"]) or [{}]
            if spec["name"] in CLONED_TRIGGER_FUNCTIONS:
                if spec["name"] not in fresh and not rows[0].get("public_execute"):
                    run.append(function_acl(schema, spec, "grant", None))
            elif spec["name"] in fresh or rows[0].get("public_execute"):
                run.append(function_acl(schema, spec, "revoke", None))
        granted = state["functions"].get(EVENT_FUNCTION) or [{}]
        granted = [] if EVENT_FUNCTION in fresh else list(granted[0].get("grantees") or [])
        grant, revoke = plan_grants(granted, app_roles)
        for role in revoke:
            run.append(function_acl(schema, by_name[EVENT_FUNCTION], "revoke", role))
        for role in grant:
            run.append(function_acl(schema, by_name[EVENT_FUNCTION], "grant", role))
        for role in app_roles:
            if role not in state["schema_usage"]:
                run.append(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(names["schema"], sql.Identifier(role)))
        run.extend(chain_trigger_statements(schema, chain_steps))
        run.extend(skip_trigger_statements(schema, skip_plan))
        for step in event_steps:
            run.extend(event_trigger_statements(schema, step))
        for verb, relid, table in registry_steps:
            run.append(registry_statement(schema, verb, relid, table))
    for step in trigger_steps:
        run.extend(trigger_statements(schema, step))
    for relid in sorted(registry):
        if relid not in tables:
            run.append(registry_statement(schema, "delete", relid))
    if not present:
        for name, _event in EVENT_TRIGGERS:
            if name in state["event_triggers"]:
                run.append(sql.SQL("DROP EVENT TRIGGER {}").format(sql.Identifier(name)))
        if any(row["on_log"] for row in state["chain_trigger"]):
            run.extend(chain_trigger_statements(schema, ["drop"]))
        run.extend(
            skip_trigger_statements(
                schema, [(r["relname"], ["drop"]) for r in state["skip_triggers"] if not r["clone"]]
            )
        )
        for name, _arguments, _result, _definer, _body in reversed(FUNCTIONS + CHAIN_FUNCTIONS):
            for row in state["functions"].get(name, []):
                run.append(drop_function(schema, name, row["identity_arguments"]))

    for statement in run:
        session.change(statement)

    after_tables = [
        dict(name=render(t["schema"], t["name"]), mode=t["mode"], exclude_columns=[render(c) for c in t["exclude"]])
        for t in sorted(tables.values(), key=lambda t: (t["schema"], t["name"]))
    ]
    result = dict(
        changed=bool(run),
        tables=after_tables,
        added=sorted(render(tables[r]["schema"], tables[r]["name"]) for r in added),
        removed=sorted(removed),
        updated=sorted(render(tables[r]["schema"], tables[r]["name"]) for r in updated if r in tables),
        schema_version=max(state["applied"] | {m[0] for m in migrations} | {0}),
        hash_chain=hash_chain,
        executed_queries=list(session.executed_queries),
    )
    result["diff"] = dict(
        before=_describe_state(schema, state, registry),
        after=_describe_desired(schema, state, tables, desired, specs, app_roles, present, partition_plan),
    )
    result["diff"]["after"]["schema_version"] = result["schema_version"]
    result["diff"]["after"]["hash_chain"] = hash_chain
    return result


def _describe_state(schema, state, registry):
    return dict(
        schema_version=state["version"],
        hash_chain=bool(state["chain_trigger"]),
        tables=dict(
            (
                render(r["schema_name"], r["table_name"]),
                dict(mode=r["mode"], exclude_columns=sorted(r["excluded_columns"] or [])),
            )
            for r in registry.values()
        ),
        triggers=sorted(describe_trigger(k[1], s, s.get("enabled")) for k, s in state["triggers"].items()),
        functions=dict((name, describe_catalog_function(schema, rows[0])) for name, rows in state["functions"].items()),
        event_triggers=sorted(
            "%s ON %s EXECUTE FUNCTION %s%s"
            % (
                name,
                row["evtevent"],
                render(row["function_schema"], row["function_name"]),
                " ENABLE ALWAYS" if row["evtenabled"] == "A" else " (enabled: %s)" % row["evtenabled"],
            )
            for name, row in state["event_triggers"].items()
        ),
        log_event_roles=list((state["functions"].get(EVENT_FUNCTION) or [{}])[0].get("grantees") or []),
        partitions=sorted(partition_name(m) for m in (state["partitions"] or {}).get("existing", ())),
    )


def _describe_desired(schema, state, tables, desired, specs, app_roles, present, partition_plan):
    partitions = set((state["partitions"] or {}).get("existing", ()))
    if partition_plan:
        partitions |= set(partition_plan["create"])
        partitions = set(m for m in partitions if partition_name(m) not in partition_plan["drop"])
    return dict(
        schema_version=state["version"],
        hash_chain=False,
        tables=dict(
            (render(t["schema"], t["name"]), dict(mode=t["mode"], exclude_columns=[render(c) for c in t["exclude"]]))
            for t in tables.values()
        ),
        triggers=sorted(describe_trigger(k[1], s) for k, s in desired.items()),
        functions=dict((spec["name"], describe_function(schema, spec)) for spec in specs),
        event_triggers=sorted(
            "%s ON %s EXECUTE FUNCTION %s ENABLE ALWAYS" % (name, event, render(schema, "log_ddl"))
            for name, event in EVENT_TRIGGERS
        )
        if present
        else [],
        log_event_roles=list(app_roles),
        partitions=sorted(partition_name(m) for m in partitions),
    )
