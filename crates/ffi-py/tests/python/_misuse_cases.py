"""The misuse suite's cases (run by test_misuse_suite.py): each is a small
snippet of wrong use of the API, run in a process of its own, and the
exception class it must raise (or None: the snippet checks the outcome
itself with asserts and must finish).

Names every snippet can use (test_misuse_suite.PRELUDE): `ffi` (an
`FFI` with DECLS declared), `lib` (`ffi.dlopen(None)`: libc), `FFI`,
`CDefError`, `FFIError`, `VerificationMissing`, `raw` (`ffi_py.raw`),
`open_helper()` (clib/helper.c opened, with conftest's HELPER_DECLS),
`unraisable` (a list of (exception type, message) reported to
sys.unraisablehook), `skip(reason)`, and `gc`, `sys`.

A case's expectation is what cffi does wherever cffi raises (the suite can
run against cffi, `--against cffi`, to check that); `ffi_py_only` cases are
ffi_py's extensions, its checks where cffi has undefined behaviour, and
`ffi_py.raw`.
"""

from collections import namedtuple

# The declarations the prelude makes in `ffi`.
DECLS = """
    typedef struct { int quot; int rem; } div_t;
    long labs(long);
    int abs(int);
    size_t strlen(const char *);
    div_t div(int, int);
    int snprintf(char *, size_t, const char *, ...);
    void qsort(void *, size_t, size_t, int (*)(const void *, const void *));
    void *malloc(size_t);
    void free(void *);
    void *memset(void *, int, size_t);
    extern char **environ;
    struct pt { int x, y; };
    struct rec { int n; struct pt inner; int arr[2]; unsigned flag : 3; };
    union un { int i; double d; };
    struct fam { int n; int data[]; };
    enum col { RED, GREEN = 5 };
    enum partial { PA, PB, ... };
    struct opaque;
    typedef int (*int_fn)(int);
    static const int ANSWER = 42;
"""

# Differences from cffi (or crashes) this suite found that the nine issue
# items do not cover; their cases are xfail until fixed.
FINDING = {
    "redefined-tag": "finding: a struct defined twice differently raises FFIError, cffi CDefError",
    "recursive-struct": "finding: a struct containing itself raises CDefError, cffi "
                        "NotImplementedError",
    "function-type": "finding: new/sizeof/alignof of a function type raise TypeError or "
                     "ValueError, cffi CDefError",
    "cast-source": "finding: cast of a struct to an integer, or of a pointer to a float, "
                   "succeeds (with the address), cffi raises TypeError",
    "read-only-buffer": "finding: a buffer the buffer protocol refuses (read-only where a "
                        "writable one is needed, not contiguous) raises TypeError, cffi "
                        "BufferError",
    "from-handle-type": "finding: from_handle of a non-void pointer raises FFIError, cffi "
                        "TypeError",
    "from-handle-null": "finding: from_handle(NULL) raises FFIError (the guide's example says "
                        "so), cffi RuntimeError, as ffi_py does for other uses of NULL",
    "release-handle": "finding: release() of a handle is accepted, cffi raises ValueError",
    "variadic-callback": "finding: callback with '...' is accepted, cffi raises "
                         "NotImplementedError",
    "nul-in-name": "finding: dlopen of a name with a NUL raises OSError, cffi TypeError",
    "slice": "finding: a cdata slice without start is accepted and one with a step raises "
             "ValueError, cffi raises IndexError for both (TypeError for a buffer's step)",
    "huge-offset": "finding: pointer + 2**70 raises TypeError, cffi OverflowError",
    "release-during-call": "finding: ffi.release(p) while C runs with p as an argument "
                           "(from a callback) frees the memory under C: heap corruption, "
                           "abort (raw.Memory is held until the call returns)",
    "include-conflict": "finding: include() of an FFI declaring a struct differently is "
                        "accepted, cffi raises FFIError",
    "huge-length": "finding: new('int[]', n) with n * size beyond Py_ssize_t raises "
                   "TypeError (n >= 2**64) or ValueError, cffi OverflowError",
}

# Seconds before a case that used to hang (or corrupt memory, which may
# hang) counts as hung; fixed, it takes milliseconds.
HANG = 3

Case = namedtuple("Case", "id code raises match ffi_py_only xfail valgrind helper timeout")


def case(id, code, raises=None, match=None, *, ffi_py_only=False, xfail=None,
         valgrind=False, helper=False, timeout=None):
    """raises: the exception class's name as the snippet sees it ("TypeError",
    "CDefError", a tuple expression), or None; match: a fragment of its
    message (ffi_py's wording, so not checked against cffi); xfail: the
    issue item or FINDING whose pending fix the case waits for; valgrind:
    also run under valgrind by `cargo xtask test`; timeout: seconds before
    the case counts as hung."""
    return Case(id, code.strip("\n"), raises, match, ffi_py_only, xfail, valgrind,
                helper, timeout)


def raw_case(id, code, raises=None, match=None, **kw):
    return case("raw-" + id, code, raises, match, ffi_py_only=True, **kw)


CDEF = [
    case("cdef-unterminated-struct", 'ffi.cdef("struct s1 { int a;")', "CDefError"),
    case("cdef-unknown-type", 'ffi.cdef("foo_t f1(int);")', "CDefError", "foo_t"),
    case("cdef-stray-token", 'ffi.cdef("int f2(int) @;")', "CDefError"),
    case("cdef-redeclared-function", 'ffi.cdef("int f3(int);")\nffi.cdef("long f3(int);")',
         "FFIError", "f3"),
    case("cdef-struct-redefined", 'ffi.cdef("struct s4 { int a; };")\n'
         'ffi.cdef("struct s4 { long a; };")', "CDefError", "s4", xfail=FINDING["redefined-tag"]),
    case("cdef-deep-parentheses", 'ffi.cdef("int " + "(" * 100000 + "x" + ")" * 100000 + ";")',
         "CDefError", ffi_py_only=True),
    case("cdef-deep-pointers", 'ffi.cdef("int " + "*" * 100000 + "p5;")', "CDefError",
         ffi_py_only=True),
    case("cdef-array-too-big", 'ffi.cdef("struct s6 { char a[1LL<<62][1LL<<62]; };")',
         "CDefError", ffi_py_only=True),
    case("cdef-bytes", 'ffi.cdef(b"int f7(int);")', "TypeError"),
    case("cdef-none", "ffi.cdef(None)", "TypeError"),
    case("cdef-negative-array", 'ffi.cdef("typedef int neg8[-1];")', "CDefError",
         ffi_py_only=True),
    case("cdef-pack-3", 'ffi.cdef("struct s9 { int a; };", pack=3)', "ValueError"),
    case("cdef-function-returning-function", 'ffi.cdef("int f10(int)(int);")', "CDefError",
         ffi_py_only=True),
    case("cdef-unterminated-comment", 'ffi.cdef("int f11(int); /* no end")', "CDefError"),
    case("cdef-struct-contains-itself", 'ffi.cdef("struct s12 { struct s12 inner; };")\n'
         'ffi.new("struct s12 *")', "NotImplementedError", xfail=FINDING["recursive-struct"]),
    case("cdef-void-array", 'ffi.cdef("typedef void va13[3];")', "CDefError",
         ffi_py_only=True),
    case("cdef-function-macro", 'ffi.cdef("#define F14(x) x")', "CDefError"),
    case("cdef-enum-overflow", 'ffi.cdef("enum e15 { E15 = 0xfffffffffffffffffff };")',
         "CDefError", ffi_py_only=True),
    case("cdef-huge-literal", 'ffi.cdef("#define BIG16 " + "9" * 100000)', "CDefError",
         ffi_py_only=True),
    case("cdef-bitfield-wider-than-type", 'ffi.cdef("struct s17 { int a : 40; };")\n'
         'ffi.new("struct s17 *")', "CDefError", ffi_py_only=True),
    case("cdef-pack-and-packed", 'ffi.cdef("struct s18 { int a; };", packed=True, pack=2)',
         "ValueError"),
    case("cdef-nul-character", 'ffi.cdef("int f19\\0(int);")', "CDefError"),
    case("include-self", "ffi.include(ffi)", "ValueError"),
    case("include-non-ffi", "ffi.include(5)", "TypeError"),
    case("include-conflicting-struct", 'other = FFI()\nother.cdef("struct pt { char c; };")\n'
         "ffi.include(other)", "FFIError", xfail=FINDING["include-conflict"]),
]

