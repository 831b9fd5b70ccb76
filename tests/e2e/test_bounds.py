"""End to end, as root: the bounded-state policy and exact loss accounting on a real agent.

Label cardinality under 20 000 user paths, a saturated ring buffer with every request accounted for, tables
at capacity, idle expiry, connections older than the agent, and a libssl deleted while a server runs it."""
import os
import re
import resource
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

from l7tap_harness import Agent, Nginx, Server, fixture, free_port, run, stop_process

SERVER_HIST = "http_server_request_duration_seconds"
CLIENT_HIST = "http_client_request_duration_seconds"
REQUESTS_LOST = "l7tap_http_requests_lost_total"


def series(agent, name, **labels):
    return [l for n, l, _ in agent.scrape() if n == name and all(l.get(k) == str(v) for k, v in labels.items())]


def table(agent, name, table_name, **labels):
    return agent.value(name, table=table_name, **labels)


def metrics_bytes(agent):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % agent.port, timeout=10) as r:
        return len(r.read())


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for %d" % pid)


def ring_rss_bytes(pid):
    """Resident bytes of the kernel's BPF ring buffer as mapped into the process: a fixed cost set by
    --ringbuf-mib (its data pages are mapped twice, so up to twice its size once the ring has wrapped), shared
    with the kernel, not memory the agent keeps per connection."""
    total, in_map = 0, False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                in_map = line.rstrip().endswith("anon_inode:bpf-map")
            elif in_map and line.startswith("Rss:"):
                total += int(line.split()[1]) * 1024
    return total


class RouteCardinalityTest(unittest.TestCase):
    """20 000 requests to /users/<name>/profile, 20 000 different names: every request counted, series
    bounded by the per-service route cap, /metrics under 1 MB; a --route pattern makes them one route."""

    COUNT = 20000

    def run_client(self, agent, port):
        out = run([fixture("http_client"), "--port", str(port), "--mode", "keepalive", "--count", str(self.COUNT),
                   "--path", "/users/{n}/profile", "--expect-status", "404"], timeout=300)
        self.assertEqual(out.split(), ["ok", str(self.COUNT)])
        server = agent.wait_value(self.COUNT, SERVER_HIST + "_count", service_name="http_server", server_port=port)
        client = agent.wait_value(self.COUNT, CLIENT_HIST + "_count", service_name="http_client", server_port=port)
        self.assertEqual((server, client), (self.COUNT, self.COUNT))

    def test_user_paths_are_capped_per_service(self):
        agent = Agent()
        port = free_port()
        server = Server([fixture("http_server"), "--port", str(port)], port)
        try:
            self.run_client(agent, port)
            for hist, service in ((SERVER_HIST, "http_server"), (CLIENT_HIST, "http_client")):
                routes = {l["http_route"] for l in series(agent, hist + "_count", service_name=service)}
                self.assertEqual(len(routes), 101, hist)  # 100 of its own, then "/_other"
                self.assertIn("/_other", routes)
                other = agent.value(hist + "_count", service_name=service, http_route="/_other")
                self.assertEqual(other, self.COUNT - 100)
            self.assertEqual(table(agent, "l7tap_table_evictions_total", "http_routes", reason="full"),
                             2 * (self.COUNT - 100))
            size = metrics_bytes(agent)
            self.assertLess(size, 1 << 20, "/metrics is %d bytes" % size)
            print("\n/metrics: %d bytes after %d requests to distinct user paths" % (size, self.COUNT))
        finally:
            server.stop()
            code, _, err = agent.stop()
            self.assertEqual(code, 0, err)
        # Logged once per service, not once per request.
        self.assertEqual(len(re.findall(r"distinct http_route values", err)), 2, err)

    def test_route_pattern_makes_one_route(self):
        agent = Agent("--route", "/users/{name}/profile")
        port = free_port()
        server = Server([fixture("http_server"), "--port", str(port)], port)
        try:
            self.run_client(agent, port)
            routes = {l["http_route"] for l in series(agent, SERVER_HIST + "_count", service_name="http_server")}
            self.assertEqual(routes, {"/users/{name}/profile"})
        finally:
            server.stop()
            code, _, err = agent.stop()
            self.assertEqual(code, 0, err)


