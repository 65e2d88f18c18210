# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pgaudit's AUDIT lines in the audit vault (docs/vault.md, "The server log in the vault").

The vault pulls each source's ``jsonlog`` files through the connection its subscription already
has, from a persisted offset: two SECURITY DEFINER functions on the source list the log
directory's ``.json`` files and read a byte range of one of them (nothing else), and the vault
stores every complete line it has not stored yet - parsed, the AUDIT message split as CSV - in
the same transaction as the new offset of its file, so a crash neither loses nor doubles a line.
Continuity is checked as the lines arrive: within a session (``session_id``), ``line_num``
counts every line the process wrote to the jsonlog, so a number skipped is a line lost; a file
that vanished, or was replaced, before it was read to its end is a gap too. Gaps are rows of
their own, reported by vault_verify.yml.

This file imports only the standard library and psycopg: the vault's timer runs it as a
script (``python3 vault_logs.py CONFIG``); the vault_logs module imports it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import hashlib
import io
import json
import sys

try:
    import psycopg
    from psycopg import sql
except ImportError:  # pragma: no cover - depends on the host
    psycopg = None
    sql = None

LINES = "server_log"
FILES = "server_log_files"
GAPS = "server_log_gaps"
# On a source: the schema of the two reading functions, apart from the trail's schema, whose
# lockdown lets nobody but its readers EXECUTE its functions.
SOURCE_SCHEMA = "pgtrail_vault_log"
READ_FUNCTION = "server_log_read"
LIST_FUNCTION = "server_log_files"
# pgaudit's fields, in the order of its CSV message (ROWS only with pgaudit.log_rows).
AUDIT_FIELDS = (
    "audit_type",
    "statement_id",
    "substatement_id",
    "class",
    "command",
    "object_type",
    "object_name",
    "statement",
    "parameter",
    "rows",
)
AUDIT_PREFIX = "AUDIT: "
# The most bytes read from the source at once, and the most a file's identity reads.
CHUNK = 1 << 20
HEAD = 4096


# ---------------------------------------------------------------------------------------------
# Parsing (pure)
# ---------------------------------------------------------------------------------------------


def parse_audit(message):
    """{audit_type, statement_id, ...} of a pgaudit message ("AUDIT: SESSION,1,1,READ,...",
    CSV-quoted by pgaudit), or None when the message is not an AUDIT line."""
    if not message or not message.startswith(AUDIT_PREFIX):
        return None
    try:
        fields = next(csv.reader(io.StringIO(message[len(AUDIT_PREFIX) :], newline="")))
    except (csv.Error, StopIteration):
        return None
    if len(fields) < 7:
        return None
    parsed = dict(zip(AUDIT_FIELDS, fields))
    for key in ("statement_id", "substatement_id"):
        try:
            parsed[key] = int(parsed[key])
        except ValueError:
            return None
    return parsed


# The server_log columns read as they are from a jsonlog line: (column, jsonlog key), the keys
# as PostgreSQL's documentation names them ("Using JSON-Format Log Output").
JSONLOG_KEYS = (
    ("session_id", "session_id"),
    ("line_num", "line_num"),
    ("log_time", "timestamp"),
    ("user_name", "user"),
    ("database_name", "dbname"),
    ("application_name", "application_name"),
    ("backend_type", "backend_type"),
    ("severity", "error_severity"),
)


def client_of(entry):
    """Where the session came from: "host:port", "[local]" or None (background processes)."""
    host = entry.get("remote_host")
    if host and entry.get("remote_port") is not None:
        return "%s:%s" % (host, entry["remote_port"])
    return host


def parse_line(text):
    """The row of one jsonlog line (a dict), or None when it is not a JSON object."""
    try:
        entry = json.loads(text)
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    row = dict((column, entry.get(key)) for column, key in JSONLOG_KEYS)
    row.update(client=client_of(entry), entry=text)
    row.update(dict.fromkeys(AUDIT_FIELDS))
    row.update(parse_audit(entry.get("message")) or {})
    return row


def split_lines(data, at_end):
    """(complete lines, bytes used) of a chunk read from a file: a last line without its newline
    is left for the next read, unless ``at_end`` (the file is complete: the server writes no more)."""
    used = data.rfind(b"\n") + 1
    lines = data[:used].split(b"\n")[:-1]
    if at_end and used < len(data):
        lines.append(data[used:])
        used = len(data)
    return lines, used


