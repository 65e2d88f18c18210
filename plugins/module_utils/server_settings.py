# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate and compare values of ordinary server parameters (pure logic, no server needed).

The pgaudit_settings module sets a few non-pgaudit parameters at system scope
(``log_connections``, ``log_line_prefix``...). It reads each parameter's ``pg_settings`` row
first; these functions then check a desired value against that row and compare it with the
staged or running value by meaning, so ``true`` against ``on`` or ``'%m '`` (quoted in YAML)
against ``%m `` never reports a change.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgtrail.audit.plugins.module_utils.pgaudit_settings import bool_text, parse_bool

# Names another step owns, with the reason shown to the user.
REFUSED = {
    "shared_preload_libraries": "the list is merged, not replaced, by the pgtrail.audit.preload module",
}

_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def as_text(value):
    """The text of a YAML scalar as PostgreSQL would read it; surrounding single quotes removed.

    ``True`` gives 'on', ``5`` gives '5', ``"'%m '"`` gives '%m ' (a doubled quote inside a
    quoted value is one quote). Raises ValueError for None, lists and dicts.
    """
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        raise ValueError("expected a single value (string, number or boolean), got %r" % (value,))
    text = value
    if len(text) >= 2 and text.startswith("'") and text.endswith("'"):
        text = text[1:-1].replace("''", "'")
    return text


def _number(text):
    text = text.strip()
    if not _PLAIN_NUMBER.match(text):
        return None
    number = float(text)
    return int(number) if number == int(number) else number


def canonical(text, vartype):
    """A comparable form of a value of a parameter of the given ``pg_settings.vartype``.

    Booleans become 'on'/'off', enums lower case, plain numbers their numeric value; text with a
    unit ('128MB') and strings stay as they are. Unreadable values stay as they are too, so they
    compare as different.
    """
    if text is None:
        return None
    if vartype == "bool":
        parsed = parse_bool(text)
        return text if parsed is None else ("on" if parsed else "off")
    if vartype == "enum":
        return text.strip().lower()
    if vartype in ("integer", "real"):
        number = _number(text)
        return text.strip() if number is None else repr(number)
    return text


def same_value(a, b, vartype):
    """True when two texts of one parameter mean the same value."""
    return canonical(a, vartype) == canonical(b, vartype)


def check_value(name, value, row):
    """Return the text to write for ``name = value``, or raise ValueError naming the problem.

    ``row`` is the parameter's ``pg_settings`` row: vartype, context, enumvals, min_val and
    max_val. Booleans are written 'on'/'off'; enums must be one of enumvals; plain numbers must
    be within range (numbers with a unit are left to the server).
    """
    if name in REFUSED:
        raise ValueError("%s is not managed here: %s" % (name, REFUSED[name]))
    if row.get("context") == "internal":
        raise ValueError("%s is read-only (set when PostgreSQL is built or initialised)" % name)
    try:
        text = as_text(value)
    except ValueError as exc:
        raise ValueError("%s: %s" % (name, exc))
    vartype = row.get("vartype")
    if vartype == "bool":
        return bool_text(name, text, shown=value)
    if vartype == "enum":
        choices = list(row.get("enumvals") or [])
        if choices and text.strip().lower() not in choices:
            raise ValueError("%s: invalid value %r; allowed: %s" % (name, value, ", ".join(choices)))
        return text.strip().lower()
    if vartype in ("integer", "real"):
        number = _number(text)
        if number is None:
            if not re.match(r"^\s*[+-]?[\d.]+\s*[a-zA-Z]+\s*$", text):
                raise ValueError("%s: invalid number %r" % (name, value))
            return text.strip()
        if vartype == "integer" and not isinstance(number, int):
            raise ValueError("%s: %r is not a whole number" % (name, value))
        low, high = row.get("min_val"), row.get("max_val")
        if low is not None and high is not None and not float(low) <= number <= float(high):
            raise ValueError("%s: %r is out of range; allowed %s to %s" % (name, value, low, high))
        return text.strip()
    return text
