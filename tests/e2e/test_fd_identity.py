"""End to end, as root: sockets whose fds are replaced, duplicated, closed in ranges or at exec, passed to another
process, or moved by calls the probes do not copy, and processes whose threads exit or exec out of order. The
fd_games fixture drives http_server (both traced); counts must be exact."""
import unittest

from l7tap_harness import Agent, Server, fixture, free_port, run

SERVER_HIST = "http_server_request_duration_seconds_count"
CLIENT_HIST = "http_client_request_duration_seconds_count"


class FdIdentityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent("--syscall-probes=tracepoint")

    @classmethod
    def tearDownClass(cls):
        code, _, err = cls.agent.stop()
        assert code == 0, "l7tap did not exit cleanly on SIGTERM: %s" % err

    def setUp(self):
        self.port = free_port()
        self.server = Server([fixture("http_server"), "--port", str(self.port)], self.port)

    def tearDown(self):
        self.server.stop()

    def games(self, scenario, count):
        out = run([fixture("fd_games"), "--scenario", scenario, "--port", str(self.port), "--count", str(count)])
        self.assertEqual(out.split(), ["ok"])

    def server_count(self, expected, status=200, route="/"):
        return self.agent.wait_value(expected, SERVER_HIST, service_name="http_server", server_port=self.port,
                                     http_response_status_code=status, http_route=route)

    def client_count(self, status=None, route=None):
        labels = dict(service_name="fd_games", server_port=self.port)
        if status is not None:
            labels["http_response_status_code"] = status
        if route is not None:
            labels["http_route"] = route
        return self.agent.value(CLIENT_HIST, **labels)

    def marked(self, reason):
        return self.agent.value("l7tap_stream_gaps_marked_total", reason=reason)

    def assert_replaced_fd_ended(self, scenario):
        # 5 exchanges, a sixth request whose answer stays unread in the socket, then the fd holds a file whose
        # bytes look like a response: they belong to no connection.
        self.games(scenario, 5)
        self.assertEqual(self.server_count(6), 6)
        self.assertEqual(self.agent.wait_value(5, CLIENT_HIST, service_name="fd_games", server_port=self.port), 5)
        self.assertEqual(self.client_count(status=599), 0, "a file's bytes were taken for the connection's")

    def test_dup2_onto_a_followed_socket_ends_its_connection(self):
        self.assert_replaced_fd_ended("dup2-file")

    def test_dup3_onto_a_followed_socket_ends_its_connection(self):
        self.assert_replaced_fd_ended("dup3-file")

    def test_close_range_ends_the_connections_in_range(self):
        self.assert_replaced_fd_ended("close-range")

    def test_close_range_cloexec_only_marks(self):
        self.games("close-range-cloexec", 5)
        self.assertEqual(self.server_count(10), 10)
        self.assertEqual(self.agent.wait_value(10, CLIENT_HIST, service_name="fd_games", server_port=self.port), 10)

    def test_dup_makes_both_fds_marked_never_misframed(self):
        # 5 whole exchanges on A; after d = dup(A) every response's head is read on A and its body on d. Neither
        # fd sees a whole stream: what follows the dup is marked, so no transaction is made of its pieces.
        shared = self.marked("fd_shared")
        self.games("dup-split", 5)
        self.assertEqual(self.server_count(10), 10)
        self.assertEqual(self.agent.wait_value(5, CLIENT_HIST, service_name="fd_games", server_port=self.port), 5)
        self.assertEqual(self.marked("fd_shared") - shared, 1)

    def test_dup_then_close_of_the_original_leaves_one_whole_stream(self):
        # d = dup(A), close(A): from the close d holds the whole stream; one gap per direction says where it
        # began (not one per event, as while both fds were open). Gaps are counted node-wide: traffic of other
        # processes with holes of their own at the same time would show here.
        shared, gaps = self.marked("fd_shared"), self.agent.value("l7tap_stream_gaps_total")
        self.games("dup-then-close", 5)
        self.assertEqual(self.server_count(10), 10)
        self.assertEqual(self.agent.wait_value(10, CLIENT_HIST, service_name="fd_games", server_port=self.port), 10)
        self.assertEqual(self.marked("fd_shared") - shared, 1)
        self.assertEqual(self.agent.value("l7tap_stream_gaps_total") - gaps, 2)

    def assert_exec(self, scenario):
        # A (close-on-exec) and B (inherited): 4 exchanges each, a fifth request on A unanswered, then execve:
        # A's connection ends there (the fake file then opened at its number is no socket of it), B's goes on
        # in the new image (4 more exchanges), same process.
        self.games(scenario, 4)
        self.assertEqual(self.server_count(13), 13)
        self.assertEqual(self.agent.wait_value(12, CLIENT_HIST, service_name="fd_games", server_port=self.port), 12)
        self.assertEqual(self.client_count(status=599), 0, "a file's bytes were taken for a closed socket's")

    def test_exec_closes_cloexec_sockets_and_keeps_inherited_ones(self):
        self.assert_exec("exec")

    def test_exec_from_a_non_leader_thread(self):
        # The exec'ing thread becomes the leader; the old leader's end is no process exit.
        self.assert_exec("exec-thread")

    def test_fd_passed_over_a_unix_socket(self):
        # 5 exchanges by the sender, then 5 by the child it passed the socket to: two connections, both traced.
        self.games("scm-rights", 5)
        self.assertEqual(self.server_count(10), 10)
        self.assertEqual(self.agent.wait_value(10, CLIENT_HIST, service_name="fd_games", server_port=self.port), 10)

    def test_splice_is_a_counted_hole_not_a_misframing(self):
        # 4 requests for /notfound whose responses go through a pipe (splice: never copied), then 4 plain
        # exchanges for /: the plain ones pair with their own requests.
        spliced = self.marked("splice")
        self.games("splice", 4)
        self.assertEqual(self.server_count(4, status=404, route="/notfound"), 4)
        self.assertEqual(self.server_count(4), 4)
        self.assertEqual(self.agent.wait_value(4, CLIENT_HIST, service_name="fd_games", server_port=self.port,
                                               http_route="/"), 4)
        self.assertEqual(self.client_count(route="/notfound", status=200), 0, "a request paired with another's answer")
        self.assertEqual(self.client_count(route="/", status=404), 0, "a request paired with another's answer")
        self.assertEqual(self.marked("splice") - spliced, 4)  # each response in one write, spliced in one call

    def test_io_uring_reads_are_marked_not_misframed(self):
        # 4 requests for /notfound whose responses are read by io_uring (no syscall the probes copy), then 4
        # plain exchanges for /: the submissions mark the hole, so the plain ones pair with their own requests.
        marked = self.marked("io_uring")
        self.games("io-uring", 4)
        self.assertEqual(self.server_count(4, status=404, route="/notfound"), 4)
        self.assertEqual(self.server_count(4), 4)
        self.assertEqual(self.agent.wait_value(4, CLIENT_HIST, service_name="fd_games", server_port=self.port,
                                               http_route="/"), 4)
        self.assertEqual(self.client_count(route="/notfound", status=200), 0, "a request paired with another's answer")
        self.assertEqual(self.client_count(route="/", status=404), 0, "a request paired with another's answer")
        self.assertEqual(self.marked("io_uring") - marked, 4)  # one receive per response (one write each)

    def test_preadv2_and_pwritev2_are_followed(self):
        self.games("preadv2", 6)
        self.assertEqual(self.server_count(6, status=404, route="/notfound"), 6)
        self.assertEqual(self.agent.wait_value(6, CLIENT_HIST, service_name="fd_games", server_port=self.port,
                                               http_response_status_code=404), 6)


class LeaderExitTest(unittest.TestCase):
    """A server whose main thread pthread_exit()s while its worker thread serves: the process goes on."""

    def test_leader_thread_exit_is_not_the_process_exit(self):
        agent = Agent("--syscall-probes=tracepoint")
        port = free_port()
        server = None
        try:
            server = Server([fixture("fd_games"), "--scenario", "leader-exit-server", "--port", str(port)], port)
            self.assertEqual(run([fixture("http_client"), "--port", str(port), "--mode", "keepalive", "--count",
                                  "10"]).split(), ["ok", "10"])
            self.assertEqual(run([fixture("http_client"), "--port", str(port), "--mode", "oneshot", "--count",
                                  "5"]).split(), ["ok", "5"])
            labels = dict(server_port=port, http_response_status_code=200)
            self.assertEqual(agent.wait_value(15, SERVER_HIST, service_name="fd_games", **labels), 15)
            self.assertEqual(agent.wait_value(15, CLIENT_HIST, service_name="http_client", **labels), 15)
        finally:
            if server:
                server.stop()
            self.assertEqual(agent.stop()[0], 0)


if __name__ == "__main__":
    unittest.main()