class SaturationTest(unittest.TestCase):
    """A 4 KiB ring buffer under thousands of keep-alive requests from parallel clients: most events are
    lost, and still, for the traced server, requests sent = transactions + requests lost by reason, exactly."""

    CLIENTS = 16
    PER_CLIENT = 1250

    def test_every_request_is_counted_or_accounted_lost(self):
        port = free_port()
        server = Server([fixture("http_server"), "--port", str(port)], port)
        agent = Agent("--ringbuf-kib", "4", "--pid", str(server.proc.pid))
        try:
            clients = [subprocess.Popen([fixture("http_client"), "--port", str(port), "--mode", "keepalive",
                                         "--count", str(self.PER_CLIENT)], stdout=subprocess.PIPE, text=True)
                       for _ in range(self.CLIENTS)]
            sent = 0
            for c in clients:
                out, _ = c.communicate(timeout=300)
                self.assertEqual(c.returncode, 0)
                sent += int(out.split()[1])
            self.assertEqual(sent, self.CLIENTS * self.PER_CLIENT)
            # The server's end (and with it every connection whose close was lost) is what settles the books.
            server.stop()
            books = None
            for _ in range(100):  # until two scrapes agree
                time.sleep(0.2)
                now = (agent.value(SERVER_HIST + "_count", service_name="http_server"),
                       {l["reason"]: v for n, l, v in agent.scrape() if n == REQUESTS_LOST})
                if now == books and agent.value("l7tap_events_total", kind="process_exit") > 0:
                    break
                books = now
            counted, lost = books
            events_lost = agent.value("l7tap_events_lost_total", reason="ringbuf_full")
            events = agent.value("l7tap_events_total", kind="data")
            unmatched = agent.value("l7tap_http_unmatched_total", reason="response_without_request")
            gaps = agent.value("l7tap_stream_gaps_total")
            print("\nsaturation: %d requests sent by %d clients; data events delivered %d, dropped %d "
                  "(ring buffer full); stream gaps %d; responses to lost requests %d"
                  % (sent, self.CLIENTS, events, events_lost, gaps, unmatched))
            print("  transactions counted %d" % counted)
            for reason, v in sorted(lost.items()):
                print("  requests lost, %-13s %d" % (reason, v))
            print("  counted + lost = %d" % (counted + sum(lost.values())))
            self.assertGreater(events_lost, events / 2, "the ring buffer was not saturated")
            self.assertGreater(counted, 0)
            self.assertEqual(counted + sum(lost.values()), sent, lost)
        finally:
            server.stop()
            code, _, err = agent.stop()
            self.assertEqual(code, 0, err)