NEW = [
    case("new-unknown-type", 'ffi.new("nosuch_t *")', "CDefError", "nosuch_t"),
    case("new-void-pointer", 'ffi.new("void *")', "TypeError"),
    case("new-scalar-type", 'ffi.new("int", 5)', "TypeError"),
    case("new-array-too-many-items", 'ffi.new("int[2]", [1, 2, 3])', "IndexError"),
    case("new-array-bad-item", 'ffi.new("int[]", [1, "x"])', "TypeError"),
    case("new-array-float-length", 'ffi.new("int[]", 2.5)', "TypeError"),
    case("new-array-length-2-64", 'ffi.new("int[]", 2**64)', "OverflowError"),
    case("new-array-length-times-size-overflows", 'ffi.new("int[]", 2**62)', "OverflowError"),
    case("new-struct-unknown-key", 'ffi.new("struct pt *", {"z": 1})', "KeyError"),
    case("new-struct-too-many-items", 'ffi.new("struct pt *", [1, 2, 3])', "ValueError"),
    case("new-struct-bad-value", 'ffi.new("struct pt *", {"x": "a"})', "TypeError"),
    case("new-struct-from-int", 'ffi.new("struct pt *", 5)', "TypeError"),
    case("new-char-array-too-long", 'ffi.new("char[2]", b"abc")', "IndexError"),
    case("new-char-array-from-str", 'ffi.new("char[]", "abc")', "TypeError"),
    case("new-wchar-array-from-bytes", 'ffi.new("wchar_t[]", b"abc")', "TypeError"),
    case("new-pointer-to-pointer-from-int", 'ffi.new("int **", 5)', "TypeError"),
    case("new-union-two-items", 'ffi.new("union un *", [1, 2])', "ValueError"),
    case("new-bool-2", 'ffi.new("_Bool *", 2)', "OverflowError"),
    case("new-char-from-int", 'ffi.new("char *", 65)', "TypeError"),
    case("new-char-from-two-bytes", 'ffi.new("char *", b"ab")', "TypeError"),
    case("new-double-from-str", 'ffi.new("double *", "1.0")', "TypeError"),
    case("new-int-from-float", 'ffi.new("int *", 1.5)', "TypeError"),
    case("new-unsigned-negative", 'ffi.new("unsigned int *", -1)', "OverflowError"),
    case("new-long-long-2-64", 'ffi.new("long long *", 2**63)', "OverflowError"),
    case("new-opaque-struct", 'ffi.new("struct opaque *")', "TypeError"),
    case("new-partial-enum", 'ffi.new("enum partial *")', "VerificationMissing"),
    case("new-enum-unknown-name", 'ffi.new("enum col *", "BLUE")', "TypeError"),
    case("new-bitfield-overflow", 'ffi.new("struct rec *", {"flag": 8})', "OverflowError"),
    case("new-nested-list-too-long", 'ffi.new("struct rec *", [1, [1, 2], [1, 2, 3]])',
         "IndexError"),
    case("new-struct-nested-dict-for-int", 'ffi.new("struct pt *", {"x": {"y": 1}})',
         "TypeError"),
    case("new-struct-tuple-too-long", 'ffi.new("struct pt *", (1, 2, 3))', "ValueError"),
    case("new-function-type", 'ffi.new("int(int)")', "CDefError",
         xfail=FINDING["function-type"]),
    case("new-index-mutates-init-dict", """
class Evil:
    def __index__(self):
        init.clear()
        init.update({str(i): i for i in range(100)})
        return 1
init = {"x": Evil(), "y": 2}
try:
    p = ffi.new("struct pt *", init)
except RuntimeError:   # the dict changed size during iteration
    pass
else:
    assert (p.x, p.y) == (1, 2)   # or read from a snapshot of the dict
""", None, ffi_py_only=True, valgrind=True),
    case("new-index-mutates-init-list", """
class Evil:
    def __index__(self):
        init.clear()
        return 1
init = [Evil(), Evil(), Evil()]
p = ffi.new("int[]", init)
# the items the list no longer has stay zero, or a snapshot's are used
assert list(p) in ([1, 0, 0], [1, 1, 1])
""", None, ffi_py_only=True, valgrind=True),
    case("setitem-slice-index-mutates-list", """
class Evil:
    def __index__(self):
        init.clear()
        return 1
p = ffi.new("int[3]", [7, 7, 7])
init = [Evil(), Evil(), Evil()]
p[0:3] = init
assert list(p) in ([1, 0, 0], [1, 7, 7], [1, 1, 1])
""", None, ffi_py_only=True, valgrind=True),
    case("new-flexible-array-from-list", """
p = ffi.new("struct fam *", [3, [10, 20, 30]])
assert p.n == 3 and list(p.data[0:3]) == [10, 20, 30]
""", None, valgrind=True),
]

ALLOCATOR = [
    case("allocator-returns-int", 'ffi.new_allocator(lambda n: 1234, None)("int *")',
         "TypeError", valgrind=True, timeout=HANG),
    case("allocator-returns-too-small-block", """
keep = []
def alloc(n):
    block = ffi.new("char[1]")
    keep.append(block)
    return block
p = ffi.new_allocator(alloc, None)("int[1000]")
""", "ValueError", ffi_py_only=True, valgrind=True, timeout=HANG),
    case("allocator-returns-none", 'ffi.new_allocator(lambda n: None, None)("int *")',
         "TypeError"),
    case("allocator-returns-null", 'ffi.new_allocator(lambda n: ffi.NULL, None)("int *")',
         "MemoryError"),
    case("allocator-returns-scalar-cdata",
         'ffi.new_allocator(lambda n: ffi.cast("int", 5), None)("int *")', "TypeError"),
    case("allocator-raises", 'ffi.new_allocator(lambda n: 1 / 0, None)("int *")',
         "ZeroDivisionError"),
    case("allocator-free-without-alloc", "ffi.new_allocator(None, lambda p: None)",
         "TypeError"),
    case("allocator-clear-flag-str", 'ffi.new_allocator(should_clear_after_alloc="x")',
         "TypeError"),
    case("allocator-bad-type", 'ffi.new_allocator(lib.malloc, lib.free)("nosuch_t *")',
         "CDefError"),
    case("allocator-free-raises", """
def bad_free(p):
    lib.free(p)
    raise KeyError("free")
allocate = ffi.new_allocator(lib.malloc, bad_free)
ffi.release(allocate("int[4]"))   # reported, as by the collector:
q = allocate("int[4]")
del q
gc.collect()
assert [t for t, _ in unraisable] == [KeyError, KeyError], unraisable
""", None, valgrind=True),
]

CAST = [
    case("cast-inf-to-long", 'ffi.cast("long", float("inf"))', "OverflowError"),
    case("cast-nan-to-int", 'ffi.cast("int", float("nan"))', "ValueError"),
    case("cast-minus-inf-to-unsigned", 'ffi.cast("unsigned char", float("-inf"))',
         "OverflowError"),
    case("cast-str-to-int", 'ffi.cast("int", "12")', "TypeError"),
    case("cast-two-bytes-to-char", 'ffi.cast("char", b"ab")', "TypeError"),
    case("cast-struct-to-int", 'ffi.cast("int", ffi.new("struct pt *")[0])', "TypeError",
         xfail=FINDING["cast-source"]),
    case("cast-pointer-to-double", 'ffi.cast("double", ffi.new("int *"))', "TypeError",
         xfail=FINDING["cast-source"]),
    case("cast-none-to-pointer", 'ffi.cast("int *", None)', "TypeError"),
    case("cast-float-to-pointer", """
p = ffi.cast("int *", 1.5)   # truncated to an address, as cffi does
assert int(ffi.cast("intptr_t", p)) == 1
""", None),
    case("cast-to-void", 'ffi.cast("void", 0)', "TypeError"),
    case("cast-to-union", 'ffi.cast("union un", 0)', "TypeError"),
    case("cast-int-to-array", 'ffi.cast("int[4]", 1234)', "TypeError", ffi_py_only=True),
    case("cast-str-to-double", 'ffi.cast("double", "1.5")', "TypeError"),
    case("cast-to-unknown-type", 'ffi.cast("nosuch_t", 0)', "CDefError"),
    case("cast-to-partial-enum", 'ffi.cast("enum partial", 0)', "VerificationMissing"),
    case("cast-to-undefined-enum", """
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    e = ffi.cast("enum undefined_e", 7)
assert int(e) == 7
""", None),
    case("cast-list-to-int", 'ffi.cast("int", [1])', "TypeError"),
    case("cast-enum-from-str", 'ffi.cast("enum col", "GREEN")', "TypeError"),
]

