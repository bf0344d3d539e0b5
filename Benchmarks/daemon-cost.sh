#!/usr/bin/env bash
# Runs the release porchlightd on an MJPEG file camera and reports its CPU share of one core and
# its resident memory, as {"name": ..., "value": ..., "unit": ...} lines.
#   Benchmarks/daemon-cost.sh CONFIG [SECONDS]
# CONFIG should use a file camera in realtime at the rate to measure (e.g. 720p, 15 fps).
set -euo pipefail
config=$1
seconds=${2:-40}
bin=${BIN:-.build/release/porchlightd}
"$bin" --config "$config" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep 10  # warm-up: the pre-roll fills, the background model settles
ticks=$(getconf CLK_TCK)
read -r start_user start_system < <(awk '{print $14, $15}' /proc/$pid/stat)
sleep "$seconds"
read -r end_user end_system < <(awk '{print $14, $15}' /proc/$pid/stat)
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
hwm_kb=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
cpu=$(awk -v u=$((end_user - start_user)) -v s=$((end_system - start_system)) -v t="$ticks" -v d="$seconds" \
    'BEGIN { printf "%.2f", 100 * (u + s) / t / d }')
echo "{\"name\": \"daemon_cpu_share\", \"value\": $cpu, \"unit\": \"% of one core\"}"
echo "{\"name\": \"daemon_rss\", \"value\": $((rss_kb / 1024)), \"unit\": \"MiB\"}"
echo "{\"name\": \"daemon_rss_peak\", \"value\": $((hwm_kb / 1024)), \"unit\": \"MiB\"}"
