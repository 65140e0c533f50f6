"""Runs every ```python block of docs/guide.md and of the README, so they
cannot rot.

Each block is a complete program: it runs on its own, in a fresh namespace,
and fails the test if it raises (the blocks assert their own results).
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
GUIDE = ROOT / "docs" / "guide.md"
README = ROOT / "README.md"
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def python_blocks(document):
    text = document.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        if match.group(1).strip() == "python":
            line = text.count("\n", 0, match.start()) + 2  # first code line
            blocks.append(
                pytest.param(document, match.group(2), line, id=f"{document.name}:{line}")
            )
    return blocks


BLOCKS = python_blocks(GUIDE)
README_BLOCKS = python_blocks(README)


def test_guide_has_examples_and_only_known_fence_languages():
    text = GUIDE.read_text(encoding="utf-8")
    languages = {m.group(1).strip() for m in FENCE.finditer(text)}
    # A typo such as ```pyhton would silently skip an example.
    assert languages <= {"python", "sh", "text"}, languages
    assert len(BLOCKS) >= 20


def test_readme_has_a_python_example():
    text = README.read_text(encoding="utf-8")
    languages = {m.group(1).strip() for m in FENCE.finditer(text)}
    assert languages <= {"python", "rust", "sh"}, languages
    assert README_BLOCKS


@pytest.mark.ffi_py_only  # the guide shows ffi_py's own extensions too
@pytest.mark.parametrize("document, source, line", BLOCKS + README_BLOCKS)
def test_example_runs(document, source, line):
    # Padding keeps tracebacks pointing at the document's own line numbers.
    code = compile("\n" * (line - 1) + source, str(document), "exec")
    exec(code, {"__name__": "__guide__"})
