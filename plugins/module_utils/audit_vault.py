# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit vault: the trail's log copied, forward-only, to a PostgreSQL host the audited hosts
cannot write to (docs/vault.md).

Three jobs, one per module: on a source, a publication of the log that publishes inserts only
and a replication login that may read the log and nothing else (:func:`run_source`); on the
vault, one database per source database with a copy of the log that only the vault owner may
change (recorded), and the subscription that fills it (:func:`run_store`); and the comparison of
a source's log with the vault's copy, by id (:func:`run_compare`). Planning is pure; the SQL is
composed with psycopg's ``sql`` module only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import hmac

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres
from ansible_collections.pgtrail.audit.plugins.module_utils.postgres import psycopg, sql

LOG = "audit_log"
OWNER_ACTIONS = "vault_owner_actions"
CHECKPOINTS = "checkpoints"
GUARD = "vault_guard"
# A column the vault adds to its copy of the log: when the row arrived (the vault's lag).
RECEIVED = "vault_received_at"
# Session settings under which both ends print a row the same way (the comparison hashes text).
SAME_TEXT = "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex"


# ---------------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------------


def slot_name(database_oid):
    """The replication slot of a source database: slot names are cluster-wide on the source and
    allow only [a-z0-9_], so the database's oid names it, not its name."""
    return "pgtrail_vault_%d" % database_oid


def scram_matches(verifier, password):
    """Whether a stored SCRAM-SHA-256 verifier (``pg_authid.rolpassword``) is ``password``'s, so an
    unchanged password is not set again (RFC 5802 / 7677, as PostgreSQL stores it)."""
    try:
        method, rest = verifier.split("$", 1)
        iterations_salt, keys = rest.split("$", 1)
        iterations, salt = iterations_salt.split(":", 1)
        stored_key, _server_key = keys.split(":", 1)
    except (AttributeError, ValueError):
        return False
    if method != "SCRAM-SHA-256":
        return False
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), base64.b64decode(stored_key))


def publication_steps(current, schema):
    """The steps ('create' | 'set_options' | 'set_table') that make the publication publish the
    log, inserts only, through the partition root; ``current`` is its pg_publication row with
    ``tables`` (qualified names), or None. Raises ValueError for a FOR ALL TABLES publication of
    that name (it cannot be narrowed; drop it or choose another name)."""
    if current is None:
        return ["create"]
    if current["puballtables"]:
        raise ValueError(
            "publication %s is FOR ALL TABLES: it would carry every table, not only the log; "
            "drop it or choose another publication name" % current["pubname"]
        )
    steps = []
    options = (current["pubinsert"], current["pubupdate"], current["pubdelete"], current["pubtruncate"])
    if options != (True, False, False, False) or not current["pubviaroot"]:
        steps.append("set_options")
    if sorted(current["tables"]) != ["%s.%s" % (schema, LOG)]:
        steps.append("set_table")
    return steps


def column_steps(wanted, current):
    """(columns to add, problems) to bring the vault's copy of the log to the source's columns;
    both are lists of {name, type}. A column of another type is a problem (the copy keeps its
    rows; a type change is for the operator to decide), a column the source dropped is kept."""
    have = dict((c["name"], c["type"]) for c in current)
    add, problems = [], []
    for column in wanted:
        if column["name"] == RECEIVED:
            problems.append("the source's log has a column named %s, which the vault adds itself" % RECEIVED)
        elif column["name"] not in have:
            add.append(column)
        elif have[column["name"]] != column["type"]:
            problems.append(
                "column %s is %s in the vault and %s on the source"
                % (column["name"], have[column["name"]], column["type"])
            )
    return add, problems


