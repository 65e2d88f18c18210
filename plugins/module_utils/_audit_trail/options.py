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
    spec = postgres.connection_argument_spec()
    spec.update(
        database=dict(type="str", required=True),
        schema=dict(type="str", default="audit"),
    )
    spec.update(options)
    return spec
