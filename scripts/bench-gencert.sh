#!/usr/bin/env bash
# Issue 100 leaf certificates (RSA-2048, then ECDSA P-256, each from a CA of its kind) with certrescue and with a
# loop of the real `cfssl gencert | cfssljson -bare`, on the same CA, config and
# machine, in one run. Prints each run and the medians, and the throughput ratio.
# Usage: [ALGOS="rsa-2048 ecdsa-256"] scripts/bench-gencert.sh [RUNS]   (default 5)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
n=100
eval "$("$top/scripts/testbed.sh" cfssl | sed 's/^/tb_/')"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$top" && CGO_ENABLED=0 go build -trimpath -o "$work/certrescue" ./cmd/certrescue)
cr="$work/certrescue"
cp "$top"/internal/kit/conf/*.json "$work/"
# Each run signs with a CA of the leaves' own kind (an RSA-2048 CA from the kit's
# ca-csr.json for RSA leaves, a P-256 CA for P-256 leaves), the same for both tools.
mkdir -p "$work/ca-rsa-2048" "$work/ca-ecdsa-256"
"$cr" ca init --out-dir "$work/ca-rsa-2048" "$work/ca-csr.json" >/dev/null 2>&1
sed 's/"algo": "rsa", "size": 2048/"algo": "ecdsa", "size": 256/' "$work/ca-csr.json" > "$work/ca-ec-csr.json"
"$cr" ca init --out-dir "$work/ca-ecdsa-256" --bare ca "$work/ca-ec-csr.json" >/dev/null 2>&1

now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

for algo in ${ALGOS:-rsa-2048 ecdsa-256}; do
  set -- ${algo/-/ }
  label="$1-$2"
  ca="$work/ca-$label/ca.pem"; cakey="$work/ca-$label/ca-key.pem"
  mkdir -p "$work/csr-$label"
  for i in $(seq 1 $n); do
    printf '{"CN":"node-%d","hosts":["node-%d.example","10.0.%d.%d"],"key":{"algo":"%s","size":%d},"names":[{"O":"bench"}]}\n' \
      "$i" "$i" $((i / 250)) $((i % 250)) "$1" "$2" > "$work/csr-$label/leaf$i-csr.json"
  done
  cf_times=(); cr_times=(); crp_times=()
  for r in $(seq 1 "$runs"); do
    # sync (untimed) before each phase: ext4 makes an fsync pay for every dirty
    # page before it, so without it certrescue's fsyncs would flush the files
    # the cfssl loop left unsynced.
    out="$work/out-cfssl"; rm -rf "$out"; mkdir -p "$out"; sync
    t0=$(now_ms)
    for i in $(seq 1 $n); do
      (cd "$out" && "$tb_cfssl/cfssl" gencert -ca="$ca" -ca-key="$cakey" -config="$work/ca-config.json" \
        -profile=kubernetes "$work/csr-$label/leaf$i-csr.json" 2>/dev/null | "$tb_cfssl/cfssljson" -bare "leaf$i")
    done
    cf_times+=($(( $(now_ms) - t0 )))

    out="$work/out-cr"; rm -rf "$out"; mkdir -p "$out"; sync
    t0=$(now_ms)
    "$cr" gencert -ca="$ca" -ca-key="$cakey" -config="$work/ca-config.json" -profile=kubernetes \
      --out-dir "$out" "$work/csr-$label"/*-csr.json >/dev/null 2>&1
    cr_times+=($(( $(now_ms) - t0 )))

    out="$work/out-crp"; rm -rf "$out"; mkdir -p "$out"; sync
    t0=$(now_ms)
    for i in $(seq 1 $n); do
      "$cr" gencert -ca="$ca" -ca-key="$cakey" -config="$work/ca-config.json" -profile=kubernetes \
        --out-dir "$out" "$work/csr-$label/leaf$i-csr.json" >/dev/null 2>&1
    done
    crp_times+=($(( $(now_ms) - t0 )))
    echo "run $r $label: cfssl loop ${cf_times[-1]} ms, certrescue batch ${cr_times[-1]} ms, certrescue one process per cert ${crp_times[-1]} ms"
  done
  cf=$(printf '%s\n' "${cf_times[@]}" | median)
  crb=$(printf '%s\n' "${cr_times[@]}" | median)
  crp=$(printf '%s\n' "${crp_times[@]}" | median)
  awk -v l="$label" -v n=$n -v cf="$cf" -v cr="$crb" -v crp="$crp" 'BEGIN {
    printf "%s, %d certificates, median of runs: cfssl|cfssljson loop %.0f ms (%.1f ms/cert); certrescue batch %.0f ms (%.1f ms/cert, %.2fx the loop'"'"'s throughput); certrescue per-process loop %.0f ms (%.1f ms/cert, %.2fx)\n",
      l, n, cf, cf/n, cr, cr/n, cf/cr, crp, crp/n, cf/crp }'
done
