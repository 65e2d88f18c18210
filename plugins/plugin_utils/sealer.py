# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sealer's systemd units: their names and command line (pure; unit-tested).

One long-lived service per (cluster, database), named ``pgtrail-seal-<escaped>`` where
<escaped> is ``systemd-escape "<major>/<cluster>/<database>"``: any database name gives a
valid, distinct unit name, and ``systemd-escape -u`` reads it back. Its psql keeps one connection
and runs the seal with ``\\watch`` (the script comes on standard input, from the unit's
``StandardInputText=``): a psql and a connection every second cost 4% of a core per database,
the one connection under 0.5% (docs/chain-v2.md, "What the sealer costs").
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

# Shared with the read of the units on the host (audit_plan).
from ansible_collections.pgtrail.audit.plugins.module_utils.sealer_units import PREFIX

PSQL = "/usr/bin/psql"
APPLICATION_NAME = "pgtrail-sealer"
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


def _escaped(text, backslashed, doubled):
    out = []
    for char in text:
        if char in backslashed:
            out.append("\\" + char)
        elif char in doubled:
            out.append(char * 2)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append("\\x%02x" % ord(char))
        else:
            out.append(char)
    return "".join(out)


def exec_word(text):
    """One word of ExecStart=, double-quoted: C escapes for quotes, backslashes and control
    characters, "%%" for a specifier's "%", "$$" for a variable's "$"."""
    return '"%s"' % _escaped(text, '"\\', "%$")


def unit_text(text):
    """A value of a unit file's setting that systemd reads with C escapes and specifiers
    (``StandardInputText=``): a backslash doubled, "%%" for a specifier's "%", control
    characters as \\xNN."""
    return _escaped(text, "\\", "%")


def quote_ident(name):
    return '"%s"' % name.replace('"', '""')


def conninfo_value(value):
    """A libpq connection-string value: single-quoted, backslash before ' and \\."""
    return "'%s'" % value.replace("\\", "\\\\").replace("'", "\\'")


def seal_unit(cluster, database, schema, interval=1, lock_timeout="2s", user=None):
    """``{name, prefix, description, exec_start, script}`` of the sealer of ``database`` in
    ``cluster`` (``<major>/<name>``, Debian's ``psql --cluster``) that seals every ``interval``
    seconds (an int >= 1). ``script`` is the lines of psql's standard input, each escaped for
    ``StandardInputText=``. With ``user`` (the service's ``User=``, the database superuser), also
    ``text``, the whole unit file, and ``checksum``, its SHA-1 as Ansible's ``stat`` gives it.
    Raises ValueError naming what cannot be a unit."""
    if not re.match(r"^[0-9]+/[^/\s]+$", cluster or ""):
        raise ValueError("cluster %r is not <major>/<name> (Debian's pg_wrapper)" % (cluster,))
    if not database or not schema:
        raise ValueError("the database and the schema must be named")
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise ValueError("the interval must be a whole number of seconds, at least 1, got %r" % (interval,))
    prefix = PREFIX + systemd_escape(cluster + "/")
    name = prefix + systemd_escape(database)
    if len(name) + len(".service") > UNIT_NAME_MAX:
        raise ValueError(
            "the sealer's unit name for database %r is longer than systemd's %d characters" % (database, UNIT_NAME_MAX)
        )
    # -d takes a connection string, so a database name with "=" is not read as one; the
    # application_name tells the sealer's session apart in pg_stat_activity.
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
        "dbname=%s application_name=%s" % (conninfo_value(database), APPLICATION_NAME),
    ]
    # One session for good: \watch runs the statement left in the buffer every interval, each run
    # its own transaction, so the session holds no snapshot in between. An error ends psql
    # (ON_ERROR_STOP) and systemd starts it again. A standby has nothing to seal (and may not have
    # the trail's schema yet: PL/pgSQL resolves seal() only where it runs it), and seals once
    # promoted.
    body = "BEGIN IF NOT pg_catalog.pg_is_in_recovery() THEN PERFORM %s.seal(); END IF; END" % quote_ident(schema)
    tag = "$seal$"
    while tag in body:
        tag = tag[:-1] + "_$"
    # pgaudit would log each seal's statements wherever the database or postgres logs read or
    # write: about 6 lines a second, 0.6 GB a day per database. The chain checks what a seal does.
    script = [
        "SET lock_timeout = '%s';" % lock_timeout,
        "SET pgaudit.log = 'none';",
        "SET pgaudit.role = '';",
        "DO %s%s%s" % (tag, body, tag),
        "\\watch %d" % interval,
    ]
    # Description= expands specifiers too; a control character would end the line.
    shown = re.sub(r"[\x00-\x1f\x7f]", "?", database).replace("%", "%%")
    description = "pgtrail.audit: seal the audit chain of database %s of cluster %s" % (shown, cluster)
    unit = dict(
        name=name,
        prefix=prefix,
        description=description,
        exec_start=" ".join(exec_word(word) if re.search(r"[^A-Za-z0-9/_.=-]", word) else word for word in words),
        script=[unit_text(line) for line in script],
    )
    if user is not None:
        unit["text"] = unit_file(unit, cluster, interval, user)
        unit["checksum"] = hashlib.sha1(unit["text"].encode("utf-8")).hexdigest()
    return unit


def unit_file(unit, cluster, interval, user):
    """The service file of ``unit`` (seal_unit's dict), run as ``user``. Written here rather than by
    a template so that the read's plan on the controller compares checksums without rendering."""
    if not user or re.search(r"[\s\\%$\"']", user):
        raise ValueError("the sealer's user must be a plain role name, got %r" % (user,))
    lines = [
        "# Ansible managed: pgtrail.audit's sealer (roles/audit_triggers, tasks/sealer.yml), rewritten on",
        "# every run. One psql session that seals the committed rows of the audit log into the hash",
        "# chain's blocks every %d s." % interval,
        "[Unit]",
        "Description=" + unit["description"],
        "After=postgresql@%s.service" % cluster.replace("/", "-"),
        "# Started again after every error, for good: without this, five restarts in 10 s would stop it.",
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=simple",
        "User=" + user,
        "ExecStart=" + unit["exec_start"],
        "# psql's script: a seal every interval with \\watch, in one session (a psql and a connection per",
        "# seal cost 4% of a core per database). On a standby it seals nothing until promoted.",
        "StandardInput=data",
    ]
    lines += ["StandardInputText=" + line for line in unit["script"]]
    lines += [
        "# An error ends psql (a restart of the server, a failed seal): it starts again after the interval.",
        "Restart=always",
        "RestartSec=%ds" % interval,
        "# Only what goes wrong is kept: psql's errors at warning, systemd's own messages about the unit up",
        "# to notice (a failure's exit status and result); \\watch's results are dropped.",
        "StandardOutput=null",
        "StandardError=journal",
        "SyslogLevel=warning",
        "LogLevelMax=notice",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"
