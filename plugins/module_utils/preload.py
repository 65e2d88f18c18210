# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preload module's run: shared_preload_libraries as a list, changed where it takes effect.

:class:`Preload` finds the line that really sets the value (``pgconf``), checks each library
to add from its file (``library_check``), then edits that line or runs ALTER SYSTEM; it works
on the files alone when the server is down. :func:`run` is the module's one call.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.pgtrail.audit.plugins.module_utils import audit_facts, library_check, pgconf, postgres

SPL = "shared_preload_libraries"
AUTO_CONF = "postgresql.auto.conf"

# Where the running server keeps its files, and its list (postgres.server_facts has the rest).
PATHS = """
SELECT current_setting('config_file') AS config_file,
       current_setting('data_directory') AS data_directory,
       (SELECT setting FROM pg_catalog.pg_config WHERE name = 'PKGLIBDIR') AS pkglibdir,
       current_setting('shared_preload_libraries') AS running,
       current_setting('allow_alter_system', true) AS allow_alter_system
"""


def _read_or_empty(missing_ok):
    # postgresql.auto.conf may not exist yet; every other file must.
    def read(path):
        try:
            return pgconf.read_text(path)
        except FileNotFoundError:
            if path == missing_ok:
                return ""
            raise

    return read


def _with_text(read, path, text):
    # In check mode: the files as they would be after writing ``text`` to ``path``.
    def with_text(name):
        return text if name == path else read(name)

    return with_text


