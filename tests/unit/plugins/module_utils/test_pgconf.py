"""postgresql.conf parsing and editing: pure logic, no server needed."""

import errno
import os
import stat

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils import pgconf


def fake_fs(files):
    """read/listdir callables over a {path: text} dict; directories are implied by paths."""

    def read(path):
        if path not in files:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        return files[path]

    def listdir(path):
        prefix = path.rstrip("/") + "/"
        names = set()
        for name in files:
            if name.startswith(prefix):
                rest = name[len(prefix) :]
                if "/" not in rest:
                    names.add(rest)
        if not names and not any(name.startswith(prefix) for name in files):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        return sorted(names, reverse=True)  # the real order is arbitrary: prove we sort

    return {"read": read, "listdir": listdir}


MAIN = "/etc/postgresql/15/main/postgresql.conf"
SPL = "shared_preload_libraries"


# parse_line ------------------------------------------------------------------------------


@pytest.mark.parametrize("line", ["", "   ", "\t\r", "# a comment", "   #shared_preload_libraries = 'x'", "\n"])
def test_blank_and_comment_lines_are_none(line):
    assert pgconf.parse_line(line) is None


@pytest.mark.parametrize(
    "line",
    [
        "shared_preload_libraries = 'pgaudit'",
        "shared_preload_libraries='pgaudit'",
        "shared_preload_libraries 'pgaudit'",
        "shared_preload_libraries\t=\t'pgaudit'",
        "shared_preload_libraries'pgaudit'",
        "  Shared_Preload_Libraries = pgaudit",
        "shared_preload_libraries = 'pgaudit'\r",
        "shared_preload_libraries = 'pgaudit'\n",
    ],
)
def test_separators_and_name_case(line):
    parsed = pgconf.parse_line(line)
    assert parsed["name"] == SPL
    assert parsed["value"] == "pgaudit"
    assert line[parsed["start"] : parsed["end"]] == parsed["raw_value"]


def test_hash_inside_quotes_is_not_a_comment():
    line = "log_line_prefix = '%m # [%p] '   # keep this comment"
    parsed = pgconf.parse_line(line)
    assert parsed["value"] == "%m # [%p] "
    assert parsed["raw_value"] == "'%m # [%p] '"
    assert line[parsed["end"] :] == "   # keep this comment"


def test_unquoted_value_followed_by_comment_without_space():
    parsed = pgconf.parse_line("shared_buffers = 128MB#tuned")
    assert parsed["value"] == "128MB"


@pytest.mark.parametrize(
    "raw, value",
    [
        ("'it''s'", "it's"),
        ("''''", "'"),
        ("''", ""),
        ("'a\\\\b'", "a\\b"),
        ("'a\\'b'", "a'b"),
        ("'\\n\\t\\r\\b\\f'", "\n\t\r\b\f"),
        ("'\\101\\1012'", "AA2"),
        ("'\\q'", "q"),
        ("'\\303\\251'", "\u00e9"),
        ("'caf\u00e9'", "caf\u00e9"),
    ],
)
def test_quoted_values_are_decoded_like_postgresql(raw, value):
    parsed = pgconf.parse_line("x = " + raw)
    assert parsed["value"] == value
    assert parsed["raw_value"] == raw


@pytest.mark.parametrize(
    "value",
    ["128MB", "-1", "0x1F", ".5", "1.5e-3", "on", "en_US.UTF-8", "a:b-c", "pg_stat_statements", "_x/y"],
)
def test_unquoted_values_are_taken_literally(value):
    assert pgconf.parse_line("x = " + value)["value"] == value


def test_qualified_names():
    parsed = pgconf.parse_line("PgAudit.Log = 'ddl, role'")
    assert parsed["name"] == "pgaudit.log"
    assert parsed["value"] == "ddl, role"


@pytest.mark.parametrize(
    "line",
    [
        "shared_preload_libraries = pg_stat_statements,pgaudit",  # list must be quoted
        "x =",
        "x",
        "x = 'unterminated",
        "x = 'a' 'b'",
        "= 1",
        "1x = 2",
        "x = = 1",
        "default_text_search_config = pg_catalog.english",  # PostgreSQL rejects this unquoted
        "x = 'a'' # quote runs into the comment",
        "x = 1.5GB",
        "unix_socket_directories = /var/run/postgresql",  # must start with a letter
    ],
)
def test_lines_postgresql_rejects_raise(line):
    with pytest.raises(ValueError, match="syntax error"):
        pgconf.parse_line(line)


