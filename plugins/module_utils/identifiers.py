# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SQL identifiers as PostgreSQL reads them: parse, check, quote and render (pure; unit-tested).

Every name the collection takes goes through here, in one of two forms:

* **SQL text** (tables, schemas of ``schemas:``, ``exclude_columns``, object_audit tables and
  columns): the text means what it means in a SQL statement. :func:`parse` follows PostgreSQL's
  lexer (src/backend/parser/scan.l) and src/backend/parser/scansup.c:

  - an unquoted name starts with a letter, ``_`` or a non-ASCII character and goes on with
    those, digits and ``$`` (scan.l's ``ident_start``/``ident_cont``); it is folded by
    ``downcase_identifier``, which in a multi-byte encoding such as UTF8 folds ASCII ``A``-``Z``
    only: ``ABC`` is ``abc``, ``Äpfel`` stays ``Äpfel`` (Python's ``str.lower`` would not);
  - a double-quoted name keeps its case and may hold anything but NUL, a doubled ``""`` being
    one ``"``; ``""`` is refused ("zero-length delimited identifier");
  - parts are joined by ``.``, with optional SQL white space around them.
  ``U&"..."`` Unicode escapes are refused (write the characters themselves).

* **Catalog names** (role names, database names, the trail's own ``schema`` option): the name
  exactly as the catalog stores it (``rolname``, ``datname``, ``nspname``), never folded, as
  ``pgaudit.role`` and community.postgresql take them. :func:`check` only refuses what
  PostgreSQL cannot store.

A name longer than NAMEDATALEN - 1 = 63 bytes (UTF-8) is refused: PostgreSQL would cut it
(``truncate_identifier``, on a character boundary) with only a NOTICE and use another name than
the one given. The error shows the name PostgreSQL would store (:func:`truncate`).

Databases are taken to be UTF8, as the server's default and the test bed are; in a single-byte
encoding (LATIN1...) PostgreSQL would also fold non-ASCII letters, by the locale.

Names reach SQL through ``psycopg.sql.Identifier`` only; :func:`render` is the one way a name is
shown to people (messages, results): quoted where it would not read back as itself.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

NAMEDATALEN = 64
MAX_BYTES = NAMEDATALEN - 1

# scan.l: space [ \t\n\r\f\v]; ident_start [A-Za-z\200-\377_]; ident_cont [A-Za-z\200-\377_0-9\$].
# Bytes \200-\377 are every byte of a non-ASCII UTF-8 character, i.e. any character >= U+0080.
_SPACE = " \t\n\r\f\v"
_UNQUOTED = re.compile("[A-Za-z_\u0080-\U0010ffff][A-Za-z_0-9$\u0080-\U0010ffff]*")
# quote_identifier() in ruleutils.c leaves these unquoted (it also quotes keywords; render()
# does not, since its output is read by people and by parse(), not by the SQL grammar).
_PLAIN = re.compile("[a-z_][a-z0-9_]*\\Z")
_ASCII_UPPER = {ord(c): ord(c) + 32 for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def fold(text):
    """Unquoted ``text`` as PostgreSQL stores it: ASCII ``A``-``Z`` lowered, nothing else
    (scansup.c ``downcase_identifier`` in a multi-byte encoding). ``"ÄBC"`` -> ``"Äbc"``."""
    return text.translate(_ASCII_UPPER)


def truncate(name):
    """``name`` cut to 63 bytes of UTF-8 on a character boundary, as ``truncate_identifier``
    (via ``pg_mbcliplen``) stores it."""
    return name.encode("utf-8")[:MAX_BYTES].decode("utf-8", "ignore")


def quote(name):
    """``name`` double-quoted, inner quotes doubled: ``a"b`` -> ``"a""b"``."""
    return '"%s"' % name.replace('"', '""')


def render(*parts):
    """The one way a (qualified) name is shown: parts joined by ``.``, each quoted unless it is
    ``[a-z_][a-z0-9_]*``. ``render("public", "Äpfel")`` -> ``public."Äpfel"``. :func:`parse`
    reads the result back into the same parts."""
    return ".".join(part if _PLAIN.match(part) else quote(part) for part in parts)


def name_problem(name):
    """Why PostgreSQL cannot store ``name`` (an already parsed or catalog name) as given, or None."""
    if not name:
        return "empty name"
    if "\x00" in name:
        return "name %s holds a NUL character" % render(name)
    size = len(name.encode("utf-8"))
    if size > MAX_BYTES:
        return "name %s is %d bytes, longer than the %d PostgreSQL keeps; it would store %s" % (
            render(name),
            size,
            MAX_BYTES,
            render(truncate(name)),
        )
    return None


def check(name, what="name"):
    """A catalog name (role, database, the trail's schema), taken as it is: returns ``name``.

    Raises ValueError (``role '': empty name``) when it is not a string or PostgreSQL could not
    store it unchanged (see :func:`name_problem`).
    """
    if not isinstance(name, str):
        raise ValueError("%s %r is not a string" % (what, name))
    problem = name_problem(name)
    if problem:
        raise ValueError("%s %r: %s" % (what, name, problem))
    return name


def _skip_space(text, i):
    while i < len(text) and text[i] in _SPACE:
        i += 1
    return i


def _quoted(text, i):
    """The quoted identifier starting at text[i] == '"': (name, index after it)."""
    buf = []
    j = i + 1
    while True:
        end = text.find('"', j)
        if end < 0:
            raise ValueError("unterminated quoted identifier in %r" % text)
        buf.append(text[j:end])
        if text.startswith('"', end + 1):
            buf.append('"')
            j = end + 2
            continue
        return "".join(buf), end + 1


def parse(text, what="name"):
    """SQL text naming one object -> the tuple of its parts as PostgreSQL stores them.

    ``'Sales."Big Orders"'`` -> ``("sales", "Big Orders")``; ``public.Äpfel`` ->
    ``("public", "Äpfel")``. ``what`` names the input in errors. Raises ValueError naming the
    input for: not a string, an empty part (``a..b``, ``a.``, ``.a``, ``""``), an unterminated or
    misplaced quote, a character that cannot be in an unquoted name, and a part longer than 63
    bytes (showing what PostgreSQL would store).
    """
    if not isinstance(text, str):
        raise ValueError("%s %r is not a string" % (what, text))
    parts = []
    i, n = 0, len(text)
    while True:
        i = _skip_space(text, i)
        if i < n and text[i] == '"':
            part, i = _quoted(text, i)
            if not part:
                raise ValueError('zero-length quoted identifier "" in %r' % text)
        else:
            match = _UNQUOTED.match(text, i)
            if match is None:
                if i >= n or text[i] == ".":
                    raise ValueError("empty identifier in %r" % text)
                raise ValueError(
                    "%r cannot start an unquoted name, in %r: double-quote a name that holds it" % (text[i], text)
                )
            part, i = fold(match.group()), match.end()
            if text.startswith('&"', i) and match.group() in ("U", "u"):
                raise ValueError('U&"..." escapes are not supported, in %r: write the characters themselves' % text)
        problem = name_problem(part)
        if problem:
            raise ValueError("%s %r: %s" % (what, text, problem))
        parts.append(part)
        i = _skip_space(text, i)
        if i >= n:
            break
        if text[i] != ".":
            raise ValueError(
                "%r cannot follow the name %s in %r: names are joined by dots; double-quote a whole name "
                "that holds other characters" % (text[i], render(part), text)
            )
        i += 1
    return tuple(parts)


def parse_qualified(text, default_schema="public", what="table"):
    """``schema.name`` or ``name`` (SQL text) -> ``(schema, name)``; ``default_schema`` when no
    schema is given (None leaves it None). Errors as :func:`parse`;
    ``expected table or schema.table`` for three parts or more."""
    parts = parse(text, what)
    if len(parts) > 2:
        raise ValueError("expected %s or schema.%s, got %r" % (what, what, text))
    if len(parts) == 1:
        return default_schema, parts[0]
    return parts


def parse_single(text, what):
    """One unqualified name (a column, a schema) as SQL text -> the name. A dot outside double
    quotes is refused: ``column 'x.y' must be a single name``. Errors as :func:`parse`."""
    parts = parse(text, what)
    if len(parts) != 1:
        raise ValueError("%s %r must be a single name (double-quote a name that holds a dot)" % (what, text))
    return parts[0]
