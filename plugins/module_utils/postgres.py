# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one connection and quoting core shared by every pgtrail.audit module.

Modules build SQL with psycopg's ``sql`` objects only (``sql.Identifier`` for names,
``sql.Literal`` or parameters for values) and run it through :class:`Session`, which records
every statement as ``executed_queries`` and, in check mode, records without running
statements that would change something.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    import psycopg
    from psycopg import sql
    from psycopg.rows import dict_row

    HAS_PSYCOPG = True
    PSYCOPG_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the target
    psycopg = None
    sql = None
    dict_row = None
    HAS_PSYCOPG = False
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()

SSL_MODES = ["allow", "disable", "prefer", "require", "verify-ca", "verify-full"]


def connection_argument_spec(**options):
    """Options every module shares, documented once in the ``connection`` doc fragment, then the
    module's own ``options``."""
    spec = dict(
        login_user=dict(type="str", default="postgres", aliases=["login"]),
        login_password=dict(type="str", default="", no_log=True),
        login_host=dict(type="str", default=""),
        login_unix_socket=dict(type="str", default=""),
        port=dict(type="int", default=5432, aliases=["login_port"]),
        login_db=dict(type="str", default="postgres"),
        ssl_mode=dict(type="str", default="prefer", choices=SSL_MODES),
        ca_cert=dict(type="path", aliases=["ssl_rootcert"]),
        connect_timeout=dict(type="int", default=10),
        connect_params=dict(type="dict", default={}),
    )
    spec.update(options)
    return spec


def connection_kwargs(params, dbname=None):
    """Keyword arguments for ``psycopg.connect`` from module params (pure; unit-tested).

    An empty login_host means the local unix socket, which login_unix_socket may name.
    """
    kwargs = {
        "user": params["login_user"],
        "dbname": dbname or params["login_db"],
        "port": params["port"],
        "connect_timeout": params["connect_timeout"],
        "application_name": "pgtrail.audit",
    }
    host = params.get("login_host") or params.get("login_unix_socket")
    if host:
        kwargs["host"] = host
    if params.get("login_password"):
        kwargs["password"] = params["login_password"]
    if params.get("login_host"):
        # sslmode only makes sense over TCP; libpq ignores it on a socket anyway.
        kwargs["sslmode"] = params["ssl_mode"]
        if params.get("ca_cert"):
            kwargs["sslrootcert"] = params["ca_cert"]
    kwargs.update(params.get("connect_params") or {})
    return kwargs


def describe_target(kwargs):
    """A human description of where we connect, never including the password."""
    where = kwargs.get("host") or "the local socket"
    return "database %r as %r on %s port %s" % (kwargs.get("dbname"), kwargs.get("user"), where, kwargs.get("port"))


def require_psycopg(module):
    if not HAS_PSYCOPG:
        module.fail_json(
            msg=missing_required_lib("psycopg (version 3; Debian: python3-psycopg)"),
            exception=PSYCOPG_IMPORT_ERROR,
        )


def connect(module, dbname=None, autocommit=False):
    """Open a psycopg connection from module params or fail the module with a clear message."""
    require_psycopg(module)
    kwargs = connection_kwargs(module.params, dbname)
    try:
        return psycopg.connect(autocommit=autocommit, **kwargs)
    except psycopg.Error as exc:
        module.fail_json(msg="Unable to connect to %s: %s" % (describe_target(kwargs), str(exc).strip()))


def try_connect(module, dbname=None, autocommit=False):
    """Like :func:`connect`, but return ``(connection, None)`` or ``(None, message)``.

    For modules that can also work while the server is down (editing files offline).
    """
    require_psycopg(module)
    kwargs = connection_kwargs(module.params, dbname)
    try:
        return psycopg.connect(autocommit=autocommit, **kwargs), None
    except psycopg.Error as exc:
        return None, "Unable to connect to %s: %s" % (describe_target(kwargs), str(exc).strip())


