"""`make install PREFIX=...` gives a tree that runs on its own: nothing of the build directory is needed."""
import os
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.environ.get("L7TAP_BUILD_DIR", os.path.join(ROOT, "build"))


class InstallTree(unittest.TestCase):
    def setUp(self):
        self.prefix = tempfile.mkdtemp(prefix="l7tap-install-")
        run = subprocess.run(["cmake", "--install", BUILD_DIR, "--prefix", self.prefix],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.binary = os.path.join(self.prefix, "bin", "l7tap")

    def tearDown(self):
        shutil.rmtree(self.prefix, ignore_errors=True)

    def test_binary_needs_nothing_from_the_build_tree(self):
        ldd = subprocess.run(["ldd", self.binary], capture_output=True, text=True, timeout=30)
        self.assertEqual(ldd.returncode, 0, ldd.stderr)
        self.assertNotIn("not found", ldd.stdout)
        self.assertNotIn(os.path.realpath(BUILD_DIR), ldd.stdout)
        self.assertIn(os.path.join(self.prefix, "bin", "..", "lib", "l7tap"), ldd.stdout)
        # It runs from there, with the build tree out of reach of the loader.
        env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
        run = subprocess.run([self.binary, "--help"], capture_output=True, text=True, timeout=30, env=env)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("--max-connections", run.stdout)

    def test_unit_runs_the_installed_binary(self):
        unit = os.path.join(self.prefix, "lib", "systemd", "system", "l7tap.service")
        text = open(unit).read()
        self.assertIn("ExecStart=%s " % self.binary, text)
        self.assertNotIn("/usr/local/bin/l7tap", text)
        verify = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True, timeout=60)
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)

    def test_prometheus_grafana_and_kubernetes_files(self):
        share = os.path.join(self.prefix, "share", "l7tap")
        for name in ("l7tap.rules.yml", "l7tap.json", "kubernetes/daemonset.yaml"):
            self.assertTrue(os.path.isfile(os.path.join(share, name)), name)


if __name__ == "__main__":
    unittest.main()
