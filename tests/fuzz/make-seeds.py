#!/usr/bin/python3
"""make-seeds.py: regenerates the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/)
from the real programs: a private PostgreSQL cluster, ca-server (init, issue-service, model-add,
model-export, batch, serve), the device-agent (mkimage, install), and a stock SOAP client
(python3-zeep) for the SOAP requests; then adds the hostile inputs that have got through before.
Every key in the output is a throwaway test key under the test passphrase of
deploy/sim/certline_procs.py (see tests/fuzz/README.md).

Usage: make-seeds.py BUILD_DIR [OUT_DIR]   (OUT_DIR defaults to tests/fuzz/corpus)
Files it writes are named seed-*; other files in the corpus folders are left alone.
"""
import base64
import glob
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SOURCE, "tests", "lib"))
sys.path.insert(0, os.path.join(SOURCE, "deploy", "sim"))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
import zeep  # noqa: E402

import pg_private  # noqa: E402
import soap_peer  # noqa: E402
from certline_harness import (CaServer, cert_der, now, open_pack,  # noqa: E402
                              verification_value)

FLASH_SIZE, NVRAM_SIZE = 0x25000, 0x0B000


def write(out, target, name, data):
    folder = os.path.join(out, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def der_of_pem(pem):
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def first_pem(text):
    end = "-----END CERTIFICATE-----"
    return text[:text.index(end) + len(end)].encode() + b"\n"


def compact_images(flash, nvram, flags=0):
    """The nv_image target's input (fuzz_nv_image.c): flags, then chunks of non-erased bytes."""
    out = bytearray([flags])
    for which, image in ((0, flash), (1, nvram)):
        i = 0
        while i < len(image):
            if image[i] == 0xFF:
                i += 1
                continue
            j = i
            gap = 0
            while j < len(image) and j - i < 0xFFFF and gap < 16:
                gap = gap + 1 if image[j] == 0xFF else 0
                j += 1
            j -= gap
            out += struct.pack("<BIH", which, i, j - i) + image[i:j]
            i = j
    return bytes(out)


def http_request(path, body, action):
    head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/soap+xml; "
            "charset=utf-8; action=\"%s\"\r\nContent-Length: %d\r\n\r\n" % (path, action,
                                                                           len(body)))
    return head.encode() + body


