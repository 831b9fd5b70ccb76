"""End to end, as root: --print's lines from a live agent. Query strings never appear unless
--print-full-target; --format json gives one object per transaction with the documented fields, counted
exactly against the traffic sent (HTTP from the fixture client to the fixture server, DNS from dig to a
dnsmasq)."""
import collections
import json
import unittest

from l7tap_harness import Agent, Server, fixture, free_port, run
from test_dns import Dnsmasq, free_udp_tcp_port

SERVER_COUNT = "http_server_request_duration_seconds_count"
CLIENT_COUNT = "http_client_request_duration_seconds_count"


class PrintTest(unittest.TestCase):
    def setUp(self):
        self.port = free_port()
        self.server = Server([fixture("http_server"), "--port", str(self.port)], self.port)
        self.agent = None

    def tearDown(self):
        if self.agent:
            self.agent.stop()
        self.server.stop()

    def client(self, count, path, status):
        out = run([fixture("http_client"), "--port", str(self.port), "--mode", "keepalive", "--count", str(count),
                   "--path", path, "--expect-status", str(status)])
        self.assertEqual(out.split(), ["ok", str(count)])

    def wait_both_sides(self, count):
        """Both sides' transactions on this port recorded (so their lines were printed: print follows record)."""
        server = self.agent.wait_value(count, SERVER_COUNT, server_port=self.port, settle=0.3)
        client = self.agent.wait_value(count, CLIENT_COUNT, server_port=self.port, settle=0.3)
        self.assertEqual((server, client), (count, count))

    def stop_agent(self):
        code, out, err = self.agent.stop()
        self.agent = None
        self.assertEqual(code, 0, err)
        return out

    def lines_of_port(self, out):
        return [l for l in out.splitlines() if "port=%d" % self.port in l]

    def test_text_hides_query_strings(self):
        self.agent = Agent()
        self.client(6, "/?token=secret-123&user=alice", 200)
        self.wait_both_sides(6)
        out = self.stop_agent()
        lines = self.lines_of_port(out)
        self.assertEqual(len(lines), 12, out)
        self.assertEqual(sum(" server " in l for l in lines), 6)
        for line in lines:
            self.assertIn(" GET /?… -> 200 ", line)
        self.assertNotIn("secret-123", out)
        self.assertNotIn("alice", out)

    def test_text_with_full_target_shows_them(self):
        self.agent = Agent("--print-full-target")
        self.client(4, "/?token=secret-123", 200)
        self.wait_both_sides(4)
        lines = self.lines_of_port(self.stop_agent())
        self.assertEqual(len(lines), 8)
        for line in lines:
            self.assertIn(" GET /?token=secret-123 -> 200 ", line)

    def json_records(self, out):
        records = [json.loads(l) for l in out.splitlines()]  # every line is one JSON object
        return [r for r in records if r.get("server.port") == self.port and r["type"] == "http"]

    def test_json_lines_count_the_traffic(self):
        self.agent = Agent("--format", "json")
        self.client(7, "/?token=secret-123", 200)
        self.client(3, "/error", 500)
        self.client(4, "/items/42", 200)
        self.wait_both_sides(14)
        out = self.stop_agent()
        self.assertNotIn("secret-123", out)
        records = self.json_records(out)
        got = collections.Counter((r["role"], r["service.name"], r["http.request.method"], r["url.path"],
                                   r["http.route"], r["http.response.status_code"]) for r in records)
        want = collections.Counter()
        for role, name in (("server", "http_server"), ("client", "http_client")):
            want[(role, name, "GET", "/", "/", 200)] = 7
            want[(role, name, "GET", "/error", "/error", 500)] = 3
            want[(role, name, "GET", "/items/42", "/items/{id}", 200)] = 4
        self.assertEqual(got, want)
        server = [r for r in records if r["role"] == "server"]
        client = [r for r in records if r["role"] == "client"]
        for r in records:
            self.assertEqual(r["network.protocol.name"], "http")
            self.assertEqual(r["network.protocol.version"], "1.1")
            self.assertEqual(r["url.scheme"], "http")
            self.assertEqual(r["process.executable.name"], r["service.name"])
            self.assertGreater(r["duration_ns"], 0)
            self.assertRegex(r["start_time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
            self.assertNotIn("url.query", r)
        self.assertEqual({r["process.pid"] for r in server}, {self.server.proc.pid})
        self.assertEqual({r.get("server.address") for r in client}, {"127.0.0.1"})
        self.assertNotIn("server.address", server[0])

    def test_json_with_full_target_has_url_query(self):
        self.agent = Agent("--format", "json", "--print-full-target")
        self.client(2, "/?token=secret-123", 200)
        self.wait_both_sides(2)
        records = self.json_records(self.stop_agent())
        self.assertEqual([(r["url.path"], r["url.query"]) for r in records], [("/", "token=secret-123")] * 4)


class PrintDnsTest(unittest.TestCase):
    def test_json_lines_of_lookups(self):
        port = free_udp_tcp_port()
        agent = Agent("--format", "json", "--dns-ports", str(port))
        dns = Dnsmasq(port)  # its readiness probe (dig a.test until answered) is traced too: counted below
        try:
            before = agent.wait_value(1, "dns_lookup_duration_seconds_count", server_port=port, settle=0.5)
            for name in ("a.test", "a.test", "a.test", "nx.test", "nx.test"):
                run(["dig", "@127.0.0.1", "-p", str(port), "+tries=1", "+timeout=2", name])
            agent.wait_value(before + 5, "dns_lookup_duration_seconds_count", server_port=port, settle=0.3)
            agent.wait_value(before + 5, "dns_server_request_duration_seconds_count", server_port=port, settle=0.3)
        finally:
            dns.stop()
            code, out, err = agent.stop()
        self.assertEqual(code, 0, err)
        records = [json.loads(l) for l in out.splitlines()]
        records = [r for r in records if r["type"] == "dns" and r["server.port"] == port]
        got = collections.Counter((r["role"], r["service.name"], r["dns.question.name"], r["dns.question.type"],
                                   r["dns.response_code"], r["network.transport"]) for r in records)
        self.assertEqual(before, 1, "Dnsmasq's readiness probe: one answered lookup")
        ready_probes = 1
        want = collections.Counter({
            ("client", "dig", "a.test", "A", "NOERROR", "udp"): 3 + ready_probes,
            ("server", "dnsmasq", "a.test", "A", "NOERROR", "udp"): 3 + ready_probes,
            ("client", "dig", "nx.test", "A", "NXDOMAIN", "udp"): 2,
            ("server", "dnsmasq", "nx.test", "A", "NXDOMAIN", "udp"): 2,
        })
        self.assertEqual(got, want)
        for r in records:
            if r["role"] == "client":
                self.assertEqual(r["server.address"], "127.0.0.1")
            else:
                self.assertEqual(r["client.address"], "127.0.0.1")
            self.assertFalse(r["dns.truncated"])


if __name__ == "__main__":
    unittest.main()
