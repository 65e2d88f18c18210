# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judge a PostgreSQL module library from its bytes, without loading it anywhere.

Loading a library to test it (``LOAD`` in a backend) runs code from a file that may be
truncated or half-installed: a mapped page past the end of the file kills the backend with
SIGBUS and the postmaster then restarts, dropping every session. A throwaway server
(``postgres --single`` on a scratch cluster) would avoid that but costs an initdb per check and
still runs the library's _PG_init on the host. So the checks here read the file only:

- a complete ELF shared object: its header, program and section header tables and every
  loadable segment and section lie inside the file (a truncated file fails here);
- the PostgreSQL module magic block: a defined ``Pg_magic_func`` in the dynamic symbol table
  (the server refuses a library without it), and the major in its ABI block when it can be
  found (a library built for another major is refused at start);
- for a file that an OS package owns, the package manager's own integrity check
  (``dpkg --verify`` / ``rpm -V``), which sees any change to the packaged bytes.

Everything but :func:`package_problem` is pure and unit-tested.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

ELF_MAGIC = b"\x7fELF"
ET_DYN = 3
PT_LOAD = 1
SHT_NOBITS = 8
SHT_DYNSYM = 11
MAGIC_SYMBOL = b"Pg_magic_func"
# The ABI block of PG_MODULE_MAGIC: int version (major * 100), funcmaxargs, indexmaxkeys,
# namedatalen, float8byval, then abi_extra, "PostgreSQL" for community builds.
ABI_EXTRA = b"PostgreSQL\0"

# (header, program header, section header, symbol) layouts per ELF class.
_LAYOUTS = {
    1: ("HHIIIIIHHHHHH", "IIIIIIII", "IIIIIIIIII", "IIIBBH"),
    2: ("HHIQQQIHHHHHH", "IIQQQQQQ", "IIQQQQIIQQ", "IBBHQQ"),
}


class LibraryProblem(ValueError):
    """What makes a library unsafe to list in shared_preload_libraries."""


def _unpack(fmt, data, offset, what):
    size = struct.calcsize(fmt)
    if offset < 0 or offset + size > len(data):
        raise LibraryProblem(
            "truncated: the %s at byte %d lies past the end of the file (%d bytes)" % (what, offset, len(data))
        )
    return struct.unpack_from(fmt, data, offset)


def _table(data, offset, count, entsize, fmt, what):
    if count and entsize < struct.calcsize(fmt):
        raise LibraryProblem("corrupt: %s entries of %d bytes" % (what, entsize))
    if offset + count * entsize > len(data):
        raise LibraryProblem(
            "truncated: the %s table ends at byte %d, past the end of the file (%d bytes)"
            % (what, offset + count * entsize, len(data))
        )
    return [_unpack(fmt, data, offset + i * entsize, what) for i in range(count)]


def elf_machine(data):
    """The e_machine of an ELF header, or None when ``data`` does not start with one."""
    if len(data) < 20 or data[:4] != ELF_MAGIC or data[5] not in (1, 2):
        return None
    return struct.unpack_from("<H" if data[5] == 1 else ">H", data, 18)[0]


