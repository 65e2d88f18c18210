# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""The trail's functions: what writes the log, and how a row becomes JSON.

Table of contents (``audit`` stands for the trail's schema; FUNCTIONS lists them in definition
order; the DDL event trigger's function is in sql_ddl.py, the chain's in sql_chain.py):

- ``audit.current_actor()``: the actor (ACTOR_RESOLVE, ACTOR_RESOLVE_EXPRESSION), SQL, inlined;
- ``audit.changed_fields(old_data, new_data)``: the columns an UPDATE changed (CHANGED_FIELDS);
- ``audit.row_data(r, rel, hidden)``: a row as JSON when to_jsonb() cannot take it (ROW_DATA);
- ``audit.log_row_change()``: row triggers ``pgtrail_audit_row`` (LOG_ROW_CHANGE, ROW_JSON);
- ``audit.log_statement_change()``: statement triggers ``pgtrail_audit_stmt_ins``, ``_upd``,
  ``_del``, with transition tables (LOG_STATEMENT_CHANGE, STATEMENT_ROWS);
- ``audit.log_truncate()``: ``pgtrail_audit_truncate`` (LOG_TRUNCATE);
- ``audit.log_ddl()``: sql_ddl.LOG_DDL;
- ``audit.skip_applied()``: ``pgtrail_skip_applied`` on the trail's own tables (SKIP_APPLIED);
- ``audit.log_event(...)``: application events, callable by the app roles (LOG_EVENT).

Shared pieces: ACTOR_REQUIRED (require_actor), AUDITED_NAME (the name a trigger logs under),
REPLICATION and REPLICATED (metadata of a replicated change), NULLS (the mask of excluded columns).

All but current_actor, changed_fields and row_data are ``SECURITY DEFINER`` with
``search_path = pg_catalog, pg_temp`` and qualify every name. Templates are psycopg ``sql.SQL``
texts: ``{{`` and ``}}`` stand for literal braces.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.names import splice
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_ddl import LOG_DDL

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
# mode with a null subscription. The check of the setting is all that other writes pay: the
# trigger functions make it in PL/pgSQL (REPLICATED, into the variable replicated), not in their
# INSERT, whose plan would otherwise carry the sub-select and set it up again at every executor
# start: once per row in row mode, a tenth of a single-row write's CPU (docs/benchmarks.md).
REPLICATION = (
    "pg_catalog.jsonb_build_object('replication_role', 'replica', 'subscription', "
    "(SELECT s.subname::text FROM pg_catalog.pg_stat_subscription AS s "
    "WHERE s.pid = pg_catalog.pg_backend_pid() LIMIT 1))"
)
REPLICATED = """
    IF pg_catalog.current_setting('session_replication_role') = 'replica' THEN
        replicated := {replication};
    END IF;"""

# One row of a row trigger as JSON, for OLD and for NEW (into old_row or new_row; none when
# TG_OP is INSERT or DELETE): to_jsonb() of the row, with excluded columns set to NULL first and
# removed, or row_data() for a large row or one with virtual generated columns.
ROW_JSON = """IF TG_OP <> '{absent}' THEN
    IF pg_catalog.pg_column_size({record}) > {{inline}} OR ({{virtual}} AND NOT ({record} IS NOT NULL)) THEN
        {variable} := {{row_data}}({record}, TG_RELID, TG_ARGV[2:TG_NARGS - 1]);
    ELSIF TG_NARGS > 2 THEN
        {variable} := pg_catalog.to_jsonb(pg_catalog.jsonb_populate_record({record}, {{excluded_nulls}}))
                   - TG_ARGV[2:TG_NARGS - 1];
    ELSE
        {variable} := pg_catalog.to_jsonb({record});
    END IF;
END IF;"""

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
    replicated jsonb;
    audited_schema text;
    audited_table text;
BEGIN
<OLD_ROW:4>
<NEW_ROW:4>
    IF TG_OP = 'UPDATE' AND old_row = new_row THEN
        RETURN NULL; -- only excluded columns changed, or none did
    END IF;
    actor := {current_actor}();{required}{audited_name}{replicated}
    INSERT INTO {log} (kind, schema_name, table_name, action, old_data, new_data, actor_id, metadata)
    VALUES ('row', audited_schema, audited_table, TG_OP, old_row, new_row, actor, replicated);
    RETURN NULL;
END
"""
LOG_ROW_CHANGE = splice(LOG_ROW_CHANGE, "OLD_ROW", ROW_JSON.format(absent="INSERT", record="OLD", variable="old_row"))
LOG_ROW_CHANGE = splice(LOG_ROW_CHANGE, "NEW_ROW", ROW_JSON.format(absent="DELETE", record="NEW", variable="new_row"))

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
    replicated jsonb;
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
    actor := {current_actor}();{required}{replicated}
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {log} (kind, schema_name, table_name, action, new_data, actor_id, metadata)
        SELECT 'row', audited_schema, audited_table, 'INSERT', n.data, actor, replicated FROM {new_rows} AS n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO {log} (kind, schema_name, table_name, action, old_data, actor_id, metadata)
        SELECT 'row', audited_schema, audited_table, 'DELETE', o.data, actor, replicated FROM {old_rows} AS o;
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
        INSERT INTO {log} (kind, schema_name, table_name, action, old_data, new_data, actor_id, metadata)
        WITH o AS MATERIALIZED (SELECT CASE WHEN key_column IS NULL THEN d.data - non_key ELSE d.data -> key_column END
                                       AS row_key, d.data
                                  FROM {old_rows} AS d),
             n AS MATERIALIZED (SELECT CASE WHEN key_column IS NULL THEN d.data - non_key ELSE d.data -> key_column END
                                       AS row_key, d.data
                                  FROM {new_rows} AS d)
        SELECT 'row', audited_schema, audited_table, 'UPDATE', o.data, n.data, actor, replicated
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

# Settings a function runs with besides the definer's pinned search_path. The statement trigger's
# pairing query: the planner cannot estimate a join on jsonb and expects the square of the rows,
# so without jit = off a bulk statement spends its time compiling JIT code; and the hash join of
# a bulk statement's rows stays in memory.
FUNCTION_SETTINGS = {"log_statement_change": (("jit", "off"), ("work_mem", "32MB"))}
