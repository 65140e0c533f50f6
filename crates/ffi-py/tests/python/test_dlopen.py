"""ffi.dlopen and ffi.dlclose, and what a library object offers: functions,
global variables, constants and enum values, and the errors of missing
libraries and symbols."""

import ctypes.util
import gc
import textwrap
import weakref

import pytest

from ffi_py import FFI, FFIError
from _support import ON_CFFI, message_has, run_python


def test_dlopen_none_is_the_running_process(ffi):
    ffi.cdef("long labs(long); double sqrt(double);")
    lib = ffi.dlopen(None)
    assert lib.labs(-12) == 12
    # CPython links libm, so the process has sqrt too.
    assert lib.sqrt(16.0) == 4.0


@pytest.mark.parametrize("name", ["m", "libm.so.6", ctypes.util.find_library("m")])
def test_dlopen_by_short_name_soname_or_path(ffi, name):
    ffi.cdef("double pow(double, double);")
    lib = ffi.dlopen(name)
    assert lib.pow(2.0, 10.0) == 1024.0


def test_dlopen_an_absolute_path(ffi, helper_path):
    ffi.cdef("int helper_bump(int);")
    lib = ffi.dlopen(str(helper_path))
    before = lib.helper_bump(0)
    assert lib.helper_bump(3) == before + 3


def test_dlopen_flags(ffi):
    assert (ffi.RTLD_LAZY, ffi.RTLD_NOW) == (1, 2)
    assert (ffi.RTLD_LOCAL, ffi.RTLD_GLOBAL, ffi.RTLD_NODELETE) == (0, 256, 4096)
    ffi.cdef("double floor(double);")
    lib = ffi.dlopen("m", ffi.RTLD_NOW | ffi.RTLD_GLOBAL)
    assert lib.floor(-2.5) == -3.0
    lib = ffi.dlopen("m", flags=ffi.RTLD_LAZY | ffi.RTLD_LOCAL)
    assert lib.floor(2.5) == 2.0


@pytest.mark.ffi_py_only
def test_module_exports_the_rtld_flags():
    import ffi_py

    assert ffi_py.RTLD_NOW == FFI.RTLD_NOW == 2
    assert ffi_py.RTLD_GLOBAL == 256


def test_missing_library_path_raises_os_error_with_the_loaders_message(ffi):
    with pytest.raises(OSError) as excinfo:
        ffi.dlopen("/nonexistent/dir/libnothing.so")
    message = str(excinfo.value)
    assert "/nonexistent/dir/libnothing.so" in message
    assert "cannot open shared object file" in message


@pytest.mark.ffi_py_only
def test_missing_library_name_raises_os_error_with_the_loaders_message(ffi):
    # cffi reports only ctypes.util.find_library's failure for a bare name.
    with pytest.raises(OSError) as excinfo:
        ffi.dlopen("no_such_library_xyz")
    message = str(excinfo.value)
    assert "no_such_library_xyz" in message
    assert "cannot open shared object file" in message


def test_a_file_that_is_not_a_library_raises_os_error(ffi, tmp_path):
    bogus = tmp_path / "libbogus.so"
    bogus.write_bytes(b"not an ELF file")
    with pytest.raises(OSError) as excinfo:
        ffi.dlopen(str(bogus))
    assert "libbogus.so" in str(excinfo.value)


def test_dlopen_rejects_a_non_string_name(ffi):
    with pytest.raises(TypeError):
        ffi.dlopen(123)


def test_declared_but_missing_function_is_attribute_error_naming_both(ffi, helper_path):
    ffi.cdef("int no_such_function_xyz(int);")
    lib = ffi.dlopen(str(helper_path))
    with pytest.raises(AttributeError) as excinfo:
        lib.no_such_function_xyz
    message = str(excinfo.value)
    assert "no_such_function_xyz" in message
    assert str(helper_path) in message


@pytest.mark.ffi_py_only
def test_declared_but_missing_variable_is_attribute_error_naming_both(ffi, helper_path):
    # cffi raises KeyError here; ffi_py raises AttributeError like functions.
    ffi.cdef("extern int no_such_variable_xyz;")
    lib = ffi.dlopen(str(helper_path))
    with pytest.raises(AttributeError) as excinfo:
        lib.no_such_variable_xyz
    message = str(excinfo.value)
    assert "no_such_variable_xyz" in message
    assert str(helper_path) in message


