"""pgtrail.audit.preload against real PostgreSQL: shared_preload_libraries as a list, where it
takes effect, never with a library the server cannot load.

The containers are shared by the whole session: the ``host`` fixture puts every configuration
file back, removes backups and test files, and restarts the server if its running list changed.
"""

import pytest

SNAPSHOT = "/root/pgtrail-preload-test"


def conf_dir(pg):
    return "/etc/postgresql/%d/main" % pg.major


def main_conf(pg):
    return conf_dir(pg) + "/postgresql.conf"


def auto_conf(pg):
    return "/var/lib/postgresql/%d/main/postgresql.auto.conf" % pg.major


def libdir(pg):
    return "/usr/lib/postgresql/%d/lib" % pg.major


def offline_paths(pg):
    return dict(
        config_file=main_conf(pg),
        data_directory="/var/lib/postgresql/%d/main" % pg.major,
        pkglibdir=libdir(pg),
    )


def read(pg, path):
    return pg.sh("cat %s" % path).stdout


def append(pg, path, line):
    # As postgres, like the files the server's owner manages.
    pg.sh("cat >> %s <<'PGTRAIL_EOF'\n%s\nPGTRAIL_EOF" % (path, line), user="postgres")


def line_count(pg, path):
    return len(read(pg, path).split("\n")) - 1


def show(pg):
    return pg.psql("SHOW shared_preload_libraries")


def restart(pg):
    pg.sh("systemctl restart postgresql@%d-main" % pg.major)


def diff_of(result):
    diff = result["diff"]
    return diff[0] if isinstance(diff, list) else diff


def succeeded(result):
    assert not result["failed"], result.get("msg")
    return result


@pytest.fixture(scope="module")
def pgaudit_package(pg):
    """pgaudit installed for these tests, and removed again if it was not there before."""
    package = "postgresql-%d-pgaudit" % pg.major
    status = pg.sh("dpkg-query -W -f '${Status}' %s" % package, check=False).stdout
    installed = status.startswith("install ok installed")
    if not installed:
        pg.sh("apt-get install -y -qq %s >/dev/null" % package)
    yield package
    if not installed:
        pg.sh("apt-get remove -y -qq %s >/dev/null" % package)


@pytest.fixture
def host(pg, pgaudit_package):
    """The shared host, put back as it was: files, backups, a running server, its preload list."""
    listing = (
        "cd / && { find etc/postgresql/%(m)d/main -type f;"
        " ls -d var/lib/postgresql/%(m)d/main/postgresql.auto.conf*; } | sort" % {"m": pg.major}
    )
    pg.sh(
        "mkdir -p %(s)s && tar -C / -cpf %(s)s/conf.tar etc/postgresql/%(m)d/main"
        " var/lib/postgresql/%(m)d/main/postgresql.auto.conf && (%(l)s) > %(s)s/files"
        % {"s": SNAPSHOT, "m": pg.major, "l": listing}
    )
    running = show(pg)
    # Start from the Debian layout: other tests on this shared host may have left an ALTER
    # SYSTEM value, which would (rightly) take the edits away from postgresql.conf.
    pg.psql("ALTER SYSTEM RESET shared_preload_libraries")
    yield pg
    # Files the test created (conf.d files, backups) go; the originals come back byte for byte.
    pg.sh(
        "(%(l)s) | comm -13 %(s)s/files - | (cd / && xargs -r rm -f --) && tar -C / -xpf %(s)s/conf.tar"
        % {"s": SNAPSHOT, "l": listing}
    )
    pg.sh("rm -f %s/broken.so" % libdir(pg))
    pg.sh("systemctl start postgresql@%d-main" % pg.major)
    if show(pg) != running:
        restart(pg)
    assert show(pg) == running


def test_a_file_that_already_lists_pgaudit_among_spaces_reports_no_change(host):
    append(host, main_conf(host), "shared_preload_libraries = 'pg_stat_statements , pgaudit'")
    before = host.config_snapshot()

    result = succeeded(host.module("preload", {"libraries": ["pgaudit"]}))

    assert result["changed"] is False
    assert result["libraries"] == ["pg_stat_statements", "pgaudit"]
    last_line = line_count(host, main_conf(host))
    assert result["source"] == {"file": main_conf(host), "line": last_line, "via": "config file"}
    assert "backup_file" not in result
    assert host.config_snapshot() == before


def test_another_spelling_of_a_listed_library_counts_as_present(host):
    append(host, main_conf(host), "shared_preload_libraries = '$libdir/pgaudit.so'")
    before = host.config_snapshot()

    result = succeeded(host.module("preload", {"libraries": ["pgaudit"]}))

    assert result["changed"] is False
    assert result["libraries"] == ["$libdir/pgaudit.so"]
    assert host.config_snapshot() == before


