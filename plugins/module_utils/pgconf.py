# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read and edit postgresql.conf the way the server reads it.

Pure functions over plain values (texts, paths, lists), so a module can find the line that
really sets a parameter, change only its value and keep every comment and the layout.

The parsing mirrors PostgreSQL's own scanner (src/backend/utils/misc/guc-file.l): the same
tokens, ``name [=] value`` per line, ``#`` comments outside quoted strings, the same escapes
in single-quoted strings, ``include``/``include_if_exists``/``include_dir`` resolved against
the including file, and "the last occurrence wins". A line the server would reject raises
ValueError, because the server would refuse to start with it too.

Texts are ``str`` decoded as UTF-8 with ``surrogateescape`` (see :func:`read_text`), so any
byte in a file survives a read and a write unchanged.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import grp
import os
import pwd
import re
import stat
import tempfile
import time

# CONF_FILE_MAX_DEPTH in PostgreSQL: the main file is depth 0.
MAX_INCLUDE_DEPTH = 10
INCLUDE_DIRECTIVES = ("include", "include_if_exists", "include_dir")
ADDED_COMMENT = "# added by pgtrail.audit"

# guc-file.l works on bytes and counts every byte >= 0x80 as a letter; in our text that is
# every non-ASCII character (surrogate escapes included).
_LETTER = "A-Za-z_\u0080-\U0010ffff"
_ID = "[%s][%s0-9]*" % (_LETTER, _LETTER)
# The scanner's rules in guc-file.l order. Like flex we take the longest match and, on equal
# length, the earlier rule (so ``name`` is an ID, not an UNQUOTED_STRING).
_TOKEN_RULES = (
    ("id", re.compile(_ID)),
    ("qualified_id", re.compile(r"%s\.%s" % (_ID, _ID))),
    ("string", re.compile(r"'(?:[^'\\\n]|\\.|'')*'")),
    ("unquoted", re.compile("[%s][%s0-9._:/-]*" % (_LETTER, _LETTER))),
    ("integer", re.compile("[-+]?0x[0-9a-fA-F]+[a-zA-Z]*")),
    ("integer", re.compile("[-+]?[0-9]+[a-zA-Z]*")),
    ("real", re.compile(r"[-+]?[0-9]*\.[0-9]*(?:[Ee][-+]?[0-9]+)?")),
    ("equals", re.compile("=")),
)
# A QUALIFIED_ID is a valid name but not a valid value: PostgreSQL rejects ``x = a.b``.
_VALUE_TOKENS = ("id", "string", "unquoted", "integer", "real")
_OCTAL = re.compile(b"[0-7]{1,3}")
_BACKSLASH_ESCAPES = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t"}
# scanner_isspace(): what PostgreSQL trims around list elements.
_LIST_SPACES = " \t\n\r\f"


def _tokenize(line):
    """Yield (kind, start, end) for each token of one line, as guc-file.l would."""
    pos, end = 0, len(line)
    while pos < end:
        char = line[pos]
        if char in " \t\r":
            pos += 1
            continue
        if char == "#":
            return  # a comment runs to the end of the line
        # Nothing matched: flex's catch-all rule makes one character an error token.
        best_kind, best_end = "error", pos + 1
        best_len = 0
        for kind, pattern in _TOKEN_RULES:
            match = pattern.match(line, pos)
            if match and match.end() - pos > best_len:
                best_kind, best_end, best_len = kind, match.end(), match.end() - pos
        yield best_kind, pos, best_end
        pos = best_end


def _unescape(token):
    """Decode a single-quoted STRING token like DeescapeQuotedString() does."""
    # Work on bytes: an octal escape such as \303 is one byte, not one character.
    data = token[1:-1].encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    while i < len(data):
        char = data[i : i + 1]
        if char == b"\\":
            octal = _OCTAL.match(data, i + 1)
            if octal:
                out.append(int(octal.group(), 8) & 0xFF)  # C truncates to one char
                i = octal.end()
                continue
            following = data[i + 1 : i + 2]
            out += _BACKSLASH_ESCAPES.get(following, following)
            i += 2
        elif char == b"'":
            out += b"'"  # inside a valid token a quote is always doubled
            i += 2
        else:
            out += char
            i += 1
    return out.decode("utf-8", "surrogateescape")


