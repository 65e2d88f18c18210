"""Judging a module library from its bytes (library_check.py): pure logic on real and built ELF files."""

import struct
import sys

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils import library_check as lc

EM_X86_64 = 62


def module_library(major=17, magic=True, machine=EM_X86_64, e_type=lc.ET_DYN):
    """A minimal 64-bit little-endian shared object: one loadable segment, a dynamic symbol
    table (with Pg_magic_func when ``magic``) and PG_MODULE_MAGIC's ABI block in its data."""
    dynstr = b"\0" + (lc.MAGIC_SYMBOL if magic else b"other_func") + b"\0"
    # Symbol 0 is the null symbol; symbol 1 is defined in section 3 (.rodata).
    dynsym = struct.pack("<IBBHQQ", 0, 0, 0, 0, 0, 0) + struct.pack("<IBBHQQ", 1, 0x12, 0, 3, 0x100, 8)
    rodata = struct.pack("<iiiiii", 56, major * 100, 100, 32, 64, 1) + lc.ABI_EXTRA.ljust(32, b"\0")
    shstrtab = b"\0.dynsym\0.dynstr\0.rodata\0.shstrtab\0"
    body = b""
    offsets = []
    for part in (dynsym, dynstr, rodata, shstrtab):
        offsets.append(64 + 56 + len(body))
        body += part
    shoff = 64 + 56 + len(body)
    sections = [
        struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        struct.pack("<IIQQQQIIQQ", 1, lc.SHT_DYNSYM, 2, 0, offsets[0], len(dynsym), 2, 1, 8, 24),
        struct.pack("<IIQQQQIIQQ", 9, 3, 2, 0, offsets[1], len(dynstr), 0, 0, 1, 0),
        struct.pack("<IIQQQQIIQQ", 17, 1, 2, 0, offsets[2], len(rodata), 0, 0, 8, 0),
        struct.pack("<IIQQQQIIQQ", 25, 3, 0, 0, offsets[3], len(shstrtab), 0, 0, 1, 0),
    ]
    size = shoff + 64 * len(sections)
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header += struct.pack("<HHIQQQIHHHHHH", e_type, machine, 1, 0, 64, shoff, 0, 64, 56, 1, 64, len(sections), 4)
    segment = struct.pack("<IIQQQQQQ", lc.PT_LOAD, 5, 0, 0, 0, size, size, 0x1000)
    return header + segment + body + b"".join(sections)


def test_a_complete_module_library_names_its_major():
    assert lc.inspect_library(module_library(17), major=17, machine=EM_X86_64) == 17


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"", "no ELF header"),
        (b"garbage\n", "no ELF header"),
        (b"\x7fELF" + bytes([3, 1]) + bytes(58), "corrupt ELF header"),
        (module_library(e_type=2), "ELF type 2"),
        (module_library(machine=183), "another machine"),
        (module_library(magic=False), "Pg_magic_func"),
        (module_library(major=16), "built for PostgreSQL 16, but the server is PostgreSQL 17"),
        # Truncated: the section header table, then a section, then the loadable segment.
        (module_library()[:-10], "truncated"),
        (module_library()[:200], "truncated"),
        (module_library()[:100], "truncated"),
        (module_library()[:40], "truncated"),
    ],
    ids=[
        "empty",
        "text",
        "bad-class",
        "executable",
        "other-machine",
        "no-magic",
        "other-major",
        "cut-section-headers",
        "cut-sections",
        "cut-segment",
        "cut-header",
    ],
)
def test_a_library_the_server_would_refuse_is_named_for_what_is_wrong(data, problem):
    with pytest.raises(lc.LibraryProblem, match=problem):
        lc.inspect_library(data, major=17, machine=EM_X86_64)


def test_a_real_shared_object_without_magic_block_and_its_truncations_are_refused():
    import _ctypes  # a real shared object on every CPython with ctypes

    with open(_ctypes.__file__, "rb") as handle:
        data = handle.read()
    machine = lc.elf_machine(data)
    with pytest.raises(lc.LibraryProblem, match="no magic block"):
        lc.inspect_library(data, machine=machine)
    for size in (len(data) // 2, len(data) - 1):
        with pytest.raises(lc.LibraryProblem, match="truncated"):
            lc.inspect_library(data[:size], machine=machine)


def test_the_major_is_unknown_without_the_abi_block_and_then_not_compared():
    data = module_library(17).replace(lc.ABI_EXTRA, b"Vendor-ABI\0")
    assert lc.magic_major(data) is None
    assert lc.inspect_library(data, major=15) is None


def test_elf_machine_reads_the_header_or_says_none():
    assert lc.elf_machine(module_library(machine=183)) == 183
    assert lc.elf_machine(b"#!/bin/sh\n") is None
    with open(sys.executable, "rb") as handle:
        assert lc.elf_machine(handle.read(64)) is not None


@pytest.mark.parametrize(
    "output, changed",
    [
        ("??5??????   /usr/lib/postgresql/17/lib/pgaudit.so\n", True),  # dpkg --verify
        ("S.5....T.    /usr/pgsql-17/lib/pgaudit.so\n".replace("/usr/pgsql-17", "/usr/lib/postgresql/17"), True),
        ("missing     /usr/lib/postgresql/17/lib/pgaudit.so\n", True),
        ("??5?????? c /etc/postgresql-common/createcluster.conf\n", False),
        ("??5??????   /usr/lib/postgresql/17/lib/pgaudit.so.bak\n", False),
        ("", False),
    ],
)
def test_the_package_check_output_names_the_library_only_when_it_changed(output, changed):
    assert lc.verify_output_names(output, "/usr/lib/postgresql/17/lib/pgaudit.so") is changed


def test_package_problem_runs_the_package_managers_own_check():
    calls = []

    def run(args):
        calls.append(args)
        return 1, "S.5....T.    /usr/pgsql-17/lib/pgaudit.so\n", ""

    problem = lc.package_problem({"name": "pgaudit_17", "manager": "rpm"}, "/usr/pgsql-17/lib/pgaudit.so", run)
    assert calls == [["rpm", "-V", "pgaudit_17"]]
    assert "differ from package pgaudit_17" in problem
    problem = lc.package_problem({"name": "p", "manager": "dpkg"}, "/usr/lib/x.so", lambda args: (0, "", ""))
    assert problem is None
