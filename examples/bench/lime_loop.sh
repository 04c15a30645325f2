#!/usr/bin/env bash
# lime's loop over 100 rows against one batch job of the sidecar, on the
# same model server: BenchmarkMethodsModelBound's fake KServe v2 model
# (a process of its own, 20 ms + 2 us a row per call, no row cap), a
# sidecar built from this checkout in front of it, and lime_loop.py.
#
#   LIME_SRC=/path/to/lime-checkout examples/bench/lime_loop.sh [lime_loop.py flags]
#
# SIDECAR_FLAGS adds flags to the sidecar's serve (--batch-linger 20ms).
#
# LIME_SRC holds marcotcr/lime's `lime` package (lime is not installable
# here: no PyPI). Run by hand (make bench-lime-loop); its figures are in
# the README's Performance section.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${LIME_SRC:?set LIME_SRC to a directory holding the lime package of marcotcr/lime}"
test -f "$LIME_SRC/lime/lime_tabular.py" || { echo "no lime/lime_tabular.py under $LIME_SRC"; exit 1; }

tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
go test -c -o "$tmp/server.test" ./server/
go build -o "$tmp/explainer" ./cmd/explainer

# The fake serves until its stdin closes: hold it open with a fifo.
mkfifo "$tmp/stdin"
EXPLAINER_MODELBOUND_FAKE='{"MaxBatchSize":0,"Latency":20000000,"PerRow":2000}' \
  "$tmp/server.test" -test.run '^TestModelBoundFakeModel$' -test.count=1 <"$tmp/stdin" >"$tmp/fake.log" 2>&1 &
pids+=($!)
exec 3>"$tmp/stdin"
timeout 60 bash -c "until grep -q '^serving ' $tmp/fake.log; do sleep 0.1; done"
model=$(sed -n 's/^serving //p' "$tmp/fake.log" | head -1)

sidecar=127.0.0.1:${SIDECAR_PORT:-50097}
"$tmp/explainer" serve --listen "$sidecar" --predictor "$model" --predictor-plaintext \
  --protocol kserve-v2 --model model ${SIDECAR_FLAGS:-} >"$tmp/sidecar.log" 2>&1 &
pids+=($!)
timeout 60 bash -c "until (exec 3<>/dev/tcp/${sidecar%:*}/${sidecar#*:}) 2>/dev/null; do sleep 0.1; done" ||
  { cat "$tmp/sidecar.log"; exit 1; }

/usr/bin/python3 examples/bench/lime_loop.py --model-server "$model" --sidecar "$sidecar" \
  --lime-src "$LIME_SRC" "$@"
