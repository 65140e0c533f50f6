"""One type identity across FFI instances: C data made with one FFI is
accepted by functions another FFI declared with the same types."""

import pytest

from ffi_py import FFI

PAIR = "struct helper_pair { short tag; long long value; };"
TM = """
    struct tm { int tm_sec, tm_min, tm_hour, tm_mday, tm_mon, tm_year,
                tm_wday, tm_yday, tm_isdst; long tm_gmtoff; const char *tm_zone; };
"""


def test_primitive_and_pointer_types_are_shared():
    a, b = FFI(), FFI()
    assert a.typeof("int") is b.typeof("int")
    assert a.typeof("char *[4]") is b.typeof("char *[4]")
    assert a.typeof("double(*)(double)") is b.typeof("double(*)(double)")


def test_int_pointer_from_one_ffi_passes_to_another(helper_path):
    maker, caller = FFI(), FFI()
    caller.cdef("double frexp(double, int *);")
    libm = caller.dlopen("m")
    exponent = maker.new("int *")
    assert libm.frexp(48.0, exponent) == 0.75
    assert exponent[0] == 6


@pytest.mark.ffi_py_only  # cffi: "the types are different ... mixing up ffi instances"
def test_struct_pointer_from_one_ffi_passes_to_a_function_of_another(helper_path):
    maker, caller = FFI(), FFI()
    maker.cdef(PAIR)
    caller.cdef(PAIR + "long long helper_pair_value(const struct helper_pair *p);")
    lib = caller.dlopen(str(helper_path))
    pair = maker.new("struct helper_pair *", {"tag": 5, "value": 1000})
    assert lib.helper_pair_value(pair) == 1005


@pytest.mark.ffi_py_only
def test_struct_by_value_from_one_ffi_passes_to_a_function_of_another(helper_path):
    maker, caller = FFI(), FFI()
    maker.cdef(PAIR)
    caller.cdef(PAIR + "struct helper_pair helper_swap_pair(struct helper_pair p);")
    lib = caller.dlopen(str(helper_path))
    pair = maker.new("struct helper_pair *", [2, 21])
    out = lib.helper_swap_pair(pair[0])
    assert (out.tag, out.value) == (-2, 42)
    # The result is typed by the caller's declaration and readable by both.
    assert caller.typeof(out) is caller.typeof("struct helper_pair")


@pytest.mark.ffi_py_only
def test_libc_struct_tm_across_instances():
    maker, caller = FFI(), FFI()
    maker.cdef(TM)
    caller.cdef(TM + "long timegm(struct tm *);")
    libc = caller.dlopen(None)
    t = maker.new("struct tm *", {"tm_mday": 1, "tm_year": 100})  # 2000-01-01
    assert libc.timegm(t) == 946684800
    assert t.tm_yday == 0 and t.tm_wday == 6  # timegm normalised it: a Saturday


def test_callback_from_one_ffi_passes_to_a_function_of_another():
    maker, caller = FFI(), FFI()
    caller.cdef("void qsort(void *, size_t, size_t, int (*)(const void *, const void *));")
    libc = caller.dlopen(None)
    cmp = maker.callback(
        "int(const void *, const void *)",
        lambda a, b: maker.cast("int *", a)[0] - maker.cast("int *", b)[0],
    )
    arr = maker.new("int[]", [4, 2, 3, 1])
    libc.qsort(arr, 4, 4, cmp)
    assert list(arr) == [1, 2, 3, 4]
