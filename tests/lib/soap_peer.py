"""soap_peer.py: a stock SOAP client (Debian's python3-zeep) for certline's published WSDLs over
mutual TLS, for integration tests: it connects to 127.0.0.1 but sends SNI for, and verifies the
server certificate against, the configured server name."""

import requests
from requests.adapters import HTTPAdapter
import zeep
from zeep.plugins import HistoryPlugin
from zeep.transports import Transport


class ServerNameAdapter(HTTPAdapter):
    """Connects to whatever address the URL names but checks a fixed server name."""

    def __init__(self, server_name):
        self.server_name = server_name
        super().__init__()

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        pool_kwargs["server_hostname"] = self.server_name
        pool_kwargs["assert_hostname"] = self.server_name
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


def service(wsdl_path, address, server_name, cert_file, key_file, trust_file, timeout=60):
    """A zeep service proxy bound to address, as the client identity (cert_file, key_file), plus
    the client (for its WSDL) and the history of what was sent and received."""
    session = requests.Session()
    session.trust_env = False  # no proxies, no REQUESTS_CA_BUNDLE from the environment
    session.verify = trust_file
    session.cert = (cert_file, key_file)
    session.mount("https://", ServerNameAdapter(server_name))
    history = HistoryPlugin()
    client = zeep.Client(wsdl=wsdl_path, transport=Transport(session=session,
                                                              operation_timeout=timeout),
                         plugins=[history])
    qnames = list(client.wsdl.bindings)
    if len(qnames) != 1:
        raise RuntimeError("%s: expected one binding, found %r" % (wsdl_path, qnames))
    return client.create_service(qnames[0], address), client, history
