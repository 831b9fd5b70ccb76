"""The one configuration model as a user meets it: flags, L7TAP_* variables and a YAML file, their precedence,
errors at start, and the log's levels and JSON lines."""
import json
import os
import subprocess
import tempfile
import unittest

from l7tap_harness import AGENT, Agent


class Environment:
    """Sets variables for one agent start, restoring them after."""

    def __init__(self, **values):
        self.values = values

    def __enter__(self):
        self.saved = {k: os.environ.get(k) for k in self.values}
        os.environ.update(self.values)

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class ConfigPrecedence(unittest.TestCase):
    def test_flag_over_variable_over_file_over_default(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "l7tap.yml")
            with open(path, "w") as f:
                f.write("max-connections: 2048\n"      # a variable overrides it
                        "max_traced_binaries: 77\n"    # only here
                        "listen: 127.0.0.1:1\n")       # the harness's flag overrides it
            with Environment(L7TAP_MAX_CONNECTIONS="4096", L7TAP_LISTEN="127.0.0.1:2"):
                agent = Agent("--config", path, "--log-format", "json")
            try:
                self.assertEqual(agent.value("l7tap_table_capacity", table="connections"), 4096)
                self.assertEqual(agent.value("l7tap_table_capacity", table="tls_traced_files"), 77)
            finally:
                code, _, err = agent.stop()
            self.assertEqual(code, 0, err)
            # Every log line is one JSON object; start and stop are info lines.
            lines = [json.loads(line) for line in err.splitlines()]
            self.assertTrue(lines)
            for line in lines:
                self.assertEqual(sorted(line), ["level", "msg", "time"], line)
                self.assertIn(line["level"], ("debug", "info", "warn", "error"))
            msgs = [line["msg"] for line in lines if line["level"] == "info"]
            self.assertTrue(any(m.startswith("tracing socket syscalls") for m in msgs), msgs)
            self.assertIn("detaching probes and exiting", msgs)

    def test_log_level_warn_drops_info_lines(self):
        agent = Agent("--log-level", "warn")
        code, _, err = agent.stop()
        self.assertEqual(code, 0, err)
        self.assertNotIn("tracing socket syscalls", err)
        self.assertNotIn("detaching probes", err)

    def test_bad_settings_stop_the_agent_with_one_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "l7tap.yml")
            with open(path, "w") as f:
                f.write("max-connections: 2048\nmax-conections: 10\n")
            cases = [
                (["--config", path], {}, "unknown key 'max-conections'"),
                (["--max-connections", "3"], {}, "--max-connections"),
                ([], {"L7TAP_MAX_SERIES": "many"}, "L7TAP_MAX_SERIES"),
                (["--log-level", "loud"], {}, "--log-level"),
            ]
            for args, env, expect in cases:
                run = subprocess.run([AGENT, *args], capture_output=True, text=True, timeout=30,
                                     env={**os.environ, **env})
                self.assertEqual(run.returncode, 2, (args, run.stderr))
                self.assertEqual(len(run.stderr.splitlines()), 1, run.stderr)
                self.assertIn(expect, run.stderr)


if __name__ == "__main__":
    unittest.main()