def test_undeclared_name_is_attribute_error_naming_it(ffi):
    lib = ffi.dlopen(None)
    with pytest.raises(AttributeError) as excinfo:
        lib.strlen  # exists in libc, but was never declared
    assert "strlen" in str(excinfo.value)


@pytest.mark.ffi_py_only
def test_undeclared_name_error_names_the_library(ffi, helper_path):
    lib = ffi.dlopen(str(helper_path))
    with pytest.raises(AttributeError) as excinfo:
        lib.undeclared_thing
    message_has(excinfo, "undeclared_thing", str(helper_path))


def test_global_variable_read_and_write(ffi, helper):
    helper.helper_counter = 100
    assert helper.helper_counter == 100
    # The C side sees the write, and Python sees C's update.
    assert helper.helper_bump(5) == 105
    assert helper.helper_counter == 105
    helper.helper_counter = -1
    assert helper.helper_bump(0) == -1


def test_global_array_is_a_view_of_library_memory(ffi, helper):
    table = helper.helper_table
    assert ffi.typeof(table) is ffi.typeof("int[4]")
    assert list(table) == [10, 20, 30, 40]
    table[2] = 33
    assert list(helper.helper_table) == [10, 20, 33, 40]
    table[2] = 30


def test_addressof_a_global_variable_points_at_it(ffi, helper):
    p = ffi.addressof(helper, "helper_counter")
    assert ffi.typeof(p) is ffi.typeof("int *")
    p[0] = 41
    assert helper.helper_counter == 41
    assert helper.helper_bump(1) == 42
    assert p[0] == 42


def test_addressof_a_function_is_a_callable_function_pointer(ffi):
    ffi.cdef("long labs(long);")
    lib = ffi.dlopen(None)
    fp = ffi.addressof(lib, "labs")
    assert ffi.typeof(fp) is ffi.typeof("long(*)(long)")
    assert fp(-9) == 9
    assert ffi.cast("long(*)(long)", fp)(-10) == 10


def test_setting_an_undeclared_global_is_attribute_error(ffi, helper):
    with pytest.raises(AttributeError):
        helper.undeclared_variable = 1


def test_enum_constants_of_a_library(ffi, helper):
    assert (helper.HELPER_RED, helper.HELPER_GREEN, helper.HELPER_BLUE) == (0, 5, 6)


def test_initialized_integer_declarations_are_constants(ffi):
    # As cffi: an integer type with an initializer declares a constant
    # (the header's own object, not looked up in the library).
    ffi.cdef("""
        static const int ANSWER = 42;
        static const long NEGATIVE = -7;
        int PLAIN = 0x10;
        static const double RATIO = 0.5;
    """)
    lib = ffi.dlopen(None)
    assert (lib.ANSWER, lib.NEGATIVE, lib.PLAIN) == (42, -7, 16)
    with pytest.raises(NotImplementedError) as excinfo:
        lib.RATIO
    assert "RATIO" in str(excinfo.value)


@pytest.mark.ffi_py_only
def test_initializers_are_constant_expressions_converted_to_the_type(ffi):
    # cffi reads only an integer literal, and keeps it unconverted.
    ffi.cdef("""
        #define BASE 40
        static const int SUM = BASE + 2;
        static const unsigned char WRAPS = 300;
        int sized[SUM];
    """)
    lib = ffi.dlopen(None)
    assert (lib.SUM, lib.WRAPS) == (42, 44)
    assert ffi.sizeof("int[SUM]") == 168


@pytest.mark.ffi_py_only
def test_const_double_global_is_readable(ffi, helper):
    # cffi's ABI mode refuses non-integer constants; ffi_py reads the symbol.
    assert helper.helper_ratio == 0.25


def test_assigning_a_const_global_raises_instead_of_crashing(helper_path):
    # Run in a child: the bug kills the process.
    code = textwrap.dedent(f"""
        from ffi_py import FFI
        ffi = FFI()
        ffi.cdef("extern const double helper_ratio;")
        lib = ffi.dlopen({str(helper_path)!r})
        try:
            lib.helper_ratio = 1.0
        except Exception as e:
            print("raised", type(e).__name__)
    """)
    child = run_python(code)
    assert child.returncode == 0, child.stderr
    assert child.stdout.startswith("raised ")