# lists ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, entries",
    [
        ("pg_stat_statements , pgaudit", ["pg_stat_statements", "pgaudit"]),
        ("pgaudit", ["pgaudit"]),
        ("", []),
        ("  ", []),
        ("a,,b,", ["a", "b"]),
        ('"pgaudit", "$libdir/x"', ["pgaudit", "$libdir/x"]),
        ('"a,b" , c', ["a,b", "c"]),
        ('"say ""hi"""', ['say "hi"']),
        ('" padded "', [" padded "]),
        ("\ta b\t,\nc", ["a b", "c"]),
        ("PgAudit,pgaudit", ["PgAudit", "pgaudit"]),
    ],
)
def test_parse_list(value, entries):
    assert pgconf.parse_list(value) == entries


@pytest.mark.parametrize("value", ['"unterminated', '"a" b, c'])
def test_parse_list_rejects_broken_quotes(value):
    with pytest.raises(ValueError):
        pgconf.parse_list(value)


def test_render_list():
    assert pgconf.render_list(["pg_stat_statements", "pgaudit"]) == "pg_stat_statements, pgaudit"
    assert pgconf.render_list([]) == ""


def test_render_list_round_trips_awkward_entries():
    entries = ["a,b", 'say "hi"', " padded ", "plain", "$libdir/x"]
    rendered = pgconf.render_list(entries)
    assert rendered == '"a,b", "say ""hi""", " padded ", plain, $libdir/x'
    assert pgconf.parse_list(rendered) == entries


# ensure_entries ------------------------------------------------------------------------


def test_present_entry_already_there_is_not_duplicated():
    current = pgconf.parse_list("pg_stat_statements , pgaudit")
    assert pgconf.ensure_entries(current, present=["pgaudit"]) == ["pg_stat_statements", "pgaudit"]


def test_missing_entries_are_appended_in_order_and_others_keep_their_order():
    result = pgconf.ensure_entries(["b", "a"], present=["c", "a", "d", "c"])
    assert result == ["b", "a", "c", "d"]


def test_absent_entries_are_removed_everywhere():
    result = pgconf.ensure_entries(["pgaudit", "auto_explain", "pgaudit"], absent=["pgaudit"])
    assert result == ["auto_explain"]


def test_present_and_absent_together():
    result = pgconf.ensure_entries(["timescaledb", "auto_explain"], present=["pgaudit"], absent=["auto_explain"])
    assert result == ["timescaledb", "pgaudit"]


def test_entries_compare_trimmed_unquoted_and_case_sensitive():
    assert pgconf.ensure_entries([' "pgaudit" '], present=["pgaudit"]) == ["pgaudit"]
    assert pgconf.ensure_entries(["PgAudit"], present=["pgaudit"]) == ["PgAudit", "pgaudit"]
    assert pgconf.ensure_entries(["pgaudit"], absent=[' "pgaudit"']) == []


def test_ensure_entries_is_pure_and_accepts_a_single_string():
    current = ["a"]
    assert pgconf.ensure_entries(current, present="pgaudit") == ["a", "pgaudit"]
    assert current == ["a"]
    assert pgconf.ensure_entries([], absent="a") == []
    assert pgconf.ensure_entries("pg_stat_statements , pgaudit", present="pgaudit") == ["pg_stat_statements", "pgaudit"]


def test_ensure_entries_rejects_contradictions_and_empty_names():
    with pytest.raises(ValueError, match="pgaudit"):
        pgconf.ensure_entries([], present=["pgaudit"], absent=["pgaudit"])
    with pytest.raises(ValueError):
        pgconf.ensure_entries([], present=[" "])


# quote_value ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, quoted",
    [
        ("pgaudit", "'pgaudit'"),
        ("", "''"),
        ("it's", "'it''s'"),
        ("C:\\pg", "'C:\\\\pg'"),
        ("a # b", "'a # b'"),
    ],
)
def test_quote_value(value, quoted):
    assert pgconf.quote_value(value) == quoted
    assert pgconf.parse_line("x = " + quoted)["value"] == value


