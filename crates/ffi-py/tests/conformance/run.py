#!/usr/bin/env python3
"""Conformance run: cffi's own FFI-level tests against ffi_py (or cffi itself).

    python crates/ffi-py/tests/conformance/run.py [--cache-dir DIR]
        [--against cffi|ffi_py] [--report FILE] [-- extra pytest args]

Run it with a Python that has pytest and the target (ffi_py or cffi) installed.

1. Fetches the cffi 2.0.0 sdist with pip into the cache dir (reused when its
   hash matches; never committed to the repository) and extracts only its
   testing/ package, which is all the tests import from the sdist.
2. Runs pytest on testing/cffi0/backend_tests.py, test_function.py and
   test_ownlib.py (186 tests) with conformance_plugin.py, which binds the
   tests' FFI, exceptions and backend to the target (how: see its docstring).
3. Compares the outcomes with expected_failures.txt (ffi_py only), prints the
   counts, and with --report rewrites the generated part of a markdown file.

Exit status: 0 iff every test not listed as an expected failure passed or was
skipped, every listed one still fails, every listed id exists, and all 186
tests were collected (unless extra pytest arguments narrow the run); 1 if not;
2 if the run itself could not be set up.

A crash or hang in native code kills only the pytest process: the test it was
running is counted as a failure and the run resumes after it.
"""

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[3]
sys.path.insert(0, str(HERE))
from conformance_plugin import read_expected_failures  # noqa: E402

CFFI_VERSION = "2.0.0"
SDIST_NAME = "cffi-%s.tar.gz" % CFFI_VERSION
# The sdist PyPI serves for cffi 2.0.0; checked so a cached copy can be trusted.
SDIST_SHA256 = "44d1b5909021139fe36001ae048dbdde8214afa20200eda0f64c068cac5d5529"
SDIST_TOP = "cffi-%s" % CFFI_VERSION
TEST_FILES = (
    "testing/cffi0/backend_tests.py",
    "testing/cffi0/test_function.py",
    "testing/cffi0/test_ownlib.py",
)
EXPECTED_TEST_COUNT = 186
DEFAULT_TEST_TIMEOUT = 120.0
# Past this many unexpected failures the report groups them by error.
UNGROUPED_FAILURES_MAX = 20
GROUP_NAMES_SHOWN = 8
REPORT_BEGIN = "<!-- conformance:begin -->"
REPORT_END = "<!-- conformance:end -->"


class SetupError(Exception):
    """The run could not be prepared (download, extraction, arguments)."""


# -- fetching the tests ------------------------------------------------------


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        for block in iter(lambda: data.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_sdist(cache_dir):
    sdist = cache_dir / SDIST_NAME
    if sdist.exists() and sha256_of(sdist) == SDIST_SHA256:
        return sdist
    sdist.unlink(missing_ok=True)
    print("conformance: downloading the cffi %s sdist with pip" % CFFI_VERSION, flush=True)
    command = [
        sys.executable, "-m", "pip", "download",
        "--no-binary", ":all:", "--no-deps", "cffi==%s" % CFFI_VERSION,
        "--dest", str(cache_dir),
    ]  # fmt: skip
    if subprocess.run(command).returncode != 0:
        raise SetupError("pip could not download the cffi %s sdist" % CFFI_VERSION)
    if not sdist.exists():
        raise SetupError("pip did not leave %s in %s" % (SDIST_NAME, cache_dir))
    actual = sha256_of(sdist)
    if actual != SDIST_SHA256:
        sdist.unlink()
        raise SetupError("%s has sha256 %s, expected %s" % (SDIST_NAME, actual, SDIST_SHA256))
    return sdist


def extract_testing(sdist, cache_dir):
    """Extracts the sdist's testing/ package; returns the directory holding it."""
    root = cache_dir / SDIST_TOP
    stamp = root / ".conformance-extracted"
    if stamp.exists() and stamp.read_text().strip() == SDIST_SHA256:
        return root
    if root.exists():
        shutil.rmtree(root)
    prefix = SDIST_TOP + "/testing/"
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.name.startswith(prefix)]
        if not members:
            raise SetupError("%s has no %s directory" % (SDIST_NAME, prefix))
        extract_options = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(cache_dir, members=members, **extract_options)
    for test_file in TEST_FILES:
        if not (root / test_file).is_file():
            raise SetupError("%s lacks %s" % (SDIST_NAME, test_file))
    stamp.write_text(SDIST_SHA256 + "\n")
    return root