def compare_streams(vault_rows, source_rows, limit):
    """Merge two id-ordered streams of (id, hash) and say how they differ (pure).

    Returns {vault_rows, source_rows, missing_on_source, altered_on_source, not_in_vault,
    duplicated_in_vault}: ids listed up to ``limit`` each, with the counts under ``counts``.
    """
    found = dict(missing_on_source=[], altered_on_source=[], not_in_vault=[], duplicated_in_vault=[])
    counts = dict((key, 0) for key in found)
    seen = dict(vault=0, source=0)

    def note(kind, row_id):
        counts[kind] += 1
        if len(found[kind]) < limit:
            found[kind].append(row_id)

    vault_iter, source_iter = iter(vault_rows), iter(source_rows)
    vault, source = next(vault_iter, None), next(source_iter, None)
    last_vault_id = None
    while vault is not None or source is not None:
        if vault is not None and (source is None or vault[0] < source[0]):
            seen["vault"] += 1
            if vault[0] == last_vault_id:
                note("duplicated_in_vault", vault[0])
            else:
                note("missing_on_source", vault[0])
            last_vault_id = vault[0]
            vault = next(vault_iter, None)
        elif source is not None and (vault is None or source[0] < vault[0]):
            seen["source"] += 1
            note("not_in_vault", source[0])
            source = next(source_iter, None)
        else:
            seen["vault"] += 1
            seen["source"] += 1
            if vault[1] != source[1]:
                note("altered_on_source", vault[0])
            last_vault_id = vault[0]
            vault, source = next(vault_iter, None), next(source_iter, None)
            # The same id again in the vault (a copy made twice) is a duplicate, not a deletion.
            while vault is not None and vault[0] == last_vault_id:
                seen["vault"] += 1
                note("duplicated_in_vault", vault[0])
                vault = next(vault_iter, None)
    return dict(found, counts=counts, vault_rows=seen["vault"], source_rows=seen["source"])


def describe_compare(result):
    """One sentence for the comparison's result."""
    counts = result["counts"]
    parts = []
    for key, words in (
        ("missing_on_source", "in the vault but missing on the source"),
        ("altered_on_source", "altered on the source"),
        ("duplicated_in_vault", "held twice in the vault"),
    ):
        if counts[key]:
            parts.append("%d row(s) %s (ids %s)" % (counts[key], words, ", ".join(str(i) for i in result[key])))
    if not parts:
        text = "every row of the vault's copy is on the source, unchanged"
    else:
        text = "; ".join(parts)
    if counts["not_in_vault"]:
        text += "; %d row(s) of the source not in the vault yet" % counts["not_in_vault"]
    return text


# ---------------------------------------------------------------------------------------------
# SQL
# ---------------------------------------------------------------------------------------------

ROLE = """
SELECT rolname, rolcanlogin, rolreplication, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolpassword,
       ARRAY(SELECT m.roleid::regrole::text FROM pg_catalog.pg_auth_members AS m WHERE m.member = a.oid) AS member_of
  FROM pg_catalog.pg_authid AS a WHERE rolname = %s
"""

PUBLICATION = """
SELECT p.pubname, p.puballtables, p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate, p.pubviaroot,
       ARRAY(SELECT t.schemaname || '.' || t.tablename FROM pg_catalog.pg_publication_tables AS t
              WHERE t.pubname = p.pubname) AS tables
  FROM pg_catalog.pg_publication AS p WHERE p.pubname = %s
"""

COLUMNS = """
SELECT a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_catalog.pg_attribute AS a
 WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
"""

SUBSCRIPTION = """
SELECT s.subname, s.subenabled, s.subconninfo, s.subslotname, s.subpublications
  FROM pg_catalog.pg_subscription AS s
 WHERE s.subname = %s AND s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
"""

# The guard of the vault's tables: a statement trigger, ENABLE ALWAYS (the apply worker runs in
# replica mode), refusing UPDATE, DELETE and TRUNCATE to every role but the owner (a superuser
# too: it must SET ROLE to the owner), and recording what the owner does. SECURITY INVOKER:
# current_user is who runs the statement.
GUARD_BODY = """
BEGIN
    IF current_user <> TG_ARGV[0] THEN
        RAISE EXCEPTION 'pgtrail.audit vault: % on %.% is refused to %; only % may change the vault',
            TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, current_user, TG_ARGV[0]
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO {schema}.{actions} (session_user_name, command, table_name, statement)
    VALUES (session_user, TG_OP, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, pg_catalog.current_query());
    RETURN NULL;
END
"""
GUARD_FUNCTION = (
    "CREATE OR REPLACE FUNCTION {schema}.{guard}() RETURNS trigger LANGUAGE plpgsql"
    " SET search_path = pg_catalog, pg_temp AS {body}"
)
GUARD_SOURCE = """
SELECT p.prosrc FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
 WHERE n.nspname = %s AND p.proname = %s AND p.pronargs = 0
"""