def test_quote_value_refuses_newlines():
    with pytest.raises(ValueError):
        pgconf.quote_value("a\nb")


# find_setting --------------------------------------------------------------------------


def test_last_occurrence_in_one_file_wins():
    text = "#shared_preload_libraries = ''\nshared_preload_libraries = 'a'\n\nshared_preload_libraries = 'b'  # two\n"
    fs = fake_fs({MAIN: text})
    found = pgconf.find_setting(MAIN, SPL, **fs)
    assert found == {
        "path": MAIN,
        "line_number": 4,
        "line": "shared_preload_libraries = 'b'  # two",
        "name": SPL,
        "value": "b",
    }
    every = pgconf.find_all_settings(MAIN, "Shared_Preload_Libraries", **fs)
    assert [(f["line_number"], f["value"]) for f in every] == [(2, "a"), (4, "b")]


def test_not_set_is_none():
    fs = fake_fs({MAIN: "# shared_preload_libraries = 'pgaudit'\nport = 5432\n"})
    assert pgconf.find_setting(MAIN, SPL, **fs) is None
    assert pgconf.find_all_settings(MAIN, SPL, **fs) == []


def test_include_is_read_where_the_directive_is():
    # The setting after the include overrides it; the include overrides the one before.
    files = {
        MAIN: "shared_preload_libraries = 'main1'\ninclude 'extra.conf'\nshared_preload_libraries = 'main2'\n",
        "/etc/postgresql/15/main/extra.conf": "shared_preload_libraries = 'extra'\n",
    }
    every = pgconf.find_all_settings(MAIN, SPL, **fake_fs(files))
    assert [f["value"] for f in every] == ["main1", "extra", "main2"]

    files[MAIN] = "shared_preload_libraries = 'main1'\ninclude 'extra.conf'\n"
    found = pgconf.find_setting(MAIN, SPL, **fake_fs(files))
    assert (found["path"], found["line_number"], found["value"]) == ("/etc/postgresql/15/main/extra.conf", 1, "extra")


def test_relative_paths_resolve_against_the_including_file():
    files = {
        MAIN: "include 'sub/a.conf'\n",
        "/etc/postgresql/15/main/sub/a.conf": "include = '../b.conf'\ninclude_dir 'd'\n",
        "/etc/postgresql/15/main/b.conf": "shared_preload_libraries = 'b'\n",
        "/etc/postgresql/15/main/sub/d/x.conf": "shared_preload_libraries = 'x'\n",
    }
    every = pgconf.find_all_settings(MAIN, SPL, **fake_fs(files))
    assert [(f["path"], f["value"]) for f in every] == [
        ("/etc/postgresql/15/main/b.conf", "b"),
        ("/etc/postgresql/15/main/sub/d/x.conf", "x"),
    ]


def test_absolute_include_paths_and_case_insensitive_directives():
    files = {MAIN: "INCLUDE '/srv/pg/extra.conf'\n", "/srv/pg/extra.conf": "shared_preload_libraries = 'abs'\n"}
    assert pgconf.find_setting(MAIN, SPL, **fake_fs(files))["value"] == "abs"


def test_missing_include_if_exists_is_skipped():
    files = {MAIN: "shared_preload_libraries = 'main'\ninclude_if_exists 'missing.conf'\n"}
    assert pgconf.find_setting(MAIN, SPL, **fake_fs(files))["value"] == "main"


def test_existing_include_if_exists_is_read():
    files = {
        MAIN: "shared_preload_libraries = 'main'\ninclude_if_exists = 'local.conf'\n",
        "/etc/postgresql/15/main/local.conf": "shared_preload_libraries = 'local'\n",
    }
    assert pgconf.find_setting(MAIN, SPL, **fake_fs(files))["value"] == "local"


def test_missing_include_raises_naming_the_file():
    files = {MAIN: "include 'missing.conf'\n"}
    with pytest.raises(ValueError, match="/etc/postgresql/15/main/missing.conf"):
        pgconf.find_setting(MAIN, SPL, **fake_fs(files))


def test_missing_main_file_raises_naming_it():
    with pytest.raises(ValueError, match="postgresql.conf"):
        pgconf.find_setting(MAIN, SPL, **fake_fs({}))