def identity(head):
    """A file's identity: the hash of its first line (of at most HEAD bytes), which names its
    first session and line; None while that line is incomplete."""
    if head is None:
        return None
    end = head.find(b"\n")
    if end < 0:
        return hashlib.sha256(head).hexdigest() if len(head) >= HEAD else None
    return hashlib.sha256(head[: end + 1]).hexdigest()


# ---------------------------------------------------------------------------------------------
# Continuity (pure)
# ---------------------------------------------------------------------------------------------


def line_gaps(rows, last_seen):
    """Gaps in each session's line numbers: [{kind, session_id, first_line, last_line}] for the
    rows (in file order) given the highest line number the vault holds per session (``last_seen``,
    updated). A session the vault has not seen starts at line 1; a number at or below the last
    one seen is a line stored twice ("repeated")."""
    gaps = []
    for row in rows:
        session, number = row.get("session_id"), row.get("line_num")
        if session is None or not isinstance(number, int):
            continue
        last = last_seen.get(session, 0)
        if number > last + 1:
            gaps.append(dict(kind="lines", session_id=session, first_line=last + 1, last_line=number - 1))
        elif number <= last:
            gaps.append(dict(kind="repeated", session_id=session, first_line=number, last_line=number))
        last_seen[session] = max(last, number)
    return gaps


def plan_files(listing, known):
    """What to read, and the gaps of files gone, from the source's listing of its ``.json`` log
    files ([{name, size, head}], oldest first) and the vault's last progress of each file name
    ({name: {identity, file_offset, state}}).

    Returns (reads, gaps, closed): reads [{name, identity, start, size, last}] in listing order
    (``last``: the newest file, which may still grow), gaps [{kind, file, detail}], and the names
    whose record is closed by a gap (their state becomes "gone")."""
    reads, gaps, closed = [], [], []
    listed = set()
    for index, item in enumerate(listing):
        ident = identity(item.get("head"))
        listed.add(item["name"])
        if ident is None:
            continue
        before = known.get(item["name"])
        start = 0
        if before is not None and before["identity"] == ident:
            start = before["file_offset"]
            if item["size"] < start:
                gaps.append(
                    dict(
                        kind="shrunk",
                        file=item["name"],
                        detail="the file is %d bytes, shorter than the %d already read" % (item["size"], start),
                    )
                )
                start = item["size"]
        elif before is not None and before["state"] != "complete":
            gaps.append(
                dict(
                    kind="replaced",
                    file=item["name"],
                    detail="the file was replaced by another of that name before it was read past byte %d"
                    % before["file_offset"],
                )
            )
        reads.append(
            dict(name=item["name"], identity=ident, start=start, size=item["size"], last=index == len(listing) - 1)
        )
    for name, before in sorted(known.items()):
        if name not in listed and before["state"] not in ("complete", "gone"):
            gaps.append(
                dict(
                    kind="vanished",
                    file=name,
                    detail="the file was removed before the vault read it to its end (it had read up to byte %d)"
                    % before["file_offset"],
                )
            )
            closed.append(name)
    return reads, gaps, closed


def describe_gaps(gaps):
    """One sentence per recorded gap, for vault_verify.yml and the module's result."""
    out = []
    for gap in gaps:
        if gap["kind"] == "lines":
            out.append(
                "session %s: line(s) %d to %d missing%s"
                % (
                    gap["session_id"],
                    gap["first_line"],
                    gap["last_line"],
                    " (before %s)" % gap["file"] if gap.get("file") else "",
                )
            )
        elif gap["kind"] == "repeated":
            out.append("session %s: line %d stored again" % (gap["session_id"], gap["first_line"]))
        else:
            out.append("file %s: %s" % (gap["file"], gap["detail"]))
    return out


# ---------------------------------------------------------------------------------------------
# SQL: the source's two functions, the vault's three tables
# ---------------------------------------------------------------------------------------------

