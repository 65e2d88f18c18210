-- Chain v2 prototype (docs/chain-v2.md): an insert-only log sealed in blocks by snapshot.
-- Not installed by any module: benchmarks/chain_v2_proto runs it in a scratch database of a
-- test-bed container to show the sealing rule on real PostgreSQL (13+: pg_current_snapshot);
-- benchmarks/chain_v2_upgrade_proto runs it (with -v v1_upgrade=1) over a v1 trail.
--
-- The log: the trail's columns (sql_tables.LOG_TABLE); its BRIN index on changed_at gains a
-- second column, txid (the writer's top-level transaction id, already a column:
-- txid_current()), which the sealer probes: no index more for writers to pay.
\if :{?v1_upgrade}
-- Upgrade (benchmarks/chain_v2_upgrade_proto): the log is the v1 trail's, and its v2 rows are
-- those v1 has not sealed (chain_seq IS NULL): the filter the implementation adds to the
-- sealer and the verifier, here as a view.
CREATE SCHEMA chainproto;
CREATE VIEW chainproto.log AS SELECT l.* FROM audit.audit_log AS l WHERE l.chain_seq IS NULL;
\else
CREATE SCHEMA chainproto;
CREATE TABLE chainproto.log (
    id bigserial PRIMARY KEY,
    table_name text NOT NULL,
    action text NOT NULL,
    old_data jsonb,
    new_data jsonb,
    actor_id text,
    changed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    kind text NOT NULL,
    schema_name text,
    txid bigint NOT NULL DEFAULT pg_catalog.txid_current(),
    statement_at timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    wall_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    login_role text NOT NULL DEFAULT SESSION_USER,
    effective_role text NOT NULL DEFAULT SESSION_USER,
    application_name text DEFAULT pg_catalog.current_setting('application_name'),
    client_addr inet DEFAULT pg_catalog.inet_client_addr(),
    client_port integer DEFAULT pg_catalog.inet_client_port(),
    resource text,
    success boolean,
    client_ip inet,
    user_agent text,
    metadata jsonb
);
CREATE INDEX log_brin ON chainproto.log USING brin (changed_at, txid);

\endif

-- The lock of the one sealer (a row only the owner can lock: FOR UPDATE needs UPDATE on it).
CREATE TABLE chainproto.chain_head (one_row boolean PRIMARY KEY DEFAULT true CHECK (one_row));
INSERT INTO chainproto.chain_head DEFAULT VALUES;

-- One row per seal. A block holds the log rows whose transaction had ended (committed) in the
-- sealer's snapshot and had not in the previous block's: txid < snap_xmax, not in snap_xip.
-- leaves: sha256 of each row's canonical text, 32 bytes each, in (txid, id) order.
CREATE TABLE chainproto.chain_block (
    block bigint PRIMARY KEY,
    first_pos bigint NOT NULL,
    last_pos bigint NOT NULL,
    snap_xmax bigint NOT NULL,
    snap_xip bigint[] NOT NULL,
    leaves bytea,
    root bytea NOT NULL,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    sealed_at timestamptz NOT NULL
);

-- A row's leaf: sha256 of the binary form of a record of every column (record_send: each
-- column's type oid, length and binary value): timestamps as 64-bit microseconds, so no session
-- setting (TimeZone, DateStyle, ...) changes it, lengths make it unambiguous, and no text
-- formatting or quoting is paid (about half the cost of the text of the record here; jsonb's
-- binary form is its version byte and its text, the part left to pay).
CREATE FUNCTION chainproto.leaf(l chainproto.log) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.sha256(pg_catalog.record_send(ROW(l.id, l.table_name, l.action, l.old_data, l.new_data,
    l.actor_id, l.changed_at, l.kind, l.schema_name, l.txid, l.statement_at, l.wall_at, l.login_role,
    l.effective_role, l.application_name, l.client_addr, l.client_port, l.resource, l.success, l.client_ip,
    l.user_agent, l.metadata)));

-- A block's hash: its header, including the previous block's hash.
CREATE FUNCTION chainproto.block_hash(block bigint, first_pos bigint, last_pos bigint, snap_xmax bigint,
                                      snap_xip bigint[], root bytea, prev_hash bytea, sealed_at timestamptz)