class Seeds:
    def __init__(self, build, out, work, cluster):
        self.build, self.out, self.work = build, out, work
        self.ca = CaServer(os.path.join(build, "ca-server", "ca-server"), work,
                           cluster.create_db("ca"))
        self.agent = os.path.join(build, "device-agent", "device-agent")
        self.wsdl = os.path.join(build, "wsdl")
        self.requests = {}

    def authority(self):
        ca = self.ca
        ca.run("init")
        for args in (("ca-server", "ca.certline.test", "svc-ca"),
                     ("comm-terminal", "comm.certline.test", "svc-comm"),
                     ("factory-terminal", "line-1001.certline.test", "1001", "svc-line-1001")):
            ca.run("issue-service", *args[:-1], "--out", os.path.join(self.work, args[-1]))
        ca.run("model-add", "3012")
        ca.run("model-add", "A123", "--key-type", "rsa2048")
        self.bundles, self.prewrite = {}, {}
        for model in ("3012", "A123"):
            path = os.path.join(self.work, model + ".bundle")
            ca.run("model-export", model, "--out", path)
            self.bundles[model] = path
            self.prewrite[model] = base64.b64decode(json.load(open(path))["prewrite_key"])
            write(self.out, "firmware_bundle", model + ".json", read(path))
        self.root_pem = read(os.path.join(ca.ca_dir, "root.crt"))
        # Key files: the CA's and a model's, all under the test passphrase.
        write(self.out, "keyfile", "root-ca-key.enc", read(os.path.join(ca.ca_dir, "root.key.enc")))
        write(self.out, "keyfile", "prewrite-3012.enc",
              read(os.path.join(ca.ca_dir, "models", "3012", "prewrite.enc")))
        # Certificates a TLS peer may present, and the CAs.
        for name in ("svc-ca", "svc-comm", "svc-line-1001"):
            chain = read(os.path.join(self.work, name + ".chain.crt")).decode()
            write(self.out, "peer", name + ".der", der_of_pem(first_pem(chain)))
        write(self.out, "peer", "root.der", der_of_pem(self.root_pem))
        write(self.out, "peer", "issuing.der",
              der_of_pem(read(os.path.join(ca.ca_dir, "issuing.crt"))))
        bundle = json.load(open(self.bundles["3012"]))
        write(self.out, "peer", "common-3012.der",
              der_of_pem(bundle["common_certificate_pem"].encode()))

    def batch(self, name, *args):
        path = os.path.join(self.work, name + ".json")
        self.ca.run("batch", "--out", path, "--request-id", name, *args)
        return {i["device_number"]: i["pack"] for i in json.load(open(path))["items"]}

    def exchange(self):
        """The offline factory's files: a signed batch file (with the root after a NUL), and a
        reports and a receipts file of the shapes common/exchange_file.h documents."""
        path = os.path.join(self.work, "exchange.json")
        self.ca.run("batch", "--out", path, "--factory", "comm.certline.test", "--request-id",
                    "fuzz-exchange", "3012-000009", "A123-000009")
        write(self.out, "exchange", "batch-signed", read(path) + b"\0" + self.root_pem)
        write(self.out, "exchange", "reports.json", json.dumps({
            "format": "certline-reports", "version": 1, "factory": "comm.certline.test",
            "created_at": 1764950400, "reports": [{
                "device_number": "3012-000009", "serial": "0A11", "proof": "ab" * 32,
                "written_at": 1764950400}]}))
        write(self.out, "exchange", "receipts.json", json.dumps({
            "format": "certline-receipts", "version": 1, "created_at": 1764950400,
            "signer_certificate": read(os.path.join(self.ca.ca_dir, "issuing.crt")).decode(),
            "receipts": [{"device_number": "3012-000009", "serial": "0A11", "proof": "ab" * 32,
                          "received_at": 1764950400, "signature": "MEUCIQ=="}]}))

    def packs(self):
        self.first = self.batch("fuzz-seeds", "3012-000001", "3012-000002", "A123-000001")
        for number, pack in self.first.items():
            write(self.out, "pack", number + ".json", pack)
        _, cert, _ = open_pack(self.first["3012-000001"], self.prewrite["3012"])
        write(self.out, "peer", "device-3012-000001.der", cert_der(cert))
        pack = self.first["3012-000001"]
        # Known to have got through before: a huge version, NUL inside a string.
        write(self.out, "pack", "version-1e300.json", pack.replace('"version":1', '"version":1e300')
              .replace('"version": 1', '"version": 1e300'))
        write(self.out, "pack", "nul-escaped.json", pack.replace('"3012-000001"',
                                                                 '"3012-000001\\u0000x"', 1))
        write(self.out, "pack", "nul-raw.json", pack.replace('"3012-000001"',
                                                             '"3012-0000\x0001"', 1))

    def images(self):
        device = os.path.join(self.work, "device")
        os.makedirs(device)
        flash, nvram = os.path.join(device, "flash.img"), os.path.join(device, "nvram.img")
        config = os.path.join(device, "device-agent.json")
        with open(config, "w") as f:
            json.dump({"flash_image": flash, "nvram_image": nvram,
                       "listen": {"host": "127.0.0.1", "port": 1, "max_connections": 1},
                       "line": {"endpoint": "https://127.0.0.1:1/line",
                                "server_name": "line-1001.certline.test"}}, f)

        def agent(*args, expect=0):
            r = subprocess.run([self.agent, "-c", config] + list(args), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=120)
            if expect is not None and r.returncode != expect:
                raise RuntimeError("device-agent %s: %d %s%s" % (args, r.returncode, r.stdout,
                                                                 r.stderr))

        def snapshot(name, flags=0):
            write(self.out, "nv_image", name, compact_images(read(flash), read(nvram), flags))

        agent("mkimage", "--device-number", "3012-000001", "--mac", "02:00:00:00:00:01",
              "--bundle", self.bundles["3012"])
        snapshot("blank")
        pack1 = os.path.join(self.work, "pack1.json")
        with open(pack1, "w") as f:
            f.write(self.first["3012-000001"])
        agent("install", pack1)
        snapshot("one-certificate")
        replacement = self.batch("fuzz-seeds-repl", "--replacement", "3012-000001")
        pack2 = os.path.join(self.work, "pack2.json")
        with open(pack2, "w") as f:
            f.write(replacement["3012-000001"])
        agent("install", pack2)
        snapshot("two-certificates")
        snapshot("two-certificates-fix-crc", flags=1)
        agent("install", pack1, "--power-cut-after-step", "2", expect=None)
        snapshot("torn-write")

    def receipt(self):
        ca = self.ca
        ca.start()
        try:
            proxy, client, history = soap_peer.service(
                os.path.join(self.wsdl, "CertificateAuthority.wsdl"),
                "https://127.0.0.1:%d/ca" % ca.port, "ca.certline.test",
                os.path.join(self.work, "svc-comm.chain.crt"),
                os.path.join(self.work, "svc-comm.key"), os.path.join(ca.ca_dir, "root.crt"))
            answer = proxy.CertificateTransmissionRequest(requestId="fuzz-soap", replacement=False,
                                                          deviceNumber=["3012-000003",
                                                                        "A123-000002"])
            self.requests["ca-transmission"] = self.sent(history, "/ca")
            number = "3012-000002"
            pack, cert, key_der = open_pack(self.first[number], self.prewrite["3012"])
            proof = verification_value("certline install-proof v1", number, pack["serial"],
                                       cert_der(cert), key_der)
            receipt = proxy.InstallationReport(deviceNumber=number,
                                               certificateSerial=pack["serial"],
                                               verificationValue=proof, writtenAt=now())
            self.requests["ca-report"] = self.sent(history, "/ca")
            self.device_pack = [i.pack for i in answer.item][0]
        finally:
            ca.stop()
        fields = [receipt.deviceNumber, receipt.certificateSerial, receipt.verificationValue,
                  str(int(receipt.receivedAt.timestamp())), receipt.signature,
                  receipt.signerCertificate, self.root_pem.decode()]
        write(self.out, "receipt", "signed", "\0".join(fields))
        wrong = list(fields)
        wrong[3] = str(int(wrong[3]) + 1)
        write(self.out, "receipt", "other-time", "\0".join(wrong))

    @staticmethod
    def sent(history, path):
        body = zeep_bytes(history.last_sent["envelope"])
        headers = history.last_sent["http_headers"]
        action = headers.get("Content-Type", "").split("action=")[-1].strip('"')
        return http_request(path, body, action)

    def soap(self):
        """Requests of every interface, as the stock client writes them."""
        operations = {
            ("Device.wsdl", "/device"): [
                ("dev-transmission", "CertificateTransmission",
                 dict(deviceNumber="3012-000002", pack=self.first["3012-000002"])),
                ("dev-transmission-keyed", "CertificateTransmission",
                 dict(deviceNumber="3012-000002", pack=self.first["3012-000002"],
                      transmissionId="00112233445566778899aabbccddeeff",
                      transmissionKey="a5" * 32))],
            ("CommTerminal.wsdl", "/ct"): [
                ("ct-transmission", "CertificateTransmissionRequest",
                 dict(deviceNumber="3012-000002")),
                ("ct-notice", "ReceptionNotice",
                 dict(deviceNumber="3012-000002", result="NG", reason="jig: no answer")),
                ("ct-write-result", "WriteResult",
                 dict(deviceNumber="3012-000002", result="OK", reason="written",
                      certificateSerial="0A1B2C", verificationValue="a" * 64)),
                ("ct-revocation-list", "RevocationList", dict(heldNumber=0))],
            ("Line.wsdl", "/line"): [
                ("line-write-result", "WriteResult",
                 dict(deviceNumber="3012-000002", result="OK", certificateSerial="0A1B2C",
                      verificationValue="b" * 64)),
                ("line-write-result-mac", "WriteResult",
                 dict(deviceNumber="3012-000002", result="OK", certificateSerial="0A1B2C",
                      verificationValue="b" * 64, transmissionId="00112233445566778899aabbccddeeff",
                      resultMac="5a" * 32))],
            ("CertificateAuthority.wsdl", "/ca"): [
                ("ca-check-in", "CheckIn", dict(claimedDeviceNumber="3012-000002")),
                ("ca-revocation-list", "RevocationList", dict(heldNumber=7)),
                ("ca-retire", "Retire",
                 dict(reason="DISCONTINUED", certificateSerial=["0A1B2C", "0A1B2D"])),
                ("ca-models", "Models", dict(modelCode=["3012"]))],
        }
        for (wsdl, path), calls in operations.items():
            client = zeep.Client(wsdl=os.path.join(self.wsdl, wsdl))
            binding = list(client.wsdl.bindings.values())[0]
            for name, operation, args in calls:
                envelope = client.create_message(client.service, operation, **args)
                action = binding.get(operation).soapaction or ""
                self.requests[name] = http_request(path, zeep_bytes(envelope), action)
        for name, request in self.requests.items():
            write(self.out, "soap_dispatch", name + ".http", request)
        self.hostile()

    def hostile(self):
        """Inputs known to have got through before, each a variant of a real request."""
        base = self.requests["ct-notice"]
        head, body = base.split(b"\r\n\r\n", 1)

        def variant(name, new_body):
            new_head = head.replace(b"Content-Length: %d" % len(body),
                                    b"Content-Length: %d" % len(new_body))
            write(self.out, "soap_dispatch", name + ".http", new_head + b"\r\n\r\n" + new_body)

        reason = b"jig: no answer"
        variant("nul-raw", body.replace(reason, b"jig:\x00no answer"))
        variant("nul-entity", body.replace(reason, b"jig:&#0;no answer"))
        variant("surrogate-entity", body.replace(reason, b"jig:&#xD800;no answer"))
        variant("invalid-utf8", body.replace(reason, b"jig:\xc3\x28\xff no answer"))
        variant("doctype", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>' +
                body.split(b"?>", 1)[-1].replace(reason, b"&e;"))
        variant("processing-instruction", body.replace(reason, b"jig<?pi data?>"))
        variant("soap11-envelope", body.replace(b"http://www.w3.org/2003/05/soap-envelope",
                                                b"http://schemas.xmlsoap.org/soap/envelope/"))
        report = self.requests["ca-report"]
        head, body = report.split(b"\r\n\r\n", 1)
        start = body.index(b"writtenAt>") + len(b"writtenAt>")
        end = body.index(b"<", start)
        bad = body[:start] + b"2026-13-45T99:99:99Z" + body[end:]
        write(self.out, "soap_dispatch", "bad-datetime.http",
              head.replace(b"Content-Length: %d" % len(body), b"Content-Length: %d" % len(bad)) +
              b"\r\n\r\n" + bad)


