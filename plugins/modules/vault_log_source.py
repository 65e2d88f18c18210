#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vault_log_source
short_description: Let the audit vault read this server's jsonlog files, and nothing else
version_added: 0.2.0
description:
  - On a source of the audit vault, in each of O(databases), makes the schema C(pgtrail_vault_log)
    (C(USAGE) for O(user) only; apart from the trail's schema, whose lockdown lets only its readers
    run its functions) and in it two C(SECURITY DEFINER) functions owned by the login that runs the
    module (a superuser) -
    C(server_log_files()) lists the C(.json) files of the log directory (name, size, time, first
    bytes) and C(server_log_read(file, offset, length)) reads a byte range of one of them; a name
    that C(pg_ls_logdir()) does not list, or that does not end in C(.json), reads nothing. Both pin
    C(search_path = pg_catalog, pg_temp).
  - C(EXECUTE) on them is for the vault's login O(user) only (revoked from C(PUBLIC) and any other
    role). M(pgtrail.audit.vault_logs) on the vault reads the log through them.
  - Warns, and returns RV(jsonlog=false), when the server does not write a jsonlog yet
    (C(log_destination) without C(jsonlog), or C(logging_collector) off; the C(pgaudit) role
    stages both on a vault source).
extends_documentation_fragment:
  - pgtrail.audit.connection
attributes:
  check_mode:
    support: full
    description: Reports the functions and grants it would make; changes nothing.
  diff_mode:
    support: none
    description: No diff; RV(executed_queries) holds every statement.
options:
  databases:
    description: The databases (with the trail) the vault connects to.
    type: list
    elements: str
    required: true
  user:
    description: The vault's login on this server (M(pgtrail.audit.vault_source) makes it).
    type: str
    default: pgtrail_vault
seealso:
  - module: pgtrail.audit.vault_logs
  - module: pgtrail.audit.vault_source
"""

EXAMPLES = r"""
- name: Let the vault read the server's jsonlog
  become: true
  become_user: postgres
  pgtrail.audit.vault_log_source:
    databases: [finance]
"""

RETURN = r"""
executed_queries:
  description: The statements that made the functions or changed their grants (in check mode, that would run).
  returned: always
  type: list
  elements: str
databases:
  description: Per database, whether this run changed its functions.
  returned: always
  type: dict
  sample: {finance: {changed: false}}
jsonlog:
  description: Whether the server writes a jsonlog (C(log_destination) holds it and C(logging_collector) is on).
  returned: always
  type: bool
problems:
  description: Why the server writes no jsonlog yet.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils import vault_logs_setup


def main():
    module = AnsibleModule(argument_spec=vault_logs_setup.source_argument_spec(), supports_check_mode=True)
    module.exit_json(**vault_logs_setup.run_source(module))


if __name__ == "__main__":
    main()