def inspect_library(data, major=None, machine=None):
    """Check the bytes of a library; return the major its magic block names (or None).

    ``major`` (the server's, e.g. 17) and ``machine`` (the host's e_machine) are compared when
    given. Raises LibraryProblem saying what is wrong: no ELF header, not a shared object,
    truncated, no module magic block, another machine or major.
    """
    if len(data) < 16 or data[:4] != ELF_MAGIC:
        raise LibraryProblem("not a shared object (no ELF header)")
    elf_class, byte_order = data[4], data[5]
    if elf_class not in _LAYOUTS or byte_order not in (1, 2):
        raise LibraryProblem("corrupt ELF header (class %d, byte order %d)" % (elf_class, byte_order))
    end = "<" if byte_order == 1 else ">"
    header, phdr, shdr, sym = (end + fmt for fmt in _LAYOUTS[elf_class])
    (e_type, e_machine, _v, _entry, phoff, shoff, _f, _ehsize, phentsize, phnum, shentsize, shnum, _strndx) = _unpack(
        header, data, 16, "ELF header"
    )
    if e_type != ET_DYN:
        raise LibraryProblem("not a shared object (ELF type %d)" % e_type)
    if machine is not None and e_machine != machine:
        raise LibraryProblem("built for another machine (ELF machine %d, this host's is %d)" % (e_machine, machine))

    for number, entry in enumerate(_table(data, phoff, phnum, phentsize, phdr, "program header")):
        if elf_class == 2:
            p_type, _flags, p_offset, _va, _pa, p_filesz = entry[:6]
        else:
            p_type, p_offset, _va, _pa, p_filesz = entry[:5]
        if p_type == PT_LOAD and p_offset + p_filesz > len(data):
            raise LibraryProblem(
                "truncated: loadable segment %d ends at byte %d, past the end of the file (%d bytes)"
                % (number, p_offset + p_filesz, len(data))
            )

    sections = _table(data, shoff, shnum, shentsize, shdr, "section header")
    # (type, offset, size, link, entsize) of each section, the same for both classes.
    sections = [(s[1], s[4], s[5], s[6], s[9]) for s in sections]
    for number, (s_type, s_offset, s_size, _link, _entsize) in enumerate(sections):
        if s_type != SHT_NOBITS and s_offset + s_size > len(data):
            raise LibraryProblem(
                "truncated: section %d ends at byte %d, past the end of the file (%d bytes)"
                % (number, s_offset + s_size, len(data))
            )

    if not _defines_magic(data, sections, sym, elf_class):
        raise LibraryProblem("not a PostgreSQL module (no magic block: %s is not defined)" % MAGIC_SYMBOL.decode())
    found = magic_major(data, end)
    if major is not None and found is not None and found != major:
        raise LibraryProblem("built for PostgreSQL %d, but the server is PostgreSQL %d" % (found, major))
    return found


def _defines_magic(data, sections, sym, elf_class):
    size = struct.calcsize(sym)
    for s_type, s_offset, s_size, link, entsize in sections:
        if s_type != SHT_DYNSYM or link >= len(sections):
            continue
        _t, str_offset, str_size, _l, _e = sections[link]
        strings = data[str_offset : str_offset + str_size]
        for offset in range(s_offset, s_offset + s_size - size + 1, entsize or size):
            fields = struct.unpack_from(sym, data, offset)
            name, shndx = fields[0], fields[3] if elf_class == 2 else fields[5]
            if shndx and strings[name : name + len(MAGIC_SYMBOL) + 1] == MAGIC_SYMBOL + b"\0":
                return True
    return False


def magic_major(data, end="<"):
    """The major in the module magic block's ABI fields (1700 -> 17), or None if not found."""
    position = data.find(ABI_EXTRA)
    while position >= 0:
        if position >= 20:
            version, funcmaxargs, indexmaxkeys, namedatalen, byval = struct.unpack_from(end + "5i", data, position - 20)
            if (
                version % 100 == 0
                and 900 <= version <= 9900
                and min(funcmaxargs, indexmaxkeys, namedatalen) > 0
                and byval in (0, 1)
            ):
                return version // 100
        position = data.find(ABI_EXTRA, position + 1)
    return None


def verify_output_names(output, path):
    """Whether ``dpkg --verify`` / ``rpm -V`` output reports ``path`` as changed or missing.

    Both print one line per file that differs from the package, ending in the file's path.
    """
    return any(line.rstrip().endswith(" " + path) for line in output.splitlines())


def package_problem(package, path, run):
    """A message if the package manager says ``path`` differs from ``package`` (a dict with
    ``name`` and ``manager`` as audit_facts.package_of returns), else None."""
    command = ["dpkg", "--verify", package["name"]] if package["manager"] == "dpkg" else ["rpm", "-V", package["name"]]
    try:
        _rc, out, _err = run(command)
    except OSError:
        return None
    if verify_output_names(out, path):
        return "its bytes differ from package %s (%s reports it changed): reinstall the package" % (
            package["name"],
            " ".join(command),
        )
    return None