STRING = [
    case("string-int-pointer", 'ffi.string(ffi.new("int *"))', "TypeError"),
    case("string-null-char-pointer", 'ffi.string(ffi.cast("char *", 0))', "RuntimeError"),
    case("string-struct", 'ffi.string(ffi.new("struct pt *")[0])', "TypeError"),
    case("string-maxlen-str", 'ffi.string(ffi.new("char[]", b"ab"), "x")', "TypeError"),
    case("string-after-release", 'p = ffi.new("char[]", b"abc")\nffi.release(p)\nffi.string(p)',
         "ValueError", ffi_py_only=True, valgrind=True),
    case("string-wchar-lone-surrogate", """
p = ffi.new("wchar_t[]", "a\\ud800b")
assert ffi.string(p) == "a\\ud800b"
assert p[1] == "\\ud800"
""", None),
    case("string-wchar-out-of-range", """
p = ffi.new("int[2]", [0x110000, 0])
ffi.string(ffi.cast("wchar_t *", p))
""", "ValueError", ffi_py_only=True),
    case("unpack-negative-length", 'ffi.unpack(ffi.new("int[3]"), -1)', "ValueError"),
    case("unpack-past-end", 'ffi.unpack(ffi.new("int[3]"), 4)', "IndexError",
         ffi_py_only=True),
    case("unpack-void-pointer", 'ffi.unpack(ffi.cast("void *", ffi.new("int *")), 1)',
         "ValueError"),
    case("unpack-null", 'ffi.unpack(ffi.cast("int *", 0), 2)', "RuntimeError"),
    case("unpack-str-length", 'ffi.unpack(ffi.new("int[3]"), "3")', "TypeError"),
    case("unpack-past-owned-pointer", 'ffi.unpack(ffi.new("int *", 1), 100000)', "IndexError",
         ffi_py_only=True, valgrind=True),
    case("unpack-after-release", 'p = ffi.new("int[3]")\nffi.release(p)\nffi.unpack(p, 3)',
         "ValueError", ffi_py_only=True, valgrind=True),
]

BUFFER = [
    case("buffer-past-end-of-array", 'ffi.buffer(ffi.new("char[4]"), 100)', "ValueError",
         ffi_py_only=True, valgrind=True),
    case("buffer-of-scalar", 'ffi.buffer(ffi.cast("int", 1))', "TypeError"),
    case("buffer-of-null", 'ffi.buffer(ffi.cast("char *", 0), 4)', "FFIError",
         ffi_py_only=True),
    case("buffer-after-release", """
p = ffi.new("char[64]", b"x" * 63)
b = ffi.buffer(p)
ffi.release(p)
junk = [ffi.new("char[64]", b"y" * 63) for _ in range(100)]
assert b[0] == b"x"   # the buffer holds the memory it shows
""", None, ffi_py_only=True, valgrind=True),
    case("buffer-after-with", """
with ffi.new("char[64]", b"x" * 63) as p:
    b = ffi.buffer(p)
junk = [ffi.new("char[64]", b"y" * 63) for _ in range(100)]
assert bytes(b) == b"x" * 63 + bytes(1)   # the buffer holds the memory it shows
""", None, ffi_py_only=True, valgrind=True),
    case("memoryview-after-release", """
if sys.version_info < (3, 12):
    skip("memoryview(ffi.buffer) needs CPython 3.12")
p = ffi.new("char[4000]", b"x" * 3999)
m = memoryview(ffi.buffer(p))
try:
    ffi.release(p)   # refused while exported, or deferred until the view goes
except BufferError:
    pass
# Blocks of the same size, filled: one of them reuses the block if it was freed.
junk = [ffi.new("char[4000]", b"y" * 3999) for _ in range(64)]
assert m[0] == m[3998] == ord("x"), (m[0], m[3998])
""", None, ffi_py_only=True, valgrind=True),
    case("buffer-setitem-wrong-length", 'b = ffi.buffer(ffi.new("char[4]"))\nb[0:2] = b"abc"',
         "ValueError"),
    case("buffer-slice-step", 'ffi.buffer(ffi.new("char[4]"))[::2]', "TypeError",
         xfail=FINDING["slice"]),
    case("buffer-no-argument", "ffi.buffer()", "TypeError"),
    case("buffer-index-out-of-range", 'ffi.buffer(ffi.new("char[4]"))[4]', "IndexError"),
    case("buffer-setitem-int", 'b = ffi.buffer(ffi.new("char[4]"))\nb[0] = "x"', "TypeError"),
    case("from-buffer-bytes-writable", 'ffi.from_buffer(b"abc", require_writable=True)',
         "BufferError", xfail=FINDING["read-only-buffer"]),
    case("from-buffer-int", "ffi.from_buffer(5)", "TypeError"),
    case("from-buffer-str", 'ffi.from_buffer("abc")', "TypeError"),
    case("from-buffer-scalar-type", 'ffi.from_buffer("int", bytearray(8))', "TypeError"),
    case("from-buffer-not-contiguous",
         'ffi.from_buffer(memoryview(bytearray(b"abcdef"))[::2])', "BufferError",
         xfail=FINDING["read-only-buffer"]),
    case("from-buffer-writable-flag-str",
         'ffi.from_buffer(bytearray(4), require_writable="x")', "TypeError"),
    case("from-buffer-too-small", 'ffi.from_buffer("int[4]", bytearray(8))', "ValueError"),
    case("from-buffer-resize-exported", """
data = bytearray(16)
c = ffi.from_buffer(data)
data.extend(b"x" * 4096)
""", "BufferError", valgrind=True),
    case("from-buffer-release-then-use", """
data = bytearray(b"abcd")
c = ffi.from_buffer(data)
ffi.release(c)
data.extend(b"x" * 4096)  # no export any more
c[0]
""", "ValueError", ffi_py_only=True, valgrind=True),
    case("memmove-int-dest", 'ffi.memmove(5, b"a", 1)', "TypeError"),
    case("memmove-bytes-dest", 'ffi.memmove(b"abcd", ffi.new("char[4]"), 4)', "BufferError",
         xfail=FINDING["read-only-buffer"]),
    case("memmove-short-source", 'ffi.memmove(ffi.new("char[8]"), b"ab", 8)', "ValueError",
         ffi_py_only=True),
    case("memmove-past-end-of-dest", 'ffi.memmove(ffi.new("char[4]"), b"x" * 100, 100)',
         "ValueError", ffi_py_only=True, valgrind=True),
    case("memmove-past-end-of-source", 'ffi.memmove(bytearray(100), ffi.new("char[4]"), 100)',
         "ValueError", ffi_py_only=True, valgrind=True),
    case("memmove-released-dest", 'p = ffi.new("char[4]")\nffi.release(p)\n'
         'ffi.memmove(p, b"ab", 2)', "ValueError", ffi_py_only=True, valgrind=True),
    case("memmove-huge-n", 'p = ffi.new("char[4]")\nffi.memmove(p, p, 2**64)',
         "OverflowError"),
]

