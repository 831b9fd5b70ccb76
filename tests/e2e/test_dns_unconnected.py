"""End to end, as root: DNS over UDP sockets that are never connected. A client asks several servers from one
socket with sendto/recvfrom, sendmsg/recvmsg and sendmmsg/recvmmsg, over IPv4 and a dual-stack IPv6 socket
(the same query id to every server); dnsmasq answers with recvmsg/sendmsg, a Python server with
recvfrom/sendto, each on unconnected sockets; musl's resolver asks from an unconnected socket with sendto. Every
lookup must show up exactly once on each side, with its type, response code and the server it went to."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from l7tap_harness import Agent, FIXTURES, free_port, run, stop_process

LOOKUP = "dns_lookup_duration_seconds_count"
SERVED = "dns_server_request_duration_seconds_count"
CLIENT = "dns_sendto_clie"  # dns_sendto_client as the kernel keeps process names (15 characters)
MUSL = "dns_musl_client"
PY_SERVER = "dns_py_server"  # /usr/bin/python3 through a link of that name: the process has that name
DNSMASQ = "udp_dnsmasq"
MUSL_DNSMASQ = "musl_dnsmasq"

# recvfrom/sendto on two unconnected sockets (127.0.0.1 and ::1): answers every query with its question only,
# NXDOMAIN for names whose first label starts with "nx", else NOERROR.
PY_SERVER_CODE = r"""
import select, signal, socket, sys
port = int(sys.argv[1])
socks = []
for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((host, port))
    socks.append(s)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("ready", flush=True)
while True:
    for s in select.select(socks, [], [])[0]:
        query, peer = s.recvfrom(512)
        if len(query) < 13 or query[2] & 0x80:
            continue
        end = 12
        while query[end]:
            end += 1 + query[end]
        question = query[12:end + 5]
        rcode = 3 if question[1:3] == b"nx" else 0
        s.sendto(query[:2] + bytes([0x81, 0x80 | rcode]) + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question, peer)
