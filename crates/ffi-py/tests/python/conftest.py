"""Shared fixtures for the ffi_py test suite.

The suite is written against `ffi_py`'s cffi-compatible API. To check that
an expectation really is cffi's behaviour, run it against cffi itself:

    python -m pytest crates/ffi-py/tests/python --against cffi

Then `import ffi_py` in the tests yields a stand-in bound to cffi's `FFI`,
`CDefError`, `FFIError` and `VerificationMissing`; tests marked
`ffi_py_only` (ffi_py's own extensions and error-message wording) are
skipped, and `xfail` markers (recorded ffi_py bugs) are ignored, so every
such test must pass on cffi.
"""

import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

# The libc and libm functions most tests use. `ffi.dlopen(None)` finds them
# all: the interpreter links libc, and libm is loaded by CPython itself.
LIBC_DECLS = """
    typedef struct { int quot; int rem; } div_t;
    long labs(long);
    int abs(int);
    size_t strlen(const char *);
    char *strchr(const char *, int);
    int strcmp(const char *, const char *);
    void *memcpy(void *, const void *, size_t);
    void *memset(void *, int, size_t);
    int memcmp(const void *, const void *, size_t);
    div_t div(int, int);
    int snprintf(char *, size_t, const char *, ...);
    long strtol(const char *, char **, int);
    double strtod(const char *, char **);
    unsigned long long strtoull(const char *, char **, int);
    int atoi(const char *);
    char *getenv(const char *);
    int setenv(const char *, const char *, int);
    int unsetenv(const char *);
    int close(int);
    int usleep(unsigned int);
    void qsort(void *, size_t, size_t, int (*)(const void *, const void *));
    void *bsearch(const void *, const void *, size_t, size_t,
                  int (*)(const void *, const void *));
    int toupper(int);
    void *malloc(size_t);
    void free(void *);
"""

LIBM_DECLS = """
    double sqrt(double);
    double pow(double, double);
    double floor(double);
    float sqrtf(float);
    double frexp(double, int *);
    double ldexp(double, int);
"""

# Declarations of clib/helper.c.
HELPER_DECLS = """
    long call_from_c_thread(int (*fn)(int), int count);
    long call_from_c_threads(int (*fn)(int), int threads, int count);
    extern int helper_counter;
    extern const double helper_ratio;
    extern int helper_table[4];
    enum helper_color { HELPER_RED, HELPER_GREEN = 5, HELPER_BLUE };
    int helper_bump(int by);
    struct helper_pair { short tag; long long value; };
    struct helper_pair helper_swap_pair(struct helper_pair p);
    long long helper_pair_value(const struct helper_pair *p);
    struct helper_big { double d[3]; int i; char tag[5]; };
    struct helper_big helper_big_scale(struct helper_big b, double k);
    double helper_apply(double (*fn)(double, float, int), int n);
    long long helper_ints0(void);
    long long helper_ints1(long long a);
    long long helper_ints2(long long a, int b);
    long long helper_ints3(const char *s, short b, unsigned char c);
    long long helper_ints4(long a, unsigned int b, signed char c, long long d);
    long long helper_ints5(int a, int b, int c, int d, _Bool e);
    long long helper_ints6(int a, int b, int c, int d, int e, const int *f);
    long long helper_ints7(int a, int b, int c, int d, int e, int f, int g);
    double helper_floats1(double a);
    double helper_floats2(double a, float b);
    float helper_floats3(float a, double b, float c);
    double helper_floats4(double a, double b, double c, float d);
    double helper_floats5(double a, double b, double c, double d, double e);
"""


def pytest_addoption(parser):
    parser.addoption(
        "--against",
        choices=("ffi_py", "cffi"),
        default="ffi_py",
        help="run the suite against ffi_py (default) or against real cffi, "
        "to check that the expectations are cffi's behaviour",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "ffi_py_only: an ffi_py extension or ffi_py's error wording; skipped "
        "with --against cffi",
    )
    config.addinivalue_line(
        "markers", "leak: the RSS leak check (always run; select with -m leak)"
    )
    config.addinivalue_line(
        "markers",
        "valgrind: checks a memory error that valgrind sees; `cargo xtask test` "
        "runs these under valgrind with PYTHONMALLOC=malloc (select with -m "
        "valgrind; the misuse suite's cases also need FFI_PY_MISUSE_VALGRIND=1)",
    )
    if config.getoption("--against") == "cffi":
        import cffi

        stand_in = types.ModuleType("ffi_py")
        stand_in.FFI = cffi.FFI
        stand_in.CDefError = cffi.CDefError
        stand_in.FFIError = cffi.FFIError
        stand_in.VerificationMissing = cffi.VerificationMissing
        stand_in.__version__ = cffi.__version__
        stand_in.ON_CFFI = True
        sys.modules["ffi_py"] = stand_in


def pytest_collection_modifyitems(config, items):
    if config.getoption("--against") != "cffi":
        return
    skip = pytest.mark.skip(reason="ffi_py-specific (--against cffi)")
    for item in items:
        if item.get_closest_marker("ffi_py_only"):
            item.add_marker(skip)
        # A recorded ffi_py bug must be correct cffi behaviour: run it plain.
        item.own_markers[:] = [m for m in item.own_markers if m.name != "xfail"]


@pytest.fixture
def ffi():
    from ffi_py import FFI

    return FFI()


@pytest.fixture
def libc(ffi):
    """The process's libc (and libm), with LIBC_DECLS and LIBM_DECLS."""
    ffi.cdef(LIBC_DECLS)
    ffi.cdef(LIBM_DECLS)
    return ffi.dlopen(None)


@pytest.fixture(scope="session")
def helper_path(tmp_path_factory):
    """clib/helper.c compiled to a shared library, once per session."""
    cc = shutil.which("gcc") or shutil.which("cc")
    assert cc, "the tests need gcc (or cc) to build clib/helper.c"
    out = tmp_path_factory.mktemp("clib") / "libffipyhelper.so"
    subprocess.run(
        [cc, "-O1", "-shared", "-fPIC", "-pthread", "-o", str(out),
         str(HERE / "clib" / "helper.c")],
        check=True,
    )
    return out


@pytest.fixture
def helper(ffi, helper_path):
    """The helper library opened by path, with HELPER_DECLS."""
    ffi.cdef(HELPER_DECLS)
    return ffi.dlopen(str(helper_path))
