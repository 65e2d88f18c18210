#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: bundle
short_description: Sign, or verify, the SHA-256 of every file of an evidence directory
version_added: 0.1.0
description:
  - An action plugin; it runs on the controller only. The private key never leaves it.
  - With O(state=signed), writes C(bundle.note) in O(path) - a C2SP signed note, signed with the
    Ed25519 key of the chain checkpoints, whose text is C(pgtrail.audit/bundle) and then one line
    C(<sha256>  <file>) per file under O(path) (the format of C(sha256sum)), by file name. A note
    that already verifies and lists the same files and hashes is left as it is.
  - With O(state=verified), checks the note's signature with O(vkey) and every file against it,
    and fails listing each file missing, changed or added.
attributes:
  check_mode:
    support: full
    description: Says whether the note would be written, writing nothing.
  diff_mode:
    support: none
    description: The note is replaced whole.
options:
  path:
    description: The directory, such as the fleet report's (C(pgtrail_report_dir)).
    type: path
    required: true
  state:
    description: C(signed) writes the note; C(verified) checks the directory against it.
    type: str
    choices: [signed, verified]
    default: signed
  vkey:
    description:
      - The C2SP verifier key C(name+keyid+base64) (C(pgtrail_checkpoint_vkey)). Required without
        O(key); with O(key) it must be that key's.
    type: str
  key:
    description:
      - The PEM text of the Ed25519 private key (C(pgtrail_checkpoint_key)). Required with
        O(state=signed). Never logged.
    type: str
  key_name:
    description: The key's name in signatures (C(pgtrail_checkpoint_key_name)). Required with O(key).
    type: str
author:
  - pgtrail.audit maintainers (@pgtrail)
seealso:
  - module: pgtrail.audit.checkpoint
"""

EXAMPLES = r"""
- name: Sign the fleet report's files
  pgtrail.audit.bundle:
    path: "{{ pgtrail_report_dir }}"
    key: "{{ pgtrail_checkpoint_key }}"
    key_name: "{{ pgtrail_checkpoint_key_name }}"
    vkey: "{{ pgtrail_checkpoint_vkey }}"
  no_log: true

- name: Verify a report bundle an auditor received
  pgtrail.audit.bundle:
    path: evidence/2026-11
    state: verified
    vkey: pgtrail.audit/acme-prod+170d1b16+ARn74IFXhOWTrN81nuhUg+CU9bxrIIJEAQKUzZ2ccI6B
"""

RETURN = r"""
note:
  description: The path of the bundle's signed note.
  returned: always
  type: str
  sample: report/bundle.note
problems:
  description: With O(state=verified), each file missing, changed or added (empty when the bundle verifies).
  returned: always
  type: list
  elements: str
  sample: ["fleet-report.md was changed"]
vkey:
  description: The verifier key used.
  returned: always
  type: str
"""
