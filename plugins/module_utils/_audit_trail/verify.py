# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""Verifying the audit log's hash chain: seal what waits, walk the chain, compare the head.

The SQL is the chain's (sql_chain.py: seal_chain() and verify_chain()); this is what the
chain_verify module does with it: check the declared head, seal the rows waiting (in a
transaction of its own, committed before the walk), call verify_chain() in a read-only
transaction, and shape its row (pure, unit-tested).

Every wait for a lock is bounded (``lock_timeout``): a session holding a lock on the trail's
tables (only their owner and superusers can take one that stops the sealer) makes the module
fail in that time, naming the sessions that blocked it, seen through ``pg_blocking_pids()`` by
a watcher on a second connection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import threading

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.names import SEAL_FUNCTION, VERIFY_FUNCTION
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_chain import SEAL_NOW
from ansible_collections.pgtrail.audit.plugins.module_utils.identifiers import render

_HASH = re.compile(r"^[0-9a-fA-F]{64}$")

HAS_CHAIN = """
SELECT EXISTS (SELECT FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
                WHERE n.nspname = %(schema)s AND p.proname = %(verify)s) AS verifier,
       EXISTS (SELECT FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
                WHERE n.nspname = %(schema)s AND p.proname = %(seal)s) AS sealer
"""

VERIFY = "SELECT * FROM {function}(%s, %s)"
LOCK_TIMEOUT = "SET LOCAL lock_timeout = {}"
BLOCKERS = """
SELECT a.pid, a.usename::text AS role, a.application_name, a.backend_type, a.state,
       pg_catalog.left(a.query, 200) AS query
  FROM pg_catalog.pg_stat_activity AS a
 WHERE a.pid = ANY (pg_catalog.pg_blocking_pids(%s))
 ORDER BY a.pid
"""
# Seconds a run waits before it looks for the sessions blocking it (most runs end sooner).
WATCH_AFTER = 1.0
WATCH_EVERY = 0.2


class ChainError(Exception):
    """Input or state the module refuses, with the reason (and the sessions that blocked it)."""

    def __init__(self, message, blockers=None):
        Exception.__init__(self, message)
        self.blockers = blockers or []


class Watcher(threading.Thread):
    """Polls pg_blocking_pids() of one backend on a connection of its own, until stopped."""

    def __init__(self, connect, pid):
        threading.Thread.__init__(self)
        self.daemon = True
        self.connect, self.pid = connect, pid
        self.stopped = threading.Event()
        self.blockers = []

    def run(self):
        if self.stopped.wait(WATCH_AFTER):
            return
        conn = self.connect()
        if conn is None:  # the main connection reports what matters
            return
        try:
            with conn.cursor(row_factory=postgres.dict_row) as cur:
                while not self.stopped.is_set():
                    cur.execute(BLOCKERS, [self.pid])
                    rows = cur.fetchall()
                    if rows:
                        self.blockers = rows
                    self.stopped.wait(WATCH_EVERY)
        except Exception:
            pass
        finally:
            conn.close()


def describe_blockers(blockers):
    """Who blocked a run, in words (pure)."""
    if not blockers:
        return "no blocking session was seen"
    return "; ".join(
        "pid %s (role %s, application %r, %s, %s: %s)"
        % (b["pid"], b["role"], b["application_name"] or "", b["backend_type"], b["state"], b["query"])
        for b in blockers
    )


def bounded(session, lock_timeout, connect, what, run):
    """``run()`` in the current transaction, waiting at most ``lock_timeout`` seconds for a lock;
    ChainError naming the blockers when it waited longer."""
    sql = postgres.sql
    session.query(sql.SQL(LOCK_TIMEOUT).format(sql.Literal("%ds" % lock_timeout)))
    watcher = Watcher(connect, session.conn.info.backend_pid) if connect else None
    if watcher:
        watcher.start()
    try:
        return run()
    except postgres.psycopg.errors.LockNotAvailable:
        blockers = list(watcher.blockers) if watcher else []
        raise ChainError(
            "%s waited %d second(s) (lock_timeout) for a lock and gave up; blocked by %s"
            % (what, lock_timeout, describe_blockers(blockers)),
            blockers,
        )
    finally:
        if watcher:
            watcher.stopped.set()
            watcher.join()


