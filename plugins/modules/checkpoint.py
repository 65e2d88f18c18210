#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: checkpoint
short_description: Sign the head of a hash chain on the controller and keep a history of signed checkpoints
version_added: 0.1.0
description:
  - An action plugin; it runs on the controller only. The private key never leaves it.
  - Reads the last entry of a history file (JSON lines C({"note", "block", "at"})) and checks that
    its signed note verifies with O(vkey) and is a checkpoint (origin, size, root).
  - With O(head) (the C(head) that M(pgtrail.audit.chain_verify) returned), signs the checkpoint
    C(origin\\nsize\\nroot\\n) as a C2SP signed note with the Ed25519 key O(key) and appends it to
    the history, after checking that it is of the same chain as the last entry and does not go
    back. A head equal to the last entry's appends nothing.
  - The caller checks that the chain extends the last checkpoint (M(pgtrail.audit.chain_verify)'s
    C(checkpoint) option) before asking for a signature; C(playbooks/verify.yml) does both.
attributes:
  check_mode:
    support: full
    description: Verifies the history and says whether it would append, writing nothing.
  diff_mode:
    support: full
    description: The line appended.
options:
  history:
    description:
      - The history file on the controller. Created (with its directory) at the first append;
        opened for append only. Required with O(head).
      - Without it and O(head), the plugin only returns RV(vkey), the verifier key of O(key)
        (C(playbooks/keygen.yml) prints it that way).
    type: path
  vkey:
    description:
      - The C2SP verifier key C(name+keyid+base64(0x01||public key)) that the history's notes are
        signed by.
      - Required without O(key); with O(key) it must be that key's, else nothing is signed.
    type: str
  key:
    description:
      - The PEM text of the Ed25519 private key (PKCS#8, unencrypted), from a lookup of a file only
        the operator can read or of a secret store. Required with O(head). Never logged.
    type: str
  key_name:
    description:
      - The key's name in signatures and in its verifier key, such as C(pgtrail.audit/acme-prod).
        Required with O(key).
    type: str
  head:
    description:
      - The new head to sign and append, C({origin, size, root, block}).
    type: dict
  notes:
    description:
      - Signed notes kept elsewhere (the audit vault's copy of a chain's history), in the order
        they were stored. Each must verify with O(vkey), be a checkpoint, and extend the one before
        (the same chain, a size that does not go back, the same root at the same size); the task
        fails naming each note that does not (RV(problems)).
    type: list
    elements: str
    version_added: 0.2.0
author:
  - pgtrail.audit maintainers (@pgtrail)
notes:
  - Make a key pair with C(playbooks/keygen.yml) (see the README).
  - The history's integrity rests on the signatures and on each checkpoint extending the previous
    one, which C(playbooks/verify.yml) checks against the database; keep a copy where the database's
    operators cannot write.
seealso:
  - module: pgtrail.audit.chain_verify
"""

EXAMPLES = r"""
- name: Read and verify the last signed checkpoint of the finance chain
  pgtrail.audit.checkpoint:
    history: "checkpoints/{{ inventory_hostname }}/finance.checkpoints"
    vkey: "{{ pgtrail_checkpoint_vkey }}"
  register: last

- name: Sign the head chain_verify returned and append it to the history
  pgtrail.audit.checkpoint:
    history: "checkpoints/{{ inventory_hostname }}/finance.checkpoints"
    vkey: "{{ pgtrail_checkpoint_vkey }}"
    key: "{{ pgtrail_checkpoint_key }}"
    key_name: "{{ pgtrail_checkpoint_key_name }}"
    head: "{{ verified.head }}"
  no_log: true
"""

RETURN = r"""
previous:
  description: The history's last entry, verified, or null when the history is empty or missing.
  returned: always
  type: dict
  contains:
    origin:
      description: The chain's origin line.
      type: str
    size:
      description: The number of sealed rows the checkpoint covers (the last sealed position).
      type: int
    root:
      description: Base64 of the hash of the block at that position.
      type: str
    block:
      description: The block number.
      type: int
    at:
      description: When it was signed (UTC).
      type: str
    note:
      description: The signed note.
      type: str
  sample:
    origin: pgtrail.audit/chain/6f1c2d0e-2b1a-4c55-9a53-1b3c0f0a9e11
    size: 7
    root: KMislKjXHUCDDW0uHNAdb9Err3lNTGFyU+Jb7oEbOpQ=
    block: 3
    at: "2026-11-30T14:00:00Z"
note:
  description: The signed note appended (or that would be, in check mode), or null when nothing was.
  returned: always
  type: str
vkey:
  description: The verifier key used (O(vkey), or the one of O(key)).
  returned: always
  type: str
  sample: pgtrail.audit/acme-prod+170d1b16+ARn74IFXhOWTrN81nuhUg+CU9bxrIIJEAQKUzZ2ccI6B
checked:
  description: How many of O(notes) were checked.
  returned: when O(notes) is given
  type: int
  version_added: 0.2.0
problems:
  description: What is wrong with O(notes), one sentence each, naming the note's position (from 1).
  returned: when O(notes) is given
  type: list
  elements: str
  sample: ["checkpoint 2 goes back: size 3 after 9"]
  version_added: 0.2.0
"""
