"""The server log's shipping to the vault, its pure part: the jsonlog line and pgaudit's CSV
message parsed, lines cut from chunks, a file's identity, the plan of the files to read, and the
continuity of each session's line numbers."""

import json

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils import vault_logs, vault_logs_setup


@pytest.mark.parametrize(
    "message, expected",
    [
        (
            "AUDIT: SESSION,1,1,DDL,CREATE TABLE,TABLE,public.t,CREATE TABLE public.t (a int),<not logged>",
            dict(
                audit_type="SESSION",
                statement_id=1,
                substatement_id=1,
                **{"class": "DDL"},
                command="CREATE TABLE",
                object_type="TABLE",
                object_name="public.t",
                statement="CREATE TABLE public.t (a int)",
                parameter="<not logged>",
            ),
        ),
        # A quoted comma and a doubled quote in the statement.
        (
            'AUDIT: SESSION,3,1,WRITE,INSERT,,,"INSERT INTO t VALUES (1, \'a,b\', ""q"")",<none>',
            dict(statement="INSERT INTO t VALUES (1, 'a,b', \"q\")", parameter="<none>", object_type=""),
        ),
        # A newline in the statement (quoted by pgaudit).
        (
            'AUDIT: SESSION,2,1,READ,SELECT,,,"SELECT 1\nFROM t",<not logged>',
            dict(statement="SELECT 1\nFROM t", command="SELECT"),
        ),
        # A substatement, the statement logged once.
        (
            "AUDIT: SESSION,7,2,WRITE,INSERT,TABLE,public.t,<previously logged>,<previously logged>",
            dict(statement_id=7, substatement_id=2, statement="<previously logged>"),
        ),
        # Parameters, and log_rows' ROWS after them.
        (
            'AUDIT: OBJECT,4,1,READ,SELECT,TABLE,public.t,"SELECT * FROM t WHERE a = $1","1",3',
            dict(audit_type="OBJECT", parameter="1", rows="3"),
        ),
        # MISC_SET and ROLE classes.
        ("AUDIT: SESSION,5,1,MISC,SET,,,SET work_mem = '1MB',<not logged>", {"class": "MISC", "command": "SET"}),
        ("AUDIT: SESSION,6,1,ROLE,GRANT,,,GRANT r TO u,<not logged>", {"class": "ROLE"}),
    ],
)
def test_an_audit_message_is_read_as_pgaudits_csv(message, expected):
    parsed = vault_logs.parse_audit(message)
    for key, value in expected.items():
        assert parsed[key] == value, key


@pytest.mark.parametrize(
    "message",
    [None, "", "connection authorized: user=x", "AUDIT: SESSION,1", "AUDIT: SESSION,x,1,READ,SELECT,,,s,p"],
)
def test_other_messages_are_not_audit_lines(message):
    assert vault_logs.parse_audit(message) is None


def jsonline(**kw):
    entry = dict(timestamp="2026-11-30 12:00:00.000 UTC", session_id="674b.2f", line_num=1, error_severity="LOG")
    entry.update(kw)
    return json.dumps(entry)


def test_a_jsonlog_line_gives_its_session_line_user_database_client_and_audit_fields():
    row = vault_logs.parse_line(
        jsonline(
            user="clerk",
            dbname="shop",
            remote_host="[local]",
            message="AUDIT: SESSION,1,1,READ,SELECT,,,SELECT 1,<not logged>",
        )
    )
    assert (row["session_id"], row["line_num"], row["user_name"], row["database_name"], row["client"]) == (
        "674b.2f",
        1,
        "clerk",
        "shop",
        "[local]",
    )
    assert row["class"] == "READ" and row["statement"] == "SELECT 1"
    tcp = vault_logs.parse_line(jsonline(remote_host="10.0.0.5", remote_port=50432, message="x"))
    assert tcp["client"] == "10.0.0.5:50432" and tcp["audit_type"] is None
    assert vault_logs.parse_line("not json") is None
    assert vault_logs.parse_line("[1, 2]") is None


@pytest.mark.parametrize(
    "data, at_end, lines, used",
    [
        (b'{"a":1}\n{"b":2}\n', False, [b'{"a":1}', b'{"b":2}'], 16),
        # A line still being written waits for the next read.
        (b'{"a":1}\n{"b":', False, [b'{"a":1}'], 8),
        (b'{"b":', False, [], 0),
        # A complete file's last line without its newline is read.
        (b'{"a":1}\n{"b":2}', True, [b'{"a":1}', b'{"b":2}'], 15),
        (b"", True, [], 0),
    ],
)
def test_only_complete_lines_are_cut_from_a_chunk(data, at_end, lines, used):
    assert vault_logs.split_lines(data, at_end) == (lines, used)


def test_a_files_identity_is_its_first_line_and_stays_as_it_grows():
    first = vault_logs.identity(b"line one\nline two")
    assert first == vault_logs.identity(b"line one\nline two\nline three\n")
    assert first != vault_logs.identity(b"line 1\n")
    assert vault_logs.identity(b"incomplete") is None
    assert vault_logs.identity(None) is None
    assert vault_logs.identity(b"x" * vault_logs.HEAD) is not None


