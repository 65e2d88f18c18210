"""pgtrail.audit.audit_info as evidence: the same real servers in known good and known bad
states, and every compliance check passing, then failing for the reason the bad state gives.

The hosts are shared with the other test modules: databases and roles have unique names and are
dropped at the end; every system-level change (ALTER SYSTEM, a conf.d file, a grant on a
parameter, a restart without pgaudit) is put back before the test ends.
"""

import contextlib
import time

import pytest
from pgaudit_testlib import Objects, ensure_pgaudit_loaded, pgaudit_unloaded, succeeded

from ansible_collections.pgtrail.audit.plugins.plugin_utils.compliance import evaluate

GOOD_SYSTEM = {
    "pgaudit.log": "read, write, role, ddl",
    "pgaudit.log_catalog": "on",
    "pgaudit.log_level": "log",
    "pgaudit.log_parameter": "on",
    "pgaudit.log_statement_once": "off",
    "log_connections": "on",
    "log_disconnections": "on",
    "log_line_prefix": "%m [%p] %q%u@%d %a %h ",
    "log_timezone": "UTC",
    "log_statement": "none",
}

BAD_SYSTEM = {
    "pgaudit.log": "read",
    "pgaudit.log_catalog": "off",
    "pgaudit.log_level": "notice",
    "pgaudit.log_parameter": "off",
    "pgaudit.log_statement_once": "on",
    "log_connections": "off",
    "log_disconnections": "off",
    "log_line_prefix": "%m ",
    "log_timezone": "Europe/Paris",
    "log_statement": "ddl",
}

# A stand-in for the hash chain that another module will install: the columns and a verifier
# with the agreed result row, checking that each row's prev_hash is the previous row's row_hash.
CHAIN = """
ALTER TABLE audit.audit_log ADD COLUMN prev_hash text, ADD COLUMN row_hash text;
CREATE FUNCTION audit.verify_chain()
RETURNS TABLE (ok boolean, checked bigint, broken_id bigint, expected text, found text, head_id bigint,
               head_hash text)
LANGUAGE sql STABLE AS $$
  WITH c AS (SELECT id, prev_hash, row_hash, lag(row_hash, 1, '') OVER (ORDER BY id) AS before
               FROM audit.audit_log WHERE row_hash IS NOT NULL),
       b AS (SELECT * FROM c WHERE prev_hash IS DISTINCT FROM before ORDER BY id LIMIT 1)
  SELECT NOT EXISTS (SELECT FROM b), (SELECT count(*) FROM c), (SELECT id FROM b), (SELECT before FROM b),
         (SELECT prev_hash FROM b), (SELECT max(id) FROM c), (SELECT row_hash FROM c ORDER BY id DESC LIMIT 1)
$$;
INSERT INTO audit.audit_log (kind, table_name, action, prev_hash, row_hash)
VALUES ('event', 'chain', 'A', '', 'h1'), ('event', 'chain', 'B', 'h1', 'h2'), ('event', 'chain', 'C', 'h2', 'h3');
"""


def literal(value):
    return "'%s'" % value.replace("'", "''")


def auto_conf_values(pg, names):
    """What postgresql.auto.conf sets now for names (to put it back afterwards)."""
    out = pg.psql(
        "SELECT name || '=' || setting || '|' FROM pg_file_settings "
        "WHERE sourcefile LIKE '%%/postgresql.auto.conf' AND name IN (%s) ORDER BY seqno"
        % ", ".join(literal(n) for n in names)
    )
    return dict(line[:-1].split("=", 1) for line in out.splitlines() if line)


def reload_and_wait(pg, name, value):
    """Reload, and wait until new sessions see name = value (the postmaster reloads asynchronously)."""
    pg.psql("SELECT pg_reload_conf()")
    for _attempt in range(50):
        # The '|' keeps trailing spaces, which psql's output loses.
        if pg.psql("SELECT current_setting(%s) || '|'" % literal(name))[:-1] == value:
            return
        time.sleep(0.1)
    raise AssertionError("%s did not become %r after the reload" % (name, value))


@contextlib.contextmanager
def system(pg, values):
    """ALTER SYSTEM the values for the block, then put back what postgresql.auto.conf had.

    ``values`` must hold log_line_prefix: the reload is confirmed by watching it.
    """
    before = auto_conf_values(pg, list(values))
    prefix_before = pg.psql("SELECT current_setting('log_line_prefix') || '|'")[:-1]
    for name, value in values.items():
        pg.psql("ALTER SYSTEM SET %s = %s" % (name, literal(value)))
    reload_and_wait(pg, "log_line_prefix", values["log_line_prefix"])
    try:
        yield
    finally:
        for name in values:
            if name in before:
                pg.psql("ALTER SYSTEM SET %s = %s" % (name, literal(before[name])))
            else:
                pg.psql("ALTER SYSTEM RESET %s" % name)
        reload_and_wait(pg, "log_line_prefix", prefix_before)


