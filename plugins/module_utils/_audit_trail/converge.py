# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""One run of the audit_trail module: a sequence of short phases.

check the options -> lock -> read the trail -> check the schema and the selection against the
catalog (every problem at once, before any change) -> plan -> render the statements in the order
they must run -> run them in the caller's transaction (``session.change``: recorded, and skipped
in check mode) -> the result and its diff.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail import describe, plan, render
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.catalog import (
    CHECK_ACTOR_EXPRESSION,
    LOCK,
    ROLES,
    describe_relations,
    lock_chain,
    partitions_of,
    read_selection,
    read_trail,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.names import (
    CHAIN_BLOCK,
    CHAIN_HEAD,
    CLONED_TRIGGER_FUNCTIONS,
    DEFAULT_PARTITION,
    EVENT_FUNCTION,
    EVENT_TRIGGERS,
    LOG,
    REGISTRY,
    VERSIONS,
    TrailError,
    pending_warning,
    sql_names,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.request import (
    check_options,
    check_relation,
    merge_selection,
    normalize_request,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_chain import (
    CHAIN_FUNCTIONS,
    CHAIN_V2_FUNCTIONS,
    SET_SEALS_IMMEDIATE,
    UPGRADE_LOCK,
    UPGRADE_LOCK_TRIES,
    UPGRADE_LOCK_WAIT,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_functions import FUNCTIONS
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_tables import (
    CHAIN_MIGRATION,
    CHAIN_V2_MIGRATION,
    MIGRATION_TABLES,
    RECORD_VERSION,
    REVOKE_TABLE,
    VERSION_TABLE,
)
from ansible_collections.pgtrail.audit.plugins.module_utils.identifiers import render as render_name


def converge(session, params):
    """Bring the trail of one database to ``params``; returns the module's result.

    Call it inside one transaction. Reads and checks everything first (TrailError lists every
    problem, before any change), then runs the plan through ``session.change``.
    """
    request = _check_options(params)
    _lock(session, params["schema"])
    state = read_trail(session, params["schema"])
    migrations, hash_chain, problems = plan.plan_schema(state, params)
    warnings = []
    selection, catalog, app_roles = _check_selection(session, params, request, problems + state["foreign"], warnings)
    run = _plan_run(session, params, state, selection, catalog, app_roles, migrations, hash_chain)
    if run["upgrade"] and not session.module.check_mode:
        take_upgrade_lock(session, params["schema"])
    for statement in run["statements"]:
        session.change(statement)
    result = _result(session, params, state, run)
    result["warnings"] = warnings
    return result


def _check_options(params):
    """The declared selection, or TrailError naming every bad option and entry."""
    problems = check_options(params)
    explicit, rules, exclusions, request_problems = normalize_request(
        params["tables"], params["schemas"], params["exclude_columns"]
    )
    problems.extend(request_problems)
    if problems:
        raise TrailError(problems)
    return dict(explicit=explicit, rules=rules, exclusions=exclusions)


def _lock(session, schema):
    session.query(LOCK)
    # The chain's sealing trigger is deferred to COMMIT; DDL on the log (a partition, a
    # migration) refuses to run while its events are pending, so they fire at once in this run.
    session.query(SET_SEALS_IMMEDIATE)
    lock_chain(session, schema)


def take_upgrade_lock(session, schema):
    """ACCESS EXCLUSIVE on the log for the v1 -> v2 switch (migration 3), so that no writer is in
    flight across it: each try waits at most UPGRADE_LOCK_WAIT (writers queue behind a waiting
    lock, so never for longer), in a savepoint, and is retried; TrailError when every try failed."""
    sql = postgres.sql
    saved = session.scalar("SELECT pg_catalog.current_setting('lock_timeout')")
    statement = sql.SQL(UPGRADE_LOCK).format(log=sql_names(schema)["log"])
    for attempt in range(UPGRADE_LOCK_TRIES):
        try:
            with session.conn.transaction():
                session.query("SELECT pg_catalog.set_config('lock_timeout', %s, true)", [UPGRADE_LOCK_WAIT])
                session.query(statement)
            break
        except postgres.psycopg.errors.LockNotAvailable:
            time.sleep(min(0.1 * (attempt + 1), 1.0))
    else:
        raise TrailError(
            [
                "the chain v2 upgrade (migration 3) needs %s alone for a moment, and other sessions held it through "
                "%d tries of %s: nothing was changed; run again when the long transactions on the log have ended"
                % (render_name(schema, LOG), UPGRADE_LOCK_TRIES, UPGRADE_LOCK_WAIT)
            ]
        )
    session.query("SELECT pg_catalog.set_config('lock_timeout', %s, true)", [saved])


def _check_selection(session, params, request, problems, warnings):
    """(selection, catalog, app_roles): the tables to audit, checked in the catalog with the roles
    and the actor expression; TrailError with every problem found (``problems`` too). In check mode
    a missing app role is a warning (appended to ``warnings``) and is left out of the plan."""
    schema, present = params["schema"], params["state"] == "present"
    selection = {}
    if present:
        chosen, selection_problems = read_selection(session, request["rules"], schema)
        problems.extend(selection_problems)
        selection, merge_problems = merge_selection(request["explicit"], chosen, request["exclusions"])
        problems.extend(merge_problems)
    catalog = describe_relations(session, sorted(selection))
    for key, entry in sorted(selection.items()):
        problems.extend(check_relation(key, entry, catalog.get(key), schema))
    app_roles = sorted(set(params["app_roles"] or [])) if present else []
    if app_roles:
        found = {r["rolname"] for r in session.query(ROLES, dict(names=app_roles))}
        missing = [render_name(r) for r in app_roles if r not in found]
        if session.module.check_mode:
            warnings.extend(pending_warning("role " + name, "app_roles") for name in missing)
            app_roles = [r for r in app_roles if r in found]
        else:
            problems.extend("role %s does not exist (app_roles)" % name for name in missing)
    if present and params.get("actor_expression"):
        problems.extend(_check_actor_expression(session, params["actor_expression"]))
    if problems:
        raise TrailError(problems)
    return selection, catalog, app_roles


def _check_actor_expression(session, expression):
    sql = postgres.sql
    try:
        with session.conn.transaction():
            session.query(sql.SQL(CHECK_ACTOR_EXPRESSION).format(expression=sql.SQL(expression)), [True])
    except postgres.psycopg.Error as exc:
        return ["actor_expression %r does not run: %s" % (expression, str(exc).strip())]
    return []


def _plan_run(session, params, state, selection, catalog, app_roles, migrations, hash_chain):
    """Everything the run does: the plan's parts and the statements, in the order they must run."""
    schema, present = params["schema"], params["state"] == "present"
    tables = plan.desired_tables(selection, catalog)
    partitions = partitions_of(session, plan.audited_roots(tables, state["registry"]))
    desired, root_of, trigger_steps = plan.plan_table_triggers(tables, partitions, state)
    specs = []
    if present:
        specs = render.function_specs(
            schema,
            params["actor_setting"],
            params.get("actor_expression"),
            params["require_actor"],
            session.conn,
            hash_chain,
            state["server_version_num"] >= 180000,
            CHAIN_MIGRATION in state["applied"],
        )
    run = {
        "tables": tables,
        "desired": desired,
        "specs": specs,
        "app_roles": app_roles,
        "migrations": migrations,
        "hash_chain": hash_chain,
        # migration 3 over a v1 chain: the log is locked first (take_upgrade_lock)
        "upgrade": any(v == CHAIN_V2_MIGRATION for v, _d in migrations) and CHAIN_MIGRATION in state["applied"],
        "trigger_steps": trigger_steps,
        "function_steps": plan.plan_functions(state["functions"], specs),
        "event_steps": plan.plan_event_triggers(state["event_triggers"], schema) if present else [],
        "partition_plan": plan.plan_log_partitions(state, params),
    }
    if run["event_steps"] and not state["superuser"]:
        raise TrailError(
            [
                "the DDL event triggers (pgtrail_audit_ddl, pgtrail_audit_drop) need a superuser to be created or "
                "changed, and %s is not one" % render_name(state["current_user"])
            ]
        )
    registry_steps, run["added"], run["updated"], run["removed"] = plan.plan_registry(
        tables, state["registry"], trigger_steps, root_of
    )
    statements = []
    if present:
        statements += _install_statements(params, state, run)
        statements += _function_statements(schema, state, run)
        statements += _trail_trigger_statements(schema, state, run)
        statements += [render.registry_statement(schema, verb, relid, table) for verb, relid, table in registry_steps]
    for step in trigger_steps:
        statements.extend(render.trigger_statements(schema, step))
    for relid in sorted(state["registry"]):
        if relid not in tables:
            statements.append(render.registry_statement(schema, "delete", relid))
    if not present:
        statements += _removal_statements(schema, state)
    run["statements"] = statements
    return run


def _install_statements(params, state, run):
    """The schema, the version record, the migrations and the log's partitions."""
    sql = postgres.sql
    schema = params["schema"]
    names = sql_names(schema)
    statements = []
    if state["schema_oid"] is None:
        statements.append(sql.SQL("CREATE SCHEMA {}").format(names["schema"]))
    if VERSIONS not in state["relations"]:
        statements.append(sql.SQL(VERSION_TABLE.strip()).format(versions=names["versions"]))
        statements.append(sql.SQL(REVOKE_TABLE).format(table=names["versions"]))
    # A trail locked down by audit_lockdown belongs to its owner: what this run adds does too.
    adopt_to = plan.adopting_owner(state)
    for version, description in run["migrations"]:
        statements.extend(
            render.migration_statements(
                version, schema, params["partition"] == "monthly", CHAIN_MIGRATION in state["applied"]
            )
        )
        if adopt_to:
            for table in MIGRATION_TABLES.get(version, ()):
                statements.append(render.owner_statement("TABLE", sql.Identifier(schema, table), adopt_to))
        statements.append(
            sql.SQL(RECORD_VERSION).format(
                versions=names["versions"], version=sql.Literal(version), description=sql.Literal(description)
            )
        )
    statements += _partition_statements(params, state, run["partition_plan"], adopt_to)
    for table in state["public_tables"]:
        statements.append(sql.SQL(REVOKE_TABLE).format(table=sql.Identifier(schema, table)))
    return statements


def _partition_statements(params, state, partition_plan, adopt_to):
    if not partition_plan:
        return []
    sql = postgres.sql
    schema = params["schema"]
    made = render.partition_statements(schema, partition_plan, state["today"])
    if partition_plan["drop"] or partition_plan["purge_before"]:
        cutoff = plan.month_add(state["today"], -params["retention_months"])
        if CHAIN_V2_MIGRATION in state["applied"]:
            made.insert(0, render.chain_v2_retention_statement(schema, cutoff, CHAIN_MIGRATION in state["applied"]))
        if CHAIN_MIGRATION in state["applied"]:
            made.insert(0, render.chain_retention_statement(schema, cutoff))
    if partition_plan["move"] or partition_plan["purge_before"]:
        # Rows leave the default partition: through the log's insert-only trigger (chain v2).
        made = [render.retention_setting(True)] + made + [render.retention_setting(False)]
    if made and adopt_to:
        # As the owner, so that its default privileges (audit_lockdown) give new partitions the
        # log's rights.
        made = [sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(adopt_to))] + made
        made.append(sql.SQL("SET LOCAL ROLE NONE"))
    return made


def _function_statements(schema, state, run):
    """The functions (re-)created, their owner and EXECUTE grants, and USAGE for the app roles.
    Pauses the event triggers while a function is dropped (run["event_steps"] enables them)."""
    sql = postgres.sql
    by_name = dict((spec["name"], spec) for spec in run["specs"])
    # Dropping a function fires the DDL event trigger, whose function may call the one being
    # dropped (current_actor): the event triggers are off while functions are re-created, and
    # enabled again below, in the same transaction (other sessions never see them off).
    paused = []
    if any(verb == "recreate" for verb, _name in run["function_steps"]):
        paused = [(name, event) for name, event in EVENT_TRIGGERS if name in state["event_triggers"]]
    statements = [sql.SQL("ALTER EVENT TRIGGER {} DISABLE").format(sql.Identifier(name)) for name, _e in paused]
    run["event_steps"] = run["event_steps"] + [
        ("enable", name, event) for name, event in paused if ("enable", name, event) not in run["event_steps"]
    ]
    adopt_to = plan.adopting_owner(state)
    fresh = set()
    for verb, name in run["function_steps"]:
        if verb == "recreate":
            for row in state["functions"][name]:
                statements.append(render.drop_function(schema, name, row["identity_arguments"]))
        statements.append(render.create_function(schema, by_name[name]))
        if verb != "replace":
            fresh.add(name)
            if adopt_to:
                signature = sql.SQL("{}({})").format(
                    sql.Identifier(schema, name), sql.SQL(render.identity(by_name[name]["arguments"]))
                )
                statements.append(render.owner_statement("FUNCTION", signature, adopt_to))
    return statements + _grant_statements(schema, state, run, by_name, fresh)


def _grant_statements(schema, state, run, by_name, fresh):
    """EXECUTE for PUBLIC (only on the cloned trigger functions), on log_event for the app roles,
    and USAGE on the schema for them; ``fresh``: the functions this run creates."""
    sql = postgres.sql
    statements = []
    for spec in run["specs"]:
        rows = state["functions"].get(spec["name"]) or [{}]
        if spec["name"] in CLONED_TRIGGER_FUNCTIONS:
            if spec["name"] not in fresh and not rows[0].get("public_execute"):
                statements.append(render.function_acl(schema, spec, "grant", None))
        elif spec["name"] in fresh or rows[0].get("public_execute"):
            statements.append(render.function_acl(schema, spec, "revoke", None))
    granted = state["functions"].get(EVENT_FUNCTION) or [{}]
    granted = [] if EVENT_FUNCTION in fresh else list(granted[0].get("grantees") or [])
    grant, revoke = plan.plan_grants(granted, run["app_roles"])
    for role in revoke:
        statements.append(render.function_acl(schema, by_name[EVENT_FUNCTION], "revoke", role))
    for role in grant:
        statements.append(render.function_acl(schema, by_name[EVENT_FUNCTION], "grant", role))
    for role in run["app_roles"]:
        if role not in state["schema_usage"]:
            statements.append(
                sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), sql.Identifier(role))
            )
    return statements


def _trail_trigger_statements(schema, state, run):
    """v1's sealing trigger dropped, the insert-only triggers (chain v2), skip_applied on the trail's
    tables and the DDL event triggers."""
    statements = []
    if run["hash_chain"]:
        statements += render.chain_trigger_statements(
            schema, plan.plan_chain_trigger(state["chain_trigger"], run["upgrade"])
        )
        statements += render.insert_only_statements(
            schema, plan.plan_insert_only(state["insert_only"], _insert_only_relations(state, run), schema)
        )
    trail_tables = [LOG, REGISTRY, VERSIONS] + ([CHAIN_HEAD, CHAIN_BLOCK] if run["hash_chain"] else [])
    statements += render.skip_trigger_statements(
        schema, plan.plan_skip_triggers(state["skip_triggers"], trail_tables, schema)
    )
    for step in run["event_steps"]:
        statements.extend(render.event_trigger_statements(schema, step))
    return statements


def _insert_only_relations(state, run):
    """The relations the insert-only trigger goes on: the log, chain_block and every partition of
    the log after this run (statement triggers are not cloned onto partitions)."""
    partition_plan = run["partition_plan"] or dict(create=[], create_default=False, drop=[])
    names = [LOG, CHAIN_BLOCK] + [r["relname"] for r in state["insert_only"] if r["relname"] not in (LOG, CHAIN_BLOCK)]
    names += [plan.partition_name(m) for m in partition_plan["create"]]
    if partition_plan["create_default"]:
        names.append(DEFAULT_PARTITION)
    dropped = set(partition_plan["drop"])
    return sorted(set(n for n in names if n not in dropped), key=names.index)


def _removal_statements(schema, state):
    """state: absent: the event triggers, the trail's triggers on its own tables and its functions."""
    sql = postgres.sql
    statements = []
    for name, _event in EVENT_TRIGGERS:
        if name in state["event_triggers"]:
            statements.append(sql.SQL("DROP EVENT TRIGGER {}").format(sql.Identifier(name)))
    if any(row["on_log"] for row in state["chain_trigger"]):
        statements.extend(render.chain_trigger_statements(schema, ["drop"]))
    statements.extend(
        render.insert_only_statements(schema, [(r["relname"], ["drop"]) for r in state["insert_only"] if r["tgtype"]])
    )
    statements.extend(
        render.skip_trigger_statements(
            schema, [(r["relname"], ["drop"]) for r in state["skip_triggers"] if not r["clone"]]
        )
    )
    for name, _arguments, _result, _definer, _body in reversed(FUNCTIONS + CHAIN_FUNCTIONS + CHAIN_V2_FUNCTIONS):
        for row in state["functions"].get(name, []):
            statements.append(render.drop_function(schema, name, row["identity_arguments"]))
    return statements


def _result(session, params, state, run):
    schema, tables = params["schema"], run["tables"]
    after_tables = [
        dict(
            name=render_name(t["schema"], t["name"]),
            mode=t["mode"],
            exclude_columns=[render_name(c) for c in t["exclude"]],
        )
        for t in sorted(tables.values(), key=lambda t: (t["schema"], t["name"]))
    ]
    result = dict(
        changed=bool(run["statements"]),
        tables=after_tables,
        added=sorted(render_name(tables[r]["schema"], tables[r]["name"]) for r in run["added"]),
        removed=sorted(run["removed"]),
        updated=sorted(render_name(tables[r]["schema"], tables[r]["name"]) for r in run["updated"] if r in tables),
        schema_version=max(state["applied"] | {m[0] for m in run["migrations"]} | {0}),
        hash_chain=run["hash_chain"],
        executed_queries=list(session.executed_queries),
    )
    after = describe.describe_desired(
        schema,
        state,
        tables,
        run["desired"],
        run["specs"],
        run["app_roles"],
        params["state"] == "present",
        run["partition_plan"],
    )
    after.update(schema_version=result["schema_version"], hash_chain=run["hash_chain"])
    result["diff"] = dict(before=describe.describe_state(schema, state, state["registry"]), after=after)
    return result
