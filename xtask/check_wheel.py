"""What the ffi_py wheel must carry besides code (run by `cargo xtask test`).

    python xtask/check_wheel.py target/dist/ffi_py-*.whl

Checks the type stubs and the py.typed marker (PEP 561), the extension
module, and the metadata: a summary, the README as the long description, a
license (field or expression) and the license files it names. Prints one
line per check and exits 1 if any failed.
"""

import email.parser
import sys
import zipfile

# Files the package itself must contain, with what to do when one is missing.
REQUIRED = {
    "ffi_py/__init__.py": "crates/ffi-py/python/ffi_py/__init__.py",
    "ffi_py/py.typed": "crates/ffi-py/python/ffi_py/py.typed (empty marker, PEP 561)",
    "ffi_py/__init__.pyi": "crates/ffi-py/python/ffi_py/__init__.pyi "
    "(type stubs for the public API: py.typed promises them, and the "
    "native module has no annotations of its own)",
    "ffi_py/raw.py": "crates/ffi-py/python/ffi_py/raw.py (the raw layer's module)",
    "ffi_py/raw.pyi": "crates/ffi-py/python/ffi_py/raw.pyi (type stubs for ffi_py.raw)",
}


def main(path):
    wheel = zipfile.ZipFile(path)
    names = set(wheel.namelist())
    problems = []

    def check(ok, what, fix=None):
        print("  %-4s %s" % ("ok" if ok else "FAIL", what))
        if not ok:
            problems.append("%s%s" % (what, ": add " + fix if fix else ""))

    print("%s:" % path)
    for name, source in REQUIRED.items():
        check(name in names, name, source)
    natives = sorted(n for n in names if n.startswith("ffi_py/_native") and n.endswith(".so"))
    check(natives == ["ffi_py/_native.abi3.so"], "ffi_py/_native.abi3.so (found %s)" % natives)
    stubs = sorted(n for n in names if n.endswith(".pyi"))
    print("       stubs in the wheel: %s" % (", ".join(stubs) or "none"))

    dist_info = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
    check(len(dist_info) == 1, "one .dist-info directory (found %s)" % sorted(dist_info))
    dist_info = min(dist_info)
    metadata = email.parser.Parser().parsestr(wheel.read(dist_info + "/METADATA").decode())
    check(bool(metadata.get("Summary")), "METADATA Summary: %r" % metadata.get("Summary"))
    description = metadata.get_payload() or metadata.get("Description") or ""
    first_line = description.strip().splitlines()[0] if description.strip() else ""
    check(
        len(description.strip()) > 200,
        "METADATA description: %d characters, %r" % (len(description), first_line),
        "crates/ffi-py/README.md, and readme = \"README.md\" in pyproject.toml",
    )
    content_type = metadata.get("Description-Content-Type") or ""
    check(content_type.startswith("text/markdown"), "Description-Content-Type: %r" % content_type)
    license = metadata.get("License-Expression") or metadata.get("License")
    check(bool(license), "METADATA License-Expression or License: %r" % license, "license = ... in pyproject.toml")
    license_files = metadata.get_all("License-File") or []
    check(bool(license_files), "METADATA License-File: %s" % license_files, "license-files in pyproject.toml")
    for name in license_files:
        check(
            "%s/licenses/%s" % (dist_info, name) in names,
            "%s/licenses/%s" % (dist_info, name),
        )

    if problems:
        print("\nthe wheel is missing:\n  " + "\n  ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