SIZES = [
    case("sizeof-function-type", 'ffi.sizeof("int(int)")', "CDefError",
         xfail=FINDING["function-type"]),
    case("alignof-function-type", 'ffi.alignof("int(int)")', "CDefError",
         xfail=FINDING["function-type"]),
    case("sizeof-unknown-type", 'ffi.sizeof("nosuch_t")', "CDefError"),
    case("sizeof-open-array", 'ffi.sizeof("int[]")', "ValueError"),
    case("sizeof-int", "ffi.sizeof(5)", "TypeError"),
    case("alignof-void", 'ffi.alignof("void")', "ValueError"),
    case("alignof-opaque", 'ffi.alignof("struct opaque")', "ValueError"),
    case("offsetof-missing-field", 'ffi.offsetof("struct pt", "z")', "KeyError"),
    case("offsetof-index-on-struct", 'ffi.offsetof("struct pt", 0)', "TypeError"),
    case("offsetof-bitfield", 'ffi.offsetof("struct rec", "flag")', "TypeError"),
    case("offsetof-field-of-int", 'ffi.offsetof("struct pt", "x", "y")', "TypeError"),
    case("typeof-int", "ffi.typeof(5)", "TypeError"),
    case("typeof-empty", 'ffi.typeof("")', "CDefError", ffi_py_only=True),
    case("typeof-deep-pointers", 'ffi.typeof("int" + "*" * 100000)', "CDefError",
         ffi_py_only=True),
    case("typeof-lib", "ffi.typeof(lib)", "TypeError"),
    case("getctype-bad-replace", 'ffi.getctype("int", 5)', "TypeError", ffi_py_only=True),
    case("getctype-int", "ffi.getctype(5)", "TypeError"),
    case("addressof-scalar", 'ffi.addressof(ffi.cast("int", 1))', "TypeError"),
    case("addressof-missing-field", 'ffi.addressof(ffi.new("struct pt *")[0], "z")',
         "KeyError"),
    case("addressof-lib-missing", 'ffi.addressof(lib, "nosuch_symbol_x")', "AttributeError"),
    case("addressof-int", "ffi.addressof(5)", "TypeError"),
    case("addressof-released-struct", 'p = ffi.new("struct pt *")\nffi.release(p)\n'
         'ffi.addressof(p[0], "y")', "ValueError", ffi_py_only=True, valgrind=True),
]

GC_RELEASE = [
    case("gc-non-callable-destructor", """
p = ffi.gc(lib.malloc(8), 5)
del p
gc.collect()
assert [t for t, _ in unraisable] == [TypeError], unraisable
""", None),
    case("gc-destructor-raises", """
def boom(p):
    lib.free(p)
    raise KeyError("in destructor")
p = ffi.gc(lib.malloc(8), boom)
del p
gc.collect()
assert [t for t, _ in unraisable] == [KeyError], unraisable
""", None, valgrind=True),
    case("gc-detach-none-twice", """
p = ffi.gc(lib.malloc(8), lib.free)
ffi.gc(p, None)      # detached: freed here, not by the collector
lib.free(p)
ffi.gc(p, None)      # detaching again does nothing
del p
gc.collect()
""", None, valgrind=True),
    case("release-twice", 'p = ffi.new("int *")\nffi.release(p)\nffi.release(p)', None,
         valgrind=True),
    case("release-non-owning", 'ffi.release(ffi.cast("int *", 0))', "ValueError"),
    case("release-then-index", 'p = ffi.new("int[4]")\nffi.release(p)\np[0]', "ValueError",
         ffi_py_only=True, valgrind=True),
    case("release-then-setitem", 'p = ffi.new("int[4]")\nffi.release(p)\np[0] = 1',
         "ValueError", ffi_py_only=True, valgrind=True),
    case("release-then-attribute", 'p = ffi.new("struct pt *")\nffi.release(p)\np.x',
         "ValueError", ffi_py_only=True, valgrind=True),
    case("release-then-call", 'p = ffi.new("char[]", b"abc")\nffi.release(p)\nlib.strlen(p)',
         "ValueError", ffi_py_only=True, valgrind=True),
    case("release-then-derived-pointer", """
p = ffi.new("int[]", list(range(1000)))
q = p + 10
ffi.release(p)
junk = [ffi.new("int[]", [-1] * 1000) for _ in range(20)]
assert q[0] == 10 and q[989] == 999
""", None, ffi_py_only=True, valgrind=True),
    case("release-then-member-view", """
p = ffi.new("struct rec *", {"inner": {"x": 5}})
inner = p.inner
ffi.release(p)
junk = [ffi.new("struct rec *") for _ in range(20)]
assert inner.x == 5
""", None, ffi_py_only=True, valgrind=True),
    case("with-then-use", 'with ffi.new("int *", 5) as p:\n    pass\np[0]', "ValueError",
         ffi_py_only=True, valgrind=True),
    case("release-argument-during-call", """
values = ffi.new("int[]", list(range(100, 0, -1)))
junk = []
seen = set()
def compare(a, b):
    if not junk:
        try:
            ffi.release(values)   # refused, or deferred until C returns
        except ValueError:
            pass
        # Blocks of the same size: the first reuses the array if it was freed.
        junk.extend(ffi.new("int[]", [-7] * 100) for _ in range(8))
    x, y = ffi.cast("int *", a)[0], ffi.cast("int *", b)[0]
    seen.update((x, y))
    return (x > y) - (x < y)
cb = ffi.callback("int(const void *, const void *)", compare)
lib.qsort(values, 100, 4, cb)
assert seen <= set(range(1, 101)), "qsort read another block"
assert all(list(block) == [-7] * 100 for block in junk), "qsort wrote into another block"
assert not unraisable, unraisable
""", None, ffi_py_only=True, valgrind=True),
    case("release-while-iterating", """
p = ffi.new("int[]", list(range(1000)))
seen = []
try:
    for i, x in enumerate(p):
        if i == 1:
            ffi.release(p)
            junk = [ffi.new("int[]", [-1] * 1000) for _ in range(50)]
        seen.append(x)
except ValueError:   # refused after the release
    assert seen == [0, 1], seen[:4]
else:                # or the iterator keeps the memory alive
    assert seen == list(range(1000)), seen[:4]
""", None, ffi_py_only=True, valgrind=True),
    case("release-then-assign-to-pointer-field", """
h = ffi.new("struct { char *name; } *")
s = ffi.new("char[]", b"hello")
ffi.release(s)
h.name = s
""", "ValueError", ffi_py_only=True, valgrind=True),
    case("gc-destructor-releases-its-object", """
def destructor(x):
    ffi.release(q)
q = ffi.gc(ffi.new("int *"), destructor)
ffi.release(q)
del q
gc.collect()
""", None, valgrind=True),
    case("with-non-owning", 'with ffi.cast("int *", 0) as p:\n    pass', "ValueError"),
    case("release-gc-object-twice", """
freed = []
def free(p):
    freed.append(1)
    lib.free(p)
q = ffi.gc(lib.malloc(8), free)
ffi.release(q)
ffi.release(q)
del q
gc.collect()
assert freed == [1]
""", None, valgrind=True),
    case("release-then-repr", 'p = ffi.new("int *")\nffi.release(p)\nrepr(p)\nstr(p)\n'
         "hash(p)", None, valgrind=True),
]

HANDLES = [
    case("from-handle-null", "ffi.from_handle(ffi.NULL)", "RuntimeError",
         xfail=FINDING["from-handle-null"]),
    case("from-handle-random-address", 'ffi.from_handle(ffi.cast("void *", 0x12345678))',
         "FFIError", ffi_py_only=True),
    case("from-handle-int-pointer", 'ffi.from_handle(ffi.new("int *"))', "TypeError",
         xfail=FINDING["from-handle-type"]),
    case("from-handle-dead-handle", """
h = ffi.new_handle(object())
address = ffi.cast("void *", int(ffi.cast("intptr_t", h)))
del h
gc.collect()
ffi.from_handle(address)
""", "FFIError", ffi_py_only=True, valgrind=True),
    case("new-handle-no-argument", "ffi.new_handle()", "TypeError"),
    case("handle-setattr", "ffi.new_handle(1).x = 1", "AttributeError"),
    case("release-handle", "ffi.release(ffi.new_handle(object()))", "ValueError",
         xfail=FINDING["release-handle"]),
]

