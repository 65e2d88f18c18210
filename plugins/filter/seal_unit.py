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
  - The C(pgtrail.audit.audit_triggers) role installs one service per (cluster, database with
    C(hash_chain)) - a psql that keeps one connection and calls C(<schema>.seal()) every O(interval)
    seconds with C(\\watch), on a primary (on a standby it waits, and seals once promoted).
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
  interval:
    description: Seconds between two seals (C(audit_triggers_seal_interval)), at least 1.
    type: int
    default: 1
  user:
    description:
      - The service's C(User=), the database superuser. When given, the result also holds C(text), the
        whole unit file, and C(checksum), its SHA-1.
    type: str
"""

EXAMPLES = r"""
- name: Name the sealer of the finance database
  ansible.builtin.debug:
    msg: "{{ 'finance' | pgtrail.audit.seal_unit(cluster='17/main', schema='audit', interval=5) }}"
  # {"name": "pgtrail-seal-17-main-finance", "prefix": "pgtrail-seal-17-main-", "description": ...,
  #  "exec_start": "/usr/bin/psql -X -q -At ... -d \"dbname='finance' application_name=pgtrail-sealer\"",
  #  "script": ["SET lock_timeout = '2s';", "SELECT CASE ... \\\"audit\\\".seal() END", "\\\\watch 5"]}
"""

RETURN = r"""
_value:
  description:
    - C(name) (the unit's name without C(.service)), C(prefix) (shared by every sealer of the
      cluster), C(description), C(exec_start) (the service's C(ExecStart=) value) and C(script) (the
      lines of psql's standard input, each a C(StandardInputText=) value); with O(user), C(text) and
      C(checksum).
  type: dict
"""

from ansible_collections.pgtrail.audit.plugins.plugin_utils import filters
from ansible_collections.pgtrail.audit.plugins.plugin_utils.sealer import seal_unit as unit


def seal_unit(database, cluster, schema, interval=1, user=None):
    return filters.call("seal_unit", unit, cluster, database, schema, interval, user=user)


FilterModule = filters.filter_module(seal_unit)