def test_missing_include_dir_raises_naming_it():
    files = {MAIN: "include_dir 'conf.d'\n"}
    with pytest.raises(ValueError, match="conf.d"):
        pgconf.find_setting(MAIN, SPL, **fake_fs(files))


@pytest.mark.parametrize("directive", ["include ''", "include_if_exists ' '", "include_dir ''"])
def test_blank_include_names_raise(directive):
    with pytest.raises(ValueError, match="empty"):
        pgconf.find_setting(MAIN, SPL, **fake_fs({MAIN: directive + "\n"}))


def test_include_dir_reads_conf_files_in_byte_order_and_skips_others():
    d = "/etc/postgresql/15/main/conf.d/"
    files = {
        MAIN: "shared_preload_libraries = 'main'\ninclude_dir 'conf.d'\n",
        d + "10-b.conf": "shared_preload_libraries = '10-b'\n",
        d + "9-a.conf": "shared_preload_libraries = '9-a'\n",
        d + "B.conf": "shared_preload_libraries = 'B'\n",
        d + "a.conf": "shared_preload_libraries = 'a'\n",
        d + "z.conf.bak": "shared_preload_libraries = 'bak'\n",
        d + ".hidden.conf": "shared_preload_libraries = 'hidden'\n",
        d + ".conf": "shared_preload_libraries = 'dot'\n",
        d + "README": "not a config file at all\n",
        d + "zz.conf.pgtrail-20260101T000000": "shared_preload_libraries = 'backup'\n",
    }
    every = pgconf.find_all_settings(MAIN, SPL, **fake_fs(files))
    assert [f["value"] for f in every] == ["main", "10-b", "9-a", "B", "a"]
    assert pgconf.find_setting(MAIN, SPL, **fake_fs(files))["path"] == d + "a.conf"


def test_settings_after_include_dir_override_it():
    files = {
        MAIN: "include_dir 'conf.d'\nshared_preload_libraries = 'main'\n",
        "/etc/postgresql/15/main/conf.d/a.conf": "shared_preload_libraries = 'a'\n",
    }
    assert pgconf.find_setting(MAIN, SPL, **fake_fs(files))["value"] == "main"


def test_empty_include_dir_is_fine(tmp_path):
    (tmp_path / "conf.d").mkdir()
    main = tmp_path / "postgresql.conf"
    main.write_text("include_dir 'conf.d'\n")
    assert pgconf.find_setting(str(main), SPL) is None


@pytest.mark.parametrize(
    "files, culprit",
    [
        ({MAIN: "include 'postgresql.conf'\n"}, MAIN),
        (
            {MAIN: "include 'a.conf'\n", "/etc/postgresql/15/main/a.conf": "include_if_exists 'postgresql.conf'\n"},
            MAIN,
        ),
        (
            {
                MAIN: "include_dir 'conf.d'\n",
                "/etc/postgresql/15/main/conf.d/a.conf": "include '../conf.d/a.conf'\n",
            },
            "/etc/postgresql/15/main/conf.d/a.conf",
        ),
    ],
)
def test_include_cycles_raise_naming_the_file(files, culprit):
    with pytest.raises(ValueError, match="recursion.*%s" % culprit):
        pgconf.find_setting(MAIN, SPL, **fake_fs(files))


def test_the_same_file_included_twice_is_not_a_cycle():
    files = {
        MAIN: "include 'a.conf'\nshared_preload_libraries = 'main'\ninclude 'a.conf'\n",
        "/etc/postgresql/15/main/a.conf": "shared_preload_libraries = 'a'\n",
    }
    every = pgconf.find_all_settings(MAIN, SPL, **fake_fs(files))
    assert [f["value"] for f in every] == ["a", "main", "a"]


def _chain(levels):
    files = {"/c/0.conf": "include '1.conf'\n"}
    for level in range(1, levels):
        files["/c/%d.conf" % level] = "include '%d.conf'\n" % (level + 1)
    files["/c/%d.conf" % levels] = "shared_preload_libraries = 'deep'\n"
    return files


