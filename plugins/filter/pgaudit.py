# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over pgaudit settings; documented in the adjacent pgaudit_validate.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.pgtrail.audit.plugins.module_utils import pgaudit_settings


def pgaudit_validate(settings, pgaudit_version=None, label=None):
    """The normalised settings ({full name: canonical value}); AnsibleFilterError naming every problem."""
    try:
        return pgaudit_settings.normalize_settings(settings, pgaudit_version=pgaudit_version)
    except ValueError as exc:
        message = str(exc)
        if label:
            message = "%s: %s" % (label, message)
        raise AnsibleFilterError(message) from exc


class FilterModule(object):
    def filters(self):
        return {"pgaudit_validate": pgaudit_validate}
