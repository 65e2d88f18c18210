# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every filter of the collection shares: errors that name the filter, the class Ansible
loads, and the deprecated keyword of the report's set of standards."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

COLLECTION = "pgtrail.audit"
# The release that drops the deprecated names kept for one release.
REMOVED_IN = "0.2.0"


def call(name, function, *args, **kwargs):
    """``function(*args, **kwargs)``; a ValueError (bad input) becomes an error naming the filter."""
    try:
        return function(*args, **kwargs)
    except ValueError as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc)) from exc


def filter_module(*functions):
    """The ``FilterModule`` class Ansible loads, offering ``functions`` under their own names."""

    class FilterModule(object):
        def filters(self):
            return dict((function.__name__, function) for function in functions)

    return FilterModule


def standards_keyword(name, standards, profiles):
    """The report's set of standards given to filter ``name``, as ``standards`` or through its
    old keyword ``profiles`` (deprecated: "profile" names a pgaudit baseline)."""
    if profiles is None:
        return standards
    if standards is not None:
        raise AnsibleFilterError("%s: give standards= only (profiles= is its deprecated old name)" % name)
    Display().deprecated(
        "the %s filter's keyword profiles= is renamed standards=" % name,
        version=REMOVED_IN,
        collection_name=COLLECTION,
    )
    return profiles