def test_dlclose_then_use_raises(ffi, helper_path):
    ffi.cdef("int helper_bump(int); extern int helper_counter;")
    lib = ffi.dlopen(str(helper_path))
    assert lib.helper_bump(0) == lib.helper_counter
    ffi.dlclose(lib)
    with pytest.raises(ValueError) as excinfo:
        lib.helper_bump
    assert "closed" in str(excinfo.value)
    with pytest.raises(ValueError):
        lib.helper_counter


def test_dlclose_twice_is_harmless(ffi):
    lib = ffi.dlopen("m")
    ffi.dlclose(lib)
    ffi.dlclose(lib)


def test_dir_lists_the_declarations(ffi):
    ffi.cdef("long labs(long);\n#define TEN 10\nenum e { E0 };")
    lib = ffi.dlopen(None)
    names = dir(lib)
    assert {"labs", "TEN", "E0"} <= set(names)


@pytest.mark.ffi_py_only
def test_lib_functions_are_builtins_yet_typeof_works(ffi):
    ffi.cdef("long labs(long); double sqrt(double);")
    lib = ffi.dlopen(None)
    assert type(lib.labs).__name__ == "builtin_function_or_method"
    assert lib.labs.__name__ == "labs"
    assert ffi.typeof(lib.labs) is ffi.typeof("long(*)(long)")
    assert ffi.typeof(lib.sqrt) is ffi.typeof("double(*)(double)")
    # The same object on each access (cached on the library).
    assert lib.labs is lib.labs


def test_typeof_a_variadic_library_function(ffi):
    ffi.cdef("int snprintf(char *, size_t, const char *, ...);")
    lib = ffi.dlopen(None)
    assert ffi.typeof(lib.snprintf) is ffi.typeof("int(*)(char *, size_t, char *, ...)")


@pytest.mark.ffi_py_only
def test_release_gil_false_library_calls_normally(ffi):
    ffi.cdef("long labs(long); int snprintf(char *, size_t, const char *, ...);")
    lib = ffi.dlopen(None, release_gil=False)
    assert lib.labs(-3) == 3
    buf = ffi.new("char[16]")
    assert lib.snprintf(buf, 16, b"%d", ffi.cast("int", 77)) == 2
    assert ffi.string(buf) == b"77"



@pytest.mark.ffi_py_only  # in cffi any use after dlclose is undefined
def test_function_fetched_before_dlclose_still_works(helper_path):
    # Run in a child: if the library were unmapped the call would crash.
    code = textwrap.dedent(f"""
        import gc
        from ffi_py import FFI
        ffi = FFI()
        ffi.cdef("int helper_bump(int);")
        lib = ffi.dlopen({str(helper_path)!r})
        bump = lib.helper_bump
        start = bump(0)
        ffi.dlclose(lib)
        del lib
        gc.collect()
        print(bump(2) - start)
    """)
    child = run_python(code)
    assert (child.returncode, child.stdout.strip()) == (0, "2"), child.stderr


@pytest.mark.ffi_py_only
@pytest.mark.parametrize("kept", ["lib.helper_table", "ffi.addressof(lib, 'helper_counter')"])
def test_data_pointer_fetched_before_dlclose_stays_readable(helper_path, kept):
    code = textwrap.dedent(f"""
        import gc
        from ffi_py import FFI
        ffi = FFI()
        ffi.cdef("extern int helper_table[4]; extern int helper_counter;")
        lib = ffi.dlopen({str(helper_path)!r})
        kept = {kept}
        ffi.dlclose(lib)
        del lib
        gc.collect()
        print(kept[0])
    """)
    child = run_python(code)
    assert child.returncode == 0, f"child died with {child.returncode}"
    assert child.stdout.strip() in ("10", "7")


def test_assigning_a_list_to_an_array_of_unknown_length(ffi, helper_path):
    ffi.cdef("extern int helper_table[];")
    lib = ffi.dlopen(str(helper_path))
    before = [lib.helper_table[i] for i in range(4)]
    with pytest.raises(TypeError):
        len(lib.helper_table)
    lib.helper_table = [41, 42]
    assert [lib.helper_table[i] for i in range(4)] == [41, 42] + before[2:]
    lib.helper_table = before
    assert [lib.helper_table[i] for i in range(4)] == before


# Opening the library behind a `void *` handle from C's dlopen()
# (cffi's `ffi.dlopen(handle)`).

DL_DECLS = "void *dlopen(const char *, int); int dlclose(void *);"


