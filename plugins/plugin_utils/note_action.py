# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shape of the collection's action plugins on signed notes (checkpoint, bundle): they run on
the controller only, so nothing (no key) is sent to the host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.pgtrail.audit.plugins.plugin_utils import checkpoint as cp


class NoteAction(ActionBase):
    """Validates the task's arguments against ``ARGUMENT_SPEC``, then runs ``act(args, result)``;
    a refused note or key (NoteError) fails the task with its message."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    ARGUMENT_SPEC = {}

    def act(self, args, result):
        raise NotImplementedError

    def run(self, tmp=None, task_vars=None):
        result = super(NoteAction, self).run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        try:
            return self.act(args, result)
        except cp.NoteError as exc:
            result.update(failed=True, msg=str(exc))
            return result
