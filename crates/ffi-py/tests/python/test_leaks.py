"""Leak check: a million C calls and a hundred thousand allocations (and
ten thousand callbacks, a hundred thousand handles) must not grow the
process's resident memory (read from /proc/self/statm)."""

import gc
import os
import time

import pytest

PAGE = os.sysconf("SC_PAGE_SIZE")
SLACK = 4 * 1024 * 1024  # allocator noise; a leak of >= 4 bytes per call exceeds it


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def settle():
    for _ in range(3):
        gc.collect()
    return rss()


def calls(ffi, libc, n):
    """n C calls over the main conversion paths (n divisible by 10)."""
    labs, strlen, div, sqrt, snprintf = libc.labs, libc.strlen, libc.div, libc.sqrt, libc.snprintf
    buf = ffi.new("char[32]")
    one = ffi.cast("int", 1)
    inc = ffi.callback("int(int)", lambda x: x + 1)
    tenth = n // 10
    for i in range(4 * tenth):  # integers
        labs(-i)
    for _ in range(2 * tenth):  # bytes -> char *
        strlen(b"leak check")
    for i in range(tenth):  # struct by value returned
        div(i, 7)
    for i in range(tenth):  # doubles
        sqrt(2.0)
    for _ in range(tenth // 2):  # variadic
        snprintf(buf, 32, b"%d", one)
    for i in range(tenth // 2):  # C calling back into Python
        inc(i)


def allocations(ffi, n):
    """n ffi.new calls (n divisible by 4)."""
    for i in range(n // 4):
        ffi.new("char[]", b"some bytes to copy")
        ffi.new("int[64]")
        ffi.new("struct leak_pair *", {"a": i, "b": -i})
        ffi.new("double *", 1.5) + 0  # a derived pointer too


def closures_and_handles(ffi, n):
    """n callbacks created, called once and dropped; 10 * n handles."""
    for i in range(n):
        cb = ffi.callback("int(int)", lambda x: x * 2)
        cb(i)
    payload = object()
    for _ in range(10 * n):
        ffi.from_handle(ffi.new_handle(payload))


@pytest.mark.leak
def test_no_rss_growth_over_a_million_calls_and_100k_news(ffi, libc):
    ffi.cdef("struct leak_pair { long a, b; };")
    start = time.perf_counter()
    # Warm-up: caches, interned types, allocator arenas reach steady state.
    calls(ffi, libc, 100_000)
    allocations(ffi, 10_000)
    closures_and_handles(ffi, 1_000)
    before = settle()

    calls(ffi, libc, 1_000_000)
    after_calls = settle()
    allocations(ffi, 100_000)
    after_news = settle()
    closures_and_handles(ffi, 10_000)
    after_closures = settle()
    elapsed = time.perf_counter() - start

    growth_calls = after_calls - before
    growth_news = after_news - after_calls
    growth_closures = after_closures - after_news
    print(
        f"\nRSS {before / 2**20:.1f} MiB -> {after_calls / 2**20:.1f} MiB after 1,000,000 "
        f"calls -> {after_news / 2**20:.1f} MiB after 100,000 news -> "
        f"{after_closures / 2**20:.1f} MiB after 10,000 callbacks and 100,000 handles "
        f"({elapsed:.1f} s)"
    )
    assert growth_calls < SLACK, f"1,000,000 calls grew RSS by {growth_calls} bytes"
    assert growth_news < SLACK, f"100,000 news grew RSS by {growth_news} bytes"
    assert growth_closures < SLACK, (
        f"10,000 callbacks and 100,000 handles grew RSS by {growth_closures} bytes"
    )
    assert elapsed < 15, f"the leak check took {elapsed:.1f} s"
