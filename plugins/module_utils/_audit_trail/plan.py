# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""Planning (pure, unit-tested): from the catalog's state to the steps that reach the desired
one. Definitions are compared, not re-created: a function is replaced only when its source or
settings differ, a trigger only when its definition does."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.names import (
    CHANGED_FIELDS_FUNCTION,
    EVENT_TRIGGERS,
    INSERT_ONLY_FUNCTION,
    LOG,
    REGISTRY,
    ROW_TRIGGER,
    STATEMENT_TRIGGERS,
    TRUNCATE_TRIGGER,
    VERIFY_FUNCTION,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_functions import FUNCTION_SETTINGS
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_tables import (
    CHAIN_MIGRATION,
    CHAIN_V2_MIGRATION,
    MIGRATIONS,
    OPTIONAL,
)
from ansible_collections.pgtrail.audit.plugins.module_utils.identifiers import render

SEARCH_PATH = "search_path=pg_catalog, pg_temp"
# Months of partitions made ahead of the current one (partition: monthly).
PREMAKE_MONTHS = 3
_MONTH_PARTITION = re.compile(r"^audit_log_(\d{4})(\d{2})$")


# ---------------------------------------------------------------------------------------------
# Triggers of audited tables
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


# ---------------------------------------------------------------------------------------------
# Functions, event triggers and grants
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
# Schema versions
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# The chain's sealing trigger and skip_applied on the trail's tables
# ---------------------------------------------------------------------------------------------


def plan_chain_trigger(rows, upgraded_now):
    """["drop"] when v1's sealing trigger is still on the log of a chain v2 (migration 3 drops it
    when it runs; ``upgraded_now``), else []: chain v2 has no trigger on the writers' path."""
    if upgraded_now:
        return []
    return ["drop"] if any(r["on_log"] for r in rows) else []


def plan_insert_only(rows, wanted, schema):
    """[(relation name, steps)] for the insert-only trigger on each relation named in ``wanted``
    (the log, its partitions, chain_block), from the catalog rows of INSERT_ONLY_STATE (a row
    per relation, the trigger's columns NULL when it has none); steps are "drop", "create",
    "enable" (ENABLE ALWAYS)."""
    by_name = dict((r["relname"], r) for r in rows)
    plan = []
    for name in wanted:
        row = by_name.get(name) or {}
        if row.get("tgtype") is None:
            plan.append((name, ["create", "enable"]))
            continue
        kind = row["tgtype"] & (TG_ROW | TG_BEFORE | TG_INSERT | TG_DELETE | TG_UPDATE | TG_TRUNCATE | TG_INSTEAD)
        if kind != TG_BEFORE | TG_DELETE | TG_UPDATE | TG_TRUNCATE or (
            row["function_schema"],
            row["function_name"],
        ) != (schema, INSERT_ONLY_FUNCTION):
            plan.append((name, ["drop", "create", "enable"]))
        elif row["tgenabled"] != "A":
            plan.append((name, ["enable"]))
    return plan


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


# ---------------------------------------------------------------------------------------------
# Monthly partitions
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
# What a run wants, from the options, the catalog and the trail's state
# ---------------------------------------------------------------------------------------------


def plan_schema(state, params):
    """(migrations, hash_chain, problems): the migrations still to apply, whether the log is chained
    after the run, and what in the trail's schema refuses the options."""
    schema, present = params["schema"], params["state"] == "present"
    chained = bool({CHAIN_MIGRATION, CHAIN_V2_MIGRATION} & state["applied"])
    hash_chain = present and (bool(params.get("hash_chain")) or chained)
    migrations, problems = [], []
    if not present:
        return migrations, hash_chain, problems
    try:
        migrations = plan_migrations(state["applied"], ("hash_chain",) if hash_chain else ())
    except ValueError as exc:
        problems.append(str(exc))
    if chained and not params.get("hash_chain"):
        problems.append(
            "the log of this database is hash-chained (schema version %d): the chain cannot be switched off, "
            "set hash_chain: true" % max({CHAIN_MIGRATION, CHAIN_V2_MIGRATION} & state["applied"])
        )
    if state["version"] == 0 and (LOG in state["relations"] or REGISTRY in state["relations"]):
        problems.append(
            "schema %s already holds %s without a recorded schema version: it was not made by this module; "
            "rename it or choose another schema" % (render(schema), LOG if LOG in state["relations"] else REGISTRY)
        )
    log_kind = state["relations"].get(LOG)
    if log_kind and (log_kind == "p") != (params["partition"] == "monthly"):
        problems.append(
            "%s is %s but partition is %s: changing the partitioning of an existing log is not supported"
            % (
                render(schema, LOG),
                "partitioned by month" if log_kind == "p" else "not partitioned",
                params["partition"],
            )
        )
    return migrations, hash_chain, problems


def desired_tables(selection, catalog):
    """{relid: {relid, schema, name, mode, exclude, relkind}} of the tables to audit, from the
    selection and the catalog's rows of its tables."""
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
    return tables


def audited_roots(tables, registry):
    """The partitioned tables whose partitions a run reads: those to audit, and those the registry
    still holds (their triggers may have to go)."""
    roots = [t["relid"] for t in tables.values() if t["relkind"] == "p"]
    return roots + [relid for relid, row in registry.items() if row["present"] and relid not in tables]


def plan_table_triggers(tables, partitions, state):
    """(desired, root_of, steps): the triggers the tables want, each partition's root, and the
    steps from the catalog's triggers (``state``) to them. Sets each table's partitions."""
    desired = {}
    for table in tables.values():
        table["partitions"] = partitions.get(table["relid"], []) if table["relkind"] == "p" else []
        desired.update(desired_triggers(table))
    root_of = {}
    for root, members in partitions.items():
        for relid, _schema, _name in members:
            root_of[relid] = root
    clones = dict((key, dict(clone, root=root_of.get(key[0]))) for key, clone in state["clones"].items())
    return desired, root_of, plan_triggers(state["triggers"], desired, clones)


def plan_registry(tables, registry, trigger_steps, root_of):
    """(steps, added, updated, removed): the registry's ("insert"|"update", relid, table) steps, the
    relids added and changed, and the names of the tables that stop being audited (the registry's,
    and tables with the trail's triggers the registry does not know)."""
    steps, added, updated, removed = [], set(), set(), []
    for relid, table in sorted(tables.items()):
        row = registry.get(relid)
        if row is None:
            steps.append(("insert", relid, table))
            added.add(relid)
        elif (row["schema_name"], row["table_name"], row["mode"], sorted(row["excluded_columns"] or [])) != (
            table["schema"],
            table["name"],
            table["mode"],
            table["exclude"],
        ):
            steps.append(("update", relid, table))
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
    return steps, added, updated, removed


def plan_log_partitions(state, params):
    """plan_partitions() for a monthly-partitioned log (None otherwise)."""
    if params["state"] != "present" or params["partition"] != "monthly":
        return None
    log = state["partitions"] or dict(existing=set(), has_default=False, default_months=[])
    return plan_partitions(
        state["today"], log["existing"], log["has_default"], log["default_months"], params.get("retention_months")
    )


def adopting_owner(state):
    """The owner of a trail locked down by audit_lockdown, who takes what a run adds (None if the
    current user owns the log or cannot become its owner)."""
    if state["log_owner"] and state["log_owner"] != state["current_user"] and state["can_become_log_owner"]:
        return state["log_owner"]
    return None
