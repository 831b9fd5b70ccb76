"""End to end, as root: a real Prometheus (Debian's) scrapes the agent every second while known HTTP, HTTPS and
DNS traffic runs; the counts read back through Prometheus's HTTP API must be exact, the latencies in the bucket
they fall into, the custom --buckets the `le` values, deploy/prometheus/l7tap.rules.yml's recording rules the
values the traffic implies, and `promtool check metrics` must find nothing in the agent's exposition.

Only this test's processes and ports are asserted on (other suites may trace the node at the same time): the
servers and clients run under names of their own (symlinks: a process's name is the name it was exec'd by)."""
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from l7tap_harness import Agent, Server, fixture, make_cert, run
from prometheus_server import PROMTOOL, Prometheus
from test_dns import Dnsmasq, free_udp_tcp_port
from test_grpc import PY_CLIENT, PY_SERVER, PYTHON, ReadyServer, python_env

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../deploy"))
import dashboard_check  # noqa: E402

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
RULES = os.path.join(REPO, "deploy/prometheus/l7tap.rules.yml")
DASHBOARD = os.path.join(REPO, "deploy/grafana/l7tap.json")

SERVER = "http_server_request_duration_seconds"
CLIENT = "http_client_request_duration_seconds"
LOOKUP = "dns_lookup_duration_seconds"
SERVED = "dns_server_request_duration_seconds"
RPC_SERVER = "rpc_server_duration_seconds"
RPC_CLIENT = "rpc_client_duration_seconds"

# --buckets for every transaction histogram, and one histogram's own: neither is the OpenTelemetry default.
BUCKETS = [0.001, 0.005, 0.01, 0.1, 0.5, 1, 5]
DNS_BUCKETS = [0.0005, 0.002, 0.008, 0.05]
# The fixture server's /work/N sleeps N microseconds: 20 ms, inside the (0.01, 0.1] bucket on both sides (wide:
# a loaded machine may add milliseconds).
WORK_PATH, WORK_ROUTE, WORK_SECONDS, WORK_BUCKET = "/work/20000", "/work/{id}", 0.020, (0.01, 0.1)
# One route for the fixture's single-segment paths, so that it mixes statuses: 200s, 404s and 500s.
PAGE_ROUTE = "/{page}"

# One phase of plain HTTP (client mode, count, path): run twice, so that rates over the series have two points.
HTTP_PHASE = [("keepalive", 6, "/"), ("keepalive", 6, "/chunked"), ("keepalive", 2, "/notfound"),
              ("oneshot", 2, "/error"), ("keepalive", 4, WORK_PATH)]
HTTPS_PHASE = [("keepalive", 5, "/"), ("keepalive", 1, "/error")]
DNS_PHASE = [("a.test", 3), ("nx.test", 1)]  # dig per name: a.test NOERROR, nx.test NXDOMAIN
GRPC_PHASE = [(4, 0), (1, 5)]  # Python gRPC (h2c) unary calls: (calls, status): 4 OK, 1 NOT_FOUND
PHASES = 2
# The recording rules test_recording_rules_values reads (setUpClass waits for their evaluation).
ASSERTED_RULES = ["service_route:http_server_errors:ratio_rate5m", "service_route:http_client_errors:ratio_rate5m",
                  "service_route:http_server_requests:rate5m", "service:dns_lookup_errors:ratio_rate5m",
                  "service_route:http_server_request_duration_seconds:p99_rate5m",
                  "service_route:http_server_request_duration_seconds:p50_rate5m",
                  "service_route:http_client_request_duration_seconds:p99_rate5m",
                  "service_method:rpc_server_errors:ratio_rate5m"]


def rule_count():
    with open(RULES) as f:
        return sum(1 for line in f if line.strip().startswith(("- record:", "- alert:")))


def status_of(path):
    return {"/notfound": "404", "/error": "500"}.get(path, "200")


def expected_http(phase):
    out = {}
    for _, n, path in phase:
        key = ("GET", status_of(path))
        out[key] = out.get(key, 0) + n * PHASES
    return out