def parse_line(line):
    """Parse one configuration line.

    Returns None for a blank or comment-only line, else a dict with ``name`` (lower-cased),
    ``value`` (unquoted and unescaped), ``raw_value`` (the value as written) and ``start``/
    ``end``, the span of the value in ``line`` (``line[start:end] == raw_value``). Raises
    ValueError for a line PostgreSQL would reject. A trailing newline is ignored.
    """
    if line.endswith("\n"):
        line = line[:-1]
    tokens = list(_tokenize(line))
    if not tokens:
        return None

    def syntax_error(index):
        if index < len(tokens):
            _kind, start, end = tokens[index]
            return ValueError('syntax error near token "%s"' % line[start:end])
        return ValueError("syntax error near end of line")

    if tokens[0][0] not in ("id", "qualified_id"):
        raise syntax_error(0)
    index = 2 if len(tokens) > 1 and tokens[1][0] == "equals" else 1
    if index >= len(tokens) or tokens[index][0] not in _VALUE_TOKENS:
        raise syntax_error(index)
    if index + 1 < len(tokens):
        raise syntax_error(index + 1)

    kind, start, end = tokens[index]
    raw = line[start:end]
    return {
        "name": line[tokens[0][1] : tokens[0][2]].lower(),
        "value": _unescape(raw) if kind == "string" else raw,
        "raw_value": raw,
        "start": start,
        "end": end,
    }


def quote_value(value):
    """Quote ``value`` for postgresql.conf: ``'...'`` with ``''`` and ``\\\\`` escaped.

    The same form ALTER SYSTEM writes. Raises ValueError for a newline, which cannot be
    written on one line (ALTER SYSTEM refuses it too).
    """
    if "\n" in value:
        raise ValueError("a configuration value cannot contain a newline: %r" % value)
    return "'%s'" % value.replace("\\", "\\\\").replace("'", "''")


def parse_list(value):
    """Split a list-valued setting such as shared_preload_libraries into its entries.

    Like PostgreSQL's SplitDirectoriesString(): split on commas, trim white space, an entry in
    double quotes may hold commas and ``""`` for a quote. Unlike it, empty entries are dropped
    rather than making the whole list invalid. Raises ValueError for an unterminated quote or
    text after a quoted entry.
    """
    entries = []
    pos, end = 0, len(value)
    while True:
        while pos < end and value[pos] in _LIST_SPACES:
            pos += 1
        if pos >= end:
            return entries
        if value[pos] == '"':
            parts = []
            pos += 1
            while True:
                close = value.find('"', pos)
                if close < 0:
                    raise ValueError("unterminated double quote in list %r" % value)
                parts.append(value[pos:close])
                pos = close + 1
                if value[pos : pos + 1] != '"':
                    break
                parts.append('"')  # "" inside quotes is one quote
                pos += 1
            entry = "".join(parts)
            while pos < end and value[pos] in _LIST_SPACES:
                pos += 1
            if pos < end and value[pos] != ",":
                raise ValueError("unexpected text after a quoted entry in list %r" % value)
        else:
            comma = value.find(",", pos)
            comma = end if comma < 0 else comma
            entry = value[pos:comma].rstrip(_LIST_SPACES)
            pos = comma
        if entry:
            entries.append(entry)
        pos += 1  # past the comma (or past the end, which ends the loop)


def _render_entry(entry):
    # Quote only what parse_list() would otherwise split or trim, so plain names stay plain.
    if not entry or "," in entry or '"' in entry or entry != entry.strip(_LIST_SPACES):
        return '"%s"' % entry.replace('"', '""')
    return entry


def render_list(entries):
    """Join entries into the text that goes inside the single quotes: ``'a, b'`` -> a, b."""
    return ", ".join(_render_entry(entry) for entry in entries)


def _clean_entry(entry):
    entry = entry.strip(_LIST_SPACES)
    if len(entry) >= 2 and entry[0] == entry[-1] == '"':
        entry = entry[1:-1].replace('""', '"')
    return entry


def ensure_entries(current, present=(), absent=()):
    """Return a new list: ``current`` minus ``absent``, plus missing ``present`` at the end.

    Entries are compared case-sensitively after trimming and removing double quotes (library
    file names are case-sensitive). Other entries keep their order; nothing is added twice.
    ``current`` may also be the raw setting text; a single string for ``present`` or ``absent``
    is taken as a one-entry list. Raises ValueError for an empty name or a name both present
    and absent.
    """
    present = [_clean_entry(e) for e in ([present] if isinstance(present, str) else present)]
    absent = set(_clean_entry(e) for e in ([absent] if isinstance(absent, str) else absent))
    if "" in present or "" in absent:
        raise ValueError("empty entry name")
    both = sorted(absent.intersection(present))
    if both:
        raise ValueError("entries both present and absent: %s" % ", ".join(both))
    if isinstance(current, str):
        current = parse_list(current)  # the raw setting value, e.g. 'pg_stat_statements, pgaudit'
    result = [e for e in (_clean_entry(c) for c in current) if e and e not in absent]
    for entry in present:
        if entry not in result:
            result.append(entry)
    return result