CALLBACKS = [
    case("callback-non-callable", 'ffi.callback("int(int)", 5)', "TypeError"),
    case("callback-variadic", 'ffi.callback("int(int, ...)", lambda *a: 0)',
         "NotImplementedError", xfail=FINDING["variadic-callback"]),
    case("callback-pointer-type", 'ffi.callback("int *", lambda: 0)', "TypeError"),
    case("callback-returns-array", 'ffi.callback("int[2](int)", lambda x: 0)',
         "(CDefError, TypeError)"),
    case("callback-error-wrong-type", 'ffi.callback("int(int)", lambda x: x, error="x")',
         "TypeError"),
    case("callback-onerror-non-callable",
         'ffi.callback("int(int)", lambda x: x, onerror=5)', "TypeError"),
    case("callback-decorator-non-callable", 'ffi.callback("int(int)")(5)', "TypeError"),
    case("callback-huge-struct-argument", """
ffi.cdef("struct hs { char a[1000000000]; };")
try:
    ffi.callback("int(struct hs)", lambda s: 0)
except (NotImplementedError, TypeError, ValueError, MemoryError):
    pass   # refused; made at once is as good (nothing calls it)
""", None, ffi_py_only=True, timeout=HANG),
    case("callback-returns-wrong-type", """
cb = ffi.callback("int(int)", lambda x: "s", error=-7)
assert cb(1) == -7
assert [t for t, _ in unraisable] == [TypeError], unraisable
""", None, valgrind=True),
    case("callback-returns-overflow", """
cb = ffi.callback("int(int)", lambda x: 2**40, error=-7)
assert cb(1) == -7
assert [t for t, _ in unraisable] == [OverflowError], unraisable
""", None),
    case("callback-wrong-arity", """
cb = ffi.callback("int(int)", lambda: 1, error=-7)
assert cb(1) == -7
assert [t for t, _ in unraisable] == [TypeError], unraisable
""", None),
    case("callback-onerror-raises", """
def onerror(exc, value, tb):
    raise KeyError("onerror")
cb = ffi.callback("int(int)", lambda x: 1 / 0, error=-7, onerror=onerror)
assert cb(1) == -7
assert KeyError in [t for t, _ in unraisable], unraisable
""", None),
    case("callback-onerror-returns-wrong-type", """
cb = ffi.callback("int(int)", lambda x: 1 / 0, error=-7, onerror=lambda *a: "x")
assert cb(1) == -7
assert unraisable and unraisable[-1][0] is TypeError, unraisable
""", None),
    case("callback-raises-systemexit", """
def f(x):
    raise SystemExit(3)
cb = ffi.callback("int(int)", f, error=-7)
assert cb(1) == -7
assert [t for t, _ in unraisable] == [SystemExit], unraisable
""", None),
    case("callback-struct-result-wrong-type", """
cb = ffi.callback("struct pt(int)", lambda x: 5)
r = cb(1)
assert (r.x, r.y) == (0, 0)
assert [t for t, _ in unraisable] == [TypeError], unraisable
""", None),
    case("callback-pointer-result-wrong-type", """
cb = ffi.callback("int *(int)", lambda x: 5)
assert cb(1) == ffi.NULL
assert [t for t, _ in unraisable] == [TypeError], unraisable
""", None),
    case("callback-void-returns-value", """
cb = ffi.callback("void(int)", lambda x: 5)
assert cb(1) is None
""", None),
    case("callback-released-then-called", """
cb = ffi.callback("int(int)", lambda x: x)
ffi.release(cb)
cb(1)
""", "ValueError", ffi_py_only=True, valgrind=True),
    case("callback-released-inside-itself", """
# Two items: C calls the comparator once, the call that releases it (C
# calling a callback after its release is the caller's error, as in C).
values = ffi.new("int[]", [2, 1])
as_int = lambda p: ffi.cast("int *", p)[0]
calls = []
def compare(a, b):
    if not calls:
        try:
            ffi.release(cb)   # refused, or deferred until C returns
        except ValueError:
            pass
        junk = [ffi.callback("int(int)", lambda x: x) for _ in range(50)]
    calls.append(1)
    return (as_int(a) > as_int(b)) - (as_int(a) < as_int(b))
cb = ffi.callback("int(const void *, const void *)", compare)
lib.qsort(values, 2, ffi.sizeof("int"), cb)
assert list(values) == [1, 2] and not unraisable, unraisable
""", None, valgrind=True),
    case("ffi-deleted-while-objects-live", """
p = ffi.new("int *", 5)
labs = lib.labs
cb = ffi.callback("int(int)", lambda x: x + 1)
del ffi, lib
gc.collect()
assert (p[0], labs(-3), cb(1)) == (5, 3, 2)
from ffi_py import FFI
ffi = FFI()   # for the suite's check after the case
ffi.cdef("long labs(long);")
lib = ffi.dlopen(None)
""", None, ffi_py_only=True, valgrind=True),
    case("callback-wrong-signature-to-c", """
cb = ffi.callback("int(int)", lambda x: x)
lib.qsort(ffi.new("int[2]"), 2, 4, cb)
""", "TypeError"),
    case("callback-raises-in-c-thread", """
helper = open_helper()
def f(x):
    raise KeyError(x)
cb = ffi.callback("int(int)", f, error=1)
assert helper.call_from_c_thread(cb, 5) == 5
assert len(unraisable) == 5 and all(t is KeyError for t, _ in unraisable), unraisable
""", None, helper=True, valgrind=True),
]

LIBS = [
    case("dlopen-missing-file", 'ffi.dlopen("/nonexistent/libnothing.so")', "OSError"),
    case("dlopen-int", "ffi.dlopen(5)", "TypeError"),
    case("dlopen-directory", 'ffi.dlopen("/tmp")', "OSError"),
    case("dlopen-not-a-library", 'ffi.dlopen("/etc/passwd")', "OSError"),
    case("dlopen-nul-in-name", 'ffi.dlopen("libc.so.6\\0junk")', "TypeError",
         xfail=FINDING["nul-in-name"]),
    case("dlopen-bad-flags", 'ffi.dlopen("libm.so.6", "now")', "TypeError"),
    case("dlopen-non-pointer-cdata", 'ffi.dlopen(ffi.new("int *"))', "TypeError"),
    case("dlclose-twice", 'l = ffi.dlopen("libm.so.6")\nffi.dlclose(l)\nffi.dlclose(l)',
         None, valgrind=True),
    case("closed-lib-function", 'l = ffi.dlopen(None)\nffi.dlclose(l)\nl.labs(-1)',
         "ValueError"),
    case("closed-lib-global", 'l = ffi.dlopen(None)\nffi.dlclose(l)\nl.environ',
         "ValueError"),
    case("closed-lib-fetched-function", """
l = ffi.dlopen(None)
labs = l.labs
ffi.dlclose(l)
assert labs(-3) == 3
""", None, ffi_py_only=True, valgrind=True),
    case("dlclose-during-call", """
helper = open_helper()
calls = []
def fn(d, f, i):
    global helper
    if not calls:
        ffi.dlclose(helper)   # the running function keeps its library loaded
        del helper
        gc.collect()
    calls.append(1)
    return 1.0
apply = helper.helper_apply
cb = ffi.callback("double(double, float, int)", fn)
assert apply(cb, 5) == 5.0 and len(calls) == 5
""", None, helper=True, ffi_py_only=True, valgrind=True),
    case("dlopen-flags-overflow", "ffi.dlopen(None, 2**40)", "OverflowError"),
    case("lib-declared-symbol-missing", 'ffi.cdef("int no_such_function_x(int);")\n'
         "lib.no_such_function_x", "AttributeError", "no_such_function_x"),
    case("lib-undeclared-name", "lib.printf", "AttributeError", "printf"),
    case("lib-global-missing", 'ffi.cdef("extern int no_such_global_x;")\n'
         "lib.no_such_global_x", "AttributeError", "no_such_global_x", ffi_py_only=True),
    case("lib-set-function", "lib.labs = 5", "AttributeError", ffi_py_only=True),
    case("lib-delete-function", "del lib.labs", "AttributeError"),
    case("lib-set-constant", "lib.ANSWER = 5", "AttributeError", ffi_py_only=True),
    case("lib-set-global-wrong-type", "lib.environ = 5", "TypeError"),
    case("lib-partial-enum-value", "lib.PA", "VerificationMissing"),
    case("lib-call-too-few", "lib.labs()", "TypeError", "labs"),
    case("lib-call-too-many", "lib.labs(1, 2)", "TypeError", "labs"),
    case("lib-call-str-for-long", 'lib.labs("x")', "TypeError", "labs"),
    case("lib-call-overflow", "lib.labs(2**63)", "OverflowError"),
    case("lib-call-float-for-int", "lib.abs(1.5)", "TypeError"),
    case("lib-call-keyword", "lib.labs(x=1)", "TypeError"),
    case("lib-call-wrong-pointer-type", 'lib.strlen(ffi.new("int *"))', "TypeError"),
    case("lib-call-str-for-char-pointer", 'lib.strlen("abc")', "TypeError"),
    case("lib-call-struct-arg-from-int", "open_helper().helper_swap_pair(5)", "TypeError",
         helper=True),
    case("lib-call-struct-arg-partial-dict", """
helper = open_helper()
for _ in range(3):   # missing members are zero, as in C (valgrind sees it at once)
    assert helper.helper_swap_pair({"tag": 1}).value == 0
    assert helper.helper_swap_pair([2]).value == 0
""", None, helper=True, ffi_py_only=True, valgrind=True),
    case("lib-call-struct-arg-too-many-items", "open_helper().helper_swap_pair([1, 2, 3])",
         "ValueError", helper=True),
    case("variadic-python-int", 'lib.snprintf(ffi.new("char[10]"), 10, b"%d", 5)',
         "TypeError"),
    case("variadic-str", 'lib.snprintf(ffi.new("char[10]"), 10, b"%s", "x")', "TypeError"),
    case("variadic-missing-fixed", 'lib.snprintf(ffi.new("char[10]"))', "TypeError"),
    case("errno-float", "ffi.errno = 1.5", "TypeError"),
    case("errno-overflow", "ffi.errno = 2**40", "OverflowError"),
    case("errno-delete", "del ffi.errno", "(AttributeError, TypeError)"),
    case("integer-const-missing", 'ffi.integer_const("NOPE")', "KeyError", ffi_py_only=True),
    case("list-types-argument", "ffi.list_types(1)", "TypeError"),
    case("init-once-unhashable-tag", "ffi.init_once(lambda: 1, [])", "TypeError"),
    case("cdef-pack-str", 'ffi.cdef("struct q1 { int a; };", pack="x")', "TypeError"),
    case("cdata-class-direct", "ffi.CData()", "TypeError"),
    case("ctype-class-direct", "ffi.CType()", "TypeError"),
    case("init-once-non-callable", 'ffi.init_once(5, "t")', "TypeError"),
]