class PrometheusTest(unittest.TestCase):
    """One agent, the servers, a dnsmasq and a Prometheus loading the rules, for the class; the traffic runs in
    setUpClass and the tests read what Prometheus made of it."""

    @classmethod
    def setUpClass(cls):
        for tool in (PROMTOOL, "/usr/bin/prometheus", "/usr/bin/dig", "/usr/sbin/dnsmasq"):
            if not os.path.exists(tool):
                raise AssertionError("%s is missing (make deps installs it)" % tool)
        cls.tmp = tempfile.mkdtemp(prefix="l7tap-prom-test-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.cert, cls.key = make_cert(cls.tmp)
        names = {"srv": ("prom_http_srv", fixture("http_server")),
                 "cli": ("prom_http_cli", fixture("http_client")),
                 "tls_srv": ("prom_tls_srv", fixture("http_server")),
                 "tls_cli": ("prom_tls_cli", fixture("http_client")),
                 "dig": ("promdig", "/usr/bin/dig"),
                 "py": ("promgrpc", PYTHON)}
        cls.bin = {}
        for key, (name, target) in names.items():
            cls.bin[key] = os.path.join(cls.tmp, name)
            os.symlink(target, cls.bin[key])
        cls.srv_name, cls.cli_name, cls.tls_srv_name, cls.tls_cli_name, cls.dig_name, cls.grpc_name = (
            names[k][0] for k in ("srv", "cli", "tls_srv", "tls_cli", "dig", "py"))
        r = subprocess.run([cls.bin["py"], "-c", "import grpc"], capture_output=True, text=True, env=python_env())
        if r.returncode != 0:
            raise AssertionError("python3-grpcio for %s is missing (make deps installs it): %s" % (PYTHON, r.stderr))

        cls.dns_port = free_udp_tcp_port()
        cls.agent = Agent("--dns-ports", str(cls.dns_port), "--route", PAGE_ROUTE,
                          "--buckets", ",".join("%g" % b for b in BUCKETS),
                          "--buckets", "%s=%s" % (LOOKUP, ",".join("%g" % b for b in DNS_BUCKETS)))
        cls.addClassCleanup(cls.stop_agent)
        cls.http_port = free_udp_tcp_port()
        cls.http = Server([cls.bin["srv"], "--port", str(cls.http_port)], cls.http_port)
        cls.addClassCleanup(cls.http.stop)
        cls.https_port = free_udp_tcp_port()
        cls.https = Server([cls.bin["tls_srv"], "--port", str(cls.https_port), "--tls", "--cert", cls.cert, "--key",
                            cls.key], cls.https_port)
        cls.addClassCleanup(cls.https.stop)
        cls.dns = Dnsmasq(cls.dns_port)
        cls.addClassCleanup(cls.dns.stop)
        cls.grpc = ReadyServer([cls.bin["py"], PY_SERVER, "--port", "0", "--ready-file",
                                os.path.join(cls.tmp, "grpc-ready")], os.path.join(cls.tmp, "grpc-ready"),
                               env=python_env())
        cls.addClassCleanup(cls.grpc.stop)
        cls.grpc_port = cls.grpc.ports["h2c"]
        # Prometheus starts once the first phase is all in the agent: every series' first sample is then one
        # phase's count, and each grows alike, so rates (extrapolated from first and last samples) keep the
        # traffic's exact proportions.
        cls.drive()
        cls.wait_agent(1)
        cls.prom = Prometheus(cls.agent.port, rule_files=[RULES])
        cls.addClassCleanup(cls.stop_prometheus)
        cls.prom.wait_scrapes(time.time(), count=2)
        for phase in range(2, PHASES + 1):
            cls.drive()
            cls.wait_agent(phase)
            cls.prom.wait_scrapes(time.time(), count=2)
        seen = time.time()  # the last scrape is queryable: an evaluation after this moment has it
        for record in ASSERTED_RULES:
            cls.prom.wait_evaluation(record, seen)

    @classmethod
    def stop_agent(cls):
        code, _, err = cls.agent.stop()
        assert code == 0, "l7tap did not exit cleanly: %s" % err

    @classmethod
    def stop_prometheus(cls):
        log = cls.prom.stop()
        assert cls.prom.proc.returncode == 0, "prometheus exited %d: %s" % (cls.prom.proc.returncode, log)

    @classmethod
    def drive(cls):
        for mode, n, path in HTTP_PHASE:
            cls.client(cls.http_port, mode, n, path)
        for mode, n, path in HTTPS_PHASE:
            cls.client(cls.https_port, mode, n, path, "--tls", binary=cls.bin["tls_cli"])
        for name, n in DNS_PHASE:
            for _ in range(n):
                run([cls.bin["dig"], "@127.0.0.1", "-p", str(cls.dns_port), "+tries=1", "+timeout=2", name])
        for n, code in GRPC_PHASE:
            r = subprocess.run([cls.bin["py"], PY_CLIENT, "--addr", "127.0.0.1:%d" % cls.grpc_port, "--method", "Unary",
                                "-n", str(n), "--code", str(code)], capture_output=True, text=True, timeout=120,
                               env=python_env())
            assert r.returncode == 0, "grpc client: %s" % r.stderr

    @classmethod
    def client(cls, port, mode, n, path, *extra, binary=None):
        out = run([binary or cls.bin["cli"], "--port", str(port), "--mode", mode, "--count", str(n), "--path", path,
                   "--expect-status", status_of(path), *extra])
        assert out.split() == ["ok", str(n)], out

    @classmethod
    def http_sides(cls):
        """(port, phase traffic, server's service_name, client's) for plain HTTP and HTTPS."""
        return ((cls.http_port, HTTP_PHASE, cls.srv_name, cls.cli_name),
                (cls.https_port, HTTPS_PHASE, cls.tls_srv_name, cls.tls_cli_name))

    @classmethod
    def wait_agent(cls, phase):
        """Until the agent's own /metrics has every transaction of `phase` phases (then Prometheus is waited for)."""
        for port, traffic, server, client in cls.http_sides():
            n = phase * sum(c for _, c, _ in traffic)
            cls.agent.wait_value(n, SERVER + "_count", server_port=port, service_name=server, settle=0)
            cls.agent.wait_value(n, CLIENT + "_count", server_port=port, service_name=client, settle=0)
        calls = phase * sum(n for n, _ in GRPC_PHASE)
        for metric in (RPC_SERVER, RPC_CLIENT):
            cls.agent.wait_value(calls, metric + "_count", server_port=cls.grpc_port, service_name=cls.grpc_name,
                                 settle=0)
        cls.agent.wait_value(phase * sum(c for _, c in DNS_PHASE), LOOKUP + "_count", server_port=cls.dns_port,
                             service_name=cls.dig_name, settle=0.5)

    # --- counts, exact, through Prometheus ---------------------------------------------------------------

    def counts(self, metric, port, service):
        return self.prom.by(
            'sum by (http_request_method, http_response_status_code) (%s_count{server_port="%d", service_name="%s"})'
            % (metric, port, service), "http_request_method", "http_response_status_code")

    def assert_http(self, port, phase, server, client):
        want = expected_http(phase)
        self.assertEqual(self.counts(SERVER, port, server), want, "server side")
        self.assertEqual(self.counts(CLIENT, port, client), want, "client side")
        # Nothing else recorded at the port (any process: only this test's use it).
        total = sum(want.values())
        for metric, service in ((SERVER, server), (CLIENT, client)):
            self.assertEqual(self.prom.by('sum by (service_name) (%s_count{server_port="%d"})' % (metric, port),
                                          "service_name"), {(service,): total}, metric)

    def test_http_counts(self):
        self.assertEqual(expected_http(HTTP_PHASE), {("GET", "200"): 32, ("GET", "404"): 4, ("GET", "500"): 4})
        self.assert_http(*self.http_sides()[0])

    def test_https_counts(self):
        self.assertEqual(expected_http(HTTPS_PHASE), {("GET", "200"): 10, ("GET", "500"): 2})
        self.assert_http(*self.http_sides()[1])

    def test_dns_counts_by_response_code(self):
        got = self.prom.by('sum by (dns_question_type, dns_response_code) (%s_count{server_port="%d", '
                           'service_name="%s"})' % (LOOKUP, self.dns_port, self.dig_name),
                           "dns_question_type", "dns_response_code")
        self.assertEqual(got, {("A", "NOERROR"): 3 * PHASES, ("A", "NXDOMAIN"): 1 * PHASES})
        # dnsmasq answered every lookup sent to its port (those above and its start-up check's), each once.
        asked = self.prom.by('sum by (dns_response_code) (%s_count{server_port="%d"})' % (LOOKUP, self.dns_port),
                             "dns_response_code")
        answered = self.prom.by('sum by (dns_response_code) (%s_count{server_port="%d", service_name="dnsmasq"})'
                                % (SERVED, self.dns_port), "dns_response_code")
        self.assertEqual(answered, asked)
        self.assertEqual(asked[("NXDOMAIN",)], 1 * PHASES)

    def test_grpc_counts(self):
        want = {("l7tap.test.Echo", "Unary", "0"): 4 * PHASES, ("l7tap.test.Echo", "Unary", "5"): 1 * PHASES}
        for metric in (RPC_SERVER, RPC_CLIENT):
            got = self.prom.by('sum by (rpc_service, rpc_method, rpc_grpc_status_code) (%s_count{server_port="%d"})'
                               % (metric, self.grpc_port), "rpc_service", "rpc_method", "rpc_grpc_status_code")
            self.assertEqual(got, want, metric)
            self.assertEqual(self.prom.by('sum by (service_name) (%s_count{server_port="%d"})'
                                          % (metric, self.grpc_port), "service_name"),
                             {(self.grpc_name,): 5 * PHASES}, metric)

    # --- latency ------------------------------------------------------------------------------------------

    def test_median_latency_is_in_its_bucket(self):
        low, high = WORK_BUCKET
        for metric, service in ((SERVER, self.srv_name), (CLIENT, self.cli_name)):
            sel = '{server_port="%d", service_name="%s", http_route="%s"}' % (self.http_port, service, WORK_ROUTE)
            for expr in ("histogram_quantile(0.5, sum by (le) (%s_bucket%s))" % (metric, sel),
                         "histogram_quantile(0.5, sum by (le) (rate(%s_bucket%s[5m])))" % (metric, sel)):
                (q,) = self.prom.by(expr).values()
                self.assertTrue(low < q <= high, "%s = %r, want within (%g, %g]" % (expr, q, low, high))
            (mean,) = self.prom.by("sum(%s_sum%s) / sum(%s_count%s)" % (metric, sel, metric, sel)).values()
            self.assertTrue(WORK_SECONDS <= mean <= high, "%s mean %r" % (metric, mean))
            # Every one of them in that bucket: none at or below its lower bound, all at or below its upper.
            les = self.prom.by("sum by (le) (%s_bucket%s)" % (metric, sel), "le")
            n = 4 * PHASES
            self.assertEqual({float(le): v for (le,), v in les.items() if float(le) in (low, high)},
                             {low: 0, high: n}, metric)

    def test_buckets_flag_sets_the_le_values(self):
        def bounds(metric, port, service):
            les = self.prom.by('count by (le) (%s_bucket{server_port="%d", service_name="%s"})'
                               % (metric, port, service), "le")
            return sorted(float(le) for (le,) in les)
        every = BUCKETS + [math.inf]
        self.assertEqual(bounds(SERVER, self.http_port, self.srv_name), every)
        self.assertEqual(bounds(CLIENT, self.https_port, self.tls_cli_name), every)
        self.assertEqual(bounds(SERVED, self.dns_port, "dnsmasq"), every)
        self.assertEqual(bounds(LOOKUP, self.dns_port, self.dig_name), DNS_BUCKETS + [math.inf])

    # --- the rules of deploy/prometheus -------------------------------------------------------------------

    def test_promtool_check_rules(self):
        r = subprocess.run([PROMTOOL, "check", "rules", RULES], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS: %d rules found" % rule_count(), r.stdout)

    def test_every_rule_loads_and_evaluates(self):
        rules = self.prom.rules()
        self.assertEqual(len(rules), rule_count())
        self.assertEqual([r for r in rules if r[2] != "ok"], [], "rules that failed to evaluate")

    def rule(self, record, **labels):
        sel = ", ".join('%s="%s"' % kv for kv in sorted(labels.items()))
        got = self.prom.query("%s{%s}" % (record, sel))
        self.assertEqual(len(got), 1, "%s{%s}: %r" % (record, sel, got))
        return got[0][1]

    def test_recording_rules_values(self):
        # Per service and route: 5xx over all requests (plain: 2 of 10 on /{page}; HTTPS: 1 of 1), none on "/".
        for _, traffic, server, client in self.http_sides():
            page = [(n, status_of(path)) for _, n, path in traffic if path not in ("/", WORK_PATH)]
            ratio = sum(n for n, status in page if status.startswith("5")) / sum(n for n, _ in page)
            for record, service, extra in (("service_route:http_server_errors:ratio_rate5m", server, {}),
                                           ("service_route:http_client_errors:ratio_rate5m", client,
                                            {"server_address": "127.0.0.1"})):
                self.assertAlmostEqual(self.rule(record, service_name=service, http_route=PAGE_ROUTE, **extra),
                                       ratio, places=9, msg=record)
                self.assertEqual(self.rule(record, service_name=service, http_route="/", **extra), 0, record)
        # Rates: every series grew alike, so they keep the traffic's proportions (10 on /{page} to 6 on /).
        rate = "service_route:http_server_requests:rate5m"
        page = self.rule(rate, service_name=self.srv_name, http_route=PAGE_ROUTE)
        root = self.rule(rate, service_name=self.srv_name, http_route="/")
        self.assertGreater(root, 0)
        self.assertAlmostEqual(page / root, 10 / 6, places=9)
        # 1 gRPC call in 5 ended NOT_FOUND.
        self.assertAlmostEqual(self.rule("service_method:rpc_server_errors:ratio_rate5m", service_name=self.grpc_name,
                                         rpc_service="l7tap.test.Echo", rpc_method="Unary"), 0.2, places=9)
        # 1 lookup in 4 was NXDOMAIN.
        self.assertAlmostEqual(self.rule("service:dns_lookup_errors:ratio_rate5m", service_name=self.dig_name), 0.25,
                               places=9)
        low, high = WORK_BUCKET
        for record, service in (("service_route:http_server_request_duration_seconds:p99_rate5m", self.srv_name),
                                ("service_route:http_server_request_duration_seconds:p50_rate5m", self.srv_name),
                                ("service_route:http_client_request_duration_seconds:p99_rate5m", self.cli_name)):
            extra = {"server_address": "127.0.0.1"} if "client" in record else {}
            q = self.rule(record, service_name=service, http_route=WORK_ROUTE, **extra)
            self.assertTrue(low < q <= high, "%s = %r" % (record, q))

    # --- the exposition itself ----------------------------------------------------------------------------

    def exposition(self):
        import urllib.request
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.agent.port, timeout=5) as r:
            return r.read()

    def test_promtool_check_metrics(self):
        text = self.exposition()
        self.assertIn(b"dns_lookup_duration_seconds_bucket", text)  # the traffic's histograms are in it
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout.decode() + r.stderr.decode()), (0, ""))

    def test_dashboard_queries_only_exported_metrics(self):
        families = dashboard_check.exposition_families(self.exposition().decode())
        problems = dashboard_check.check(dashboard_check.load(DASHBOARD), families,
                                         dashboard_check.source_families(REPO))
        self.assertEqual(problems, [])
        # And the check is not vacuous: a misspelt metric in a panel is reported.
        broken = dashboard_check.load(DASHBOARD)
        panel = next(p for p in dashboard_check.panels(broken) if p.get("targets"))
        panel["targets"][0]["expr"] = panel["targets"][0]["expr"].replace("_seconds", "_secs", 1)
        problems = dashboard_check.check(broken, families, dashboard_check.source_families(REPO))
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("_secs_count is not a metric l7tap exports", problems[0])


if __name__ == "__main__":
    unittest.main()
