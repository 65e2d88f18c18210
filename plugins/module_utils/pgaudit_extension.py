# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pgaudit_extension module's run: CREATE EXTENSION pgaudit in each database that needs it
(re-created after a major upgrade), or DROP EXTENSION; one connection per database.

The choice of databases and the statements a database needs are pure (unit-tested);
:func:`run` is the module's one call.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils import audit_facts, pgconf, postgres

FACTS = """
SELECT current_setting('shared_preload_libraries') AS shared_preload_libraries,
       (SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = 'pgaudit') AS available_version
"""

DATABASES = """
SELECT datname, datallowconn, pg_catalog.has_database_privilege(oid, 'CONNECT') AS can_connect
  FROM pg_catalog.pg_database ORDER BY datname
"""

INSTALLED = "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pgaudit'"

# The version CREATE EXTENSION installs, when the package is not there yet (check mode only).
DEFAULT = "default"


def targets(names, rows):
    """(the databases to act on, {database: why} of those 'all' passed over, problems) of the
    databases option and the DATABASES rows (pure)."""
    allow = {row["datname"]: row["datallowconn"] and row["can_connect"] for row in rows}
    closed = audit_facts.closed_databases(r for r in rows if r["datname"] != "template0" and not allow[r["datname"]])
    chosen = []
    skipped = {}
    errors = []
    for name in names:
        if name == "all":
            chosen.extend(db for db in sorted(allow) if allow[db])
            skipped.update(closed)
        elif name not in allow:
            errors.append("database %r does not exist" % name)
        elif not allow[name]:
            errors.append("database %r %s" % (name, closed.get(name, "does not allow connections")))
        else:
            chosen.append(name)
    return sorted(set(chosen)), skipped, errors


def loaded_problem(facts, expected):
    """Why the extension cannot be created now, or None; ``expected``: a restart that loads
    pgaudit is pending (honoured in check mode) (pure)."""
    if expected:
        return None
    if "pgaudit" not in pgconf.parse_list(facts["shared_preload_libraries"]):
        return (
            "pgaudit is not in the running shared_preload_libraries (%r): add it (pgtrail.audit.preload) "
            "and restart PostgreSQL before creating the extension" % facts["shared_preload_libraries"]
        )
    if facts["available_version"] is None:
        return "the pgaudit package is not installed (no pgaudit in pg_available_extensions)"
    return None


def plan(state, installed, available):
    """The statements ('drop', 'create') one database needs, and the version it ends with."""
    if state == "absent":
        return (["drop"], None) if installed is not None else ([], None)
    if installed is None:
        return ["create"], available
    if available is not None and installed != available:
        return ["drop", "create"], available
    return [], installed


def converge(session, state, database, available):
    """Bring one database to the wanted state; returns (before, after, steps)."""
    sql = postgres.sql
    before = session.scalar(INSTALLED)
    steps, after = plan(state, before, available or DEFAULT)
    statements = {
        "drop": sql.SQL("DROP EXTENSION {}").format(sql.Identifier("pgaudit")),
        "create": sql.SQL("CREATE EXTENSION {}").format(sql.Identifier("pgaudit")),
    }
    if steps:
        start = len(session.executed_queries)
        # Drop and create together: a failure never leaves a database without the extension.
        with session.conn.transaction():
            for step in steps:
                session.change(statements[step])
        for index in range(start, len(session.executed_queries)):
            session.executed_queries[index] += " -- database %s" % database
    return before, after, steps


def refuse(module, msg):
    module.fail_json(msg=msg, changed=False, executed_queries=[])


def choose(module, session):
    """(facts, the databases to act on, skipped), or fail before any change."""
    params = module.params
    facts = session.query(FACTS)[0]
    chosen, skipped, errors = targets(params["databases"], session.query(DATABASES))
    if errors:
        refuse(module, "Nothing was changed: %s" % "; ".join(errors))
    for name, why in sorted(skipped.items()):
        module.warn("database %s was skipped: it %s, so it has no pgaudit extension" % (name, why))
    if params["state"] == "present":
        problem = loaded_problem(facts, module.check_mode and params["expect_loaded"])
        if problem:
            refuse(module, "%s; nothing was changed" % problem)
    return facts, chosen, skipped


def converge_all(module, main_session, facts, chosen, result):
    """Each database on its own connection (the main one for its own); returns the statements."""
    executed = []
    for database in chosen:
        own = database == module.params["login_db"]
        session = main_session if own else postgres.open_session(module, dbname=database, autocommit=True)
        try:
            before, after, steps = converge(session, module.params["state"], database, facts["available_version"])
        except postgres.psycopg.Error as exc:
            module.fail_json(
                msg="PostgreSQL refused the change in database %s: %s; that database was left as it was"
                % (database, str(exc).strip()),
                executed_queries=executed + session.executed_queries,
                **result,
            )
        finally:
            if not own:
                executed.extend(session.executed_queries)
                session.close()
        if own:
            executed.extend(main_session.executed_queries)
            main_session.executed_queries = []
        result["databases"][database] = dict(before=before, after=after)
        if steps == ["drop", "create"]:
            result["recreated"].append(database)
    return executed


def run(module):
    """The pgaudit_extension module: returns its result, or fails naming what is wrong."""
    main_session = postgres.open_session(module, autocommit=True)
    result = dict(databases={}, recreated=[], skipped={})
    try:
        facts, chosen, result["skipped"] = choose(module, main_session)
        executed = converge_all(module, main_session, facts, chosen, result)
    finally:
        main_session.close()
    versions = result["databases"].values()
    changed = any(v["before"] != v["after"] for v in versions) or bool(result["recreated"])
    result.update(changed=changed, available_version=facts["available_version"], executed_queries=executed)
    if module._diff:
        result["diff"] = dict(
            before={db: v["before"] for db, v in result["databases"].items()},
            after={db: v["after"] for db, v in result["databases"].items()},
        )
    return result
