#!/bin/sh
# Throw-away PKI for the API-server test double, made with the openssl CLI.
#
#   mkcerts.sh DIR [CLIENT_CN] [CLIENT_O]
#
# Writes into DIR (created if missing):
#   ca.crt ca.key          self-signed CA (EC P-256, valid 2 days)
#   server.crt server.key  signed by the CA; SAN IP:127.0.0.1, IP:::1, DNS:localhost
#   client.crt client.key  signed by the CA; CN=CLIENT_CN (system:node:node-1),
#                          O=CLIENT_O (system:nodes), extendedKeyUsage=clientAuth
#   token                  a random bearer token, one line
# Prints nothing on success; exits non-zero on any openssl failure.
set -eu
dir=${1:?usage: mkcerts.sh DIR [CLIENT_CN] [CLIENT_O]}
cn=${2:-system:node:node-1}
org=${3:-system:nodes}
mkdir -p "$dir"
cd "$dir"
umask 077
q() { "$@" >/dev/null 2>openssl.err || { cat openssl.err >&2; exit 1; }; }

q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout ca.key -out ca.crt -days 2 -subj "/CN=nsdp-test-ca" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign"

cat > server.ext <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
EXT
cat > client.ext <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
EXT

for who in server client; do
  if [ "$who" = server ]; then subj="/CN=localhost"; else subj="/O=$org/CN=$cn"; fi
  q openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$who.key" -out "$who.csr" -subj "$subj"
  q openssl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
    -days 2 -extfile "$who.ext" -out "$who.crt"
done
openssl rand -hex 24 > token
rm -f server.csr client.csr server.ext client.ext ca.srl openssl.err
chmod 644 ca.crt server.crt client.crt token
