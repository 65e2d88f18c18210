# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""On a source: the vault's replication login and, per trail database, the insert-only
publication of the log (the vault_source module's one call, :func:`run_source`)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_vault.common import (
    COLUMNS,
    LOG,
    ROLE,
    Refused,
    ident,
    slot_name,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_vault.plan import publication_steps, scram_matches
from ansible_collections.pgtrail.audit.plugins.module_utils.postgres import psycopg, sql

PUBLICATION = """
SELECT p.pubname, p.puballtables, p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate, p.pubviaroot,
       ARRAY(SELECT t.schemaname || '.' || t.tablename FROM pg_catalog.pg_publication_tables AS t
              WHERE t.pubname = p.pubname) AS tables
  FROM pg_catalog.pg_publication AS p WHERE p.pubname = %s
"""


def ensure_login(session, user, password):
    """The vault's replication login: LOGIN REPLICATION and nothing else (no superuser, no role
    membership); its password set again only when it differs. Returns (problems, created)."""
    rows = session.query(ROLE, [user])
    password_literal = sql.Literal(password)
    if not rows:
        session.change(sql.SQL("CREATE ROLE {} LOGIN REPLICATION PASSWORD {}").format(ident(user), password_literal))
        return [], True
    role = rows[0]
    if role["rolsuper"] or role["member_of"]:
        return [
            "role %s exists and holds more than the vault needs (superuser or member of %s): "
            "give the vault its own login" % (user, ", ".join(role["member_of"]) or "nothing")
        ], False
    attributes = []
    if not role["rolcanlogin"]:
        attributes.append("LOGIN")
    if not role["rolreplication"]:
        attributes.append("REPLICATION")
    for flag, off in (
        ("rolcreaterole", "NOCREATEROLE"),
        ("rolcreatedb", "NOCREATEDB"),
        ("rolbypassrls", "NOBYPASSRLS"),
    ):
        if role[flag]:
            attributes.append(off)
    if attributes:
        session.change(sql.SQL("ALTER ROLE {} " + " ".join(attributes)).format(ident(user)))
    if not scram_matches(role["rolpassword"], password):
        session.change(sql.SQL("ALTER ROLE {} PASSWORD {}").format(ident(user), password_literal))
    return [], False


def source_database(session, schema, user, publication, new_login=False):
    """Publication, grants and facts of one source database, in its session's transaction.
    Returns {publication, slot_name, columns} or raises Refused. ``new_login``: the login does not
    exist yet (check mode), so it holds nothing."""
    log = "%s.%s" % (schema, LOG)
    log_oid = session.scalar("SELECT to_regclass(%s)::oid", [sql.Identifier(schema, LOG).as_string(session.conn)])
    oid = session.scalar("SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()")
    if log_oid is None and session.module.check_mode:
        # A check run before the trail's first build: the copy's columns are known after it.
        return dict(publication=publication, slot_name=slot_name(oid), columns=[], trail=False)
    if log_oid is None:
        raise Refused(["database %s has no trail log %s (run the audit_trail role first)" % (session_db(session), log)])
    table = ident(schema, LOG)
    rows = session.query(PUBLICATION, [publication])
    try:
        steps = publication_steps(rows[0] if rows else None, schema)
    except ValueError as exc:
        raise Refused([str(exc)])
    options = sql.SQL("publish = 'insert', publish_via_partition_root = true")
    for step in steps:
        if step == "create":
            session.change(
                sql.SQL("CREATE PUBLICATION {} FOR TABLE {} WITH ({})").format(ident(publication), table, options)
            )
        elif step == "set_options":
            session.change(sql.SQL("ALTER PUBLICATION {} SET ({})").format(ident(publication), options))
        else:
            session.change(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(ident(publication), table))
    # What the initial copy needs, nothing more: the log alone, read-only.
    if new_login or not session.scalar("SELECT has_database_privilege(%s, current_database(), 'CONNECT')", [user]):
        session.change(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(ident(session_db(session)), ident(user)))
    if new_login or not session.scalar("SELECT has_schema_privilege(%s, %s, 'USAGE')", [user, schema]):
        session.change(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(ident(schema), ident(user)))
    if new_login or not session.scalar("SELECT has_table_privilege(%s, %s::oid, 'SELECT')", [user, log_oid]):
        session.change(sql.SQL("GRANT SELECT ON TABLE {} TO {}").format(table, ident(user)))
    return dict(
        publication=publication,
        slot_name=slot_name(oid),
        columns=session.query(COLUMNS, [log_oid]),
        trail=True,
    )


def session_db(session):
    return session.conn.info.dbname


def run_source(module):
    """The vault_source module's one call."""
    params = module.params
    main = postgres.open_session(module, autocommit=True)
    databases = {}
    try:
        facts = postgres.server_facts(main)
        if facts["in_recovery"]:
            module.fail_json(msg="this server is a standby: publish the log on its primary", changed=False)
        problems, created = ensure_login(main, params["user"], params["password"])
        if problems:
            module.fail_json(msg="Nothing was changed: %s" % "; ".join(problems), changed=False)
        queries = list(main.executed_queries)
        wal = main.query(
            "SELECT current_setting('wal_level') AS wal_level, current_setting('max_slot_wal_keep_size') AS keep,"
            " current_setting('hba_file') AS hba_file"
        )[0]
        for database in params["databases"]:
            session = postgres.open_session(module, dbname=database, autocommit=True)
            try:
                with session.conn.transaction():
                    databases[database] = source_database(
                        session, params["schema"], params["user"], params["publication"], new_login=created
                    )
            except Refused as exc:
                module.fail_json(msg="Nothing was changed in database %s: %s" % (database, exc), changed=False)
            except psycopg.Error as exc:
                module.fail_json(
                    msg="PostgreSQL refused a statement in database %s: %s (rolled back)"
                    % (database, str(exc).strip()),
                    executed_queries=queries + session.executed_queries,
                )
            finally:
                session.close()
            queries.extend("%s -- database %s" % (q, database) for q in session.executed_queries)
        if params["reload"]:
            main.change("SELECT pg_catalog.pg_reload_conf()")
            queries.append(main.executed_queries[-1])
    finally:
        main.close()
    warnings = []
    if wal["wal_level"] != "logical":
        warnings.append(
            "wal_level is %s, not logical: the vault cannot subscribe until it is set and the server restarted "
            "(the pgaudit role stages it for a vault source)" % wal["wal_level"]
        )
    if wal["keep"] in ("-1", ""):
        warnings.append("max_slot_wal_keep_size is unlimited: a vault that stays down lets WAL fill this host's disk")
    for warning in warnings:
        module.warn(warning)
    return dict(
        changed=bool(queries),
        databases=databases,
        login_created=created,
        hba_file=wal["hba_file"],
        wal_level=wal["wal_level"],
        max_slot_wal_keep_size=wal["keep"],
        executed_queries=queries,
    )
