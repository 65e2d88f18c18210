#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pgaudit_settings
short_description: Apply pgaudit settings at system, database, role and role-in-database scope
version_added: 0.1.0
description:
  - Sets C(pgaudit.*) parameters with C(ALTER SYSTEM), C(ALTER DATABASE ... SET),
    C(ALTER ROLE ... SET) and C(ALTER ROLE ... IN DATABASE ... SET), all in one connection.
  - Validates everything before it changes anything; every setting name, value and C(pgaudit.log)
    class, every database and role, and every setting the installed pgaudit version lacks.
    All problems are reported together and nothing is changed.
  - Database and role scopes change all or nothing, in one transaction. C(ALTER SYSTEM) cannot
    run in a transaction, so the system scope is applied after it, followed by
    C(SELECT pg_reload_conf()) when something changed there.
  - Values compare by meaning (C(WRITE,ddl) equals C(write, ddl), C(true) equals C(on)), and the
    system scope compares with the staged value (C(pg_file_settings)), so a second run reports
    no change even before the configuration is reloaded.
extends_documentation_fragment:
  - pgtrail.audit.connection
attributes:
  check_mode:
    support: full
    description: Plans and reports the same RV(changes) and RV(executed_queries); writes nothing.
  diff_mode:
    support: full
    description: Shows the settings of every listed scope before and after.
options:
  profile:
    description:
      - A named set of system pgaudit values that O(system) starts from; O(system) overrides any of
        them. V(baseline) logs writes and DDL with parameters, each statement once, no catalog
        noise; V(cis) is what the CIS benchmark 3.2 asks (C(write, ddl)); V(stig) is what the DISA
        STIG asks (C(read, write, role, ddl), C(log_catalog) on, C(log_parameter) on,
        C(log_statement_once) off, C(log_level) log); V(coverage) records every category of the
        seed document's "what to audit" (C(read, write, role, ddl, misc_set), C(log_catalog) off,
        C(log_parameter) on, C(log_statement_once) on, C(log_level) log) and sets, under
        O(server_settings) (which overrides them), C(log_connections) and C(log_disconnections) on,
        C(log_min_messages) C(warning) and C(log_min_error_statement) C(error).
      - V(seed) is the old name of V(baseline), deprecated; it is removed in release 0.2.0.
    type: str
    choices: [baseline, cis, stig, coverage, seed]
  system:
    description:
      - pgaudit settings for the whole server, set with C(ALTER SYSTEM).
      - Keys are setting names with or without the C(pgaudit.) prefix (C(log) or C(pgaudit.log));
        C(log) takes a list of classes or a comma-separated string.
      - When pgaudit is not loaded yet, the values are staged (written to C(postgresql.auto.conf))
        and take effect once the server restarts with pgaudit in C(shared_preload_libraries).
    type: dict
  server_settings:
    description:
      - Other server parameters to set with C(ALTER SYSTEM), for example C(log_connections),
        C(log_disconnections) or C(log_line_prefix).
      - Each name must exist in C(pg_settings). Booleans, enums and plain numbers are checked
        against C(pg_settings) before anything changes; numbers with a unit are checked by the server.
      - A parameter that needs a restart (C(pg_settings.context) C(postmaster)) is staged and
        reported in RV(pending_restart) while the running value differs.
      - C(pgaudit.*) names belong in O(system); C(shared_preload_libraries) belongs to
        M(pgtrail.audit.preload), which merges the list instead of replacing it.
    type: dict
  databases:
    description:
      - Settings per database, as C(database name -> settings), set with C(ALTER DATABASE ... SET).
      - Each database must exist.
    type: dict
  roles:
    description:
      - Settings per role, as C(role name -> settings), set with C(ALTER ROLE ... SET).
      - With the extra key C(database) in a role's settings, they apply only in that database
        (C(ALTER ROLE ... IN DATABASE ... SET)).
      - Role settings are not inherited through role membership and are read at session start.
    type: dict
  remove_unlisted:
    description:
      - At every scope listed in this task, reset the C(pgaudit.*) settings set there that the task
        does not list. Parameters that are not C(pgaudit.*) are never touched.
      - At system scope only C(postgresql.auto.conf) entries can be reset; a C(pgaudit.*) line in
        C(postgresql.conf) is reported as a warning instead.
    type: bool
    default: false