# -- running pytest ------------------------------------------------------------


class TestRecord:
    def __init__(self):
        self.phases = []  # (when, raw outcome, reason)
        self.started = False
        self.finished = False
        self.crash = None  # why the process died during this test

    def outcome(self):
        """passed / skipped / failed, or None if it never ran."""
        if self.crash is not None:
            return "failed"
        if not self.started:
            return None
        if any(outcome == "failed" for _, outcome, _ in self.phases):
            return "failed"
        if any(outcome == "skipped" for _, outcome, _ in self.phases):
            return "skipped"
        return "passed" if self.finished else None

    def reason(self):
        if self.crash is not None:
            return self.crash
        for when, outcome, reason in self.phases:
            if outcome == "failed":
                return reason if when == "call" else "error in %s: %s" % (when, reason)
        for _, outcome, reason in self.phases:
            if outcome == "skipped":
                return reason
        return ""


class RunResult:
    def __init__(self):
        self.target = None  # the plugin's "target" event
        self.collected = []  # node ids, before any deselection
        self.collect_errors = []  # (node id, reason)
        self.tests = {}
        self.harness_errors = []

    def record(self, nodeid):
        return self.tests.setdefault(nodeid, TestRecord())


def describe_exit(returncode, watchdog_log, timeout):
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "signal %d" % -returncode
        return "crashed: pytest process killed by %s" % name
    # The watchdog (faulthandler) writes its "Timeout (...)!" stack dump only
    # when it fires, and then ends the process.
    stacks = watchdog_log.read_text(errors="replace") if watchdog_log.exists() else ""
    if "Timeout (" in stacks:
        print("conformance: where the test hung:\n" + stacks, flush=True)
        return "hung: no result after %g s" % timeout
    return "crashed: pytest process exited with status %d in this test" % returncode