RETURNS bytea LANGUAGE sql IMMUTABLE
RETURN pg_catalog.sha256(pg_catalog.convert_to('pgtrail.audit chain v2', 'UTF8')
    || pg_catalog.int8send(block) || pg_catalog.int8send(first_pos) || pg_catalog.int8send(last_pos)
    || pg_catalog.int8send(snap_xmax) || pg_catalog.convert_to(snap_xip::text, 'UTF8') || root || prev_hash
    || pg_catalog.int8send(((EXTRACT(epoch FROM sealed_at) * 1000000)::bigint)));

-- Block 0: the snapshot of the install; the log is empty (v1 upgrade: the v1 segment, see doc).
INSERT INTO chainproto.chain_block
SELECT 0, 0, 0, pg_catalog.pg_snapshot_xmax(s)::text::bigint,
       ARRAY(SELECT x::text::bigint FROM pg_catalog.pg_snapshot_xip(s) AS x ORDER BY 1),
       NULL, z, z, z, pg_catalog.now()
  FROM pg_catalog.pg_current_snapshot() AS s,
       pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex') AS z;

-- The sealer. Statement 1 takes the lock; statement 2, whose snapshot is taken after the lock
-- (READ COMMITTED: one per statement), sees the previous block and records its own snapshot S;
-- statement 3 reads, at a snapshot as new or newer, the rows of the transactions that ended
-- in S and had not in the previous block's: every transaction ended in S is visible to any
-- later snapshot, and the filter keeps out those that ended after S. Only the xids that ended
-- since (ended: previous xip minus current xip) are probed among the older rows, so a long
-- transaction's rows are read once, after its COMMIT, never while it runs.
CREATE FUNCTION chainproto.seal() RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    prev chainproto.chain_block;
    s_xmax bigint;
    s_xip bigint[];
    ended bigint[];
    n bigint;
    leaves bytea;
    root bytea;
    at timestamptz;
BEGIN
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'seal() runs in READ COMMITTED: its snapshot must be taken after its lock';
    END IF;
    PERFORM FROM chainproto.chain_head AS h FOR UPDATE;
    SELECT b.* INTO prev FROM chainproto.chain_block AS b ORDER BY b.block DESC LIMIT 1;
    SELECT pg_catalog.pg_snapshot_xmax(s)::text::bigint,
           ARRAY(SELECT x::text::bigint FROM pg_catalog.pg_snapshot_xip(s) AS x ORDER BY 1)
      INTO s_xmax, s_xip FROM pg_catalog.pg_current_snapshot() AS s;
    ended := ARRAY(SELECT pg_catalog.unnest(prev.snap_xip) EXCEPT SELECT pg_catalog.unnest(s_xip));
    SELECT pg_catalog.count(*), pg_catalog.string_agg(f.leaf, ''::bytea ORDER BY f.txid, f.id)
      INTO n, leaves
      FROM (SELECT l.id, l.txid, chainproto.leaf(l) AS leaf
              FROM chainproto.log AS l
             WHERE ((l.txid >= prev.snap_xmax AND l.txid < s_xmax) OR l.txid = ANY (ended))
               AND l.txid <> ALL (s_xip)) AS f;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    root := pg_catalog.sha256(leaves);
    at := pg_catalog.clock_timestamp();
    INSERT INTO chainproto.chain_block
    VALUES (prev.block + 1, prev.last_pos + 1, prev.last_pos + n, s_xmax, s_xip, leaves, root, prev.hash,
            chainproto.block_hash(prev.block + 1, prev.last_pos + 1, prev.last_pos + n, s_xmax, s_xip, root,
                                  prev.hash, at), at);
    RETURN n;
END
$$;

-- The verifier (in the implementation: the module's own query text, not a function the
-- database holds). One pass over the log: each row's block from the block snapshots (the first
-- block whose snapshot has its transaction ended: a binary search over the blocks' xmax, or,
-- for a transaction still running at some seal, the block after the last seal that saw it
-- running), its leaf, its place in the block; compared with the stored leaves and root, and
-- the header chain. Returns the first bad position, or none.
CREATE FUNCTION chainproto.verify(
    OUT ok boolean, OUT checked bigint, OUT unsealed bigint, OUT bad_pos bigint, OUT bad_id bigint, OUT reason text)
LANGUAGE plpgsql STABLE SET work_mem = '256MB'
AS $$
DECLARE
    bounds bigint[];
    last_block bigint;
    bad_block record;