@pytest.fixture(scope="module")
def estate(pg):
    """A database with pgaudit and an audit trail on public.payments; public.scratch is not audited."""
    ensure_pgaudit_loaded(pg)
    made = Objects(pg)
    db = made.database("pgt_evidence")
    pg.psql(
        "CREATE EXTENSION pgaudit;"
        "CREATE TABLE public.payments (id int PRIMARY KEY, amount numeric);"
        "CREATE TABLE public.scratch (note text)",
        db=db,
    )
    succeeded(pg.module("audit_trail", {"database": db, "tables": ["public.payments"]}))
    yield made, db
    made.drop()


def info(pg, databases, **args):
    return succeeded(pg.module("audit_info", dict(args, databases=databases)))


def verdicts(facts):
    return {r["id"]: r for r in evaluate(facts)}


def test_a_well_configured_server_passes_and_says_where_each_setting_comes_from(pg, estate):
    _made, db = estate
    conf_d = "/etc/postgresql/%d/main/conf.d/pgt-evidence.conf" % pg.major
    pg.sh("printf '# written by test_evidence\\npgaudit.log_relation = on\\n' > %s" % conf_d)
    try:
        with system(pg, GOOD_SYSTEM):
            facts = info(pg, [db])
    finally:
        pg.sh("rm -f %s" % conf_d)
        pg.psql("SELECT pg_reload_conf()")

    checks = verdicts(facts)
    passing = [
        "CIS-3.2", "CIS-3.1.20", "CIS-3.1.21", "CIS-3.1.24", "CIS-3.1.26",
        "STIG-classes", "STIG-log_catalog", "STIG-log_level", "STIG-log_parameter", "STIG-log_statement_once",
        "STIG-preload", "STIG-log_line_prefix",
        "PGT-passwords", "PGT-weakening", "PGT-restart", "PGT-extension", "PGT-trail-always", "PGT-log-lockdown",
        "PGT-pgaudit-set",
    ]  # fmt: skip
    assert {i: checks[i]["reason"] for i in passing if checks[i]["status"] != "pass"} == {}
    # The honest failures of a good server: log_statement none (the password conflict) and no set_user package.
    assert checks["CIS-3.1.25"]["status"] == "fail" and "'none'" in checks["CIS-3.1.25"]["reason"]
    assert checks["CIS-4.8"]["status"] == "fail" and "not installed" in checks["CIS-4.8"]["reason"]
    assert checks["PGT-chain"]["status"] == "not_applicable"

    system_entries = {e["name"]: e for e in facts["pgaudit"]["settings_by_scope"] if e["scope"] == "system"}
    assert system_entries["pgaudit.log"]["value"] == "read, write, role, ddl"
    assert system_entries["pgaudit.log"]["source"]["via"] == "ALTER SYSTEM"
    assert system_entries["pgaudit.log"]["source"]["file"] == facts["data_directory"] + "/postgresql.auto.conf"
    assert system_entries["pgaudit.log_relation"]["source"] == {"file": conf_d, "line": 2, "via": "config file"}

    assert facts["pgaudit"]["package"]["name"] == "postgresql-%d-pgaudit" % pg.major
    assert facts["pgaudit"]["extension_versions"] == {db: facts["pgaudit"]["available_version"]}
    assert facts["preload"]["pgaudit_running"] and facts["preload"]["staged"] == facts["preload"]["running"]
    trail = facts["trail"]["databases"][db]
    assert [(t["table"], t["enable_always"]) for t in trail["audited"]] == [("public.payments", True)]
    assert trail["uncovered"] == ["public.scratch"]
    # (PostgreSQL 17+: also who holds MAINTAIN on the log, test_chain_lock.py)
    assert {k: v for k, v in facts["lockdown"]["databases"][db].items() if k != "lockers"} == {
        "log_table": "audit.audit_log",
        "owner": "postgres",
        "writers": [],
    }
    assert facts["hash_chain"] == {
        "enabled": False,
        "databases": {db: {"enabled": False, "columns": [], "verifier": False}},
    }


