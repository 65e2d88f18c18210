# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Options of the trail's modules (audit_trail, audit_lockdown, chain_verify), besides the
    # connection's (plugins/module_utils/_audit_trail/options.py). A module's own attributes add to
    # these and override them key by key.
    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    description: Reads the database and reports the statements that would run, changing nothing.
  diff_mode:
    support: full
options:
  database:
    description:
      - The database whose audit trail this is.
    type: str
    required: true
  schema:
    description:
      - The schema of the trail's tables and functions (M(pgtrail.audit.audit_trail) creates it when
        missing). Taken as the catalog stores it (never folded, no quotes), like role names.
    type: str
    default: audit
author:
  - pgtrail.audit maintainers (@pgtrail)
"""