OWNER_ACTIONS_TABLE = """
CREATE TABLE {schema}.{actions} (
    at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    session_user_name text NOT NULL,
    command text NOT NULL,
    table_name text NOT NULL,
    statement text
)
"""

# The chain's signed checkpoints (docs/chain-v2.md, section 3), kept write-once like the log.
CHECKPOINTS_TABLE = """
CREATE TABLE {schema}.{checkpoints} (
    origin text NOT NULL,
    block bigint NOT NULL,
    note text NOT NULL,
    signed_at timestamptz,
    stored_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
)
"""

TABLES = """
SELECT c.relname, pg_catalog.pg_get_userbyid(c.relowner) AS owner,
       EXISTS (SELECT FROM pg_catalog.pg_trigger AS t
                WHERE t.tgrelid = c.oid AND t.tgname = %s AND t.tgenabled = 'A' AND t.tgnargs = 1
                  AND t.tgargs = pg_catalog.convert_to(%s, 'UTF8') || '\\x00'::bytea) AS guarded
  FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
 WHERE n.nspname = %s AND c.relkind IN ('r', 'p')
"""

# The slots of the sources, for audit_info: how far behind the vault is, and what WAL it holds.
SLOTS = """
SELECT s.slot_name, s.database, s.active, s.wal_status,
       s.safe_wal_size,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::bigint AS retained_bytes,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint AS lag_bytes,
       (SELECT r.replay_lag FROM pg_catalog.pg_stat_replication AS r WHERE r.pid = s.active_pid)::text AS lag_time,
       pg_catalog.current_setting('max_slot_wal_keep_size') AS max_slot_wal_keep_size
  FROM pg_catalog.pg_replication_slots AS s
 WHERE s.slot_type = 'logical' AND s.slot_name LIKE 'pgtrail\\_vault\\_%'
 ORDER BY s.slot_name
"""


def _ident(*parts):
    return sql.Identifier(*parts)


class Refused(Exception):
    def __init__(self, problems):
        Exception.__init__(self, "; ".join(problems))
        self.problems = problems


# ---------------------------------------------------------------------------------------------
# The source
# ---------------------------------------------------------------------------------------------


def ensure_login(session, user, password):
    """The vault's replication login: LOGIN REPLICATION and nothing else (no superuser, no role
    membership); its password set again only when it differs. Returns (problems, created)."""
    rows = session.query(ROLE, [user])
    password_literal = sql.Literal(password)
    if not rows:
        session.change(sql.SQL("CREATE ROLE {} LOGIN REPLICATION PASSWORD {}").format(_ident(user), password_literal))
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
        session.change(sql.SQL("ALTER ROLE {} " + " ".join(attributes)).format(_ident(user)))
    if not scram_matches(role["rolpassword"], password):
        session.change(sql.SQL("ALTER ROLE {} PASSWORD {}").format(_ident(user), password_literal))
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
    table = _ident(schema, LOG)
    rows = session.query(PUBLICATION, [publication])
    try:
        steps = publication_steps(rows[0] if rows else None, schema)
    except ValueError as exc:
        raise Refused([str(exc)])
    options = sql.SQL("publish = 'insert', publish_via_partition_root = true")
    for step in steps:
        if step == "create":
            session.change(
                sql.SQL("CREATE PUBLICATION {} FOR TABLE {} WITH ({})").format(_ident(publication), table, options)
            )
        elif step == "set_options":
            session.change(sql.SQL("ALTER PUBLICATION {} SET ({})").format(_ident(publication), options))
        else:
            session.change(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(_ident(publication), table))
    # What the initial copy needs, nothing more: the log alone, read-only.
    if new_login or not session.scalar("SELECT has_database_privilege(%s, current_database(), 'CONNECT')", [user]):
        session.change(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(_ident(session_db(session)), _ident(user)))
    if new_login or not session.scalar("SELECT has_schema_privilege(%s, %s, 'USAGE')", [user, schema]):
        session.change(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(_ident(schema), _ident(user)))
    if new_login or not session.scalar("SELECT has_table_privilege(%s, %s::oid, 'SELECT')", [user, log_oid]):
        session.change(sql.SQL("GRANT SELECT ON TABLE {} TO {}").format(table, _ident(user)))
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


# ---------------------------------------------------------------------------------------------
# The vault
# ---------------------------------------------------------------------------------------------


