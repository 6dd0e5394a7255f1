#!/bin/bash
# test_authority.sh — kpgate-authority end to end: keys of every algorithm, a
# trust list, a certificate, a revocation, `show`, and the refusals a user
# meets (exit 1 with the cause, exit 2 for usage).
# usage: test_authority.sh PATH/TO/kpgate-authority
set -euo pipefail

tool=$(realpath "$1")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect CODE PATTERN CMD...: runs CMD, wants exit CODE and PATTERN on stderr.
expect() {
	local code=$1 pattern=$2 rc=0
	shift 2
	"$@" >out.txt 2>err.txt || rc=$?
	[ "$rc" -eq "$code" ] || { cat err.txt >&2; fail "$* exited $rc, wanted $code"; }
	grep -q -- "$pattern" err.txt || { cat err.txt >&2; fail "$*: no '$pattern' in stderr"; }
}

# json EXPR FILE: prints a value read from a JSON document with python.
json() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[2])); print(eval(sys.argv[1]))' "$1" "$2"
}

"$tool" --help | grep -q 'keygen' || fail "--help"
expect 2 'no command' "$tool"
expect 2 'unknown command' "$tool" frobnicate --out x
expect 2 'needs --alg' "$tool" keygen --out x
expect 2 'not known here' "$tool" keygen --alg ed25519 --out x --list y

# Keys: an anchor and one authority per algorithm.
"$tool" keygen --alg ed25519 --out anchor >anchor.id
for alg in ecdsa-p256 ed25519 rsa-pss; do
	"$tool" keygen --alg $alg --out za-$alg >za-$alg.id
	grep -Eq '^[0-9a-f]{32}$' za-$alg.id || fail "keygen $alg printed no key id"
	[ "$(stat -c %a za-$alg.key)" = 600 ] || fail "za-$alg.key is not mode 0600"
	grep -q 'BEGIN PRIVATE KEY' za-$alg.key || fail "za-$alg.key is not PKCS#8 PEM"
	grep -q 'BEGIN PUBLIC KEY' za-$alg.pub || fail "za-$alg.pub is not SPKI PEM"
done
expect 1 'not ecdsa-p256, ed25519 or rsa-pss' "$tool" keygen --alg dsa --out bad

mkdir pub
cp za-*.pub pub/
cat >trust.json <<'EOF'
{
  "version": 1,
  "issued_at": "2026-05-01T00:00:00Z",
  "next_update": "2099-11-24T00:00:00Z",
  "keys": [
    {"pub": "pub/za-ecdsa-p256.pub", "alg": "ecdsa-p256", "participant": "ZA",
     "authority": "South African Diamond and Precious Metals Regulator",
     "not_before": "2026-01-01T00:00:00Z", "not_after": 1830297600, "status": "active"},
    {"pub": "pub/za-ed25519.pub", "alg": "ed25519", "participant": "ZA",
     "authority": "South African Diamond and Precious Metals Regulator",
     "not_before": "2026-01-01T00:00:00Z", "not_after": "2028-01-01T00:00:00Z"},
    {"pub": "pub/za-rsa-pss.pub", "alg": "rsa-pss", "participant": "ZA",
     "authority": "South African Diamond and Precious Metals Regulator",
     "not_before": "2026-01-01T00:00:00Z", "not_after": "2028-01-01T00:00:00Z"}
  ],
  "participants": [
    {"code": "ZA", "status": "member"},
    {"code": "EU", "status": "member"},
    {"code": "CF", "status": "restricted"}
  ]
}
EOF
"$tool" trustlist --anchor anchor.key --in trust.json --out trust.kptl
"$tool" show trust.kptl >trust.show
[ "$(json 'd["type"]' trust.show)" = trust_list ] || fail "show: not a trust list"
[ "$(json 'd["anchor_key_id"]' trust.show)" = "$(cat anchor.id)" ] || fail "show: anchor key id"
[ "$(json 'd["trust_list"]["version"]' trust.show)" = 1 ] || fail "show: version"
[ "$(json 'd["trust_list"]["next_update"]' trust.show)" = 2099-11-24T00:00:00Z ] || fail "show: next_update"
[ "$(json 'd["trust_list"]["keys"][2]["key_id"]' trust.show)" = "$(cat za-rsa-pss.id)" ] || fail "show: key id"
[ "$(json 'd["trust_list"]["participants"][2]["status"]' trust.show)" = restricted ] || fail "show: participant"

# Refusals name the JSON path and the cause.
sed 's/"alg": "rsa-pss"/"alg": "ed25519"/' trust.json >wrong-alg.json
expect 1 'gateway would refuse' "$tool" trustlist --anchor anchor.key --in wrong-alg.json --out x.kptl
sed 's/"status": "active"}/"status": "active", "colour": "blue"}/' trust.json >unknown.json
expect 1 'keys\[0\].colour: unknown key' "$tool" trustlist --anchor anchor.key --in unknown.json --out x.kptl
sed 's/"code": "CF"/"code": "cf"/' trust.json >code.json
expect 1 'participants\[2\].code' "$tool" trustlist --anchor anchor.key --in code.json --out x.kptl
expect 1 'must be an ed25519 key' "$tool" trustlist --anchor za-rsa-pss.key --in trust.json --out x.kptl
[ ! -e x.kptl ] || fail "a refused list was written"

