"""Who is audited, and who can switch auditing off, read by audit_info and checked against real
sessions.

Issue 16 §1: for every combination of scopes (system, ALTER ROLE ALL, database, role, role in
database, a NOLOGIN group role's value, ``none`` at one scope, the reading role's own value),
audit_info's effective value for a login in a database is what ``SHOW`` prints in a new session
of that login there. Issue 16 §4: real roles in each way of switching auditing off, and one in
none, each confirmed by trying it.

The hosts are the session's shared ones: one database and one login per case, dropped at the
end, and the system values put back.
"""

import time

import pytest
from pgaudit_testlib import Objects, ensure_pgaudit_loaded, run_as, succeeded

SYSTEM_LOG = "ddl, role"

# name: (statements, with {db} {login} {group} {other}; expected pgaudit.log, its source,
#        pgaudit.log_relation's source). ALTER ROLE ALL sets pgaudit.log_relation = on for every case.
CASES = {
    "system": ("", SYSTEM_LOG, "system", "all_roles"),
    "database": (
        "ALTER DATABASE {db} SET pgaudit.log = 'read'; ALTER DATABASE {db} SET pgaudit.log_relation = off",
        "read",
        "database",
        "database",
    ),
    "role": ("ALTER ROLE {login} SET pgaudit.log = 'WRITE,ddl'", "WRITE,ddl", "role", "all_roles"),
    "role-in-database": (
        "ALTER ROLE {login} IN DATABASE {db} SET pgaudit.log = 'function'",
        "function",
        "role_in_database",
        "all_roles",
    ),
    "role-in-another-database": (
        "ALTER ROLE {login} IN DATABASE {other} SET pgaudit.log = 'none'",
        SYSTEM_LOG,
        "system",
        "all_roles",
    ),
    "all-four": (
        "ALTER DATABASE {db} SET pgaudit.log = 'read'; ALTER ROLE {login} SET pgaudit.log = 'write';"
        " ALTER ROLE {login} IN DATABASE {db} SET pgaudit.log = 'misc, ddl';"
        " ALTER ROLE {login} SET pgaudit.log_relation = 'false'",
        "misc, ddl",
        "role_in_database",
        "role",
    ),
    "group-role": ("ALTER ROLE {group} SET pgaudit.log = 'all'", SYSTEM_LOG, "system", "all_roles"),
    "none-at-one-scope": (
        "ALTER DATABASE {db} SET pgaudit.log = 'all'; ALTER ROLE {login} SET pgaudit.log = 'none'",
        "none",
        "role",
        "all_roles",
    ),
}


def reload_and_wait(pg, name, value):
    pg.psql("SELECT pg_reload_conf()")
    for _attempt in range(50):
        if pg.psql("SELECT setting FROM pg_settings WHERE name = '%s'" % name, db="template1") == value:
            return
        time.sleep(0.1)
    raise AssertionError("%s did not become %r after the reload" % (name, value))


@pytest.fixture(scope="module")
def policy(pg_all):
    """Every case set up on one host, read by audit_info once: (host, {case: (login, db)}, facts)."""
    pg = pg_all
    ensure_pgaudit_loaded(pg)
    made = Objects(pg)
    before = pg.psql("SELECT setting FROM pg_file_settings WHERE name = 'pgaudit.log' ORDER BY seqno DESC LIMIT 1")
    pg.psql("ALTER SYSTEM SET pgaudit.log = '%s'" % SYSTEM_LOG)
    reload_and_wait(pg, "pgaudit.log", SYSTEM_LOG)
    pg.psql("ALTER ROLE ALL SET pgaudit.log_relation = on")
    cases = {}
    try:
        group = made.role("pgt_group")
        other = made.database("pgt_other")
        for name, (statements, _log, _source, _relation) in CASES.items():
            login, db = made.role("pgt_login", login=True), made.database("pgt_case")
            if name == "group-role":
                pg.psql('GRANT "%s" TO "%s"' % (group, login))
            if statements:
                pg.psql(
                    statements.format(db='"%s"' % db, login='"%s"' % login, group='"%s"' % group, other='"%s"' % other)
                )
            cases[name] = (login, db)
        rights = switch_off_roles(pg, made)
        # The reading role's own value in the database audit_info connects to: not the system's.
        reader_db = cases["system"][1]
        pg.psql("ALTER ROLE postgres IN DATABASE \"%s\" SET pgaudit.log = 'none'" % reader_db)
        databases = sorted(db for _login, db in cases.values()) + [other, rights["db"]]
        facts = succeeded(pg.module("audit_info", dict(databases=databases, login_db=reader_db, verify_chain=False)))
        assert facts["unreachable_databases"] == {}
        yield pg, cases, group, facts, rights
    finally:
        pg.psql("ALTER ROLE ALL RESET pgaudit.log_relation")
        pg.psql("ALTER SYSTEM SET pgaudit.log = '%s'" % before if before else "ALTER SYSTEM RESET pgaudit.log")
        reload_and_wait(pg, "pgaudit.log", before or "none")
        made.drop()


def cell_of(facts, login, db):
    return next(c for c in facts["effective_policy"]["logins"] if (c["login"], c["database"]) == (login, db))


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_effective_value_is_what_a_session_of_the_login_shows(policy, case):
    pg, cases, _group, facts, _rights = policy
    login, db = cases[case]
    _statements, log, source, relation_source = CASES[case]
    cell = cell_of(facts, login, db)
    shown = run_as(pg, login, db, "SHOW pgaudit.log; SHOW pgaudit.log_relation").splitlines()
    assert [cell["settings"]["pgaudit.log"], cell["settings"]["pgaudit.log_relation"]] == shown
    assert (cell["sources"]["pgaudit.log"], cell["sources"]["pgaudit.log_relation"]) == (source, relation_source)
    # Flagged where it logs less than the system value, and only there.
    dropped = {"database": ["ddl", "role"], "role": ["role"], "role-in-database": ["ddl", "role"],
               "all-four": ["role"], "none-at-one-scope": ["ddl", "role"]}  # fmt: skip
    assert cell["classes_dropped"] == dropped.get(case, [])