def conninfo(params):
    """The subscription's connection string: the inventory's part and the vault's login."""
    return psycopg.conninfo.make_conninfo(
        params["conninfo"], dbname=params["source_database"], user=params["user"], password=params["password"]
    )


def ensure_owner(session, owner, readers):
    problems = []
    rows = session.query(ROLE, [owner])
    if not rows:
        session.change(sql.SQL("CREATE ROLE {} NOLOGIN").format(_ident(owner)))
    elif rows[0]["rolcanlogin"]:
        problems.append("the vault owner %s can log in: it must be a NOLOGIN role (SET ROLE to it)" % owner)
    for reader in readers:
        if not session.query(ROLE, [reader]):
            problems.append("reader role %s does not exist" % reader)
    return problems


def ensure_database(session, database, owner, readers):
    row = session.query(
        "SELECT pg_catalog.pg_get_userbyid(datdba) AS owner FROM pg_catalog.pg_database WHERE datname = %s", [database]
    )
    db = _ident(database)
    if not row:
        session.change(sql.SQL("CREATE DATABASE {} OWNER {}").format(db, _ident(owner)))
        session.change(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
        for reader in readers:
            session.change(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, _ident(reader)))
        return True
    if row[0]["owner"] != owner:
        session.change(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(db, _ident(owner)))
    public = session.scalar(
        "SELECT count(*) FROM pg_catalog.pg_database AS d,"
        " aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) AS a"
        " WHERE d.datname = %s AND a.grantee = 0",
        [database],
    )
    if public:
        session.change(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
    for reader in readers:
        if not session.scalar("SELECT has_database_privilege(%s, %s, 'CONNECT')", [reader, database]):
            session.change(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, _ident(reader)))
    return False


def ensure_store(session, params, new_database):
    """Schema, tables, guard and grants of one vault database, in its session's transaction."""
    schema, owner, readers = params["schema"], params["owner"], params["reader_roles"]
    s, o = _ident(schema), _ident(owner)
    names = dict(
        schema=s,
        guard=_ident(GUARD),
        actions=_ident(OWNER_ACTIONS),
        checkpoints=_ident(CHECKPOINTS),
        owner=sql.Literal(owner),
    )
    problems = []
    exists = new_database or session.scalar("SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = %s", [schema])
    if new_database or not exists:
        session.change(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(s, o))
    tables = (
        {}
        if new_database or not exists
        else dict((r["relname"], r) for r in session.query(TABLES, [GUARD, owner, schema]))
    )
    # The guard is the same text everywhere; the owner it lets through is its trigger's argument.
    body = sql.SQL(GUARD_BODY).format(**names).as_string(session.conn)
    if new_database or session.scalar(GUARD_SOURCE, [schema, GUARD]) != body:
        session.change(sql.SQL(GUARD_FUNCTION).format(body=sql.Literal(body), **names))
        session.change(sql.SQL("ALTER FUNCTION {}.{}() OWNER TO {}").format(s, names["guard"], o))
        session.change(sql.SQL("REVOKE ALL ON FUNCTION {}.{}() FROM PUBLIC").format(s, names["guard"]))
    wanted = [dict(name=c["name"], type=c["type"]) for c in params["columns"]]
    if LOG not in tables:
        columns = sql.SQL(", ").join(sql.SQL("{} {}").format(_ident(c["name"]), sql.SQL(c["type"])) for c in wanted)
        session.change(
            sql.SQL("CREATE TABLE {}.{} ({}, {} timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp())").format(
                s, _ident(LOG), columns, _ident(RECEIVED)
            )
        )
        session.change(sql.SQL("CREATE INDEX ON {}.{} (id)").format(s, _ident(LOG)))
    else:
        add, problems = column_steps(
            wanted, session.query(COLUMNS, [sql.Identifier(schema, LOG).as_string(session.conn)])
        )
        for column in add:
            session.change(
                sql.SQL("ALTER TABLE {}.{} ADD COLUMN {} {}").format(
                    s, _ident(LOG), _ident(column["name"]), sql.SQL(column["type"])
                )
            )
    for table, statement in ((OWNER_ACTIONS, OWNER_ACTIONS_TABLE), (CHECKPOINTS, CHECKPOINTS_TABLE)):
        if table not in tables:
            session.change(sql.SQL(statement).format(**names))
    for table in (LOG, OWNER_ACTIONS, CHECKPOINTS):
        t = _ident(schema, table)
        row = tables.get(table)
        if row is None or row["owner"] != owner:
            session.change(sql.SQL("ALTER TABLE {} OWNER TO {}").format(t, o))
        if row is None or not row["guarded"]:
            if row is not None:
                session.change(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(names["guard"], t))
            session.change(
                sql.SQL(
                    "CREATE TRIGGER {} BEFORE UPDATE OR DELETE OR TRUNCATE ON {}"
                    " FOR EACH STATEMENT EXECUTE FUNCTION {}.{}({})"
                ).format(names["guard"], t, s, names["guard"], names["owner"])
            )
            session.change(sql.SQL("ALTER TABLE {} ENABLE ALWAYS TRIGGER {}").format(t, names["guard"]))
        for reader in readers:
            if row is None or not session.scalar(
                "SELECT has_table_privilege(%s, %s, 'SELECT')", [reader, t.as_string(session.conn)]
            ):
                session.change(sql.SQL("GRANT SELECT ON TABLE {} TO {}").format(t, _ident(reader)))
    for reader in readers:
        if not exists or not session.scalar("SELECT has_schema_privilege(%s, %s, 'USAGE')", [reader, schema]):
            session.change(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, _ident(reader)))
    return problems


