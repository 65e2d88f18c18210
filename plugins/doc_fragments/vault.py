# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The vault's modules (vault_source, vault_store, vault_compare): their options besides the
    # connection's, one argument spec serving them (plugins/module_utils/_audit_vault/common.py),
    # then their attributes, to which a module's own add and which they override key by key.
    DOCUMENTATION = r"""
options:
  schema:
    description:
      - The trail's schema on the source. The vault's copy of the log is in a schema of the same
        name (logical replication matches tables by qualified name).
    type: str
    default: audit
  user:
    description: The vault's replication login on the source.
    type: str
    default: pgtrail_vault
  password:
    description: Its password (the vault's subscription connects with it).
    type: str
    required: true
attributes:
  check_mode:
    support: full
    description: Reports the statements that would run; changes nothing.
  diff_mode:
    support: none
    description: The statements are listed in RV(executed_queries).
"""

    # The source's publication of the log.
    PUBLICATION = r"""
options:
  publication:
    description: The source's publication of the log.
    type: str
    default: pgtrail_vault
"""

    # Where the vault reaches a source database.
    SOURCE = r"""
options:
  conninfo:
    description:
      - How the vault reaches the source, as a libpq connection string without database, user or
        password (C(host=db1.example.com port=5432 sslmode=verify-full)).
    type: str
    required: true
  source_database:
    description: The source database.
    type: str
    required: true
"""