class Session:
    """One connection for one module run, recording what it runs.

    ``query`` always runs (reads); ``change`` runs only outside check mode (writes). Both
    append the rendered statement to ``executed_queries`` so users see the exact SQL.
    """

    def __init__(self, module, conn):
        self.module = module
        self.conn = conn
        self.executed_queries = []

    def _render(self, statement, params=None):
        if isinstance(statement, str):
            statement = sql.SQL(statement)
        text = statement.as_string(self.conn)
        if params:
            text = "%s -- %r" % (text, tuple(params) if not isinstance(params, dict) else params)
        return statement, text

    def query(self, statement, params=None, record=False):
        """Run a read; returns rows as dicts. Reads are recorded only when asked."""
        statement, text = self._render(statement, params)
        if record:
            self.executed_queries.append(text)
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def change(self, statement, params=None):
        """Run a write unless in check mode; always recorded."""
        statement, text = self._render(statement, params)
        self.executed_queries.append(text)
        if self.module.check_mode:
            return
        with self.conn.cursor() as cur:
            cur.execute(statement, params)

    def scalar(self, statement, params=None):
        rows = self.query(statement, params)
        if not rows:
            return None
        return next(iter(rows[0].values()))

    def close(self):
        self.conn.close()


def open_session(module, dbname=None, autocommit=False):
    return Session(module, connect(module, dbname=dbname, autocommit=autocommit))


def converge_in_one_transaction(module, database, converge, refusal):
    """Run ``converge(session, module.params)`` on ``database`` in one transaction, then exit the
    module with its result (:func:`run_in_one_transaction`)."""
    module.exit_json(**run_in_one_transaction(module, database, converge, refusal))


def run_in_one_transaction(module, database, converge, refusal):
    """The result of ``converge(session, module.params)`` run on ``database`` in one transaction,
    its warnings given to ``module.warn``. A ``refusal`` (an exception with ``problems``) or a
    PostgreSQL error fails the module, and the transaction's rollback leaves the database as it was."""
    session = open_session(module, dbname=database, autocommit=True)
    try:
        with session.conn.transaction():
            result = converge(session, module.params)
    except refusal as exc:
        module.fail_json(
            msg="Nothing was changed in database %s: %d problem(s): %s" % (database, len(exc.problems), exc),
            problems=exc.problems,
            changed=False,
            executed_queries=[],
        )
    except psycopg.Error as exc:
        ran = session.executed_queries
        module.fail_json(
            msg="PostgreSQL refused %s: %s; nothing was changed in database %s (the transaction was rolled back)"
            % (ran[-1] if ran else "a query reading the catalog", str(exc).strip(), database),
            changed=False,
            executed_queries=ran,
        )
    finally:
        session.close()
    for warning in result.pop("warnings", []):
        module.warn(warning)
    if not module._diff:
        result.pop("diff")
    return result


# What every module asks of the server it talks to; readable by any role.
SERVER_FACTS = """
SELECT pg_catalog.current_setting('server_version') AS server_version,
       pg_catalog.current_setting('server_version_num')::int AS server_version_num,
       pg_catalog.pg_is_in_recovery() AS in_recovery,
       CURRENT_USER::text AS user_name,
       pg_catalog.current_setting('is_superuser') = 'on' AS is_superuser,
       pg_catalog.current_database()::text AS database
"""


def server_facts(session):
    """{server_version, server_version_num, major, in_recovery, current_user, is_superuser,
    database} of the server ``session`` is connected to: the one server-facts read of every module."""
    row = session.query(SERVER_FACTS)[0]
    return dict(
        server_version=row["server_version"],
        server_version_num=row["server_version_num"],
        major=row["server_version_num"] // 10000,
        in_recovery=row["in_recovery"],
        current_user=row["user_name"],
        is_superuser=row["is_superuser"],
        database=row["database"],
    )
