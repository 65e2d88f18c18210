# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hash chain's sealer units as the host has them: audit_plan reads them, and the
audit_triggers role's tasks/sealer.yml compares them on the controller with what its template
and systemd_service tasks would leave, skipping those tasks where nothing differs.

Runs as the database superuser: the unit files are world-readable and ``systemctl show`` asks
systemd over D-Bus, which needs no privilege.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import os
import pwd
import stat

# Every sealer unit's name starts with it (plugin_utils/sealer.py names them).
PREFIX = "pgtrail-seal-"
DIRECTORY = "/etc/systemd/system"
# What systemd_service sets or reloads, as systemctl show names it.
PROPERTIES = ("Id", "UnitFileState", "ActiveState", "NeedDaemonReload")


def _name(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def parse_show(out):
    """{unit: {enabled, active, reload}} from the output of ``systemctl show --property=...`` for
    several units: one block of NAME=value lines per unit, blocks apart by an empty line (pure)."""
    states = {}
    for block in out.strip().split("\n\n"):
        shown = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "Id" in shown:
            states[shown["Id"]] = dict(
                enabled=shown.get("UnitFileState"),
                active=shown.get("ActiveState"),
                reload=shown.get("NeedDaemonReload") == "yes",
            )
    return states


def unit_states(module, units):
    """{unit: {enabled, active, reload}} as systemd reports them; {} where it cannot."""
    systemctl = module.get_bin_path("systemctl")
    if not units or not systemctl:
        return {}
    rc, out, _err = module.run_command([systemctl, "show", "--property=" + ",".join(PROPERTIES), "--"] + units)
    return parse_show(out) if rc == 0 else {}


def read(module, directory=DIRECTORY):
    """{file name: {checksum, owner, group, mode}} of each sealer unit file in ``directory``, a
    service's with its ``enabled``, ``active`` and ``reload`` states (None where systemd cannot
    say). A timer (the sealer of earlier versions) is listed, for the role to remove."""
    names = sorted(os.listdir(directory)) if os.path.isdir(directory) else []
    units = {}
    for name in names:
        if not (name.startswith(PREFIX) and name.endswith((".service", ".timer"))):
            continue
        path = os.path.join(directory, name)
        try:
            st = os.stat(path)
            checksum = module.sha1(path)
        except OSError:
            st, checksum = None, None
        units[name] = dict(
            checksum=checksum,
            owner=_name(pwd.getpwuid, st.st_uid) if st else None,
            group=_name(grp.getgrgid, st.st_gid) if st else None,
            mode="%04o" % stat.S_IMODE(st.st_mode) if st else None,
        )
    services = [name for name in units if name.endswith(".service")]
    states = unit_states(module, services)
    for service in services:
        units[service].update(states.get(service, dict(enabled=None, active=None, reload=None)))
    return units