def test_adding_pgaudit_appends_it_keeps_the_trailing_comment_and_backs_up_the_file(host):
    old_line = "shared_preload_libraries = 'pg_stat_statements'\t# keep this comment"
    append(host, main_conf(host), old_line)
    original = read(host, main_conf(host))

    result = succeeded(host.module("preload", {"libraries": ["pgaudit"]}))

    assert result["changed"] is True
    assert result["libraries"] == ["pg_stat_statements", "pgaudit"]
    new_line = "shared_preload_libraries = 'pg_stat_statements, pgaudit'\t# keep this comment"
    assert read(host, main_conf(host)) == original.replace(old_line, new_line)
    assert result["backup_file"].startswith(main_conf(host) + ".pgtrail-")
    assert read(host, result["backup_file"]) == original
    # The library is judged from its file: nothing is loaded into the running server.
    assert result["executed_queries"] == []
    assert result["server_running"] is True


def test_before_the_restart_a_second_run_is_unchanged_but_still_asks_for_the_restart(host):
    append(host, main_conf(host), "shared_preload_libraries = 'pg_stat_statements'")

    first = succeeded(host.module("preload", {"libraries": ["pgaudit"]}))
    second = succeeded(host.module("preload", {"libraries": ["pgaudit"]}))

    assert (first["changed"], first["restart_required"]) == (True, True)
    assert (second["changed"], second["restart_required"]) == (False, True)
    assert second["running"] != second["libraries"] == ["pg_stat_statements", "pgaudit"]

    restart(host)
    third = succeeded(host.module("preload", {"libraries": ["pgaudit"]}))

    assert (third["changed"], third["restart_required"]) == (False, False)
    assert third["running"] == ["pg_stat_statements", "pgaudit"]
    assert show(host).split(", ") == ["pg_stat_statements", "pgaudit"]


def test_check_mode_shows_the_diff_and_leaves_the_file_byte_identical(host):
    append(host, main_conf(host), "shared_preload_libraries = 'pg_stat_statements'")
    before = host.config_snapshot()

    result = succeeded(host.module("preload", {"libraries": ["pgaudit"]}, check_mode=True, diff=True))

    assert result["changed"] is True
    assert result["libraries"] == ["pg_stat_statements", "pgaudit"]
    diff = diff_of(result)
    assert diff["before_header"] == main_conf(host)
    assert "shared_preload_libraries = 'pg_stat_statements'\n" in diff["before"]
    assert "shared_preload_libraries = 'pg_stat_statements, pgaudit'\n" in diff["after"]
    assert "backup_file" not in result
    assert host.config_snapshot() == before
    assert host.sh("ls %s" % conf_dir(host)).stdout.count(".pgtrail-") == 0


def test_the_value_set_in_an_include_dir_file_is_the_one_edited(host):
    # Debian's postgresql.conf reads conf.d last, so a line there beats one above include_dir.
    assert "include_dir = 'conf.d'" in read(host, main_conf(host))
    host.sh(
        "sed -i \"s/^include_dir = 'conf.d'/shared_preload_libraries = 'auto_explain'\\n&/\" %s" % main_conf(host),
        user="postgres",
    )
    included = conf_dir(host) + "/conf.d/50-preload.conf"
    host.sh(
        "printf '%%s\\n' '# libraries' \"shared_preload_libraries = 'pg_stat_statements'   # from conf.d\" > %s"
        % included,
        user="postgres",
    )
    main_before = read(host, main_conf(host))

    result = succeeded(host.module("preload", {"libraries": ["pgaudit"]}))

    assert result["changed"] is True
    assert result["libraries"] == ["pg_stat_statements", "pgaudit"]
    assert result["source"] == {"file": included, "line": 2, "via": "config file"}
    assert read(host, included) == (
        "# libraries\nshared_preload_libraries = 'pg_stat_statements, pgaudit'   # from conf.d\n"
    )
    assert read(host, main_conf(host)) == main_before
    assert result["backup_file"].startswith(included + ".pgtrail-")


