"""The sealer's unit name, command line and psql script: any database name gives one valid,
distinct unit whose psql session reaches exactly that database and schema (the integration test
runs them)."""

import pytest

from ansible_collections.pgtrail.audit.plugins.plugin_utils.sealer import (
    exec_word,
    seal_unit,
    systemd_escape,
    unit_text,
)


@pytest.mark.parametrize(
    "text, escaped",
    [
        ("finance", "finance"),
        ("17/main/finance", "17-main-finance"),
        ("my-db", "my\\x2ddb"),
        ("a b", "a\\x20b"),
        (".hidden", "\\x2ehidden"),
        ("a.b:c_d", "a.b:c_d"),
        ("Ünïcode", "\\xc3\\x9cn\\xc3\\xafcode"),
        ('we"ird%$\\', "we\\x22ird\\x25\\x24\\x5c"),
    ],
)
def test_names_are_escaped_as_systemd_escape_does(text, escaped):
    assert systemd_escape(text) == escaped


@pytest.mark.parametrize(
    "text, word",
    [
        ("finance", '"finance"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("100%", '"100%%"'),
        ("$HOME", '"$$HOME"'),
        ("back\\slash", '"back\\\\slash"'),
        ("new\nline", '"new\\x0aline"'),
    ],
)
def test_exec_words_are_quoted_for_systemd(text, word):
    assert exec_word(text) == word


@pytest.mark.parametrize(
    "text, value",
    [
        ("SELECT 1", "SELECT 1"),
        ("\\watch 1", "\\\\watch 1"),
        ('"100%".seal()', '"100%%".seal()'),
        ("$x 'q'", "$x 'q'"),
        ("new\nline", "new\\x0aline"),
    ],
)
def test_script_lines_are_escaped_for_standard_input_text(text, value):
    assert unit_text(text) == value


def test_the_finance_sealer_keeps_one_psql_session_that_seals_every_interval_with_a_lock_timeout():
    unit = seal_unit("17/main", "finance", "audit", interval=5)
    assert unit["name"] == "pgtrail-seal-17-main-finance"
    assert unit["prefix"] == "pgtrail-seal-17-main-"
    assert unit["exec_start"] == (
        "/usr/bin/psql -X -q -At -v ON_ERROR_STOP=1 --cluster 17/main"
        " -d \"dbname='finance' application_name=pgtrail-sealer\""
    )
    # As StandardInputText= values: systemd reads "\\\\" as one backslash.
    assert unit["script"] == [
        "SET lock_timeout = '2s';",
        "SET pgaudit.log = 'none';",
        "SET pgaudit.role = '';",
        'DO $seal$BEGIN IF NOT pg_catalog.pg_is_in_recovery() THEN PERFORM "audit".seal(); END IF; END$seal$',
        "\\\\watch 5",
    ]


def test_a_schema_name_with_the_dollar_tag_does_not_end_the_block():
    (line,) = [line for line in seal_unit("17/main", "finance", "a$seal$b")["script"] if line.startswith("DO ")]
    tag = line.split("BEGIN")[0][len("DO ") :]
    assert tag.startswith("$seal") and tag.endswith("$") and line.endswith("END" + tag)
    assert line.count(tag) == 2


@pytest.mark.parametrize("interval", [0, -1, 1.5, "1", True, None])
def test_an_interval_that_is_not_a_whole_second_or_more_is_refused(interval):
    with pytest.raises(ValueError, match="interval must be a whole number of seconds"):
        seal_unit("17/main", "finance", "audit", interval=interval)


TRICKY = ["a/b", "a-b", "a\\x2db", "main-a", "a", "x=y", "it's", 'quo"te', "100%", "$x", "sp ace", "new\nline", "é"]


def test_every_database_name_gets_its_own_unit_name_and_a_one_line_command():
    units = [seal_unit("17/main", database, "audit") for database in TRICKY]
    assert len({unit["name"] for unit in units}) == len(TRICKY)
    for unit in units:
        assert unit["name"].startswith("pgtrail-seal-17-main-")
        assert "\n" not in unit["exec_start"] + unit["description"] + "".join(unit["script"])


def test_another_cluster_s_units_do_not_share_the_prefix():
    assert not seal_unit("17/main-2", "x", "audit")["name"].startswith(seal_unit("17/main", "x", "audit")["prefix"])


@pytest.mark.parametrize(
    "cluster, database, schema, reason",
    [
        ("main", "finance", "audit", "cluster"),
        ("17/main/x", "finance", "audit", "cluster"),
        ("17/main", "", "audit", "named"),
        ("17/main", "\u00e9" * 63, "audit", "longer than systemd"),
    ],
)
def test_a_unit_that_cannot_be_named_is_refused_saying_why(cluster, database, schema, reason):
    with pytest.raises(ValueError, match=reason):
        seal_unit(cluster, database, schema)


def test_the_unit_file_runs_the_unit_as_the_user_and_its_checksum_is_the_sha1_of_its_text():
    import hashlib

    unit = seal_unit("17/main", "finance", "audit", interval=5, user="postgres")
    lines = unit["text"].splitlines()
    assert unit["text"].endswith("\n") and unit["checksum"] == hashlib.sha1(unit["text"].encode()).hexdigest()
    assert "User=postgres" in lines and "RestartSec=5s" in lines and "Restart=always" in lines
    assert "ExecStart=" + unit["exec_start"] in lines
    assert "After=postgresql@17-main.service" in lines and "StartLimitIntervalSec=0" in lines
    assert [line for line in lines if line.startswith("StandardInputText=")] == [
        "StandardInputText=" + line for line in unit["script"]
    ]
    # Every database gets a unit whose settings stay one line each.
    for database in TRICKY:
        text = seal_unit("17/main", database, "audit", user="postgres")["text"]
        assert all(line.startswith(("#", "[")) or "=" in line or not line for line in text.splitlines())
    assert "checksum" not in seal_unit("17/main", "finance", "audit")


@pytest.mark.parametrize("user", ["", "post gres", "a%b", "x\ny", "$USER"])
def test_a_user_that_is_not_a_plain_role_name_is_refused(user):
    with pytest.raises(ValueError, match="plain role name"):
        seal_unit("17/main", "finance", "audit", user=user)
