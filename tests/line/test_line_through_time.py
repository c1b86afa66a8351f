#!/usr/bin/python3
"""test_line_through_time.py: one production line kept running through time, with the real
programs, a private PostgreSQL cluster and mutual TLS on loopback, every timeout configured short
(receive timeouts 2 s, PostgreSQL's idle_session_timeout 1.5 s, reports every 1 s, claims 5 s):

- The long line: the factory terminal is never restarted; idle gaps longer than every timeout,
  mixed with faults (scans of numbers not in the plan, a mislabelled plate, a forced write NG).
  Every device is provisioned on its first good scan, and no certificate is wasted: ca-server
  issued exactly one certificate per device plus one per forced NG.
- Each link's server restarted, its certificate re-issued (same name, new key) while the client
  holds a saved session, and the server away for a while and back, each followed by more work:
  factory terminal -> comm-terminal, comm-terminal -> ca-server (replacements, reports),
  device -> factory terminal (S10), factory terminal -> device (S7), device -> ca-server
  (check-in).

Usage: test_line_through_time.py CA_SERVER COMM_TERMINAL FACTORY_TERMINAL DEVICE_AGENT WSDL_DIR
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from test_line import Line, check, run_cases  # noqa: E402

IDLE_S = 3  # longer than every receive timeout (2 s), the database idle timeout, the report interval
LONG_IDLE_S = 6  # also longer than a claim (claim_seconds 5)


def idle(seconds=IDLE_S):
    time.sleep(seconds)  # the configured timeouts are 1-5 s: a short gap outlasts them all


class TimeLine(Line):
    UNITS = 24
    LIMITS = {"connect_timeout_s": 2, "recv_timeout_s": 2}
    CT_SETTINGS = {"claim_seconds": 5, "report_interval_s": 1}
    FT_SETTINGS = {"write_result_timeout_s": 10}

    def __init__(self, *args):
        super().__init__(*args)
        self.forced_ng = {}  # number -> forced write failures

    def good(self, number, *serve_args):
        """A device provisioned on its first good scan."""
        self.provision(number, *serve_args)

    def issued(self, number):
        return len(self.ca_state(number))

    def reissue(self, role, name, prefix, *number):
        """A new certificate and key for the same name, put in place of the old files (the
        program picks it up when restarted)."""
        old = os.path.join(self.work, prefix)
        before = open(old + ".key").read()
        self.ca.run("issue-service", role, name, *number, "--out", old + "-new")
        for suffix in (".crt", ".chain.crt", ".key", ".root.crt"):
            os.replace(old + "-new" + suffix, old + suffix)
        check(open(old + ".key").read() != before, "%s: the re-issued key is the old one" % name)

    def no_wasted_certificates(self):
        for number in self.devices:
            if not self.devices[number].show().get("certificate"):
                continue
            want = 1 + self.forced_ng.get(number, 0)
            got = self.issued(number)
            check(got == want, "%s: ca-server issued %d certificate(s), expected %d" % (
                number, got, want))
        for log_name, log in (("factory terminal", self.ft.log()), ("comm-terminal",
                                                                      self.ct.log())):
            check("not correctly signed" not in log,
                  "%s log: a resumed session was refused: %s" % (log_name, log[-800:]))

    # ---- the long line: one factory terminal through idle gaps and faults ----

    def long_line(self):
        self.good(self.number(1))
        idle()
        self.good(self.number(2))
        # A fault from the comm-terminal (a number not in the plan), then more work at once.
        event = self.scan(self.number(900))
        check(event["result"] != "OK" and "not" in event.get("reason", "").lower(),
              "unplanned scan: %r" % event)
        self.good(self.number(3))
        # The same fault after an idle gap, and another idle gap after it.
        idle()
        event = self.scan(self.number(901))
        check(event["result"] != "OK", "unplanned scan: %r" % event)
        idle()
        self.good(self.number(4))
        # A mislabelled plate (the device refuses at S7), then the right plate at once.
        idle()
        on_jig, plate = self.number(5), self.number(6)
        self.device(on_jig).serve("--once")
        event = self.scan(plate)
        check(event["result"] == "NG" and "mismatch" in event["reason"].lower(),
              "mislabelled plate: %r" % event)
        event = self.scan(on_jig)
        check(event["result"] == "OK", "the right plate after a mislabelled one: %r" % event)
        check(self.devices[on_jig].wait() == 0, "device-agent did not end")
        # A forced write NG, an idle gap (the device's S10 connection and the factory terminal's
        # S7 connection are closed by then), and the re-scan.
        number = self.number(7)
        d = self.device(number)
        d.serve("--once", "--fail-writes", "1")
        event = self.scan(number)
        check(event["result"] == "NG" and event.get("replacement_ready") is True,
              "forced write failure: %r" % event)
        self.forced_ng[number] = 1
        idle()
        event = self.scan(number)
        check(event["result"] == "OK", "re-scan after NG and an idle gap: %r" % event)
        check(d.wait() == 0, "device-agent did not end")
        # Longer than a claim, then a device.
        idle(LONG_IDLE_S)
        self.good(self.number(8))
        # Check-ins, each after an idle gap (device -> ca-server).
        for n in (1, 2, 3, 4, 5, 7, 8):
            self.check_in(self.number(n))
        idle()
        self.check_in(self.number(1))
        self.no_wasted_certificates()

    # ---- factory terminal -> comm-terminal ----

    def comm_terminal_restarted(self):
        self.ct.stop()
        self.ct.start()
        self.good(self.number(9))

    def comm_terminal_reissued(self):
        self.reissue("comm-terminal", "comm.certline.test", "svc-comm")
        self.ct.stop()
        self.ct.start()
        self.good(self.number(10))
        idle()
        self.good(self.number(11))

    def comm_terminal_away(self):
        self.ct.stop()
        number = self.number(12)
        d = self.device(number)
        d.serve("--once")
        event = self.scan(number)
        check(event["result"] == "NG" and "comm-terminal" in event["reason"],
              "comm-terminal away: %r" % event)
        idle()
        self.ct.start()
        event = self.scan(number)
        check(event["result"] == "OK", "comm-terminal back: %r" % event)
        check(d.wait() == 0, "device-agent did not end")

    # ---- comm-terminal -> ca-server (replacements, reports); device -> ca-server ----

    def ca_server_reissued(self):
        self.reissue("ca-server", "ca.certline.test", "svc-ca")
        self.ca.stop()
        self.ca.start()
        # The comm-terminal's kept client fetches a replacement from the restarted ca-server.
        number = self.number(13)
        d = self.device(number)
        d.serve("--once", "--fail-writes", "1")
        event = self.scan(number)
        check(event["result"] == "NG" and event.get("replacement_ready") is True,
              "forced NG with ca-server re-issued: %r" % event)
        self.forced_ng[number] = 1
        event = self.scan(number)
        check(event["result"] == "OK", "re-scan: %r" % event)
        check(d.wait() == 0, "device-agent did not end")
        self.check_in(number)

    def ca_server_away(self):
        self.ca.stop()
        number = self.number(14)
        self.good(number)  # from the stored batch
        r = self.devices[number].run("check-in", "--json", expect=None)
        check(r.returncode != 0 and "connect" in (r.stdout + r.stderr).lower(),
              "check-in with ca-server away: %d %s%s" % (r.returncode, r.stdout, r.stderr))
        idle()
        self.ca.start()
        self.check_in(number)  # the report reached ca-server once it was back
        idle()
        self.good(self.number(15))
        self.check_in(self.number(15))

    # ---- device -> factory terminal (S10); factory terminal -> device (S7) ----

    def factory_terminal_reissued(self):
        """The device keeps its S10 session across the factory terminal's restart with a new
        certificate."""
        number = self.number(16)
        d = self.device(number)
        d.serve("--once", "--fail-writes", "1")
        event = self.scan(number)
        check(event["result"] == "NG", "forced NG: %r" % event)
        self.forced_ng[number] = 1
        self.reissue("factory-terminal", "line-1001.certline.test", "svc-line-1001", "1001")
        self.ft.stop()
        self.ft.start()
        event = self.scan(number)
        check(event["result"] == "OK", "re-scan after the factory terminal's restart: %r" % event)
        check(d.wait() == 0, "device-agent did not end")

    def device_restarted(self):
        """The factory terminal keeps its S7 session with a device across the device's
        restart, and across the device away for a while."""
        number = self.number(17)
        d = self.device(number)
        d.serve("--once")
        event = self.scan(self.number(18))  # mislabelled: S7 reached this device
        check(event["result"] == "NG", "mislabelled plate: %r" % event)
        d.stop()
        event = self.scan(number)
        check(event["result"] == "NG" and "device" in event["reason"].lower(),
              "device away: %r" % event)
        idle()
        d.serve("--once")
        event = self.scan(number)
        check(event["result"] == "OK", "device back: %r" % event)
        check(d.wait() == 0, "device-agent did not end")
        self.check_in(number)
        self.no_wasted_certificates()


def idle_sessions_end(cluster):
    """The database closes idle sessions too: every program's store must reconnect."""
    cluster.psql("postgres", "ALTER SYSTEM SET idle_session_timeout = '1500ms'")
    cluster.psql("postgres", "SELECT pg_reload_conf()")


def main():
    if len(sys.argv) != 6:
        print(__doc__)
        return 2
    binaries = [os.path.abspath(p) for p in sys.argv[1:5]]
    return run_cases(TimeLine, binaries, os.path.abspath(sys.argv[5]),
                     ("long_line", "comm_terminal_restarted", "comm_terminal_reissued",
                      "comm_terminal_away", "ca_server_reissued", "ca_server_away",
                      "factory_terminal_reissued", "device_restarted"),
                     prepare_cluster=idle_sessions_end)


if __name__ == "__main__":
    sys.exit(main())