def run_tests(root, run_dir, against, expected_failures_path, pytest_args, test_timeout):
    """Runs pytest until every collected test has a result, resuming after crashes."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    (run_dir / "tmp").mkdir(parents=True)
    already_run_path = run_dir / "already_run.txt"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    # testing/udir.py makes numbered dirs under the temp root; keep them here.
    env["TMPDIR"] = str(run_dir / "tmp")
    env["FFI_PY_CONFORMANCE_TARGET"] = against
    env["FFI_PY_CONFORMANCE_TEST_TIMEOUT"] = str(test_timeout)
    env["FFI_PY_CONFORMANCE_ALREADY_RUN"] = str(already_run_path)
    if expected_failures_path is not None:
        env["FFI_PY_CONFORMANCE_EXPECTED_FAILURES"] = str(expected_failures_path)
    env.pop("PYTEST_ADDOPTS", None)  # the run is defined here and by `-- args` only

    result = RunResult()
    for attempt in range(1, EXPECTED_TEST_COUNT + 3):
        events_path = run_dir / ("events-%d.jsonl" % attempt)
        env["FFI_PY_CONFORMANCE_EVENTS"] = str(events_path)
        command = [
            sys.executable, "-m", "pytest",
            "-c", str(HERE / "pytest-conformance.ini"),
            "--rootdir", str(root), "--confcutdir", str(root),
            "-p", "conformance_plugin", "-p", "no:cacheprovider",
            "--continue-on-collection-errors", "-q", "--tb=short", "-rfE",
            *TEST_FILES, *pytest_args,
        ]  # fmt: skip
        returncode = subprocess.run(command, cwd=root, env=env).returncode
        events = read_events(events_path)
        running = None
        finished_session = None
        for event in events:
            kind = event["event"]
            if kind == "target" and result.target is None:
                result.target = event
            elif kind == "collected" and not result.collected:
                result.collected = event["nodeids"]
            elif kind == "collect_error" and attempt == 1:
                result.collect_errors.append((event["nodeid"], event["reason"]))
            elif kind == "start":
                result.record(event["nodeid"]).started = True
                running = event["nodeid"]
            elif kind == "phase":
                result.record(event["nodeid"]).phases.append((event["when"], event["outcome"], event["reason"]))
            elif kind == "finish":
                result.record(event["nodeid"]).finished = True
                running = None
            elif kind == "sessionfinish":
                finished_session = event["exitstatus"]
        if finished_session is not None:
            if finished_session not in (0, 1, 5):  # 5: arguments selected no test
                result.harness_errors.append("pytest ended with exit status %d" % finished_session)
            return result
        if running is None:
            result.harness_errors.append(
                "pytest ended abnormally (status %d) outside any test; see its output above" % returncode
            )
            return result
        why = describe_exit(returncode, events_path.with_name(events_path.name + ".watchdog"), test_timeout)
        result.record(running).crash = why
        print("\nconformance: %s -- %s; resuming after it\n" % (running, why), flush=True)
        done = sorted(nodeid for nodeid, test in result.tests.items() if test.finished or test.crash)
        already_run_path.write_text("".join(nodeid + "\n" for nodeid in done))
    result.harness_errors.append("gave up after too many crashed pytest processes")
    return result


def read_events(path):
    events = []
    if not path.exists():
        return events
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            break  # a line cut short by a crash
    return events


# -- judging and reporting ---------------------------------------------------------


class Verdict:
    def __init__(self, result, expected, narrowed):
        self.result = result
        self.expected = expected
        self.passed, self.skipped, self.not_run = [], [], []
        self.expected_failures, self.unexpected_failures, self.unexpectedly_passing = [], [], []
        self.listed_but_skipped = []
        for nodeid in result.collected:
            test = result.tests.get(nodeid, TestRecord())
            outcome, listed = test.outcome(), nodeid in expected
            entry = (nodeid, test.reason())
            if outcome is None:
                self.not_run.append(entry)
            elif outcome == "skipped":
                self.skipped.append(entry)
                if listed:
                    self.listed_but_skipped.append(entry)
            elif outcome == "passed":
                (self.unexpectedly_passing if listed else self.passed).append(entry)
            else:
                (self.expected_failures if listed else self.unexpected_failures).append(entry)
        # With collection errors, missing ids are explained by those instead.
        collected = set(result.collected)
        self.stale = [] if result.collect_errors else sorted(set(expected) - collected)
        self.wrong_count = not narrowed and len(result.collected) != EXPECTED_TEST_COUNT

    def ok(self):
        return not (
            self.unexpected_failures
            or self.unexpectedly_passing
            or self.stale
            or self.result.collect_errors
            or self.result.harness_errors
            or self.wrong_count
        )

    def counts(self):
        rows = [
            ("collected", len(self.result.collected)),
            ("passed", len(self.passed)),
            ("expected failures", len(self.expected_failures)),
            ("skipped", len(self.skipped)),
            ("unexpected failures", len(self.unexpected_failures)),
            ("unexpectedly passing", len(self.unexpectedly_passing)),
        ]
        if self.not_run:
            rows.append(("not run (deselected)", len(self.not_run)))
        return rows


def target_line(result):
    target = result.target or {}
    return "against %s %s (Python %s, %s %s), tests from the cffi %s sdist" % (
        target.get("name", "?"),
        target.get("version", "?"),
        target.get("python", platform.python_version()),
        platform.system(),
        platform.machine(),
        CFFI_VERSION,
    )


def print_summary(verdict):
    result = verdict.result
    print("\n== cffi conformance: %s" % target_line(result))
    for name, ids in (
        ("unexpected failures", verdict.unexpected_failures),
        (
            "unexpectedly passing -- remove from expected_failures.txt",
            [(nodeid, "listed because: " + verdict.expected[nodeid]) for nodeid, _ in verdict.unexpectedly_passing],
        ),
        ("listed as expected failures but skipped here", verdict.listed_but_skipped),
    ):
        if ids:
            print("\n%s:" % name)
            for nodeid, reason in ids:
                print("  %s\n      %s" % (nodeid, reason))
    if verdict.stale:
        print("\nexpected_failures.txt lists tests that were not collected -- fix or remove:")
        for nodeid in verdict.stale:
            print("  " + nodeid)
    if result.collect_errors:
        print("\ncollection errors:")
        for nodeid, reason in result.collect_errors:
            print("  %s: %s" % (nodeid, reason))
    missing = (result.target or {}).get("missing") or []
    if missing:
        print("\nthe target lacks what the tests import (they use failing stand-ins):")
        for name, why in missing:
            print("  %s: %s" % (name, why))
    for error in result.harness_errors:
        print("\nharness error: " + error)
    if verdict.wrong_count:
        print("\ncollected %d tests, expected %d" % (len(result.collected), EXPECTED_TEST_COUNT))
    print()
    for name, count in verdict.counts():
        print("  %-22s %4d" % (name, count))
    print("\nconformance: %s" % ("OK" if verdict.ok() else "FAILED"))


def markdown_cell(text, code=False):
    text = " ".join(str(text).split())
    if len(text) > 200:
        text = text[:197] + "..."
    text = text.replace("|", "\\|")
    if code:
        return "`%s`" % text.replace("`", "'") if text else ""
    return text.replace("<", "&lt;")


def markdown_table(header, rows, code_reason):
    lines = ["| %s | %s |" % header, "|---|---|"]
    lines += ["| `%s` | %s |" % (nodeid, markdown_cell(reason, code_reason)) for nodeid, reason in rows]
    return lines


def grouped_failures_table(rows):
    """Failures sharing an error, one row per error: early on, most tests fail alike."""
    by_reason = {}
    for nodeid, reason in rows:
        by_reason.setdefault(reason, []).append(nodeid.rpartition("::")[2])
    lines = ["| first line of the error | tests |", "|---|---|"]
    for reason, names in sorted(by_reason.items(), key=lambda item: -len(item[1])):
        shown = ", ".join(names[:GROUP_NAMES_SHOWN])
        if len(names) > GROUP_NAMES_SHOWN:
            shown += " and %d more" % (len(names) - GROUP_NAMES_SHOWN)
        lines.append("| %s | %d: %s |" % (markdown_cell(reason, True), len(names), shown))
    return lines


def report_markdown(verdict):
    lines = [
        REPORT_BEGIN,
        "<!-- Generated by crates/ffi-py/tests/conformance/run.py --report; edits here are overwritten. -->",
        "",
        "Last run %s: **%s**." % (target_line(verdict.result), "OK" if verdict.ok() else "FAILED"),
        "",
        "| tests | count |",
        "|---|---:|",
    ]
    lines += ["| %s | %d |" % row for row in verdict.counts()]
    expected_rows = [(nodeid, verdict.expected[nodeid]) for nodeid, _ in verdict.expected_failures]
    sections = [
        ("Expected failures", "reason (from expected_failures.txt)", expected_rows, False),
        ("Skipped", "reason (pytest's skip message)", verdict.skipped, True),
        ("Unexpected failures", "first line of the error", verdict.unexpected_failures, True),
        ("Unexpectedly passing (remove from expected_failures.txt)", "reason listed", [
            (nodeid, verdict.expected[nodeid]) for nodeid, _ in verdict.unexpectedly_passing
        ], False),
    ]  # fmt: skip
    for title, reason_header, rows, code_reason in sections:
        if title == "Unexpected failures" and len(rows) > UNGROUPED_FAILURES_MAX:
            lines += ["", "### %s" % title, ""] + grouped_failures_table(rows)
        elif rows or title == "Expected failures":
            lines += ["", "### %s" % title, ""]
            lines += markdown_table(("test", reason_header), rows, code_reason) if rows else ["None."]
    if verdict.result.collect_errors or verdict.result.harness_errors or verdict.stale:
        lines += ["", "### Problems with the run", ""]
        lines += ["- collection error in `%s`: %s" % (n, markdown_cell(r, True)) for n, r in verdict.result.collect_errors]
        lines += ["- %s" % markdown_cell(e) for e in verdict.result.harness_errors]
        lines += ["- `%s` is listed in expected_failures.txt but was not collected" % n for n in verdict.stale]
    lines.append(REPORT_END)
    return "\n".join(lines) + "\n"


def write_report(path, verdict):
    generated = report_markdown(verdict)
    old = path.read_text(encoding="utf-8") if path.exists() else "# cffi conformance\n\n"
    begin, end = old.find(REPORT_BEGIN), old.find(REPORT_END)
    if begin != -1 and end > begin:
        new = old[:begin] + generated + old[end + len(REPORT_END) :].lstrip("\n")
    else:
        new = old.rstrip("\n") + "\n\n" + generated
    path.write_text(new, encoding="utf-8")


# -- command line ----------------------------------------------------------------


def parse_args(argv):
    if "--" in argv:
        split = argv.index("--")
        argv, pytest_args = argv[:split], argv[split + 1 :]
    else:
        pytest_args = []
    parser = argparse.ArgumentParser(
        description="Run cffi %s's FFI-level tests against ffi_py or cffi." % CFFI_VERSION,
        epilog="Arguments after -- go to pytest (e.g. -- -k test_sin -x).",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=REPO_ROOT / "target" / "conformance",
        help="where the sdist, the extracted tests and run files go (default: target/conformance)",
    )
    parser.add_argument("--against", choices=("ffi_py", "cffi"), default="ffi_py", help="library under test")
    parser.add_argument("--report", type=Path, help="markdown file whose generated section to rewrite")
    parser.add_argument(
        "--expected-failures",
        type=Path,
        default=HERE / "expected_failures.txt",
        help="expected-failure list, applied with --against ffi_py (default: the one beside run.py)",
    )
    parser.add_argument(
        "--test-timeout",
        type=float,
        default=DEFAULT_TEST_TIMEOUT,
        help="seconds before a hung test is killed and counted as failed (0: never; default %(default)g)",
    )
    options = parser.parse_args(argv)
    options.pytest_args = pytest_args
    return options


def main(argv):
    options = parse_args(argv)
    cache_dir = options.cache_dir.resolve()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        if importlib.util.find_spec("pytest") is None:
            raise SetupError("pytest is not installed in %s" % sys.executable)
        expected = {}
        expected_path = None
        if options.against == "ffi_py":
            expected_path = options.expected_failures.resolve()
            expected = read_expected_failures(expected_path)
        elif importlib.util.find_spec("cffi") is None:
            raise SetupError("--against cffi needs cffi installed in %s" % sys.executable)
        root = extract_testing(fetch_sdist(cache_dir), cache_dir)
    except (SetupError, OSError, ValueError, tarfile.TarError) as error:
        print("conformance: %s" % error, file=sys.stderr)
        return 2
    result = run_tests(
        root,
        cache_dir / "runs" / options.against,
        options.against,
        expected_path,
        options.pytest_args,
        options.test_timeout,
    )
    if result.target is None:
        result.harness_errors.append("the conformance plugin never started; see pytest's output above")
    verdict = Verdict(result, expected, narrowed=bool(options.pytest_args))
    print_summary(verdict)
    if options.report is not None:
        write_report(options.report, verdict)
        print("conformance: wrote %s" % options.report)
    return 0 if verdict.ok() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