# On a source, owned by the superuser that makes them, EXECUTE for the vault's login only: the
# log directory's .json files (oldest first) with their first bytes, and a byte range of one of
# them. Neither reads anything else: a name must be listed by pg_ls_logdir() and end in .json.
LIST_BODY = """
SELECT l.name, l.size, l.modification,
       pg_catalog.pg_read_binary_file(
           pg_catalog.current_setting('log_directory') || '/' || l.name, 0, {head}, true) AS head
  FROM pg_catalog.pg_ls_logdir() AS l
 WHERE l.name LIKE '%.json'
 ORDER BY l.modification, l.name
"""
READ_BODY = """
SELECT CASE WHEN $1 LIKE '%.json' AND strpos($1, '/') = 0
             AND EXISTS (SELECT FROM pg_catalog.pg_ls_logdir() AS l WHERE l.name = $1)
            THEN pg_catalog.pg_read_binary_file(
                     pg_catalog.current_setting('log_directory') || '/' || $1, $2, $3, true) END
"""
LIST_FUNCTION_SQL = (
    "CREATE OR REPLACE FUNCTION {schema}.{name}()"
    " RETURNS TABLE (name text, size bigint, modification timestamptz, head bytea)"
    " LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS {body}"
)
READ_FUNCTION_SQL = (
    "CREATE OR REPLACE FUNCTION {schema}.{name}(text, bigint, bigint) RETURNS bytea"
    " LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS {body}"
)
FUNCTION_STATE = """
SELECT p.proname AS name, p.prosrc AS body, p.prosecdef AS definer,
       pg_catalog.pg_get_userbyid(p.proowner) AS owner,
       ARRAY(SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
               FROM pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) AS a
              WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner ORDER BY 1) AS executors
  FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
 WHERE n.nspname = %s AND p.proname = ANY(%s)
"""

# On the vault, in the source's vault database, beside the log's copy.
TABLES_SQL = (
    """
CREATE TABLE {schema}.{lines} (
    source_file text NOT NULL,
    file_offset bigint NOT NULL,
    session_id text,
    line_num bigint,
    log_time timestamptz,
    user_name text,
    database_name text,
    client text,
    application_name text,
    backend_type text,
    severity text,
    audit_type text,
    statement_id bigint,
    substatement_id bigint,
    class text,
    command text,
    object_type text,
    object_name text,
    statement text,
    parameter text,
    rows text,
    entry jsonb NOT NULL,
    vault_received_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
)""",
    "CREATE INDEX ON {schema}.{lines} (session_id, line_num)",
    """
CREATE TABLE {schema}.{files} (
    source_file text NOT NULL,
    identity text NOT NULL,
    file_offset bigint NOT NULL,
    size bigint NOT NULL,
    state text NOT NULL,
    shipped_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
)""",
    """
CREATE TABLE {schema}.{gaps} (
    found_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    kind text NOT NULL,
    source_file text,
    session_id text,
    first_line bigint,
    last_line bigint,
    detail text
)""",
)
LINE_COLUMNS = (
    (
        "source_file",
        "file_offset",
        "session_id",
        "line_num",
        "log_time",
        "user_name",
        "database_name",
        "client",
        "application_name",
        "backend_type",
        "severity",
    )
    + AUDIT_FIELDS
    + ("entry",)
)
# The newest record of each file name (the records are insert-only).
PROGRESS = """
SELECT DISTINCT ON (f.source_file) f.source_file AS name, f.identity, f.file_offset, f.state
  FROM {schema}.{files} AS f ORDER BY f.source_file, f.shipped_at DESC, f.file_offset DESC
"""
LAST_LINES = """
SELECT l.session_id, max(l.line_num) AS line_num FROM {schema}.{lines} AS l
 WHERE l.session_id = ANY(%s::text[]) GROUP BY l.session_id
"""
SOURCE_CONNINFO = """
SELECT s.subconninfo FROM pg_catalog.pg_subscription AS s
 WHERE s.subname = %s AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database AS d
                                        WHERE d.datname = pg_catalog.current_database())
"""
GAP_ROWS = """
SELECT g.kind, g.source_file AS file, g.session_id, g.first_line, g.last_line, g.detail,
       g.found_at::text AS found_at
  FROM {schema}.{gaps} AS g ORDER BY g.found_at, g.kind
"""