def read_text(path):
    """Read a file as text that round-trips every byte (UTF-8, surrogateescape, no newline
    translation), the default ``read`` for :func:`find_setting`."""
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        return handle.read()


def list_dir(path):
    """Names of the entries of ``path`` that are not directories, the default ``listdir``.

    PostgreSQL skips sub-directories of an include_dir even when they end in ``.conf``.
    """
    return [name for name in os.listdir(path) if not os.path.isdir(os.path.join(path, name))]


def _resolve(target, calling_file):
    # A relative include is relative to the directory of the file that contains it.
    return os.path.normpath(os.path.join(os.path.dirname(calling_file), target))


def _conf_files(directory, listdir):
    try:
        names = listdir(directory)
    except OSError as exc:
        raise ValueError('could not open configuration directory "%s": %s' % (directory, exc.strerror or exc))
    # Only *.conf, never hidden files (editor debris, our own temp files), in strcmp() order.
    names = [n for n in names if n.endswith(".conf") and not n.startswith(".")]
    names.sort(key=lambda n: n.encode("utf-8", "surrogateescape"))
    return [os.path.join(directory, n) for n in names]


def _walk(path, strict, read, listdir, depth, chain):
    """Yield every setting of ``path`` and its includes, in the order the server applies them."""
    if depth > MAX_INCLUDE_DEPTH:
        raise ValueError('could not open configuration file "%s": maximum nesting depth exceeded' % path)
    if path in chain:
        raise ValueError(
            'configuration file recursion: "%s" includes itself (via %s)'
            % (path, " -> ".join(chain[chain.index(path) :]))
        )
    try:
        text = read(path)
    except OSError as exc:
        if not strict:
            return  # include_if_exists: the server skips a file it cannot open
        raise ValueError('could not open configuration file "%s": %s' % (path, exc.strerror or exc))
    chain = chain + (path,)

    for number, line in enumerate(text.split("\n"), 1):
        try:
            parsed = parse_line(line)
        except ValueError as exc:
            raise ValueError('%s in file "%s" line %d' % (exc, path, number))
        if parsed is None:
            continue
        name, value = parsed["name"], parsed["value"]
        if name in INCLUDE_DIRECTIVES:
            # Like the server, refuse a blank name rather than reading the directory as a file.
            if not value.strip(" \t\r\n"):
                raise ValueError('empty %s name in file "%s" line %d' % (name, path, number))
            target = _resolve(value, path)
            if name == "include_dir":
                # Files of an include_dir count one level deeper than the including file.
                for conf in _conf_files(target, listdir):
                    yield from _walk(conf, True, read, listdir, depth + 1, chain)
            else:
                yield from _walk(target, name == "include", read, listdir, depth + 1, chain)
        else:
            yield {"path": path, "line_number": number, "line": line, "name": name, "value": value}


def find_all_settings(main_path, name, read=read_text, listdir=list_dir):
    """Every occurrence of ``name`` in ``main_path`` and the files it includes.

    Returns a list, in the order the server reads them (so the last one wins), of dicts:
    ``path``, ``line_number`` (1-based), ``line`` (raw, without newline), ``name``, ``value``.
    ``read(path) -> text`` and ``listdir(path) -> names of non-directories`` default to the real
    filesystem; they must raise OSError (e.g. FileNotFoundError) for what does not exist.
    Raises ValueError, naming the file, for what would stop the server: a missing ``include``
    or include_dir, a syntax error, an include cycle or nesting deeper than 10.
    """
    name = name.lower()
    settings = _walk(os.path.normpath(main_path), True, read, listdir, 0, ())
    return [found for found in settings if found["name"] == name]


def find_setting(main_path, name, read=read_text, listdir=list_dir):
    """The occurrence of ``name`` that takes effect (the last one), or None if it is not set.

    Same dict and errors as :func:`find_all_settings`. postgresql.auto.conf is read after these
    files and overrides them: check it with :func:`auto_conf_value`.
    """
    found = find_all_settings(main_path, name, read, listdir)
    return found[-1] if found else None


