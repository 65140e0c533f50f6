"""Runs every ```python block of docs/guide.md, so the guide cannot rot.

Each block is a complete program: it runs on its own, in a fresh namespace,
and fails the test if it raises (the blocks assert their own results).
"""

import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[4] / "docs" / "guide.md"
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def python_blocks():
    text = GUIDE.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        if match.group(1).strip() == "python":
            line = text.count("\n", 0, match.start()) + 2  # first code line
            blocks.append(pytest.param(match.group(2), line, id=f"guide.md:{line}"))
    return blocks


BLOCKS = python_blocks()


def test_guide_has_examples_and_only_known_fence_languages():
    text = GUIDE.read_text(encoding="utf-8")
    languages = {m.group(1).strip() for m in FENCE.finditer(text)}
    # A typo such as ```pyhton would silently skip an example.
    assert languages <= {"python", "sh", "text"}, languages
    assert len(BLOCKS) >= 20


@pytest.mark.ffi_py_only  # the guide shows ffi_py's own extensions too
@pytest.mark.parametrize("source, line", BLOCKS)
def test_guide_example_runs(source, line):
    # Padding keeps tracebacks pointing at the guide's own line numbers.
    code = compile("\n" * (line - 1) + source, str(GUIDE), "exec")
    exec(code, {"__name__": "__guide__"})
