# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Values from a host, escaped for the format they land in (pure; unit-tested).

Database, role, schema and table names are whatever their creator typed: ``<script>``, ``a|b``,
a newline, a backtick, an ANSI escape. The report shows them as data, never as markup:

* :func:`plain` -- the terminal and any plain text: every control character (C0, DEL, C1), the
  Unicode line and paragraph separators and the bidirectional overrides are written as a
  visible escape (``\\n``, ``\\x1b``, ``\\u202e``), and a backslash as ``\\\\``, so no name can
  move the cursor, colour the terminal, start a line or reorder the text around it, and two
  different names never print the same.
* :func:`markdown` -- text inside a Markdown paragraph, heading or table cell (GitHub's and
  CommonMark's rules): :func:`plain` first, then a backslash before every character that could
  start markup (``|`` that ends a cell, ``<`` of an HTML tag, ``&`` of an entity, backticks,
  emphasis, links, ``#``, GitHub's ``$`` math ...), which CommonMark renders as the character
  itself. (GitHub still turns ``@name``, ``#123`` and ``:emoji:`` in text into links and
  pictures after rendering: no escape prevents that, and none of them is HTML from the host.)

HTML is escaped by Jinja's ``e`` filter in the page's template.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# Written as the escape a reader knows; other control characters as \xNN or \uNNNN.
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
# C0 controls, DEL, C1 controls, line/paragraph separators, bidirectional embeddings,
# overrides and isolates, the zero-width and byte-order marks.
_INVISIBLE = re.compile("[\\\\\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
# Characters CommonMark or GitHub's tables can read as markup anywhere in a line (a newline
# never reaches here: plain() wrote it as \n). "_" between two letters or digits starts no
# emphasis, so a name like ledger_2026 stays readable.
_MARKUP = re.compile(r"[\\`*\[\]<>&|~#!$]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def _visible(match):
    char = match.group(0)
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return "\\x%02x" % code if code < 0x100 else "\\u%04x" % code


def plain(value):
    """``value`` as text that is safe to print on a terminal; None is an empty string."""
    if value is None:
        return ""
    return _INVISIBLE.sub(_visible, value if isinstance(value, str) else str(value))


def markdown(value):
    """``value`` as Markdown inline text: renders as itself, in a table cell or a paragraph."""
    return _MARKUP.sub(lambda match: "\\" + match.group(0), plain(value))
