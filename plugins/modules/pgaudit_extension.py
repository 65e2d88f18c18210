#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pgaudit_extension
short_description: Create the pgaudit extension in every database, re-creating it after an upgrade
version_added: 0.1.0
description:
  - Runs C(CREATE EXTENSION pgaudit) in each database that needs it, so DDL audit entries carry
    object names, or C(DROP EXTENSION pgaudit) with O(state=absent).
  - Refuses, changing nothing, when pgaudit is not in the running C(shared_preload_libraries);
    the extension needs the library loaded, which takes a restart.
  - When the installed extension version differs from the one the library offers (after a major
    upgrade, as there is no C(ALTER EXTENSION UPDATE) across majors), drops and creates the extension
    again in one transaction; pgaudit keeps no state in it. Such databases are listed in RV(recreated).
  - Checks every database named before it changes any; uses one connection per database.
extends_documentation_fragment:
  - pgtrail.audit.connection
attributes:
  check_mode:
    support: full
    description: Reports what would change and the statements that would run; changes nothing.
  diff_mode:
    support: full
    description: Shows the extension version per database before and after.
options:
  databases:
    description:
      - The databases to act on. C(all) means every database that accepts connections
        (C(datallowconn)) and that the connecting role may C(CONNECT) to, C(template1) included,
        so databases created later have the extension too; C(template0) never accepts connections
        and is left alone. Any other database C(all) passes over is listed in RV(skipped) and
        named in a warning.
      - Other names may be given with C(all); an unknown or non-connectable database is an error.
    type: list
    elements: str
    default: [all]
  state:
    description:
      - C(present) creates (or re-creates) the extension; C(absent) drops it where it exists.
    type: str
    choices: [present, absent]
    default: present
  expect_loaded:
    description:
      - Honoured in check mode only. Set it when a restart that loads pgaudit is pending (the
        C(pgtrail.audit.pgaudit) role does), so a C(--check) run before the first converge
        reports the extension it would create instead of failing because pgaudit is not loaded yet.
    type: bool
    default: false
notes:
  - With pgaudit unloaded, DDL fails in a database that has the extension (its event triggers
    need the library). Remove pgaudit from C(shared_preload_libraries) only after O(state=absent).
seealso:
  - module: pgtrail.audit.preload
  - module: pgtrail.audit.pgaudit_settings
author:
  - pgtrail.audit maintainers (@pgtrail)
"""

EXAMPLES = r"""
- name: Create pgaudit in every connectable database, template1 included
  become: true
  become_user: postgres
  pgtrail.audit.pgaudit_extension:

- name: Only in two databases
  become: true
  become_user: postgres
  pgtrail.audit.pgaudit_extension:
    databases: [finance, warehouse]

- name: Remove it everywhere (before unloading the library)
  become: true
  become_user: postgres
  pgtrail.audit.pgaudit_extension:
    state: absent
"""

RETURN = r"""
databases:
  description:
    - Per database, the extension version before and after (null when absent). In check mode with
      O(expect_loaded) and the package not installed yet, C(after) is C(default), the version the
      package will offer.
  returned: always
  type: dict
  sample: {postgres: {before: null, after: "1.7"}, template1: {before: "1.7", after: "1.7"}}
skipped:
  description:
    - Databases that O(databases=all) passed over because no session can open them
      (C(datallowconn) false, or C(CONNECT) not granted to the connecting role), with the
      reason; they have no extension until they can be opened and the module runs again.
      C(template0) is not listed.
  returned: always
  type: dict
  sample: {archive: "does not allow connections (datallowconn is false)"}
recreated:
  description: Databases where an extension of another version was dropped and created again.
  returned: always
  type: list
  elements: str
  sample: [finance]
available_version:
  description: The version the installed pgaudit package offers (C(pg_available_extensions)), or null.
  returned: always
  type: str
  sample: "17.1"
