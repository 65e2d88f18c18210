# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sealer's systemd units: their names and command line (pure; unit-tested).

One service and one timer per (cluster, database), named ``pgtrail-seal-<escaped>`` where
<escaped> is ``systemd-escape "<major>/<cluster>/<database>"``: any database name gives a
valid, distinct unit name, and ``systemd-escape -u`` reads it back.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# Shared with the read of the units on the host (audit_plan).
from ansible_collections.pgtrail.audit.plugins.module_utils.sealer_units import PREFIX

PSQL = "/usr/bin/psql"
# systemd's limit on a unit name, suffix included.
UNIT_NAME_MAX = 255
_KEEP = re.compile(rb"[A-Za-z0-9:_.]")


def systemd_escape(text):
    """What ``systemd-escape TEXT`` prints: "/" becomes "-", every byte but [A-Za-z0-9:_.] (and a
    leading ".") becomes \\xNN."""
    out = []
    for index, byte in enumerate(text.encode("utf-8")):
        char = bytes([byte])
        if char == b"/":
            out.append("-")
        elif _KEEP.match(char) and not (index == 0 and char == b"."):
            out.append(char.decode("ascii"))
        else:
            out.append("\\x%02x" % byte)
    return "".join(out)


def exec_word(text):
    """One word of ExecStart=, double-quoted: C escapes for quotes, backslashes and control
    characters, "%%" for a specifier's "%", "$$" for a variable's "$"."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char == "%":
            out.append("%%")
        elif char == "$":
            out.append("$$")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append("\\x%02x" % ord(char))
        else:
            out.append(char)
    return '"%s"' % "".join(out)


def quote_ident(name):
    return '"%s"' % name.replace('"', '""')


def conninfo_value(value):
    """A libpq connection-string value: single-quoted, backslash before ' and \\."""
    return "'%s'" % value.replace("\\", "\\\\").replace("'", "\\'")


def seal_unit(cluster, database, schema, lock_timeout="2s"):
    """``{name, prefix, description, exec_start}`` of the sealer of ``database`` in ``cluster``
    (``<major>/<name>``, Debian's ``psql --cluster``)."""
    if not re.match(r"^[0-9]+/[^/\s]+$", cluster or ""):
        raise ValueError("cluster %r is not <major>/<name> (Debian's pg_wrapper)" % (cluster,))
    if not database or not schema:
        raise ValueError("the database and the schema must be named")
    prefix = PREFIX + systemd_escape(cluster + "/")
    name = prefix + systemd_escape(database)
    if len(name) + len(".service") > UNIT_NAME_MAX:
        raise ValueError(
            "the sealer's unit name for database %r is longer than systemd's %d characters" % (database, UNIT_NAME_MAX)
        )
    # -d takes a connection string, so a database name with "=" is not read as one.
    words = [
        PSQL,
        "-X",
        "-q",
        "-At",
        "-v",
        "ON_ERROR_STOP=1",
        "--cluster",
        cluster,
        "-d",
        "dbname=" + conninfo_value(database),
        "-c",
        "SET lock_timeout = '%s'" % lock_timeout,
        "-c",
        "SELECT %s.seal()" % quote_ident(schema),
    ]
    # Description= expands specifiers too; a control character would end the line.
    shown = re.sub(r"[\x00-\x1f\x7f]", "?", database).replace("%", "%%")
    description = "pgtrail.audit: seal the audit chain of database %s of cluster %s" % (shown, cluster)
    return dict(
        name=name,
        prefix=prefix,
        description=description,
        exec_start=" ".join(exec_word(word) if re.search(r"[^A-Za-z0-9/_.=-]", word) else word for word in words),
    )
