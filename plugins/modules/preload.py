#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: preload
short_description: Manage shared_preload_libraries as a list, where it takes effect
version_added: 0.1.0
description:
  - Ensures libraries such as C(pgaudit) are in (or out of) C(shared_preload_libraries), comparing
    entries as a list, not as a string, so C('pg_stat_statements , pgaudit') already holds
    C(pgaudit). Other entries keep their spelling and order; new ones are appended.
  - Compares with the staged value (what the server will load at its next start), not with the
    running one, so a second run before the restart reports no change, and RV(restart_required)
    says whether a restart is still needed.
  - Edits the line that really sets the value (following C(include), C(include_if_exists) and
    C(include_dir); the last one wins), keeping comments and layout. When C(postgresql.auto.conf)
    sets the value, that is where it is changed, because it overrides the configuration files.
  - Refuses, changing nothing, a library whose file is missing, incomplete or not a module for
    this server, because a server with such a library listed does not start. The library is
    judged from its file, never loaded into the running server.
  - Keeps the owner, group and mode of every file it writes or backs up, and refuses, changing
    nothing, a file it could not write that way as the user it runs as (a file owned by another
    user, or by a group the user is not in; run the module as root for those).
  - Works while the server is down, editing the files, when O(config_file), O(data_directory)
    and O(pkglibdir) are given.
extends_documentation_fragment:
  - pgtrail.audit.connection
attributes:
  check_mode:
    support: full
    description: Computes the change, checks the libraries and writes nothing.
  diff_mode:
    support: full
    description: Shows the edited file before and after, or the value before and after C(ALTER SYSTEM).
options:
  libraries:
    description:
      - Libraries to ensure present or absent, as they are written in C(shared_preload_libraries)
        (C(pgaudit), C($libdir/pgaudit) or an absolute path).
      - C(pgaudit), C(pgaudit.so), C($libdir/pgaudit) and C(<pkglibdir>/pgaudit.so) are the same
        library.
    type: list
    elements: str
    required: true
  state:
    description:
      - V(present) appends the missing libraries after the existing entries.
      - V(absent) removes every entry that loads one of the libraries.
    type: str
    default: present
    choices: [present, absent]
  method:
    description:
      - V(conf) edits the configuration file line that sets the value, or appends one to
        O(config_file) when none does. When C(postgresql.auto.conf) sets the value, the change is
        made there instead (with C(ALTER SYSTEM) while the server is up, by editing the file
        while it is down), with a warning, since an edit of postgresql.conf would be overridden.
      - V(alter_system) uses C(ALTER SYSTEM); the server must be up.
    type: str
    default: conf
    choices: [conf, alter_system]
  config_file:
    description:
      - The server's main configuration file. Read from the server when it is up (a different
        value is an error); required when it is down.
    type: path
  data_directory:
    description:
      - The data directory, which holds C(postgresql.auto.conf). Read from the server when it is
        up (a different value is an error); required when it is down.
    type: path
  pkglibdir:
    description:
      - The directory the server loads libraries from (C(pg_config --pkglibdir), C($libdir)).
        Read from the server when it is up (a different value is an error); required when it is
        down.
    type: path
  check_library:
    description:
      - Before changing anything, check each library to add, from its file only, never loading
        it (a C(LOAD) of a truncated library crashes the backend and restarts the server). Its
        file must exist (C(<name>) or C(<name>.so) in O(pkglibdir), or the path given) and be a
        complete ELF shared object (headers, segments and sections inside the file) for the
        machine of the server's own libraries, with the PostgreSQL module magic block
        (C(Pg_magic_func)) of the server's major. A file that an OS package owns must also pass
        the package manager's check (C(dpkg --verify), C(rpm -V)).
      - Set V(false) only to preview, in check mode, a change for a package not yet installed.
    type: bool
    default: true
  backup:
    description:
      - Keep a copy of an edited file beside it (C(<file>.pgtrail-<timestamp>)), returned as
        RV(backup_file). Changes made with C(ALTER SYSTEM) are written by the server, without one.
    type: bool
    default: true
notes:
  - The module reads the configuration files and the data directory, so run it on the database
    host as the C(postgres) account (C(become_user=postgres)).
  - A changed C(shared_preload_libraries) takes effect at the next server start. Restart when
    RV(restart_required) is true.
  - When a connection fails and the three paths are given, the module works offline, unless
    C(postmaster.pid) in O(data_directory) names a live process (the server is up but refused
    the connection), which fails the task with the connection error.
  - Only the default C(dynamic_library_path) (C($libdir)) is searched for the library files.
seealso:
  - module: pgtrail.audit.audit_info
author:
  - pgtrail.audit maintainers (@pgtrail)
"""

EXAMPLES = r"""
- name: Preload pgaudit, keeping the other libraries
  become: true
  become_user: postgres
  pgtrail.audit.preload:
    libraries: [pgaudit]
  register: preload

- name: Restart when the staged list differs from the running one
  become: true
  ansible.builtin.systemd_service:
    name: postgresql@15-main
    state: restarted
  when: preload.restart_required

