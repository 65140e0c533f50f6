"""Calling C functions: argument and result conversion for each kind of C
type, variadic calls, structs by value, out-parameters, and the errors of
wrong argument counts, types and ranges."""

import os

import pytest

from _support import message_has


def test_integer_arguments_and_results(ffi, libc):
    assert libc.labs(-(2**62)) == 2**62
    assert libc.abs(-2147483647) == 2147483647
    assert libc.toupper(ord("q")) == ord("Q")
    assert libc.atoi(b"  -1234xyz") == -1234
    assert libc.strtoull(b"18446744073709551615", ffi.NULL, 10) == 2**64 - 1


def test_bool_is_accepted_as_an_integer(ffi, libc):
    assert libc.labs(True) == 1


def test_double_and_float_arguments_and_results(ffi, libc):
    assert libc.sqrt(2.0) == 2.0**0.5
    assert libc.pow(2, 0.5) == 2**0.5  # an int is accepted for double
    assert libc.floor(-0.5) == -1.0
    # float precision: sqrtf(2) rounded to a float, then widened.
    assert libc.sqrtf(2.0) == 1.4142135381698608
    assert libc.strtod(b"6.02e23", ffi.NULL) == 6.02e23


def test_string_arguments(ffi, libc):
    assert libc.strlen(b"hello") == 5
    assert libc.strlen(b"") == 0
    assert libc.strlen(ffi.new("char[]", b"from new")) == 8
    assert libc.strcmp(b"abc", b"abd") < 0
    # bytes are passed up to the first NUL, as C sees them.
    assert libc.strlen(b"ab\0cd") == 2


def test_char_pointer_result_points_into_the_argument(ffi, libc):
    text = ffi.new("char[]", b"key=value")
    eq = libc.strchr(text, ord("="))
    assert ffi.typeof(eq) is ffi.typeof("char *")
    assert eq - text == 3
    assert ffi.string(eq + 1) == b"value"
    assert libc.strchr(text, ord("#")) == ffi.NULL


def test_null_pointer_results_are_null_cdata(ffi, libc):
    result = libc.getenv(b"FFI_PY_SURELY_UNSET_VARIABLE")
    assert result == ffi.NULL
    assert not result


def test_getenv_sees_setenv(ffi, libc):
    name = b"FFI_PY_TEST_SETENV"
    try:
        assert libc.setenv(name, b"first", 1) == 0
        assert ffi.string(libc.getenv(name)) == b"first"
        # overwrite=0 keeps the existing value.
        assert libc.setenv(name, b"second", 0) == 0
        assert ffi.string(libc.getenv(name)) == b"first"
        assert libc.setenv(name, b"second", 1) == 0
        assert ffi.string(libc.getenv(name)) == b"second"
    finally:
        libc.unsetenv(name)
    assert libc.getenv(name) == ffi.NULL


def test_getenv_reads_the_process_environment(ffi, libc):
    os.environ["FFI_PY_TEST_FROM_PYTHON"] = "set by os.environ"
    try:
        value = libc.getenv(b"FFI_PY_TEST_FROM_PYTHON")
        assert ffi.string(value) == b"set by os.environ"
    finally:
        del os.environ["FFI_PY_TEST_FROM_PYTHON"]


def test_memcpy_returns_its_destination(ffi, libc):
    src = ffi.new("int[4]", [1, -2, 3, -4])
    dst = ffi.new("int[4]")
    result = libc.memcpy(dst, src, ffi.sizeof(src))
    assert result == dst
    assert ffi.typeof(result) is ffi.typeof("void *")
    assert list(dst) == [1, -2, 3, -4]
    assert libc.memcmp(dst, src, 16) == 0
    libc.memset(dst, 0xFF, 8)
    assert list(dst) == [-1, -1, 3, -4]


def test_struct_result_by_value(ffi, libc):
    r = libc.div(-7, 2)
    assert ffi.typeof(r) is ffi.typeof("div_t")
    assert (r.quot, r.rem) == (-3, -1)


def test_struct_argument_and_result_by_value(ffi, helper):
    pair = ffi.new("struct helper_pair *", {"tag": 3, "value": 2**40})
    out = helper.helper_swap_pair(pair[0])
    assert (out.tag, out.value) == (-3, 2**41)
    # The argument was copied, not modified.
    assert (pair.tag, pair.value) == (3, 2**40)
    # A list or dict initializer is accepted for a struct argument.
    assert helper.helper_swap_pair([5, 6]).value == 12
    assert helper.helper_swap_pair({"tag": 1}).tag == -1


