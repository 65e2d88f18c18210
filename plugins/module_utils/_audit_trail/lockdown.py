# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""Who may do what to the audit trail: its NOLOGIN owner, the grants on its schema, tables,
sequences and functions, the owner's default privileges there, and who may SET pgaudit.*.

The seed's "Log integrity" table made real. Once locked down:

- the schema and everything in it belong to a NOLOGIN owner (the SECURITY DEFINER functions run
  as that role, not as a superuser); the event triggers stay superuser-owned;
- PUBLIC holds nothing; application roles hold USAGE on the schema (and EXECUTE on log_event,
  which the audit_trail module grants: it owns that grant, because it re-creates the function)
  and nothing on the tables, so log rows arrive only through the definer functions;
- reader roles hold USAGE and SELECT on the log (and its partitions, now and later, through
  the owner's default privileges), SELECT on the chain's tables (chain_block, chain_head: what
  chain_verify reads, so an auditor's login verifies the chain itself) and EXECUTE on
  verify_chain() and changed_fields(); not seal(), nor any write;
- on PostgreSQL 15+, no role but the superusers holds SET or ALTER SYSTEM on pgaudit.*.

The module reads the catalog, plans with the pure functions below (unit-tested) and runs the
plan in one transaction; then it reads the grants again and returns them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils import object_grants, postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.catalog import LOCK, lock_chain
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.names import (
    CHAIN_BLOCK,
    CHAIN_HEAD,
    CLONED_TRIGGER_FUNCTIONS,
    EVENT_FUNCTION,
    LOG,
    READER_FUNCTIONS,
    pending_warning,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.render import owner_statement
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_chain import SET_SEALS_IMMEDIATE
from ansible_collections.pgtrail.audit.plugins.module_utils.audit_facts import (
    FIRST_NORMAL_OID,
    LOG_PRIVILEGES,
    LOG_WRITERS,
    PARAMETER_ACL,
    PARAMETER_ACL_SINCE,
    parameter_grants,
    writers,
)
from ansible_collections.pgtrail.audit.plugins.module_utils.identifiers import name_problem, render


class LockdownError(Exception):
    """Input or database state the module refuses; ``problems`` lists every reason."""

    def __init__(self, problems):
        self.problems = list(problems)
        Exception.__init__(self, "; ".join(self.problems))


PUBLIC = "PUBLIC"
# Relation kinds the owner takes (indexes and owned sequences follow their table).
OWNED_RELKINDS = ("r", "p", "v", "m", "f", "S")
# ALTER DEFAULT PRIVILEGES object types, by pg_default_acl.defaclobjtype.
DEFAULT_KINDS = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES", "n": "SCHEMAS"}

# ---------------------------------------------------------------------------------------------
# What the module reads
# ---------------------------------------------------------------------------------------------

SESSION = """
SELECT n.oid AS schema_oid, pg_catalog.pg_get_userbyid(n.nspowner)::text AS schema_owner,
       (SELECT c.oid FROM pg_catalog.pg_class AS c WHERE c.relnamespace = n.oid AND c.relname = %(log)s) AS log_oid
  FROM (VALUES (1)) AS one(row_count)
  LEFT JOIN pg_catalog.pg_namespace AS n ON n.nspname = %(schema)s
"""

# pg_write_all_data (PostgreSQL 14+) may write every table, whatever its grants say.
ROLES = """
SELECT r.rolname::text AS rolname, r.rolsuper, r.rolcanlogin,
       o.oid IS NOT NULL AND r.oid <> o.oid AND pg_catalog.pg_has_role(r.oid, o.oid, 'MEMBER') AS owner_member,
       EXISTS (SELECT FROM pg_catalog.pg_roles AS w
                WHERE w.rolname = 'pg_write_all_data' AND pg_catalog.pg_has_role(r.oid, w.oid, 'MEMBER'))
         AS writes_all_data
  FROM pg_catalog.pg_roles AS r
  LEFT JOIN pg_catalog.pg_roles AS o ON o.rolname = %(owner)s
 WHERE r.rolname = ANY (%(names)s)
"""

# The relations of the schema (indexes and TOAST follow their table), with the sequences a
# column owns (they follow their table too) and whether the relation is the log or one of its
# partitions.
RELATIONS = """
SELECT c.relname::text AS relname, c.relkind, pg_catalog.pg_get_userbyid(c.relowner)::text AS owner,
       EXISTS (SELECT FROM pg_catalog.pg_depend AS d
                WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
                  AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i'))
         AS owned_by_column,
       c.oid = %(log_oid)s OR coalesce(pg_catalog.pg_partition_root(c.oid)::pg_catalog.oid = %(log_oid)s, false)
         AS of_log
  FROM pg_catalog.pg_class AS c
 WHERE c.relnamespace = %(schema_oid)s AND c.relkind = ANY (%(relkinds)s)
 ORDER BY 1
"""

# Privileges on those relations held by anyone but their owner, table and column level.
RELATION_ACL = """
SELECT c.relname::text AS relname, NULL::text AS column_name,
       CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(g.grantee)::text END AS grantee,
       g.privilege_type
  FROM pg_catalog.pg_class AS c CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) AS g
 WHERE c.relnamespace = %(schema_oid)s AND c.relkind = ANY (%(relkinds)s) AND g.grantee <> c.relowner
UNION ALL
SELECT c.relname::text, a.attname::text,
       CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(g.grantee)::text END,
       g.privilege_type
  FROM pg_catalog.pg_class AS c
  JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 CROSS JOIN LATERAL pg_catalog.aclexplode(a.attacl) AS g
 WHERE c.relnamespace = %(schema_oid)s AND c.relkind = ANY (%(relkinds)s) AND g.grantee <> c.relowner
 ORDER BY 1, 2 NULLS FIRST, 3, 4
"""

# Functions of the schema and who may EXECUTE them besides the owner (a NULL ACL is the
# default: PUBLIC may).
FUNCTIONS = """
SELECT p.proname::text AS proname, pg_catalog.pg_get_function_identity_arguments(p.oid) AS arguments,
       pg_catalog.pg_get_userbyid(p.proowner)::text AS owner,
       ARRAY(SELECT CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(g.grantee)::text END
               FROM pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) AS g
              WHERE g.grantee <> p.proowner ORDER BY 1) AS grantees
  FROM pg_catalog.pg_proc AS p
 WHERE p.pronamespace = %(schema_oid)s
 ORDER BY 1, 2
"""

SCHEMA_ACL = """
SELECT CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(g.grantee)::text END AS grantee,
       g.privilege_type
  FROM pg_catalog.pg_namespace AS n
 CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) AS g
 WHERE n.oid = %(schema_oid)s AND g.grantee <> n.nspowner
 ORDER BY 1, 2
"""

# The owner's default privileges in the schema (ALTER DEFAULT PRIVILEGES FOR ROLE ... IN SCHEMA).
DEFAULT_ACL = """
SELECT d.defaclobjtype::text AS objtype,
       CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(g.grantee)::text END AS grantee,
       g.privilege_type
  FROM pg_catalog.pg_default_acl AS d
  JOIN pg_catalog.pg_roles AS r ON r.oid = d.defaclrole
 CROSS JOIN LATERAL pg_catalog.aclexplode(d.defaclacl) AS g
 WHERE r.rolname = %(owner)s AND d.defaclnamespace = %(schema_oid)s
 ORDER BY 1, 2, 3
"""

# ---------------------------------------------------------------------------------------------
# Planning (pure)
# ---------------------------------------------------------------------------------------------


def check_request(params):
    """Problems with the options alone."""
    problems = []
    owner = params["owner"]
    named = (("owner", [owner]), ("app_roles", params["app_roles"]), ("reader_roles", params["reader_roles"]))
    for what, names in named:
        for name in names or []:
            problem = name_problem(name)
            if problem:
                problems.append("%s: %s" % (what, problem))
            elif name.upper() == PUBLIC:
                problems.append("%s: PUBLIC is every role, not a role that can be given the log" % what)
    for what in ("app_roles", "reader_roles"):
        if owner in (params[what] or []):
            problems.append("%s names the owner %s: the owner must be a role nobody logs in as" % (what, owner))
    return problems


def check_roles(params, rows):
    """Problems with the roles as the catalog has them (rows of ROLES); returns (problems, create_owner)."""
    found = dict((r["rolname"], r) for r in rows)
    problems = []
    owner = found.get(params["owner"])
    if owner is not None and (owner["rolcanlogin"] or owner["rolsuper"]):
        problems.append(
            "the owner %s %s: the audit trail's owner must be a NOLOGIN role that is not a superuser, because "
            "whoever logs in as it can rewrite the log; name another role (it is created NOLOGIN)"
            % (params["owner"], "is a superuser" if owner["rolsuper"] else "can log in")
        )
    for what in ("app_roles", "reader_roles"):
        for name in sorted(set(params[what] or [])):
            row = found.get(name)
            if row is None:
                problems.append("role %s does not exist (%s)" % (name, what))
            elif row["rolsuper"]:
                problems.append("role %s (%s) is a superuser: no grant can hold it back" % (name, what))
            elif row["owner_member"]:
                problems.append(
                    "role %s (%s) is a member of the owner %s, so it holds every right on the log"
                    % (name, what, params["owner"])
                )
            elif row.get("writes_all_data"):
                problems.append(
                    "role %s (%s) is a member of pg_write_all_data, which may write every table, the log included"
                    % (name, what)
                )
    return problems, owner is None


def relation_state(rows):
    """{relname: {grantee: {"table": set, "columns": {column: set}}}} from RELATION_ACL rows."""
    state = {}
    for row in rows:
        entry = state.setdefault(row["relname"], {}).setdefault(row["grantee"], object_grants.empty_table())
        if row["column_name"] is None:
            entry["table"].add(row["privilege_type"])
        else:
            entry["columns"].setdefault(row["column_name"], set()).add(row["privilege_type"])
    return state


def desired_relations(relations, readers):
    """{relname: {grantee: state}}: readers SELECT the log, its partitions and the chain's tables
    (what chain_verify reads); nobody else anything."""
    desired = {}
    for relation in relations:
        readable = relation["of_log"] or relation["relname"] in (CHAIN_BLOCK, CHAIN_HEAD)
        if readable and relation["relkind"] in ("r", "p"):
            desired[relation["relname"]] = dict(
                (role, {"table": {"SELECT"}, "columns": {}}) for role in sorted(set(readers))
            )
    return desired


def plan_relation_grants(relations, current, desired, owner):
    """[(relname, relkind, grantee, verb, privileges, columns)] from current to desired, by grantee.

    Grants held by the old or the new owner are the owner's (ALTER ... OWNER TO moves them), so
    they are left alone.
    """
    steps = []
    kinds = dict((r["relname"], r["relkind"]) for r in relations)
    for relname in sorted(kinds):
        have = dict((g, s) for g, s in current.get(relname, {}).items() if g not in (owner,))
        want = desired.get(relname, {})
        for grantee in sorted(set(have) | set(want)):
            table_steps, _after = object_grants.plan_table(have.get(grantee), want.get(grantee))
            for verb, privileges, columns in table_steps:
                steps.append((relname, kinds[relname], grantee, verb, privileges, columns))
    return steps


def plan_ownership(schema_owner, relations, functions, owner):
    """[(kind, name, arguments)] of objects to give to the owner: the schema, its relations (not
    the sequences a column owns, which follow their table) and its functions."""
    steps = []
    if schema_owner != owner:
        steps.append(("SCHEMA", None, None))
    for relation in relations:
        if relation["owner"] != owner and not (relation["relkind"] == "S" and relation["owned_by_column"]):
            steps.append(("SEQUENCE" if relation["relkind"] == "S" else "TABLE", relation["relname"], None))
    for function in functions:
        if function["owner"] != owner:
            steps.append(("FUNCTION", function["proname"], function["arguments"]))
    return steps


def plan_schema_grants(current, app_roles, readers, event_callers, owner):
    """[(verb, privilege, grantee)] for the schema: USAGE for app and reader roles (and whoever may
    call log_event, which audit_trail grants), nothing else for anyone."""
    want = set((role, "USAGE") for role in set(app_roles) | set(readers))
    keep = set((role, "USAGE") for role in event_callers)
    have = set((g, p) for g, p in current if g != owner)
    steps = [("revoke", p, g) for g, p in sorted(have - want - keep)]
    steps += [("grant", p, g) for g, p in sorted(want - have)]
    return steps


def wanted_executors(proname, readers):
    """Who besides the owner should EXECUTE a trail function: readers verify_chain() and
    changed_fields(); PUBLIC the row trigger function that partitions clone; nobody else."""
    if proname in CLONED_TRIGGER_FUNCTIONS:
        return {PUBLIC}
    return set(readers) if proname in READER_FUNCTIONS else set()


def plan_function_grants(functions, readers, owner):
    """[(verb, proname, arguments, grantee)]: nobody but the owner may EXECUTE, except as
    wanted_executors() says; log_event's callers are audit_trail's (only PUBLIC is revoked there)."""
    steps = []
    for function in functions:
        have = set(g for g in function["grantees"] if g != owner)
        if function["proname"] == EVENT_FUNCTION:
            want, extra = set(), {PUBLIC} & have
        else:
            want = wanted_executors(function["proname"], readers)
            extra = have - want
        for grantee in sorted(extra):
            steps.append(("revoke", function["proname"], function["arguments"], grantee))
        for grantee in sorted(want - have):
            steps.append(("grant", function["proname"], function["arguments"], grantee))
    return steps


def plan_default_privileges(current, readers):
    """[(verb, objtype, privilege, grantee)]: the owner's new tables in the schema (partitions of
    the log) are readable by the readers; no other default grant."""
    want = set(("r", "SELECT", role) for role in readers)
    have = set((row["objtype"], row["privilege_type"], row["grantee"]) for row in current)
    steps = [("revoke",) + item for item in sorted(have - want)]
    steps += [("grant",) + item for item in sorted(want - have)]
    return steps


def describe_relations(schema, state):
    """{schema.table: {grantee: [privileges, or "PRIV (columns)"]}}, for the diff."""
    described = {}
    for relname, grantees in sorted(state.items()):
        entries = {}
        for grantee, entry in sorted(grantees.items()):
            words = object_grants.order(entry["table"])
            groups = {}
            for column, privileges in entry["columns"].items():
                for privilege in privileges:
                    groups.setdefault(privilege, []).append(column)
            words += ["%s (%s)" % (p, ", ".join(sorted(c))) for p, c in sorted(groups.items())]
            if words:
                entries[grantee] = words
        if entries:
            described[render(schema, relname)] = entries
    return described


def grant_list(schema, state):
    """The relation grants as the module returns them: [{table, role, privileges[, columns]}]."""
    grants = []
    for relname, grantees in sorted(state.items()):
        table = render(schema, relname)
        for grantee, entry in sorted(grantees.items()):
            if entry["table"]:
                grants.append(dict(table=table, role=grantee, privileges=object_grants.order(entry["table"])))
            by_columns = {}
            for column, privileges in entry["columns"].items():
                for privilege in privileges:
                    by_columns.setdefault(privilege, []).append(column)
            for privilege, columns in sorted(by_columns.items()):
                grants.append(dict(table=table, role=grantee, privileges=[privilege], columns=sorted(columns)))
    return grants


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def _grantee(name):
    sql = postgres.sql
    return sql.SQL(PUBLIC) if name == PUBLIC else sql.Identifier(name)


def _privileges(privileges, columns=None):
    sql = postgres.sql
    words = sql.SQL(", ").join(sql.SQL(p) for p in privileges)
    if columns:
        words = sql.SQL("{} ({})").format(words, sql.SQL(", ").join(sql.Identifier(c) for c in columns))
    return words


def relation_statement(schema, step):
    sql = postgres.sql
    relname, relkind, grantee, verb, privileges, columns = step
    allowed = object_grants.ALL_PRIVILEGES + ("USAGE",)
    for privilege in privileges:
        if privilege not in allowed:
            raise ValueError("unexpected privilege %r" % privilege)
    template = "GRANT {} ON {} {} TO {}" if verb == "grant" else "REVOKE {} ON {} {} FROM {}"
    return sql.SQL(template).format(
        _privileges(privileges, columns),
        sql.SQL("SEQUENCE" if relkind == "S" else "TABLE"),
        sql.Identifier(schema, relname),
        _grantee(grantee),
    )


def ownership_statement(schema, step, owner):
    sql = postgres.sql
    kind, name, arguments = step
    if kind == "SCHEMA":
        target = sql.Identifier(schema)
    elif kind == "FUNCTION":
        target = sql.SQL("{}({})").format(sql.Identifier(schema, name), sql.SQL(arguments))
    else:
        target = sql.Identifier(schema, name)
    return owner_statement(kind, target, owner)


def schema_statement(schema, step):
    sql = postgres.sql
    verb, privilege, grantee = step
    template = "GRANT {} ON SCHEMA {} TO {}" if verb == "grant" else "REVOKE {} ON SCHEMA {} FROM {}"
    return sql.SQL(template).format(sql.SQL(privilege), sql.Identifier(schema), _grantee(grantee))


def function_statement(schema, step):
    sql = postgres.sql
    verb, name, arguments, grantee = step
    template = "GRANT EXECUTE ON FUNCTION {}({}) TO {}" if verb == "grant" else "REVOKE ALL ON FUNCTION {}({}) FROM {}"
    return sql.SQL(template).format(sql.Identifier(schema, name), sql.SQL(arguments), _grantee(grantee))


def default_statement(schema, owner, step):
    sql = postgres.sql
    verb, objtype, privilege, grantee = step
    template = (
        "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT {} ON {} TO {}"
        if verb == "grant"
        else "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} REVOKE {} ON {} FROM {}"
    )
    return sql.SQL(template).format(
        sql.Identifier(owner),
        sql.Identifier(schema),
        sql.SQL(privilege if verb == "grant" else "ALL"),
        sql.SQL(DEFAULT_KINDS[objtype]),
        _grantee(grantee),
    )


def parameter_statement(grant):
    """REVOKE ALL ON PARAMETER pgaudit.x FROM role (a dotted name is two identifiers there)."""
    sql = postgres.sql
    parts = grant["parameter"].split(".")
    return sql.SQL("REVOKE ALL ON PARAMETER {} FROM {}").format(sql.Identifier(*parts), _grantee(grant["role"]))


# ---------------------------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------------------------


def read_grants(session, schema, schema_oid, log_oid, owner):
    """Everything the plan and the result need, as plain values."""
    oid = dict(schema_oid=schema_oid, relkinds=list(OWNED_RELKINDS))
    relations = session.query(RELATIONS, dict(oid, log_oid=log_oid))
    functions = session.query(FUNCTIONS, oid)
    for function in functions:
        function["grantees"] = list(function["grantees"] or [])
    return dict(
        relations=relations,
        relation_acl=relation_state(session.query(RELATION_ACL, oid)),
        functions=functions,
        schema_acl=[(r["grantee"], r["privilege_type"]) for r in session.query(SCHEMA_ACL, oid)],
        defaults=session.query(DEFAULT_ACL, dict(oid, owner=owner)),
    )


def read_parameter_grants(session, version):
    if version < PARAMETER_ACL_SINCE:
        return []
    return parameter_grants(session.query(PARAMETER_ACL))


def signature(schema, function):
    return "%s(%s)" % (render(schema, function["proname"]), function["arguments"])


def describe(schema, grants, owner, parameter):
    return dict(
        owner=owner,
        schema_usage=sorted(g for g, p in grants["schema_acl"] if p == "USAGE"),
        schema_grants=sorted("%s %s" % (p, g) for g, p in grants["schema_acl"]),
        tables=describe_relations(schema, grants["relation_acl"]),
        functions=dict((signature(schema, f), sorted(f["grantees"])) for f in grants["functions"] if f["grantees"]),
        default_privileges=sorted(
            "%s %s to %s" % (DEFAULT_KINDS.get(d["objtype"], d["objtype"]), d["privilege_type"], d["grantee"])
            for d in grants["defaults"]
        ),
        parameter_grants=["%s: %s %s" % (g["parameter"], g["role"], ", ".join(g["privileges"])) for g in parameter],
    )


def converge(session, params):
    """Lock down the trail of one database; returns the module's result (call in one transaction)."""
    problems = check_request(params)
    if problems:
        raise LockdownError(problems)
    schema, owner = params["schema"], params["owner"]
    session.query(LOCK)
    session.query(SET_SEALS_IMMEDIATE)
    lock_chain(session, schema)
    facts, create_owner, params, pending = _check_database(session, params)
    if facts["log_oid"] is None:
        return _pending_result(params, create_owner, pending)
    before = read_grants(session, schema, facts["schema_oid"], facts["log_oid"], owner)
    parameters = read_parameter_grants(session, facts["server_version_num"])
    plan = plan_lockdown(params, facts, before, parameters, create_owner)
    for statement in plan["statements"]:
        session.change(statement)
    after = read_grants(session, schema, facts["schema_oid"], facts["log_oid"], owner)
    remaining = read_parameter_grants(session, facts["server_version_num"])
    # Who, superusers and the owner aside, may still change the log (pg_write_all_data, say).
    log_writers = writers(
        session.query(
            LOG_WRITERS,
            dict(log_oid=facts["log_oid"], privileges=list(LOG_PRIVILEGES), first_oid=FIRST_NORMAL_OID),
        )
    )
    result = _result(params, plan, after, remaining, log_writers)
    result["executed_queries"] = list(session.executed_queries)
    result["diff"] = dict(
        before=describe(schema, before, facts["schema_owner"], parameters),
        after=describe(schema, plan["planned"], owner, [] if params["revoke_parameter_grants"] else parameters),
    )
    result["warnings"] = pending + _warnings(params, plan, log_writers, remaining, session.module.check_mode)
    return result


def _pending_result(params, create_owner, warnings):
    """Check mode before the trail exists: nothing to read, so the lockdown is only announced."""
    return dict(
        changed=True,
        owner=params["owner"],
        owner_created=create_owner,
        grants=[],
        function_grants=[],
        schema_grants=[],
        default_privileges=[],
        parameter_grants_revoked=[],
        parameter_grants=[],
        log_writers=[],
        executed_queries=[],
        diff=dict(before={}, after=dict(schema=params["schema"], owner=params["owner"])),
        warnings=warnings,
    )


def _check_database(session, params):
    """(facts, create_owner, params, warnings): the server's and the schema's facts; LockdownError
    with every problem of the database and its roles. In check mode, what an earlier task of the
    run may create (the trail, an app or reader role) is a warning, and a missing role is left out
    of the ``params`` returned."""
    schema, owner = params["schema"], params["owner"]
    check_mode, warnings = session.module.check_mode, []
    server = postgres.server_facts(session)
    facts = dict(session.query(SESSION, dict(schema=schema, log=LOG))[0], **server)
    problems = []
    if not facts["is_superuser"]:
        problems.append(
            "audit_lockdown needs a superuser (it gives the trail to its owner and revokes parameter grants), and "
            "%s is not one" % facts["current_user"]
        )
    if facts["schema_oid"] is None or facts["log_oid"] is None:
        facts["log_oid"] = None
        if check_mode:
            warnings.append(pending_warning("the audit log %s" % render(schema, LOG), "schema"))
        else:
            problems.append(
                "schema %s holds no audit log (%s): run pgtrail.audit.audit_trail in this database first"
                % (render(schema), render(schema, LOG))
            )
    names = [owner] + sorted(set(params["app_roles"] or [])) + sorted(set(params["reader_roles"] or []))
    rows = session.query(ROLES, dict(owner=owner, names=names))
    if check_mode:
        found, params = {r["rolname"] for r in rows}, dict(params)
        for what in ("app_roles", "reader_roles"):
            wanted = sorted(set(params[what] or []))
            warnings.extend(pending_warning("role %s" % name, what) for name in wanted if name not in found)
            params[what] = [name for name in wanted if name in found]
    role_problems, create_owner = check_roles(params, rows)
    problems.extend(role_problems)
    if problems:
        raise LockdownError(problems)
    return facts, create_owner, params, warnings


def plan_lockdown(params, facts, before, parameters, create_owner):
    """{statements, planned, event_callers, revoked, created_owner}: the statements in the order they
    run, the grants they leave (for the diff), who may call log_event, the parameter grants revoked
    and whether the owner is created."""
    sql = postgres.sql
    schema, owner = params["schema"], params["owner"]
    app_roles = sorted(set(params["app_roles"] or []))
    readers = sorted(set(params["reader_roles"] or []))
    event_callers = []
    for function in before["functions"]:
        if function["proname"] == EVENT_FUNCTION:
            event_callers = [g for g in function["grantees"] if g != PUBLIC]
    run = []
    if create_owner:
        run.append(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(owner)))
    for step in plan_ownership(facts["schema_owner"], before["relations"], before["functions"], owner):
        run.append(ownership_statement(schema, step, owner))
    for step in plan_schema_grants(before["schema_acl"], app_roles, readers, event_callers, owner):
        run.append(schema_statement(schema, step))
    desired = desired_relations(before["relations"], readers)
    for step in plan_relation_grants(before["relations"], before["relation_acl"], desired, owner):
        run.append(relation_statement(schema, step))
    for step in plan_function_grants(before["functions"], readers, owner):
        run.append(function_statement(schema, step))
    for step in plan_default_privileges(before["defaults"], readers):
        run.append(default_statement(schema, owner, step))
    revoked = parameters if params["revoke_parameter_grants"] else []
    run.extend(parameter_statement(grant) for grant in revoked)
    planned = planned_grants(before, desired, app_roles, readers, event_callers)
    return dict(
        statements=run, planned=planned, event_callers=event_callers, revoked=revoked, created_owner=create_owner
    )


def planned_grants(before, desired, app_roles, readers, event_callers):
    """The grants as the plan leaves them, in read_grants()'s shape (for the diff)."""
    return dict(
        relation_acl=dict((k, v) for k, v in desired.items() if v),
        schema_acl=sorted(
            set((r, "USAGE") for r in app_roles + readers)
            | set((g, p) for g, p in before["schema_acl"] if g in event_callers and p == "USAGE")
        ),
        functions=[
            dict(
                f,
                grantees=sorted(
                    [g for g in f["grantees"] if g != PUBLIC]
                    if f["proname"] == EVENT_FUNCTION
                    else wanted_executors(f["proname"], readers)
                ),
            )
            for f in before["functions"]
        ],
        defaults=[dict(objtype="r", privilege_type="SELECT", grantee=r) for r in readers],
    )


def _result(params, plan, after, remaining, log_writers):
    schema, owner = params["schema"], params["owner"]
    return dict(
        changed=bool(plan["statements"]),
        owner=owner,
        owner_created=plan["created_owner"],
        grants=grant_list(schema, after["relation_acl"]),
        function_grants=[
            dict(function=signature(schema, f), role=g, privileges=["EXECUTE"])
            for f in after["functions"]
            for g in f["grantees"]
        ],
        schema_grants=[dict(role=g, privileges=[p]) for g, p in after["schema_acl"]],
        default_privileges=[
            dict(objects=DEFAULT_KINDS.get(d["objtype"]), role=d["grantee"], privileges=[d["privilege_type"]])
            for d in after["defaults"]
        ],
        parameter_grants_revoked=plan["revoked"],
        parameter_grants=remaining,
        log_writers=log_writers,
    )


def _warnings(params, plan, log_writers, remaining, check_mode):
    schema = params["schema"]
    warnings = []
    for role in sorted(set(params["app_roles"] or [])):
        if role not in plan["event_callers"]:
            warnings.append(
                "app role %s may not call %s: list it in the app_roles of pgtrail.audit.audit_trail, which owns "
                "that grant" % (role, render(schema, EVENT_FUNCTION))
            )
    # In check mode with statements pending, the writers read are those before the run.
    if log_writers and not (check_mode and plan["statements"]):
        held = ["%s (%s)" % (w["role"], ", ".join(w["privileges"])) for w in log_writers]
        warnings.append(
            "besides the superusers and the owner, these roles may still write %s: %s"
            % (render(schema, LOG), "; ".join(held))
        )
    if remaining and not params["revoke_parameter_grants"]:
        held = ["%s holds %s on %s" % (g["role"], ", ".join(g["privileges"]), g["parameter"]) for g in remaining]
        warnings.append("roles other than superusers may set pgaudit.*: %s" % "; ".join(held))
    return warnings