@pytest.mark.parametrize(
    "rows, last_seen, gaps",
    [
        # Consecutive lines, several sessions interleaved: no gap.
        ([("a", 1), ("b", 1), ("a", 2), ("b", 2)], {}, []),
        # Continuing where the vault stopped.
        ([("a", 5), ("a", 6)], {"a": 4}, []),
        # Lines lost inside a session.
        ([("a", 1), ("a", 4)], {}, [("lines", "a", 2, 3)]),
        # A session first seen past line 1 (its first lines were in a file that vanished).
        ([("b", 3)], {}, [("lines", "b", 1, 2)]),
        # Across runs.
        ([("a", 9)], {"a": 4}, [("lines", "a", 5, 8)]),
        # A line stored twice.
        ([("a", 4)], {"a": 4}, [("repeated", "a", 4, 4)]),
        # Lines without a session are not counted.
        ([(None, None), ("a", 1)], {}, []),
    ],
)
def test_each_sessions_line_numbers_are_continuous_or_a_gap_is_recorded(rows, last_seen, gaps):
    found = vault_logs.line_gaps([dict(session_id=s, line_num=n) for s, n in rows], dict(last_seen))
    assert [(g["kind"], g["session_id"], g["first_line"], g["last_line"]) for g in found] == gaps


HEAD_A = b'{"line_num":1,"session_id":"a"}\n'
HEAD_B = b'{"line_num":1,"session_id":"b"}\n'


def known(ident_of, offset, state):
    return dict(identity=vault_logs.identity(ident_of), file_offset=offset, state=state)


@pytest.mark.parametrize(
    "listing, before, reads, gap_kinds, closed",
    [
        # A new file is read from its start; the newest may still grow.
        ([("x.json", 100, HEAD_A)], {}, [("x.json", 0, True)], [], []),
        # A known file continues from its offset; a rotated one is read to its end.
        (
            [("x.json", 100, HEAD_A), ("y.json", 50, HEAD_B)],
            {"x.json": known(HEAD_A, 60, "reading")},
            [("x.json", 60, False), ("y.json", 0, True)],
            [],
            [],
        ),
        # A file removed before it was read to its end.
        (
            [("y.json", 50, HEAD_B)],
            {"x.json": known(HEAD_A, 60, "reading")},
            [("y.json", 0, True)],
            ["vanished"],
            ["x.json"],
        ),
        # A complete file removed (the DBA's retention): no gap; a gap reported once.
        ([("y.json", 50, HEAD_B)], {"x.json": known(HEAD_A, 60, "complete")}, [("y.json", 0, True)], [], []),
        ([("y.json", 50, HEAD_B)], {"x.json": known(HEAD_A, 60, "gone")}, [("y.json", 0, True)], [], []),
        # A name reused by another file (log_truncate_on_rotation) before the old one was read.
        ([("x.json", 10, HEAD_B)], {"x.json": known(HEAD_A, 60, "reading")}, [("x.json", 0, True)], ["replaced"], []),
        # A file shorter than what was read of it.
        ([("x.json", 40, HEAD_A)], {"x.json": known(HEAD_A, 60, "reading")}, [("x.json", 40, True)], ["shrunk"], []),
        # A file whose first line is not complete yet waits.
        ([("x.json", 5, b'{"li')], {}, [], [], []),
    ],
)
def test_the_plan_of_the_files_reads_each_from_its_offset_and_reports_files_gone(
    listing, before, reads, gap_kinds, closed
):
    planned, gaps, gone = vault_logs.plan_files([dict(name=n, size=s, head=h) for n, s, h in listing], before)
    assert [(r["name"], r["start"], r["last"]) for r in planned] == reads
    assert [g["kind"] for g in gaps] == gap_kinds
    assert gone == closed


def test_gaps_are_described_in_words():
    text = vault_logs.describe_gaps(
        [
            dict(kind="lines", session_id="a", first_line=2, last_line=3, file="y.json"),
            dict(kind="vanished", file="x.json", detail="removed"),
        ]
    )
    assert text == ["session a: line(s) 2 to 3 missing (before y.json)", "file x.json: removed"]


@pytest.mark.parametrize(
    "destination, collector, problems",
    [
        ("stderr,jsonlog", "on", 0),
        ("jsonlog", "on", 0),
        ("stderr", "on", 1),
        ("stderr, JSONLOG", "off", 1),
        ("csvlog", "off", 2),
    ],
)
def test_a_server_without_a_jsonlog_is_named(destination, collector, problems):
    assert len(vault_logs_setup.jsonlog_problems(destination, collector)) == problems


@pytest.mark.parametrize(
    "current, steps",
    [
        (None, ["create", "revoke PUBLIC", "grant"]),
        (dict(body="B", definer=True, executors=["pgtrail_vault"]), []),
        (dict(body="old", definer=True, executors=["pgtrail_vault"]), ["create"]),
        (dict(body="B", definer=False, executors=["pgtrail_vault"]), ["create"]),
        (dict(body="B", definer=True, executors=["PUBLIC"]), ["revoke PUBLIC", "grant"]),
        (dict(body="B", definer=True, executors=["pgtrail_vault", "app"]), ["revoke app"]),
    ],
)
def test_the_source_functions_are_executable_by_the_vaults_login_only(current, steps):
    assert vault_logs_setup.function_steps(current, "B", "pgtrail_vault") == steps