def test_struct_pointer_argument(ffi, helper):
    pair = ffi.new("struct helper_pair *", [4, 100])
    assert helper.helper_pair_value(pair) == 104
    assert helper.helper_pair_value(ffi.addressof(pair[0])) == 104


def test_out_parameters(ffi, libc):
    exponent = ffi.new("int *")
    assert libc.frexp(48.0, exponent) == 0.75
    assert exponent[0] == 6
    assert libc.ldexp(0.75, exponent[0]) == 48.0

    text = ffi.new("char[]", b"  123abc")
    end = ffi.new("char **")
    assert libc.strtol(text, end, 10) == 123
    assert end[0] - text == 5
    assert ffi.string(end[0]) == b"abc"


def test_void_function_returns_none(ffi, libc):
    p = libc.malloc(16)
    assert p != ffi.NULL
    assert libc.free(p) is None


def test_variadic_call_with_explicit_types(ffi, libc):
    buf = ffi.new("char[64]")
    n = libc.snprintf(
        buf, 64, b"%d|%s|%.2f|%lld|%c",
        ffi.cast("int", -5),
        ffi.new("char[]", b"hi"),
        ffi.cast("double", 2.5),
        ffi.cast("long long", 2**40),
        ffi.cast("int", 65),
    )
    assert ffi.string(buf) == b"-5|hi|2.50|1099511627776|A"
    assert n == len(b"-5|hi|2.50|1099511627776|A")


def test_variadic_call_truncates_like_c(ffi, libc):
    buf = ffi.new("char[4]")
    # snprintf returns the length it would have written.
    assert libc.snprintf(buf, 4, b"%s", ffi.new("char[]", b"abcdef")) == 6
    assert ffi.string(buf) == b"abc"


@pytest.mark.ffi_py_only
def test_variadic_float_is_promoted_to_double(ffi, libc):
    # C promotes a variadic float to double; cffi passes it unpromoted.
    buf = ffi.new("char[16]")
    libc.snprintf(buf, 16, b"%.2f", ffi.cast("float", 1.5))
    assert ffi.string(buf) == b"1.50"


@pytest.mark.ffi_py_only
def test_variadic_bytes_are_passed_as_char_pointers(ffi, libc):
    # cffi requires a cdata in the variadic part; ffi_py also takes bytes.
    buf = ffi.new("char[16]")
    libc.snprintf(buf, 16, b"<%s>", b"ok")
    assert ffi.string(buf) == b"<ok>"


def test_variadic_plain_int_needs_an_explicit_type(ffi, libc):
    buf = ffi.new("char[16]")
    with pytest.raises(TypeError) as excinfo:
        libc.snprintf(buf, 16, b"%d", 5)
    assert "argument 4" in str(excinfo.value)


def test_variadic_too_few_fixed_arguments(ffi, libc):
    with pytest.raises(TypeError) as excinfo:
        libc.snprintf(ffi.new("char[4]"), 4)
    assert "at least 3" in str(excinfo.value)


@pytest.mark.parametrize("args", [(), (1, 2), (1, 2, 3)])
def test_wrong_argument_count_is_type_error(ffi, libc, args):
    with pytest.raises(TypeError) as excinfo:
        libc.labs(*args)
    assert f"got {len(args)}" in str(excinfo.value)


@pytest.mark.ffi_py_only
def test_wrong_argument_count_names_the_function(ffi, libc):
    with pytest.raises(TypeError) as excinfo:
        libc.strchr(b"abc")
    message_has(excinfo, "strchr", "expects 2 arguments, got 1")


def test_keyword_arguments_are_type_error(ffi, libc):
    with pytest.raises(TypeError):
        libc.labs(x=1)


@pytest.mark.parametrize(
    "call, position, ctype",
    [
        (lambda lib: lib.labs("12"), 1, "long"),
        (lambda lib: lib.labs(1.5), 1, "long"),
        (lambda lib: lib.labs(None), 1, "long"),
        (lambda lib: lib.strlen("text"), 1, "char *"),
        (lambda lib: lib.strlen(5), 1, "char *"),
        (lambda lib: lib.strchr(b"abc", b"b"), 2, "int"),
        (lambda lib: lib.pow(2.0, "x"), 2, "double"),
        (lambda lib: lib.memcpy(7, b"y", 1), 1, "void *"),
        (lambda lib: lib.ldexp(1.0, 2.0), 2, "int"),
    ],
)
def test_wrong_argument_type_is_type_error_naming_position_and_ctype(
    ffi, libc, call, position, ctype
):
    with pytest.raises(TypeError) as excinfo:
        call(libc)
    message_has(excinfo, f"argument {position}", f"'{ctype}'")