def test_nesting_depth_ten_is_allowed_eleven_is_not():
    assert pgconf.find_setting("/c/0.conf", SPL, **fake_fs(_chain(10)))["value"] == "deep"
    with pytest.raises(ValueError, match="/c/11.conf.*nesting depth"):
        pgconf.find_setting("/c/0.conf", SPL, **fake_fs(_chain(11)))


def test_syntax_error_names_file_and_line():
    files = {MAIN: "include 'a.conf'\n", "/etc/postgresql/15/main/a.conf": "# ok\nport = 5432\nwork_mem = 4 MB\n"}
    with pytest.raises(ValueError, match='near token "MB" in file "/etc/postgresql/15/main/a.conf" line 3'):
        pgconf.find_setting(MAIN, SPL, **fake_fs(files))


def test_debian_layout_on_the_real_filesystem(tmp_path):
    etc = tmp_path / "etc" / "postgresql" / "15" / "main"
    (etc / "conf.d" / "ignored.conf").mkdir(parents=True)  # a directory is skipped
    (etc / "postgresql.conf").write_text(
        "data_directory = '/var/lib/postgresql/15/main'\n"
        "shared_preload_libraries = 'pg_stat_statements'\t# (change requires restart)\n"
        "include_dir = 'conf.d'\n"
        "include_if_exists = '/nonexistent/local.conf'\n"
    )
    (etc / "conf.d" / "50-audit.conf").write_text("shared_preload_libraries = 'pg_stat_statements, pgaudit'\n")
    (etc / "conf.d" / "README").write_text("shared_preload_libraries = 'nope'\n")
    found = pgconf.find_setting(str(etc / "postgresql.conf"), SPL)
    assert found["path"] == str(etc / "conf.d" / "50-audit.conf")
    assert found["line_number"] == 1
    assert pgconf.parse_list(found["value"]) == ["pg_stat_statements", "pgaudit"]
    assert len(pgconf.find_all_settings(str(etc / "postgresql.conf"), SPL)) == 2


# postgresql.auto.conf ------------------------------------------------------------------

AUTO = (
    "# Do not edit this file manually!\n"
    "# It will be overwritten by the ALTER SYSTEM command.\n"
    "work_mem = '64MB'\n"
    "shared_preload_libraries = 'pg_stat_statements'\n"
)


def test_auto_conf_value():
    assert pgconf.auto_conf_value(AUTO, SPL) == "pg_stat_statements"
    assert pgconf.auto_conf_value(AUTO, "SHARED_PRELOAD_LIBRARIES") == "pg_stat_statements"
    assert pgconf.auto_conf_value(AUTO, "port") is None
    assert pgconf.auto_conf_value("", SPL) is None


def test_auto_conf_last_wins_and_empty_string_still_overrides():
    text = AUTO + "shared_preload_libraries = ''\n"
    assert pgconf.auto_conf_value(text, SPL) == ""


def test_auto_conf_syntax_error():
    with pytest.raises(ValueError, match="line 2"):
        pgconf.auto_conf_value("a = 1\nb = = 2\n", "a")


# set_in_text ---------------------------------------------------------------------------

CONF = (
    "# - Shared Library Preloading -\n"
    "\n"
    "  shared_preload_libraries = 'pg_stat_statements'\t# (change requires restart)\n"
    "#local_preload_libraries = ''\n"
)


def test_replace_keeps_indentation_separator_and_comment():
    after = pgconf.set_in_text(CONF, SPL, "pg_stat_statements, pgaudit", line_number=3)
    assert after == CONF.replace("'pg_stat_statements'", "'pg_stat_statements, pgaudit'")


@pytest.mark.parametrize(
    "line, expected",
    [
        ("shared_preload_libraries pgaudit", "shared_preload_libraries 'a, b'"),
        ("shared_preload_libraries='x'#c", "shared_preload_libraries='a, b'#c"),
        ("SHARED_PRELOAD_LIBRARIES = 'a#b' # it's", "SHARED_PRELOAD_LIBRARIES = 'a, b' # it's"),
    ],
)
def test_replace_various_line_shapes(line, expected):
    assert pgconf.set_in_text("x = 1\n" + line + "\n", SPL, "a, b", line_number=2) == "x = 1\n" + expected + "\n"