"""


def free_dual_port():
    """A port free for TCP and UDP on 127.0.0.1 and ::1."""
    for _ in range(100):
        port = free_port()
        try:
            for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(family, kind) as s:
                        s.bind((host, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port on 127.0.0.1 and ::1")


def dnsmasq_argv(binary, port):
    """Debian's dnsmasq on 127.0.0.1 and ::1: a.test (A + AAAA), b.test (A only), every other *.test name
    NXDOMAIN; nothing is forwarded."""
    return [binary, "--no-daemon", "--conf-file=/dev/null", "--port=%d" % port, "--listen-address=127.0.0.1,::1",
            "--bind-interfaces", "--no-resolv", "--no-hosts", "--host-record=a.test,10.0.0.1,fd00::1",
            "--host-record=b.test,10.0.0.2", "--address=/nx.test/", "--local=/test/", "--user=root",
            "--pid-file="]


def answers(host, port):
    """Whether the DNS server at host:port answers a query for a.test (one try, 1 s)."""
    r = subprocess.run(["dig", "@" + host, "-p", str(port), "+short", "+tries=1", "+timeout=1", "a.test"],
                       capture_output=True, text=True, timeout=10)
    return r.stdout.strip() == "10.0.0.1"


class UnconnectedDnsTest(unittest.TestCase):
    """One agent, one dnsmasq (port p1) and one Python server (port p2) on 127.0.0.1 and ::1 for the class."""

    @classmethod
    def setUpClass(cls):
        for tool in ("dnsmasq", "dig", "unshare", "ip"):
            if not shutil.which(tool):
                raise AssertionError("%s is needed (make deps installs dnsmasq-base, bind9-dnsutils, iproute2)"
                                     % tool)
        cls.tmp = tempfile.mkdtemp(prefix="l7tap-udpdns-")
        cls.procs = []
        try:
            # Named links: the servers' processes have names of their own (other suites run dnsmasq too).
            for name, target in ((DNSMASQ, shutil.which("dnsmasq")), (MUSL_DNSMASQ, shutil.which("dnsmasq")),
                                 (PY_SERVER, "/usr/bin/python3")):
                os.symlink(target, os.path.join(cls.tmp, name))
            cls.p1, cls.p2 = free_dual_port(), free_dual_port()
            # 53: musl's resolver knows no other port (its test runs in a network namespace of its own).
            cls.agent = Agent("--dns-ports", str(cls.p1), "--dns-ports", str(cls.p2), "--dns-ports", "53",
                              "--dns-timeout", "1")
            cls.procs.append(subprocess.Popen(dnsmasq_argv(os.path.join(cls.tmp, DNSMASQ), cls.p1),
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            script = os.path.join(cls.tmp, "server.py")
            with open(script, "w") as f:
                f.write(PY_SERVER_CODE)
            py = subprocess.Popen([os.path.join(cls.tmp, PY_SERVER), script, str(cls.p2)], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
            cls.procs.append(py)
            if py.stdout.readline().strip() != "ready":
                raise RuntimeError("the Python DNS server did not start")
            deadline = time.monotonic() + 10
            while not (answers("127.0.0.1", cls.p1) and answers("::1", cls.p1)):
                if time.monotonic() > deadline:
                    raise RuntimeError("dnsmasq did not start")
                time.sleep(0.1)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for p in cls.procs:
            stop_process(p)
            if p.stdout:
                p.stdout.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if hasattr(cls, "agent"):
            code, _, err = cls.agent.stop()
            assert code == 0, err

    def snapshot(self, metric, service, keys):
        """Values of `metric` for `service` at each key of `keys` (dicts of labels), and the service's total."""
        return [self.agent.value(metric, service_name=service, **k) for k in keys], \
            self.agent.value(metric, service_name=service)

    def assert_counts(self, metric, service, counts, before):
        """counts: [(labels, n)] added for `service` since `before` (snapshot of the same keys), nothing else."""
        keys = [k for k, _ in counts]
        values, total_before = before
        want_total = total_before + sum(n for _, n in counts)
        self.agent.wait_value(want_total, metric, service_name=service)
        for (labels, n), was in zip(counts, values):
            self.assertEqual(self.agent.value(metric, service_name=service, **labels) - was, n,
                             "%s %s %s" % (metric, service, labels))
        self.assertEqual(self.agent.value(metric, service_name=service), want_total, "extra for " + service)

    def noise(self):
        return [self.agent.value(n) for n in ("l7tap_dns_malformed_total", "l7tap_dns_unmatched_responses_total",
                                              "l7tap_dns_truncated_captures_total", "l7tap_dns_retransmits_total",
                                              "l7tap_dns_peer_unreadable_total")]

    def client(self, *args):
        return run([os.path.join(FIXTURES, "dns_sendto_client"), *args])

    def check_client_run(self, args, lookups, served):
        """Runs the fixture; lookups: [(labels, n)] for it, served: {service: [(labels, n)]}."""
        noise = self.noise()
        unanswered = self.agent.value("l7tap_dns_unanswered_total")
        before = self.snapshot(LOOKUP, CLIENT, [k for k, _ in lookups])
        served_before = {s: self.snapshot(SERVED, s, [k for k, _ in c]) for s, c in served.items()}
        out = self.client(*args)
        self.assertEqual(len(out.splitlines()), sum(n for _, n in lookups), out)
        self.assert_counts(LOOKUP, CLIENT, lookups, before)
        for s, c in served.items():
            self.assert_counts(SERVED, s, c, served_before[s])
        self.assertEqual(self.noise(), noise)
        self.assertEqual(self.agent.value("l7tap_dns_unanswered_total"), unanswered)

    def test_sendto_ipv4_two_servers_one_socket(self):
        """sendto/recvfrom on an IPv4 socket: the same ids to dnsmasq and the Python server."""
        n = 3
        lookups = [({"server_address": "127.0.0.1", "server_port": str(p), "dns_question_type": "A",
                     "dns_response_code": rc}, k * n)
                   for p in (self.p1, self.p2) for rc, k in (("NOERROR", 2), ("NXDOMAIN", 1))]
        served = {DNSMASQ: [({"dns_question_type": "A", "dns_response_code": "NOERROR"}, 2 * n),
                            ({"dns_question_type": "A", "dns_response_code": "NXDOMAIN"}, n)],
                  PY_SERVER: [({"dns_question_type": "A", "dns_response_code": "NOERROR"}, 2 * n),
                              ({"dns_question_type": "A", "dns_response_code": "NXDOMAIN"}, n)]}
        self.check_client_run(["--family", "4", "--api", "sendto", "-n", str(n), "--server", "127.0.0.1:%d" % self.p1,
                               "--server", "127.0.0.1:%d" % self.p2, "a.test", "nx.test", "b.test"], lookups, served)

    def test_sendmsg_dual_stack_three_servers_one_socket(self):
        """sendmsg/recvmsg on one dual-stack IPv6 socket: dnsmasq over ::1 and over 127.0.0.1 (mapped), the
        Python server over ::1; the same ids to all three."""
        n = 2
        lookups = [({"server_address": addr, "server_port": str(p), "dns_question_type": "AAAA",
                     "dns_response_code": rc}, n)
                   for addr, p in (("::1", self.p1), ("127.0.0.1", self.p1), ("::1", self.p2))
                   for rc in ("NOERROR", "NXDOMAIN")]
        served = {DNSMASQ: [({"dns_question_type": "AAAA", "dns_response_code": rc}, 2 * n)
                            for rc in ("NOERROR", "NXDOMAIN")],
                  PY_SERVER: [({"dns_question_type": "AAAA", "dns_response_code": rc}, n)
                              for rc in ("NOERROR", "NXDOMAIN")]}
        self.check_client_run(["--family", "6", "--api", "msg", "--type", "AAAA", "-n", str(n),
                               "--server", "[::1]:%d" % self.p1, "--server", "127.0.0.1:%d" % self.p1,
                               "--server", "[::1]:%d" % self.p2, "a.test", "nx.test"], lookups, served)

    def test_sendmmsg_batches(self):
        """sendmmsg/recvmmsg, 10 queries a round in batches of at most 8: dnsmasq over ::1 and the Python
        server over 127.0.0.1 from one dual-stack socket, and the same over an IPv4 socket."""
        n = 2
        names = ["a.test", "b.test", "nx.test", "c.test", "d.test"]
        for family, first in (("6", "[::1]"), ("4", "127.0.0.1")):
            with self.subTest(family=family):
                addr = "::1" if family == "6" else "127.0.0.1"
                lookups = [({"server_address": addr, "server_port": str(self.p1), "dns_response_code": "NOERROR"},
                            2 * n),
                           ({"server_address": addr, "server_port": str(self.p1), "dns_response_code": "NXDOMAIN"},
                            3 * n),
                           ({"server_address": "127.0.0.1", "server_port": str(self.p2),
                             "dns_response_code": "NOERROR"}, 4 * n),
                           ({"server_address": "127.0.0.1", "server_port": str(self.p2),
                             "dns_response_code": "NXDOMAIN"}, n)]
                served = {DNSMASQ: [({"dns_response_code": "NOERROR"}, 2 * n),
                                    ({"dns_response_code": "NXDOMAIN"}, 3 * n)],
                          PY_SERVER: [({"dns_response_code": "NOERROR"}, 4 * n),
                                      ({"dns_response_code": "NXDOMAIN"}, n)]}
                self.check_client_run(["--family", family, "--api", "mmsg", "-n", str(n),
                                       "--server", "%s:%d" % (first, self.p1), "--server", "127.0.0.1:%d" % self.p2,
                                       *names], lookups, served)

    def test_other_udp_on_unconnected_sockets_is_not_copied(self):
        """An unconnected socket that asked a DNS server is followed for what it receives, but a DNS-looking
        datagram from a port that is not a DNS port is not DNS; unconnected sockets that never send to a DNS
        port are not followed at all."""
        query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x04test\x00\x00\x01\x00\x01"
        answer = b"\x12\x34\x81\x80" + query[4:]
        noise = self.noise()
        unanswered = self.agent.value("l7tap_dns_unanswered_total")
        mine = {"service_name": "python3", "server_port": str(self.p1)}
        asked = self.agent.value(LOOKUP, **mine)
        looked = self.agent.value(LOOKUP, service_name="python3")
        served = self.agent.value(SERVED, service_name="python3")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            for s in (a, b, c):
                s.bind(("127.0.0.1", 0))
                s.settimeout(5)
            a.sendto(query, ("127.0.0.1", self.p1))  # one real lookup
            self.assertEqual(a.recvfrom(512)[1], ("127.0.0.1", self.p1))
            for _ in range(20):
                b.sendto(answer, a.getsockname())  # an answer-looking datagram from a port that is not DNS
                a.recvfrom(512)
                b.sendto(query, c.getsockname())  # neither end is a DNS port
                c.recvfrom(512)
                c.sendto(answer, b.getsockname())
                b.recvfrom(512)
        self.assertEqual(self.agent.wait_value(asked + 1, LOOKUP, **mine), asked + 1)
        self.assertEqual(self.agent.value(LOOKUP, service_name="python3"), looked + 1)
        self.assertEqual(self.agent.value(SERVED, service_name="python3"), served)
        self.assertEqual(self.noise(), noise)
        self.assertEqual(self.agent.value("l7tap_dns_unanswered_total"), unanswered)

    def run_musl(self, nameservers, script_tail):
        """Runs `script_tail` in a network and mount namespace of its own, where a dnsmasq answers on
        127.0.0.1:53 and [::1]:53 and /etc/resolv.conf names `nameservers`."""
        resolv = os.path.join(self.tmp, "resolv.conf")
        with open(resolv, "w") as f:
            f.write("".join("nameserver %s\n" % ns for ns in nameservers) + "options timeout:5 attempts:1\n")
        script = os.path.join(self.tmp, "musl.sh")
        dnsmasq = " ".join(dnsmasq_argv(os.path.join(self.tmp, MUSL_DNSMASQ), 53))
        with open(script, "w") as f:
            f.write("""set -e
ip link set lo up
mount --bind {resolv} /etc/resolv.conf
{dnsmasq} >/dev/null 2>&1 &
pid=$!
trap 'kill $pid; wait $pid || true' EXIT
for i in $(seq 100); do
  if dig @127.0.0.1 +short +tries=1 +timeout=1 a.test | grep -q 10.0.0.1 &&
     dig @::1 +short +tries=1 +timeout=1 a.test | grep -q 10.0.0.1; then break; fi
  [ "$i" = 100 ] && {{ echo "dnsmasq did not start" >&2; exit 1; }}
  sleep 0.1
done
{tail}
""".format(resolv=resolv, dnsmasq=dnsmasq, tail=script_tail))
        return run(["unshare", "--net", "--mount", "--propagation", "private", "sh", script], timeout=120)

    def test_musl_resolver(self):
        """musl's getaddrinfo and res_query (a static musl-gcc program) from its unconnected sendto socket:
        exact counts by type and rcode, client and server side, against an IPv4 and an IPv6 nameserver."""
        musl = os.path.join(FIXTURES, "dns_musl_client")
        self.assertTrue(os.path.exists(musl), "dns_musl_client was not built: musl-gcc missing (make deps installs "
                                              "musl-tools)")
        runs = ("{m} --mode getaddrinfo -n 3 a.test\n{m} --mode getaddrinfo -n 2 nx.test\n"
                "{m} --mode query --type A -n 2 b.test\n{m} --mode query --type TXT -n 2 a.test\n").format(m=musl)
        counts = [({"dns_question_type": "A", "dns_response_code": "NOERROR"}, 3 + 2),
                  ({"dns_question_type": "AAAA", "dns_response_code": "NOERROR"}, 3),
                  ({"dns_question_type": "A", "dns_response_code": "NXDOMAIN"}, 2),
                  ({"dns_question_type": "AAAA", "dns_response_code": "NXDOMAIN"}, 2),
                  ({"dns_question_type": "TXT", "dns_response_code": "NOERROR"}, 2)]
        for ns in ("127.0.0.1", "::1"):
            with self.subTest(nameserver=ns):
                noise = self.noise()
                unanswered = self.agent.value("l7tap_dns_unanswered_total")
                at = {"server_address": ns, "server_port": "53"}
                lookups = [(dict(k, **at), n) for k, n in counts]
                before = self.snapshot(LOOKUP, MUSL, [k for k, _ in lookups])
                served_before = self.agent.value(SERVED, service_name=MUSL_DNSMASQ)
                dig_before = self.agent.value(LOOKUP, service_name="dig", server_port="53")
                out = self.run_musl([ns], runs)
                self.assertEqual(len(out.splitlines()), 3 + 2 + 2 + 2, out)
                self.assert_counts(LOOKUP, MUSL, lookups, before)
                # The server answered the lookups and the readiness checks (dig's, counted as its lookups).
                digs = self.agent.value(LOOKUP, service_name="dig", server_port="53") - dig_before
                self.assertGreaterEqual(digs, 2)
                total = sum(n for _, n in lookups)
                self.assertEqual(self.agent.wait_value(served_before + total + digs, SERVED,
                                                       service_name=MUSL_DNSMASQ), served_before + total + digs)
                self.assertEqual(self.noise(), noise)
                self.assertEqual(self.agent.value("l7tap_dns_unanswered_total"), unanswered)

    def test_musl_asks_two_nameservers_at_once(self):
        """With two nameservers musl sends every query to both from one dual-stack socket and returns at the
        first answers: every query sent is a lookup (its answer read) or unanswered (the socket closed first),
        each paired with its own server's answer."""
        musl = os.path.join(FIXTURES, "dns_musl_client")
        self.assertTrue(os.path.exists(musl), "dns_musl_client was not built (make deps installs musl-tools)")
        noise = self.noise()
        unanswered = self.agent.value("l7tap_dns_unanswered_total")
        looked = self.agent.value(LOOKUP, service_name=MUSL)
        served_before = self.agent.value(SERVED, service_name=MUSL_DNSMASQ)
        dig_before = self.agent.value(LOOKUP, service_name="dig", server_port="53")
        lookups = 4  # getaddrinfo: A and AAAA each
        out = self.run_musl(["127.0.0.1", "::1"], "%s --mode getaddrinfo -n %d a.test" % (musl, lookups))
        self.assertEqual(len(out.splitlines()), lookups, out)
        queries = 2 * 2 * lookups  # two questions to two servers per lookup
        digs = self.agent.value(LOOKUP, service_name="dig", server_port="53") - dig_before
        self.agent.wait_value(served_before + queries + digs, SERVED, service_name=MUSL_DNSMASQ)
        time.sleep(1.5)  # past --dns-timeout: whatever was not read is counted unanswered by now
        got = self.agent.value(LOOKUP, service_name=MUSL) - looked
        lost = self.agent.value("l7tap_dns_unanswered_total") - unanswered
        self.assertGreaterEqual(got, queries // 2)
        self.assertEqual(got + lost, queries)
        # Paired per server: a second server's answer to a query already answered would otherwise be unmatched
        # (and its query a retransmit).
        self.assertEqual(self.agent.value(SERVED, service_name=MUSL_DNSMASQ), served_before + queries + digs)
        self.assertEqual(self.noise(), noise)


if __name__ == "__main__":
    unittest.main()