@pytest.mark.parametrize(
    "call, position, ctype",
    [
        (lambda lib: lib.labs(2**63), 1, "long"),
        (lambda lib: lib.labs(-(2**63) - 1), 1, "long"),
        (lambda lib: lib.abs(2**31), 1, "int"),
        (lambda lib: lib.usleep(-1), 1, "unsigned int"),
        (lambda lib: lib.usleep(2**32), 1, "unsigned int"),
        (lambda lib: lib.strtol(b"1", lib_null(), 2**40), 3, "int"),
        (lambda lib: lib.memset(lib_null(), 0, -1), 3, "size_t"),
    ],
)
def test_out_of_range_integer_argument_is_overflow_error(ffi, libc, call, position, ctype):
    with pytest.raises(OverflowError) as excinfo:
        call(libc)
    message_has(excinfo, f"argument {position}", f"'{ctype}'")


_NULL = []


def lib_null():
    # ffi.NULL of the ffi under test, for the parametrized lambdas above.
    return _NULL[0]


@pytest.fixture(autouse=True)
def _remember_null(ffi):
    _NULL[:] = [ffi.NULL]


def test_limits_of_integer_arguments_are_accepted(ffi, libc):
    assert libc.labs(-(2**63) + 1) == 2**63 - 1
    assert libc.abs(-(2**31) + 1) == 2**31 - 1


def test_pointer_of_another_type_is_type_error(ffi, libc):
    with pytest.raises(TypeError):
        libc.strlen(ffi.new("int[2]"))


def test_any_pointer_converts_to_void_pointer(ffi, libc):
    a = ffi.new("double[2]", [1.5, -2.5])
    b = ffi.new("double[2]")
    libc.memcpy(b, a, 16)
    assert list(b) == [1.5, -2.5]


def test_calling_through_a_cast_function_pointer(ffi, libc):
    fp = ffi.cast("long(*)(long)", ffi.addressof(libc, "labs"))
    assert fp(-77) == 77
    with pytest.raises(TypeError):
        fp()


def test_calling_a_null_function_pointer_raises(ffi):
    fp = ffi.cast("int(*)(int)", 0)
    with pytest.raises(Exception):
        fp(1)


def test_char_and_bool_results(ffi):
    ffi.cdef("char *strchr(const char *, int);")
    lib = ffi.dlopen(None)
    s = ffi.new("char[]", b"xyz")
    assert lib.strchr(s, ord("y"))[0] == b"y"


def test_big_struct_by_value_through_memory(ffi, helper):
    big = ffi.new("struct helper_big *", {"d": [1.0, -2.5, 4.0], "i": 7, "tag": b"abcd"})
    out = helper.helper_big_scale(big[0], 2.0)
    assert list(out.d) == [2.0, -5.0, 8.0]
    assert out.i == -7
    assert ffi.string(out.tag) == b"Sbcd"
    assert list(big.d) == [1.0, -2.5, 4.0]  # the caller's copy is untouched


def test_callback_with_float_double_and_int_arguments_called_by_c(ffi, helper):
    @ffi.callback("double(double, float, int)")
    def combine(x, f, i):
        assert isinstance(f, float) and isinstance(i, int)
        return x * 100 + f * 10 + i

    n = 10
    expected = sum(i * 0.5 * 100 + i * 10 + i for i in range(n))
    assert helper.helper_apply(combine, n) == expected


def test_long_long_struct_result(ffi):
    ffi.cdef("typedef struct { long long quot, rem; } lldiv_t; lldiv_t lldiv(long long, long long);")
    lib = ffi.dlopen(None)
    r = lib.lldiv(-(2**62), 3)
    assert (r.quot, r.rem) == (-1537228672809129301, -1)


def test_long_double_arguments_and_results(ffi):
    ffi.cdef("long double sqrtl(long double); long double ldexpl(long double, int);")
    lib = ffi.dlopen(None)
    # cffi returns a 'long double' cdata, ffi_py a float: float() fits both.
    assert float(lib.sqrtl(2.0)) == 2.0**0.5
    assert float(lib.ldexpl(1.0, 100)) == 2.0**100