BEGIN
    SELECT pg_catalog.array_agg(b.snap_xmax ORDER BY b.block), pg_catalog.max(b.block)
      INTO bounds, last_block FROM chainproto.chain_block AS b;
    -- the header chain
    SELECT b.block, b.first_pos INTO bad_block FROM (
        SELECT b.*, pg_catalog.lag(b.hash) OVER w AS before_hash, pg_catalog.lag(b.last_pos) OVER w AS before_last
          FROM chainproto.chain_block AS b WINDOW w AS (ORDER BY b.block)) AS b
     WHERE b.block > 0 AND (b.prev_hash IS DISTINCT FROM b.before_hash OR b.first_pos <> b.before_last + 1
           OR b.root IS DISTINCT FROM pg_catalog.sha256(b.leaves)
           OR b.hash IS DISTINCT FROM chainproto.block_hash(b.block, b.first_pos, b.last_pos, b.snap_xmax,
                                                            b.snap_xip, b.root, b.prev_hash, b.sealed_at))
     ORDER BY b.block LIMIT 1;
    IF FOUND THEN
        ok := false; bad_pos := bad_block.first_pos;
        reason := pg_catalog.format('block %s: its header does not hash or link', bad_block.block);
        RETURN;
    END IF;
    -- the rows: one pass, each row's block and place, against the stored leaves
    WITH late AS (SELECT x, pg_catalog.max(b.block) + 1 AS block
                    FROM chainproto.chain_block AS b, pg_catalog.unnest(b.snap_xip) AS x GROUP BY x),
    rows AS (SELECT l.id, l.txid, chainproto.leaf(l) AS leaf,
                    coalesce(late.block, pg_catalog.width_bucket(l.txid, bounds)) AS block
               FROM chainproto.log AS l LEFT JOIN late ON late.x = l.txid),
    placed AS (SELECT p.*, b.first_pos + p.i - 1 AS pos, b.last_pos,
                      p.leaf IS DISTINCT FROM pg_catalog.substr(b.leaves, (p.i::int - 1) * 32 + 1, 32) AS differs,
                      p.leaf = pg_catalog.substr(b.leaves, p.i::int * 32 + 1, 32) AS shifted,
                      p.next_leaf = pg_catalog.substr(b.leaves, (p.i::int - 1) * 32 + 1, 32) AS inserted
                 FROM (SELECT w.*, pg_catalog.row_number() OVER v AS i, pg_catalog.lead(w.leaf) OVER v AS next_leaf
                         FROM rows AS w WHERE w.block BETWEEN 1 AND last_block
                       WINDOW v AS (PARTITION BY w.block ORDER BY w.txid, w.id)) AS p
                 JOIN chainproto.chain_block AS b ON b.block = p.block),
    counted AS (SELECT b.first_pos + pg_catalog.count(p.id) AS pos
                  FROM chainproto.chain_block AS b LEFT JOIN placed AS p ON p.block = b.block
                 WHERE b.block > 0 GROUP BY b.block, b.first_pos, b.last_pos
                HAVING b.first_pos + pg_catalog.count(p.id) <= b.last_pos),
    bad AS (SELECT p.pos, p.id, CASE WHEN p.pos > p.last_pos OR p.inserted THEN 'a row was added to a sealed block'
                                     WHEN p.shifted THEN 'the row sealed at this position is missing: deleted'
                                     ELSE 'the row does not hash to the leaf sealed at its position' END AS why
              FROM placed AS p WHERE p.differs
            UNION ALL
            SELECT c.pos, NULL, 'the block has fewer rows than it sealed: rows were deleted' FROM counted AS c
            UNION ALL
            SELECT 0, w.id, 'a row older than the chain (its transaction ended before block 0): forged'
              FROM rows AS w WHERE w.block = 0)
    SELECT (SELECT pg_catalog.count(*) FROM placed), (SELECT pg_catalog.count(*) FROM rows WHERE rows.block > last_block),
           bad.pos, bad.id, bad.why
      INTO checked, unsealed, bad_pos, bad_id, reason
      FROM (SELECT NULL::bigint AS pos) AS dummy LEFT JOIN LATERAL (SELECT * FROM bad ORDER BY bad.pos LIMIT 1) AS bad ON true;
    ok := bad_pos IS NULL;
END
$$;
