# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: md_escape
short_description: Escape a value from a host for a Markdown table cell or paragraph
version_added: 0.1.0
author:
  - pgtrail.audit maintainers (@pgtrail)
description:
  - Writes every control character (newline, ANSI escape, bidirectional override ...) as a visible
    escape (C(\n), C(\x1b), C(\u202e)) and puts a backslash before every character Markdown could
    read as markup (C(|), C(<), C(&), backticks, C(*), C([), C(#) ...), so a database, role, schema
    or table name renders as itself -- never as HTML, a link, or a broken table -- in
    C(fleet-report.md) and in the summary C(playbooks/report.yml) prints on the terminal.
options:
  _input:
    description: The value; anything else than a string is converted to one, none gives an empty string.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: One row of a Markdown table, whatever the database is called
  ansible.builtin.debug:
    msg: "| {{ database | pgtrail.audit.md_escape }} | {{ owner | pgtrail.audit.md_escape }} |"
"""

RETURN = r"""
_value:
  description: The escaped text.
  type: str
"""

from ansible_collections.pgtrail.audit.plugins.plugin_utils import filters
from ansible_collections.pgtrail.audit.plugins.plugin_utils.escape import markdown


def md_escape(value):
    return markdown(value)


FilterModule = filters.filter_module(md_escape)
