# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""How audit_info reads: sessions that never write, and a refusal's first line."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def error_text(exc):
    """The first line of a PostgreSQL error, or its class's name when it says nothing."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__


def read_only(session):
    """Make every later transaction of the session read-only: evidence never writes."""
    session.query("SET default_transaction_read_only = on")
    # ...and never waits long for a lock (verify_chain() reads the log).
    session.query("SET lock_timeout = '10s'")