executed_queries:
  description: The statements run (in check mode, that would run), each followed by a comment naming its database.
  returned: always
  type: list
  elements: str
  sample: ["CREATE EXTENSION \"pgaudit\" -- database postgres"]
"""

from ansible.module_utils.basic import AnsibleModule

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


def targets(module, rows):
    """(the databases to act on, {database: why} of those 'all' passed over), or fail naming every
    unknown or non-connectable database named."""
    allow = {row["datname"]: row["datallowconn"] and row["can_connect"] for row in rows}
    closed = audit_facts.closed_databases(r for r in rows if r["datname"] != "template0" and not allow[r["datname"]])
    chosen = []
    skipped = {}
    errors = []
    for name in module.params["databases"]:
        if name == "all":
            chosen.extend(db for db in sorted(allow) if allow[db])
            skipped.update(closed)
        elif name not in allow:
            errors.append("database %r does not exist" % name)
        elif not allow[name]:
            errors.append("database %r %s" % (name, closed.get(name, "does not allow connections")))
        else:
            chosen.append(name)
    if errors:
        module.fail_json(msg="Nothing was changed: %s" % "; ".join(errors), changed=False, executed_queries=[])
    for name, why in sorted(skipped.items()):
        module.warn("database %s was skipped: it %s, so it has no pgaudit extension" % (name, why))
    return sorted(set(chosen)), skipped


def check_loaded(module, facts):
    """Fail unless pgaudit is loaded (or, in check mode, expected to be after a pending restart)."""
    if module.params["state"] != "present":
        return
    loaded = "pgaudit" in pgconf.parse_list(facts["shared_preload_libraries"])
    expected = module.check_mode and module.params["expect_loaded"]
    if not loaded and not expected:
        module.fail_json(
            msg="pgaudit is not in the running shared_preload_libraries (%r): add it (pgtrail.audit.preload) "
            "and restart PostgreSQL before creating the extension; nothing was changed"
            % facts["shared_preload_libraries"],
            changed=False,
            executed_queries=[],
        )
    if facts["available_version"] is None and not expected:
        module.fail_json(
            msg="the pgaudit package is not installed (no pgaudit in pg_available_extensions); nothing was changed",
            changed=False,
            executed_queries=[],
        )


def plan(state, installed, available):
    """The statements ('drop', 'create') one database needs, and the version it ends with."""
    if state == "absent":
        return (["drop"], None) if installed is not None else ([], None)
    if installed is None:
        return ["create"], available
    if available is not None and installed != available:
        return ["drop", "create"], available
    return [], installed


def converge(module, session, database, available):
    """Bring one database to the wanted state; returns (before, after, steps)."""
    sql = postgres.sql
    before = session.scalar(INSTALLED)
    steps, after = plan(module.params["state"], before, available or DEFAULT)
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


def main():
    argument_spec = postgres.connection_argument_spec()
    argument_spec.update(
        databases=dict(type="list", elements="str", default=["all"]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        expect_loaded=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    main_session = postgres.open_session(module, autocommit=True)
    executed = []
    result = dict(databases={}, recreated=[], skipped={})
    try:
        facts = main_session.query(FACTS)[0]
        chosen, result["skipped"] = targets(module, main_session.query(DATABASES))
        check_loaded(module, facts)
        for database in chosen:
            own = database == module.params["login_db"]
            session = main_session if own else postgres.open_session(module, dbname=database, autocommit=True)
            try:
                before, after, steps = converge(module, session, database, facts["available_version"])
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
    finally:
        main_session.close()
    changed = any(v["before"] != v["after"] for v in result["databases"].values()) or bool(result["recreated"])
    result.update(changed=changed, available_version=facts["available_version"], executed_queries=executed)
    if module._diff:
        result["diff"] = dict(
            before={db: v["before"] for db, v in result["databases"].items()},
            after={db: v["after"] for db, v in result["databases"].items()},
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
