# haproxy.Dockerfile: HAProxy 2.6 from Debian's own packages, for the scale variant
# (deploy/docker-compose.scale.yml) where no image registry can be reached (haproxy:2.6 cannot
# be pulled). Built by deploy/containers/engine.py as certline/haproxy:2.6 on the local
# debian:bookworm. The configuration is mounted at /etc/haproxy/haproxy.cfg; HAProxy runs as
# the packaged haproxy user in the foreground (-W master-worker, -db no daemon).
FROM debian:bookworm
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends haproxy \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o haproxy -g haproxy -m 0750 /run/haproxy
USER haproxy
STOPSIGNAL SIGUSR1
ENTRYPOINT ["/usr/sbin/haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]
