# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate, normalise and compare pgaudit settings: pure logic, no server needed.

A module applies pgaudit settings at four scopes (system, database, role, role in
database). It validates every value with :func:`normalize_settings` before it changes
anything, then asks :func:`plan_scope` which ``SET``/``RESET`` actions a scope needs, so a
value that only differs in spelling (``'WRITE,ddl'`` against ``'write, ddl'``, ``'true'``
against ``'on'``) never reports a change.

``pgaudit.log`` accepts exactly what pgaudit's ``check_pgaudit_log`` accepts (PostgreSQL's
``SplitIdentifierString``, then each class matched case-insensitively):

* pgaudit applies the classes left to right and ``none`` adds no class, so ``'none, read'``
  logs read and ``'-misc'`` logs nothing (set on a role it does not subtract from the system
  value). :func:`logs_nothing` tells the values that turn auditing off; the role's inventory
  validator (``pgaudit_scope``) refuses those unless the inventory allows it for that scope.
* an empty element (``'read,,write'``, ``'read,'``, ``['read', '']``) is refused, as pgaudit
  refuses it; an empty value (``''``, ``[]``) is valid and means ``none``.
* ``misc`` also sets ``misc_set`` (pgaudit does ``LOG_MISC | LOG_MISC_SET``), so
  ``'misc'`` equals ``'misc, misc_set'`` and ``'misc, -misc_set'`` logs misc only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

PREFIX = "pgaudit."

# Canonical order of pgaudit.log tokens; also the order of the README.
LOG_CLASSES = ("none", "all", "read", "write", "function", "role", "ddl", "misc", "misc_set")

# The classes a statement can be logged under (what "all" expands to).
CONCRETE_CLASSES = ("read", "write", "function", "role", "ddl", "misc", "misc_set")

_CLASS_MEMBERS = {name: frozenset([name]) for name in CONCRETE_CLASSES}
_CLASS_MEMBERS["none"] = frozenset()
_CLASS_MEMBERS["all"] = frozenset(CONCRETE_CLASSES)
# pgaudit: "misc" sets LOG_MISC | LOG_MISC_SET, SET statements are checked against LOG_MISC_SET.
_CLASS_MEMBERS["misc"] = frozenset(["misc", "misc_set"])

# error, fatal and panic are refused by pgaudit's check_pgaudit_log_level.
LOG_LEVELS = ("debug5", "debug4", "debug3", "debug2", "debug1", "info", "notice", "warning", "log")
# pgaudit also accepts "debug" and treats it as DEBUG2; store the explicit name.
_LOG_LEVEL_ALIASES = {"debug": "debug2"}

# pgaudit.log_parameter_max_size is an int GUC without units, range 0 .. (1 << 30) - 1.
MAX_PARAMETER_SIZE = (1 << 30) - 1

SETTINGS = {
    "pgaudit.log": {"type": "list", "default": "none", "choices": LOG_CLASSES, "min_version": None},
    "pgaudit.log_catalog": {"type": "bool", "default": "on", "choices": None, "min_version": None},
    "pgaudit.log_client": {"type": "bool", "default": "off", "choices": None, "min_version": None},
    "pgaudit.log_level": {"type": "enum", "default": "log", "choices": LOG_LEVELS, "min_version": None},
    "pgaudit.log_parameter": {"type": "bool", "default": "off", "choices": None, "min_version": None},
    "pgaudit.log_parameter_max_size": {
        "type": "int",
        "default": "0",
        "choices": None,
        "min_version": "16.0",
        "min": 0,
        "max": MAX_PARAMETER_SIZE,
    },
    "pgaudit.log_relation": {"type": "bool", "default": "off", "choices": None, "min_version": None},
    "pgaudit.log_rows": {"type": "bool", "default": "off", "choices": None, "min_version": "1.6"},
    "pgaudit.log_statement": {"type": "bool", "default": "on", "choices": None, "min_version": "1.6"},
    "pgaudit.log_statement_once": {"type": "bool", "default": "off", "choices": None, "min_version": None},
    "pgaudit.role": {"type": "string", "default": "", "choices": None, "min_version": None},
}

# (word, value, shortest accepted prefix) as in PostgreSQL's parse_bool_with_len:
# "o" alone is ambiguous between on and off.
_BOOL_WORDS = (
    ("true", True, 1),
    ("false", False, 1),
    ("yes", True, 1),
    ("no", False, 1),
    ("on", True, 2),
    ("off", False, 2),
)


