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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres, preload


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
    module.exit_json(**preload.run(module))


if __name__ == "__main__":
    main()
