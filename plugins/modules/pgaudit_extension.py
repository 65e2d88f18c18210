#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pgaudit_extension
short_description: Create the pgaudit extension in every database, re-creating it after an upgrade
version_added: 0.1.0
description:
  - Runs C(CREATE EXTENSION pgaudit) in each database that needs it, so DDL audit entries carry
    object names, or C(DROP EXTENSION pgaudit) with O(state=absent).
  - Refuses, changing nothing, when pgaudit is not in the running C(shared_preload_libraries);
    the extension needs the library loaded, which takes a restart.
  - When the installed extension version differs from the one the library offers (after a major
    upgrade, as there is no C(ALTER EXTENSION UPDATE) across majors), drops and creates the extension
    again in one transaction; pgaudit keeps no state in it. Such databases are listed in RV(recreated).
  - Checks every database named before it changes any; uses one connection per database.
extends_documentation_fragment:
  - pgtrail.audit.connection
attributes:
  check_mode:
    support: full
    description: Reports what would change and the statements that would run; changes nothing.
  diff_mode:
    support: full
    description: Shows the extension version per database before and after.
options:
  databases:
    description:
      - The databases to act on. C(all) means every database that accepts connections
        (C(datallowconn)) and that the connecting role may C(CONNECT) to, C(template1) included,
        so databases created later have the extension too; C(template0) never accepts connections
        and is left alone. Any other database C(all) passes over is listed in RV(skipped) and
        named in a warning.
      - Other names may be given with C(all); an unknown or non-connectable database is an error.
    type: list
    elements: str
    default: [all]
  state:
    description:
      - C(present) creates (or re-creates) the extension; C(absent) drops it where it exists.
    type: str
    choices: [present, absent]
    default: present
  expect_loaded:
    description:
      - Honoured in check mode only. Set it when a restart that loads pgaudit is pending (the
        C(pgtrail.audit.pgaudit) role does), so a C(--check) run before the first converge
        reports the extension it would create instead of failing because pgaudit is not loaded yet.
    type: bool
    default: false
notes:
  - With pgaudit unloaded, DDL fails in a database that has the extension (its event triggers
    need the library). Remove pgaudit from C(shared_preload_libraries) only after O(state=absent).
seealso:
  - module: pgtrail.audit.preload
  - module: pgtrail.audit.pgaudit_settings
"""

EXAMPLES = r"""
- name: Create pgaudit in every connectable database, template1 included
  become: true
  become_user: postgres
  pgtrail.audit.pgaudit_extension:

- name: Only in two databases
  become: true
  become_user: postgres
  pgtrail.audit.pgaudit_extension:
    databases: [finance, warehouse]

- name: Remove it everywhere (before unloading the library)
  become: true
  become_user: postgres
  pgtrail.audit.pgaudit_extension:
    state: absent
"""

RETURN = r"""
databases:
  description:
    - Per database, the extension version before and after (null when absent). In check mode with
      O(expect_loaded) and the package not installed yet, C(after) is C(default), the version the
      package will offer.
  returned: always
  type: dict
  sample: {postgres: {before: null, after: "1.7"}, template1: {before: "1.7", after: "1.7"}}
skipped:
  description:
    - Databases that O(databases=all) passed over because no session can open them
      (C(datallowconn) false, or C(CONNECT) not granted to the connecting role), with the
      reason; they have no extension until they can be opened and the module runs again.
      C(template0) is not listed.
  returned: always
  type: dict
  sample: {archive: "does not allow connections (datallowconn is false)"}
recreated:
  description: Databases where an extension of another version was dropped and created again.
  returned: always
  type: list
  elements: str
  sample: [finance]
available_version:
  description: The version the installed pgaudit package offers (C(pg_available_extensions)), or null.
  returned: always
  type: str
  sample: "17.1"
executed_queries:
  description: The statements run (in check mode, that would run), each followed by a comment naming its database.
  returned: always
  type: list
  elements: str
  sample: ["CREATE EXTENSION \"pgaudit\" -- database postgres"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils import pgaudit_extension, postgres


def main():
    argument_spec = postgres.connection_argument_spec()
    argument_spec.update(
        databases=dict(type="list", elements="str", default=["all"]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        expect_loaded=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    module.exit_json(**pgaudit_extension.run(module))


if __name__ == "__main__":
    main()
