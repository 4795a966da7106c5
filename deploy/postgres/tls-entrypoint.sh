#!/usr/bin/env bash
# The postgres container's entrypoint: copies the server certificate and key (compose secrets
# from deploy/certs, made by `mom certs dev`) to where the server reads them, owned by postgres
# with mode 0600 as Postgres requires of a key file (a bind-mounted file keeps the host's owner),
# then runs the image's own entrypoint with the arguments of docker-compose.yml's command
# (ssl=on, these files, and deploy/postgres/pg_hba.conf, which accepts TLS connections only).
set -euo pipefail

tls=/var/run/postgresql/tls
install -d -o postgres -g postgres -m 0700 "$tls"
install -o postgres -g postgres -m 0644 /run/secrets/server.pem "$tls/server.pem"
install -o postgres -g postgres -m 0600 /run/secrets/server-key.pem "$tls/server-key.pem"
install -o postgres -g postgres -m 0644 /run/secrets/ca.pem "$tls/ca.pem"

exec docker-entrypoint.sh "$@"