def test_a_group_roles_setting_is_flagged_with_the_login_member_it_misses(policy):
    _pg, cases, group, facts, _rights = policy
    login, db = cases["group-role"]
    assert cell_of(facts, login, db)["not_inherited"] == [dict(role=group, settings={"pgaudit.log": "all"})]
    unreached = [u for u in facts["unreached_role_settings"] if u["role"] == group]
    assert [u["login_members"] for u in unreached] == [[login]]


def test_the_system_value_is_not_the_reading_roles_own(policy):
    pg, cases, _group, facts, _rights = policy
    _login, db = cases["system"]
    assert facts["pgaudit"]["system_log"] == SYSTEM_LOG
    assert facts["pgaudit"]["settings"]["pgaudit.log"] == SYSTEM_LOG
    assert facts["effective_policy"]["system"]["pgaudit.log"]["via"] == "ALTER SYSTEM"
    reader = cell_of(facts, "postgres", db)
    assert reader["settings"]["pgaudit.log"] == pg.psql("SHOW pgaudit.log", db=db) == "none"
    assert reader["sources"]["pgaudit.log"] == "role_in_database" and reader["superuser"]
    # ALTER ROLE ALL is a scope of its own: listed, and compared with the system value.
    assert [e["target"] for e in facts["pgaudit"]["settings_by_scope"] if e["scope"] == "all_roles"] == ["ALL"]


# --- who can switch auditing off (issue 16 §4) -------------------------------------------------


def switch_off_roles(pg, made):
    """One login in each way of switching auditing off, and one in none: {key: role name, db}."""
    r = dict((key, made.role("pgt_" + key, login=True)) for key in (
        "su", "become", "inherit_only", "setter", "tuned", "rls", "repl", "owner", "nobody"))  # fmt: skip
    r.update(admins=made.role("pgt_admins"), tuners=made.role("pgt_tuners"), readers=made.role("pgt_readers"))
    q = dict((key, '"%s"' % name) for key, name in r.items())
    pg.psql(
        "ALTER ROLE {su} SUPERUSER; ALTER ROLE {admins} SUPERUSER; GRANT {admins} TO {become};"
        " GRANT SET ON PARAMETER pgaudit.log TO {setter};"
        " GRANT SET ON PARAMETER pgaudit.log_level TO {tuners}; GRANT {tuners} TO {tuned};"
        " ALTER ROLE {rls} BYPASSRLS; ALTER ROLE {repl} REPLICATION; GRANT {readers} TO {nobody}".format(**q)
    )
    # PostgreSQL 16+: a member without the SET option inherits the superuser role's privileges but
    # cannot SET ROLE to it, and so never is a superuser. Before 16 every member can.
    option = " WITH SET FALSE" if pg.major >= 16 else ""
    pg.psql("GRANT {admins} TO {inherit_only}".format(**q) + option)
    r["db"] = made.database("pgt_owned")
    pg.psql(
        "CREATE TABLE public.ledger (id int PRIMARY KEY); ALTER TABLE public.ledger OWNER TO %s" % q["owner"],
        db=r["db"],
    )
    succeeded(pg.module("audit_trail", {"database": r["db"], "tables": ["public.ledger"]}))
    return r


def test_each_way_of_switching_auditing_off_is_listed_and_works(policy):
    pg, _cases, _group, facts, r = policy
    found = {}
    for item in facts["can_switch_off"]:
        found.setdefault(item["role"], []).append((item["kind"], item["via"], item["database"], item["what"]))
    expected = {
        "su": [("superuser", [], None, [])],
        "become": [("becomes_superuser", [r["admins"]], None, [])],
        "inherit_only": [] if pg.major >= 16 else [("becomes_superuser", [r["admins"]], None, [])],
        "setter": [("set_parameter", [], None, ["pgaudit.log"])],
        "tuned": [("set_parameter", [r["tuners"]], None, ["pgaudit.log_level"])],
        "rls": [("bypassrls", [], None, [])],
        "repl": [("replication", [], None, [])],
        "owner": [("owns_audited_tables", [], r["db"], ["public.ledger"])],
        "nobody": [],
    }
    assert dict((key, found.get(r[key], [])) for key in expected) == expected
    # What the list says, sessions of those logins really can do; the others cannot.
    assert (
        run_as(pg, r["become"], "postgres", "SET ROLE %s; SET pgaudit.log = 'none'; SHOW pgaudit.log" % r["admins"])
        == "none"
    )
    assert run_as(pg, r["setter"], "postgres", "SET pgaudit.log = 'none'; SHOW pgaudit.log") == "none"
    assert run_as(pg, r["tuned"], "postgres", "SET pgaudit.log_level = 'notice'; SHOW pgaudit.log_level") == "notice"
    for key in ("nobody", "tuned"):
        with pytest.raises(AssertionError, match="permission denied"):
            run_as(pg, r[key], "postgres", "SET pgaudit.log = 'none'")
    if pg.major >= 16:
        with pytest.raises(AssertionError, match="permission denied"):
            run_as(pg, r["inherit_only"], "postgres", "SET ROLE %s" % r["admins"])
