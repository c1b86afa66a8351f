#!/usr/bin/python3
"""test_line_metrics.py: the Prometheus metrics of ca-server, the comm-terminal and the factory
terminal (issue 17 part 3), with the real programs, a private PostgreSQL cluster and mutual TLS
on loopback, scraped by Debian's `prometheus`:

- a few devices through the line (OK, a forced write failure then its re-scan, a scan that is no
  device number) and a TLS handshake refused at ca-server;
- TLS handshakes counted by what happened: plain TCP refused at the comm-terminal's and the
  factory terminal's TLS ports, a client without a certificate refused at the comm-terminal;
  fresh browser-like connections to the comm-terminal's console counted full, one that resumes
  its session counted resumed (by the /metrics text, exactly); the comm-terminal resuming its
  sessions to ca-server (resumed on both sides, through prometheus);
- each server's /metrics text passes `promtool check metrics` and a strict parser of the text
  format (version 0.0.4);
- prometheus, started with a generated configuration scraping the three /metrics addresses every
  second and a temporary storage folder, reads back (through /api/v1/query) what happened: packs
  issued per model equal to ca-server's certificates, reports received and receipts signed, OK
  and NG results at the comm-terminal and per-device times, scans and outcomes at the factory
  terminal, receipts held, no report queued, ca-server reachable, TLS handshakes, pool size;
- a request other than GET, a wrong path, an oversized and a malformed request are refused.

Without the prometheus package (deploy/install-deps.sh installs it) the test fails.

Usage: test_line_metrics.py CA_SERVER COMM_TERMINAL FACTORY_TERMINAL DEVICE_AGENT WSDL_DIR
"""
import json
import math
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from test_line import MODEL, Line, check, run_cases, wait_for  # noqa: E402
from certline_procs import free_port  # noqa: E402

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
JOBS = ("ca-server", "comm-terminal", "factory-terminal")
DEADLINE_S = 60  # for prometheus to start and to scrape what happened

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def parse_text(text):
    """A strict reader of the text format 0.0.4: every line a HELP, a TYPE or a sample of the
    family typed last (histogram samples with _bucket, _sum, _count); label values escaped;
    values numbers. Returns {(name, frozenset(labels.items())): value}."""
    samples, family, kind, seen = {}, None, None, set()
    check(text.endswith("\n"), "the text does not end with a newline")
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            family = line.split(" ")[2]
            check(family not in seen, "family %s twice" % family)
            seen.add(family)
            kind = None
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            check(len(parts) == 4 and parts[2] == family and
                  parts[3] in ("counter", "gauge", "histogram"), "bad TYPE line %r" % line)
            kind = parts[3]
            continue
        m = SAMPLE.match(line)
        check(m is not None and kind is not None, "bad line %r" % line)
        name, labels = m.group(1), {}
        suffixes = ("_bucket", "_sum", "_count") if kind == "histogram" else ("",)
        check(any(name == family + s for s in suffixes), "%s outside its family %s" % (name,
                                                                                    family))
        body = m.group(3) or ""
        at = 0
        while at < len(body):
            lm = LABEL.match(body, at)
            check(lm is not None, "bad labels in %r" % line)
            labels[lm.group(1)] = re.sub(r'\\(.)', lambda e: {"n": "\n"}.get(e.group(1),
                                                                            e.group(1)),
                                         lm.group(2))
            at = lm.end()
        check(name.endswith("_bucket") == ("le" in labels), "le misplaced in %r" % line)
        value = float(m.group(4))  # "+Inf", "NaN" and numbers
        check(not math.isnan(value), "NaN in %r" % line)
        samples[(name, frozenset(labels.items()))] = value
    return samples


def http_raw(port, data, read_timeout=10, finish=True):
    """Sends data to 127.0.0.1:port (then, if finish, ends its side) and returns what came back
    before the server closed (or reset) the connection."""
    reply = b""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        try:
            s.sendall(data)
            if finish:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server stopped reading: what it answered is below
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        except ConnectionResetError:
            pass
    return reply