def names(schema):
    """The sql.Identifier of each object, for str.format of the SQL above."""
    return dict(
        schema=sql.Identifier(schema),
        lines=sql.Identifier(LINES),
        files=sql.Identifier(FILES),
        gaps=sql.Identifier(GAPS),
    )


def function_sql(schema):
    """{function name: (CREATE statement, body text)} of the source's two functions."""
    list_body = LIST_BODY.format(head=HEAD)
    out = {}
    for name, statement, body in (
        (LIST_FUNCTION, LIST_FUNCTION_SQL, list_body),
        (READ_FUNCTION, READ_FUNCTION_SQL, READ_BODY),
    ):
        out[name] = (
            sql.SQL(statement).format(schema=sql.Identifier(schema), name=sql.Identifier(name), body=sql.Literal(body)),
            body,
        )
    return out


# ---------------------------------------------------------------------------------------------
# Shipping: the source read through its functions, the vault written in one transaction a chunk
# ---------------------------------------------------------------------------------------------


def _read(source, schema, name, start, length):
    with source.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT {}.{}(%s, %s, %s)").format(sql.Identifier(SOURCE_SCHEMA), sql.Identifier(READ_FUNCTION)),
            [name, start, length],
        )
        data = cur.fetchone()[0]
    return None if data is None else bytes(data)


def _store_chunk(vault, schema, item, start, lines, end, gaps):
    """Store one chunk's lines, its gaps and the file's new offset in one transaction."""
    n = names(schema)
    rows, offset = [], start
    for raw in lines:
        row = parse_line(raw.decode("utf-8", "replace"))
        if row is None:
            gaps.append(dict(kind="unreadable", file=item["name"], detail="byte %d: not a jsonlog line" % offset))
        else:
            row.update(source_file=item["name"], file_offset=offset)
            rows.append(row)
        offset += len(raw) + 1
    with vault.transaction():
        with vault.cursor() as cur:
            sessions = sorted(set(r["session_id"] for r in rows if r["session_id"]))
            cur.execute(sql.SQL(LAST_LINES).format(**n), [sessions])
            last_seen = dict(cur.fetchall())
            for gap in line_gaps(rows, last_seen):
                gaps.append(dict(gap, file=item["name"]))
            copy = sql.SQL("COPY {}.{} ({}) FROM STDIN").format(
                n["schema"], n["lines"], sql.SQL(", ").join(sql.Identifier(c) for c in LINE_COLUMNS)
            )
            with cur.copy(copy) as out:
                for row in rows:
                    out.write_row([row[c] for c in LINE_COLUMNS])
            _insert_gaps(cur, n, gaps)
            state = "complete" if end >= item["size"] and not item["last"] else "reading"
            _record_file(cur, n, item["name"], item["identity"], end, item["size"], state)
    return len(rows), sum(1 for r in rows if r["audit_type"])


def _record_file(cur, n, name, ident, offset, size, state):
    """A new record of how far a file was read (the records are insert-only; the newest counts)."""
    cur.execute(
        sql.SQL(
            "INSERT INTO {}.{} (source_file, identity, file_offset, size, state) VALUES (%s, %s, %s, %s, %s)"
        ).format(n["schema"], n["files"]),
        [name, ident, offset, size, state],
    )


def _insert_gaps(cur, n, gaps):
    for gap in gaps:
        cur.execute(
            sql.SQL(
                "INSERT INTO {}.{} (kind, source_file, session_id, first_line, last_line, detail)"
                " VALUES (%s, %s, %s, %s, %s, %s)"
            ).format(n["schema"], n["gaps"]),
            [
                gap["kind"],
                gap.get("file"),
                gap.get("session_id"),
                gap.get("first_line"),
                gap.get("last_line"),
                gap.get("detail"),
            ],
        )


def _ship_file(source, vault, schema, item, totals):
    """Read one file from its offset to the size listed, a chunk at a time."""
    start = item["start"]
    length = CHUNK
    while start < item["size"]:
        data = _read(source, schema, item["name"], start, min(length, item["size"] - start))
        if data is None:
            break
        at_end = start + len(data) >= item["size"]
        lines, used = split_lines(data, at_end and not item["last"])
        if not used:
            if at_end:
                break
            # One line longer than the chunk: read more of it at once.
            length *= 2
            continue
        gaps = []
        shipped, audit = _store_chunk(vault, schema, item, start, lines, start + used, gaps)
        totals["lines"] += shipped
        totals["audit_lines"] += audit
        totals["gaps"].extend(gaps)
        start += used
        length = CHUNK
    if start == item["start"] and start >= item["size"] and not item["last"] and item.get("state") != "complete":
        # Read to its end by an earlier run, and closed now that a newer file exists.
        _store_chunk(vault, schema, item, start, [], start, totals["gaps"])


