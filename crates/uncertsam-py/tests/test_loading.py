"""The extension as one dlopen'ed module among others: it must not take the static TLS that
modules imported after it need. With mimalloc's default initial-exec TLS the module was flagged
STATIC_TLS, and importing scikit-learn after uncertsam failed in libgomp ("cannot allocate
memory in static TLS block"); mimalloc is now built with `local_dynamic_tls`."""

import struct
import subprocess
import sys

import pytest

import uncertsam._native

PT_DYNAMIC = 2
DT_NULL, DT_FLAGS = 0, 30
DF_STATIC_TLS = 0x10


def dynamic_flags(path):
    """DT_FLAGS of a little-endian ELF64 shared object (0 when absent)."""
    data = open(path, "rb").read()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, path
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, _flags, p_offset, _vaddr, _paddr, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + i * phentsize
        )
        if p_type != PT_DYNAMIC:
            continue
        for at in range(p_offset, p_offset + p_filesz, 16):
            tag, val = struct.unpack_from("<qQ", data, at)
            if tag == DT_NULL:
                break
            if tag == DT_FLAGS:
                return val
    return 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads an ELF file")
def test_the_extension_module_asks_for_no_static_tls():
    flags = dynamic_flags(uncertsam._native.__file__)
    assert flags & DF_STATIC_TLS == 0, f"{uncertsam._native.__file__}: DT_FLAGS {flags:#x}"


def test_scikit_learn_and_scipy_import_after_uncertsam_in_a_fresh_interpreter():
    code = (
        "import uncertsam, uncertsam.metrics\n"
        "import sklearn.metrics, scipy.stats\n"
        "print('ok')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"