def test_dlopen_of_a_handle_from_c_dlopen(ffi, helper_path):
    other = FFI()  # declares dlopen, as C's caller
    other.cdef(DL_DECLS)
    dl = other.dlopen(None)  # glibc's dlopen lives in libc
    handle = dl.dlopen(str(helper_path).encode(), ffi.RTLD_NOW)
    assert handle != other.NULL
    ffi.cdef("int helper_bump(int);")
    lib = ffi.dlopen(handle)
    start = lib.helper_bump(0)
    assert lib.helper_bump(5) == start + 5
    assert dl.dlclose(handle) == 0


def test_dlopen_refuses_handles_that_are_not_void_pointers_or_null(ffi):
    with pytest.raises(TypeError) as excinfo:
        ffi.dlopen(ffi.new("int *"))
    message_has(excinfo, "'void *' handle", "int *")
    for null in (ffi.NULL, ffi.cast("void *", 0)):
        with pytest.raises(RuntimeError) as excinfo:
            ffi.dlopen(null)
        message_has(excinfo, "NULL")


# A child process (the test's own loads stay out of its count of
# references): closing the library object, or collecting it with its FFI,
# leaves the handle open, which is the caller's to close.
HANDLE_STAYS_THE_CALLERS = """
import gc, os
from ffi_py import FFI
path = {path!r}.encode()
c = FFI()
c.cdef({decls!r})
dl = c.dlopen(None)

def loaded():
    probe = dl.dlopen(path, os.RTLD_LAZY | os.RTLD_NOLOAD)
    if probe == c.NULL:
        return False
    dl.dlclose(probe)
    return True

handle = dl.dlopen(path, os.RTLD_NOW)
ffi = FFI()
ffi.cdef("int helper_bump(int);")
lib = ffi.dlopen(handle)
lib.helper_bump(1)
{close}
del lib, ffi
gc.collect()
print(loaded(), dl.dlclose(handle), loaded())
"""


@pytest.mark.parametrize("close", ["pass", "ffi.dlclose(lib)"])
def test_the_handle_stays_open_until_the_caller_closes_it(helper_path, close):
    if close != "pass" and ON_CFFI:
        pytest.skip("cffi's dlclose of such a library closes the handle")
    child = run_python(HANDLE_STAYS_THE_CALLERS.format(
        path=str(helper_path), decls=DL_DECLS, close=close))
    assert child.stdout.split() == ["True", "0", "False"], child.stderr


@pytest.mark.ffi_py_only  # in cffi, using a library whose handle is closed is undefined
def test_functions_keep_the_library_loaded_after_the_caller_closes_the_handle(helper_path):
    code = textwrap.dedent(f"""
        import os
        from ffi_py import FFI
        c = FFI()
        c.cdef({DL_DECLS!r})
        dl = c.dlopen(None)
        handle = dl.dlopen({str(helper_path).encode()!r}, os.RTLD_NOW)
        ffi = FFI()
        ffi.cdef("int helper_bump(int);")
        bump = ffi.dlopen(handle).helper_bump
        start = bump(0)
        assert dl.dlclose(handle) == 0
        print(bump(2) - start)
    """)
    child = run_python(code)
    assert (child.returncode, child.stdout.strip()) == (0, "2"), child.stderr


# An FFI keeps the libraries it opened alive, as cffi's does; each keeps its
# FFI alive in turn, and the collector frees both.

def test_an_ffi_keeps_its_libraries_alive(ffi):
    ffi.cdef("long labs(long);")
    lib = ffi.dlopen(None)
    labs = lib.labs
    lib_ref = weakref.ref(lib)
    del lib
    gc.collect()
    assert lib_ref() is not None
    assert labs(-4) == 4


def test_an_ffi_and_its_libraries_are_collected_together():
    ffi = FFI()
    ffi.cdef("long labs(long);")
    lib = ffi.dlopen(None)
    assert lib.labs(-1) == 1
    refs = [weakref.ref(ffi), weakref.ref(lib)]
    del ffi, lib
    gc.collect()
    assert [ref() for ref in refs] == [None, None]


@pytest.mark.ffi_py_only  # cffi keeps closed libraries too
def test_a_closed_library_is_no_longer_kept_by_its_ffi(ffi):
    lib = ffi.dlopen(None)
    lib_ref = weakref.ref(lib)
    ffi.dlclose(lib)
    del lib
    gc.collect()
    assert lib_ref() is None