def ensure_subscription(session, params, new_database):
    """The subscription of one vault database (outside a transaction: CREATE SUBSCRIPTION makes
    the slot on the source)."""
    name = _ident(params["subscription"])
    wanted = conninfo(params)
    rows = [] if new_database else session.query(SUBSCRIPTION, [params["subscription"]])
    if not rows:
        session.change(
            sql.SQL(
                "CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} WITH (slot_name = {}, copy_data = true)"
            ).format(name, sql.Literal(wanted), _ident(params["publication"]), sql.Literal(params["slot_name"]))
        )
        return dict(created=True)
    sub = rows[0]
    if sub["subconninfo"] != wanted:
        session.change(sql.SQL("ALTER SUBSCRIPTION {} CONNECTION {}").format(name, sql.Literal(wanted)))
    if list(sub["subpublications"]) != [params["publication"]]:
        session.change(sql.SQL("ALTER SUBSCRIPTION {} SET PUBLICATION {}").format(name, _ident(params["publication"])))
    if sub["subslotname"] != params["slot_name"]:
        raise Refused(
            [
                "subscription %s uses slot %s, not %s: drop it (DROP SUBSCRIPTION) to let the vault make it again"
                % (params["subscription"], sub["subslotname"], params["slot_name"])
            ]
        )
    if not sub["subenabled"]:
        session.change(sql.SQL("ALTER SUBSCRIPTION {} ENABLE").format(name))
    return dict(created=False)


def _redact(queries, password):
    return [q.replace(password, "********") if password else q for q in queries]


def run_store(module):
    """The vault_store module's one call."""
    params = module.params
    database = params["database"]
    if len(database.encode("utf-8")) > 63:
        module.fail_json(
            msg="the vault database name %r is longer than 63 bytes (PostgreSQL would cut it): give the source a "
            "shorter name in the vault (pgtrail_vault_name)" % database,
            changed=False,
        )
    if not params["columns"] and not module.check_mode:
        module.fail_json(msg="no columns: the source's log is not built yet (run the audit_triggers role first)")
    main = postgres.open_session(module, autocommit=True)
    queries = []
    try:
        problems = ensure_owner(main, params["owner"], params["reader_roles"])
        if problems:
            module.fail_json(msg="Nothing was changed: %s" % "; ".join(problems), changed=False)
        new_database = ensure_database(main, database, params["owner"], params["reader_roles"])
        queries.extend(main.executed_queries)
    finally:
        main.close()
    problems, subscription = [], dict(created=new_database)
    if new_database and module.check_mode:
        # Nothing to read in a database that does not exist yet: what would run is the whole build.
        queries.append("-- then, in database %s: the schema, the log's copy, its guard and the subscription" % database)
    else:
        session = postgres.open_session(module, dbname=database, autocommit=True)
        try:
            with session.conn.transaction():
                problems = ensure_store(session, params, new_database)
            subscription = ensure_subscription(session, params, new_database)
        except Refused as exc:
            module.fail_json(msg="In database %s: %s" % (database, exc), changed=bool(queries))
        except psycopg.Error as exc:
            module.fail_json(
                msg="PostgreSQL refused a statement in database %s: %s" % (database, str(exc).strip()),
                executed_queries=_redact(queries + session.executed_queries, params["password"]),
            )
        finally:
            session.close()
        queries.extend("%s -- database %s" % (q, database) for q in session.executed_queries)
    for problem in problems:
        module.warn("vault database %s: %s" % (database, problem))
    return dict(
        changed=bool(queries),
        database=database,
        subscription=dict(subscription, name=params["subscription"], slot_name=params["slot_name"]),
        problems=problems,
        executed_queries=_redact(queries, params["password"]),
    )


