"""Helpers for the pgaudit module tests: pgaudit loaded, unique objects, sessions as a role, AUDIT lines.

The containers are shared with other test modules of the session: these helpers create objects
with unique names, drop only what they created, and leave pgaudit installed and loaded.
"""

import contextlib
import time
import uuid

from testbed import docker

PASSWORD = "Audit-Test-1"


def unique(prefix):
    return "%s_%s" % (prefix, uuid.uuid4().hex[:8])


def running_libraries(pg):
    return [entry.strip().strip('"') for entry in pg.psql("SHOW shared_preload_libraries").split(",") if entry.strip()]


def restart(pg):
    pg.sh("systemctl restart postgresql@%d-main" % pg.major)
    for _attempt in range(30):
        if pg.sh("pg_isready -q", check=False).returncode == 0:
            return
        time.sleep(1)
    raise AssertionError("PostgreSQL %d did not come back after the restart" % pg.major)


def set_libraries(pg, libraries):
    if libraries:
        pg.psql("ALTER SYSTEM SET shared_preload_libraries = %s" % ", ".join("'%s'" % lib for lib in libraries))
    else:
        # An empty string would be written as '""', a library the server cannot find.
        pg.psql("ALTER SYSTEM RESET shared_preload_libraries")


def ensure_pgaudit_loaded(pg):
    """Install the package and, unless the running server has it, preload it and restart."""
    pg.sh("apt-get install -y -qq postgresql-%d-pgaudit >/dev/null" % pg.major)
    libraries = running_libraries(pg)
    if "pgaudit" not in libraries:
        set_libraries(pg, libraries + ["pgaudit"])
        restart(pg)
    assert "pgaudit" in running_libraries(pg)
    return pg.psql("SELECT default_version FROM pg_available_extensions WHERE name = 'pgaudit'")


@contextlib.contextmanager
def pgaudit_unloaded(pg):
    """The server restarted without pgaudit for the block, then with it again (even on failure)."""
    libraries = running_libraries(pg)
    set_libraries(pg, [lib for lib in libraries if lib != "pgaudit"])
    restart(pg)
    try:
        assert "pgaudit" not in running_libraries(pg)
        yield
    finally:
        set_libraries(pg, libraries if "pgaudit" in libraries else libraries + ["pgaudit"])
        restart(pg)


class Objects:
    """Databases and roles one test module creates, dropped again at its end."""

    def __init__(self, pg):
        self.pg = pg
        self.databases = []
        self.roles = []

    def database(self, prefix="pgt_db", template="template0"):
        name = unique(prefix)
        self.pg.psql('CREATE DATABASE "%s" TEMPLATE %s' % (name, template))
        self.databases.append(name)
        return name

    def role(self, prefix="pgt_role", login=False):
        name = unique(prefix)
        if login:
            self.pg.psql("CREATE ROLE \"%s\" LOGIN PASSWORD '%s'" % (name, PASSWORD))
        else:
            self.pg.psql('CREATE ROLE "%s"' % name)
        self.roles.append(name)
        return name

    def adopt_role(self, name):
        """A role a module created for the test: dropped at the end too."""
        if name not in self.roles:
            self.roles.append(name)

    def drop(self):
        for name in self.databases:
            self.pg.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name, check=False)
        for name in self.roles:
            self.pg.psql('DROP ROLE IF EXISTS "%s"' % name, check=False)


def run_as(pg, role, database, statement):
    """Run SQL in a new session logged in as role (over TCP, so role and database settings apply)."""
    result = docker(
        "exec",
        "-i",
        "-e",
        "PGPASSWORD=%s" % PASSWORD,
        pg.name,
        "psql",
        "-XAtq",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-U",
        role,
        "-d",
        database,
        input=statement,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError("psql as %s in %s failed: %s" % (role, database, result.stderr))
    return result.stdout.strip()


def log_lines(pg, marker, kind="AUDIT: "):
    """Server log lines holding both kind and marker (waits briefly for the log to be written)."""
    path = "/var/log/postgresql/postgresql-%d-main.log" % pg.major
    lines = []
    for _attempt in range(5):
        out = pg.sh("grep -F -- '%s' %s | grep -F -- '%s' || true" % (kind, path, marker)).stdout
        lines = [line for line in out.splitlines() if line.strip()]
        if lines:
            break
        time.sleep(0.2)
    return lines


def db_role_settings(pg, database=None, role=None):
    """The setconfig of one pg_db_role_setting row as a dict ({} when there is none)."""
    db_cond = "s.setdatabase = 0" if database is None else "d.datname = '%s'" % database
    role_cond = "s.setrole = 0" if role is None else "r.rolname = '%s'" % role
    out = pg.psql(
        "SELECT unnest(s.setconfig) FROM pg_db_role_setting s "
        "LEFT JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole "
        "WHERE %s AND %s" % (db_cond, role_cond)
    )
    return dict(line.split("=", 1) for line in out.splitlines() if line)


def staged(pg, prefix="pgaudit."):
    """Staged values (last row per name in pg_file_settings) of the names starting with prefix."""
    out = pg.psql(
        "SELECT DISTINCT ON (name) name || '=' || setting || '|' FROM pg_file_settings "
        "WHERE name LIKE '%s%%' ORDER BY name, seqno DESC" % prefix
    )
    # The '|' keeps trailing spaces of a value (psql output is stripped).
    return dict(line[:-1].split("=", 1) for line in out.splitlines() if line)


def succeeded(result):
    assert not result["failed"], result.get("msg")
    return result


def chain_v2_merged():
    """Whether chain v2 is in this tree (chain_verify takes a signed checkpoint's size and root)."""
    import yaml

    from ansible_collections.pgtrail.audit.plugins.modules import chain_verify

    return "checkpoint" in yaml.safe_load(chain_verify.DOCUMENTATION)["options"]
