# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signed checkpoints of the hash chain (pure; unit-tested).

A checkpoint is a C2SP signed note (https://c2sp.org/signed-note) whose text has the
tlog-checkpoint shape ``origin\\nsize\\nroot\\n``, signed with Ed25519 through ``cryptography``.
Notes are interoperable with Go's golang.org/x/mod/sumdb/note (its published test vector is in
the unit tests). The history of a chain is a file of JSON lines ``{"note", "block", "at"}`` on the
controller; the action plugin ``pgtrail.audit.checkpoint`` reads and appends it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import json
import re

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
except ImportError:  # ansible-core depends on it; say so if an odd controller lacks it
    serialization = None

# The algorithm byte of an Ed25519 key in C2SP verifier keys.
ED25519 = b"\x01"
SIGNATURE_PREFIX = "\u2014 "
# Key names: non-empty, no whitespace and no "+" (C2SP signed-note).
_NAME = re.compile(r"^[^\s+]+$")
_SIG_LINE = re.compile(r"^\u2014 (\S+) ([A-Za-z0-9+/]+=*)$")


class NoteError(ValueError):
    """A note, key or history entry that does not verify; the message says why."""


def _need_cryptography():
    if serialization is None:
        raise NoteError("the Python library cryptography is required on the controller (pip install cryptography)")


def _b64decode(text, what):
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise NoteError("%s is not base64: %s" % (what, exc)) from exc


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def check_name(name):
    if not isinstance(name, str) or not _NAME.match(name):
        raise NoteError("key name %r must be non-empty, without spaces or '+'" % (name,))
    return name