def _known_names():
    return ", ".join(name.split(".", 1)[1] for name in sorted(SETTINGS))


def full_name(name):
    """Return the full GUC name ('pgaudit.log') of a setting given with or without the prefix."""
    if not isinstance(name, str):
        raise ValueError("setting name must be a string, got %r" % (name,))
    key = name.strip().lower()
    if not key.startswith(PREFIX):
        key = PREFIX + key
    if key not in SETTINGS:
        raise ValueError(
            "unknown pgaudit setting %r; known settings (with or without the 'pgaudit.' prefix): %s"
            % (name, _known_names())
        )
    return key


def is_pgaudit_name(name):
    """True for any 'pgaudit.*' GUC name, known or not (e.g. a misspelt placeholder)."""
    return isinstance(name, str) and name.strip().lower().startswith(PREFIX)


# --- pgaudit.log -------------------------------------------------------------------------------


# PostgreSQL's scanner_isspace: the only characters SplitIdentifierString skips.
_SCANNER_SPACE = " \t\n\r\f"


def split_identifier_string(text):
    """PostgreSQL's SplitIdentifierString(text, ','), which pgaudit's check_pgaudit_log calls.

    Returns the list of names, or None where PostgreSQL returns false: an empty element
    ('read,,write', 'read,', ',read'), a space inside a name ('read write'), a stray quote.
    An empty or blank string is an empty list. Unquoted names are folded to lower case (ASCII
    only, as pgaudit's pg_strcasecmp compares); quoted names keep their text.
    """
    names = []
    pos, end = 0, len(text)
    while pos < end and text[pos] in _SCANNER_SPACE:
        pos += 1
    if pos == end:
        return names
    while True:
        if text[pos : pos + 1] == '"':
            name = []
            pos += 1
            while True:
                close = text.find('"', pos)
                if close < 0:
                    return None  # mismatched quotes
                name.append(text[pos:close])
                if text[close + 1 : close + 2] != '"':
                    pos = close + 1
                    break
                name.append('"')  # a doubled quote stands for one
                pos = close + 2
            names.append("".join(name))
        else:
            start = pos
            while pos < end and text[pos] != "," and text[pos] not in _SCANNER_SPACE:
                pos += 1
            if pos == start:
                return None  # empty unquoted name
            names.append(_ascii_lower(text[start:pos]))
        while pos < end and text[pos] in _SCANNER_SPACE:
            pos += 1
        if pos == end:
            return names
        if text[pos] != ",":
            return None
        pos += 1
        while pos < end and text[pos] in _SCANNER_SPACE:
            pos += 1


def _ascii_lower(text):
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def _log_tokens(value):
    """Split a list or comma string into (subtract, class) pairs exactly as pgaudit does.

    A list is the comma string of its items (an item may itself hold "read, write"), so an
    empty item is an empty element. Raises ValueError for what pgaudit refuses: an empty
    element, a malformed list, an unknown class (all named at once).
    """
    if isinstance(value, str):
        text = value
    elif isinstance(value, (list, tuple)):
        for item in value:
            if not isinstance(item, str):
                raise ValueError("pgaudit.log: class %r is not a string" % (item,))
        text = ",".join(value)
    else:
        raise ValueError("pgaudit.log must be a list or a comma-separated string, got %r" % (value,))
    raw = split_identifier_string(text)
    if raw is None:
        raise ValueError(
            "pgaudit.log: %r is not a list pgaudit accepts (an empty element, as in 'read,,write' or a trailing "
            "comma, a space inside a class name, or a stray quote); write the classes separated by commas, e.g. "
            "'write, ddl'" % (value,)
        )
    pairs = []
    unknown = []
    for token in raw:
        subtract = token.startswith("-")
        name = _ascii_lower(token[1:] if subtract else token)
        if name not in _CLASS_MEMBERS:
            unknown.append(token)
        else:
            pairs.append((subtract, name))
    if unknown:
        raise ValueError(
            "pgaudit.log: unknown class %s in %r; valid classes: %s (prefix a class with '-' to subtract it)"
            % (", ".join(repr(token) for token in unknown), value, ", ".join(LOG_CLASSES))
        )
    return pairs


