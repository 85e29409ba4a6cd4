#!/usr/bin/env bash
# Runs the seed's own curl examples (shared/seed-customers-api.md) against a fresh server.
#
# Builds the binary, creates a temporary store with one API client, starts
# `customer-store serve` on a free loopback port, runs each seed command as written (only the
# host, the credentials and the customer id substituted), checks every response with python3,
# and stops the server. Needs only cargo, curl and python3.
#
#   scripts/seed-curl.sh              # builds target/debug/customer-store first
#   CUSTOMER_STORE_BIN=path/to/bin scripts/seed-curl.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${CUSTOMER_STORE_BIN:-}" ]]; then
    # Default features: the binary as shipped (`cargo test --all-features` runs the other tests
    # on the one built with every feature, mimalloc included).
    cargo build --quiet --bin customer-store
    CUSTOMER_STORE_BIN="${CARGO_TARGET_DIR:-$(pwd)/target}/debug/customer-store"
fi
BIN="$CUSTOMER_STORE_BIN"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
    echo "seed-curl: FAIL: $*" >&2
    if [[ -f "$WORK/server.err" ]]; then
        echo "--- server log" >&2
        tail -n 20 "$WORK/server.err" >&2
    fi
    exit 1
}

DB="$WORK/customers.redb"

# Credentials: created before the server starts (the server then holds the file).
"$BIN" --db "$DB" clients create --business acme \
    --scope customers:read --scope customers:write >"$WORK/client.json"
read -r CLIENT_ID CLIENT_SECRET < <(python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
assert c["business"] == "acme" and c["scopes"] == ["customers:read", "customers:write"], c
print(c["clientId"], c["clientSecret"])
' "$WORK/client.json")

# A free loopback port: the server binds port 0 and prints the address it got.
"$BIN" --db "$DB" serve --addr 127.0.0.1:0 >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 1 300); do
    grep -q '^listening on ' "$WORK/server.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited"
    sleep 0.1
done
HOST="$(sed -n 's/^listening on \(http:\/\/[^ ]*\).*/\1/p' "$WORK/server.out")"
[[ -n "$HOST" ]] || fail "the server did not print its address"
echo "seed-curl: server at $HOST (store $DB)"

# curl's own options for every command below come from this file, so that the seed's command
# lines stay as written: no progress meter, and the status code on a last line of its own.
export CURL_HOME="$WORK"
printf '%s\n' 'silent' 'show-error' 'write-out = "\n%{http_code}"' >"$WORK/.curlrc"

# check NAME EXPECTED_STATUS PYTHON_ASSERTIONS: reads curl's output on stdin; the assertions
# see `d` (the response JSON) and `ID` (the created customer's id, once known).
check() {
    local name="$1" status="$2" assertions="$3" out
    out="$(cat)"
    python3 - "$name" "$status" "${ID:-}" "$out" <<PY || fail "$name"
import json, re, sys
name, status, ID, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
body, _, code = out.rpartition("\n")
assert code == status, f"{name}: status {code}, expected {status}: {body}"
d = json.loads(body)
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
FIELDS = ["id", "externalId", "email", "name", "phone", "description", "metadata",
          "status", "currency", "createdAt", "updatedAt"]
$assertions
print(f"seed-curl: ok: {name} -> {code}")
PY
}

# --- Create a Customer (seed, verbatim but for host and credentials) ---
CREATE_OUT="$(curl $HOST/v1/customers \
-u "$CLIENT_ID:$CLIENT_SECRET" \
-H "Content-Type: application/json" \
-d '{
"email": "yaw@example.com",
"name": "Yaw Mensah",
"phone": "+233249998888",
"externalId": "user_db_yaw123",
"description": "Enterprise API User",
"currency": "GHS"
}')"
check "create" 201 '
assert d["success"] is True
c = d["data"]
assert list(c) == FIELDS, list(c)
assert re.fullmatch(r"cust_[0-9a-z]{14}", c["id"]), c["id"]
expected = {"externalId": "user_db_yaw123", "email": "yaw@example.com", "name": "Yaw Mensah",
            "phone": "+233249998888", "description": "Enterprise API User", "metadata": None,
            "status": "ACTIVE", "currency": "GHS"}
assert {k: c[k] for k in expected} == expected, c
assert TS.match(c["createdAt"]) and c["createdAt"] == c["updatedAt"], c
' <<<"$CREATE_OUT"
ID="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1].rpartition("\n")[0])["data"]["id"])' "$CREATE_OUT")"

# --- Retrieve a Customer ---
curl $HOST/v1/customers/$ID \
-u "$CLIENT_ID:$CLIENT_SECRET" | check "retrieve" 200 '
assert d["success"] is True
c = d["data"]
assert list(c) == FIELDS and c["id"] == ID and c["name"] == "Yaw Mensah", c
assert c["externalId"] == "user_db_yaw123" and c["currency"] == "GHS", c
'

# --- List Customers ---
curl "$HOST/v1/customers?email=yaw&limit=1" \
-u "$CLIENT_ID:$CLIENT_SECRET" | check "list" 200 '
assert d["success"] is True
page = d["data"]
assert list(page) == ["items", "nextCursor", "hasMore"], page
assert page["nextCursor"] == ID and page["hasMore"] is False, page
[item] = page["items"]
assert list(item) == ["id", "email", "name", "phone", "status", "createdAt"], item
assert item == {"id": ID, "email": "yaw@example.com", "name": "Yaw Mensah",
                "phone": "+233249998888", "status": "ACTIVE", "createdAt": item["createdAt"]}
assert TS.match(item["createdAt"])
'

# --- Update a Customer ---
curl -X PATCH $HOST/v1/customers/$ID \
-u "$CLIENT_ID:$CLIENT_SECRET" \
-H "Content-Type: application/json" \
-d '{
"name": "Yaw Mensah Jr.",
"status": "ACTIVE"
}' | check "update" 200 '
assert d["success"] is True
c = d["data"]
assert list(c) == FIELDS, list(c)
assert c["id"] == ID and c["name"] == "Yaw Mensah Jr." and c["status"] == "ACTIVE", c
assert c["description"] == "Enterprise API User" and c["phone"] == "+233249998888", c
assert TS.match(c["updatedAt"]) and c["updatedAt"] >= c["createdAt"], c
'

# --- Beyond the seed: an error, and delete ---
curl $HOST/v1/customers \
-u "$CLIENT_ID:$CLIENT_SECRET" \
-H "Content-Type: application/json" \
-d '{"email": "YAW@example.com", "name": "Someone"}' | check "duplicate email" 409 '
assert d == {"success": False, "error": {"code": "email_taken", "field": "email",
             "message": d["error"]["message"]}}, d
assert ID in d["error"]["message"], d
'
curl -X DELETE $HOST/v1/customers/$ID \
-u "$CLIENT_ID:$CLIENT_SECRET" | check "delete" 200 '
assert d == {"success": True, "data": {"id": ID, "deleted": True}}, d
'
curl $HOST/v1/customers/$ID \
-u "$CLIENT_ID:$CLIENT_SECRET" | check "retrieve after delete" 404 '
assert d["success"] is False and d["error"]["code"] == "not_found", d
'

# Stop the server (SIGTERM: graceful) and check that it exits cleanly.
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || fail "the server exited with status $?"
SERVER_PID=""
echo "seed-curl: all seed examples passed"