def ship(vault, schema, subscription):
    """Ship what the source logged since the last run into the vault database ``vault`` is
    connected to (autocommit); the source is reached with the subscription's connection string.
    Returns {lines, audit_lines, files, gaps}. Only one run at a time per vault database (an
    advisory lock); a run that finds it taken ships nothing (``busy``)."""
    n = names(schema)
    totals = dict(lines=0, audit_lines=0, files=0, gaps=[], busy=False)
    with vault.cursor() as cur:
        cur.execute("SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext(%s))", ["pgtrail_vault_logs"])
        if not cur.fetchone()[0]:
            return dict(totals, busy=True)
        cur.execute(SOURCE_CONNINFO, [subscription])
        row = cur.fetchone()
        if row is None:
            raise LookupError("no subscription %s in this vault database" % subscription)
        cur.execute(sql.SQL(PROGRESS).format(**n))
        known = dict((r[0], dict(identity=r[1], file_offset=r[2], state=r[3])) for r in cur.fetchall())
    with psycopg.connect(row[0], autocommit=True, application_name="pgtrail.audit vault_logs") as source:
        with source.cursor() as cur:
            cur.execute(
                sql.SQL("SELECT name, size, head FROM {}.{}()").format(
                    sql.Identifier(SOURCE_SCHEMA), sql.Identifier(LIST_FUNCTION)
                )
            )
            listing = [dict(name=r[0], size=r[1], head=None if r[2] is None else bytes(r[2])) for r in cur.fetchall()]
        reads, gaps, closed = plan_files(listing, known)
        if gaps:
            with vault.transaction(), vault.cursor() as cur:
                _insert_gaps(cur, n, gaps)
                for name in closed:
                    offset = known[name]["file_offset"]
                    _record_file(cur, n, name, known[name]["identity"], offset, offset, "gone")
            totals["gaps"].extend(gaps)
        for item in reads:
            before = known.get(item["name"]) or {}
            item["state"] = before.get("state") if before.get("identity") == item["identity"] else None
            _ship_file(source, vault, schema, item, totals)
            totals["files"] += 1
    with vault.cursor() as cur:
        cur.execute("SELECT pg_catalog.pg_advisory_unlock(pg_catalog.hashtext(%s))", ["pgtrail_vault_logs"])
    return totals


def recorded_gaps(vault, schema):
    """Every gap the vault has recorded for this source, oldest first."""
    with vault.cursor() as cur:
        cur.execute(sql.SQL(GAP_ROWS).format(**names(schema)))
        columns = [c.name for c in cur.description]
        return [dict(zip(columns, r)) for r in cur.fetchall()]


# ---------------------------------------------------------------------------------------------
# The vault's timer runs this file: python3 vault_logs.py CONFIG (a JSON file written by the
# audit_vault role: {"connection": {...psycopg.connect keywords...}, "stores": [{database,
# schema, subscription}]}).
# ---------------------------------------------------------------------------------------------


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0]) as handle:
        config = json.load(handle)
    failed = False
    for store in config["stores"]:
        try:
            with psycopg.connect(dbname=store["database"], autocommit=True, **config.get("connection", {})) as vault:
                result = ship(vault, store["schema"], store["subscription"])
        except (psycopg.Error, LookupError) as exc:
            sys.stderr.write("%s: %s\n" % (store["database"], str(exc).strip()))
            failed = True
            continue
        sys.stdout.write(
            "%s: %d line(s), %d AUDIT line(s) from %d file(s)%s\n"
            % (
                store["database"],
                result["lines"],
                result["audit_lines"],
                result["files"],
                " (busy)" if result["busy"] else "",
            )
        )
        for text in describe_gaps(result["gaps"]):
            sys.stderr.write("%s: gap: %s\n" % (store["database"], text))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