def test_a_misconfigured_server_fails_each_check_for_the_reason_it_was_broken(pg, estate):
    made, db = estate
    bare = made.database("pgt_evidence_bare")  # no pgaudit extension, no trail
    weak, writer = made.role("pgt_weak"), made.role("pgt_writer")
    names = dict(bare=bare, weak=weak, db=db, writer=writer)
    pg.psql(
        "ALTER DATABASE \"%(bare)s\" SET pgaudit.log = 'none';"
        'ALTER ROLE "%(weak)s" IN DATABASE "%(db)s" SET pgaudit.log = \'none\';'
        "ALTER ROLE \"%(writer)s\" SET log_statement = 'all';"
        'GRANT SET ON PARAMETER pgaudit.log TO "%(writer)s"' % names
    )
    pg.psql(
        'GRANT USAGE ON SCHEMA audit TO "%(writer)s"; GRANT UPDATE, TRUNCATE ON audit.audit_log TO "%(writer)s";'
        "ALTER TABLE public.payments ENABLE TRIGGER pgtrail_audit_row" % names,
        db=db,
    )
    try:
        with system(pg, BAD_SYSTEM):
            facts = info(pg, [db, bare, "pgt_no_such_database"])
    finally:
        # The good state again, whatever order the tests run in.
        pg.psql(
            'REVOKE SET ON PARAMETER pgaudit.log FROM "%(writer)s";'
            'ALTER ROLE "%(writer)s" RESET log_statement;'
            'ALTER ROLE "%(weak)s" IN DATABASE "%(db)s" RESET pgaudit.log' % names
        )
        pg.psql(
            'REVOKE ALL ON audit.audit_log FROM "%(writer)s"; REVOKE USAGE ON SCHEMA audit FROM "%(writer)s";'
            "ALTER TABLE public.payments ENABLE ALWAYS TRIGGER pgtrail_audit_row" % names,
            db=db,
        )

    checks = verdicts(facts)
    expected = {
        "CIS-3.2": "pgaudit.log = 'read' does not log ddl, write",
        "CIS-3.1.20": "log_connections = 'off': connections are not logged",
        "CIS-3.1.21": "log_disconnections = 'off': disconnections are not logged",
        "CIS-3.1.24": "lacks pid (%p), database (%d), user (%u), application (%a), client (%h or %r)",
        "CIS-3.1.26": "log_timezone = 'Europe/Paris' is not UTC",
        "STIG-classes": "pgaudit.log = 'read' does not log ddl, role, write",
        "STIG-log_catalog": "pgaudit.log_catalog = 'off', the STIG asks for 'on'",
        "STIG-log_level": "pgaudit.log_level = 'notice', the STIG asks for 'log'",
        "STIG-log_parameter": "pgaudit.log_parameter = 'off', the STIG asks for 'on'",
        "STIG-log_statement_once": "pgaudit.log_statement_once = 'on', the STIG asks for 'off'",
        "STIG-log_line_prefix": "log_line_prefix = '%m ' lacks user (%u), database (%d), client (%h or %r)",
        "PGT-passwords": "log_statement = 'ddl'; role %s: log_statement = 'all'" % writer,
        "PGT-weakening": "role_in_database %s@%s: 'none' drops read" % (weak, db),
        "PGT-extension": "the pgaudit extension is not created in %s" % bare,
        "PGT-trail-always": "%s: pgtrail_audit_row on public.payments is ENABLE (origin only" % db,
        "PGT-log-lockdown": "%s: %s holds UPDATE, TRUNCATE on audit.audit_log" % (db, writer),
        "PGT-pgaudit-set": "%s holds SET on pgaudit.log" % writer,
    }
    for check_id, reason in expected.items():
        assert checks[check_id]["status"] == "fail", (check_id, checks[check_id]["reason"])
        assert reason in checks[check_id]["reason"], (check_id, checks[check_id]["reason"])
    # log_statement = 'ddl' satisfies CIS 3.1.25: the price is the password check above.
    assert checks["CIS-3.1.25"]["status"] == "pass"
    assert "database %s: 'none' drops read" % bare in checks["PGT-weakening"]["reason"]

    assert list(facts["unreachable_databases"]) == ["pgt_no_such_database"]
    assert 'database "pgt_no_such_database" does not exist' in facts["unreachable_databases"]["pgt_no_such_database"]
    assert facts["trail"]["databases"][bare] == {"status": "no trail"}
    assert {(w["scope"], w["target"]) for w in facts["weakening"]} >= {
        ("database", bare),
        ("role_in_database", "%s@%s" % (weak, db)),
    }
    assert {"scope": "role", "target": writer, "name": "log_statement", "value": "all"} in facts["logging"]["overrides"]


def test_a_server_that_only_stages_pgaudit_fails_the_preload_checks_and_says_a_restart_is_pending(pg, estate):
    _made, db = estate
    with pgaudit_unloaded(pg):
        running = pg.psql("SHOW shared_preload_libraries")
        staged = [lib.strip() for lib in running.split(",") if lib.strip()] + ["pgaudit"]
        pg.psql("ALTER SYSTEM SET shared_preload_libraries = %s" % ", ".join(literal(lib) for lib in staged))
        facts = info(pg, [db])
    checks = verdicts(facts)

    assert facts["pgaudit"]["loaded"] is False and facts["pgaudit"]["settings"] == {}
    assert facts["preload"]["pgaudit_staged"] is True and facts["preload"]["restart_required"] is True
    for check_id in ("CIS-3.2", "STIG-preload", "STIG-classes"):
        assert checks[check_id]["status"] == "fail"
        assert "staged in shared_preload_libraries but not running" in checks[check_id]["reason"]
    assert checks["STIG-log_catalog"]["reason"].endswith("its settings do not apply")
    assert checks["PGT-restart"]["status"] == "fail"
    assert "shared_preload_libraries is staged as [" in checks["PGT-restart"]["reason"]