def effective_classes(value):
    """Return the frozenset of concrete classes a pgaudit.log value logs, the way pgaudit reads it.

    Tokens apply left to right, 'all' expands to every class, 'misc' includes 'misc_set' and
    'none' adds nothing. Raises ValueError for any value pgaudit refuses.
    """
    logged = frozenset()
    for subtract, name in _log_tokens(value):
        if subtract:
            logged = logged - _CLASS_MEMBERS[name]
        else:
            logged = logged | _CLASS_MEMBERS[name]
    return logged


def logs_nothing(value):
    """True when a valid pgaudit.log value turns auditing off: 'none', '', [], '-misc', 'read, -read'."""
    return not effective_classes(value)


def _classes_text(logged):
    """A canonical string of a set of concrete classes ('none' when empty)."""
    if logged == _CLASS_MEMBERS["all"]:
        return "all"
    if not logged:
        return "none"
    tokens = [name for name in CONCRETE_CLASSES if name in logged and name != "misc_set"]
    if "misc_set" in logged and "misc" not in logged:
        tokens.append("misc_set")
    if "misc" in logged and "misc_set" not in logged:
        tokens.append("-misc_set")
    return ", ".join(tokens)


def normalize_log_classes(value):
    """Return the canonical pgaudit.log string of any value pgaudit accepts.

    Lower-case, duplicates removed, classes in the order of LOG_CLASSES followed by the
    subtractions ('all, -misc'); a value that logs nothing gives 'none'. A value whose meaning
    depends on its order ('none, read', 'all, -ddl, ddl') is written as the classes it logs.
    Raises ValueError for what pgaudit refuses (see _log_tokens).
    """
    pairs = _log_tokens(value)
    logged = effective_classes(value)
    if not logged:
        return "none"
    added = [name for subtract, name in pairs if not subtract]
    removed = [name for subtract, name in pairs if subtract]
    in_order = pairs == [(False, name) for name in added] + [(True, name) for name in removed]
    if "none" in added or "none" in removed or not in_order:
        return _classes_text(logged)
    tokens = [name for name in LOG_CLASSES if name in added]
    tokens.extend("-" + name for name in LOG_CLASSES if name in removed)
    return ", ".join(tokens)


def weakens(system_value, other_value):
    """Return the classes (sorted by name) that system_value logs and other_value does not.

    A role or database value replaces the system value for its sessions, so any class listed here
    goes unlogged there. An empty list means other_value logs at least as much.
    """
    return sorted(effective_classes(system_value) - effective_classes(other_value))


# --- versions -----------------------------------------------------------------------------------