def test_replace_keeps_crlf_and_a_missing_final_newline():
    text = "port = 5432\r\nshared_preload_libraries = ''\r\nwork_mem = 4MB"
    after = pgconf.set_in_text(text, SPL, "pgaudit", line_number=2)
    assert after == "port = 5432\r\nshared_preload_libraries = 'pgaudit'\r\nwork_mem = 4MB"


def test_equal_value_returns_the_text_unchanged():
    # Even when written differently (unquoted), an equal value is not rewritten.
    text = "shared_preload_libraries = pgaudit   # x\n"
    assert pgconf.set_in_text(text, SPL, "pgaudit", line_number=1) is text
    assert pgconf.set_in_text(CONF, SPL, "pg_stat_statements", line_number=3) is CONF


def test_append_when_not_set():
    expected_line = "shared_preload_libraries = 'pgaudit'\t# added by pgtrail.audit\n"
    assert pgconf.set_in_text(CONF, SPL, "pgaudit") == CONF + expected_line
    assert pgconf.set_in_text("port = 5432", SPL, "pgaudit") == "port = 5432\n" + expected_line
    assert pgconf.set_in_text("", SPL, "pgaudit") == expected_line
    assert pgconf.set_in_text("a = 1\r\n", SPL, "pgaudit") == "a = 1\r\n" + expected_line[:-1] + "\r\n"


def test_appended_line_is_found_again():
    after = pgconf.set_in_text("port = 5432\n", SPL, "it's \\ odd")
    found = pgconf.find_setting(MAIN, SPL, **fake_fs({MAIN: after}))
    assert found["value"] == "it's \\ odd"
    assert pgconf.set_in_text(after, SPL, "it's \\ odd", found["line_number"]) is after


def test_set_in_text_refuses_the_wrong_line_or_name():
    with pytest.raises(ValueError, match="does not set"):
        pgconf.set_in_text(CONF, SPL, "x", line_number=4)  # a comment
    with pytest.raises(ValueError, match="does not set"):
        pgconf.set_in_text("port = 5432\n", SPL, "x", line_number=1)
    with pytest.raises(ValueError, match="out of range"):
        pgconf.set_in_text(CONF, SPL, "x", line_number=99)
    with pytest.raises(ValueError, match="refusing"):
        pgconf.set_in_text(CONF, "not a name", "x")


# diffs ---------------------------------------------------------------------------------


def test_unified_diff():
    after = pgconf.set_in_text(CONF, SPL, "pgaudit", line_number=3)
    diff = pgconf.unified_diff(CONF, after, MAIN)
    assert diff.startswith("--- %s\n+++ %s\n" % (MAIN, MAIN))
    assert "-  shared_preload_libraries = 'pg_stat_statements'\t# (change requires restart)\n" in diff
    assert "+  shared_preload_libraries = 'pgaudit'\t# (change requires restart)\n" in diff
    assert pgconf.unified_diff(CONF, CONF, MAIN) == ""
    assert "+b = 2\n" in pgconf.unified_diff("a = 1", "a = 1\nb = 2", MAIN)


def test_diff_dict():
    assert pgconf.diff_dict(MAIN, "a", "b") == {
        "before": "a",
        "after": "b",
        "before_header": MAIN,
        "after_header": MAIN,
    }


# atomic_write --------------------------------------------------------------------------


@pytest.fixture
def module():
    """A real AnsibleModule with no arguments: atomic_write uses Ansible's own file handling."""
    from ansible.module_utils import basic

    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core before 2.19
        import json

        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": {}}).encode()
        yield basic.AnsibleModule(argument_spec={})
        basic._ANSIBLE_ARGS = None
        return
    with patch_module_args({}):
        yield basic.AnsibleModule(argument_spec={})


def test_atomic_write_preserves_mode_and_keeps_a_backup(tmp_path, module):
    conf = tmp_path / "postgresql.conf"
    conf.write_text("shared_preload_libraries = ''\n")
    os.chmod(str(conf), 0o640)
    before = os.stat(str(conf))

    backup = pgconf.atomic_write(module, str(conf), "shared_preload_libraries = 'pgaudit'\n")

    assert conf.read_text() == "shared_preload_libraries = 'pgaudit'\n"
    after = os.stat(str(conf))
    assert stat.S_IMODE(after.st_mode) == 0o640
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert backup.startswith(str(conf) + ".pgtrail-")
    assert not backup.endswith(".conf")  # an include_dir must never read a backup
    with open(backup) as handle:
        assert handle.read() == "shared_preload_libraries = ''\n"
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o640
    assert sorted(os.listdir(str(tmp_path))) == sorted(["postgresql.conf", os.path.basename(backup)])