def auto_conf_value(text, name):
    """The value ALTER SYSTEM set for ``name`` in postgresql.auto.conf ``text``, or None.

    An empty string means ALTER SYSTEM set it to ``''``, which still overrides the files.
    Raises ValueError for a line the server would reject.
    """
    name = name.lower()
    value = None
    for number, line in enumerate(text.split("\n"), 1):
        try:
            parsed = parse_line(line)
        except ValueError as exc:
            raise ValueError("%s in postgresql.auto.conf line %d" % (exc, number))
        if parsed is not None and parsed["name"] == name:
            value = parsed["value"]
    return value


def set_in_text(text, name, new_value, line_number=None):
    """Return ``text`` with ``name`` set to ``new_value``.

    With ``line_number`` (1-based, from :func:`find_setting`) only the value on that line is
    replaced by :func:`quote_value` of it; indentation, separator and trailing comment stay.
    If that line already has the value, ``text`` itself is returned unchanged. Without it, a
    ``name = 'value'`` line is appended. Raises ValueError if that line does not set ``name``.
    """
    name = name.lower()
    # Split on "\n" only: the server counts lines that way, and "\r" stays with its line.
    lines = text.split("\n")
    if line_number is None:
        newline = "\r\n" if "\r\n" in text else "\n"
        new_line = "%s = %s\t%s" % (name, quote_value(new_value), ADDED_COMMENT)
        _check_line(new_line, name, new_value)
        if text and not text.endswith("\n"):
            text += newline
        return text + new_line + newline

    if not 1 <= line_number <= len(lines):
        raise ValueError("line %d is out of range" % line_number)
    line = lines[line_number - 1]
    parsed = parse_line(line)
    if parsed is None or parsed["name"] != name:
        raise ValueError("line %d does not set %s: %r" % (line_number, name, line))
    if parsed["value"] == new_value:
        return text
    new_line = line[: parsed["start"]] + quote_value(new_value) + line[parsed["end"] :]
    _check_line(new_line, name, new_value)
    lines[line_number - 1] = new_line
    return "\n".join(lines)


def _check_line(line, name, value):
    # Never write a line the server would read differently (or refuse, e.g. a bad name).
    try:
        parsed = parse_line(line)
    except ValueError as exc:
        raise ValueError("refusing to write %r: %s" % (line, exc))
    if parsed is None or parsed["name"] != name or parsed["value"] != value:
        raise ValueError("refusing to write %r: it would not set %s" % (line, name))


def _diff_lines(text):
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    # A last line without a newline would run into the next diff line.
    if lines[-1]:
        lines[-1] += "\n"
    else:
        lines.pop()
    return lines


def unified_diff(before, after, path):
    """A unified diff of two texts of ``path`` ('' when they are equal)."""
    return "".join(difflib.unified_diff(_diff_lines(before), _diff_lines(after), path, path))


def diff_dict(path, before, after):
    """The ``diff`` return value Ansible's diff mode renders."""
    return {"before": before, "after": after, "before_header": path, "after_header": path}


def keeps_attributes(st, uid, groups):
    """Whether a process running as ``uid`` (in ``groups``) can make a new file that keeps the
    owner and group of ``st`` (an os.stat result): root can give any, others only their own
    user and one of their groups."""
    return uid == 0 or (st.st_uid == uid and st.st_gid in groups)


def describe_attributes(st):
    """``owner:group 0640`` of an os.stat result, by name where the names are known."""
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return "%s:%s %04o" % (owner, group, stat.S_IMODE(st.st_mode))


def _check_keepable(path, st):
    groups = set(os.getgroups()) | {os.getegid()}
    if not keeps_attributes(st, os.geteuid(), groups):
        try:
            user = pwd.getpwuid(os.geteuid()).pw_name
        except KeyError:
            user = "uid %d" % os.geteuid()
        raise PermissionError(
            "%s is %s: %s cannot replace or back it up keeping its owner, group and mode;"
            " run the step as root" % (path, describe_attributes(st), user)
        )


def check_writable(path):
    """Raise PermissionError (before anything changes) if :func:`atomic_write` as this user
    could not keep the owner, group and mode of ``path``."""
    try:
        st = os.stat(os.path.realpath(path))
    except FileNotFoundError:
        return
    _check_keepable(path, st)