class IdleConnectionsTest(unittest.TestCase):
    """10 000 open keep-alive connections, both sides traced (nginx and the fixture client): the agent stays
    under 41 MB besides its ring buffer's mapping (16 MiB: the default ring, whose pages are mapped twice). Of it
    about 3.6 MB are the HTTP endpoint's libraries: libmicrohttpd brings GnuTLS (with nettle, gmp, p11-kit,
    libunistring), whose pages and initialisation (run at load, by libmicrohttpd too) cost that, TLS used or not."""

    CONNECTIONS = 10000

    def test_rss_with_ten_thousand_connections(self):
        agent = Agent()
        nginx = Nginx({"index.html": b"hello\n"}, worker_connections=2 * self.CONNECTIONS)
        holder = None
        try:
            holder = subprocess.Popen([fixture("http_client"), "--port", str(nginx.port), "--mode", "hold",
                                       "--connections", str(self.CONNECTIONS)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            line = holder.stdout.readline()
            self.assertEqual(line.split(), ["ok", str(self.CONNECTIONS)])
            server = agent.wait_value(self.CONNECTIONS, SERVER_HIST + "_count", service_name="nginx",
                                      server_port=nginx.port, timeout=60)
            client = agent.wait_value(self.CONNECTIONS, CLIENT_HIST + "_count", service_name="http_client",
                                      server_port=nginx.port, timeout=60)
            self.assertEqual((server, client), (self.CONNECTIONS, self.CONNECTIONS))
            followed = agent.wait_value(2 * self.CONNECTIONS, "l7tap_connections_open", timeout=30)
            self.assertGreaterEqual(followed, 2 * self.CONNECTIONS)
            rss, ring = rss_bytes(agent.proc.pid), ring_rss_bytes(agent.proc.pid)
            print("\nagent RSS with %d connections followed: %.1f MiB, of it %.1f MiB the ring buffer's mapping"
                  % (followed, rss / 2**20, ring / 2**20))
            self.assertLessEqual(ring, 2 * 8 * 2**20 + 2**20)  # the default 8 MiB ring, mapped twice, and its pages
            self.assertLessEqual(rss - ring, 41 * 10**6)
            self.assertGreaterEqual(table(agent, "l7tap_table_entries", "connections"), 2 * self.CONNECTIONS)
        finally:
            if holder:
                holder.stdin.close()
                holder.wait(timeout=60)
            nginx.stop()
            code, _, err = agent.stop()
            self.assertEqual(code, 0, err)


class TablesTest(unittest.TestCase):
    """Tables at capacity refuse and count; idle entries expire; every table reports its fill."""

    def test_full_connection_table_refuses_and_counts(self):
        port = free_port()
        server = Server([fixture("http_server"), "--port", str(port)], port)
        agent = Agent("--max-connections", "16", "--pid", str(server.proc.pid))
        holder = subprocess.Popen([fixture("http_client"), "--port", str(port), "--mode", "hold",
                                   "--connections", "40"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(holder.stdout.readline().split(), ["ok", "40"])
            # The first 16 connections the server accepted are followed: exactly their 16 requests count.
            self.assertEqual(agent.wait_value(16, SERVER_HIST + "_count", settle=1.0), 16)
            self.assertEqual(table(agent, "l7tap_table_capacity", "kernel_conns"), 16)
            refused = agent.value("l7tap_connections_untracked_total", reason="table_full")
            self.assertGreaterEqual(refused, 24)  # at least once for each of the other 24 connections
            time.sleep(5.5)  # a kernel sweep
            self.assertEqual(table(agent, "l7tap_table_entries", "kernel_conns"), 16)
            self.assertEqual(table(agent, "l7tap_table_evictions_total", "kernel_conns", reason="full"), refused)
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
            server.stop()
            code, _, err = agent.stop()
            self.assertEqual(code, 0, err)

    def test_idle_connections_expire_and_come_back_at_their_next_message(self):
        port = free_port()
        server = Server([fixture("http_server"), "--port", str(port)], port)
        agent = Agent("--conn-idle-timeout", "2", "--pid", str(server.proc.pid))
        request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        try:
            for c in conns:
                c.sendall(request)
                c.recv(4096)
            self.assertEqual(agent.wait_value(5, SERVER_HIST + "_count"), 5)
            # Past the timeout, a tracker sweep drops them, and the kernel's records with them.
            self.assertEqual(agent.wait_value(5, "l7tap_table_evictions_total", table="connections",
                                              reason="idle", timeout=30), 5)
            self.assertEqual(table(agent, "l7tap_table_evictions_total", "kernel_conns", reason="idle"), 5)
            for c in conns:  # followed again from their next message
                c.sendall(request)
                c.recv(4096)
            self.assertEqual(agent.wait_value(10, SERVER_HIST + "_count"), 10)
        finally:
            for c in conns:
                c.close()
            server.stop()
            code, _, err = agent.stop()
            self.assertEqual(code, 0, err)

    def test_every_table_reports_capacity_and_fill(self):
        agent = Agent()
        try:
            names = {l["table"] for n, l, _ in agent.scrape() if n == "l7tap_table_capacity"}
            self.assertEqual(names, {"kernel_conns", "kernel_muted", "kernel_ssl_fds", "kernel_go_calls",
                                     "kernel_go_offsets", "uprobe_detach_queue", "kernel_proc_verdicts", "kernel_sel_ports", "exec_untraced", "kernel_dns_ports", "connections",
                                     "http_sessions", "held_stream_bytes", "dns_pending", "metric_series",
                                     "http_routes", "rpc_methods",
                                     "server_addresses", "dns_question_names", "tls_traced_files",
                                     "inspected_files", "pending_rescans", "tls_pending", "tls_secrets",
                                     "kernel_known_files", "kernel_proc_files", "kernel_held", "discovery_queue", "symbolization_cache",
                                     "container_ids", "container_id_values"})
            for name in names:
                self.assertGreater(table(agent, "l7tap_table_capacity", name), 0, name)
        finally:
            code, _, err = agent.stop()
            self.assertEqual(code, 0, err)


class PreexistingConnectionTest(unittest.TestCase):
    """A keep-alive connection opened before the agent: its first complete request after start is counted,
    and every one after it; nothing before is guessed."""

    def test_counted_from_the_first_request_after_start(self):
        port = free_port()
        server = Server([fixture("http_server"), "--port", str(port)], port)
        conn = socket.create_connection(("127.0.0.1", port))
        agent = None
        try:
            request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            conn.sendall(request)
            conn.recv(4096)
            # Tracepoints: the server's read in flight at start is recovered at its exit (kretprobes would not
            # fire for it).
            agent = Agent("--syscall-probes=tracepoint", "--pid", str(server.proc.pid))
            for _ in range(5):
                conn.sendall(request)
                conn.recv(4096)
            self.assertEqual(agent.wait_value(5, SERVER_HIST + "_count", service_name="http_server"), 5)
            self.assertEqual(agent.value("l7tap_connections_without_open_total"), 0)  # the kernel saw it first
        finally:
            conn.close()
            server.stop()
            if agent:
                code, _, err = agent.stop()
                self.assertEqual(code, 0, err)


class DeletedLibsslTest(unittest.TestCase):
    """A server still running a libssl that was deleted on disk (upgraded under it): attached through the
    mapping itself."""

    def test_server_on_a_deleted_libssl_is_traced(self):
        tmp = tempfile.mkdtemp(prefix="l7tap-oldssl-")
        certs = os.path.join(tmp, "certs")
        os.makedirs(certs)
        for lib in ("libssl.so.3", "libcrypto.so.3"):
            shutil.copy("/usr/lib/x86_64-linux-gnu/" + lib, os.path.join(tmp, lib))
        run(["bash", os.path.join(os.path.dirname(__file__), "../../fixtures/make_cert.sh"), certs])
        port = free_port()
        env = dict(os.environ, LD_LIBRARY_PATH=tmp)
        server = subprocess.Popen([fixture("http_server"), "--port", str(port), "--tls",
                                   "--cert", os.path.join(certs, "cert.pem"), "--key", os.path.join(certs, "key.pem")],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        agent = None
        try:
            from l7tap_harness import wait_port
            wait_port(port)
            with open("/proc/%d/maps" % server.pid) as f:
                self.assertIn(os.path.join(tmp, "libssl.so.3"), f.read())
            os.unlink(os.path.join(tmp, "libssl.so.3"))
            agent = Agent("--pid", str(server.pid))
            out = run([fixture("http_client"), "--port", str(port), "--mode", "keepalive", "--count", "7", "--tls"])
            self.assertEqual(out.split(), ["ok", "7"])
            self.assertEqual(agent.wait_value(7, SERVER_HIST + "_count", service_name="http_server"), 7)
        finally:
            stop_process(server)
            shutil.rmtree(tmp, ignore_errors=True)
            if agent:
                code, _, err = agent.stop()
                self.assertEqual(code, 0, err)
                self.assertIn("libssl.so.3 (deleted)", err)


if __name__ == "__main__":
    unittest.main()
