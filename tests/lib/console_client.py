"""console_client.py: an HTTPS client of a console (the comm-terminal's or ca-server's) as a
script would be one: one kept-alive connection, the cookies it is given kept, the login form
posted with its CSRF token. Used by the console benchmarks and tests."""
import http.client
import re
import ssl
import urllib.parse

from certline_harness import check


class Console:
    """An HTTPS client of the console with its session cookie, on one kept-alive connection."""

    def __init__(self, port):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self.connection = http.client.HTTPSConnection("127.0.0.1", port, context=context,
                                                      timeout=60)
        self.cookies = {}

    def start(self, method, path, body=None):
        """Sends a request; the response, its body not read yet."""
        headers = {"Cookie": "; ".join("%s=%s" % kv for kv in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, rest = value.split("=", 1)
                self.cookies[name] = rest.split(";", 1)[0]
        return response

    def answer(self, method, path, body=None):
        """The status, the headers (lower-case names) and the body read in full."""
        response = self.start(method, path, body)
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def download(self, path):
        """GET path on the same connection, read as a lean client reads a large download: the
        socket in blocks of 1 MiB and the chunked coding undone on the whole buffer (http.client
        reads a chunked answer through a buffered file, chunk by chunk, which for 17 MB costs
        the reader itself 100 ms or more). The status and the body; an answer that ends early
        raises."""
        conn = self.connection
        if conn.sock is None:
            conn.connect()
        cookie = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        conn.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\n\r\n" % (
            path, conn.host, cookie)).encode())
        data, block = bytearray(), bytearray(1 << 20)

        def more():
            n = conn.sock.recv_into(block)
            check(n > 0, "%s: the answer ended early (%d bytes)" % (path, len(data)))
            data.extend(memoryview(block)[:n])
        while data.find(b"\r\n\r\n") < 0:
            more()
        end = data.find(b"\r\n\r\n")
        head = bytes(data[:end]).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, v in
                  (line.split(":", 1) for line in head[1:])}
        pos, parts = end + 4, []
        close = fields.get("connection", "").lower() == "close"  # (as after 100 requests)
        if fields.get("transfer-encoding") != "chunked":
            size = int(fields.get("content-length", "0"))
            while len(data) < pos + size:
                more()
            return self.ended(close, status, bytes(data[pos:pos + size]))
        while True:
            line_end = data.find(b"\r\n", pos)
            while line_end < 0:
                more()
                line_end = data.find(b"\r\n", pos)
            size = int(bytes(data[pos:line_end]).split(b";")[0], 16)
            while len(data) < line_end + 2 + size + 2:
                more()
            if size == 0:
                break
            parts.append((line_end + 2, line_end + 2 + size))
            pos = line_end + 2 + size + 2
        with memoryview(data) as view:
            return self.ended(close, status, b"".join(view[a:b] for a, b in parts))

    def ended(self, close, status, body):
        """A download's end: the connection closed if the answer said it would be (the next
        request opens a new one)."""
        if close:
            self.connection.close()
        return status, body

    def request(self, method, path, body=None):
        status, _, data = self.answer(method, path, body)
        return status, data

    def csrf(self, path):
        """The CSRF token of the form(s) on the page at path (the session's, once logged in)."""
        status, page = self.request("GET", path)
        found = re.search(rb'name="csrf" value="([0-9a-f]{64})"', page)
        check(status == 200 and found is not None, "no CSRF token on %s: %d" % (path, status))
        return found.group(1).decode()

    def login(self, operator, password, cookie="__Host-certline"):
        token = self.csrf("/login")
        status, _ = self.request("POST", "/login", urllib.parse.urlencode(
            {"csrf": token, "operator": operator, "password": password}))
        check(status == 303 and cookie in self.cookies, "login: %d" % status)