def test_wide_string_arguments(ffi):
    ffi.cdef("size_t wcslen(const wchar_t *);")
    lib = ffi.dlopen(None)
    assert lib.wcslen("héllo ✓") == 7
    assert lib.wcslen(ffi.new("wchar_t[]", "abc")) == 3


def test_enum_arguments(ffi):
    ffi.cdef("enum color { RED, GREEN = 7 }; int abs(enum color);")
    lib = ffi.dlopen(None)
    assert lib.abs(7) == 7
    assert lib.abs(ffi.cast("enum color", 7)) == 7


def test_null_terminated_array_of_strings(ffi):
    # An argv-style char *[]: each string must be kept alive separately.
    ffi.cdef("char *strchr(const char *, int);")
    lib = ffi.dlopen(None)
    words = [ffi.new("char[]", w) for w in (b"prog", b"-v", b"file=x")]
    argv = ffi.new("char *[]", words + [ffi.NULL])
    assert len(argv) == 4 and argv[3] == ffi.NULL
    assert ffi.string(lib.strchr(argv[2], ord("="))) == b"=x"


def test_enum_values_are_ints_not_names(ffi):
    # As cffi (since 1.0): an enumerator's name is not an enum value.
    ffi.cdef("enum color { RED, GREEN = 7 }; int abs(enum color);")
    lib = ffi.dlopen(None)
    assert lib.abs(lib.GREEN) == 7
    for name in ("GREEN", "7", "#7"):
        with pytest.raises(TypeError):
            lib.abs(name)
        with pytest.raises(TypeError):
            ffi.new("enum color *", name)


def test_function_pointers_of_one_type_call_their_own_code(ffi):
    double = ffi.callback("long(long)", lambda x: 2 * x)
    negate = ffi.callback("long(long)", lambda x: -x)
    fptrs = [ffi.cast("long(*)(long)", cb) for cb in (double, negate)]
    for _ in range(3):  # later calls reuse what the first prepared
        assert [fp(21) for fp in fptrs] == [42, -21]
    with pytest.raises(TypeError):
        fptrs[0]("x")
    with pytest.raises(RuntimeError):
        ffi.cast("long(*)(long)", 0)(1)


def test_bytes_pass_only_as_pointers_to_characters(ffi):
    ffi.cdef("""
        size_t strlen(const char *);
        int memcmp(const void *, const void *, size_t);
        long strtol(const char *, char **, int);
    """)
    lib = ffi.dlopen(None)
    assert lib.strlen(b"hello") == 5
    assert lib.memcmp(b"abc", b"abd", 3) < 0
    assert lib.strtol(b"42", ffi.NULL, 10) == 42
    with pytest.raises(TypeError):
        lib.strtol(b"42", b"not a char **", 10)


def test_kept_struct_results_keep_their_values(ffi, libc):
    # Struct results nobody keeps are reused (CDataPool); kept ones never
    # change.
    kept = [libc.div(i, 3) for i in range(10)]
    for _ in range(10):
        assert libc.div(100, 7).quot == 14
    assert [(d.quot, d.rem) for d in kept] == [divmod(i, 3) for i in range(10)]
    assert len({id(d) for d in kept}) == 10


@pytest.mark.ffi_py_only
def test_views_keep_a_dropped_struct_result(ffi, libc):
    # In ffi_py a pointer into a struct keeps its memory alive (cffi's
    # addressof does not), so the struct is not reused while it is seen.
    view = ffi.addressof(libc.div(7, 3))
    raw = ffi.buffer(ffi.addressof(libc.div(11, 5)))
    for _ in range(10):
        assert libc.div(100, 7).quot == 14
    assert (view.quot, view.rem) == (2, 1)
    assert bytes(raw) == bytes(ffi.buffer(ffi.new("div_t *", [2, 1])))


def test_function_pointer_equals_the_lib_function(ffi, libc):
    pointer = ffi.cast("size_t(*)(const char *)", libc.strlen)
    assert pointer == libc.strlen and libc.strlen == pointer
    assert not (pointer != libc.strlen)
    assert pointer != libc.labs
    assert ffi.cast("size_t(*)(const char *)", 0) != libc.strlen
    assert pointer(b"four") == 4


