"""The preload module's decisions that need no server: where a change is written, what the
result says about the source, and whether a data directory's server is alive."""

import os

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils import preload

IN_FILES = dict(path="/etc/postgresql/15/main/postgresql.conf", line_number=745, value="pgaudit")
IN_AUTO = dict(path="/var/lib/postgresql/15/main/postgresql.auto.conf", line_number=3, value="pgaudit")
EMPTY_FILES = dict(IN_FILES, value="")


@pytest.mark.parametrize(
    "online, method, in_files, in_auto, new, expected",
    [
        # The file that sets it is edited.
        (True, "conf", IN_FILES, None, ["pgaudit"], (False, True, None)),
        (False, "conf", IN_FILES, None, ["pgaudit"], (False, True, None)),
        # postgresql.auto.conf overrides the files: ALTER SYSTEM while up, the file while down.
        (True, "conf", IN_FILES, IN_AUTO, ["pgaudit"], (True, False, None)),
        (False, "conf", IN_FILES, IN_AUTO, ["pgaudit"], (False, True, IN_AUTO)),
        (True, "alter_system", None, None, ["pgaudit"], (True, False, None)),
        # An empty list cannot be stored by ALTER SYSTEM: RESET it and empty the files' line.
        (True, "alter_system", IN_FILES, IN_AUTO, [], (True, True, None)),
        (True, "alter_system", EMPTY_FILES, IN_AUTO, [], (True, False, None)),
        (True, "alter_system", None, IN_AUTO, [], (True, False, None)),
    ],
)
def test_the_change_is_written_where_it_takes_effect(online, method, in_files, in_auto, new, expected):
    assert preload.choose_writes(online, method, in_files, in_auto, new) == expected


@pytest.mark.parametrize(
    "in_files, in_auto, expected",
    [
        (IN_FILES, IN_AUTO, dict(file=IN_AUTO["path"], line=3, via="ALTER SYSTEM")),
        (IN_FILES, None, dict(file=IN_FILES["path"], line=745, via="config file")),
        (None, None, dict(file=None, line=None, via="default")),
    ],
)
def test_the_source_is_the_setting_that_wins(in_files, in_auto, expected):
    assert preload.describe_source(in_files, in_auto) == expected


@pytest.mark.parametrize(
    "content, alive",
    [
        ("%d\n/var/lib/postgresql\n" % os.getpid(), True),  # a live process
        ("999999999\n", False),  # no such process
        ("not a pid\n", False),
        (None, False),  # no postmaster.pid: the server is down
    ],
)
def test_a_postmaster_pid_counts_only_when_its_process_lives(tmp_path, content, alive):
    if content is not None:
        (tmp_path / "postmaster.pid").write_text(content)
    assert preload.postmaster_pid(str(tmp_path)) == (os.getpid() if alive else None)


def test_check_mode_reads_the_file_as_it_would_be_written(tmp_path):
    conf = tmp_path / "postgresql.conf"
    conf.write_text("shared_preload_libraries = 'a'\n")
    read = preload._read_or_empty(str(tmp_path / "postgresql.auto.conf"))
    assert read(str(tmp_path / "postgresql.auto.conf")) == ""  # not there yet: empty
    with pytest.raises(FileNotFoundError):
        read(str(tmp_path / "missing.conf"))
    planned = preload._with_text(read, str(conf), "shared_preload_libraries = 'a, b'\n")
    assert planned(str(conf)) == "shared_preload_libraries = 'a, b'\n"