# ---------------------------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------------------------


def _hashes(conn, schema, columns):
    """(id, md5 of the row's text) of every row of the log, in id order, streamed."""
    statement = sql.SQL("SELECT l.id, pg_catalog.md5(ROW({})::text) FROM {} AS l ORDER BY l.id").format(
        sql.SQL(", ").join(sql.SQL("l.{}").format(_ident(c)) for c in columns), _ident(schema, LOG)
    )
    with conn.cursor(name="pgtrail_vault_compare") as cur:
        cur.itersize = 10000
        cur.execute(statement)
        for row in cur:
            yield row[0], row[1]


def run_compare(module):
    """The vault_compare module's one call: read-only on both ends."""
    params = module.params
    kwargs = postgres.connection_kwargs(params, params["database"])
    kwargs["options"] = SAME_TEXT
    try:
        vault = psycopg.connect(**kwargs)
    except psycopg.Error as exc:
        module.fail_json(
            msg="Unable to connect to the vault's %s: %s" % (postgres.describe_target(kwargs), str(exc).strip())
        )
    try:
        source = psycopg.connect(conninfo(params), options=SAME_TEXT, connect_timeout=params["connect_timeout"])
    except psycopg.Error as exc:
        vault.close()
        module.fail_json(
            msg="Unable to connect to the source database %s: %s" % (params["source_database"], str(exc).strip())
        )
    try:
        for conn in (vault, source):
            conn.read_only = True
        columns = []
        with vault.cursor() as cur:
            cur.execute(COLUMNS, [sql.Identifier(params["schema"], LOG).as_string(vault)])
            vault_columns = [r[0] for r in cur.fetchall()]
        with source.cursor() as cur:
            cur.execute(COLUMNS, [sql.Identifier(params["schema"], LOG).as_string(source)])
            source_columns = set(r[0] for r in cur.fetchall())
        columns = [c for c in vault_columns if c in source_columns and c != RECEIVED]
        result = compare_streams(
            _hashes(vault, params["schema"], columns), _hashes(source, params["schema"], columns), params["limit"]
        )
    except psycopg.Error as exc:
        module.fail_json(
            msg="Comparing the source database %s with the vault failed: %s"
            % (params["source_database"], str(exc).strip())
        )
    finally:
        vault.close()
        source.close()
    counts = result["counts"]
    result["ok"] = not (counts["missing_on_source"] or counts["altered_on_source"] or counts["duplicated_in_vault"])
    result["reason"] = describe_compare(result)
    result["columns"] = columns
    return dict(result, changed=False)


def read_slots(session):
    """The vault slots of a source, for audit_info (the server-wide part)."""
    slots = []
    for row in session.query(SLOTS):
        slot = dict(row)
        slot["lost"] = row["wal_status"] == "lost"
        slots.append(slot)
    return slots


def slot_warnings(slots):
    warnings = []
    for slot in slots:
        if slot["lost"]:
            warnings.append(
                "vault slot %s (database %s) is lost: max_slot_wal_keep_size dropped WAL the vault had not read; "
                "the vault's copy has a gap from then on: re-create its subscription"
                % (slot["slot_name"], slot["database"])
            )
        elif not slot["active"]:
            warnings.append(
                "vault slot %s (database %s) is inactive and retains %s bytes of WAL"
                " (capped by max_slot_wal_keep_size = %s)"
                % (slot["slot_name"], slot["database"], slot["retained_bytes"], slot["max_slot_wal_keep_size"])
            )
    return warnings
