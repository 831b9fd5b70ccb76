"""Debian's Prometheus server for the end-to-end tests: scrapes one l7tap agent every second from a temp dir,
optionally with rule files, and answers PromQL through its HTTP API."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from l7tap_harness import free_port, stop_process

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
JOB = "l7tap"  # the job name deploy/prometheus/l7tap.rules.yml expects

CONFIG = """global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: {rules}
scrape_configs:
  - job_name: {job}
    static_configs:
      - targets: ["127.0.0.1:{target}"]
"""


class Prometheus:
    """prometheus on 127.0.0.1 (a port of its own), TSDB and config in a temp dir removed by stop()."""

    def __init__(self, target_port, rule_files=()):
        self.dir = tempfile.mkdtemp(prefix="l7tap-prometheus-")
        self.port = free_port()
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(CONFIG.format(rules=json.dumps([os.path.abspath(r) for r in rule_files]), job=JOB,
                                  target=target_port))
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w+")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
            cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("prometheus exited: %s" % self.stop())
            try:
                with urllib.request.urlopen(self.url("/-/ready"), timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("prometheus not ready: %s" % self.stop())
            time.sleep(0.2)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def api(self, path, **params):
        with urllib.request.urlopen(self.url(path + "?" + urllib.parse.urlencode(params)), timeout=10) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise AssertionError("%s %r: %r" % (path, params, body))
        return body["data"]

    def query(self, expr):
        """Instant query -> [(labels, float value)] (vector results; NaN stays NaN)."""
        data = self.api("/api/v1/query", query=expr)
        if data["resultType"] != "vector":
            raise AssertionError("%s: expected a vector, got %s" % (expr, data["resultType"]))
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def by(self, expr, *labels):
        """Instant query -> {tuple of the labels' values: value}."""
        out = {}
        for metric, value in self.query(expr):
            key = tuple(metric.get(l, "") for l in labels)
            if key in out:
                raise AssertionError("%s: two results for %r" % (expr, key))
            out[key] = value
        return out

    def last_scrape(self):
        """Start time (Unix seconds) of the last scrape of the agent that succeeded, or 0."""
        # timestamp() of a selector is its sample's time (of anything else, the evaluation time).
        up = self.query('up{job="%s"}' % JOB)
        got = self.query('timestamp(up{job="%s"})' % JOB)
        return got[0][1] if got and up and up[0][1] == 1 else 0.0

    def wait_scrapes(self, after, count=2, timeout=30):
        """Waits until `count` scrapes have started after `after` (time.time()): what the agent had by then is
        in the TSDB, and rates over it have two points."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            t = self.last_scrape()
            if t > after and (not seen or t > seen[-1]):
                seen.append(t)
                if len(seen) >= count:
                    return seen[-1]
            time.sleep(0.2)
        raise TimeoutError("prometheus scraped the agent %d times after %.3f in %ds (want %d): %s"
                           % (len(seen), after, timeout, count, self.targets()))

    def wait_evaluation(self, record, after, timeout=30):
        """Waits until the recording rule `record` has a sample evaluated after `after` (Unix seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.query("max(timestamp(%s))" % record)
            if got and got[0][1] > after:
                return
            time.sleep(0.2)
        raise TimeoutError("%s not evaluated after %.3f within %ds" % (record, after, timeout))

    def targets(self):
        return [(t["scrapeUrl"], t["health"], t["lastError"]) for t in self.api("/api/v1/targets")["activeTargets"]]

    def rules(self):
        """[(group, rule name, health, last error)] of the rules loaded."""
        return [(g["name"], r["name"], r["health"], r.get("lastError", ""))
                for g in self.api("/api/v1/rules")["groups"] for r in g["rules"]]

    def stop(self):
        """Stops the server, removes its directory; returns its log."""
        stop_process(self.proc, timeout=20)
        self.log.seek(0)
        text = self.log.read()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return text
