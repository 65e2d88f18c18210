# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils import sealer_units
from ansible_collections.pgtrail.audit.plugins.plugin_utils import sealer

SERVICE = "pgtrail-seal-17-main-finance.service"
ESCAPED = "pgtrail-seal-17-main-pgt\\x20seal.service"


@pytest.mark.parametrize(
    "out, states",
    [
        (
            "Id=%s\nUnitFileState=enabled\nActiveState=active\nNeedDaemonReload=no\n" % SERVICE,
            {SERVICE: dict(enabled="enabled", active="active", reload=False)},
        ),
        # Several units, properties in systemd's order, an escaped name, a stale unit file.
        (
            "NeedDaemonReload=yes\nActiveState=inactive\nUnitFileState=disabled\nId=%s\n\n"
            "Id=%s\nUnitFileState=enabled\nActiveState=failed\nNeedDaemonReload=no\n" % (SERVICE, ESCAPED),
            {
                SERVICE: dict(enabled="disabled", active="inactive", reload=True),
                ESCAPED: dict(enabled="enabled", active="failed", reload=False),
            },
        ),
        # A property systemd left out is unknown, not a match.
        ("Id=%s\nActiveState=active\n" % SERVICE, {SERVICE: dict(enabled=None, active="active", reload=False)}),
        ("", {}),
    ],
)
def test_systemctl_show_is_read_per_unit(out, states):
    assert sealer_units.parse_show(out) == states


def test_the_read_lists_every_unit_the_sealer_names():
    unit = sealer.seal_unit("17/main", "finance", "audit")
    assert unit["name"].startswith(sealer_units.PREFIX) and unit["prefix"].startswith(sealer_units.PREFIX)
