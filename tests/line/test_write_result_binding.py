#!/usr/bin/python3
"""test_write_result_binding.py: a write result (S10) counts only if it comes from the device
that received that S7 (issue 14, item 5), with the real programs on one line (test_line.Line):

  * forged results: while the real device-agent on the jig writes (its S10 held back a few
    seconds by a test hook), a stock SOAP client holding the model's common certificate -- any
    other device of the model, or anyone with the firmware bundle -- sends NG and OK for the
    device on the jig with no MAC, and with a made-up transmission id and MAC: each gets a SOAP
    fault naming the reason, the factory terminal keeps waiting, the real device's OK is taken,
    and ca-server counts the device installed (check-in);
  * replay: a stand-in device on the jig (a TLS server here, with the model's common
    certificate) receives S7 and so the transmission key, and authenticates its results with the
    MAC computed here from the documented encoding (common/transmission_key.h), independently of
    certline's C code: its NG for the first S7 is taken; for the next S7 (the replacement pack)
    the first result replayed, the old MAC under the new transmission id, a MAC under the old key,
    and a MAC over other fields are all refused, then its OK with the real installation proof is
    taken and ca-server marks that certificate installed. The transmission keys appear in no log,
    event file or database.

Usage: test_write_result_binding.py CA_SERVER COMM_TERMINAL FACTORY_TERMINAL DEVICE_AGENT WSDL_DIR
"""
import hashlib
import hmac
import json
import os
import queue
import re
import secrets
import socket
import ssl
import struct
import sys
import threading
import time
from xml.etree import ElementTree

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

from zeep.exceptions import Fault  # noqa: E402

import raw_peer  # noqa: E402
import soap_peer  # noqa: E402
from certline_harness import cert_der, open_pack, verification_value  # noqa: E402
from certline_procs import log_size, wait_for_text  # noqa: E402
from test_line import MODEL, Line, check, run_cases  # noqa: E402

MAC_TAG = b"certline write-result v1\0"
DEV_NS = "urn:certline:device:1"


def result_mac(key_hex, transmission_id, number, ok, reason=None, serial=None, value=None):
    """HMAC-SHA256 under the transmission key over the documented encoding, as hex."""
    message = MAC_TAG
    for text in (transmission_id, number, "OK" if ok else "NG", reason or "", serial or "",
                 value or ""):
        data = text.encode()
        message += struct.pack(">I", len(data)) + data
    return hmac.new(bytes.fromhex(key_hex), message, hashlib.sha256).hexdigest()


class StandInDevice:
    """Serves the device interface on the jig port with the model's common certificate: each
    S7 it receives is answered S8 OK and its fields are put on a queue."""

    def __init__(self, port, chain_file, key_file, root_file):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(chain_file, key_file)
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(root_file)
        self.context = context
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(4)
        self.received = queue.Queue()
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self):
        self.listener.close()

    def _serve(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(sock, server_side=True) as tls:
                    tls.settimeout(30)
                    self._answer(tls)
            except (OSError, ssl.SSLError, ValueError) as e:
                self.received.put({"error": repr(e)})

    @staticmethod
    def _read_request(tls):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = tls.recv(65536)
            if not chunk:
                raise ValueError("connection closed in the headers")
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        if length is None:
            raise ValueError("no Content-Length: %r" % head)
        while len(body) < int(length.group(1)):
            chunk = tls.recv(65536)
            if not chunk:
                raise ValueError("connection closed in the body")
            body += chunk
        return body

    def _answer(self, tls):
        body = self._read_request(tls)
        fields = {name: None for name in ("deviceNumber", "pack", "transmissionId",
                                          "transmissionKey")}
        for element in ElementTree.fromstring(body).iter():
            name = element.tag.rsplit("}", 1)[-1]
            if name in fields:
                fields[name] = element.text
        answer = raw_peer.envelope(
            "dev", DEV_NS, b"<dev:ReceptionResponse><dev:deviceNumber>" +
            fields["deviceNumber"].encode() + b"</dev:deviceNumber><dev:result>OK</dev:result>"
            b"</dev:ReceptionResponse>")
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml; charset=utf-8\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(answer) + answer)
        self.received.put(fields)

    def next_transmission(self, timeout=60):
        try:
            fields = self.received.get(timeout=timeout)
        except queue.Empty:
            check(False, "the stand-in device got no S7 within %d s" % timeout)
        check("error" not in fields, "stand-in device: %s" % fields.get("error"))
        return fields