def test_atomic_write_backups_in_the_same_second_do_not_collide(tmp_path, module):
    conf = tmp_path / "a.conf"
    conf.write_text("1\n")
    first = pgconf.atomic_write(module, str(conf), "2\n")
    second = pgconf.atomic_write(module, str(conf), "3\n")
    assert first != second
    assert {open(first).read(), open(second).read()} == {"1\n", "2\n"}


def test_atomic_write_without_backup(tmp_path, module):
    conf = tmp_path / "postgresql.conf"
    conf.write_text("a = 1\n")
    assert pgconf.atomic_write(module, str(conf), "a = 2\n", backup=False) is None
    assert os.listdir(str(tmp_path)) == ["postgresql.conf"]
    assert conf.read_text() == "a = 2\n"


def test_atomic_write_new_file(tmp_path, module):
    conf = tmp_path / "new.conf"
    assert pgconf.atomic_write(module, str(conf), "a = 1\n") is None
    assert conf.read_text() == "a = 1\n"
    assert stat.S_IMODE(os.stat(str(conf)).st_mode) == 0o644


def test_atomic_write_goes_through_a_symlink(tmp_path, module):
    real = tmp_path / "real.conf"
    real.write_text("a = 1\n")
    link = tmp_path / "postgresql.conf"
    link.symlink_to(real)
    backup = pgconf.atomic_write(module, str(link), "a = 2\n")
    assert link.is_symlink()
    assert real.read_text() == "a = 2\n"
    assert backup.startswith(str(real) + ".pgtrail-")


def test_unchanged_file_round_trips_byte_for_byte(tmp_path, module):
    raw = b"# caf\xe9 in latin-1, not UTF-8\r\nshared_preload_libraries = 'pgaudit' # \xff\nport = 5432"
    conf = tmp_path / "postgresql.conf"
    conf.write_bytes(raw)
    text = pgconf.read_text(str(conf))
    found = pgconf.find_setting(str(conf), SPL)
    assert found["line_number"] == 2
    assert pgconf.set_in_text(text, SPL, "pgaudit", found["line_number"]) is text
    pgconf.atomic_write(module, str(conf), text, backup=False)
    assert conf.read_bytes() == raw

    changed = pgconf.set_in_text(text, SPL, "pgaudit, pg_stat_statements", found["line_number"])
    pgconf.atomic_write(module, str(conf), changed, backup=False)
    assert conf.read_bytes() == raw.replace(b"'pgaudit'", b"'pgaudit, pg_stat_statements'")


class _Stat:
    def __init__(self, uid, gid):
        self.st_uid, self.st_gid = uid, gid


@pytest.mark.parametrize(
    "owner, uid, groups, keeps",
    [
        ((0, 0), 0, {0}, True),  # root keeps any owner and group
        ((0, 0), 999, {999}, False),  # root:root, written by postgres
        ((999, 0), 999, {999}, False),  # postgres:root, postgres not in group root
        ((999, 0), 999, {999, 0}, True),  # ... in group root
        ((999, 999), 999, {999}, True),  # postgres:postgres
        ((1000, 999), 999, {999}, False),  # another user's file
    ],
)
def test_keeps_attributes_only_when_the_user_can_give_owner_and_group(owner, uid, groups, keeps):
    assert pgconf.keeps_attributes(_Stat(*owner), uid, groups) is keeps


def test_atomic_write_refuses_before_writing_what_it_cannot_keep(tmp_path, module, monkeypatch):
    conf = tmp_path / "postgresql.conf"
    conf.write_text("a = 1\n")
    monkeypatch.setattr(pgconf, "keeps_attributes", lambda st, uid, groups: False)
    with pytest.raises(PermissionError, match="keeping its owner, group and mode"):
        pgconf.atomic_write(module, str(conf), "a = 2\n")
    assert conf.read_text() == "a = 1\n"
    assert os.listdir(str(tmp_path)) == ["postgresql.conf"]
