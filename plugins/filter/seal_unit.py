# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: seal_unit
short_description: The name and command line of the systemd units that seal one database's hash chain
version_added: 0.1.0
author:
  - pgtrail.audit maintainers (@pgtrail)
description:
  - The C(pgtrail.audit.audit_triggers) role installs one service and one timer per (cluster,
    database with C(hash_chain)) that call C(<schema>.seal()) every second.
  - The unit name is C(pgtrail-seal-) followed by C(systemd-escape "<major>/<cluster>/<database>"),
    so any database name gives a valid, distinct unit; the command line quotes the database and
    schema for systemd and for psql.
options:
  _input:
    description: The database whose chain the units seal.
    type: str
    required: true
  cluster:
    description: The cluster, C(<major>/<name>) as Debian's C(psql --cluster) takes it.
    type: str
    required: true
  schema:
    description: The trail's schema.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Name the sealer of the finance database
  ansible.builtin.debug:
    msg: "{{ 'finance' | pgtrail.audit.seal_unit(cluster='17/main', schema='audit') }}"
  # {"name": "pgtrail-seal-17-main-finance", "prefix": "pgtrail-seal-17-main-", "description": ...,
  #  "exec_start": "/usr/bin/psql -X -q -At ... -c \"SELECT \\\"audit\\\".seal()\""}
"""

RETURN = r"""
_value:
  description:
    - C(name) (the unit's name without C(.service) or C(.timer)), C(prefix) (shared by every sealer of the
      cluster), C(description) and C(exec_start) (the service's C(ExecStart=) value).
  type: dict
"""

from ansible_collections.pgtrail.audit.plugins.plugin_utils import filters
from ansible_collections.pgtrail.audit.plugins.plugin_utils.sealer import seal_unit as unit


def seal_unit(database, cluster, schema):
    return filters.call("seal_unit", unit, cluster, database, schema)


FilterModule = filters.filter_module(seal_unit)
