#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: audit_info
short_description: Read what a PostgreSQL server audits and where it stands
version_added: 0.1.0
description:
  - Reads, without changing anything, the facts the other pgtrail.audit modules and the reports
    build on, from the running server.
  - Returns the server version, where its files are, the running and staged
    C(shared_preload_libraries), whether a restart is pending, and the pgaudit library, package
    version and C(pgaudit.*) settings.
extends_documentation_fragment:
  - pgtrail.audit.connection
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to diff.
options: {}
author:
  - pgtrail.audit maintainers (@pgtrail)
"""

EXAMPLES = r"""
- name: Read the audit facts of the local server
  become: true
  become_user: postgres
  pgtrail.audit.audit_info:
  register: audit

- name: Show whether pgaudit is loaded
  ansible.builtin.debug:
    msg: "pgaudit loaded: {{ audit.pgaudit.loaded }}"
"""

RETURN = r"""
server_version:
  description: The server's version string (C(SHOW server_version)).
  returned: always
  type: str
  sample: "15.18 (Debian 15.18-0+deb12u1)"
server_version_num:
  description: The server's version as a number.
  returned: always
  type: int
  sample: 150018
major:
  description: The major version.
  returned: always
  type: int
  sample: 15
data_directory:
  description: The data directory.
  returned: always
  type: str
  sample: /var/lib/postgresql/15/main
config_file:
  description: The main configuration file.
  returned: always
  type: str
  sample: /etc/postgresql/15/main/postgresql.conf
pkglibdir:
  description: Where the server loads libraries from.
  returned: always
  type: str
  sample: /usr/lib/postgresql/15/lib
in_recovery:
  description: Whether the server is a standby (in recovery); standbys take only system-level changes.
  returned: always
  type: bool
  sample: false
shared_preload_libraries:
  description: The running value, as a list.
  returned: always
  type: list
  elements: str
  sample: [pg_stat_statements, pgaudit]
pending_restart:
  description: Settings whose staged value waits for a restart.
  returned: always
  type: list
  elements: str
  sample: [shared_preload_libraries]
pgaudit:
  description: The pgaudit library, its available extension version and the running C(pgaudit.*) values.
  returned: always
  type: dict
  contains:
    library_file:
      description: Whether C(pgaudit.so) is in RV(pkglibdir).
      type: bool
    loaded:
      description: Whether pgaudit is in the running C(shared_preload_libraries).
      type: bool
    available_version:
      description: The extension version the installed package offers, or null.
      type: str
    settings:
      description: Running C(pgaudit.*) values at system level (empty when not loaded).
      type: dict
  sample:
    library_file: true
    loaded: true
    available_version: "1.7"
    settings: {pgaudit.log: "write, ddl"}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils import pgconf, postgres

SERVER_FACTS = """
SELECT current_setting('server_version') AS server_version,
       current_setting('server_version_num')::int AS server_version_num,
       current_setting('data_directory') AS data_directory,
       current_setting('config_file') AS config_file,
       current_setting('shared_preload_libraries') AS shared_preload_libraries,
       pg_catalog.pg_is_in_recovery() AS in_recovery,
       (SELECT setting FROM pg_catalog.pg_config WHERE name = 'PKGLIBDIR') AS pkglibdir,
       (SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = 'pgaudit')
         AS pgaudit_available_version,
       ARRAY(SELECT name FROM pg_catalog.pg_settings WHERE pending_restart ORDER BY name)
         AS pending_restart
"""

PGAUDIT_SETTINGS = """
SELECT name, setting FROM pg_catalog.pg_settings WHERE name LIKE 'pgaudit.%' ORDER BY name
"""


def gather(session):
    row = session.query(SERVER_FACTS)[0]
    libraries = pgconf.parse_list(row["shared_preload_libraries"])
    settings = {r["name"]: r["setting"] for r in session.query(PGAUDIT_SETTINGS)}
    return dict(
        server_version=row["server_version"],
        server_version_num=row["server_version_num"],
        major=row["server_version_num"] // 10000,
        data_directory=row["data_directory"],
        config_file=row["config_file"],
        pkglibdir=row["pkglibdir"],
        in_recovery=row["in_recovery"],
        shared_preload_libraries=libraries,
        pending_restart=list(row["pending_restart"]),
        pgaudit=dict(
            library_file=os.path.exists(os.path.join(row["pkglibdir"], "pgaudit.so")),
            loaded="pgaudit" in libraries,
            available_version=row["pgaudit_available_version"],
            settings=settings,
        ),
    )


def main():
    module = AnsibleModule(argument_spec=postgres.connection_argument_spec(), supports_check_mode=True)
    session = postgres.open_session(module, autocommit=True)
    try:
        facts = gather(session)
    finally:
        session.close()
    module.exit_json(changed=False, **facts)


if __name__ == "__main__":
    main()
