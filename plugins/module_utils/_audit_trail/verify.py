# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""Verifying the audit log's hash chain: seal what waits, check every row, re-hash the headers.

Chain v2 (docs/chain-v2.md, section 4): the content check is one streaming pass over the log in
SQL this module sends (VERIFY_ROWS), not a function the database holds, which a superuser could
replace with one that says "ok"; the block headers are re-hashed and re-linked here, in Python
(``hashlib``), and the head is compared with a signed checkpoint (size, root) when one is given.
On a chain upgraded from v1, block 0's rows are v1's: v1's verify_chain() walks them (with
``expected_head``, a v1 head exported earlier) and its head must be block 0's root. A log still
on v1 (not upgraded yet) is sealed and verified as v1 did.

Every wait for a lock is bounded (``lock_timeout``): a session holding a lock on the trail's
tables (only their owner and superusers can take one that stops the sealer) makes the module
fail in that time, naming the sessions that blocked it, seen through ``pg_blocking_pids()`` by
a watcher on a second connection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import re
import struct
import threading
import uuid

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.names import (
    CHAIN_BLOCK,
    SEAL_BLOCKS_FUNCTION,
    SEAL_FUNCTION,
    VERIFY_FUNCTION,
    sql_names,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_chain import (
    LEAF,
    ROW_BLOCK,
    ROW_BLOCKS,
    SEAL_NOW,
    V2_ROWS,
)
from ansible_collections.pgtrail.audit.plugins.module_utils.identifiers import render

_HASH = re.compile(r"^[0-9a-fA-F]{64}$")
ZERO_HASH = b"\0" * 32
HEADER_PREFIX = b"pgtrail.audit chain v2"

HAS_CHAIN = """
SELECT EXISTS (SELECT FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
                WHERE n.nspname = %(schema)s AND p.proname = %(verify)s) AS verifier,
       EXISTS (SELECT FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
                WHERE n.nspname = %(schema)s AND p.proname = %(seal)s) AS sealer,
       EXISTS (SELECT FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
                WHERE n.nspname = %(schema)s AND c.relname = %(block)s) AS blocks,
       EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                WHERE a.attrelid = pg_catalog.to_regclass(pg_catalog.quote_ident(%(schema)s) || '.audit_log')
                  AND a.attname = 'chain_seq' AND NOT a.attisdropped) AS v1_rows,
       coalesce((SELECT pg_catalog.bool_or(pg_catalog.has_function_privilege(p.oid, 'EXECUTE'))
                   FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
                  WHERE n.nspname = %(schema)s AND p.proname = %(seal_blocks)s), false) AS can_seal
"""

# The content check: one pass over the log. Each row's block (ROW_BLOCKS): block 0 is "ended
# before the chain" (forged), past the last block is unsealed, before the chain's first block
# (retention dropped part of those blocks) not checked. Each row's leaf
# and rank in (txid, id) order within its block against the leaf stored at that rank; a block
# with fewer rows than it sealed; a block whose leaves do not hash to its root. The first bad
# position, its row and why; rows checked, unsealed, and the age of the oldest unsealed row.
# A block's leaves (32 bytes a row, stored out of line) are read into memory once per block
# (`|| ''`, kept from being inlined by OFFSET 0): substr() of the stored value fetches its TOAST
# chunks again for every row, which took half the check's time (docs/benchmarks.md).
VERIFY_ROWS = """
WITH {row_blocks},
logged AS (
    SELECT l.id, l.txid, l.wall_at, {leaf} AS leaf, {row_block} AS block
      FROM {log} AS l CROSS JOIN bounds LEFT JOIN late ON late.xid = l.txid
     WHERE true{v2_rows}),
placed AS (
    SELECT p.id, p.block, b.first_pos + p.rank - 1 AS pos, b.last_pos,
           p.leaf IS DISTINCT FROM pg_catalog.substr(b.leaves, (p.rank::int - 1) * 32 + 1, 32) AS differs,
           p.leaf = pg_catalog.substr(b.leaves, p.rank::int * 32 + 1, 32) AS shifted,
           p.next_leaf = pg_catalog.substr(b.leaves, (p.rank::int - 1) * 32 + 1, 32) AS inserted
      FROM (SELECT w.id, w.block, w.leaf, pg_catalog.row_number() OVER v AS rank,
                   pg_catalog.lead(w.leaf) OVER v AS next_leaf
              FROM logged AS w CROSS JOIN bounds
             WHERE w.block BETWEEN bounds.first_block AND bounds.last_block
            WINDOW v AS (PARTITION BY w.block ORDER BY w.txid, w.id)) AS p
      JOIN (SELECT k.block, k.first_pos, k.last_pos, k.leaves || ''::bytea AS leaves
              FROM {block} AS k OFFSET 0) AS b ON b.block = p.block),
short AS (
    SELECT b.first_pos + pg_catalog.count(p.id) AS pos
      FROM {block} AS b CROSS JOIN bounds LEFT JOIN placed AS p ON p.block = b.block
     WHERE b.block >= bounds.first_block
     GROUP BY b.block, b.first_pos, b.last_pos
    HAVING b.first_pos + pg_catalog.count(p.id) <= b.last_pos),
bad AS (
    SELECT p.pos, p.id,
           CASE WHEN p.pos > p.last_pos OR p.inserted THEN 'a row was added to a sealed block'
                WHEN p.shifted THEN 'the row sealed at this position is missing: it was deleted'
                ELSE 'the row does not hash to the leaf sealed at its position: it was changed' END AS why
      FROM placed AS p WHERE p.differs
    UNION ALL
    SELECT s.pos, NULL, 'the block has fewer rows than it sealed: rows were deleted' FROM short AS s
    UNION ALL
    SELECT b.first_pos, NULL, 'the leaves of block ' || b.block || ' do not hash to its root'
      FROM {block} AS b WHERE b.block > 0 AND b.root IS DISTINCT FROM pg_catalog.sha256(b.leaves)
    UNION ALL
    SELECT (SELECT b.last_pos FROM {block} AS b WHERE b.block = 0), w.id,
           'a row older than the chain (its transaction ended before block 0): forged'
      FROM logged AS w WHERE w.block = 0)
SELECT (SELECT pg_catalog.count(*) FROM placed) AS checked,
       u.unsealed, u.oldest_unsealed_age, bad.pos AS bad_pos, bad.id AS bad_id, bad.why
  FROM (SELECT pg_catalog.count(*) AS unsealed,
               EXTRACT(epoch FROM pg_catalog.clock_timestamp() - pg_catalog.min(w.wall_at))::float8
                 AS oldest_unsealed_age
          FROM logged AS w CROSS JOIN bounds WHERE w.block > bounds.last_block) AS u
  LEFT JOIN LATERAL (SELECT x.pos, x.id, x.why FROM bad AS x ORDER BY x.pos, x.id LIMIT 1) AS bad ON true
"""

# The headers, in block order, with what block_header() hashes.
HEADERS = """
SELECT b.block, b.first_pos, b.last_pos, b.snap_xmax, b.snap_xip, b.root, b.prev_hash, b.hash,
       (EXTRACT(epoch FROM b.sealed_at) * 1000000)::bigint AS sealed_us, b.chain_id::text AS chain_id
  FROM {block} AS b ORDER BY b.block
"""
# Block 0 of a chain upgraded from v1 seals v1's head.
V1_HEAD = "SELECT h.seq, h.hash FROM {head} AS h"

SEAL_V2 = "SELECT {seal}() AS sealed"
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


def _count(option, value):
    """``value`` as a whole number of 0 or more, or ValueError naming ``option``."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError("%s must be a whole number, got %r" % (option, value))
    if number < 0:
        raise ValueError("%s must be 0 or more, got %d" % (option, number))
    return number


def check_expected_head(head):
    """(seq, hash) from an expected_head option ({seq, hash}, hash optional), or ValueError."""
    if head is None:
        return None, None
    if not isinstance(head, dict) or "seq" not in head:
        raise ValueError("expected_head must be a dictionary with seq (and hash), as chain_verify returns it in head")
    seq = _count("expected_head.seq", head["seq"])
    digest = head.get("hash")
    if digest is not None and not _HASH.match(str(digest)):
        raise ValueError("expected_head.hash must be 64 hexadecimal digits (a SHA-256), got %r" % (digest,))
    return seq, (str(digest).lower() if digest is not None else None)


def check_checkpoint(checkpoint):
    """(size, root bytes) from a checkpoint option ({size, root}: root base64 of a block hash), or
    (None, None); ValueError naming the bad value."""
    if checkpoint is None:
        return None, None
    if not isinstance(checkpoint, dict) or "size" not in checkpoint or "root" not in checkpoint:
        raise ValueError("checkpoint must be a dictionary with size and root (a signed checkpoint's values)")
    size = _count("checkpoint.size", checkpoint["size"])
    try:
        root = base64.b64decode(str(checkpoint["root"]), validate=True)
    except (binascii.Error, ValueError):
        root = b""
    if len(root) != 32:
        raise ValueError("checkpoint.root must be the base64 of a 32-byte SHA-256, got %r" % (checkpoint["root"],))
    return size, root


def block_header(block, first_pos, last_pos, snap_xmax, snap_xip, root, prev_hash, sealed_us, chain_id=None):
    """The hash of a block's header (pure): sql_chain.BLOCK_HASH, in Python."""
    digest = hashlib.sha256(HEADER_PREFIX)
    digest.update(struct.pack(">qqqq", block, first_pos, last_pos, snap_xmax))
    digest.update(("{%s}" % ",".join(str(x) for x in snap_xip)).encode("ascii"))
    digest.update(bytes(root))
    digest.update(bytes(prev_hash))
    digest.update(struct.pack(">q", sealed_us))
    if chain_id:
        digest.update(uuid.UUID(str(chain_id)).bytes)
    return digest.digest()


def origin_of(chain_id):
    """The checkpoint origin of a chain (the note's first line; plugin_utils/checkpoint.py's
    checkpoint_text() writes the note)."""
    return "pgtrail.audit/chain/%s" % chain_id


def check_headers(headers, size=None, root=None):
    """Re-hash and re-link the block headers (dict rows in block order, from block 0), and compare
    with a checkpoint (``size``, ``root`` bytes). Returns (problem, extends): problem None or
    dict(position, id, reason) for the first bad header; extends None without a checkpoint."""
    problem, extends = None, None
    before = None
    for row in headers:
        prev = dict(hash=ZERO_HASH, last_pos=row["first_pos"] - 1, block=-1) if before is None else before
        computed = block_header(
            row["block"],
            row["first_pos"],
            row["last_pos"],
            row["snap_xmax"],
            row["snap_xip"],
            row["root"],
            row["prev_hash"],
            row["sealed_us"],
            row["chain_id"] if row["block"] == 0 else None,
        )
        why = None
        if row["block"] != prev["block"] + 1:
            why = "block %d follows block %d: blocks are missing" % (row["block"], prev["block"])
        elif bytes(row["prev_hash"]) != bytes(prev["hash"]):
            why = (
                "block %d does not link to the block before it (its prev_hash is not that block's hash)"
                % (row["block"])
            )
        elif row["first_pos"] != prev["last_pos"] + 1 or row["last_pos"] < row["first_pos"] - 1:
            why = "block %d holds positions %d to %d after block %d ended at %d" % (
                row["block"],
                row["first_pos"],
                row["last_pos"],
                prev["block"],
                prev["last_pos"],
            )
        elif computed != bytes(row["hash"]):
            why = "the header of block %d does not hash to its hash: the block was changed" % row["block"]
        if why and problem is None:
            problem = dict(position=row["first_pos"], id=None, reason=why)
        if size is not None and row["last_pos"] == size and extends is None:
            extends = bytes(row["hash"]) == root
            if not extends and problem is None:
                problem = dict(
                    position=size,
                    id=None,
                    reason="the block at the checkpoint's size %d has another hash than the checkpoint's root: the "
                    "chain was rewritten at or before position %d" % (size, size),
                )
        before = row
    if size is not None and extends is None:
        extends = False
        end = before["last_pos"] if before else 0
        if size > end:
            reason = (
                "the chain ends at position %d, before the checkpoint's size %d: the rows after it and their blocks "
                "were deleted" % (end, size)
            )
            candidate = dict(position=end + 1, id=None, reason=reason)
        else:
            reason = "no block ends at the checkpoint's size %d: the chain was rewritten at or before it" % size
            candidate = dict(position=size, id=None, reason=reason)
        if problem is None or candidate["position"] < problem["position"]:
            problem = candidate
    return problem, extends


def first_problem(*problems):
    """The problem at the smallest position (None when there is none)."""
    found = [p for p in problems if p]
    return min(found, key=lambda p: p["position"]) if found else None


def _seal(session, schema, lock_timeout, connect, statement):
    """Seal in a transaction of its own (the chain head's row is held only while sealing):
    (rows sealed, why nothing could be sealed or None)."""
    try:
        with session.conn.transaction():
            return (
                bounded(
                    session,
                    lock_timeout,
                    connect,
                    "Sealing",
                    lambda: session.query(statement, record=True)[0]["sealed"],
                ),
                None,
            )
    except postgres.psycopg.errors.RaiseException as exc:
        # seal() refuses after a restore into another cluster: the chain still verifies.
        return 0, str(exc).strip()


def verify_v1(session, schema, expected, found, lock_timeout, connect):
    """A log still on chain v1 (not upgraded yet): seal and verify as v1 did."""
    sql = postgres.sql
    sealed = 0
    if found["seal"] and not session.module.check_mode:
        statement = sql.SQL(SEAL_NOW).format(seal=sql.Identifier(schema, SEAL_FUNCTION))
        sealed = _seal(session, schema, lock_timeout, connect, statement)[0]
    with session.conn.transaction():
        session.query("SET TRANSACTION READ ONLY")
        statement = sql.SQL(VERIFY).format(function=sql.Identifier(schema, VERIFY_FUNCTION))
        row = bounded(
            session,
            lock_timeout,
            connect,
            "Verifying",
            lambda: session.query(statement, list(expected), record=True)[0],
        )
    result = dict(
        ok=bool(row["ok"]),
        checked=row["checked"],
        sealed=sealed,
        unsealed=row["unsealed"],
        oldest_unsealed_age=None,
        broken=None if row["ok"] else dict(position=row["broken_seq"], id=row["broken_id"], reason=row["reason"]),
        extends=None,
        head=dict(
            origin=None,
            size=row["head_seq"],
            root=base64.b64encode(binascii.unhexlify(row["head_hash"])).decode("ascii"),
            block=None,
            seq=row["head_seq"],
            hash=row["head_hash"],
        ),
    )
    if row["ok"]:
        result["reason"] = "the chain (v1, not upgraded to v2 yet) verifies: %d sealed row(s), up to position %d" % (
            row["checked"],
            row["head_seq"],
        )
    else:
        result["reason"] = row["reason"]
    return result


def verify_v1_segment(session, schema, expected):
    """Block 0 of a chain upgraded from v1: v1's walk of its rows, and v1's head = block 0's root.
    (checked, problem)."""
    sql = postgres.sql
    statement = sql.SQL(VERIFY).format(function=sql.Identifier(schema, VERIFY_FUNCTION))
    row = session.query(statement, list(expected), record=True)[0]
    if not row["ok"]:
        return row["checked"], dict(position=row["broken_seq"], id=row["broken_id"], reason=row["reason"])
    return row["checked"], None


def verify(session, schema, expected_head=None, seal=True, lock_timeout=30, connect=None, checkpoint=None):
    """Seal (outside check mode, when asked), then verify; returns the module's result.

    ``connect()`` opens a second connection for the watcher that names blocking sessions."""
    sql = postgres.sql
    try:
        expected = check_expected_head(expected_head)
        size, root = check_checkpoint(checkpoint)
    except ValueError as exc:
        raise ChainError(str(exc))
    if lock_timeout < 1:
        raise ChainError("lock_timeout must be 1 second or more, got %r" % (lock_timeout,))
    found = session.query(
        HAS_CHAIN,
        dict(
            schema=schema,
            verify=VERIFY_FUNCTION,
            seal=SEAL_FUNCTION,
            block=CHAIN_BLOCK,
            seal_blocks=SEAL_BLOCKS_FUNCTION,
        ),
    )[0]
    if not found["blocks"]:
        if found["verifier"] and found["sealer"]:
            if checkpoint is not None:
                raise ChainError(
                    "the chain of schema %s is still v1 (run pgtrail.audit.audit_trail to upgrade it): a checkpoint "
                    "cannot be checked against it" % render(schema)
                )
            result = verify_v1(session, schema, expected, dict(seal=seal), lock_timeout, connect)
            return _finish(session, result, seal)
        raise ChainError(
            "schema %s has no hash chain (no %s): turn it on with pgtrail.audit.audit_trail's hash_chain: true"
            % (render(schema), render(schema, CHAIN_BLOCK))
        )
    sealed, refused = 0, None
    if seal and not found["can_seal"]:
        # A reader (audit_lockdown's reader_roles) verifies; sealing stays the owner's.
        refused = "this login may not run %s() (a reader role); the sealer's service seals" % render(
            schema, SEAL_BLOCKS_FUNCTION
        )
    elif seal and not session.module.check_mode:
        statement = sql.SQL(SEAL_V2).format(seal=sql.Identifier(schema, SEAL_BLOCKS_FUNCTION))
        sealed, refused = _seal(session, schema, lock_timeout, connect, statement)
    with session.conn.transaction():
        session.query("SET TRANSACTION READ ONLY")
        result = bounded(
            session,
            lock_timeout,
            connect,
            "Verifying",
            lambda: check(session, schema, found["v1_rows"], expected, size, root),
        )
    result["sealed"] = sealed
    if refused:
        result["reason"] += "; nothing could be sealed: %s" % refused
    return _finish(session, result, seal)


def check(session, schema, v1_rows, expected=(None, None), size=None, root=None):
    """The read-only check of a chain v2 (run it in one read-only transaction): the content pass,
    the headers, block 0's v1 rows (``v1_rows``, with ``expected``: a v1 head), the checkpoint
    (``size``, ``root`` bytes). Returns the module's result but ``sealed`` (audit_info uses it too)."""
    sql = postgres.sql
    names = sql_names(schema)
    statement = sql.SQL(VERIFY_ROWS).format(
        row_blocks=sql.SQL(ROW_BLOCKS).format(block=names["block"], head=names["head"]),
        block=names["block"],
        log=names["log"],
        leaf=sql.SQL(LEAF),
        row_block=sql.SQL(ROW_BLOCK),
        v2_rows=sql.SQL(V2_ROWS[bool(v1_rows)]),
    )
    row = session.query(statement, record=True)[0]
    headers = session.query(sql.SQL(HEADERS).format(block=names["block"]))
    v1_checked, v1_problem = 0, None
    if v1_rows:
        v1_checked, v1_problem = verify_v1_segment(session, schema, expected)
        head = session.query(sql.SQL(V1_HEAD).format(head=names["head"]))[0]
        zero = headers[0] if headers and headers[0]["block"] == 0 else None
        if (
            v1_problem is None
            and zero
            and (head["seq"], bytes(head["hash"])) != (zero["last_pos"], bytes(zero["root"]))
        ):
            v1_problem = dict(
                position=zero["last_pos"],
                id=None,
                reason="v1's head (position %d) is not what block 0 sealed (position %d): the v1 rows or the "
                "head were changed" % (head["seq"], zero["last_pos"]),
            )
    header_problem, extends = check_headers(headers, size, root)
    rows_problem = None
    if row["bad_pos"] is not None:
        rows_problem = dict(position=row["bad_pos"], id=row["bad_id"], reason=row["why"])
    broken = first_problem(v1_problem, header_problem, rows_problem)
    last = headers[-1] if headers else None
    zero = headers[0] if headers else None
    result = dict(
        ok=broken is None,
        checked=row["checked"] + v1_checked,
        unsealed=row["unsealed"],
        oldest_unsealed_age=row["oldest_unsealed_age"],
        broken=broken,
        extends=extends,
        head=dict(
            origin=origin_of(zero["chain_id"]) if zero else None,
            size=last["last_pos"] if last else 0,
            root=base64.b64encode(bytes(last["hash"])).decode("ascii") if last else None,
            block=last["block"] if last else None,
        ),
    )
    if broken:
        result["reason"] = "position %d%s: %s" % (
            broken["position"],
            " (id %s)" % broken["id"] if broken["id"] is not None else "",
            broken["reason"],
        )
    else:
        result["reason"] = "the chain verifies: %d row(s) up to position %d, block %s" % (
            result["checked"],
            result["head"]["size"],
            result["head"]["block"],
        )
        if extends:
            result["reason"] += "; it extends the checkpoint at size %d" % size
    if row["unsealed"]:
        result["reason"] += "; %d row(s) not sealed yet" % row["unsealed"]
    return result


def _finish(session, result, seal):
    result["changed"] = bool(result["sealed"]) or bool(seal and session.module.check_mode and result["unsealed"])
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
            module.params.get("checkpoint"),
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
