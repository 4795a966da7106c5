#!/bin/sh
# The kafka container's command: builds the PEM keystore Kafka reads (private key and
# certificate in one file, ssl.keystore.type=PEM) from the compose secrets server-key.pem and
# server.pem (deploy/certs, made by `mom certs dev`), and the client settings the health check
# uses, then starts the broker with the image's own launcher.
#
# The TLS listeners are named BROKER and EXTERNAL on purpose: the image's configure script asks
# for JKS keystore files whenever KAFKA_ADVERTISED_LISTENERS contains "SSL://", which a PEM
# keystore does not need.
set -eu

dir=/tmp/mom-tls
mkdir -p "$dir"
umask 077
cat /run/secrets/server-key.pem /run/secrets/server.pem > "$dir/keystore.pem"
cat > "$dir/client.properties" <<PROPERTIES
security.protocol=SSL
ssl.truststore.type=PEM
ssl.truststore.location=/run/secrets/ca.pem
ssl.keystore.type=PEM
ssl.keystore.location=$dir/keystore.pem
PROPERTIES

exec /etc/kafka/docker/run
