# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""The options the trail's modules share (audit_trail, audit_lockdown, chain_verify), documented
once in the doc fragments ``pgtrail.audit.connection`` and ``pgtrail.audit.trail``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres


def argument_spec(**options):
    """The connection's options, ``database`` and ``schema``, then the module's own ``options``."""
    return postgres.connection_argument_spec(
        database=dict(type="str", required=True), schema=dict(type="str", default="audit"), **options
    )


# One entry of audit_trail's option ``schemas``.
SCHEMA_RULE = dict(name=dict(type="str", required=True), exclude=dict(type="list", elements="str", default=[]))

# The options of audit_trail besides ``argument_spec``'s: the module's and audit_plan's (which
# plans each database's trail with them).
TRAIL = dict(
    tables=dict(type="list", elements="raw", default=[]),
    schemas=dict(type="list", elements="dict", default=[], options=SCHEMA_RULE),
    exclude_columns=dict(type="dict", default={}),
    actor_setting=dict(type="str", default="pgtrail.actor_id"),
    actor_expression=dict(type="str"),
    require_actor=dict(type="bool", default=False),
    app_roles=dict(type="list", elements="str", default=[]),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    partition=dict(type="str", default="none", choices=["none", "monthly"]),
    retention_months=dict(type="int"),
    hash_chain=dict(type="bool", default=False),
)

# The options of audit_lockdown besides ``argument_spec``'s.
LOCKDOWN = dict(
    owner=dict(type="str", default="audit_owner"),
    app_roles=dict(type="list", elements="str", default=[]),
    reader_roles=dict(type="list", elements="str", default=[]),
    revoke_parameter_grants=dict(type="bool", default=True),
)
