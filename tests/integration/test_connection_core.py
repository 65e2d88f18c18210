"""The connection core against a real server: it connects, reports, and fails clearly."""


def test_audit_info_reads_the_running_server(pg):
    result = pg.module("audit_info")
    assert not result["failed"], result.get("msg")
    assert result["changed"] is False
    assert result["major"] == pg.major
    assert result["config_file"] == "/etc/postgresql/%d/main/postgresql.conf" % pg.major
    assert result["pkglibdir"] == pg.psql("SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'")
    library = "/usr/lib/postgresql/%d/lib/pgaudit.so" % pg.major
    assert result["pgaudit"]["library_file"] == (pg.sh("test -e " + library, check=False).returncode == 0)


def test_check_mode_reads_the_same(pg):
    assert pg.module("audit_info", check_mode=True)["major"] == pg.major


def test_an_unknown_database_is_named_in_the_error(pg):
    result = pg.module("audit_info", {"login_db": "no_such_db"})
    assert result["failed"]
    assert "Unable to connect to database 'no_such_db'" in result["msg"]
    assert 'database "no_such_db" does not exist' in result["msg"]


def test_a_wrong_password_is_never_echoed(pg):
    pg.psql("ALTER ROLE postgres PASSWORD 'right-one'")
    result = pg.module("audit_info", {"login_host": "127.0.0.1", "login_password": "Wr0ng-Secret"}, become_user=None)
    assert result["failed"]
    assert "Wr0ng-Secret" not in result["msg"]
    assert "password authentication failed" in result["msg"]


def test_a_host_without_psycopg_gets_the_install_hint(pg):
    pg.sh("apt-get remove -y -qq python3-psycopg >/dev/null")
    try:
        result = pg.module("audit_info")
    finally:
        pg.sh("apt-get install -y -qq python3-psycopg >/dev/null")
    assert result["failed"]
    assert "python3-psycopg" in result["msg"]
    assert "Failed to import the required Python library" in result["msg"]
