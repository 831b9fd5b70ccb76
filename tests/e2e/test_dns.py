"""End to end, as root: DNS lookups against a dnsmasq on loopback, from dig (UDP and TCP), glibc's resolver
(getaddrinfo sends A and AAAA in one sendmmsg; res_query), Go's resolver and a client pipelining queries on one
TCP connection. Every lookup sent must show up exactly once, with its type and response code."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from l7tap_harness import Agent, FIXTURES, free_port, missing_dependency, run, stop_process

LOOKUP = "dns_lookup_duration_seconds_count"
SERVED = "dns_server_request_duration_seconds_count"
GO_DIR = os.path.join(FIXTURES, "go")


def free_udp_tcp_port():
    """A port free for both TCP (free_port checks it) and UDP."""
    import socket
    while True:
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue


class Dnsmasq:
    """Debian's dnsmasq on 127.0.0.1:port: a.test (A + AAAA), b.test (A only), big.test (a TXT record too big
    for 512 bytes), nx.test and any other *.test name NXDOMAIN; nothing is forwarded."""

    def __init__(self, port):
        self.port = port
        self.proc = subprocess.Popen(
            ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=%d" % port, "--listen-address=127.0.0.1",
             "--bind-interfaces", "--no-resolv", "--no-hosts", "--host-record=a.test,10.0.0.1,fd00::1",
             "--host-record=b.test,10.0.0.2", "--address=/nx.test/", "--local=/test/", "--user=root",
             "--txt-record=big.test,%s,%s,%s" % ("x" * 250, "y" * 250, "z" * 250),  # > 512 bytes: TC over UDP
             "--pid-file="],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:  # answering means ready
            r = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+short", "+tries=1", "+timeout=1",
                                "a.test"], capture_output=True, text=True)
            if r.stdout.strip() == "10.0.0.1":
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("dnsmasq did not start: %s" % self.proc.stderr.read().decode())
            time.sleep(0.1)

    def stop(self):
        stop_process(self.proc)
        self.proc.stderr.close()


class DnsTest(unittest.TestCase):
    """One agent and one dnsmasq for the class; the agent treats the dnsmasq port (and a silent one) as DNS."""

    @classmethod
    def setUpClass(cls):
        if not shutil.which("dnsmasq") or not shutil.which("dig"):
            missing_dependency("dnsmasq and dig are needed (make deps installs dnsmasq-base, bind9-dnsutils)")
        cls.port = free_udp_tcp_port()
        cls.silent_port = free_udp_tcp_port()
        cls.agent = Agent("--dns-ports", str(cls.port), "--dns-ports", str(cls.silent_port), "--dns-timeout", "1")
        cls.server = Dnsmasq(cls.port)
        cls.before = cls.snapshot()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        code, _, err = cls.agent.stop()
        assert code == 0, err

    @classmethod
    def snapshot(cls):
        samples = cls.agent.scrape()
        return {(n, tuple(sorted(l.items()))): v for n, l, v in samples if n in (LOOKUP, SERVED)}

    def lookups(self, service, qtype=None, rcode=None, metric=LOOKUP):
        labels = {"service_name": service}
        if qtype:
            labels["dns_question_type"] = qtype
        if rcode:
            labels["dns_response_code"] = rcode
        return self.agent.value(metric, **labels)

    def expect(self, service, counts, metric=LOOKUP):
        """counts: {(type, rcode): n} added for `service` by what the test just did, and nothing else."""
        before = {k: self.lookups(service, *k, metric=metric) for k in counts}
        total_before = self.lookups(service, metric=metric)
        return before, total_before

    def check(self, service, counts, before, total_before, metric=LOOKUP):
        total = sum(counts.values())
        self.agent.wait_value(total_before + total, metric, service_name=service)
        for key, n in counts.items():
            self.assertEqual(self.lookups(service, *key, metric=metric) - before[key], n,
                             "%s %s %s" % (metric, service, key))
        self.assertEqual(self.lookups(service, metric=metric) - total_before, total, "extra lookups for " + service)

    def noise(self):
        return [self.agent.value(n) for n in ("l7tap_dns_malformed_total", "l7tap_dns_unmatched_responses_total",
                                              "l7tap_dns_stream_gaps_total", "l7tap_dns_truncated_captures_total")]

    def dig(self, *args):
        return run(["dig", "@127.0.0.1", "-p", str(self.port), "+tries=1", "+timeout=2", *args])

    def test_dig_udp_and_tcp(self):
        noise = self.noise()
        counts = {("A", "NOERROR"): 3, ("AAAA", "NOERROR"): 2, ("A", "NXDOMAIN"): 2, ("MX", "NOERROR"): 1}
        before, total = self.expect("dig", counts)
        served_before, served_total = self.expect("dnsmasq", counts, metric=SERVED)
        self.dig("a.test")
        self.dig("a.test", "AAAA")
        self.dig("+tcp", "a.test", "A")       # TCP: 2-byte framing
        self.dig("+tcp", "a.test", "AAAA")
        self.dig("nx.test")
        self.dig("+tcp", "missing.test")
        self.dig("b.test")
        self.dig("a.test", "MX")
        self.check("dig", counts, before, total)
        self.check("dnsmasq", counts, served_before, served_total, metric=SERVED)
        self.assertEqual(self.noise(), noise)

    def test_truncated_answer_then_tcp_retry(self):
        """Without EDNS a 750-byte TXT answer comes back truncated (TC) over UDP; dig retries over TCP: two
        lookups, both counted."""
        noise = self.noise()
        counts = {("TXT", "NOERROR"): 2}
        before, total = self.expect("dig", counts)
        out = self.dig("+noedns", "big.test", "TXT")
        self.assertIn("Truncated, retrying in TCP mode", out)
        self.check("dig", counts, before, total)
        self.assertEqual(self.noise(), noise)

    def test_glibc_getaddrinfo_and_res_query(self):
        noise = self.noise()
        client = os.path.join(FIXTURES, "dns_resolver_client")
        service = "dns_resolver_cl"  # the process name, as the kernel keeps it (15 characters)
        # getaddrinfo(AF_UNSPEC): A and AAAA together (one sendmmsg) per lookup.
        counts = {("A", "NOERROR"): 5 + 4, ("AAAA", "NOERROR"): 5, ("A", "NXDOMAIN"): 2, ("AAAA", "NXDOMAIN"): 2,
                  ("TXT", "NOERROR"): 4}
        before, total = self.expect(service, counts)
        base = [client, "--server", "127.0.0.1", "--port", str(self.port)]
        run(base + ["--mode", "getaddrinfo", "-n", "5", "a.test"])
        run(base + ["--mode", "getaddrinfo", "-n", "2", "nx.test"])
        run(base + ["--mode", "query", "--type", "A", "-n", "4", "b.test"])
        run(base + ["--mode", "query", "--type", "TXT", "-n", "4", "a.test"])
        self.check(service, counts, before, total)
        self.assertEqual(self.noise(), noise)

    def test_go_resolver(self):
        resolvers = sorted(f for f in os.listdir(GO_DIR) if f.endswith("-default-resolver"))
        self.assertTrue(resolvers, "no Go resolver fixtures were built")
        noise = self.noise()
        for name in resolvers:
            with self.subTest(resolver=name):
                service = name[:15]
                counts = {("A", "NOERROR"): 3, ("AAAA", "NOERROR"): 3, ("A", "NXDOMAIN"): 2, ("AAAA", "NXDOMAIN"): 2}
                before, total = self.expect(service, counts)
                server = "127.0.0.1:%d" % self.port
                run([os.path.join(GO_DIR, name), "-server", server, "-n", "3", "a.test"])
                run([os.path.join(GO_DIR, name), "-server", server, "-n", "2", "nx.test"])
                self.check(service, counts, before, total)
        self.assertEqual(self.noise(), noise)

    def test_tcp_pipelined_queries(self):
        noise = self.noise()
        client = os.path.join(FIXTURES, "dns_tcp_client")
        names = ["a.test", "b.test", "nx.test", "c.test", "a.test"]
        counts = {("A", "NOERROR"): 3, ("A", "NXDOMAIN"): 2}
        before, total = self.expect("dns_tcp_client", counts)
        run([client, "--server", "127.0.0.1", "--port", str(self.port), *names])
        self.check("dns_tcp_client", counts, before, total)
        self.assertEqual(self.noise(), noise)

    def test_unanswered_queries_are_counted(self):
        unanswered = self.agent.value("l7tap_dns_unanswered_total")
        answered = self.lookups("dig")
        n = 3
        for _ in range(n):  # nothing listens there: one query each, never answered
            subprocess.run(["dig", "@127.0.0.1", "-p", str(self.silent_port), "+tries=1", "+timeout=1", "a.test"],
                           capture_output=True, timeout=30)
        got = self.agent.wait_value(unanswered + n, "l7tap_dns_unanswered_total", settle=1.5)
        self.assertEqual(got, unanswered + n)
        self.assertEqual(self.lookups("dig"), answered, "an unanswered query became a lookup")

    def test_other_udp_is_not_copied(self):
        """UDP on a port that is not a DNS port costs a port test: DNS-looking datagrams there never reach the
        agent (no DNS message, malformed or not, no transaction)."""
        import socket
        def dns_counters():
            return [self.agent.value("l7tap_transactions_total", protocol="dns"),
                    self.agent.value("l7tap_dns_malformed_total"),
                    self.agent.value("l7tap_dns_unmatched_responses_total")]
        before = dns_counters()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            rx.bind(("127.0.0.1", 0))
            tx.connect(rx.getsockname())
            query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x04test\x00\x00\x01\x00\x01"
            answer = b"\x12\x34\x81\x80" + query[4:]
            for _ in range(50):
                tx.send(query)
                rx.recv(100)
                rx.sendto(answer, tx.getsockname())
                tx.recv(100)
        time.sleep(0.5)
        self.assertEqual(dns_counters(), before)


class DnsNameLabelTest(unittest.TestCase):
    """--dns-name-label: question names become a label, at most 100 per service (--max-values-per-service),
    the rest "_other"."""

    def test_names_capped_per_service(self):
        port = free_udp_tcp_port()
        agent = Agent("--dns-ports", str(port), "--dns-name-label")
        server = Dnsmasq(port)
        try:
            names = ["n%d.test" % i for i in range(105)]
            run([os.path.join(FIXTURES, "dns_resolver_client"), "--server", "127.0.0.1", "--port", str(port),
                 "--mode", "query", "--type", "A", *names])
            service = "dns_resolver_cl"
            agent.wait_value(len(names), LOOKUP, service_name=service)
            labelled = {l["dns_question_name"]: v for n, l, v in agent.scrape()
                        if n == LOOKUP and l.get("service_name") == service}
            self.assertEqual(sum(labelled.values()), len(names))
            self.assertEqual(labelled.get("_other"), 5)
            self.assertEqual(sorted(k for k in labelled if k != "_other"), sorted(names[:100]))
        finally:
            server.stop()
            code, _, err = agent.stop()
            self.assertEqual(code, 0, err)


if __name__ == "__main__":
    unittest.main()