def test_the_hash_chain_verifier_is_called_read_only_and_its_verdict_reported(pg, estate):
    _made, db = estate
    pg.psql(CHAIN, db=db)
    intact = info(pg, [db])["hash_chain"]["databases"][db]
    assert intact["enabled"] and intact["columns"] == ["prev_hash", "row_hash"]
    assert intact["verify"]["ok"] is True and intact["verify"]["checked"] == 3
    assert intact["verify"]["head_hash"] == "h3" and intact["verify"]["broken_id"] is None
    assert verdicts(info(pg, [db]))["PGT-chain"]["status"] == "pass"

    pg.psql("UPDATE audit.audit_log SET prev_hash = 'forged' WHERE row_hash = 'h2'", db=db)
    facts = info(pg, [db])
    broken = facts["hash_chain"]["databases"][db]["verify"]
    assert broken["ok"] is False and broken["expected"] == "h1" and broken["found"] == "forged"
    check = verdicts(facts)["PGT-chain"]
    assert check["status"] == "fail" and "expected h1, found forged" in check["reason"]

    # A verifier with fewer columns is read as far as it goes; one that writes is stopped.
    pg.psql(
        "DROP FUNCTION audit.verify_chain();"
        "CREATE FUNCTION audit.verify_chain() RETURNS TABLE (ok boolean, checked bigint) LANGUAGE plpgsql AS $$"
        " BEGIN INSERT INTO audit.audit_log (kind, table_name, action) VALUES ('event', 'x', 'x');"
        " RETURN QUERY SELECT true, 0::bigint; END $$",
        db=db,
    )
    chain = info(pg, [db], verify_chain=True)["hash_chain"]["databases"][db]
    assert "read-only transaction" in chain["error"]
    pg.psql(
        "CREATE OR REPLACE FUNCTION audit.verify_chain() RETURNS TABLE (ok boolean, checked bigint) LANGUAGE sql"
        " AS $$ SELECT true, 7::bigint $$",
        db=db,
    )
    short = info(pg, [db])["hash_chain"]["databases"][db]["verify"]
    assert short["ok"] is True and short["checked"] == 7 and short["head_hash"] is None


def test_check_mode_reads_the_same_evidence(pg, estate):
    _made, db = estate
    checked = succeeded(pg.module("audit_info", {"databases": [db], "verify_chain": False}, check_mode=True))
    assert checked["changed"] is False
    assert checked["trail"]["databases"][db]["status"] == "present"
    assert "verify" not in checked["hash_chain"]["databases"][db]


def test_no_databases_reads_only_the_server(pg):
    facts = info(pg, [])
    assert facts["databases"] == [] and facts["trail"]["databases"] == {}
    assert facts["pgaudit"]["extension_versions"] == {}
    assert "postgres" in facts["lockdown"]["superusers"]


# What the roles read on every run (audit_plan's evidence=false) is what the full read says on
# each fact they plan from, and none of the evidence they do not use.
PLAN_FACTS = ("major", "in_recovery", "data_directory", "config_file", "preload", "databases")
EVIDENCE_ONLY = ("trail", "lockdown", "hash_chain", "replication", "backup", "write_rates", "effective_policy")


@pytest.mark.parametrize("databases", [["postgres"], None], ids=["named", "every-database"])
def test_the_roles_read_without_evidence_says_what_the_full_read_says_about_what_they_plan_from(pg, estate, databases):
    _made, db = estate
    databases = None if databases is None else databases + [db, "pgt_no_such_db"]
    args = dict(trails={db: {"tables": ["public.payments"]}})
    if databases is not None:
        args["databases"] = databases
    full = succeeded(pg.module("audit_plan", args))
    light = succeeded(pg.module("audit_plan", dict(args, evidence=False)))

    for name in PLAN_FACTS:
        assert light[name] == full[name], name
    for name in ("loaded", "available_version", "extension_versions", "package", "settings"):
        assert light["pgaudit"][name] == full["pgaudit"][name], name
    assert light["unreachable_databases"] == full["unreachable_databases"]
    assert light["closed_databases"] == full["closed_databases"]
    assert light["pgaudit"]["extension_versions"][db] is not None
    assert light["plan"] == full["plan"]
    for name in EVIDENCE_ONLY:
        assert name in full and name not in light, name
