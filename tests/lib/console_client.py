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
