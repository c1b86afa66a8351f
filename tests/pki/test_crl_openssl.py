#!/usr/bin/python3
"""test_crl_openssl.py: certline's CRLs checked by openssl, openssl's CRLs read by certline.

With the test PKI (tests/pki/make-test-pki.sh) and tests/pki/crl_tool.c:
  - a CRL certline builds (PEM and DER) passes `openssl crl -verify` against the CA bundle and
    shows version 2, its CRL number, the authority key identifier and the reasons;
  - `openssl verify -crl_check` with it refuses the revoked device certificate ("certificate
    revoked") and accepts the comm-terminal certificate it does not list;
  - a CRL signed by another CA fails `openssl crl -verify` and is refused by certline;
  - a CRL made by `openssl ca -gencrl` (comm-terminal revoked, keyCompromise) is read by certline,
    which finds the comm-terminal's serial with its reason and not the device's.
Usage: test_crl_openssl.py CRL_TOOL SOURCE_DIR
"""
import os
import shutil
import subprocess
import sys
import tempfile


def run(args, cwd, check=True):
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    return proc


def serial_of(pki, name):
    out = run(["openssl", "x509", "-in", f"{name}.crt", "-noout", "-serial"], pki).stdout
    return out.strip().split("=", 1)[1]


def expect(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}")


def openssl_crl(pki, crl_path, der=False):
    args = ["openssl", "crl", "-in", crl_path, "-noout", "-text", "-CAfile", "ca-bundle.crt",
            "-verify"]
    if der:
        args[2:2] = ["-inform", "DER"]
    return run(args, pki, check=False)


def certline_crls(tool, pki, work):
    device, comm = serial_of(pki, "device-3012-000001"), serial_of(pki, "comm-terminal")
    pem, der = os.path.join(work, "crl.pem"), os.path.join(work, "crl.der")
    for out in (pem, der):
        run([tool, "make", "issuing.crt", "issuing.key", "7", "30", out,
             f"{device}:keyCompromise", "0A0B:superseded", "7F01"], pki)

    proc = openssl_crl(pki, pem)
    expect(proc.returncode == 0 and "verify OK" in proc.stderr + proc.stdout,
           "openssl crl -verify accepts certline's PEM CRL")
    text = proc.stdout
    expect("Version 2" in text, "the CRL is version 2")
    expect("X509v3 CRL Number" in text and "\n                7\n" in text, "CRL number 7")
    expect("X509v3 Authority Key Identifier" in text, "it names the authority key identifier")
    expect("Key Compromise" in text and "Superseded" in text, "its reasons read as openssl's")
    expect(text.count("Serial Number:") == 3, "three entries")
    proc = openssl_crl(pki, der, der=True)
    expect(proc.returncode == 0 and "verify OK" in proc.stderr + proc.stdout,
           "openssl crl -verify accepts certline's DER CRL")

    verify = ["openssl", "verify", "-crl_check", "-CRLfile", pem, "-CAfile", "ca-bundle.crt"]
    proc = run(verify + ["device-3012-000001.crt"], pki, check=False)
    expect(proc.returncode != 0 and "certificate revoked" in proc.stdout + proc.stderr,
           "openssl verify -crl_check refuses the revoked device certificate")
    proc = run(verify + ["comm-terminal.crt"], pki, check=False)
    expect(proc.returncode == 0 and "comm-terminal.crt: OK" in proc.stdout,
           "openssl verify -crl_check accepts the comm-terminal certificate")

    out = run([tool, "check", "ca-bundle.crt", pem, device, comm], pki).stdout
    expect(f"{device} revoked keyCompromise" in out and f"{comm} valid" in out,
           "certline reads back its own CRL")

    # Signed by a CA the bundle does not hold.
    other = os.path.join(work, "other.pem")
    run([tool, "make", "other-root.crt", "other-root.key", "8", "30", other, device], pki)
    proc = openssl_crl(pki, other)
    expect(proc.returncode != 0 or "verify failure" in proc.stderr + proc.stdout,
           "openssl crl -verify refuses a CRL of another CA")
    proc = run([tool, "check", "ca-bundle.crt", other], pki, check=False)
    expect(proc.returncode != 0 and "not a trusted CA" in proc.stderr,
           "certline refuses a CRL of another CA")


OPENSSL_CA_CONF = """
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = {work}/ca
database = $dir/index.txt
new_certs_dir = $dir
certificate = {pki}/issuing.crt
private_key = {pki}/issuing.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_crl_days = 7
policy = anything
crl_extensions = crl_ext
[ anything ]
commonName = optional
[ crl_ext ]
authorityKeyIdentifier = keyid:always
"""


def openssl_made_crl(tool, pki, work):
    ca = os.path.join(work, "ca")
    os.makedirs(ca)
    open(os.path.join(ca, "index.txt"), "w").close()
    with open(os.path.join(ca, "crlnumber"), "w") as f:
        f.write("1000\n")
    conf = os.path.join(work, "ca.cnf")
    with open(conf, "w") as f:
        f.write(OPENSSL_CA_CONF.format(work=work, pki=pki))
    run(["openssl", "ca", "-config", conf, "-revoke", "comm-terminal.crt", "-crl_reason",
         "keyCompromise"], pki)
    crl = os.path.join(work, "openssl.pem")
    run(["openssl", "ca", "-config", conf, "-gencrl", "-out", crl], pki)
    device, comm = serial_of(pki, "device-3012-000001"), serial_of(pki, "comm-terminal")
    out = run([tool, "check", "ca-bundle.crt", crl, comm, device], pki).stdout
    expect("number 4096 entries 1" in out, "certline reads openssl's CRL number (0x1000)")
    expect(f"{comm} revoked keyCompromise" in out and f"{device} valid" in out,
           "certline finds the comm-terminal revoked in openssl's CRL, the device not")


def main():
    tool, source = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    work = tempfile.mkdtemp(prefix="test_crl_openssl-")
    try:
        pki = os.path.join(work, "pki")
        run(["bash", os.path.join(source, "tests/pki/make-test-pki.sh"), pki], work)
        certline_crls(tool, pki, work)
        openssl_made_crl(tool, pki, work)
    finally:
        shutil.rmtree(work)
    print("all CRL checks with openssl passed")


if __name__ == "__main__":
    main()