notes:
  - A value set for a database or role replaces the system value of that setting for those
    sessions; a C(pgaudit.log) that logs fewer classes than the system value is reported as a
    warning when it is set.
  - Object auditing needs O(system) C(role) (C(pgaudit.role)) to name the role that
    M(pgtrail.audit.object_audit) grants privileges to.
seealso:
  - module: pgtrail.audit.pgaudit_extension
  - module: pgtrail.audit.object_audit
"""

EXAMPLES = r"""
- name: Audit writes and DDL everywhere, reads in finance, everything the ETL role does in the warehouse
  become: true
  become_user: postgres
  pgtrail.audit.pgaudit_settings:
    system:
      log: [write, ddl]
      log_catalog: false
      log_parameter: true
      role: audit_objects
    server_settings:
      log_connections: true
      log_disconnections: true
      log_line_prefix: "%m [%p] %q%u@%d "
    databases:
      finance:
        log: [read, write, ddl]
    roles:
      etl_loader:
        database: warehouse
        log: all
      monitoring:
        log: none

- name: Keep only the listed pgaudit settings in the finance database
  become: true
  become_user: postgres
  pgtrail.audit.pgaudit_settings:
    databases:
      finance: {log: "read, write"}
    remove_unlisted: true
"""

RETURN = r"""
changes:
  description: Every setting changed (or, in check mode, that would change).
  returned: always
  type: list
  elements: dict
  contains:
    scope:
      description: One of C(system), C(database), C(role), C(role_in_database).
      type: str
    target:
      description: The database, the role, or C(role@database); null for C(system).
      type: str
    database:
      description: The database, for the C(database) and C(role_in_database) scopes.
      type: str
    role:
      description: The role, for the C(role) and C(role_in_database) scopes.
      type: str
    name:
      description: The full parameter name.
      type: str
    before:
      description: The value set at that scope before, or null.
      type: str
    after:
      description: The value set at that scope after, or null when it is reset.
      type: str
  sample:
    - {scope: database, target: finance, database: finance, name: pgaudit.log, before: null, after: "read, write"}
    - {scope: role_in_database, target: etl_loader@warehouse, role: etl_loader, database: warehouse,
       name: pgaudit.log, before: "write", after: "all"}
restart_required:
  description:
    - Whether a parameter of O(server_settings) waits for a restart (its staged value differs
      from the running one).
  returned: always
  type: bool
  sample: false
pending_restart:
  description: The parameters of O(server_settings) whose staged value waits for a restart.
  returned: always
  type: list
  elements: str
  sample: [max_connections]
pgaudit_version:
  description:
    - The pgaudit extension version the installed package offers, used to check settings; null
      when pgaudit is not installed.
  returned: always
  type: str
  sample: "1.7"
unreached_role_settings:
  description:
    - The listed roles that cannot log in (NOLOGIN group roles), with the settings given for them
      and their login members, in the shape of RV(pgtrail.audit.audit_info#module:unreached_role_settings).
      pgaudit does not inherit role settings through membership or C(SET ROLE), so these settings
      reach no session; each is also reported as a warning.
  returned: always
  type: list
  elements: dict
  sample:
    - {scope: role_in_database, target: readers@finance, role: readers, database: finance,
       settings: {pgaudit.log: read}, login_members: [carol]}
executed_queries:
  description: The statements run (in check mode, that would run), in order.
  returned: always
  type: list
  elements: str
  sample:
    - ALTER DATABASE "finance" SET "pgaudit"."log" = 'read, write'
    - ALTER SYSTEM SET "pgaudit"."log" = 'write, ddl'
    - SELECT pg_reload_conf()
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils import pgaudit_apply


def main():
    module = AnsibleModule(argument_spec=pgaudit_apply.argument_spec(), supports_check_mode=True)
    module.exit_json(**pgaudit_apply.run(module))


if __name__ == "__main__":
    main()
