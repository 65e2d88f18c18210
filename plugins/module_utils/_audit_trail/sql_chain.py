# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""The hash chain (migration 2, with hash_chain: true): its SQL, installed and run.

Table of contents (``audit`` stands for the trail's schema):

- migration 2: columns ``chain_seq``, ``prev_hash``, ``row_hash`` on ``audit.audit_log``
  (CHAIN_COLUMNS), its indexes ``audit_log_chain_seq`` and ``audit_log_unsealed``
  (CHAIN_INDEXES), the table ``audit.chain_head`` (CHAIN_HEAD_TABLE) and its one row
  (CHAIN_HEAD_ROW), comments (CHAIN_COMMENTS);
- functions (CHAIN_FUNCTIONS): ``audit.seal_chain(wait)`` (SEAL_CHAIN),
  ``audit.seal_chain_at_commit()`` (SEAL_AT_COMMIT), ``audit.verify_chain(expected_seq,
  expected_hash)`` (VERIFY_CHAIN, returning VERIFY_RESULT);
- the deferred constraint trigger ``pgtrail_chain_seal`` on the log (CREATE_CHAIN_TRIGGER);
- statements a run uses: CHAIN_RETENTION, HEAD_EXISTS and CHAIN_LOCK, SEAL_NOW,
  SET_SEALS_IMMEDIATE.

Each log row gets its position in the chain (chain_seq), the previous row's hash (prev_hash)
and its own: row_hash = sha256(prev_hash || canonical(row)), the first row's prev_hash being
32 zero bytes. chain_head holds the last position and hash.

Rows are chained at COMMIT, not at INSERT, so writers never wait for each other: a deferred
constraint trigger on the log calls seal_chain(), which only *tries* to lock the row of
chain_head (FOR UPDATE SKIP LOCKED). Only the trail's owner and superusers can lock that row
(it takes UPDATE on chain_head); an advisory key, which any role can take, would let any
session stop the sealing. The transaction that gets it seals every unsealed row it can see
(others' committed rows and its own), in id order, from the head it reads under the lock with a fresh snapshot (READ
COMMITTED takes one per statement); one that does not get it returns at once, and its rows
are sealed by the holder or the next writer. One sealer at a time extending the head it read
under the lock: no forks and no gaps; the lock is tried, never waited for, after the writer's
own row locks: no deadlocks. chain_seq, assigned under the lock, is the order the verifier
walks. A REPEATABLE READ or SERIALIZABLE transaction does not seal (its snapshot could miss the
last head); its rows are sealed by the next READ COMMITTED writer, or by chain_verify.

The sealing trigger is ENABLE (origin), not ALWAYS: a logical replication worker runs in
replica mode inside a security-restricted operation, where a deferred trigger cannot fire and
would stop the subscription. The rows it applies are sealed by the next local writer or by
chain_verify, like those of a REPEATABLE READ writer.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

SEAL_BATCH = 10000

# The canonical serialisation of a log row ({seq} is its position, the row is "l"): the text of
# a record of its position and every column, timestamps as UTC text through to_char, as UTF-8.
# No session setting (TimeZone, DateStyle, IntervalStyle, extra_float_digits, bytea_output,
# search_path, lc_*) changes it: the other columns are bigint, integer, boolean, text,
# inet and jsonb, whose text output is fixed, and a record's text quotes its fields so that it
# reads back as the same values (one text per row). A record rather than jsonb_build_array():
# the same guarantees at half the cost (jsonb_build_array looks up each argument's type on each
# call), which is what keeps a million-row verification in seconds. A later migration that adds
# a column must keep this text for the rows sealed before it.
CANONICAL_COLUMNS = (
    "l.id", "l.table_name", "l.action", "l.old_data", "l.new_data", "l.actor_id", "{utc:changed_at}", "l.kind",
    "l.schema_name", "l.txid", "{utc:statement_at}", "{utc:wall_at}", "l.login_role",
    "l.effective_role", "l.application_name", "l.client_addr", "l.client_port", "l.resource", "l.success",
    "l.client_ip", "l.user_agent", "l.metadata",
)  # fmt: skip
UTC_TEXT = "pg_catalog.to_char(l.%s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
CANONICAL = "pg_catalog.convert_to(ROW({seq}, %s)::text, 'UTF8')" % ", ".join(
    UTC_TEXT % c[5:-1] if c.startswith("{utc:") else c for c in CANONICAL_COLUMNS
)
# The position in the canonical text: the sealer numbers the rows it seals from the head it
# read; the verifier reads the stored position.
CANONICAL_SEQ = dict(
    seal_chain="head_seq + pg_catalog.row_number() OVER (ORDER BY l.id)",
    verify_chain="l.chain_seq",
)
GENESIS = "pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex')"

SEAL_CHAIN = """
#variable_conflict use_variable
DECLARE
    head_seq bigint;
    head_hash bytea;
    next_hash bytea;
    r record;
    sealed bigint := 0;
    ids bigint[] := '{{}}';
    ats timestamptz[] := '{{}}';
    seqs bigint[] := '{{}}';
    prevs bytea[] := '{{}}';
    hashes bytea[] := '{{}}';
BEGIN
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        RETURN 0;
    END IF;
    IF wait THEN
        SELECT h.seq, h.hash INTO head_seq, head_hash FROM {head} AS h FOR UPDATE;
    ELSE
        SELECT h.seq, h.hash INTO head_seq, head_hash FROM {head} AS h FOR UPDATE SKIP LOCKED;
    END IF;
    IF NOT FOUND THEN
        RETURN 0; -- another sealer holds it (or the head was deleted: verify_chain says so)
    END IF;
    FOR r IN
        SELECT l.id, l.changed_at, head_seq + pg_catalog.row_number() OVER (ORDER BY l.id) AS seq,
               {canonical} AS body
          FROM {log} AS l
         WHERE l.chain_seq IS NULL
         ORDER BY l.id
    LOOP
        next_hash := pg_catalog.sha256(head_hash || r.body);
        ids := pg_catalog.array_append(ids, r.id);
        ats := pg_catalog.array_append(ats, r.changed_at);
        seqs := pg_catalog.array_append(seqs, r.seq);
        prevs := pg_catalog.array_append(prevs, head_hash);
        hashes := pg_catalog.array_append(hashes, next_hash);
        head_seq := r.seq;
        head_hash := next_hash;
        sealed := sealed + 1;
        IF pg_catalog.cardinality(ids) >= {batch} THEN
            UPDATE {log} AS l SET chain_seq = u.seq, prev_hash = u.prev, row_hash = u.hash
              FROM ROWS FROM (pg_catalog.unnest(ids), pg_catalog.unnest(ats), pg_catalog.unnest(seqs),
                                  pg_catalog.unnest(prevs), pg_catalog.unnest(hashes)) AS u(id, at, seq, prev, hash)
             WHERE l.id = u.id AND l.changed_at = u.at AND l.chain_seq IS NULL;
            ids := '{{}}'; ats := '{{}}'; seqs := '{{}}'; prevs := '{{}}'; hashes := '{{}}';
        END IF;
    END LOOP;
    IF sealed > 0 THEN
        UPDATE {log} AS l SET chain_seq = u.seq, prev_hash = u.prev, row_hash = u.hash
          FROM ROWS FROM (pg_catalog.unnest(ids), pg_catalog.unnest(ats), pg_catalog.unnest(seqs),
                              pg_catalog.unnest(prevs), pg_catalog.unnest(hashes)) AS u(id, at, seq, prev, hash)
         WHERE l.id = u.id AND l.changed_at = u.at AND l.chain_seq IS NULL;
        UPDATE {head} AS h SET seq = head_seq, hash = head_hash, sealed_at = pg_catalog.clock_timestamp();
    END IF;
    RETURN sealed;
END
"""

# Fired at COMMIT once per inserted row: the first call seals every row it can (its own among
# them); the others find their row sealed and return at once (a probe of the small partial index
# of unsealed rows).
SEAL_AT_COMMIT = """
BEGIN
    IF EXISTS (SELECT FROM {log} AS l WHERE l.id = NEW.id AND l.changed_at = NEW.changed_at AND l.chain_seq IS NULL)
    THEN
        PERFORM {seal}(false);
    END IF;
    RETURN NULL;
END
"""

# Two streaming passes over the sealed rows from where the chain starts (chain_head.first_seq:
# 1, or past what retention dropped), then the head. The content pass recomputes every
# row_hash (independent per row, so PostgreSQL may spread it over parallel workers); the link
# pass walks the chain in chain_seq order (its index, through a window) and stops at the first
# position missing or doubled, or prev_hash that is not the row_hash before it. The first break
# of either is reported. Then the last row against chain_head, and against the head exported
# earlier (expected_seq, expected_hash), which is what catches a deleted tail. STABLE: every
# statement reads the snapshot of the calling query, whatever commits meanwhile, and it writes
# nothing, so it runs in a read-only transaction too. Hashes are hex text.
VERIFY_CHAIN = """
DECLARE
    genesis CONSTANT bytea := {genesis};
    start_seq bigint;
    start_prev bytea;
    bad record;
    bad_content bigint;
    last_seq bigint;
    last_hash bytea;
    stored_seq bigint;
    stored_hash bytea;
    found_hash bytea;
    found_id bigint;
    -- the column found: in PL/pgSQL that name is the FOUND flag
    found_text text;
BEGIN
    ok := true;
    SELECT h.first_seq, h.first_prev INTO start_seq, start_prev FROM {head} AS h;
    start_seq := coalesce(start_seq, 1);
    start_prev := coalesce(start_prev, genesis);
    SELECT pg_catalog.count(*) INTO unsealed FROM {log} AS l WHERE l.chain_seq IS NULL;
    SELECT l.chain_seq, l.row_hash INTO last_seq, last_hash
      FROM {log} AS l WHERE l.chain_seq >= start_seq ORDER BY l.chain_seq DESC LIMIT 1;
    head_seq := coalesce(last_seq, start_seq - 1);
    last_hash := coalesce(last_hash, start_prev);
    head_hash := pg_catalog.encode(last_hash, 'hex');
    SELECT pg_catalog.min(l.chain_seq) FILTER (WHERE l.row_hash IS DISTINCT FROM
                                                     pg_catalog.sha256(l.prev_hash || {canonical}))
      INTO bad_content
      FROM {log} AS l WHERE l.chain_seq >= start_seq;
    SELECT c.* INTO bad
      FROM (SELECT l.id, l.chain_seq, l.prev_hash, l.row_hash,
                   pg_catalog.row_number() OVER w AS walked,
                   pg_catalog.lag(l.chain_seq, 1, start_seq - 1) OVER w AS before_seq,
                   pg_catalog.lag(l.row_hash, 1, start_prev) OVER w AS before_hash
              FROM {log} AS l
             WHERE l.chain_seq >= start_seq
            WINDOW w AS (ORDER BY l.chain_seq)) AS c
     WHERE c.chain_seq <> c.before_seq + 1 OR c.prev_hash IS DISTINCT FROM c.before_hash
     ORDER BY c.chain_seq
     LIMIT 1;
    IF FOUND AND (bad_content IS NULL OR bad.chain_seq <= bad_content) THEN
        ok := false;
        checked := bad.walked - 1;
        broken_id := bad.id;
        expected := pg_catalog.encode(bad.before_hash, 'hex');
        found_text := pg_catalog.encode(bad.prev_hash, 'hex');
        IF bad.chain_seq > bad.before_seq + 1 THEN
            broken_seq := bad.before_seq + 1;
            reason := pg_catalog.format('position %s is missing: the chain goes from position %s to position %s '
                                        '(id %s); rows were deleted',
                                        broken_seq, bad.before_seq, bad.chain_seq, bad.id);
        ELSIF bad.chain_seq <> bad.before_seq + 1 THEN
            broken_seq := bad.chain_seq;
            reason := pg_catalog.format('position %s appears more than once (id %s): rows were added to the chain',
                                        bad.chain_seq, bad.id);
        ELSE
            broken_seq := bad.chain_seq;
            reason := pg_catalog.format('the row at position %s (id %s) does not link to the row before it: its '
                                        'prev_hash is not that row''s row_hash', bad.chain_seq, bad.id);
        END IF;
        RETURN QUERY SELECT ok, checked, broken_id, broken_seq, expected, found_text, head_seq, head_hash,
                            unsealed, reason;
        RETURN;
    END IF;
    IF bad_content IS NOT NULL THEN
        ok := false;
        checked := bad_content - start_seq;
        broken_seq := bad_content;
        SELECT l.id, pg_catalog.encode(pg_catalog.sha256(l.prev_hash || {canonical}), 'hex'),
               pg_catalog.encode(l.row_hash, 'hex')
          INTO broken_id, expected, found_text
          FROM {log} AS l WHERE l.chain_seq = bad_content LIMIT 1;
        reason := pg_catalog.format('the row at position %s (id %s) was changed after it was sealed: its content '
                                    'no longer hashes to its row_hash', bad_content, broken_id);
        RETURN QUERY SELECT ok, checked, broken_id, broken_seq, expected, found_text, head_seq, head_hash,
                            unsealed, reason;
        RETURN;
    END IF;
    checked := head_seq - start_seq + 1;
    SELECT h.seq, h.hash INTO stored_seq, stored_hash FROM {head} AS h;
    IF stored_seq IS DISTINCT FROM head_seq OR stored_hash IS DISTINCT FROM last_hash THEN
        ok := false;
        expected := pg_catalog.encode(stored_hash, 'hex');
        IF stored_seq > head_seq THEN
            broken_seq := head_seq + 1;
            reason := pg_catalog.format('the chain ends at position %s but its head is at position %s: the last '
                                        'rows were deleted', head_seq, stored_seq);
        ELSE
            broken_seq := stored_seq;
            SELECT l.id, l.row_hash INTO found_id, found_hash FROM {log} AS l WHERE l.chain_seq = stored_seq;
            broken_id := found_id;
            found_text := pg_catalog.encode(found_hash, 'hex');
            reason := pg_catalog.format('the chain head (position %s) does not match the log, which ends at '
                                        'position %s: the head or the rows after it were changed',
                                        stored_seq, head_seq);
        END IF;
        RETURN QUERY SELECT ok, checked, broken_id, broken_seq, expected, found_text, head_seq, head_hash,
                            unsealed, reason;
        RETURN;
    END IF;
    -- A head exported before retention dropped its position cannot be checked any more.
    IF expected_seq IS NOT NULL AND expected_seq >= start_seq THEN
        IF expected_seq > head_seq THEN
            ok := false;
            broken_seq := expected_seq;
            expected := pg_catalog.lower(expected_hash);
            reason := pg_catalog.format('the log no longer reaches the head exported earlier (position %s): it ends '
                                        'at position %s; the rows at the end were deleted', expected_seq, head_seq);
        ELSE
            SELECT l.id, l.row_hash INTO found_id, found_hash FROM {log} AS l WHERE l.chain_seq = expected_seq;
            IF expected_hash IS NOT NULL
               AND pg_catalog.lower(expected_hash) IS DISTINCT FROM pg_catalog.encode(found_hash, 'hex') THEN
                ok := false;
                broken_seq := expected_seq;
                broken_id := found_id;
                expected := pg_catalog.lower(expected_hash);
                found_text := pg_catalog.encode(found_hash, 'hex');
                reason := pg_catalog.format('the row at position %s (id %s) no longer has the hash exported earlier: '
                                            'the chain was rewritten up to there', expected_seq, found_id);
            END IF;
        END IF;
    END IF;
    RETURN QUERY SELECT ok, checked, broken_id, broken_seq, expected, found_text, head_seq, head_hash,
                        unsealed, reason;
END
"""

VERIFY_RESULT = (
    "TABLE(ok boolean, checked bigint, broken_id bigint, broken_seq bigint, expected text, found text, "
    "head_seq bigint, head_hash text, unsealed bigint, reason text)"
)

# Functions of the chain, as FUNCTIONS; seal_chain(wait => true) waits for the lock (the
# modules use it, never a writer).
CHAIN_FUNCTIONS = (
    ("seal_chain", "wait boolean DEFAULT false", "bigint", True, SEAL_CHAIN),
    ("seal_chain_at_commit", "", "trigger", True, SEAL_AT_COMMIT),
    (
        "verify_chain",
        "expected_seq bigint DEFAULT NULL::bigint, expected_hash text DEFAULT NULL::text",
        VERIFY_RESULT,
        True,
        VERIFY_CHAIN,
    ),
)

# seq and hash: the last position and its row_hash. first_seq and first_prev: where the chain
# starts and the hash its first row links to (1 and the zero hash, until retention drops the
# oldest rows and moves them past the last position it dropped).
CHAIN_HEAD_TABLE = """
CREATE TABLE {head} (
    one_row boolean PRIMARY KEY DEFAULT true CHECK (one_row),
    seq bigint NOT NULL,
    hash bytea NOT NULL,
    sealed_at timestamptz,
    first_seq bigint NOT NULL,
    first_prev bytea NOT NULL
)
"""

CHAIN_COLUMNS = "ALTER TABLE {log} ADD COLUMN chain_seq bigint, ADD COLUMN prev_hash bytea, ADD COLUMN row_hash bytea"
# Unique on a plain log; on a partitioned one a unique index must hold the partition key, so
# there the verifier is what catches a position used twice. Partial: a row is inserted unsealed
# (chain_seq NULL), so the insert, which every audited write pays, adds no entry to it.
CHAIN_INDEXES = (
    "CREATE {unique}INDEX audit_log_chain_seq ON {log} (chain_seq) WHERE chain_seq IS NOT NULL",
    "CREATE INDEX audit_log_unsealed ON {log} (id) WHERE chain_seq IS NULL",
)
CHAIN_COMMENTS = (
    "COMMENT ON COLUMN {log}.chain_seq IS 'position in the hash chain, set at COMMIT by seal_chain()'",
    "COMMENT ON COLUMN {log}.row_hash IS 'sha256(prev_hash || the row''s canonical text); verify_chain() checks it'",
    "COMMENT ON TABLE {head} IS 'pgtrail.audit: the last position and hash of the hash chain, and where it starts'",
)
CHAIN_HEAD_ROW = "INSERT INTO {head} (seq, hash, first_seq, first_prev) VALUES (0, {genesis}, 1, {genesis})"

# Retention drops the oldest rows: the chain then starts after the last position dropped, and
# its first row links to that position's hash. A row sealed later but older than the cutoff (a
# transaction across the month's end) goes too, so the start is past every position dropped.
CHAIN_RETENTION = """
UPDATE {head} AS h SET first_seq = o.chain_seq + 1, first_prev = o.row_hash
  FROM (SELECT l.chain_seq, l.row_hash FROM {log} AS l
         WHERE l.changed_at < {cutoff}::timestamptz AND l.chain_seq IS NOT NULL
         ORDER BY l.chain_seq DESC LIMIT 1) AS o
 WHERE o.chain_seq >= h.first_seq
"""

# A module's transaction waits for the sealer's lock (the head's row, when there is one) and
# keeps it: while it changes the log's tables, no writer seals (they only try the lock), so no
# writer's COMMIT can wait for it in a cycle, and what it writes to the head is not raced.
HEAD_EXISTS = """
SELECT EXISTS (SELECT FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
                WHERE n.nspname = %(schema)s AND c.relname = %(head)s) AS present
"""
CHAIN_LOCK = "SELECT h.seq FROM {head} AS h FOR UPDATE"

CREATE_CHAIN_TRIGGER = (
    "CREATE CONSTRAINT TRIGGER {name} AFTER INSERT ON {log} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
    "EXECUTE FUNCTION {function}()"
)
SEAL_NOW = "SELECT {seal}(wait => true) AS sealed"
# In a module's own transaction: deferred triggers (the chain's sealer) fire at the end of each
# statement, so DDL on the log never meets pending trigger events.
SET_SEALS_IMMEDIATE = "SET CONSTRAINTS ALL IMMEDIATE"


# ---------------------------------------------------------------------------------------------
# Chain v2 (migration 3, docs/chain-v2.md): an insert-only log sealed in blocks by snapshot
# ---------------------------------------------------------------------------------------------
#
# No trigger on the writers' path: audit.seal() (called every second by the systemd timer the
# audit_triggers role installs, and by chain_verify) seals the rows of the transactions that
# ended since the last block into one row of audit.chain_block. The log is never updated.

# The columns of a leaf, in order: the log's own (migration 1). A later migration that adds a
# column keeps this list for the rows sealed before it.
LEAF_COLUMNS = (
    "id", "table_name", "action", "old_data", "new_data", "actor_id", "changed_at", "kind", "schema_name", "txid",
    "statement_at", "wall_at", "login_role", "effective_role", "application_name", "client_addr", "client_port",
    "resource", "success", "client_ip", "user_agent", "metadata",
)  # fmt: skip
# A row's leaf: sha256 of the binary record of its columns (each column's type oid, length and
# binary value: no session setting changes it, lengths make it unambiguous). Written inline, not
# as a function of the row, which measured three times slower.
LEAF = "pg_catalog.sha256(pg_catalog.record_send(ROW(%s)))" % ", ".join("l." + c for c in LEAF_COLUMNS)

# The header of a block ("b": a row with chain_block's columns), hashed; block_header() in
# verify.py is the same in Python. The chain id (block 0 only) binds the chain to its origin.
BLOCK_HASH = (
    "pg_catalog.sha256(pg_catalog.convert_to('pgtrail.audit chain v2', 'UTF8') || pg_catalog.int8send(b.block)"
    " || pg_catalog.int8send(b.first_pos) || pg_catalog.int8send(b.last_pos) || pg_catalog.int8send(b.snap_xmax)"
    " || pg_catalog.convert_to(b.snap_xip::text, 'UTF8') || b.root || b.prev_hash"
    " || pg_catalog.int8send((EXTRACT(epoch FROM b.sealed_at) * 1000000)::bigint)"
    " || coalesce(pg_catalog.uuid_send(b.chain_id), ''::bytea))"
)

# snap_xmax and snap_xip: the sealer's snapshot (64-bit transaction ids, as txid_current()
# writes them into the log's txid). leaves: 32 bytes per row, in (txid, id) order. Block 0
# seals nothing new: it holds the chain id and the snapshot the chain starts from, and on a
# chain upgraded from v1 the v1 segment (positions first_pos..last_pos, root = v1's head hash).
CHAIN_BLOCK_TABLE = """
CREATE TABLE {block} (
    block bigint PRIMARY KEY,
    first_pos bigint NOT NULL,
    last_pos bigint NOT NULL,
    snap_xmax bigint NOT NULL,
    snap_xip bigint[] NOT NULL,
    leaves bytea,
    root bytea NOT NULL,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    sealed_at timestamptz NOT NULL,
    chain_id uuid
)
"""

# The snapshot of this statement, as the sealer stores it.
SNAPSHOT = (
    "SELECT pg_catalog.pg_snapshot_xmax(s)::text::bigint AS xmax,"
    " ARRAY(SELECT x::text::bigint FROM pg_catalog.pg_snapshot_xip(s) AS x ORDER BY 1) AS xip"
    " FROM pg_catalog.pg_current_snapshot() AS s"
)

# Block 0, from the chain head (v1's segment: first_seq..seq and its hash; on a fresh chain 1..0
# and the zero hash). Its snapshot lists the installing transaction as running (a snapshot does
# not list its own), so the rows this run logs are sealed after its COMMIT. Its snap_xmax is
# lowered to the oldest txid of the rows no block holds yet (rows written before the chain was
# switched on), so the first seal takes them.
CHAIN_BLOCK_ZERO = """
INSERT INTO {block} (block, first_pos, last_pos, snap_xmax, snap_xip, leaves, root, prev_hash, hash, sealed_at,
                     chain_id)
SELECT b.block, b.first_pos, b.last_pos, b.snap_xmax, b.snap_xip, NULL, b.root, b.prev_hash, {block_hash},
       b.sealed_at, b.chain_id
  FROM (SELECT 0::bigint AS block, h.first_seq AS first_pos, h.seq AS last_pos,
               LEAST(s.xmax, (SELECT pg_catalog.min(l.txid) FROM {log} AS l WHERE true{v2_rows})) AS snap_xmax,
               ARRAY(SELECT DISTINCT x.xid FROM pg_catalog.unnest(s.xip || {own_xid}) AS x(xid)
                      WHERE x.xid IS NOT NULL ORDER BY 1) AS snap_xip,
               h.hash AS root, {genesis} AS prev_hash,
               pg_catalog.clock_timestamp() AS sealed_at, pg_catalog.gen_random_uuid() AS chain_id
          FROM {head} AS h, ({snapshot}) AS s) AS b
"""

OWN_XID = "pg_catalog.pg_current_xact_id_if_assigned()::text::bigint"

# Each row's block, for the verifier and retention (two CTEs, then ROW_BLOCK of a row "l"): for a
# transaction some block's snapshot saw running, the block after the last one that did;
# otherwise the block whose snap_xmax range holds its txid (width_bucket: a binary search over
# every block's snap_xmax). 0 is "ended before the chain", last_block + 1 not sealed yet.
# first_block: where the chain's checked rows start (retention moves it).
ROW_BLOCKS = """bounds AS (
    SELECT pg_catalog.array_agg(b.snap_xmax ORDER BY b.block) AS xmaxes, pg_catalog.max(b.block) AS last_block,
           (SELECT h.first_block FROM {head} AS h) AS first_block
      FROM {block} AS b),
late AS (
    SELECT x.xid, pg_catalog.max(b.block) + 1 AS block
      FROM {block} AS b, pg_catalog.unnest(b.snap_xip) AS x(xid)
     GROUP BY x.xid)"""
ROW_BLOCK = "coalesce(late.block, pg_catalog.width_bucket(l.txid, bounds.xmaxes))"

# Retention (before it drops partitions or purges the default one): the chain's checked rows
# start after the last block that holds a row it drops; block headers are never deleted, so
# checkpoints stay consistent across retention.
CHAIN_V2_RETENTION = """
WITH {row_blocks}
UPDATE {head} AS h SET first_block = d.block + 1
  FROM (SELECT LEAST(pg_catalog.max({row_block}), pg_catalog.max(bounds.last_block)) AS block
          FROM {log} AS l CROSS JOIN bounds LEFT JOIN late ON late.xid = l.txid
         WHERE l.changed_at < {cutoff}::timestamptz{v2_rows}) AS d
 WHERE d.block >= h.first_block
"""
FIRST_BLOCK = "ALTER TABLE {head} ADD COLUMN first_block bigint NOT NULL DEFAULT 1"

# Which log rows are v2's: all of them, or on a chain upgraded from v1 those v1 did not seal.
V2_ROWS = {False: "", True: " AND l.chain_seq IS NULL"}

# The sealer (docs/chain-v2.md, "the snapshot rule"). One sealer at a time (the chain head's
# row, which only the owner can lock); the statements after the lock read a snapshot taken after
# it (READ COMMITTED), so they see the previous block; the new block holds the rows of the
# transactions ended in this snapshot and not in the previous block's. Refused in REPEATABLE
# READ or SERIALIZABLE (the snapshot would predate the lock), and after a restore into another
# cluster (this cluster's transaction ids are below the last block's: new rows would look sealed
# already).
SEAL = """
#variable_conflict use_variable
DECLARE
    prev record;
    snap record;
    ended bigint[];
    sealed bigint;
    all_leaves bytea;
BEGIN
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'pgtrail.audit: %() runs in READ COMMITTED only, not %', {seal_name},
            pg_catalog.current_setting('transaction_isolation')
            USING HINT = 'its snapshot must be taken after its lock; call it in a transaction of its own';
    END IF;
    PERFORM FROM {head} AS h FOR UPDATE;
    SELECT b.block, b.last_pos, b.snap_xmax, b.snap_xip, b.hash INTO prev
      FROM {block} AS b ORDER BY b.block DESC LIMIT 1;
    SELECT s.xmax, s.xip INTO snap FROM ({snapshot}) AS s;
    IF snap.xmax < prev.snap_xmax THEN
        RAISE EXCEPTION 'pgtrail.audit: this server''s transaction ids (next %) are below those of the last sealed '
                        'block % (next %): the database was restored into another cluster, nothing is sealed',
                        snap.xmax, prev.block, prev.snap_xmax
            USING HINT = 'the chain up to block ' || prev.block || ' still verifies; see docs/chain-v2.md, '
                         '"Dump and restore into another cluster"';
    END IF;
    ended := ARRAY(SELECT pg_catalog.unnest(prev.snap_xip) EXCEPT SELECT pg_catalog.unnest(snap.xip));
    SELECT pg_catalog.count(*), pg_catalog.string_agg(f.leaf, ''::bytea ORDER BY f.txid, f.id)
      INTO sealed, all_leaves
      FROM (SELECT l.id, l.txid, {leaf} AS leaf
              FROM {log} AS l
             WHERE ((l.txid >= prev.snap_xmax AND l.txid < snap.xmax) OR l.txid = ANY (ended))
               AND l.txid <> ALL (snap.xip){v2_rows}) AS f;
    IF sealed = 0 THEN
        RETURN 0;
    END IF;
    INSERT INTO {block} (block, first_pos, last_pos, snap_xmax, snap_xip, leaves, root, prev_hash, hash, sealed_at)
    SELECT b.block, b.first_pos, b.last_pos, b.snap_xmax, b.snap_xip, b.leaves, b.root, b.prev_hash, {block_hash},
           b.sealed_at
      FROM (SELECT prev.block + 1 AS block, prev.last_pos + 1 AS first_pos, prev.last_pos + sealed AS last_pos,
                   snap.xmax AS snap_xmax, snap.xip AS snap_xip, all_leaves AS leaves,
                   pg_catalog.sha256(all_leaves) AS root, prev.hash AS prev_hash,
                   pg_catalog.clock_timestamp() AS sealed_at, NULL::uuid AS chain_id) AS b;
    RETURN sealed;
END
"""

# The log and chain_block are insert-only, for their owner too (privileges do not bind an
# owner): a statement trigger refuses UPDATE, DELETE and TRUNCATE. Retention drops whole
# partitions (DDL, not seen here); the rows it moves or purges in the default partition go
# through with the transaction-local RETENTION_SETTING, on the log only. A logical replication
# worker is let through (skip_applied drops what it applies to the trail's tables). It stops
# mistakes, not the owner, who can disable it: the chain is what makes a change evident.
RETENTION_SETTING = "pgtrail_audit.retention"
REFUSE_CHANGE = """
BEGIN
    IF TG_TABLE_NAME <> {block_name} AND pg_catalog.current_setting({retention}, true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_stat_subscription AS s WHERE s.pid = pg_catalog.pg_backend_pid()) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'pgtrail.audit: %.% is insert-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'audit rows are never changed; retention drops whole monthly partitions';
END
"""
CREATE_INSERT_ONLY_TRIGGER = (
    "CREATE TRIGGER {name} BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION "
    "{function}()"
)
ALLOW_RETENTION = "SELECT pg_catalog.set_config({setting}, {value}, true)"

# Chain v2's functions, as FUNCTIONS.
CHAIN_V2_FUNCTIONS = (
    ("seal", "", "bigint", True, SEAL),
    ("refuse_change", "", "trigger", True, REFUSE_CHANGE),
)
# The v1 functions an upgrade drops (after their last seal): nothing writes chain_seq after it.
V1_SEALERS = (("seal_chain_at_commit", ""), ("seal_chain", "boolean"))

# Migration 3's other statements: the sealer's probe in the BRIN index (autosummarize: ranges
# filled since the last vacuum are summarised as they fill), and on an upgrade the v1 index of
# unsealed rows, which every v2 row (chain_seq NULL) would enter.
CHAIN_V2_INDEXES = (
    "DROP INDEX IF EXISTS {changed_at_brin}",
    "CREATE INDEX audit_log_changed_at_txid_brin ON {log} USING brin (changed_at, txid) WITH (autosummarize = on)",
)
DROP_V1_UNSEALED = "DROP INDEX IF EXISTS {unsealed}"
CHAIN_V2_COMMENTS = (
    "COMMENT ON TABLE {block} IS 'pgtrail.audit: the hash chain''s blocks: each seals the log rows of the "
    "transactions ended since the block before it (insert-only; see docs/chain-v2.md)'",
)
# The upgrade takes ACCESS EXCLUSIVE on the log for a moment (to drop v1's trigger, so that no
# writer is in flight across the switch): waiting at most UPGRADE_LOCK_WAIT each time, so
# writers are never queued behind it for longer, and retried UPGRADE_LOCK_TRIES times.
UPGRADE_LOCK = "LOCK TABLE {log} IN ACCESS EXCLUSIVE MODE"
UPGRADE_LOCK_WAIT = "500ms"
UPGRADE_LOCK_TRIES = 40
V1_LAST_SEAL = "SELECT {seal}(wait => true)"

# The sealer's probe, for audit_info (read-only): committed rows no block holds yet (those of
# transactions ended since the last block's snapshot), the age of the oldest (from its wall_at:
# a long transaction's rows look as old as their insert, the honest upper bound), and whether
# this cluster's transaction ids are below the last block's (a restore into another cluster:
# seal() refuses).
CHAIN_UNSEALED = """
SELECT pg_catalog.count(l.id) AS unsealed,
       EXTRACT(epoch FROM pg_catalog.clock_timestamp() - pg_catalog.min(l.wall_at))::float8 AS oldest_unsealed_age,
       b.block AS last_block,
       pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::bigint < b.snap_xmax AS restored
  FROM (SELECT b.block, b.snap_xmax, b.snap_xip FROM {block} AS b ORDER BY b.block DESC LIMIT 1) AS b
  LEFT JOIN {log} AS l ON (l.txid >= b.snap_xmax OR l.txid = ANY (b.snap_xip)){v2_rows}
 GROUP BY b.block, b.snap_xmax
"""