class Preload:
    def __init__(self, module, session):
        self.module = module
        self.session = session
        self.params = module.params
        self.executed_queries = session.executed_queries if session else []
        self.running = None
        self.alter_system_allowed = None
        self.server = postgres.server_facts(session) if session else None
        self.locate()
        self.auto_conf = os.path.join(self.data_directory, AUTO_CONF)

    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=msg, executed_queries=self.executed_queries, **kwargs)

    # Where things are -----------------------------------------------------------------

    def locate(self):
        given = dict((key, self.params[key]) for key in ("config_file", "data_directory", "pkglibdir"))
        if self.session is None:
            found = given
        else:
            facts = self.session.query(PATHS)[0]
            self.running = pgconf.ensure_entries(facts["running"])
            # PostgreSQL 17+ can forbid ALTER SYSTEM; older servers always allow it.
            self.alter_system_allowed = facts["allow_alter_system"] != "off"
            found = dict((key, facts[key]) for key in given)
            for key, value in given.items():
                # Editing a file the running server does not read would change nothing.
                if value and os.path.realpath(value) != os.path.realpath(found[key]):
                    self.fail("%s=%s, but the running server uses %s" % (key, value, found[key]))
        self.config_file = found["config_file"]
        self.data_directory = found["data_directory"]
        self.pkglibdir = found["pkglibdir"]
        if not os.path.isdir(self.data_directory):
            self.fail("data_directory %s is not a directory" % self.data_directory)

    def staged(self, read=None):
        """The settings in the files and in postgresql.auto.conf (each None when unset)."""
        read = read or _read_or_empty(self.auto_conf)
        try:
            in_files = pgconf.find_setting(self.config_file, SPL, read=read)
            in_auto = pgconf.find_setting(self.auto_conf, SPL, read=read)
        except (ValueError, OSError) as exc:
            self.fail("cannot read the configuration: %s" % exc)
        return in_files, in_auto

    # Checks before any change ----------------------------------------------------------

    def check_libraries(self, adding, listed):
        for entry in adding:
            try:
                candidates = pgconf.library_candidates(entry, self.pkglibdir)
            except ValueError as exc:
                self.fail("cannot add %s to %s: %s" % (entry, SPL, exc))
            if not self.params["check_library"]:
                continue
            found = [path for path in candidates if os.path.isfile(path)]
            if not found:
                self.fail(
                    "library %r not found: no file %s; install its package first (nothing was changed)"
                    % (entry, " or ".join(candidates)),
                    library=entry,
                    pkglibdir=self.pkglibdir,
                )
            self.check_file(entry, found[0])
        if self.params["check_library"]:
            self.warn_missing(listed)

    def check_file(self, entry, path):
        # Judged from its bytes and its package, never loaded: a LOAD of a truncated file kills
        # the backend (SIGBUS) and the postmaster then drops every session (library_check.py).
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            self.fail("cannot read library %r at %s: %s" % (entry, path, exc), library=entry)
        try:
            library_check.inspect_library(data, major=self.major(), machine=self.machine())
            package = audit_facts.package_of(path, self.run_tool)
            problem = package and library_check.package_problem(package, path, self.run_tool)
            if problem:
                raise library_check.LibraryProblem(problem)
        except library_check.LibraryProblem as exc:
            self.fail(
                "library %r at %s cannot be preloaded: %s; nothing was changed" % (entry, path, exc),
                library=entry,
                path=path,
            )

    def run_tool(self, args):
        # A package manager the host does not have (rpm on Debian) is no error: raise as the
        # callers expect, where run_command would fail the module.
        if not self.module.get_bin_path(args[0]):
            raise OSError("%s not found" % args[0])
        return self.module.run_command(args)

    def major(self):
        # The running server's, or when it is down that of its data directory.
        if self.server:
            return self.server["major"]
        try:
            with open(os.path.join(self.data_directory, "PG_VERSION")) as handle:
                return int(handle.read().strip().split(".")[0])
        except (OSError, ValueError):
            return None

    def machine(self):
        # The server's own procedural language library tells which machine its libraries are for.
        try:
            with open(os.path.join(self.pkglibdir, "plpgsql.so"), "rb") as handle:
                return library_check.elf_machine(handle.read(64))
        except OSError:
            return None

    def warn_missing(self, listed):
        for entry in listed:
            try:
                candidates = pgconf.library_candidates(entry, self.pkglibdir)
            except ValueError:
                continue
            if not any(os.path.isfile(path) for path in candidates):
                self.module.warn(
                    "%s lists %r but no file %s exists: the server will not start"
                    % (SPL, entry, " or ".join(candidates))
                )

    # The change ----------------------------------------------------------------------

    def alter_system(self, new, in_auto):
        """ALTER SYSTEM SET the list, or RESET it when it is empty; returns the diff (or None)."""
        if new:
            # One literal per entry: the parameter is GUC_LIST_QUOTE, so 'a, b' would become the
            # single library "a, b".
            statement = postgres.sql.SQL("ALTER SYSTEM SET shared_preload_libraries = {}").format(
                postgres.sql.SQL(", ").join(postgres.sql.Literal(entry) for entry in new)
            )
        elif in_auto is not None:
            # Never SET '': PostgreSQL writes '""', a library with an empty name, and then does
            # not start.
            statement = postgres.sql.SQL("ALTER SYSTEM RESET shared_preload_libraries")
        else:
            return None
        self.session.change(statement)
        before = "%s = %s\n" % (SPL, pgconf.quote_value(in_auto["value"])) if in_auto else ""
        after = "%s = %s\n" % (SPL, pgconf.quote_value(pgconf.render_list(new))) if new else ""
        return pgconf.diff_dict("%s (ALTER SYSTEM)" % self.auto_conf, before, after)

    def edit_file(self, new, in_files, in_auto):
        """Set the value on the line that sets it, or append one; returns (diff, backup, (path, text))."""
        setting = in_auto or in_files
        path = setting["path"] if setting else self.config_file
        before = _read_or_empty(self.auto_conf)(path)
        try:
            after = pgconf.set_in_text(
                before, SPL, pgconf.render_list(new), setting["line_number"] if setting else None
            )
        except ValueError as exc:
            self.fail("cannot set %s in %s: %s" % (SPL, path, exc))
        backup_file = None
        if not self.module.check_mode:
            try:
                backup_file = pgconf.atomic_write(self.module, path, after, backup=self.params["backup"])
            except OSError as exc:
                self.fail("cannot write %s: %s" % (path, exc))
        return pgconf.diff_dict(path, before, after), backup_file, (path, after)

    def run(self):
        online = self.session is not None
        method = self.params["method"]
        if method == "alter_system" and not online:
            self.fail("method=alter_system needs the running server; use method=conf to edit the files offline")

        in_files, in_auto = self.staged()
        current = pgconf.ensure_entries((in_auto or in_files or {}).get("value", ""))
        new = self.wanted(current)
        adding = [entry for entry in new if entry not in current]
        self.check_libraries(adding, [entry for entry in new if entry not in adding])

        use_alter_system, edit, in_auto_to_edit = choose_writes(online, method, in_files, in_auto, new)
        if use_alter_system and new != current and not self.alter_system_allowed:
            self.fail(
                "%s must be changed with ALTER SYSTEM (%s), but this server has allow_alter_system = off;"
                " nothing was changed"
                % (SPL, "method=alter_system" if method == "alter_system" else "postgresql.auto.conf sets it")
            )
        if in_auto is not None and method == "conf":
            self.module.warn(
                "%s is set in %s, which overrides the configuration files: changing it there%s"
                % (SPL, self.auto_conf, " with ALTER SYSTEM" if online else "")
            )

        result = dict(
            changed=new != current,
            server_running=online,
            running=self.running,
            alter_system_allowed=self.alter_system_allowed,
        )
        if result["changed"]:
            result.update(self.write(new, in_files, in_auto, use_alter_system, edit, in_auto_to_edit))
        else:
            result["source"] = describe_source(in_files, in_auto)
        result.update(
            libraries=new,
            restart_required=new != self.running if online else bool(new),
            executed_queries=self.executed_queries,
        )
        return result

    def wanted(self, current):
        """The list after the change."""
        libraries = self.params["libraries"]
        try:
            if self.params["state"] == "present":
                return pgconf.ensure_libraries(current, self.pkglibdir, present=libraries)
            return pgconf.ensure_libraries(current, self.pkglibdir, absent=libraries)
        except ValueError as exc:
            self.fail("invalid libraries %r: %s" % (libraries, exc))

    def write(self, new, in_files, in_auto, use_alter_system, edit, in_auto_to_edit):
        """Make the change; returns the result's source, diff and backup_file."""
        result = {}
        if edit:
            # Before any change, in check mode too: a file this user cannot write keeping
            # its owner, group and mode is refused, not half done.
            setting = in_auto_to_edit or in_files
            path = setting["path"] if setting else self.config_file
            try:
                pgconf.check_writable(path)
            except PermissionError as exc:
                self.fail("%s; nothing was changed" % exc, path=path)
        diffs, written = [], None
        if use_alter_system:
            diffs.append(self.alter_system(new, in_auto))
            if edit:
                self.module.warn(
                    "ALTER SYSTEM cannot set an empty %s, so %s line %d is set to '' instead"
                    % (SPL, in_files["path"], in_files["line_number"])
                )
        if edit:
            diff, backup_file, written = self.edit_file(new, in_files, in_auto_to_edit)
            diffs.append(diff)
            if backup_file:
                result["backup_file"] = backup_file
        diffs = [diff for diff in diffs if diff]
        if self.module._diff:
            result["diff"] = diffs[0] if len(diffs) == 1 else diffs
        result["source"] = self.source_after(new, use_alter_system, written)
        return result

    def source_after(self, new, use_alter_system, written):
        if not self.module.check_mode:
            return describe_source(*self.staged())  # what was really written
        read = _read_or_empty(self.auto_conf)
        if written:
            read = _with_text(read, *written)
        in_files, in_auto = self.staged(read=read)
        if use_alter_system:
            if new:
                # ALTER SYSTEM rewrites the file: a new line's number is known only once it did.
                return dict(file=self.auto_conf, line=in_auto["line_number"] if in_auto else None, via="ALTER SYSTEM")
            in_auto = None  # RESET
        return describe_source(in_files, in_auto)