def atomic_write(module, path, text, backup=True):
    """Replace ``path`` with ``text`` through Ansible's own file handling; return the backup
    path or None.

    The backup (``module.preserved_copy``) and the new file (``module.atomic_move``, which
    copies owner, group, mode and SELinux context from the file it replaces) keep the owner,
    group and mode of the existing file; a user who could not keep them (not root, and not
    owner and member of the file's group) gets PermissionError before anything is written. A
    new file gets the default mode. The temp file is hidden (leading dot) so an include_dir
    never reads it, and the backup name does not end in ``.conf`` for the same reason. Written
    through symlinks rather than replacing them.
    """
    path = os.path.realpath(path)
    directory = os.path.dirname(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        _check_keepable(path, st)

    backup_path = None
    if backup and st is not None:
        base = "%s.pgtrail-%s" % (path, time.strftime("%Y%m%dT%H%M%S"))
        backup_path, count = base, 0
        while os.path.lexists(backup_path):
            count += 1
            backup_path = "%s.%d" % (base, count)
        module.preserved_copy(path, backup_path)
        # preserved_copy gives the owner only as root; the check above lets this user give both.
        os.chown(backup_path, st.st_uid, st.st_gid)

    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8", "surrogateescape"))
            handle.flush()
            os.fsync(handle.fileno())
        module.atomic_move(tmp, path)
        tmp = None
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)

    # Make the rename itself durable.
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return backup_path


# DLSUFFIX of the platforms the collection supports (Linux).
LIBRARY_SUFFIX = ".so"


def library_candidates(entry, pkglibdir):
    """The files the server tries for a shared_preload_libraries ``entry``, in its order.

    Mirrors expand_dynamic_library_name() with the default dynamic_library_path ($libdir):
    a bare name is looked up in ``pkglibdir``, ``$libdir/...`` is expanded, an absolute path
    stays; each as written, then with ``.so``. Raises ValueError, naming the entry, for a path
    the server would reject or resolve against its working directory (the data directory): a
    ``$`` macro other than ``$libdir`` or a relative path with a directory part.
    """
    entry = _clean_entry(entry)
    if not entry:
        raise ValueError("empty library name")
    if "/" not in entry:
        base = os.path.join(pkglibdir, entry)
    elif entry.startswith("$libdir/"):
        base = os.path.join(pkglibdir, entry[len("$libdir/") :])
    elif entry.startswith("$"):
        raise ValueError("invalid macro in library path %r: only $libdir is known" % entry)
    elif os.path.isabs(entry):
        base = entry
    else:
        raise ValueError("library %r is a relative path: give a name, $libdir/name or an absolute path" % entry)
    base = os.path.normpath(base)
    if base.endswith(LIBRARY_SUFFIX):
        return [base]
    return [base, base + LIBRARY_SUFFIX]


def library_key(entry, pkglibdir):
    """What an entry loads, for comparing: ``pgaudit``, ``pgaudit.so``, ``$libdir/pgaudit`` and
    ``<pkglibdir>/pgaudit.so`` give the same key. An entry that cannot be resolved is its own key."""
    try:
        path = library_candidates(entry, pkglibdir)[0]
    except ValueError:
        return _clean_entry(entry)
    return path[: -len(LIBRARY_SUFFIX)] if path.endswith(LIBRARY_SUFFIX) else path


def ensure_libraries(current, pkglibdir, present=(), absent=()):
    """:func:`ensure_entries` for shared_preload_libraries, comparing what entries load.

    A library listed under another spelling (``$libdir/pgaudit`` for ``pgaudit``) counts as
    present and keeps its spelling; ``absent`` removes every spelling of it. Same errors as
    :func:`ensure_entries`.
    """
    current = ensure_entries(current)
    wanted = ensure_entries([], present)
    unwanted = ensure_entries([], absent)
    gone = set(library_key(e, pkglibdir) for e in unwanted)
    both = sorted(e for e in wanted if library_key(e, pkglibdir) in gone)
    if both:
        raise ValueError("entries both present and absent: %s" % ", ".join(both))
    have = set(library_key(e, pkglibdir) for e in current)
    add = []
    for entry in wanted:
        key = library_key(entry, pkglibdir)
        if key not in have:
            add.append(entry)
            have.add(key)
    drop = [e for e in current if library_key(e, pkglibdir) in gone]
    return ensure_entries(current, add, drop)
