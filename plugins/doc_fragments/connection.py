# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # What every module shares: its connection options (plugins/module_utils/postgres.py), what
    # it needs on the host, and its maintainers.
    DOCUMENTATION = r"""
author:
  - pgtrail.audit maintainers (@pgtrail)
options:
  login_user:
    description:
      - The role to connect as. Most tasks need a superuser, because every C(pgaudit.*) setting
        is superuser-only.
    type: str
    default: postgres
    aliases: [login]
  login_password:
    description:
      - Password of O(login_user). Leave empty for peer or trust authentication on the local socket.
    type: str
    default: ''
  login_host:
    description:
      - Host to connect to over TCP. Empty means the local unix socket.
    type: str
    default: ''
  login_unix_socket:
    description:
      - Directory of the unix socket, when O(login_host) is empty and the socket is not in the
        default place.
    type: str
    default: ''
  port:
    description:
      - Port of the server (also selects the socket file).
    type: int
    default: 5432
    aliases: [login_port]
  login_db:
    description:
      - Database to connect to for server-wide work.
    type: str
    default: postgres
  ssl_mode:
    description:
      - libpq C(sslmode) for TCP connections.
    type: str
    default: prefer
    choices: [allow, disable, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - CA certificate file used to verify the server (libpq C(sslrootcert)).
    type: path
    aliases: [ssl_rootcert]
  connect_timeout:
    description:
      - Seconds to wait for a connection.
    type: int
    default: 10
  connect_params:
    description:
      - Further libpq connection parameters, for example C(target_session_attrs) or C(sslcert).
    type: dict
    default: {}
requirements:
  - psycopg >= 3.1 on the managed host (Debian and Ubuntu package C(python3-psycopg)).
notes:
  - Run these modules as the database superuser's operating system account (C(become_user=postgres))
    to use peer authentication on the local socket, or give O(login_host) and O(login_password).
"""