class BindingLine(Line):
    UNITS = 4

    def common_identity(self):
        """The model's common certificate and key, as any device of the model holds them."""
        bundle = json.load(open(self.bundles[MODEL]))
        chain = os.path.join(self.work, "common-%s.chain.crt" % MODEL)
        key = os.path.join(self.work, "common-%s.key" % MODEL)
        with open(chain, "w") as f:
            f.write(bundle["common_certificate_pem"] + bundle["chain_pem"])
        with open(key, "w") as f:
            f.write(bundle["common_key_pem"])
        os.chmod(key, 0o600)
        return chain, key

    def line_client(self):
        chain, key = self.common_identity()
        return soap_peer.service(os.path.join(self.wsdl_dir, "Line.wsdl"),
                                 "https://127.0.0.1:%d/line" % self.ft.port, self.ft.server_name,
                                 chain, key, self.root)[0]

    @staticmethod
    def refused(call, needle, what, **fields):
        """call(**fields) must end in a SOAP fault whose text holds needle."""
        try:
            answer = call(**fields)
        except Fault as fault:
            text = "%s %s" % (fault.message, "".join(fault.detail.itertext())
                              if fault.detail is not None else "")
            check("Write result refused" in text and needle in text,
                  "%s: fault without %r: %s" % (what, needle, text))
            return text
        check(False, "%s was taken: %r" % (what, answer))

    def forged_results_refused(self):
        number = self.number(1)
        d = self.device(number)
        line = self.line_client()
        d.serve("--once", "--delay-write-result-ms", "4000")
        start = log_size(d.log_path)
        self.ft.scan(number)
        wait_for_text(d.log_path, "accepted (S8 OK)", d.process, start=start)
        pack = json.loads(self.ct_pack(number))
        other_id, other_mac = secrets.token_hex(16), secrets.token_hex(32)
        # The neighbour knows the device number, the serial (from its own S6-like view of the
        # pack) and makes up the rest.
        forgeries = [
            (dict(result="NG", reason="forged: no MAC"), "no transmission id and MAC",
             "NG without a MAC"),
            (dict(result="OK", certificateSerial=pack["serial"], verificationValue="a" * 64),
             "no transmission id and MAC", "OK without a MAC"),
            (dict(result="NG", reason="forged", transmissionId=other_id), "no transmission id",
             "NG with an id but no MAC"),
            (dict(result="NG", reason="forged", transmissionId=other_id, resultMac=other_mac),
             "stale or replayed", "NG with a made-up id and MAC"),
            (dict(result="OK", certificateSerial=pack["serial"], verificationValue="b" * 64,
                  transmissionId=other_id, resultMac=other_mac), "stale or replayed",
             "OK with a made-up id and MAC"),
        ]
        for fields, needle, what in forgeries:
            self.refused(line.WriteResult, needle, what, deviceNumber=number, **fields)
        check(d.process.poll() is None, "the device's S10 went out before the forgeries")
        event = self.ft.next_event(timeout=90)
        check(event["result"] == "OK" and event["serial"] == pack["serial"],
              "the real device's write after forgeries: %r" % event)
        check(d.wait(timeout=60) == 0, "device-agent did not end after its OK write")
        shown, cert = self.written_certificate(number)
        check(cert["serial"] == pack["serial"], "the device holds %s" % cert["serial"])
        self.check_in(number)
        log = self.ft.log()
        check(log.count("write result from") >= len(forgeries),
              "the forgeries are not in the factory terminal's log")

    def replayed_mac_refused(self):
        number = self.number(2)
        chain, key = self.common_identity()
        line = self.line_client()
        jig = StandInDevice(self.ft.device_port, chain, key, self.root)
        try:
            self.ft.scan(number)
            first = jig.next_transmission()
            check(first["deviceNumber"] == number, "S7 for %r" % first["deviceNumber"])
            tid1, key1 = first["transmissionId"], first["transmissionKey"]
            check(re.fullmatch("[0-9a-f]{32}", tid1 or "") and
                  re.fullmatch("[0-9a-f]{64}", key1 or ""), "S7's transmission: %r" % first)
            reason = "stand-in device: write failed"
            genuine_ng = dict(deviceNumber=number, result="NG", reason=reason, transmissionId=tid1,
                              resultMac=result_mac(key1, tid1, number, False, reason))
            answer = line.WriteResult(**genuine_ng)
            check(answer.result == "OK", "the genuine NG was not recorded: %r" % answer)
            event = self.ft.next_event(timeout=60)
            check(event["result"] == "NG" and event.get("replacement_ready") is True,
                  "the genuine NG: %r" % event)

            self.ft.scan(number)
            second = jig.next_transmission()
            tid2, key2 = second["transmissionId"], second["transmissionKey"]
            check(tid2 != tid1 and key2 != key1, "a second S7 reused its transmission")
            pack, cert, key_der = open_pack(second["pack"], self.prewrite[MODEL])
            check(pack["serial"] != event["serial"], "no replacement pack")
            proof = verification_value("certline install-proof v1", number, pack["serial"],
                                       cert_der(cert), key_der)
            ok = dict(deviceNumber=number, result="OK", certificateSerial=pack["serial"],
                      verificationValue=proof, transmissionId=tid2)
            self.refused(line.WriteResult, "stale or replayed", "the first NG replayed",
                         **genuine_ng)
            self.refused(line.WriteResult, "does not verify", "the old MAC under the new id",
                         **dict(genuine_ng, transmissionId=tid2))
            self.refused(line.WriteResult, "does not verify", "an OK under the old key",
                         resultMac=result_mac(key1, tid2, number, True, None, pack["serial"],
                                              proof), **ok)
            self.refused(line.WriteResult, "does not verify", "NG with the MAC of an OK",
                         deviceNumber=number, result="NG", reason=reason, transmissionId=tid2,
                         resultMac=result_mac(key2, tid2, number, True, None, pack["serial"],
                                              proof))
            answer = line.WriteResult(resultMac=result_mac(key2, tid2, number, True, None,
                                                           pack["serial"], proof), **ok)
            check(answer.result == "OK", "the genuine OK: %r" % answer)
            event = self.ft.next_event(timeout=60)
            check(event["result"] == "OK" and event["serial"] == pack["serial"],
                  "the genuine OK after replays: %r" % event)
        finally:
            jig.close()
        deadline = time.monotonic() + 60
        while True:
            states = {c["serial"]: c["state"] for c in self.ca_state(number)}
            if states.get(pack["serial"]) == "installed":
                break
            check(time.monotonic() < deadline, "not installed at ca-server: %r" % states)
            time.sleep(0.5)
        self.no_key_anywhere((key1, key2))

    def no_key_anywhere(self, keys):
        files = [os.path.join(dirpath, name) for dirpath, _, names in os.walk(self.work)
                 for name in names if name.endswith((".log", ".jsonl", ".json"))]
        check(any(f.endswith("factory-terminal-1001.log") for f in files), "logs not found")
        dump = self.cluster.dump("ct") + self.cluster.dump("ca")
        for k in keys:
            for path in files:
                with open(path, errors="replace") as f:
                    check(k not in f.read().lower(), "a transmission key in " + path)
            check(k not in dump.lower(), "a transmission key in a database")


def main():
    if len(sys.argv) != 6:
        print(__doc__)
        return 2
    binaries = [os.path.abspath(p) for p in sys.argv[1:5]]
    return run_cases(BindingLine, binaries, os.path.abspath(sys.argv[5]),
                     ("forged_results_refused", "replayed_mac_refused"))


if __name__ == "__main__":
    sys.exit(main())
