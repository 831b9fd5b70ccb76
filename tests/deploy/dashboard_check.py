"""Checks deploy/grafana/l7tap.json: every metric name in every PromQL expression (panels' targets, templating
queries) must be one l7tap exports. The exported names come from a live agent's /metrics (# TYPE lines);
families that only appear under conditions a test cannot cheaply create are allowed by name (CONDITIONAL, each
with why), and must still be named in the agent's sources."""
import glob
import json
import os
import re

# Families absent from /metrics until something specific happens (prometheus-cpp leaves a family without
# series out): allowed without being seen, if the agent's sources name them.
CONDITIONAL = {
    "l7tap_tls_connections_untraced_total": "only once a TLS connection could not be traced",
    "l7tap_kretprobes_missed_total": "kprobe backend on kernels 6.7+ only",
}
# Series Prometheus itself adds to every scrape.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

_SUFFIXES = {"histogram": ("_bucket", "_count", "_sum"), "summary": ("", "_count", "_sum")}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r'\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)')
_IDENT = re.compile(r'(?<![\w$.:])[a-zA-Z_:][a-zA-Z0-9_:]*')
_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset",
             "bool", "inf", "nan"}
_LABEL_VALUES = re.compile(r'^\s*label_values\((.*)\)\s*$', re.S)


def load(path):
    with open(path) as f:
        return json.load(f)


def panels(dashboard):
    """Every panel, those inside rows included."""
    out = []
    def walk(items):
        for p in items:
            out.append(p)
            walk(p.get("panels", []))
    walk(dashboard.get("panels", []))
    return out


def expressions(dashboard):
    """[(where, PromQL)]: every panel target's expr and every query variable's query."""
    out = []
    for p in panels(dashboard):
        for t in p.get("targets", []):
            out.append(("panel %r target %s" % (p.get("title"), t.get("refId")), t.get("expr", "")))
    for v in dashboard.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else q or ""
        m = _LABEL_VALUES.match(q)
        if m:  # label_values(label) or label_values(selector, label): only the selector names a metric
            args = m.group(1)
            q = args.rsplit(",", 1)[0] if "," in args else ""
        out.append(("variable %r" % v.get("name"), q))
    return out


def metric_names(expr):
    """Metric names an expression selects: identifiers outside strings, label matchers, ranges and grouping
    clauses that are neither keywords nor functions (followed by "("), nor Grafana variables."""
    e = _STRING.sub('""', expr)
    e = re.sub(r'\{[^}]*\}', ' ', e)
    e = re.sub(r'\[[^\]]*\]', ' ', e)
    e = _GROUPING.sub(' ', e)
    names = set()
    for m in _IDENT.finditer(e):
        if m.group(0).lower() in _KEYWORDS or e[m.end():].lstrip().startswith("("):
            continue
        names.add(m.group(0))
    return names


def exposition_families(text):
    """{family: type} from # TYPE lines of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[:2] == ["#", "TYPE"]:
            out[parts[2]] = parts[3]
    return out


def source_families(repo):
    """Quoted names in the agent's sources that look like metric names (a superset: label names too)."""
    names = set()
    for path in glob.glob(os.path.join(repo, "agent", "*.cpp")):
        with open(path) as f:
            names.update(re.findall(r'"((?:l7tap|http|rpc|dns)_[a-z0-9_]+)"', f.read()))
    return names


def series_names(families):
    """Names a query may select for these families: a histogram's _bucket, _count and _sum, etc."""
    out = set()
    for name, kind in families.items():
        for suffix in _SUFFIXES.get(kind, ("",)):
            out.add(name + suffix)
    return out


def check(dashboard, live, source):
    """Problems (strings), none when every name is exported. live: {family: type} from /metrics; source:
    source_families()."""
    problems = []
    for name in CONDITIONAL:
        if name not in source:
            problems.append("CONDITIONAL names %s, which the agent's sources do not" % name)
    conditional = {name: "histogram" if name.endswith("_seconds") else "counter" for name in CONDITIONAL
                   if name not in live}
    allowed = series_names(live) | series_names(conditional) | PROMETHEUS_SERIES
    exprs = expressions(dashboard)
    if not any(e for _, e in exprs):
        problems.append("no PromQL expressions found")
    for where, expr in exprs:
        if not expr.strip() and where.startswith("panel"):
            problems.append("%s: empty expression" % where)
        for name in sorted(metric_names(expr) - allowed):
            problems.append("%s: %s is not a metric l7tap exports" % (where, name))
    return problems