def parse_version(version):
    """Return a comparable tuple of a pgaudit version ('1.7.0', '16.1', 17); trailing zeros dropped.

    Numeric comparison matters: 1.7 (PostgreSQL 15) < 16.0 (PostgreSQL 16).
    """
    if isinstance(version, (tuple, list)):
        text = ".".join(str(part) for part in version)
    elif isinstance(version, (str, int, float)) and not isinstance(version, bool):
        text = str(version)
    else:
        text = None
    match = re.match(r"\s*(\d+(?:\.\d+)*)", text) if text is not None else None
    if not match:
        raise ValueError("invalid pgaudit version %r; expected e.g. '1.7.0' or '16.1'" % (version,))
    parts = [int(part) for part in match.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()  # so '16', '16.0' and '16.0.0' are equal
    return tuple(parts)


def _version_text(version):
    return version if isinstance(version, str) else ".".join(str(part) for part in parse_version(version))


# --- single settings ----------------------------------------------------------------------------


def parse_bool(value):
    """Return True/False for a value PostgreSQL accepts as a boolean, else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return {1: True, 0: False}.get(value)
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if text in ("1", "0"):
        return text == "1"
    for word, result, shortest in _BOOL_WORDS:
        if len(text) >= shortest and word.startswith(text):
            return result
    return None


def bool_text(name, value, shown=None):
    """'on' or 'off' for a boolean PostgreSQL accepts; else ValueError naming ``name`` and the
    value as the user gave it (``shown``, default ``value``)."""
    parsed = parse_bool(value)
    if parsed is None:
        raise ValueError(
            "%s: invalid boolean %r; use on/off, true/false, yes/no or 1/0" % (name, value if shown is None else shown)
        )
    return "on" if parsed else "off"


def _parse_int(value):
    """Return the int of a Python int or a decimal string, else None (no units: the GUC has none)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.match(r"^\s*[+-]?\d+\s*$", value):
        return int(value)
    return None


def normalize_setting(name, value, pgaudit_version=None):
    """Return the canonical string of one setting, as PostgreSQL shows it.

    Bools 'on'/'off', ints as decimal, log_level lower-case, pgaudit.log via
    normalize_log_classes, pgaudit.role unchanged. With pgaudit_version, a setting that version
    does not have is an error. Raises ValueError naming the setting and the bad value.
    """
    key = full_name(name)
    spec = SETTINGS[key]
    if pgaudit_version is not None and spec["min_version"] is not None:
        if parse_version(pgaudit_version) < parse_version(spec["min_version"]):
            raise ValueError(
                "%s needs pgaudit %s or later; the installed pgaudit is %s"
                % (key, spec["min_version"], _version_text(pgaudit_version))
            )
    if value is None:
        raise ValueError("%s: no value given; give a value or leave the setting out" % key)
    kind = spec["type"]
    if kind == "list":
        return normalize_log_classes(value)
    if kind == "bool":
        return bool_text(key, value)
    if kind == "int":
        parsed = _parse_int(value)
        if parsed is None:
            raise ValueError("%s: invalid integer %r; give a whole number of bytes" % (key, value))
        if not spec["min"] <= parsed <= spec["max"]:
            raise ValueError(
                "%s: %r is out of range; allowed %d to %d (bytes, 0 = no limit)"
                % (key, value, spec["min"], spec["max"])
            )
        return str(parsed)
    if kind == "enum":
        text = value.strip().lower() if isinstance(value, str) else None
        text = _LOG_LEVEL_ALIASES.get(text, text)
        if text not in spec["choices"]:
            raise ValueError(
                "%s: invalid value %r; allowed: %s (pgaudit refuses error, fatal and panic)"
                % (key, value, ", ".join(spec["choices"]))
            )
        return text
    # string (pgaudit.role): a role name, kept exactly as given.
    if not isinstance(value, str):
        raise ValueError("%s: %r must be a string (quote it in YAML)" % (key, value))
    return value


def normalize_settings(settings, pgaudit_version=None):
    """Return {full_name: canonical value} for a dict of settings, sorted by name.

    Every bad entry is collected and reported in one ValueError, so an inventory is fixed in one go.
    """
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise ValueError("pgaudit settings must be a dict of name: value, got %r" % (settings,))
    if pgaudit_version is not None:
        parse_version(pgaudit_version)  # a bad version is one error, not one per setting
    result = {}
    given_as = {}
    errors = []
    for name, value in settings.items():
        try:
            key = full_name(name)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        if key in given_as:
            errors.append("%s given twice (as %r and %r)" % (key, given_as[key], name))
            continue
        given_as[key] = name
        try:
            result[key] = normalize_setting(key, value, pgaudit_version)
        except ValueError as exc:
            errors.append(str(exc))
    if errors:
        raise ValueError("%d invalid pgaudit setting(s): %s" % (len(errors), "; ".join(errors)))
    return dict(sorted(result.items()))


# --- catalog and planning -----------------------------------------------------------------------


def scope_of(database, role):
    """(scope, target) of settings stored for a database and/or a role: the target is the
    database, the role, or ``role@database`` (the one way every result names a scope)."""
    if database and role:
        return "role_in_database", "%s@%s" % (role, database)
    if database:
        return "database", database
    return "role", role


def parse_setconfig(array):
    """Return {name: value} of a pg_db_role_setting.setconfig text[] ('pgaudit.log=read, write').

    None (no row, or a NULL array) gives {}. Splits on the first '='; values keep their text.
    """
    if array is None:
        return {}
    if not isinstance(array, (list, tuple)):
        raise ValueError("setconfig must be a list of 'name=value' strings, got %r" % (array,))
    result = {}
    for entry in array:
        if not isinstance(entry, str) or "=" not in entry:
            raise ValueError("malformed setconfig entry %r; expected 'name=value'" % (entry,))
        name, value = entry.split("=", 1)
        result[name] = value
    return result


def _same_value(name, current, desired):
    """Compare a raw catalog value with a canonical one by meaning; unreadable counts as different."""
    try:
        if SETTINGS[name]["type"] == "list":
            return effective_classes(current) == effective_classes(desired)
        return normalize_setting(name, current) == desired
    except ValueError:
        return False


def plan_scope(current, desired, remove_unlisted=False):
    """Return the actions that bring one scope from current to desired, sorted by name.

    current: {name: raw value} set at the scope (e.g. parse_setconfig output; non-pgaudit names
    are ignored). desired: settings for the scope (normalised here again, so raw values work).
    Actions are ('set', full_name, canonical_value) or ('reset', name). With remove_unlisted,
    every pgaudit.* name set at the scope but not desired is reset, unknown names included.
    """
    desired = normalize_settings(desired)
    present = {}
    for name, value in (current or {}).items():
        if is_pgaudit_name(name):
            present[name.strip().lower()] = value
    names = set(desired)
    if remove_unlisted:
        names.update(present)
    actions = []
    for name in sorted(names):
        if name in desired:
            if name not in present or not _same_value(name, present[name], desired[name]):
                actions.append(("set", name, desired[name]))
        else:
            actions.append(("reset", name))
    return actions


# --- standards and profiles ---------------------------------------------------------------------

# What each compliance standard asks of pgaudit: the classes pgaudit.log must log (in the order
# its checks name them) and the other pgaudit values. The profiles of the same name set exactly
# these, and the compliance checks (plugin_utils/compliance.py) read them: one source a standard.
STANDARDS = {
    # CIS PostgreSQL benchmark 3.2 (its remediation example: pgaudit.log = 'ddl,write').
    "cis": {"classes": ("ddl", "write"), "settings": {}},
    # DISA STIG for PostgreSQL (9.x and the Crunchy PostgreSQL 16 STIG).
    "stig": {
        "classes": ("ddl", "role", "read", "write"),
        "settings": {
            "pgaudit.log_catalog": "on",
            "pgaudit.log_level": "log",
            "pgaudit.log_parameter": "on",
            "pgaudit.log_statement_once": "off",
        },
    },
}


def standard_profile(name):
    """{full_name: canonical value} a standard asks for (its profile)."""
    target = STANDARDS[name]
    settings = dict(target["settings"], **{"pgaudit.log": list(target["classes"])})
    return normalize_settings(settings)


PROFILES = {
    # The collection's own starting point: writes and DDL, parameters, statement once, no catalog noise.
    "baseline": {
        "pgaudit.log": "write, ddl",
        "pgaudit.log_catalog": "off",
        "pgaudit.log_level": "log",
        "pgaudit.log_parameter": "on",
        "pgaudit.log_statement_once": "on",
    },
    "cis": standard_profile("cis"),
    "stig": standard_profile("stig"),
    # Every category of the seed document's "what to audit" (the report's coverage matrix):
    # reads (data access, bulk export), writes, role changes and grants, DDL and ALTER SYSTEM,
    # SET ROLE; with PROFILE_SERVER_SETTINGS for logins, logouts, failed logins and refused
    # statements. Application events need the trail's log_event() (audit_triggers_app_roles).
    "coverage": {
        "pgaudit.log": "read, write, role, ddl, misc_set",
        "pgaudit.log_catalog": "off",
        "pgaudit.log_level": "log",
        "pgaudit.log_parameter": "on",
        "pgaudit.log_statement_once": "on",
    },
}
# Server parameters a profile also needs (ALTER SYSTEM, before the inventory's own
# pgaudit_log_connections and pgaudit_server_settings, which override them).
PROFILE_SERVER_SETTINGS = {
    "coverage": {
        "log_connections": "on",
        "log_disconnections": "on",
        # Failed logins are FATAL lines, refused statements ERROR lines with their text.
        "log_min_messages": "warning",
        "log_min_error_statement": "error",
    },
}
# Old profile names, accepted for one release (the module and the role warn).
PROFILE_ALIASES = {"seed": "baseline"}


def profile_name(name):
    """The profile ``name`` stands for (an old alias gives its new name); unknown name: ValueError."""
    key = name.strip().lower() if isinstance(name, str) else None
    key = PROFILE_ALIASES.get(key, key)
    if key not in PROFILES:
        raise ValueError("unknown pgaudit profile %r; known profiles: %s" % (name, ", ".join(sorted(PROFILES))))
    return key


def profile_settings(name):
    """Return a copy of a named profile ({full_name: canonical value}); unknown name: ValueError."""
    return dict(PROFILES[profile_name(name)])