CDATA = [
    case("index-past-end", 'ffi.new("int[3]")[3]', "IndexError"),
    case("index-negative-array", 'ffi.new("int[3]")[-1]', "IndexError"),
    case("setitem-past-end", 'p = ffi.new("int[3]")\np[3] = 1', "IndexError"),
    case("index-str", 'ffi.new("int[3]")["x"]', "TypeError"),
    case("index-float", 'ffi.new("int[3]")[1.0]', "TypeError"),
    case("index-huge", 'ffi.new("int[3]")[2**70]', "(IndexError, OverflowError)"),
    case("index-pointer-huge", 'ffi.new("int *")[2**70]', "IndexError"),
    case("slice-no-start", 'ffi.new("int[3]")[:2]', "IndexError",
         xfail=FINDING["slice"]),
    case("slice-step", 'ffi.new("int[3]")[0:2:1]', "IndexError", xfail=FINDING["slice"]),
    case("slice-reversed", 'ffi.new("int[3]")[2:1]', "IndexError"),
    case("slice-past-end", 'ffi.new("int[3]")[0:4]', "IndexError"),
    case("slice-assign-wrong-length", 'p = ffi.new("int[3]")\np[0:2] = [1]', "ValueError"),
    case("slice-assign-bad-item", 'p = ffi.new("int[3]")\np[0:2] = [1, "x"]', "TypeError"),
    case("len-of-pointer", 'len(ffi.new("int *"))', "TypeError"),
    case("iter-of-pointer", 'iter(ffi.new("int *"))', "TypeError"),
    case("add-float", 'ffi.new("int[2]") + 1.5', "TypeError"),
    case("multiply", 'ffi.new("int[2]") * 2', "TypeError"),
    case("subtract-different-types", 'ffi.new("int[2]") - ffi.new("char[2]")', "TypeError"),
    case("subtract-unrelated-pointers", """
arrays = [ffi.new("char[64]") for _ in range(4)]
pointers = [ffi.cast("int *", a + k) for k, a in enumerate(arrays)]
for p in pointers:
    for q in pointers:
        distance = int(ffi.cast("intptr_t", q)) - int(ffi.cast("intptr_t", p))
        try:
            assert q - p == distance // 4 and distance % 4 == 0, (distance, q - p)
        except ValueError:   # not a whole number of items apart, as in cffi
            assert distance % 4 != 0, distance
""", None),
    case("subtract-array-from-array", 'ffi.new("int[4]") - ffi.new("int[4]")', "TypeError"),
    case("void-pointer-arithmetic", """
p = ffi.cast("void *", 0x1000)
assert int(ffi.cast("intptr_t", p + 3)) == 0x1003
assert int(ffi.cast("intptr_t", p - 1)) == 0xfff
""", None),
    case("add-to-struct", 'ffi.new("struct pt *")[0] + 1', "TypeError"),
    case("add-huge-to-pointer", 'ffi.new("int *") + 2**70', "OverflowError",
         xfail=FINDING["huge-offset"]),
    case("compare-pointer-int", 'ffi.new("int *") < 5', "TypeError"),
    case("attribute-of-int-pointer", 'ffi.new("int *").x', "AttributeError"),
    case("attribute-missing", 'ffi.new("struct pt *").z', "AttributeError", "z"),
    case("setattr-missing", 'p = ffi.new("struct pt *")\np.z = 1', "AttributeError"),
    case("setattr-wrong-type", 'p = ffi.new("struct pt *")\np.x = "a"', "TypeError"),
    case("setattr-overflow", 'p = ffi.new("struct pt *")\np.x = 2**31', "OverflowError"),
    case("setattr-array-too-long", 'p = ffi.new("struct rec *")\np.arr = [1, 2, 3]',
         "IndexError"),
    case("setattr-bitfield-overflow", 'p = ffi.new("struct rec *")\np.flag = 8',
         "OverflowError"),
    case("setattr-struct-from-other-struct", """
ffi.cdef("struct other_s { int x, y; };")
p = ffi.new("struct rec *")
p.inner = ffi.new("struct other_s *")[0]
""", "TypeError"),
    case("delattr-field", 'p = ffi.new("struct pt *")\ndel p.x', "AttributeError"),
    case("slice-past-owned-pointer", 'p = ffi.new("int *", 1)\np[0:100000]', "IndexError",
         ffi_py_only=True, valgrind=True),
    case("index-past-owned-pointer", 'ffi.new("int *", 1)[1]', "IndexError"),
    case("reversed-array", 'reversed(ffi.new("int[3]"))', "TypeError"),
    case("negate-cdata", '-ffi.cast("int", 1)', "TypeError"),
    case("abs-of-pointer", 'abs(ffi.new("int *"))', "TypeError"),
    case("round-cdata", 'round(ffi.cast("double", 1.5))', "TypeError"),
    case("call-function-pointer-keyword",
         'ffi.cast("long(*)(long)", ffi.addressof(lib, "labs"))(x=1)', "TypeError"),
    case("delitem", 'p = ffi.new("int[2]")\ndel p[0]', "TypeError"),
    case("deref-null-read", 'ffi.cast("int *", 0)[0]', "RuntimeError"),
    case("deref-null-write", 'p = ffi.cast("int *", 0)\np[0] = 1', "RuntimeError"),
    case("deref-null-struct-field", 'ffi.cast("struct pt *", 0).x', "RuntimeError",
         ffi_py_only=True),
    case("call-non-function", 'ffi.new("int *")(1)', "TypeError"),
    case("call-null-function-pointer", 'ffi.cast("int(*)(int)", 0)(1)', "RuntimeError"),
    case("call-function-pointer-too-few", 'ffi.addressof(lib, "labs")()', "TypeError"),
    case("call-function-pointer-wrong-type", 'ffi.addressof(lib, "labs")("x")', "TypeError"),
    case("float-of-pointer", 'float(ffi.new("int *"))', "TypeError"),
    case("int-of-struct", 'int(ffi.new("struct pt *")[0])', "TypeError"),
    case("char-item-from-int", 'p = ffi.new("char[2]")\np[0] = 65', "TypeError"),
    case("double-item-from-str", 'p = ffi.new("double[2]")\np[0] = "x"', "TypeError"),
    case("pointer-item-from-int", 'p = ffi.new("int *[2]")\np[0] = 5', "TypeError"),
    case("pointer-item-wrong-pointer-type", 'p = ffi.new("int *[2]")\n'
         'p[0] = ffi.new("char *")', "TypeError"),
    case("struct-item-unknown-key", 'p = ffi.new("struct pt[2]")\np[0] = {"z": 1}', "KeyError"),
    case("enum-item-unknown-name", 'p = ffi.new("enum col[1]")\np[0] = "BLUE"', "TypeError"),
    case("bool-read-byte-2", """
raw_byte = ffi.new("unsigned char *", 2)
ffi.cast("_Bool *", raw_byte)[0]
""", "ValueError"),
    case("cdata-getattr-on-union-missing", 'ffi.new("union un *").z', "AttributeError"),
    case("struct-by-value-setitem-wrong", 'p = ffi.new("struct pt *")\np[0] = 5', "TypeError"),
]

