"""raw_peer.py: sends raw HTTP bytes to a certline server over mutual TLS and reads the answer
until the server closes, for hostile-input tests (a stock client would never send such bytes)."""

import socket
import ssl

SOAP12 = b"http://www.w3.org/2003/05/soap-envelope"


def exchange(port, server_name, cert_file, key_file, trust_file, data, timeout=30):
    """Sends data to 127.0.0.1:port (SNI and verification for server_name; None: the chain is
    verified but not the name, as for a device) as the client identity (cert_file, key_file);
    returns every byte received until the server closed."""
    return exchange_in(client_context(server_name, cert_file, key_file, trust_file), port,
                       server_name, data, timeout)


def client_context(server_name, cert_file, key_file, trust_file):
    """The TLS 1.2 client context of exchange: the identity (cert_file, key_file) loaded, the
    server verified against trust_file (its name too unless server_name is None)."""
    context = ssl.create_default_context(cafile=trust_file)
    context.check_hostname = server_name is not None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


def exchange_in(context, port, server_name, data, timeout=30):
    """exchange over a context made beforehand (client_context): a new connection, its
    handshake, data sent and every byte received until the server closed."""
    received = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=server_name) as tls:
            try:
                tls.sendall(data)
            except (ssl.SSLError, OSError):
                pass  # the server may refuse before reading everything; read what it said
            while True:
                try:
                    chunk = tls.recv(65536)
                except (ssl.SSLError, OSError):
                    break
                if not chunk:
                    break
                received.append(chunk)
    return b"".join(received)


def post(path, host, body, extra_headers=b""):
    """An HTTP/1.1 SOAP 1.2 POST of body (bytes) with a correct Content-Length."""
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: " + host.encode() +
            b"\r\nContent-Type: application/soap+xml; charset=utf-8\r\nContent-Length: %d\r\n"
            % len(body) + extra_headers + b"Connection: close\r\n\r\n" + body)


def envelope(prefix, namespace, body):
    """A SOAP 1.2 envelope binding prefix to namespace around body (bytes)."""
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV="' +
            SOAP12 + b'" xmlns:' + prefix.encode() + b'="' + namespace.encode() + b'">'
            b"<SOAP-ENV:Body>" + body + b"</SOAP-ENV:Body></SOAP-ENV:Envelope>")


def refusal_problem(answer, *needles):
    """None if answer is a SOAP 1.2 fault (not 200) holding every needle and nothing but printable
    ASCII and whitespace (no input echoed raw); else what is wrong with it."""
    head = answer.split(b"\r\n", 1)[0]
    if not answer:
        return "no answer (connection closed without a fault)"
    if b" 200 " in head or SOAP12 not in answer or b"Fault" not in answer:
        return "not a SOAP 1.2 fault: %r" % answer[:400]
    for needle in needles:
        if needle.encode() not in answer:
            return "fault lacks %r: %r" % (needle, answer[-600:])
    for i, c in enumerate(answer):
        if c not in (9, 10, 13) and not 0x20 <= c <= 0x7E:
            return "byte 0x%02X at %d of the answer" % (c, i)
    return None