def key_id(name, public_key):
    """The 4-byte key id: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    return hashlib.sha256(check_name(name).encode("utf-8") + b"\n" + ED25519 + public_key).digest()[:4]


def _raw_public(key):
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_private_key(pem):
    """The Ed25519 private key of a PEM text (PKCS#8, unencrypted); a clear error otherwise."""
    _need_cryptography()
    if not isinstance(pem, (str, bytes)) or not pem:
        raise NoteError("the private key is empty: give the PEM text of an Ed25519 key")
    data = pem.encode("utf-8") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        # Never echo the key: say what it is not.
        raise NoteError("the private key is not an unencrypted PEM private key (%s)" % type(exc).__name__) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise NoteError("the private key is a %s key, not Ed25519" % type(key).__name__)
    return key


def vkey_of(name, private_key):
    """The C2SP verifier key ``name+keyid+base64(0x01 || public key)`` of a private key."""
    public = _raw_public(private_key.public_key())
    return "%s+%s+%s" % (
        check_name(name),
        binascii.hexlify(key_id(name, public)).decode("ascii"),
        _b64(ED25519 + public),
    )


def parse_vkey(vkey):
    """``(name, key id bytes, Ed25519PublicKey)`` of a verifier key, checked like Go's NewVerifier."""
    _need_cryptography()
    if not isinstance(vkey, str):
        raise NoteError("the verifier key must be a string name+keyid+base64, got %r" % (vkey,))
    # The base64 may hold "+": the name and id are the first two fields.
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteError("the verifier key %r is not name+keyid+base64" % (vkey,))
    name, hexid, encoded = parts
    check_name(name)
    if not re.match(r"^[0-9a-f]{8}$", hexid):
        raise NoteError("the verifier key's id %r is not 8 lower-case hex digits" % (hexid,))
    raw = _b64decode(encoded, "the verifier key")
    if len(raw) != 33 or raw[:1] != ED25519:
        raise NoteError("the verifier key is not an Ed25519 key (algorithm byte 0x01 and 32 bytes)")
    if key_id(name, raw[1:]) != binascii.unhexlify(hexid):
        raise NoteError("the verifier key's id %s does not match its name and key" % hexid)
    return name, binascii.unhexlify(hexid), Ed25519PublicKey.from_public_bytes(raw[1:])


def keys(key, key_name, vkey):
    """``(vkey, private key or None)`` of a plugin's options: the private key must be the verifier
    key's when both are given; without a private key the verifier key is required."""
    if key is not None:
        if not key_name:
            raise NoteError("key_name is required with key (the name in the signatures)")
        private = load_private_key(key)
        derived = vkey_of(key_name, private)
        if vkey and vkey.strip() != derived:
            raise NoteError(
                "the private key (named %s) is not the one of the verifier key %s: its verifier key is %s"
                % (key_name, vkey.strip(), derived)
            )
        return derived, private
    if not vkey:
        raise NoteError("give vkey (the verifier key) or key and key_name")
    parse_vkey(vkey)
    return vkey.strip(), None


def checkpoint_text(origin, size, root):
    """The tlog-checkpoint body: origin, size and base64 root, one a line."""
    if not origin or "\n" in origin:
        raise NoteError("the checkpoint's origin %r must be one non-empty line" % (origin,))
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise NoteError("the checkpoint's size %r must be a whole number >= 0" % (size,))
    _b64decode(root, "the checkpoint's root")
    return "%s\n%d\n%s\n" % (origin, size, root)


def sign(text, name, private_key):
    """The signed note of ``text`` (which ends in a newline) by ``name``'s key."""
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("a note's text ends with a newline and holds no blank line")
    public = _raw_public(private_key.public_key())
    signature = private_key.sign(text.encode("utf-8"))
    return "%s\n%s%s %s\n" % (text, SIGNATURE_PREFIX, check_name(name), _b64(key_id(name, public) + signature))


def open_note(note, vkey):
    """The text of ``note`` once a signature by ``vkey`` verifies; NoteError saying why not."""
    name, kid, public = parse_vkey(vkey)
    if not isinstance(note, str) or not note.endswith("\n"):
        raise NoteError("malformed note: it must end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, lines = note[: split + 1], note[split + 2 :].splitlines()
    if not lines:
        raise NoteError("malformed note: no signature")
    found = False
    for line in lines:
        match = _SIG_LINE.match(line)
        if not match:
            raise NoteError("malformed note: %r is not a signature line" % line)
        blob = _b64decode(match.group(2), "a signature")
        if match.group(1) != name or blob[:4] != kid:
            continue
        found = True
        try:
            public.verify(blob[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise NoteError(
                "the signature of %s+%s does not verify: the note was altered" % (name, kid.hex())
            ) from None
    if not found:
        raise NoteError("the note carries no signature of the key %s+%s" % (name, kid.hex()))
    return text


def parse_checkpoint(text):
    """``{origin, size, root}`` of a checkpoint body (extension lines after the root are allowed)."""
    lines = text.split("\n")
    if len(lines) < 4 or not re.match(r"^(0|[1-9][0-9]*)$", lines[1]):
        raise NoteError("the note is not a checkpoint (origin, size, root): %r" % text)
    _b64decode(lines[2], "the checkpoint's root")
    return dict(origin=lines[0], size=int(lines[1]), root=lines[2])


def history_entry(note, block, at):
    """One line of a history file."""
    return json.dumps(dict(note=note, block=block, at=at), sort_keys=True) + "\n"


def last_entry(content, vkey, path="the history"):
    """The last entry of a history file's content, verified: ``{origin, size, root, block, at, note}``,
    or None when it has none. A last line that is not JSON, a note that does not verify or is not a
    checkpoint is a NoteError naming the line."""
    lines = [line for line in content.splitlines() if line.strip()]
    if not lines:
        return None
    where = "%s, line %d" % (path, len(lines))
    try:
        entry = json.loads(lines[-1])
        note = entry["note"]
    except (ValueError, TypeError, KeyError) as exc:
        raise NoteError("%s is not a history entry ({note, block, at}): %s" % (where, exc)) from None
    try:
        checkpoint = parse_checkpoint(open_note(note, vkey))
    except NoteError as exc:
        raise NoteError("%s: %s" % (where, exc)) from None
    checkpoint.update(block=entry.get("block"), at=entry.get("at"), note=note)
    return checkpoint


# A bundle: a signed note listing the SHA-256 of every file of a directory (sha256sum's format).
BUNDLE_ORIGIN = "pgtrail.audit/bundle"
BUNDLE_NOTE = "bundle.note"


def bundle_text(digests):
    """The text of a bundle note: its origin, then ``<sha256 hex>  <path>`` per file, by path."""
    for path in digests:
        if not path or "\n" in path or path.startswith("/") or ".." in path.split("/"):
            raise NoteError("a bundle holds relative paths of one line, got %r" % (path,))
    return BUNDLE_ORIGIN + "\n" + "".join("%s  %s\n" % (digests[path], path) for path in sorted(digests))


def bundle_problems(text, digests):
    """What differs between a verified bundle note's text and the files found (``{path: sha256}``):
    a list of sentences, empty when every file is there unchanged and none was added."""
    lines = text.split("\n")
    if lines[0] != BUNDLE_ORIGIN:
        raise NoteError("the note is not a bundle (its first line is %r)" % lines[0])
    signed = {}
    for line in lines[1:-1]:
        digest, _sep, path = line.partition("  ")
        if not re.match(r"^[0-9a-f]{64}$", digest) or not path:
            raise NoteError("the bundle's line %r is not <sha256>  <path>" % line)
        signed[path] = digest
    problems = ["%s is missing" % path for path in sorted(set(signed) - set(digests))]
    problems += [
        "%s was changed" % path for path in sorted(set(signed) & set(digests)) if signed[path] != digests[path]
    ]
    problems += ["%s was added" % path for path in sorted(set(digests) - set(signed))]
    return problems


def sequence_problems(notes, vkey, where="checkpoint"):
    """What is wrong with a sequence of stored notes, in the order they were stored (the vault's
    copy of a chain's history): a list of sentences naming each note's position (1-based), empty
    when every note verifies with ``vkey``, is a checkpoint, and extends the previous one of its
    chain (the same origin, a size that does not go back, the same root at the same size)."""
    problems, last = [], None
    for position, note in enumerate(notes, 1):
        try:
            checkpoint = parse_checkpoint(open_note(note, vkey))
        except NoteError as exc:
            problems.append("%s %d: %s" % (where, position, exc))
            continue
        if last is not None:
            if checkpoint["origin"] != last["origin"]:
                problems.append(
                    "%s %d is of chain %s, the one before of %s"
                    % (where, position, checkpoint["origin"], last["origin"])
                )
            elif checkpoint["size"] < last["size"]:
                problems.append(
                    "%s %d goes back: size %d after %d" % (where, position, checkpoint["size"], last["size"])
                )
            elif checkpoint["size"] == last["size"] and checkpoint["root"] != last["root"]:
                problems.append(
                    "%s %d has the size %d of the one before with another root (a fork)"
                    % (where, position, checkpoint["size"])
                )
        last = checkpoint
    return problems