RAW = [
    raw_case("type-unknown-name", 'raw.Type("i33")', "ValueError", "i33"),
    raw_case("type-int", "raw.Type(5)", "TypeError"),
    raw_case("type-c-name", 'raw.Type("int")', "ValueError"),
    raw_case("c-type-unknown", 'raw.c_type("struct x")', "ValueError"),
    raw_case("struct-empty", "raw.Struct([])", "ValueError"),
    raw_case("struct-void-field", 'raw.Struct(["void"])', "(ValueError, TypeError)"),
    raw_case("struct-int-field", "raw.Struct([5])", "TypeError"),
    raw_case("struct-not-a-sequence", "raw.Struct(5)", "TypeError"),
    raw_case("struct-huge-array", 'raw.Struct([raw.Array("i64", 2**60), "i64"])',
             "OverflowError", timeout=HANG),
    raw_case("struct-size-overflows", 'raw.Struct([raw.Array("i64", 2**59), raw.Array("i64", 2**59)])',
             "OverflowError", timeout=HANG),
    raw_case("struct-nested-deep", """
t = raw.i8
for _ in range(100000):
    t = raw.Struct([t])
del t
""", None, timeout=60),
    raw_case("array-negative-length", 'raw.Array("i32", -1)', "(ValueError, OverflowError)"),
    raw_case("array-huge", 'raw.Array("i64", 2**62)', "(ValueError, OverflowError)"),
    raw_case("array-of-void", 'raw.Array("void", 2)', "(ValueError, TypeError)"),
    raw_case("library-missing", 'raw.Library("/nonexistent/libnothing.so")', "OSError"),
    raw_case("library-int", "raw.Library(5)", "TypeError"),
    raw_case("library-nul-in-name", 'raw.Library("libc.so.6\\0junk")', "ValueError"),
    raw_case("library-bad-flags", 'raw.Library(None, "now")', "TypeError"),
    raw_case("symbol-missing", 'raw.Library(None).symbol("no_such_symbol_x")',
             "AttributeError", "no_such_symbol_x"),
    raw_case("symbol-after-close", 'l = raw.Library(None)\nl.close()\nl.symbol("labs")',
             "ValueError"),
    raw_case("symbol-int-name", "raw.Library(None).symbol(5)", "TypeError"),
    raw_case("symbol-nul-in-name", 'raw.Library(None).symbol("labs\\0x")', "ValueError"),
    raw_case("function-after-library-closed", """
with raw.Library(None) as l:
    labs = raw.Function(l.symbol("labs"), ["i64"], "i64")
assert labs(-5) == 5
""", None, valgrind=True),
    raw_case("memory-negative-size", "raw.Memory(-1)", "(ValueError, OverflowError)"),
    raw_case("memory-huge", "raw.Memory(2**62)", "MemoryError"),
    raw_case("memory-align-3", "raw.Memory(8, 3)", "ValueError"),
    raw_case("memory-align-0", "raw.Memory(8, 0)", "ValueError"),
    raw_case("memory-read-past-end", 'raw.Memory(8).read("i32", 6)', "IndexError"),
    raw_case("memory-read-negative-offset", 'raw.Memory(8).read("i32", -1)',
             "(IndexError, OverflowError)"),
    raw_case("memory-read-huge-offset", 'raw.Memory(8).read("i32", 2**64 - 2)',
             "(IndexError, OverflowError)"),
    raw_case("memory-write-past-end", 'raw.Memory(8).write("i64", 1, 0)', "IndexError"),
    raw_case("memory-write-overflow", 'raw.Memory(8).write("i8", 0, 128)', "OverflowError"),
    raw_case("memory-write-str", 'raw.Memory(8).write("i32", 0, "x")', "TypeError"),
    raw_case("memory-write-float-to-int", 'raw.Memory(8).write("i32", 0, 1.5)', "TypeError"),
    raw_case("memory-read-void", 'raw.Memory(8).read("void")', "(ValueError, TypeError)"),
    raw_case("memory-read-bytes-past-end", "raw.Memory(8).read_bytes(4, 5)", "IndexError"),
    raw_case("memory-read-bytes-negative-size", "raw.Memory(8).read_bytes(0, -1)",
             "(ValueError, IndexError, OverflowError)"),
    raw_case("memory-write-bytes-past-end", 'raw.Memory(8).write_bytes(6, b"abc")',
             "IndexError"),
    raw_case("memory-write-bytes-str", 'raw.Memory(8).write_bytes(0, "abc")', "TypeError"),
    raw_case("memory-struct-bytes-wrong-size",
             'raw.Memory(8).write(raw.Struct(["i32", "i32"]), 0, b"abc")', "ValueError"),
    raw_case("memory-read-after-free", 'm = raw.Memory(8)\nm.free()\nm.read("i32")',
             "ValueError", valgrind=True),
    raw_case("memory-write-after-free", 'm = raw.Memory(8)\nm.free()\nm.write("i32", 0, 1)',
             "ValueError", valgrind=True),
    raw_case("memory-bytes-after-free", "m = raw.Memory(8)\nm.free()\nbytes(m)", "ValueError",
             valgrind=True),
    raw_case("memory-after-with", 'with raw.Memory(8) as m:\n    pass\nm.read_bytes()',
             "ValueError", valgrind=True),
    raw_case("memory-free-twice", "m = raw.Memory(8)\nm.free()\nm.free()\nassert m.freed",
             None, valgrind=True),
    raw_case("memory-freed-during-call", """
libc = raw.Library(None)
qsort = raw.Function(libc.symbol("qsort"), ["ptr", "u64", "u64", "ptr"], None)
mem = raw.alloc("i32", 100)
for i in range(100):
    mem.write("i32", 4 * i, 100 - i)
def compare(a, b):
    mem.free()       # the call holds the memory until it returns
    x, y = raw.peek("i32", a), raw.peek("i32", b)
    return (x > y) - (x < y)
qsort(mem, 100, 4, raw.Callback(compare, ["ptr", "ptr"], "i32"))
assert mem.freed and not unraisable, unraisable
""", None, valgrind=True),
    raw_case("memory-from-bytes-str", 'raw.Memory.from_bytes("abc")', "TypeError"),
    raw_case("alloc-negative-count", 'raw.alloc("i32", -1)', "(ValueError, OverflowError)"),
    raw_case("alloc-huge", 'raw.alloc("i64", 2**61)', "(MemoryError, OverflowError)"),
    raw_case("alloc-void", 'raw.alloc("void")', "(ValueError, TypeError)"),
    raw_case("peek-null", 'raw.peek("i32", 0)', "ValueError"),
    raw_case("peek-none", 'raw.peek("i32", None)', "ValueError"),
    raw_case("poke-null", 'raw.poke("i32", 0, 1)', "ValueError"),
    raw_case("peek-bytes-null", "raw.peek_bytes(0, 4)", "ValueError"),
    raw_case("peek-string-null", "raw.peek_string(0)", "ValueError"),
    raw_case("poke-bytes-null", 'raw.poke_bytes(0, b"x")', "ValueError"),
    raw_case("peek-freed-memory", 'm = raw.Memory(8)\nm.free()\nraw.peek("i32", m)',
             "ValueError", valgrind=True),
    raw_case("poke-freed-memory", 'm = raw.Memory(8)\nm.free()\nraw.poke("i32", m, 1)',
             "ValueError", valgrind=True),
    raw_case("peek-bad-type", 'raw.peek("int", raw.Memory(8))', "ValueError"),
    raw_case("peek-address-str", 'raw.peek("i32", "x")', "TypeError"),
    raw_case("poke-overflow", 'raw.poke("u8", raw.Memory(8), 256)', "OverflowError"),
    raw_case("poke-bytes-str", 'raw.poke_bytes(raw.Memory(8), "abc")', "TypeError"),
    raw_case("peek-bytes-negative-size", "raw.peek_bytes(raw.Memory(8), -1)",
             "(ValueError, OverflowError)"),
    raw_case("peek-string-negative-maxlen", "raw.peek_string(raw.Memory(8), -1)",
             "(ValueError, OverflowError)"),
    raw_case("function-void-argument", 'raw.Function(raw.Library(None).symbol("labs"), '
             '["void"], "i64")', "TypeError", "argtypes[0]"),
    raw_case("function-array-argument", 'raw.Function(raw.Library(None).symbol("labs"), '
             '[raw.Array("i32", 2)], "i64")', "TypeError", "argtypes[0]"),
    raw_case("function-array-result", 'raw.Function(raw.Library(None).symbol("labs"), '
             '["i64"], raw.Array("i32", 2))', "TypeError", "restype"),
    raw_case("function-null-address", 'raw.Function(0, ["i64"], "i64")', "ValueError"),
    raw_case("function-str-address", 'raw.Function("labs", ["i64"], "i64")', "TypeError"),
    raw_case("function-argtypes-not-sequence",
             'raw.Function(raw.Library(None).symbol("labs"), 5, "i64")', "TypeError"),
    raw_case("function-variadic-void", 'raw.Function(raw.Library(None).symbol("printf"), '
             '["ptr"], "i32", variadic=["void"])', "TypeError", "variadic[0]"),
    raw_case("function-zero-size-struct-argument",
             'raw.Function(raw.Library(None).symbol("labs"), '
             '[raw.Struct([raw.Array("i32", 0)])], "i64")', "(TypeError, ValueError)"),
    raw_case("function-huge-struct-argument", """
try:
    raw.Function(raw.Library(None).symbol("labs"), [raw.Struct([raw.Array("u8", 10**9)])], "i64")
except (TypeError, ValueError):
    pass   # refused; made at once is as good (it is not called)
""", None, timeout=HANG),
    raw_case("call-too-few", 'raw.Function(raw.Library(None).symbol("labs"), ["i64"], "i64")()',
             "TypeError", "labs"),
    raw_case("call-too-many",
             'raw.Function(raw.Library(None).symbol("labs"), ["i64"], "i64")(1, 2)',
             "TypeError", "labs"),
    raw_case("call-overflow",
             'raw.Function(raw.Library(None).symbol("labs"), ["i64"], "i64")(2**63)',
             "OverflowError", "argument 1"),
    raw_case("call-float-for-int",
             'raw.Function(raw.Library(None).symbol("labs"), ["i64"], "i64")(1.5)',
             "TypeError"),
    raw_case("call-keyword",
             'raw.Function(raw.Library(None).symbol("labs"), ["i64"], "i64")(x=1)',
             "TypeError"),
    raw_case("call-f32-overflow", 'raw.Function(raw.Library(None).symbol("sqrtf"), '
             '["f32"], "f32")(1e300)', "OverflowError"),
    raw_case("call-struct-bytes-wrong-size", """
pair = raw.Struct(["i32", "i32"])
f = raw.Function(raw.Library(None).symbol("labs"), [pair], "i64")
f(b"abc")
""", "ValueError"),
    raw_case("call-freed-memory-argument", """
strlen = raw.Function(raw.Library(None).symbol("strlen"), ["ptr"], "u64")
m = raw.Memory.from_bytes(b"abc\\0")
m.free()
strlen(m)
""", "ValueError", valgrind=True),
    raw_case("call-str-for-pointer",
             'raw.Function(raw.Library(None).symbol("strlen"), ["ptr"], "u64")("abc")',
             "TypeError"),
    raw_case("callback-non-callable", 'raw.Callback(5, ["i32"], "i32")', "TypeError"),
    raw_case("callback-void-argument", 'raw.Callback(lambda x: 0, ["void"], "i32")',
             "TypeError", "argtypes[0]"),
    raw_case("callback-default-wrong-type", 'raw.Callback(lambda x: 0, ["i32"], "i32", '
             'default="x")', "TypeError"),
    raw_case("callback-huge-struct-argument", """
try:
    raw.Callback(lambda s: 0, [raw.Struct([raw.Array("u8", 10**9)])], "i32")
except (TypeError, ValueError):
    pass   # refused; made at once is as good (it is not called)
""", None, timeout=HANG),
    raw_case("callback-bad-result", """
cb = raw.Callback(lambda x: "s", ["i32"], "i32", default=-7)
assert raw.Function(cb, ["i32"], "i32")(1) == -7
assert [t for t, _ in unraisable] == [TypeError], unraisable
""", None, valgrind=True),
    raw_case("callback-result-overflow", """
cb = raw.Callback(lambda x: 2**40, ["i32"], "i32", default=-7)
assert raw.Function(cb, ["i32"], "i32")(1) == -7
assert [t for t, _ in unraisable] == [OverflowError], unraisable
""", None),
    raw_case("callback-raises", """
cb = raw.Callback(lambda x: 1 / 0, ["i32"], "f64", default=2.5)
assert raw.Function(cb, ["i32"], "f64")(1) == 2.5
assert [t for t, _ in unraisable] == [ZeroDivisionError], unraisable
""", None),
    raw_case("callback-wrong-arity", """
cb = raw.Callback(lambda: 1, ["i32"], "i32", default=-7)
assert raw.Function(cb, ["i32"], "i32")(1) == -7
assert [t for t, _ in unraisable] == [TypeError], unraisable
""", None),
    raw_case("call-struct-from-short-memory", """
pair = raw.Struct(["i64", "i64"])
raw.Function(raw.Library(None).symbol("labs"), [pair], "i64")(raw.Memory(1))
""", "ValueError", valgrind=True),
    raw_case("write-struct-from-short-memory",
             'raw.Memory(32).write(raw.Struct(["i64", "i64"]), 0, raw.Memory(1))', "ValueError",
             valgrind=True),
    raw_case("callback-struct-result-short-memory", """
pair = raw.Struct(["i64", "i64"])
cb = raw.Callback(lambda x: raw.Memory(1), ["i32"], pair)
assert raw.Function(cb, ["i32"], pair)(1) == bytes(16)
assert [t for t, _ in unraisable] == [ValueError], unraisable
""", None, valgrind=True),
    raw_case("callback-struct-result-wrong-size", """
pair = raw.Struct(["i32", "i32"])
cb = raw.Callback(lambda x: b"abc", ["i32"], pair)
assert raw.Function(cb, ["i32"], pair)(1) == bytes(8)
assert [t for t, _ in unraisable] == [ValueError], unraisable
""", None, valgrind=True),
    raw_case("set-errno-str", 'raw.set_errno("x")', "TypeError"),
    raw_case("set-errno-overflow", "raw.set_errno(2**40)", "OverflowError"),
    raw_case("get-errno-argument", "raw.get_errno(1)", "TypeError"),
]

CASES = CDEF + NEW + ALLOCATOR + CAST + STRING + BUFFER + SIZES + GC_RELEASE + HANDLES \
    + CALLBACKS + LIBS + CDATA + RAW

assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"
