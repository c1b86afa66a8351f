# postgres.Dockerfile: PostgreSQL 15 from Debian's own packages, for deploy/docker-compose.yml
# where no image registry can be reached (postgres:15 cannot be pulled). Built by
# deploy/containers/engine.py as certline/postgres:15 on the local debian:bookworm; the compose
# file takes it with CERTLINE_POSTGRES_IMAGE=certline/postgres:15.
#
# It behaves as the official image does for what the compose file uses: POSTGRES_USER,
# POSTGRES_PASSWORD_FILE, /docker-entrypoint-initdb.d/*.sh run once on the first start, data in
# /var/lib/postgresql/data, the server as user postgres with uid 999 (the owner
# deploy/container/make-secrets.sh gives the database secrets). It also holds pg_auto_failover
# (Debian's postgresql-15-auto-failover and pg_autoctl) for the scale variant
# (deploy/docker-compose.scale.yml: a monitor, a primary and a synchronous standby), whose
# containers start deploy/container/pg-formation.sh instead of this entry point.
FROM debian:bookworm
RUN groupadd --system --gid 999 postgres \
 && useradd --system --uid 999 --gid postgres --home-dir /var/lib/postgresql --shell /bin/bash \
      postgres \
 && apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql-15 \
      postgresql-15-auto-failover pg-auto-failover-cli \
 && pg_dropcluster 15 main \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data \
 && install -d -o postgres -g postgres -m 2775 /var/run/postgresql \
 && install -d -m 0755 /docker-entrypoint-initdb.d
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
USER postgres
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
CMD ["postgres"]