def choose_writes(online, method, in_files, in_auto, new):
    """(use ALTER SYSTEM, edit a file, the postgresql.auto.conf setting to edit or None).

    ALTER SYSTEM when asked, or when postgresql.auto.conf sets the value and the server is up
    (it overrides the files). After a RESET the files' value counts again, and ALTER SYSTEM
    cannot store an empty list: that line of the files is emptied too. Offline, the file that
    sets the value is edited, postgresql.auto.conf included.
    """
    use_alter_system = online and (method == "alter_system" or in_auto is not None)
    if use_alter_system:
        edit = not new and in_files is not None and bool(pgconf.ensure_entries(in_files["value"]))
        return True, edit, None
    return False, True, in_auto


def describe_source(in_files, in_auto):
    if in_auto:
        return dict(file=in_auto["path"], line=in_auto["line_number"], via="ALTER SYSTEM")
    if in_files:
        return dict(file=in_files["path"], line=in_files["line_number"], via="config file")
    return dict(file=None, line=None, via="default")


def connect_or_offline(module):
    """A session, or None when the server is down and the paths to work offline are given."""
    conn, error = postgres.try_connect(module, autocommit=True)
    if conn is not None:
        return postgres.Session(module, conn)
    paths = ("config_file", "data_directory", "pkglibdir")
    missing = [name for name in paths if not module.params[name]]
    if missing:
        module.fail_json(msg="%s (to work with the server down, give %s)" % (error, ", ".join(missing)))
    pid = postmaster_pid(module.params["data_directory"])
    if pid:
        # Up but unreachable (wrong credentials, socket): editing files under it is not safe.
        module.fail_json(msg="%s; the server is running (postmaster.pid names live process %d)" % (error, pid))
    return None


def postmaster_pid(data_directory):
    """The pid in postmaster.pid if that process is alive, else None."""
    try:
        with open(os.path.join(data_directory, "postmaster.pid")) as handle:
            pid = int(handle.readline().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by someone else
    return pid


def run(module):
    """The preload module: returns its result, or fails saying why, having changed nothing."""
    session = connect_or_offline(module)
    try:
        return Preload(module, session).run()
    finally:
        if session is not None:
            session.close()
