# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit_info module's reads: the server's facts and evidence on its main connection, each
database's on a read-only connection of its own; nothing is ever written.

What is read lives in ``_audit_info/`` by concern (the server, each database, its chain, its
replication, the report's coverage); the pure functions of ``audit_facts`` shape it. This file
gathers it into the module's return values; :func:`run` is the module's one call.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.pgtrail.audit.plugins.module_utils import audit_facts, postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_info.database import gather_database
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_info.server import DATABASES, gather, gather_server
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_info.session import read_only
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_vault import slots as vault_slots
from ansible_collections.pgtrail.audit.plugins.module_utils.audit_facts import (
    effective_policy,
    library_listed,
    switch_off,
)


def argument_spec():
    """The audit_info module's options (audit_plan reads the server with them too)."""
    return postgres.connection_argument_spec(
        databases=dict(type="list", elements="str"),
        trail_schema=dict(type="str", default="audit"),
        verify_chain=dict(type="bool", default=True),
    )


def gather_databases(module, main, current, names, trail_schema, verify, evidence=True):
    """Per-database evidence; one read-only connection per database (the main one for its own)."""
    read, unreachable = {}, {}
    for name in names:
        if name == current:
            session = main
        else:
            conn, error = postgres.try_connect(module, dbname=name, autocommit=True)
            if conn is None:
                unreachable[name] = error
                continue
            session = postgres.Session(module, conn)
            read_only(session)
        try:
            read[name] = gather_database(session, trail_schema, verify, evidence)
        except postgres.psycopg.Error as exc:
            unreachable[name] = "PostgreSQL refused a read in database %r: %s" % (name, str(exc).strip())
        finally:
            if session is not main:
                session.close()
    return read, unreachable


def per_database(per_db, key, keep=lambda value: True):
    """{database: its evidence under ``key``}, sorted, of the databases whose value ``keep`` keeps."""
    return dict((db, per_db[db][key]) for db in sorted(per_db) if keep(per_db[db][key]))


def who_is_audited(session, server, names, per_db):
    """{effective_policy, can_switch_off}: what pgaudit applies to every login in every database
    read that accepts connections, and the logins that could switch auditing off."""
    allowed = set(r["datname"] for r in session.query(DATABASES))
    databases = [db for db in names if db in allowed]
    system = server["system_policy"]
    owners = dict((db, per_db[db]["audited_owners"]) for db in sorted(per_db) if per_db[db]["audited_owners"])
    return dict(
        effective_policy=dict(
            system=system,
            databases=databases,
            logins=effective_policy(
                server["logins"], databases, server["settings_by_scope"], system, server["unreached_role_settings"]
            ),
        ),
        can_switch_off=switch_off(server["role_reach"], server["parameter_grants"], owners),
    )


def evidence(module, session, facts, current, full=True):
    """``facts`` with the server's and every database's evidence added; with ``full`` false,
    only what the roles plan from (see :func:`run`)."""
    params = module.params
    server = gather_server(session, facts)
    if params["databases"] is None:
        names = [r["datname"] for r in session.query(DATABASES)]
    else:
        names = sorted(set(params["databases"]))
    per_db, unreachable = gather_databases(
        module, session, current, names, params["trail_schema"], params["verify_chain"], full
    )
    facts["preload"] = server["preload"]
    # The system values, not the reading session's (its role or database may have its own).
    system = server["system_policy"]
    facts["pgaudit"]["settings"] = dict((name, system[name]["value"]) for name in facts["pgaudit"]["settings"])
    facts["pgaudit"].update(
        package=audit_facts.package_of(os.path.join(facts["pkglibdir"], "pgaudit.so"), module.run_command),
        extension_versions=per_database(per_db, "pgaudit_version"),
        settings_by_scope=server["settings_by_scope"],
        system_log=server["system_log"],
    )
    facts.update(
        databases=sorted(per_db),
        unreachable_databases=unreachable,
        closed_databases=server["closed_databases"],
    )
    if not full:
        return facts
    facts.update(who_is_audited(session, server, names, per_db))
    facts.update(
        weakening=server["weakening"],
        unreached_role_settings=server["unreached_role_settings"],
        logging=server["logging"],
        set_user=dict(
            available_version=server["set_user_available"],
            preloaded=library_listed(facts["shared_preload_libraries"], "set_user", facts["pkglibdir"]),
            databases=sorted(db for db in per_db if per_db[db]["set_user_version"]),
        ),
        trail=dict(schema=params["trail_schema"], databases=per_database(per_db, "trail")),
        lockdown=dict(
            superusers=server["superusers"],
            parameter_grants=server["parameter_grants"],
            databases=per_database(per_db, "lockdown", bool),
        ),
        hash_chain=dict(
            enabled=any(per_db[db]["hash_chain"]["enabled"] for db in per_db),
            databases=per_database(per_db, "hash_chain"),
        ),
        # The audit vault's slots (docs/vault.md); a standby has none of its own.
        replication=dict(
            databases=per_database(per_db, "replication"),
            vault_slots=[] if facts["in_recovery"] else vault_slots.read_slots(session),
        ),
        backup=dict(databases=per_database(per_db, "backup", bool)),
        write_rates=dict(databases=per_database(per_db, "write_rates")),
        object_audit=dict(
            role=facts["pgaudit"]["settings"].get("pgaudit.role") or None,
            databases=per_database(per_db, "object_audit", bool),
        ),
        application_events=dict(databases=per_database(per_db, "application_events", bool)),
    )
    for db in sorted(per_db):
        for warning in per_db[db]["replication"]["warnings"]:
            module.warn("Database %s: %s" % (db, warning))
    for warning in vault_slots.slot_warnings(facts["replication"]["vault_slots"]):
        module.warn(warning)
    return facts


def run(module, full=True):
    """The audit_info module: every fact, read on read-only connections. With ``full`` false
    (audit_plan's evidence=false, the roles' read) only what the roles plan from: the server's
    facts, preload, pgaudit (with each database's extension version), databases,
    unreachable_databases and closed_databases."""
    session = postgres.open_session(module, autocommit=True)
    try:
        read_only(session)
        facts, current = gather(session)
        facts = evidence(module, session, facts, current, full)
    except postgres.psycopg.Error as exc:
        module.fail_json(msg="PostgreSQL refused a read: %s" % str(exc).strip())
    finally:
        session.close()
    return dict(facts, changed=False)
