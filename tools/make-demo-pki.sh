#!/usr/bin/env bash
# Makes a demo PKI in DIR: a trust anchor, authorities of the three
# algorithms (one of them revoked), a signed trust list and five
# certificates: genuine, forged (altered after signing), signed by the
# revoked key, expired, and a malformed request. Used by the demo and the
# integration tests.
# usage: make-demo-pki.sh BUILD_DIR OUT_DIR
set -euo pipefail

build=$(realpath "$1")
out=$2
auth="$build/tools/kpgate-authority"
scan="$build/tools/kpgate-scan"
mkdir -p "$out"
cd "$out"

day() { date -u +%F -d "$1"; }
now=$(date -u +%s)

"$auth" keygen --alg ed25519 --out anchor >/dev/null
"$auth" keygen --alg ecdsa-p256 --out za >/dev/null
"$auth" keygen --alg ed25519 --out bw >/dev/null
"$auth" keygen --alg rsa-pss --out ca >/dev/null
"$auth" keygen --alg ed25519 --out sl >/dev/null
# Authorities whose participants the policy plugins have something to say
# about: Russia (embargoed origin at EU checkpoints), Venezuela (suspended,
# as from 2008 to 2016), the Central African Republic (restricted, with
# compliant zones).
"$auth" keygen --alg ed25519 --out ru >/dev/null
"$auth" keygen --alg ed25519 --out ve >/dev/null
"$auth" keygen --alg ed25519 --out cf >/dev/null

cat > trust.json <<JSON
{
  "version": 1,
  "issued_at": $now,
  "next_update": $((now + 30 * 86400)),
  "keys": [
    { "pub": "za.pub", "alg": "ecdsa-p256", "participant": "ZA",
      "authority": "South African Diamond and Precious Metals Regulator",
      "not_before": "2020-01-01T00:00:00Z", "not_after": "2030-12-31T23:59:59Z",
      "status": "active" },
    { "pub": "bw.pub", "alg": "ed25519", "participant": "BW",
      "authority": "Botswana Ministry of Minerals and Energy",
      "not_before": "2020-01-01T00:00:00Z", "not_after": "2030-12-31T23:59:59Z",
      "status": "active" },
    { "pub": "ca.pub", "alg": "rsa-pss", "participant": "CA",
      "authority": "Natural Resources Canada",
      "not_before": "2020-01-01T00:00:00Z", "not_after": "2030-12-31T23:59:59Z",
      "status": "active" },
    { "pub": "sl.pub", "alg": "ed25519", "participant": "SL",
      "authority": "Government Gold and Diamond Office",
      "not_before": "2020-01-01T00:00:00Z", "not_after": "2030-12-31T23:59:59Z",
      "status": "revoked", "status_since": $((now - 86400)) },
    { "pub": "ru.pub", "alg": "ed25519", "participant": "RU",
      "authority": "Gokhran of Russia",
      "not_before": "2020-01-01T00:00:00Z", "not_after": "2030-12-31T23:59:59Z",
      "status": "active" },
    { "pub": "ve.pub", "alg": "ed25519", "participant": "VE",
      "authority": "Ministerio del Poder Popular de Desarrollo Minero Ecologico",
      "not_before": "2020-01-01T00:00:00Z", "not_after": "2030-12-31T23:59:59Z",
      "status": "active" },
    { "pub": "cf.pub", "alg": "ed25519", "participant": "CF",
      "authority": "Bureau d'Evaluation et de Controle de Diamant et d'Or",
      "not_before": "2020-01-01T00:00:00Z", "not_after": "2030-12-31T23:59:59Z",
      "status": "active" }
  ],
  "participants": [
    { "code": "ZA", "status": "member" }, { "code": "BW", "status": "member" },
    { "code": "CA", "status": "member" }, { "code": "SL", "status": "member" },
    { "code": "EU", "status": "member" }, { "code": "CF", "status": "restricted" },
    { "code": "VE", "status": "suspended" }, { "code": "RU", "status": "member" }
  ]
}
JSON
"$auth" trustlist --anchor anchor.key --in trust.json --out trust.kptl >/dev/null

# cert PARTICIPANT NUMBER ISSUE EXPIRY -> JSON on stdout
cert() {
  cat <<JSON
{
  "number": "$2",
  "issuing_participant": "$1",
  "issuing_authority": "$5",
  "exporter": { "name": "Kimberley Rough Exports (Pty) Ltd", "address": "1 Mine Road, Kimberley",
                "identifier": "EXP-4471" },
  "importer": { "name": "Antwerp Diamond Trading NV", "address": "Hoveniersstraat 2, Antwerpen",
                "identifier": "BE0412345678" },
  "importing_participant": "EU",
  "mixed_origin": false,
  "origins": [ { "country": "$1" } ],
  "lines": [ { "hs": "7102.31", "carats": "1234.56", "value_usd": "160492.80" } ],
  "parcels": 2,
  "issue_date": "$3",
  "expiry_date": "$4",
  "container_seals": [ "SEAL-$2" ]
}
JSON
}

cert ZA ZA-2026-000101 "$(day '-10 days')" "$(day '+80 days')" \
  "South African Diamond and Precious Metals Regulator" > genuine.json
"$auth" issue --key za.key --in genuine.json --out genuine.kpc >/dev/null
cert BW BW-2026-000102 "$(day '-3 days')" "$(day '+60 days')" \
  "Botswana Ministry of Minerals and Energy" > genuine-bw.json
"$auth" issue --key bw.key --in genuine-bw.json --out genuine-bw.kpc >/dev/null
cert CA CA-2026-000103 "$(day '-1 days')" "$(day '+60 days')" \
  "Natural Resources Canada" > genuine-ca.json
"$auth" issue --key ca.key --in genuine-ca.json --out genuine-ca.kpc >/dev/null

cert RU RU-2026-000106 "$(day '-2 days')" "$(day '+60 days')" \
  "Gokhran of Russia" > russian.json
"$auth" issue --key ru.key --in russian.json --out russian.kpc >/dev/null

# Forged: the importer's name altered after signing (same length, so the
# encoding stays well formed; only the signature can tell).
python3 - genuine.kpc forged.kpc <<'PY'
import sys
data = open(sys.argv[1], 'rb').read()
forged = data.replace(b'Antwerp Diamond Trading NV', b'Dubai Diamond Trading LLCX', 1)
assert forged != data
open(sys.argv[2], 'wb').write(forged)
PY

cert SL SL-2026-000104 "$(day '-5 days')" "$(day '+60 days')" \
  "Government Gold and Diamond Office" > revoked.json
"$auth" issue --key sl.key --in revoked.json --out revoked.kpc >/dev/null

cert ZA ZA-2025-000105 "$(day '-200 days')" "$(day '-110 days')" \
  "South African Diamond and Precious Metals Regulator" > expired.json
"$auth" issue --key za.key --in expired.json --out expired.kpc >/dev/null

# Malformed: a genuine request cut short in the middle of the certificate.
"$scan" --write-request genuine.req genuine.kpc
head -c 300 genuine.req > malformed.req

cat > kpgate.conf <<CONF
# kpgate demo configuration, made by make-demo-pki.sh
gateway: {
  checkpoint = "BE-ANR-DEMO";
  jurisdiction = "EU";
  udp_port = 7102;
  idle: { polls = 64; sleep_us = 200; };
};
ports: ( { address = "192.0.2.1"; address6 = "2001:db8::1"; } );
trust: {
  list = "trust.kptl";
  anchors = [ "anchor.pub" ];
  state = "trust.state";
};
CONF