def zeep_bytes(envelope):
    from lxml import etree
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def static_seeds(out):
    """Plans, scan streams and configurations: what the operators and scanners hand over."""
    write(out, "plan", "first-serial.csv",
          "device_code,date,units,first_serial,serial_digits\n"
          "# day plan\n3012,2026-11-21,1000,123456,6\nA123,2026-11-21,3,1\n")
    write(out, "plan", "serials.csv",
          "device_code,date,units,serials\r\nA123,2026-11-21,3,654321;654322;654330\r\n")
    write(out, "plan", "entries.json", json.dumps([
        {"device_code": "3012", "date": "2026-11-21", "units": 1000, "first_serial": 123456,
         "serial_digits": 6},
        {"device_code": "A123", "date": "2026-11-21", "units": 2, "serials": [654321, 654322]}]))
    # Known to have got through before: numbers of 1e300 in a JSON plan.
    write(out, "plan", "units-1e300.json",
          '[{"device_code": "3012", "date": "2026-11-21", "units": 1e300, "first_serial": 1}]')
    write(out, "plan", "serial-1e300.json",
          '[{"device_code": "3012", "date": "2026-11-21", "units": 1, "first_serial": 1e300,'
          ' "serial_digits": -1e300}]')
    write(out, "plan", "nul.csv", "device_code,date,units,first_serial\n30\x0012,2026-11-21,1,1\n")
    write(out, "scan", "keyboard", "3012-000001\n3012-000002\n\n# break\nA123-000100\n")
    write(out, "scan", "serial-cr", "3012-000001\r3012-000002\r\n  A123-1  \t\r")
    write(out, "scan", "hostile", "3012-\x00000001\n" + "9" * 80 + "\n\x1b[31m3012-1\nlast")
    for path in sorted(glob.glob(os.path.join(SOURCE, "deploy", "examples", "*.json"))):
        write(out, "config", os.path.basename(path), read(path))
    write(out, "config", "hostile.json",
          '{"ca_dir": "x\\u0000y", "workers": 1e300, "listen": {"port": 0600}, "limits": {}}')
    write(out, "metrics_request", "prometheus.txt",
          "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9641\r\nAccept: text/plain;version=0.0.4\r\n"
          "User-Agent: Prometheus/2.42.0\r\n\r\n")
    write(out, "metrics_request", "post.txt", "POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\n")
    write(out, "metrics_request", "query.txt", "GET /metrics?name[]=x HTTP/1.0\n\n")
    write(out, "metrics_request", "root.txt", "GET / HTTP/1.1\r\n\r\n")
    # A finding: sscanf let "GET/metrics" through as GET of /metrics.
    write(out, "metrics_request", "no-space.txt", "GET/metrics?nam HTTP/1.0 /metrics?nam HTTP/1.0")
    write(out, "metrics_request", "tls.bin", b"\x16\x03\x01\x00\x05hello\r\n\r\n")


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    build = os.path.abspath(sys.argv[1])
    out = os.path.abspath(sys.argv[2]) if len(sys.argv) == 3 else os.path.join(HERE, "corpus")
    for old in glob.glob(os.path.join(out, "*", "seed-*")):
        os.unlink(old)
    static_seeds(out)
    work = tempfile.mkdtemp(prefix="certline-seeds-")
    cluster = pg_private.PrivateCluster().start()
    try:
        seeds = Seeds(build, out, work, cluster)
        seeds.authority()
        seeds.packs()
        seeds.exchange()
        seeds.images()
        seeds.receipt()
        seeds.soap()
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(out, "*", "*")))
    print("seeds written under %s (%d bytes in all folders)" % (out, total))
    return 0


if __name__ == "__main__":
    time.tzset()
    sys.exit(main())