class MetricsLine(Line):
    UNITS = 6

    def __init__(self, binaries, wsdl_dir, work, cluster):
        super().__init__(binaries, wsdl_dir, work, cluster)
        self.ports = {job: free_port() for job in JOBS}
        self.ca.write_config(self.ca.conninfo, limits=self.LIMITS,
                             metrics={"host": "127.0.0.1", "port": self.ports["ca-server"]})
        self.prometheus = None
        self.prom_dir = None

    def setup(self):
        self.console_port = free_port()
        # The CRL fetched a little less often than ca-server keeps an idle connection: each
        # fetch connects again, resuming the comm-terminal's session.
        self.CT_SETTINGS = {"report_interval_s": 1,
                            "crl_fetch_s": self.LIMITS["recv_timeout_s"] + 2,
                            "metrics": {"host": "127.0.0.1", "port": self.ports["comm-terminal"]},
                            "console": {"host": "127.0.0.1", "port": self.console_port}}
        self.FT_SETTINGS = {"metrics": {"host": "127.0.0.1",
                                        "port": self.ports["factory-terminal"]}}
        super().setup()

    def metrics_text(self, job):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.ports[job],
                                    timeout=10) as r:
            check(r.status == 200, "%s: /metrics answered %d" % (job, r.status))
            check(r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8",
                  "%s: content type %r" % (job, r.headers["Content-Type"]))
            return r.read().decode()

    # ---- the cases ----

    def devices_through_the_line(self):
        for n in (1, 2, 3):
            self.provision(self.number(n))
        number = self.number(4)
        d = self.device(number)
        d.serve("--once", "--fail-writes", "1")
        first = self.scan(number)
        check(first["result"] == "NG" and first.get("replacement_ready") is True,
              "forced write failure: %r" % first)
        check(self.scan(number)["result"] == "OK", "re-scan after NG")
        check(d.wait(timeout=60) == 0, "device-agent did not end after its OK write")
        check(self.scan("NOT A NUMBER")["result"] == "REJECTED", "a bad scan was not rejected")
        for n in (1, 2, 3, 4):
            self.check_in(self.number(n))  # its installation report reached ca-server
        # A handshake refused at ca-server: plain HTTP where TLS is expected.
        http_raw(self.ca.port, b"GET / HTTP/1.0\r\n\r\n")

    def handshake_counts(self, job):
        samples = parse_text(self.metrics_text(job))
        return {(dict(labels)["side"], dict(labels)["kind"]): value
                for (name, labels), value in samples.items()
                if name == "certline_tls_handshakes_total"}

    def handshakes_counted(self):
        """Refused handshakes at the comm-terminal and the factory terminal; console (browser)
        handshakes counted full when new, resumed when they resume, whatever no chain says."""
        check(self.ct.port != self.console_port, "the console shares the line's port")
        for port in (self.ct.port, self.ft.port):
            http_raw(port, b"GET / HTTP/1.0\r\n\r\n")  # plain TCP where TLS is expected
        anonymous = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        anonymous.check_hostname = False
        anonymous.verify_mode = ssl.CERT_NONE
        try:  # a TLS client without a certificate: the line's port asks for one
            with socket.create_connection(("127.0.0.1", self.ct.port), timeout=10) as raw:
                with anonymous.wrap_socket(raw) as s:
                    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    s.recv(100)
        except (ssl.SSLError, OSError):
            pass
        def console_login_page(context, session=None):
            """A request over a new connection, answered: the server's handshake is over."""
            with socket.create_connection(("127.0.0.1", self.console_port), timeout=10) as raw:
                with context.wrap_socket(raw, session=session) as s:
                    s.sendall(b"GET /login HTTP/1.0\r\n\r\n")
                    check(s.recv(100).startswith(b"HTTP/1.1 200 "), "no login page")
                    return s.session, s.session_reused

        before = self.handshake_counts("comm-terminal")
        for _ in range(3):  # each a new context: nothing to resume
            fresh = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            fresh.check_hostname = False
            fresh.verify_mode = ssl.CERT_NONE
            session, reused = console_login_page(fresh)
            check(not reused, "a new console connection resumed")
        check(console_login_page(fresh, session)[1],
              "the console did not resume an offered session")
        after = self.handshake_counts("comm-terminal")

        def grew(kind):
            return after.get(("server", kind), 0) - before.get(("server", kind), 0)
        check(grew("full") == 3 and grew("resumed") == 1,
              "console handshakes: full +%d, resumed +%d (before %r, after %r)" % (
                  grew("full"), grew("resumed"), before, after))

    def texts_well_formed(self):
        for job in JOBS:
            text = self.metrics_text(job)
            samples = parse_text(text)
            check(len(samples) > 5, "%s: %d samples" % (job, len(samples)))
            names = {name for name, _ in samples}
            check("certline_tls_handshakes_refused_total" in text and
                  all(n.startswith("certline_") for n in names), "%s: names %r" % (job, names))
            if PROMTOOL:
                r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
                check(r.returncode == 0, "%s: promtool check metrics: %s" % (job, r.stdout))
        ft = parse_text(self.metrics_text("factory-terminal"))
        check(ft[("certline_scans_total", frozenset())] == 6, "scans: %r" % ft)
        buckets = sorted((float(dict(k[1])["le"]), v) for k, v in ft.items()
                         if k[0] == "certline_scan_device_seconds_bucket")
        check([v for _, v in buckets] == sorted(v for _, v in buckets) and buckets[-1] ==
              (math.inf, 5.0), "device time buckets not cumulative: %r" % buckets)

    def refused_requests(self):
        port = self.ports["comm-terminal"]
        reply = http_raw(port, b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nxx")
        check(reply.startswith(b"HTTP/1.1 405 ") and b"Allow: GET\r\n" in reply,
              "POST: %r" % reply[:200])
        for path in (b"/", b"/metrics/x", b"/api/v1/query"):
            reply = http_raw(port, b"GET " + path + b" HTTP/1.1\r\n\r\n")
            check(reply.startswith(b"HTTP/1.1 404 "), "GET %s: %r" % (path, reply[:200]))
        reply = http_raw(port, b"GET /metrics HTTP/1.1\r\nX-Long: " + b"a" * 200000 + b"\r\n\r\n")
        check(reply == b"" or reply.startswith(b"HTTP/1.1 431 "),
              "oversized request: %r" % reply[:200])
        check(b"certline_" not in reply, "an oversized request was answered")
        reply = http_raw(port, b"\x16\x03\x01\x00\x05hello\r\n\r\n")
        check(reply.startswith(b"HTTP/1.1 400 "), "TLS hello: %r" % reply[:200])
        started = time.monotonic()
        # A request that never ends is dropped after the listener's timeout (2 s).
        reply = http_raw(port, b"GET /metrics HTTP/1.1\r\n", read_timeout=30, finish=False)
        check(reply == b"" and 1 < time.monotonic() - started < 15,
              "an unfinished request: %r after %.1f s" % (reply[:100],
                                                           time.monotonic() - started))
        check(self.metrics_text("comm-terminal").startswith("# HELP "), "no answer afterwards")

    def prometheus_reads_back(self):
        check(PROMETHEUS is not None, "no prometheus on PATH (deploy/install-deps.sh installs it)")
        self.start_prometheus()
        wait_for("every target up", lambda: len(self.query('up == 1')) == 3, DEADLINE_S)
        certs = dict(line.split("|") for line in self.cluster.psql(
            "ca", "SELECT model_code, count(*) FROM certificate GROUP BY model_code").split())
        check(certs == {MODEL: str(self.UNITS + 1), "A123": "2"}, "certificates: %r" % certs)
        for model, count in certs.items():
            self.expect('certline_packs_issued_total{job="ca-server",model="%s",'
                        'factory="comm.certline.test"}' % model, float(count))
        requests = float(self.cluster.psql("ca", "SELECT count(*) FROM batch_request").strip())
        check(requests >= 2, "batch requests: %r" % requests)  # the fetch, the replacement
        self.expect('certline_issuance_seconds_count{job="ca-server"}', requests)
        self.expect('certline_installation_reports_received_total{job="ca-server"}', 4.0)
        self.expect('certline_receipts_signed_total{job="ca-server"}', 4.0)
        self.expect('sum(certline_installation_reports_refused_total{job="ca-server"}) or '
                    'vector(0)', 0.0)
        self.expect('certline_line_results_total{job="comm-terminal",result="OK",'
                    'reason="written"}', 4.0)
        self.expect('certline_line_results_total{job="comm-terminal",result="NG",'
                    'reason="write_failed"}', 1.0)
        self.expect('certline_line_device_seconds_count{job="comm-terminal"}', 5.0)
        self.expect('certline_receipts_held_total{job="comm-terminal"}', 4.0)
        self.expect('certline_reports_queued{job="comm-terminal"}', 0.0)
        self.expect('certline_ca_server_reachable{job="comm-terminal"}', 1.0)
        self.expect('certline_last_fetch_timestamp_seconds{job="comm-terminal"} > 0 and '
                    'certline_last_fetch_timestamp_seconds{job="comm-terminal"} <= time()',
                    None)
        self.expect('certline_scans_total{job="factory-terminal"}', 6.0)
        for outcome, count in (("OK", 4.0), ("NG", 1.0), ("REJECTED", 1.0)):
            self.expect('sum(certline_scan_results_total{job="factory-terminal",outcome="%s"})'
                        % outcome, count)
        self.expect('certline_scan_device_seconds_count{job="factory-terminal"}', 5.0)
        self.expect('certline_scan_device_seconds_bucket{job="factory-terminal",le="+Inf"}', 5.0)
        for job in JOBS:
            self.expect('sum(certline_tls_handshakes_total{job="%s",side="server"}) > 0' % job,
                        None)
        self.expect('sum(certline_tls_handshakes_total{job="comm-terminal",side="client"}) > 0',
                    None)
        self.expect('sum(certline_tls_handshakes_total{job="factory-terminal",side="client"}) '
                    '> 0', None)
        self.expect('certline_tls_handshakes_refused_total{job="ca-server",side="server",'
                    'reason="handshake"} > 0', None)
        for job in ("comm-terminal", "factory-terminal"):  # handshakes_counted's plain TCP
            self.expect('certline_tls_handshakes_refused_total{job="%s",side="server",'
                        'reason="handshake"} > 0' % job, None)
        self.expect('certline_tls_handshakes_refused_total{job="comm-terminal",side="server",'
                    'reason="certificate"} > 0', None)
        # The comm-terminal resumes its sessions to ca-server; ca-server counts them so too.
        self.expect('certline_tls_handshakes_total{job="comm-terminal",side="client",'
                    'kind="resumed"} > 0', None)
        self.expect('certline_tls_handshakes_total{job="ca-server",side="server",'
                    'kind="resumed"} > 0', None)
        self.expect('certline_db_pool_size{job="ca-server"}', 8.0)  # db_connections' default
        self.expect('certline_db_pool_size{job="comm-terminal"} > 0', None)
        self.expect('certline_db_pool_in_use{job="ca-server"} >= 0', None)

    # ---- prometheus ----

    def start_prometheus(self):
        self.prom_dir = tempfile.mkdtemp(prefix="certline-prometheus-")
        self.prom_port = free_port()
        config = os.path.join(self.prom_dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "  evaluation_interval: 1s\nscrape_configs:\n")
            for job in JOBS:
                f.write("  - job_name: %s\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n"
                        % (json.dumps(job), self.ports[job]))
        self.prom_log = os.path.join(self.prom_dir, "prometheus.log")
        with open(self.prom_log, "w") as log:
            self.prometheus = subprocess.Popen(
                [PROMETHEUS, "--config.file=" + config,
                 "--storage.tsdb.path=" + os.path.join(self.prom_dir, "data"),
                 "--web.listen-address=127.0.0.1:%d" % self.prom_port],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.prom_dir)

        def ready():
            check(self.prometheus.poll() is None, "prometheus ended: " + self.prom_tail())
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.prom_port,
                                            timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_for("prometheus ready", ready, DEADLINE_S)

    def prom_tail(self):
        with open(self.prom_log, errors="replace") as f:
            return f.read()[-2000:]

    def query(self, expr):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.prom_port,
                                                       urllib.parse.urlencode({"query": expr}))
        with urllib.request.urlopen(url, timeout=10) as r:
            answer = json.loads(r.read().decode())
        check(answer["status"] == "success", "query %s: %r" % (expr, answer))
        return answer["data"]["result"]

    def expect(self, expr, value):
        """Waits (with a deadline) until expr yields one series, of value if it is not None."""
        last = []

        def probe():
            last[:] = self.query(expr)
            return len(last) == 1 and (value is None or float(last[0]["value"][1]) == value)
        try:
            wait_for(expr, probe, DEADLINE_S)
        except Exception:
            print("prometheus answered %s with %r" % (expr, last))
            raise

    def stop(self):
        if self.prometheus is not None:
            self.prometheus.kill()  # by its own pid: the Popen object
            self.prometheus.wait()
            self.prometheus = None
        if self.prom_dir is not None:
            shutil.rmtree(self.prom_dir, ignore_errors=True)
            self.prom_dir = None
        super().stop()


def main():
    if len(sys.argv) != 6:
        print(__doc__)
        return 2
    binaries = [os.path.abspath(p) for p in sys.argv[1:5]]
    return run_cases(MetricsLine, binaries, os.path.abspath(sys.argv[5]),
                     ("devices_through_the_line", "handshakes_counted", "texts_well_formed",
                      "refused_requests", "prometheus_reads_back"))


if __name__ == "__main__":
    sys.exit(main())