def test_python_file_passes_as_FILE_pointer(ffi, tmp_path):
    ffi.cdef("int fputs(const char *, FILE *); int fgetc(FILE *);")
    c = ffi.dlopen(None)
    path = tmp_path / "out.txt"
    with open(path, "wb") as f:
        f.write(b"[")  # buffered by Python: flushed before C writes
        assert c.fputs(b"hello", f) >= 0
        f.write(b"][")
        c.fputs(b"more", f)
        f.write(b"]")
    assert path.read_bytes() == b"[hello][more]"
    with open(path, "ab") as f:
        c.fputs(b"+", f)
    with open(path, "rb") as f:
        assert c.fgetc(f) == ord("[")
    assert path.read_bytes() == b"[hello][more]+"
    with pytest.raises(TypeError):
        c.fputs(b"x", 42)


# Each arity, with arguments all in integer registers, all in floating
# ones, or more than the specialised entry points take (see
# `CallPlan::entry_point`); argument i is weighted by 100**i in C.
ARITY_CASES = [
    ("helper_ints0", lambda ffi: (), 42),
    ("helper_ints1", lambda ffi: (-(2**62),), -(2**62)),
    ("helper_ints2", lambda ffi: (-7, -3), -7 - 300),
    ("helper_ints3", lambda ffi: (b"hello", -2, 255), 5 - 200 + 2550000),
    ("helper_ints4", lambda ffi: (-1, 4_000_000_000, -128, 9),
     -1 + 400_000_000_000 - 1_280_000 + 9_000_000),
    ("helper_ints5", lambda ffi: (1, 2, 3, 4, True), 104030201),
    ("helper_ints6", lambda ffi: (1, 2, 3, 4, 5, ffi.new("int *", 6)), 60504030201),
    ("helper_ints7", lambda ffi: (1, 2, 3, 4, 5, 6, 7), 7060504030201),
    ("helper_floats1", lambda ffi: (-2.5,), -2.5),
    ("helper_floats2", lambda ffi: (0.5, 0.25), 25.5),
    ("helper_floats3", lambda ffi: (1.5, 2.0, 0.5), 5201.5),
    ("helper_floats4", lambda ffi: (1.0, 2, 3.0, 0.5), 530201.0),
    ("helper_floats5", lambda ffi: (1.0, 2.0, 3.0, 4.0, 5.0), 504030201.0),
]


@pytest.mark.parametrize("name, args, expected", ARITY_CASES,
                         ids=[case[0] for case in ARITY_CASES])
def test_each_arity_passes_every_argument_in_its_place(ffi, helper, name, args, expected):
    assert getattr(helper, name)(*args(ffi)) == expected


@pytest.mark.parametrize("name, args, expected", ARITY_CASES,
                         ids=[case[0] for case in ARITY_CASES])
def test_each_arity_names_the_wrong_argument(ffi, helper, name, args, expected):
    good = args(ffi)
    for position in range(len(good)):
        bad = good[:position] + ("text",) + good[position + 1:]
        with pytest.raises(TypeError) as excinfo:
            getattr(helper, name)(*bad)
        message_has(excinfo, f"argument {position + 1}")
    with pytest.raises(TypeError) as excinfo:
        getattr(helper, name)(*good, 0)
    assert f"got {len(good) + 1}" in str(excinfo.value)


def test_ints_convert_exactly_on_both_sides_of_the_cached_ones(ffi, helper):
    # CPython caches the ints -5..256, and ffi_py converts those by their
    # address (small_ints.rs): every value in and around the range, as an
    # argument, a result and an item, must still be itself.
    ffi.cdef("""
        unsigned char helper_id_uchar(unsigned char x);
        short helper_id_short(short x);
        unsigned int helper_id_uint(unsigned int x);
    """)
    items = ffi.new("long long[1]")
    for v in range(-300, 300):
        assert helper.helper_ints1(v) == v
        assert helper.helper_ints2(v, -v) == v - 100 * v
        assert helper.helper_id_short(v) == v
        items[0] = v
        assert items[0] == v
        if v >= 0:
            assert helper.helper_id_uint(v) == v
        if 0 <= v <= 255:
            assert helper.helper_id_uchar(v) == v
    assert helper.helper_id_uchar(True) == 1
    with pytest.raises(OverflowError):
        helper.helper_id_uchar(256)
    with pytest.raises(OverflowError):
        helper.helper_id_uchar(-1)