def test_a_value_set_with_alter_system_is_changed_in_postgresql_auto_conf_not_lost(host):
    append(host, main_conf(host), "shared_preload_libraries = 'auto_explain'")
    host.psql("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    main_before = read(host, main_conf(host))
    before = host.config_snapshot()

    preview = succeeded(host.module("preload", {"libraries": ["pgaudit"]}, check_mode=True, diff=True))

    assert preview["changed"] is True
    assert preview["executed_queries"][-1].startswith("ALTER SYSTEM SET")
    assert diff_of(preview)["before"] == "shared_preload_libraries = 'pg_stat_statements'\n"
    assert host.config_snapshot() == before

    result = succeeded(host.module("preload", {"libraries": ["pgaudit"]}, diff=True))

    assert result["changed"] is True
    assert result["libraries"] == ["pg_stat_statements", "pgaudit"]
    assert result["source"]["file"] == auto_conf(host)
    assert result["source"]["via"] == "ALTER SYSTEM"
    assert isinstance(result["source"]["line"], int)
    assert any("postgresql.auto.conf" in warning for warning in result["warnings"])
    assert result["executed_queries"] == [
        "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements', 'pgaudit'",
    ]
    assert "shared_preload_libraries = 'pg_stat_statements, pgaudit'" in read(host, auto_conf(host))
    assert diff_of(result)["after"] == "shared_preload_libraries = 'pg_stat_statements, pgaudit'\n"
    assert read(host, main_conf(host)) == main_before
    # What the server will load at its next start:
    staged = host.psql(
        "SELECT setting FROM pg_file_settings WHERE name = 'shared_preload_libraries' ORDER BY seqno DESC LIMIT 1"
    )
    assert staged == "pg_stat_statements, pgaudit"

    again = succeeded(host.module("preload", {"libraries": ["pgaudit"]}))
    assert again["changed"] is False


def test_method_alter_system_sets_the_list_and_resets_it_when_empty(host):
    args = {"libraries": ["pg_stat_statements", "pgaudit"], "method": "alter_system"}

    added = succeeded(host.module("preload", args))
    again = succeeded(host.module("preload", args))

    assert added["changed"] is True
    # One literal per entry: the parameter is GUC_LIST_QUOTE, 'a, b' would be one library "a, b".
    assert added["executed_queries"][-1] == (
        "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements', 'pgaudit'"
    )
    assert added["source"]["via"] == "ALTER SYSTEM"
    assert "shared_preload_libraries = 'pg_stat_statements, pgaudit'" in read(host, auto_conf(host))
    assert again["changed"] is False
    assert again["restart_required"] is True

    removed = succeeded(host.module("preload", dict(args, state="absent")))

    assert removed["changed"] is True
    assert removed["libraries"] == []
    assert removed["executed_queries"] == ["ALTER SYSTEM RESET shared_preload_libraries"]
    assert removed["source"] == {"file": None, "line": None, "via": "default"}
    assert "shared_preload_libraries" not in read(host, auto_conf(host))


def test_removing_the_last_library_never_leaves_an_empty_alter_system_value(host):
    # ALTER SYSTEM SET shared_preload_libraries = '' writes '""', and the server does not start.
    append(host, main_conf(host), "shared_preload_libraries = 'pg_stat_statements'")
    last_line = line_count(host, main_conf(host))
    host.psql("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")

    result = succeeded(host.module("preload", {"libraries": ["pg_stat_statements"], "state": "absent"}))

    assert result["changed"] is True
    assert result["libraries"] == []
    assert result["executed_queries"] == ["ALTER SYSTEM RESET shared_preload_libraries"]
    assert "shared_preload_libraries" not in read(host, auto_conf(host))
    # RESET alone would bring the file's value back, so that line is emptied too.
    assert read(host, main_conf(host)).endswith("shared_preload_libraries = ''\n")
    assert result["source"] == {"file": main_conf(host), "line": last_line, "via": "config file"}
    assert any("cannot set an empty" in warning for warning in result["warnings"])
    restart(host)
    assert show(host) == ""


@pytest.mark.parametrize("method", ["conf", "alter_system"])
def test_a_library_without_a_file_fails_naming_it_and_changes_nothing(host, method):
    append(host, main_conf(host), "shared_preload_libraries = 'pg_stat_statements'")
    before = host.config_snapshot()

    result = host.module("preload", {"libraries": ["pgaudit", "nosuchlib"], "method": method})

    assert result["failed"]
    assert "'nosuchlib'" in result["msg"]
    assert libdir(host) + "/nosuchlib.so" in result["msg"]
    assert host.config_snapshot() == before


def test_a_library_the_server_cannot_load_fails_naming_why(host):
    append(host, main_conf(host), "shared_preload_libraries = 'pg_stat_statements'")
    host.sh("echo garbage > %s/broken.so" % libdir(host))
    before = host.config_snapshot()

    result = host.module("preload", {"libraries": ["pgaudit", "broken"]})

    assert result["failed"]
    assert "library 'broken' at %s/broken.so cannot be preloaded" % libdir(host) in result["msg"]
    assert "no ELF header" in result["msg"]
    assert host.config_snapshot() == before


def test_with_the_server_stopped_the_file_is_edited_offline(host):
    append(host, main_conf(host), "shared_preload_libraries = 'pg_stat_statements'  # offline")
    args = dict(offline_paths(host), libraries=["pgaudit"])
    host.sh("systemctl stop postgresql@%d-main" % host.major)
    try:
        without_paths = host.module("preload", {"libraries": ["pgaudit"]})
        result = host.module("preload", args)
        again = host.module("preload", args)
    finally:
        host.sh("systemctl start postgresql@%d-main" % host.major)

    assert without_paths["failed"]
    assert "Unable to connect" in without_paths["msg"]
    assert "config_file, data_directory, pkglibdir" in without_paths["msg"]
    succeeded(result)
    assert (result["changed"], result["server_running"], result["running"]) == (True, False, None)
    assert result["restart_required"] is True
    assert result["executed_queries"] == []
    assert read(host, main_conf(host)).endswith("shared_preload_libraries = 'pg_stat_statements, pgaudit'  # offline\n")
    assert result["backup_file"].startswith(main_conf(host) + ".pgtrail-")
    assert succeeded(again)["changed"] is False
    # The server started with the staged list.
    assert show(host) == "pg_stat_statements, pgaudit"


def test_with_the_server_stopped_an_alter_system_value_is_edited_in_postgresql_auto_conf(host):
    host.psql("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    before_main = read(host, main_conf(host))
    host.sh("systemctl stop postgresql@%d-main" % host.major)
    try:
        result = host.module("preload", dict(offline_paths(host), libraries=["pgaudit"]))
    finally:
        host.sh("systemctl start postgresql@%d-main" % host.major)

    succeeded(result)
    assert result["changed"] is True
    assert result["source"]["file"] == auto_conf(host)
    assert any("postgresql.auto.conf" in warning for warning in result["warnings"])
    assert "shared_preload_libraries = 'pg_stat_statements, pgaudit'" in read(host, auto_conf(host))
    assert result["backup_file"].startswith(auto_conf(host) + ".pgtrail-")
    assert read(host, main_conf(host)) == before_main
    assert show(host) == "pg_stat_statements, pgaudit"


def test_with_the_server_stopped_missing_or_corrupt_libraries_are_refused(host):
    host.sh("echo garbage > %s/broken.so" % libdir(host))
    before = host.config_snapshot()
    host.sh("systemctl stop postgresql@%d-main" % host.major)
    try:
        missing = host.module("preload", dict(offline_paths(host), libraries=["nosuchlib"]))
        corrupt = host.module("preload", dict(offline_paths(host), libraries=["broken"]))
        alter_system = host.module("preload", dict(offline_paths(host), libraries=["pgaudit"], method="alter_system"))
    finally:
        host.sh("systemctl start postgresql@%d-main" % host.major)

    assert missing["failed"] and "'nosuchlib'" in missing["msg"]
    assert corrupt["failed"] and "'broken'" in corrupt["msg"] and "ELF" in corrupt["msg"]
    assert alter_system["failed"] and "needs the running server" in alter_system["msg"]
    assert host.config_snapshot() == before


def test_a_running_server_that_refuses_the_connection_is_not_edited_offline(host):
    before = host.config_snapshot()

    result = host.module("preload", dict(offline_paths(host), libraries=["pgaudit"], port=5499))

    assert result["failed"]
    assert "Unable to connect" in result["msg"]
    assert "the server is running (postmaster.pid" in result["msg"]
    assert host.config_snapshot() == before


def test_state_absent_removes_only_that_entry_and_keeps_the_order(host):
    append(host, main_conf(host), "shared_preload_libraries = 'auto_explain, pgaudit, pg_stat_statements'")

    result = succeeded(host.module("preload", {"libraries": ["pgaudit"], "state": "absent"}))
    again = succeeded(host.module("preload", {"libraries": ["pgaudit"], "state": "absent"}))

    assert result["changed"] is True
    assert result["libraries"] == ["auto_explain", "pg_stat_statements"]
    assert read(host, main_conf(host)).endswith("shared_preload_libraries = 'auto_explain, pg_stat_statements'\n")
    assert again["changed"] is False


def test_a_config_file_the_server_does_not_read_is_refused(host):
    result = host.module("preload", {"libraries": ["pgaudit"], "config_file": "/tmp/other.conf"})

    assert result["failed"]
    assert "config_file=/tmp/other.conf" in result["msg"]
    assert main_conf(host) in result["msg"]