cat >cert.json <<'EOF'
{
  "number": "ZA-2026-000001",
  "issuing_participant": "ZA",
  "issuing_authority": "South African Diamond and Precious Metals Regulator",
  "exporter": {"name": "Kimberley Rough Exports (Pty) Ltd", "address": "1 Diamond Road, Kimberley", "identifier": "ZA-EXP-0042"},
  "importer": {"name": "Antwerp Rough Trading NV", "identifier": "BE-IMP-0815"},
  "importing_participant": "EU",
  "mixed_origin": false,
  "origins": [{"country": "ZA"}],
  "lines": [{"hs": "7102.31", "carats": "123.45", "value_usd": "16665.75"},
            {"hs": "7102.21", "carats": "10.5", "value_usd": "120"}],
  "parcels": 2,
  "issue_date": "2026-05-18",
  "expiry_date": "2026-08-16",
  "container_seals": ["SEAL-ZA-000001"],
  "traceability_ref": "G7-TRACE-0001"
}
EOF
for alg in ecdsa-p256 ed25519 rsa-pss; do
	"$tool" issue --key za-$alg.key --in cert.json --out cert-$alg.kpc
	"$tool" show cert-$alg.kpc >cert.show
	[ "$(json 'd["key_id"]' cert.show)" = "$(cat za-$alg.id)" ] || fail "show cert: key id ($alg)"
done
[ "$(json 'd["certificate"]["lines"][0]["carats"]' cert.show)" = 123.45 ] || fail "show cert: carats"
[ "$(json 'd["certificate"]["lines"][1]["carats"]' cert.show)" = 10.50 ] || fail "show cert: carats"
[ "$(json 'd["certificate"]["lines"][1]["value_usd"]' cert.show)" = 120.00 ] || fail "show cert: value"
[ "$(json 'd["certificate"]["issue_date"]' cert.show)" = 2026-05-18 ] || fail "show cert: date"
# What show prints is what issue reads.
json 'json.dumps(d["certificate"])' cert.show >again.json
"$tool" issue --key za-ed25519.key --in again.json --out again.kpc
cmp -s again.kpc cert-ed25519.kpc || fail "show -> issue does not give the same certificate"

sed 's/"123.45"/"123.456"/' cert.json >c1.json
expect 1 'lines\[0\].carats' "$tool" issue --key za-ed25519.key --in c1.json --out x.kpc
sed 's/"7102.31"/"7102.39"/' cert.json >c2.json
expect 1 'not a KP HS code' "$tool" issue --key za-ed25519.key --in c2.json --out x.kpc
sed 's/"parcels": 2/"parcels": 2, "parcel": 3/' cert.json >c3.json
expect 1 'parcel: unknown key' "$tool" issue --key za-ed25519.key --in c3.json --out x.kpc
sed 's/"2026-08-16"/"2026-02-30"/' cert.json >c4.json
expect 1 'expiry_date' "$tool" issue --key za-ed25519.key --in c4.json --out x.kpc
sed 's/"name": "Antwerp Rough Trading NV", //' cert.json >c5.json
expect 1 'importer.name: missing' "$tool" issue --key za-ed25519.key --in c5.json --out x.kpc
python3 - <<'EOF'
import json
c = json.load(open("cert.json"))
c["container_seals"] = ["SEAL-ZA-%012d" % i for i in range(60)]
json.dump(c, open("big.json", "w"))
EOF
expect 1 'request datagram' "$tool" issue --key za-rsa-pss.key --in big.json --out x.kpc
[ ! -e x.kpc ] || fail "a refused certificate was written"

# Revoke the Ed25519 key, then retire the P-256 one.
ed=$(cat za-ed25519.id)
"$tool" revoke --anchor anchor.key --list trust.kptl --key-id "$ed" \
	--since 2026-05-20T12:00:00Z --out trust2.kptl
"$tool" show trust2.kptl >trust2.show
[ "$(json 'd["trust_list"]["version"]' trust2.show)" = 2 ] || fail "revoke: version not bumped"
[ "$(json 'd["trust_list"]["keys"][1]["status"]' trust2.show)" = revoked ] || fail "revoke: status"
[ "$(json 'd["trust_list"]["keys"][1]["status_since"]' trust2.show)" = 2026-05-20T12:00:00Z ] || fail "revoke: since"
[ "$(json 'd["trust_list"]["keys"][0]["status"]' trust2.show)" = active ] || fail "revoke touched another key"
expect 1 'already revoked' "$tool" retire --anchor anchor.key --list trust2.kptl --key-id "$ed" --out x.kptl
"$tool" retire --anchor anchor.key --list trust2.kptl --key-id "$(cat za-ecdsa-p256.id)" \
	--since 1779278400 --out trust3.kptl
"$tool" show trust3.kptl >trust3.show
[ "$(json 'd["trust_list"]["version"]' trust3.show)" = 3 ] || fail "retire: version"
[ "$(json 'd["trust_list"]["keys"][0]["status"]' trust3.show)" = retired ] || fail "retire: status"
expect 1 'not after issued_at' "$tool" revoke --anchor anchor.key --list trust.kptl --key-id "$ed" \
	--next-update 2000-01-01T00:00:00Z --out x.kptl
expect 1 'no key' "$tool" revoke --anchor anchor.key --list trust.kptl --key-id 00000000000000000000000000000000 --out x.kptl
expect 1 'not 32 hex digits' "$tool" revoke --anchor anchor.key --list trust.kptl --key-id zz --out x.kptl
expect 1 'neither a signed certificate nor a signed trust list' "$tool" show trust.json
expect 2 'show takes one FILE' "$tool" show
echo "ok"
