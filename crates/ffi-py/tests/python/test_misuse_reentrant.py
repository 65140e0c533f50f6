"""Python code that runs in the middle of an operation and releases the
memory the operation works on: an `__index__`, `__float__` or `__bytes__`
that calls `ffi.release`.

The operation must finish on memory that is still there (the memory lives
while anything points into it, an operation in progress included) or raise;
it must never write into, or pass C, freed memory. Each case runs in its
own interpreter, since the failure is a crash; the churn after the release
makes freed memory be reused, so that a write into it is caught.
"""

import textwrap

import pytest

from _support import run_python

CHURN = "junk = [bytearray(1 << 20) for _ in range(8)]"

CASES = {
    "item assignment": f"""
        arr = ffi.new("long[100000]")
        class Evil:
            def __index__(self):
                ffi.release(arr)
                global junk
                {CHURN}
                return 0x4141414141414141
        arr[99999] = Evil()
    """,
    "member assignment": f"""
        ffi.cdef("struct big {{ char pad[1048576]; long x; }};")
        s = ffi.new("struct big *")
        class Evil:
            def __index__(self):
                ffi.release(s)
                global junk
                {CHURN}
                return 7
        s.x = Evil()
    """,
    "float member assignment": f"""
        ffi.cdef("struct bigd {{ char pad[1048576]; double x; }};")
        s = ffi.new("struct bigd *")
        class Evil:
            def __float__(self):
                ffi.release(s)
                global junk
                {CHURN}
                return 2.5
        s.x = Evil()
    """,
    "memmove destination": f"""
        dest = ffi.new("char[]", 1 << 20)
        class Src:
            def __bytes__(self):
                ffi.release(dest)
                global junk
                {CHURN}
                return b"C" * (1 << 20)
        ffi.memmove(dest, Src(), 1 << 20)
    """,
    "call argument": f"""
        ffi.cdef("void *memset(void *, int, size_t);")
        libc = ffi.dlopen(None)
        p = ffi.new("char[]", 1 << 22)
        class Evil:
            def __index__(self):
                ffi.release(p)
                global junk
                {CHURN}
                return 0x41
        libc.memset(p, Evil(), 1 << 22)
    """,
    "call argument, general path": f"""
        ffi.cdef("typedef struct {{ int a; }} small; void *memset(void *, int, size_t); "
                 "int abs(int);")
        libc = ffi.dlopen(None)
        p = ffi.new("char[]", 1 << 22)
        class Evil:
            def __index__(self):
                ffi.release(p)
                global junk
                {CHURN}
                return 0x41
        # Through a function-pointer cdata: the plan for pointer calls.
        memset = ffi.cast("void *(*)(void *, int, size_t)", ffi.addressof(libc, "memset"))
        memset(p, Evil(), 1 << 22)
    """,
}


@pytest.mark.ffi_py_only  # finishing the operation is ffi_py's promise
@pytest.mark.parametrize("case", list(CASES))
def test_release_during_an_operation_keeps_its_memory(case):
    body = textwrap.indent(textwrap.dedent(CASES[case]), "    ")
    code = (
        "import ffi_py\nffi = ffi_py.FFI()\ntry:\n" + body
        + "    print('finished')\n"
        + "except Exception as e:\n    print('raised', type(e).__name__, e)\n"
    )
    run = run_python(code)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    # Either outcome is sound; a released cdata says so when it is refused.
    outcome = run.stdout.strip()
    assert outcome == "finished" or outcome.startswith("raised ValueError"), outcome


@pytest.mark.ffi_py_only
def test_list_growing_while_it_initialises_an_array_raises_an_ordinary_exception():
    code = textwrap.dedent("""
        import ffi_py
        ffi = ffi_py.FFI()
        items = []
        class Grow:
            def __index__(self):
                items.extend([1] * 10)
                return 1
        items[:] = [Grow(), 2]
        try:
            ffi.new("int[2]", items)
            print("finished")
        except Exception as e:
            print("raised", type(e).__name__)
    """)
    run = run_python(code)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    assert run.stdout.split()[0] in ("finished", "raised"), run.stdout
