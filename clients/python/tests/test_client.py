"""aurea_client against a real server: AUREA_URL and AUREA_API_KEY name it (the vitest suite
test/integration/python-client.test.ts starts one and runs this with Debian's python3)."""

import os
import socket
import time
import unittest

from aurea_client import (
    Aurea,
    InvalidArgument,
    NotFound,
    RetryPolicy,
    RunResult,
    Unauthenticated,
    Unavailable,
)

URL = os.environ["AUREA_URL"]
KEY = os.environ.get("AUREA_API_KEY")


class RunTest(unittest.TestCase):
    def setUp(self) -> None:
        self.aurea = Aurea(URL, api_key=KEY)

    def test_run_answers_a_result_dataclass(self) -> None:
        result = self.aurea.run("python", "import sys\nprint(sys.stdin.read()[::-1])\nprint('e', file=sys.stderr)", stdin="abc")
        self.assertIsInstance(result, RunResult)
        self.assertTrue(result.ok)
        self.assertEqual((result.status, result.stdout, result.stderr, result.exit_code), ("RUN_STATUS_OK", "cba\n", "e\n", 0))
        self.assertGreater(result.limits.memory_bytes, 0)
        self.assertIsInstance(result.limits.memory_bytes, int)

    def test_files_and_artifacts_as_text_and_bytes(self) -> None:
        result = self.aurea.run(
            "python",
            "data = open('in.bin', 'rb').read()\nopen('out.bin', 'wb').write(data[::-1])\nprint(open('in.txt').read())",
            files={"in.txt": "text", "in.bin": b"\x00\xff"},
            capture_artifacts=True,
        )
        self.assertEqual(result.stdout, "text\n")
        self.assertEqual(result.binary_artifacts, {"out.bin": b"\xff\x00"})

    def test_a_runtime_error_and_judged_cases(self) -> None:
        failed = self.aurea.run("python", "raise SystemExit(3)")
        self.assertEqual((failed.status, failed.exit_code), ("RUN_STATUS_RUNTIME_ERROR", 3))
        judged = self.aurea.run(
            "c",
            '#include <stdio.h>\nint main(void){int n;scanf("%d",&n);printf("%d\\n",n*2);return 0;}',
            tests=[{"name": "one", "stdin": "1\n", "expected_stdout": "2\n"}, {"name": "two", "stdin": "2\n", "expected_stdout": "5\n"}],
        )
        self.assertEqual(judged.status, "RUN_STATUS_WRONG_ANSWER")
        self.assertEqual([case.status for case in judged.test_results], ["RUN_STATUS_OK", "RUN_STATUS_WRONG_ANSWER"])
        self.assertEqual((judged.tests_passed, judged.tests_total, judged.first_failed_test), (1, 2, "two"))
        broken = self.aurea.run("c", "int main(void) { return nope; }")
        self.assertEqual(broken.status, "RUN_STATUS_COMPILE_ERROR")
        self.assertIn("nope", broken.compile.stderr)

    def test_run_stream_yields_events_in_order(self) -> None:
        events = list(self.aurea.run_stream("bash", "echo out; echo err >&2; echo é"))
        self.assertEqual(events[0].type, "started")
        self.assertTrue(events[0].run_id)
        self.assertEqual("".join(event.text for event in events if event.type == "stdout"), "out\né\n")
        self.assertEqual(events[-1].type, "result")
        self.assertEqual(events[-1].result.stdout, "out\né\n")

    def test_languages(self) -> None:
        languages = self.aurea.languages()
        python = next(language for language in languages.languages if language.name == "python")
        self.assertTrue(python.stateful_sessions)
        self.assertGreater(languages.session_max_ttl, 0)

    def test_errors_carry_the_code_and_fields(self) -> None:
        with self.assertRaises(InvalidArgument) as caught:
            self.aurea.run("python", "print(1)", timeout=-1)
        self.assertEqual([violation.field for violation in caught.exception.violations], ["timeout"])
        self.assertIn("timeout", str(caught.exception))
        with self.assertRaises(Unauthenticated):
            Aurea(URL, api_key="wrong-key-0000000000000").run("python", "print(1)")

    def test_a_server_that_does_not_answer_is_unavailable_after_the_retries(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        started = time.monotonic()
        with self.assertRaises(Unavailable) as caught:
            Aurea(f"http://127.0.0.1:{port}", retry=RetryPolicy(max_attempts=3, initial_backoff=0.05)).languages()
        self.assertFalse(caught.exception.answered)
        self.assertLess(time.monotonic() - started, 5)


class SessionTest(unittest.TestCase):
    def test_a_stateful_session_closed_on_exit(self) -> None:
        aurea = Aurea(URL, api_key=KEY)
        with aurea.session("python", stateful=True, files={"in.txt": "hello"}) as session:
            session.exec("x = open('in.txt').read()")
            self.assertEqual(session.exec("x.upper()").value, "'HELLO'")
            raised = session.exec("def f():\n    return 1 / 0\nf()")
            self.assertEqual(raised.exception.name, "ZeroDivisionError")
            self.assertIn("<cell", raised.exception.traceback)
            streamed = list(session.exec_stream("print('a'); print('b')"))
            self.assertEqual("".join(event.text for event in streamed if event.type == "stdout"), "a\nb\n")
            self.assertEqual(sorted(session.write_files({"data/t.txt": "text", "data/b.bin": b"\x00\xff"})), ["data/b.bin", "data/t.txt"])
            read = session.read_files(["data/t.txt", "data/b.bin", "missing.txt"])
            self.assertEqual(read.files, {"data/t.txt": "text"})
            self.assertEqual(read.binary_files, {"data/b.bin": b"\x00\xff"})
            self.assertEqual([skipped.reason for skipped in read.skipped], ["ARTIFACT_SKIP_REASON_NOT_FOUND"])
            entries = session.list_files("data")
            self.assertEqual([(entry.name, entry.type, entry.size) for entry in entries], [("data/b.bin", "FILE_TYPE_FILE", 2), ("data/t.txt", "FILE_TYPE_FILE", 4)])
            self.assertIsNotNone(entries[0].modified_at.tzinfo)
            self.assertEqual(session.update(idle_timeout=120).idle_timeout, 120)
            self.assertEqual(session.info.state, "SESSION_STATE_ACTIVE")
        self.assertEqual(session.info.state, "SESSION_STATE_CLOSED")
        with self.assertRaises(NotFound):
            session.exec("x")

    def test_pause_and_a_snapshot_to_start_from(self) -> None:
        aurea = Aurea(URL, api_key=KEY)
        with aurea.session("bash", files={"a.txt": "kept"}) as session:
            self.assertEqual(session.pause().state, "SESSION_STATE_PAUSED")
            self.assertEqual(session.exec("cat a.txt").stdout, "kept")
            snapshot = session.snapshot("first")
        self.assertIn(snapshot.snapshot_id, [listed.snapshot_id for listed in aurea.snapshots()])
        with aurea.session(from_snapshot=snapshot.snapshot_id) as restored:
            self.assertEqual(restored.read_files(["a.txt"]).files, {"a.txt": "kept"})
        aurea.delete_snapshot(snapshot.snapshot_id)


if __name__ == "__main__":
    unittest.main()