- name: Stage pgaudit while the server is stopped
  become: true
  become_user: postgres
  pgtrail.audit.preload:
    libraries: [pgaudit]
    config_file: /etc/postgresql/15/main/postgresql.conf
    data_directory: /var/lib/postgresql/15/main
    pkglibdir: /usr/lib/postgresql/15/lib

- name: Stop preloading pg_stat_statements, through ALTER SYSTEM
  become: true
  become_user: postgres
  pgtrail.audit.preload:
    libraries: [pg_stat_statements]
    state: absent
    method: alter_system
"""

RETURN = r"""
libraries:
  description: The staged list after the change (what the server loads at its next start).
  returned: always
  type: list
  elements: str
  sample: [pg_stat_statements, pgaudit]
running:
  description: The running list (C(SHOW shared_preload_libraries)), or null when the server is down.
  returned: always
  type: list
  elements: str
  sample: [pg_stat_statements]
restart_required:
  description:
    - Whether the staged list differs from the running one, so a restart is needed for it to
      take effect.
    - When the server is down there is no running list to compare with; then it is true
      whenever the staged list is not empty.
  returned: always
  type: bool
  sample: true
alter_system_allowed:
  description: Whether the server allows C(ALTER SYSTEM) (C(allow_alter_system), PostgreSQL 17 and
    later; always true before), or null when the server is down.
  returned: always
  type: bool
  sample: true
server_running:
  description: Whether the module could connect to the server (false means it worked offline).
  returned: always
  type: bool
  sample: true
source:
  description: Where the staged value is set after the change.
  returned: always
  type: dict
  contains:
    file:
      description: The file whose line sets the value (C(postgresql.auto.conf) for C(ALTER SYSTEM)),
        or null when nothing sets it.
      type: str
    line:
      description: The 1-based line number, or null when not known yet (in check mode, before
        C(ALTER SYSTEM) adds the line) or nothing sets it.
      type: int
    via:
      description: C(config file), C(ALTER SYSTEM) (C(postgresql.auto.conf)) or C(default)
        (nothing sets it).
      type: str
  sample: {file: /etc/postgresql/15/main/postgresql.conf, line: 745, via: config file}
backup_file:
  description: The copy of the edited file.
  returned: when a file was written and O(backup=true)
  type: str
  sample: /etc/postgresql/15/main/postgresql.conf.pgtrail-20260101T120000
executed_queries:
  description: The statements that changed something, in check mode those that would have run.
  returned: always
  type: list
  elements: str
  sample: ["ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements', 'pgaudit'"]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils import audit_facts, library_check, pgconf, postgres

SPL = "shared_preload_libraries"
AUTO_CONF = "postgresql.auto.conf"

SERVER_FACTS = """
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
            facts = self.session.query(SERVER_FACTS)[0]
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
        # The major of the data directory, which is the server's, up or down.
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
        try:
            if self.params["state"] == "present":
                new = pgconf.ensure_libraries(current, self.pkglibdir, present=self.params["libraries"])
            else:
                new = pgconf.ensure_libraries(current, self.pkglibdir, absent=self.params["libraries"])
        except ValueError as exc:
            self.fail("invalid libraries %r: %s" % (self.params["libraries"], exc))
        adding = [entry for entry in new if entry not in current]
        self.check_libraries(adding, [entry for entry in new if entry not in adding])

        use_alter_system = online and (method == "alter_system" or in_auto is not None)
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
        written = None
        if result["changed"]:
            diffs = []
            if use_alter_system:
                # After RESET the files' value counts again, and ALTER SYSTEM cannot store an
                # empty list: empty that line too.
                edit = not new and in_files is not None and bool(pgconf.ensure_entries(in_files["value"]))
                in_auto_to_edit = None
            else:
                edit, in_auto_to_edit = True, in_auto
            if edit:
                # Before any change, in check mode too: a file this user cannot write keeping
                # its owner, group and mode is refused, not half done.
                setting = in_auto_to_edit or in_files
                path = setting["path"] if setting else self.config_file
                try:
                    pgconf.check_writable(path)
                except PermissionError as exc:
                    self.fail("%s; nothing was changed" % exc, path=path)
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
            source = self.source_after(new, use_alter_system, written)
        else:
            source = describe_source(in_files, in_auto)

        result.update(
            libraries=new,
            source=source,
            restart_required=new != self.running if online else bool(new),
            executed_queries=self.executed_queries,
        )
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


def main():
    argument_spec = postgres.connection_argument_spec()
    argument_spec.update(
        libraries=dict(type="list", elements="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        method=dict(type="str", default="conf", choices=["conf", "alter_system"]),
        config_file=dict(type="path"),
        data_directory=dict(type="path"),
        pkglibdir=dict(type="path"),
        check_library=dict(type="bool", default=True),
        backup=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    session = connect_or_offline(module)
    try:
        result = Preload(module, session).run()
    finally:
        if session is not None:
            session.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