def check_expected_head(head):
    """(seq, hash) from an expected_head option ({seq, hash}, hash optional), or ValueError."""
    if head is None:
        return None, None
    if not isinstance(head, dict) or "seq" not in head:
        raise ValueError("expected_head must be a dictionary with seq (and hash), as chain_verify returns it in head")
    try:
        seq = int(head["seq"])
    except (TypeError, ValueError):
        raise ValueError("expected_head.seq must be a whole number, got %r" % (head["seq"],))
    if seq < 0:
        raise ValueError("expected_head.seq must be 0 or more, got %d" % seq)
    digest = head.get("hash")
    if digest is not None and not _HASH.match(str(digest)):
        raise ValueError("expected_head.hash must be 64 hexadecimal digits (a SHA-256), got %r" % (digest,))
    return seq, (str(digest).lower() if digest is not None else None)


def shape(row, sealed):
    """The module's result from verify_chain()'s row."""
    broken = None
    if not row["ok"]:
        broken = dict(id=row["broken_id"], seq=row["broken_seq"], expected=row["expected"], found=row["found"])
    if row["ok"]:
        first = row["head_seq"] - row["checked"] + 1
        reason = "the chain verifies: %d sealed row(s), positions %d to %d" % (row["checked"], first, row["head_seq"])
        if row["unsealed"]:
            reason += "; %d row(s) not sealed yet" % row["unsealed"]
    else:
        reason = row["reason"]
    return dict(
        ok=bool(row["ok"]),
        checked=row["checked"],
        broken=broken,
        head=dict(seq=row["head_seq"], hash=row["head_hash"]),
        unsealed=row["unsealed"],
        sealed=sealed,
        reason=reason,
    )


def verify(session, schema, expected_head=None, seal=True, lock_timeout=30, connect=None):
    """Seal (outside check mode, when asked), then verify; returns the module's result.

    ``connect()`` opens a second connection for the watcher that names blocking sessions."""
    sql = postgres.sql
    try:
        expected_seq, expected_hash = check_expected_head(expected_head)
    except ValueError as exc:
        raise ChainError(str(exc))
    if lock_timeout < 1:
        raise ChainError("lock_timeout must be 1 second or more, got %r" % (lock_timeout,))
    found = session.query(HAS_CHAIN, dict(schema=schema, verify=VERIFY_FUNCTION, seal=SEAL_FUNCTION))[0]
    if not found["verifier"] or not found["sealer"]:
        raise ChainError(
            "schema %s has no hash chain (no %s()): turn it on with pgtrail.audit.audit_trail's hash_chain: true"
            % (render(schema), render(schema, VERIFY_FUNCTION))
        )
    sealed = 0
    if seal and not session.module.check_mode:
        # Its own transaction: the sealer's lock (the chain head's row) is held only while sealing.
        with session.conn.transaction():
            statement = sql.SQL(SEAL_NOW).format(seal=sql.Identifier(schema, SEAL_FUNCTION))
            sealed = bounded(
                session, lock_timeout, connect, "Sealing", lambda: session.query(statement, record=True)[0]["sealed"]
            )
    with session.conn.transaction():
        session.query("SET TRANSACTION READ ONLY")
        statement = sql.SQL(VERIFY).format(function=sql.Identifier(schema, VERIFY_FUNCTION))
        row = bounded(
            session,
            lock_timeout,
            connect,
            "Verifying",
            lambda: session.query(statement, [expected_seq, expected_hash], record=True)[0],
        )
    result = shape(row, sealed)
    result["changed"] = bool(sealed) or bool(seal and session.module.check_mode and row["unsealed"])
    result["executed_queries"] = list(session.executed_queries)
    return result


def run(module):
    """The chain_verify module: verify the chain of ``module.params["database"]``, then exit the
    module with the result (or fail it, naming the sessions that blocked it)."""
    database = module.params["database"]
    session = postgres.open_session(module, dbname=database, autocommit=True)
    try:
        result = verify(
            session,
            module.params["schema"],
            module.params["expected_head"],
            module.params["seal"],
            module.params["lock_timeout"],
            lambda: postgres.try_connect(module, dbname=database, autocommit=True)[0],
        )
    except ChainError as exc:
        module.fail_json(
            msg="Database %s: %s" % (database, exc),
            changed=False,
            blockers=[dict(b) for b in exc.blockers],
            executed_queries=session.executed_queries,
        )
    except postgres.psycopg.Error as exc:
        ran = session.executed_queries
        module.fail_json(
            msg="PostgreSQL refused %s in database %s: %s"
            % (ran[-1] if ran else "a query reading the catalog", database, str(exc).strip()),
            changed=False,
            executed_queries=ran,
        )
    finally:
        session.close()
    module.exit_json(**result)
