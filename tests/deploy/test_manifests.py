"""The deployment files grant exactly the capabilities the agent's own list names (`l7tap check
--capabilities`), no more: deploy/systemd/l7tap.service passes `systemd-analyze verify` (offline) and
deploy/kubernetes/*.yaml hold a DaemonSet without privileged mode, in the host PID namespace, probed on
/healthz at the agent's default metrics port. Needs /usr/bin/python3 (python3-yaml) and systemd-analyze."""
import os
import re
import shlex
import subprocess
import tempfile
import unittest

import yaml

BUILD_DIR = os.environ.get("L7TAP_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
SOURCE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
AGENT = os.path.join(BUILD_DIR, "l7tap")
UNIT = os.path.join(SOURCE_DIR, "deploy/systemd/l7tap.service")
KUBE = os.path.join(SOURCE_DIR, "deploy/kubernetes")
INSTALLED = "/usr/local/bin/l7tap"


def capabilities(*agent_args):
    out = subprocess.run([AGENT, "check", "--capabilities", *agent_args], capture_output=True, text=True,
                         check=True).stdout
    return out.split()


def default_port():
    """The port of --listen's default, as --help states it."""
    help_text = subprocess.run([AGENT, "--help"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"--listen\b.*?default (?:\d+\.\d+\.\d+\.\d+)?:(\d+)", help_text, re.S)
    if m:
        return int(m.group(1))
    raise AssertionError("--help names no default for --listen:\n" + help_text)


def unit_settings(text):
    """[Service] key -> list of values (a key may repeat)."""
    settings, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault((section, key), []).append(value)
    return settings


def verify(unit_text):
    """systemd-analyze verify on a copy of the unit: (exit code, everything it printed)."""
    with tempfile.TemporaryDirectory(prefix="l7tap-unit-") as d:
        path = os.path.join(d, "l7tap.service")
        with open(path, "w") as f:
            f.write(unit_text)
        r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True, cwd=d,
                           timeout=60)
        return r.returncode, (r.stdout + r.stderr).strip()


class SystemdUnit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(UNIT) as f:
            cls.text = f.read()
        cls.settings = unit_settings(cls.text)

    def service(self, key):
        return self.settings.get(("Service", key), [])

    def exec_args(self):
        (exec_start,) = self.service("ExecStart")
        argv = shlex.split(exec_start)
        self.assertEqual(argv[0], INSTALLED)
        return argv[1:]

    def test_verify_passes_without_a_word(self):
        # verify needs ExecStart's binary: the build's stands in for the installed one.
        code, out = verify(self.text.replace(INSTALLED, os.path.abspath(AGENT)))
        self.assertEqual((code, out), (0, ""))

    def test_verify_fails_on_a_bad_unit(self):
        # The checks above can fail: a binary that is not there fails verify, a misspelled key is reported.
        code, out = verify(self.text.replace(INSTALLED, "/nonexistent/l7tap"))
        self.assertNotEqual(code, 0, out)
        code, out = verify(self.text.replace(INSTALLED, os.path.abspath(AGENT)).replace(
            "NoNewPrivileges=", "NoNewPrivilege="))
        self.assertIn("Unknown key", out)

    def test_capabilities_are_the_agents_list(self):
        want = sorted(capabilities(*self.exec_args()))
        self.assertEqual(len(want), 6, want)
        for key in ("CapabilityBoundingSet", "AmbientCapabilities"):
            (value,) = self.service(key)
            self.assertEqual(sorted(value.split()), want, key)

    def test_unprivileged_and_confined(self):
        self.assertEqual(self.service("DynamicUser"), ["yes"])
        self.assertEqual(self.service("User"), [])
        self.assertEqual(self.service("NoNewPrivileges"), ["yes"])
        self.assertEqual(self.service("ProtectSystem"), ["strict"])
        self.assertEqual(self.service("Restart"), ["on-failure"])
        # The agent reads every process's /proc entries.
        self.assertIn(self.service("ProtectProc"), ([], ["default"]))
        self.assertIn(self.service("ProcSubset"), ([], ["all"]))


class KubernetesManifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.docs = {}
        for name in sorted(os.listdir(KUBE)):
            with open(os.path.join(KUBE, name)) as f:
                for doc in yaml.safe_load_all(f):
                    cls.docs[doc["kind"]] = doc
        cls.pod = cls.docs["DaemonSet"]["spec"]["template"]["spec"]
        (cls.container,) = cls.pod["containers"]

    def test_all_kinds_present(self):
        self.assertEqual(sorted(self.docs), ["DaemonSet", "PodMonitor", "Service", "ServiceMonitor"])

    def test_capabilities_are_the_agents_list(self):
        want = sorted(c[len("CAP_"):] for c in capabilities(*self.container.get("args", [])))
        caps = self.container["securityContext"]["capabilities"]
        self.assertEqual(sorted(caps["add"]), want)
        self.assertEqual(caps["drop"], ["ALL"])

    def test_not_privileged_and_host_pid(self):
        sc = self.container["securityContext"]
        self.assertFalse(sc.get("privileged", False))
        self.assertIs(sc["allowPrivilegeEscalation"], False)
        self.assertIs(self.pod["hostPID"], True)
        self.assertNotIn("hostNetwork", self.pod)
        mounts = {m["mountPath"]: m for m in self.container["volumeMounts"]}
        self.assertIs(mounts["/sys/kernel/btf"]["readOnly"], True)
        self.assertIs(mounts["/sys/kernel/tracing"]["readOnly"], True)

    def test_probes_and_port(self):
        port = default_port()
        (p,) = self.container["ports"]
        self.assertEqual((p["name"], p["containerPort"]), ("metrics", port))
        for probe in ("readinessProbe", "livenessProbe"):
            self.assertEqual(self.container[probe]["httpGet"], {"path": "/healthz", "port": "metrics"}, probe)
        (sp,) = self.docs["Service"]["spec"]["ports"]
        self.assertEqual((sp["port"], sp["targetPort"]), (port, "metrics"))
        self.assertEqual([e["port"] for e in self.docs["PodMonitor"]["spec"]["podMetricsEndpoints"]], ["metrics"])
        self.assertEqual([e["port"] for e in self.docs["ServiceMonitor"]["spec"]["endpoints"]], ["metrics"])
        labels = self.docs["DaemonSet"]["spec"]["template"]["metadata"]["labels"]
        for kind in ("Service",):
            self.assertEqual(self.docs[kind]["spec"]["selector"], labels)
        for kind in ("PodMonitor", "ServiceMonitor"):
            self.assertEqual(self.docs[kind]["spec"]["selector"]["matchLabels"], labels)

    def test_memory_is_bounded(self):
        res = self.container["resources"]
        self.assertIn("memory", res["limits"])
        self.assertIn("memory", res["requests"])


if __name__ == "__main__":
    unittest.main()
