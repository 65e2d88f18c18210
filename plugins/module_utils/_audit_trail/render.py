# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""Rendering (pure): the statements of a plan, as psycopg ``sql.Composed`` (identifiers and values
only through ``sql.Identifier`` and ``sql.Literal``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.names import (
    CHAIN_BLOCK,
    CHAIN_TRIGGER,
    INSERT_ONLY_FUNCTION,
    INSERT_ONLY_TRIGGER,
    REGISTRY,
    SEAL_BLOCKS_FUNCTION,
    SEAL_FUNCTION,
    SKIP_TRIGGER,
    TABLE_TRIGGER_FUNCTIONS,
    sql_names,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.plan import (
    VOLATILITY,
    language_of,
    month_add,
    month_start,
    partition_name,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_chain import (
    ALLOW_RETENTION,
    BLOCK_HASH,
    CANONICAL,
    CANONICAL_SEQ,
    CHAIN_BLOCK_TABLE,
    CHAIN_BLOCK_ZERO,
    CHAIN_COLUMNS,
    CHAIN_COMMENTS,
    CHAIN_FUNCTIONS,
    CHAIN_HEAD_ROW,
    CHAIN_HEAD_TABLE,
    CHAIN_INDEXES,
    CHAIN_RETENTION,
    CHAIN_V2_COMMENTS,
    CHAIN_V2_FUNCTIONS,
    CHAIN_V2_INDEXES,
    CHAIN_V2_RETENTION,
    CREATE_INSERT_ONLY_TRIGGER,
    DROP_V1_UNSEALED,
    FIRST_BLOCK,
    GENESIS,
    LEAF,
    OWN_XID,
    RETENTION_SETTING,
    ROW_BLOCK,
    ROW_BLOCKS,
    SEAL_BATCH,
    SNAPSHOT,
    V1_LAST_SEAL,
    V1_SEALERS,
    V2_ROWS,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_ddl import TRIGGER_TABLE
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_functions import (
    ACTOR_REQUIRED,
    ACTOR_RESOLVE,
    ACTOR_RESOLVE_EXPRESSION,
    AUDITED_NAME,
    FUNCTION_SETTINGS,
    FUNCTIONS,
    INLINE_ROW_BYTES,
    NULLS,
    REPLICATED,
    REPLICATION,
    ROW_DATA_LIMIT,
    STATEMENT_ROWS,
    TOO_LARGE,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_tables import (
    CHAIN_MIGRATION,
    CHAIN_V2_MIGRATION,
    LOG_COMMENTS,
    LOG_INDEXES,
    LOG_TABLE,
    REGISTRY_TABLE,
    REVOKE_TABLE,
)
from ansible_collections.pgtrail.audit.plugins.module_utils.identifiers import render

CREATE_FUNCTION = (
    "CREATE OR REPLACE FUNCTION {function}({arguments}) RETURNS {result} LANGUAGE {language}{definer} AS {body}"
)


def chain_functions(hash_chain, v1_rows):
    """The chain's functions a trail wants: chain v2's with ``hash_chain``, and on a chain
    upgraded from v1 (``v1_rows``) v1's verifier, which checks block 0's rows."""
    if not hash_chain:
        return ()
    v1 = tuple(f for f in CHAIN_FUNCTIONS if f[0] == "verify_chain") if v1_rows else ()
    return CHAIN_V2_FUNCTIONS + v1


def function_specs(
    schema,
    actor_setting,
    actor_expression,
    require_actor,
    context,
    hash_chain=False,
    virtual_columns=False,
    v1_rows=False,
):
    """The desired functions, in definition order, with their source rendered for ``context``
    (the chain's functions too with ``hash_chain``, v1's verifier too with ``v1_rows``;
    ``virtual_columns``: the server has virtual generated columns, PostgreSQL 18 and later)."""
    sql = postgres.sql
    names = sql_names(schema)
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
        replicated=sql.SQL(REPLICATED).format(replication=sql.SQL(REPLICATION)),
        batch=sql.Literal(SEAL_BATCH),
        genesis=sql.SQL(GENESIS),
        row_data=sql.Identifier(schema, "row_data"),
        inline=sql.Literal(INLINE_ROW_BYTES),
        limit=sql.Literal(ROW_DATA_LIMIT),
        too_large=sql.Literal(TOO_LARGE),
        virtual=sql.Literal(virtual_columns),
        block=names["block"],
        block_name=sql.Literal(CHAIN_BLOCK),
        seal_name=sql.Literal(render(schema, SEAL_BLOCKS_FUNCTION)),
        leaf=sql.SQL(LEAF),
        block_hash=sql.SQL(BLOCK_HASH),
        snapshot=sql.SQL(SNAPSHOT),
        v2_rows=sql.SQL(V2_ROWS[bool(v1_rows)]),
        retention=sql.Literal(RETENTION_SETTING),
    )
    for names, array in (("hidden", "hidden"), ("marked", "marked"), ("excluded", "TG_ARGV[2:TG_NARGS - 1]")):
        parts[names + "_nulls"] = sql.SQL(NULLS).format(names=sql.SQL(array))
    for rows in ("old", "new"):
        parts[rows + "_rows"] = sql.SQL(STATEMENT_ROWS).format(rows=sql.Identifier("pgtrail_" + rows), **parts)
    specs = []
    for name, arguments, result, definer, body in FUNCTIONS + chain_functions(hash_chain, v1_rows):
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
    return sql.SQL(template).format(function, sql.SQL(identity(spec["arguments"])), grantee)


def identity(arguments):
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
    names = sql_names(schema)
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


def migration_statements(version, schema, partitioned, v1_rows=False):
    """The SQL of one migration step, as a list of ``sql.Composed``; ``v1_rows``: step 3 upgrades a
    v1 chain (whose trigger, sealers and index of unsealed rows it drops)."""
    sql = postgres.sql
    names = sql_names(schema)
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
    if version == CHAIN_V2_MIGRATION:
        return chain_v2_statements(schema, v1_rows)
    raise ValueError("no migration step %r" % version)


def chain_v2_statements(schema, v1_rows):
    """Migration 3 (docs/chain-v2.md, section 5). On a v1 chain (the log locked ACCESS EXCLUSIVE
    first, see converge.take_upgrade_lock, so no writer is in flight): v1's trigger goes, v1
    seals one last time, and its head becomes block 0; on a fresh chain, an empty block 0."""
    sql = postgres.sql
    names = sql_names(schema)
    parts = dict(
        log=names["log"],
        head=names["head"],
        block=names["block"],
        genesis=sql.SQL(GENESIS),
        block_hash=sql.SQL(BLOCK_HASH),
        snapshot=sql.SQL(SNAPSHOT),
        own_xid=sql.SQL(OWN_XID),
        v2_rows=sql.SQL(V2_ROWS[bool(v1_rows)]),
        changed_at_brin=sql.Identifier(schema, "audit_log_changed_at_brin"),
        unsealed=sql.Identifier(schema, "audit_log_unsealed"),
    )
    statements = []
    if v1_rows:
        statements.append(
            sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(sql.Identifier(CHAIN_TRIGGER), names["log"])
        )
        statements.append(sql.SQL(V1_LAST_SEAL).format(seal=sql.Identifier(schema, SEAL_FUNCTION)))
    else:
        statements.append(sql.SQL(CHAIN_HEAD_TABLE.strip()).format(**parts))
        statements.append(sql.SQL(CHAIN_HEAD_ROW).format(**parts))
        statements.append(sql.SQL(REVOKE_TABLE).format(table=names["head"]))
    statements.append(sql.SQL(FIRST_BLOCK).format(**parts))
    statements.append(sql.SQL(CHAIN_BLOCK_TABLE.strip()).format(**parts))
    statements.append(sql.SQL(REVOKE_TABLE).format(table=names["block"]))
    statements.append(sql.SQL(CHAIN_BLOCK_ZERO.strip()).format(**parts))
    statements += [sql.SQL(text).format(**parts) for text in CHAIN_V2_INDEXES]
    if v1_rows:
        statements.append(sql.SQL(DROP_V1_UNSEALED).format(**parts))
        for name, arguments in V1_SEALERS:
            statements.append(drop_function(schema, name, arguments))
    statements += [sql.SQL(text).format(**parts) for text in CHAIN_V2_COMMENTS]
    return statements


def chain_v2_retention_statement(schema, cutoff, v1_rows):
    """Move chain v2's first checked block past every block holding a row older than the month
    ``cutoff`` (before they go)."""
    sql = postgres.sql
    names = sql_names(schema)
    return sql.SQL(CHAIN_V2_RETENTION.strip()).format(
        row_blocks=sql.SQL(ROW_BLOCKS).format(block=names["block"], head=names["head"]),
        row_block=sql.SQL(ROW_BLOCK),
        head=names["head"],
        log=names["log"],
        cutoff=sql.Literal(month_start(cutoff)),
        v2_rows=sql.SQL(V2_ROWS[bool(v1_rows)]),
    )


def retention_setting(on):
    """Let retention's DELETE through the log's insert-only trigger (``on``), or not, for the rest
    of the transaction."""
    sql = postgres.sql
    return sql.SQL(ALLOW_RETENTION).format(
        setting=sql.Literal(RETENTION_SETTING), value=sql.Literal("on" if on else "off")
    )


# skip_applied's trigger on each of the trail's tables: BEFORE each row, so it drops what a
# logical replication worker applies (the insert-only trigger's CREATE is in sql_chain).
CREATE_SKIP_TRIGGER = (
    "CREATE TRIGGER {name} BEFORE INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()"
)


def _table_trigger_statements(schema, plan, name, create, function, mode):
    """The statements of a [(table, steps)] plan of the trigger ``name`` on the trail's tables: its
    DROP, its CREATE (``create``, calling ``function``) or its ENABLE ``mode`` (ALWAYS, REPLICA)."""
    sql = postgres.sql
    trigger = sql.Identifier(name)
    statements = []
    for table, steps in plan:
        relation = sql.Identifier(schema, table)
        for step in steps:
            if step == "drop":
                statement = sql.SQL("DROP TRIGGER {} ON {}").format(trigger, relation)
            elif step == "create":
                statement = sql.SQL(create).format(
                    name=trigger, table=relation, function=sql.Identifier(schema, function)
                )
            else:
                statement = sql.SQL("ALTER TABLE {} ENABLE {} TRIGGER {}").format(relation, sql.SQL(mode), trigger)
            statements.append(statement)
    return statements


def insert_only_statements(schema, plan):
    """The statements of plan_insert_only()."""
    return _table_trigger_statements(
        schema, plan, INSERT_ONLY_TRIGGER, CREATE_INSERT_ONLY_TRIGGER, INSERT_ONLY_FUNCTION, "ALWAYS"
    )


def owner_statement(kind, name, owner):
    """ALTER <kind> <name> OWNER TO <owner>; ``name`` is composed SQL (a signature for functions)."""
    sql = postgres.sql
    return sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(kind), name, sql.Identifier(owner))


def chain_retention_statement(schema, cutoff):
    """Move the chain's start past the rows older than the month ``cutoff`` (before they go)."""
    sql = postgres.sql
    names = sql_names(schema)
    return sql.SQL(CHAIN_RETENTION.strip()).format(
        head=names["head"], log=names["log"], cutoff=sql.Literal(month_start(cutoff))
    )


def skip_trigger_statements(schema, plan):
    """The statements of plan_skip_triggers()."""
    return _table_trigger_statements(schema, plan, SKIP_TRIGGER, CREATE_SKIP_TRIGGER, "skip_applied", "REPLICA")


def chain_trigger_statements(schema, steps):
    """DROP of v1's sealing trigger (the only step plan_chain_trigger() gives)."""
    sql = postgres.sql
    names = sql_names(schema)
    return [
        sql.SQL("DROP TRIGGER {} ON {}").format(sql.Identifier(CHAIN_TRIGGER), names["log"])
        for step in steps
        if step == "drop"
    ]
