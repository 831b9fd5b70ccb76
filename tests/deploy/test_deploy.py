"""deploy/: the Prometheus rules pass promtool (syntax, and the alerts' behaviour on synthetic series in
l7tap.rules.test.yml), and the Grafana dashboard is valid JSON whose every query names metrics the agent's
sources define (test_prometheus.py checks them against a live agent's /metrics too)."""
import copy
import os
import subprocess
import unittest

import dashboard_check

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
RULES = os.path.join(REPO, "deploy/prometheus/l7tap.rules.yml")
RULE_TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "l7tap.rules.test.yml")
DASHBOARD = os.path.join(REPO, "deploy/grafana/l7tap.json")
PROMTOOL = "/usr/bin/promtool"


def promtool(*args):
    if not os.path.exists(PROMTOOL):
        raise AssertionError("promtool is missing (make deps installs prometheus)")
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120)


class RulesTest(unittest.TestCase):
    def test_check_rules(self):
        r = promtool("check", "rules", RULES)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(RULES) as f:
            n = sum(1 for line in f if line.strip().startswith(("- record:", "- alert:")))
        self.assertIn("SUCCESS: %d rules found" % n, r.stdout)

    def test_alerts_fire_on_synthetic_series(self):
        r = promtool("test", "rules", RULE_TESTS)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout)


class DashboardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dashboard = dashboard_check.load(DASHBOARD)
        cls.source = dashboard_check.source_families(REPO)

    def families(self):
        """Every source name taken as a family of the type its name says (histograms end in _seconds)."""
        return {n: "histogram" if n.endswith("_seconds") else "counter" for n in self.source}

    def test_every_query_names_a_metric_of_the_sources(self):
        self.assertEqual(dashboard_check.check(self.dashboard, self.families(), self.source), [])

    def test_panels_have_queries_and_unique_ids(self):
        panels = [p for p in dashboard_check.panels(self.dashboard) if p["type"] != "row"]
        self.assertGreaterEqual(len(panels), 20)
        self.assertEqual([p["title"] for p in panels if not p.get("targets")], [])
        ids = [p["id"] for p in dashboard_check.panels(self.dashboard)]
        self.assertEqual(len(ids), len(set(ids)))

    def test_a_misspelt_metric_is_reported(self):
        broken = copy.deepcopy(self.dashboard)
        target = dashboard_check.panels(broken)[1]["targets"][0]
        target["expr"] = target["expr"].replace("http_server_request_duration_seconds_count",
                                                "http_server_request_duration_second_count")
        problems = dashboard_check.check(broken, self.families(), self.source)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("http_server_request_duration_second_count is not a metric l7tap exports", problems[0])

    def test_metric_names(self):
        names = dashboard_check.metric_names
        self.assertEqual(names('sum by (le, service_name) (rate(a_bucket{x=~"b|c(", y="$v"}[$__rate_interval]))'),
                         {"a_bucket"})
        self.assertEqual(names("a / on (x) group_left (y) b and c offset 5m > bool 0.5 * $var"), {"a", "b", "c"})
        self.assertEqual(names("histogram_quantile(0.99, sum(rate(h_bucket[5m])) by (le))"), {"h_bucket"})
        self.assertEqual(names('count(up{job="l7tap"} == 0)'), {"up"})


if __name__ == "__main__":
    unittest.main()
