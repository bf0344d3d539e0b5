#!/bin/bash
# The system test's scenario, run as root inside the VM by porchlight-ci.service with the host's
# share at /ci: installs the real binaries and units, makes the kernel's simulators stand in for
# the hardware, and checks the doorbell end to end. Each check prints PASS or FAIL with what it
# saw into /ci/out/results.txt; the journal goes next to it.
set -u
out=/ci/out
mkdir -p "$out"
results=$out/results.txt
: > "$results"
failures=0
note() { printf '%s %s\n' "$(date +%T.%3N)" "$*" | tee -a "$out/steps.txt" > /dev/console; }
pass() { echo "PASS $*" | tee -a "$results" > /dev/console; }
fail() { echo "FAIL $*" | tee -a "$results" > /dev/console; failures=$((failures + 1)); }
# How much slower this VM is than the reference run (docs/system-test.md): the time a fixed CPU
# workload takes here, over the time it took there, never below 1. Deadlines are multiplied by it;
# checks assert what happened, not how fast, and the measured times go into the PASS lines.
reference_ms=210
workload_ms() {
    local start=$EPOCHREALTIME
    awk 'BEGIN { for (i = 0; i < 300000; i++) s += i % 7; exit s < 0 }'
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }'
}
workload=$( (workload_ms; echo; workload_ms; echo; workload_ms; echo) | sort -n | sed -n 2p)
speed=$(awk -v w="$workload" -v r="$reference_ms" 'BEGIN { f = w / r; printf "%.1f", f < 1 ? 1 : f }')
# $1 seconds scaled by the speed factor, rounded up.
scaled() { awk -v s="$1" -v f="$speed" 'BEGIN { v = s * f; printf "%d", v == int(v) ? v : int(v) + 1 }'; }
# Waits up to $1 seconds (scaled) for a command to succeed; on a timeout the step log says which
# wait ran out.
until_ok() {
    local limit end
    limit=$(scaled "$1"); shift
    end=$((SECONDS + limit))
    while ! "$@" > /dev/null 2>&1; do
        if [ $SECONDS -ge $end ]; then
            note "gave up after $limit s waiting for: $*"
            return 1
        fi
        sleep 0.2
    done
}
# Writes each change of a gpio-sim line's value, with its time, to a file until the stop file
# exists. Once it has read the line it touches "$2.ready", so that a caller can wait for it
# before making the line move.
# It reads every 5 ms (a read with a time-out on a pipe nobody writes: a sleep without a fork), so
# that it does not take the CPU from the daemon in a slow VM.
watch_line() {
    local value_file=$1 into=$2 stop=$3 last=0 value tick
    : > "$into"
    rm -f "$into.ready" "$stop"
    exec {tick}<> <(:)
    while :; do
        read -r value < "$value_file"
        if [ "$value" != "$last" ]; then echo "$EPOCHREALTIME $value" >> "$into"; last=$value; fi
        [ -e "$into.ready" ] || touch "$into.ready"
        [ -e "$stop" ] && break
        read -r -t 0.005 -u "$tick" _ || true
    done
}
# Starts watch_line in the background and returns once it watches; `stop_watch` ends it.
start_watch() {
    watch_line "$1" "$2" "$2.stop" &
    watcher_pid=$!
    until_ok 30 test -e "$2.ready"
}
stop_watch() {
    touch "$1.stop"
    wait "$watcher_pid" 2>/dev/null
}
# The line's last recorded value (0 when it never moved).
last_value() { tail -1 "$1" 2>/dev/null | cut -d' ' -f2 | grep . || echo 0; }
# The lengths of the pulses in a watch_line file, in ms: "A B ...".
pulse_lengths() {
    awk '$2 == 1 { up = $1 } $2 == 0 && up != "" { printf "%s%d", n++ ? " " : "", ($1 - up) * 1000; up = "" }
         END { printf "\n" }' "$1"
}
# The loudest sample of a raw S16_LE file.
peak() {
    od -An -t d2 -v "$1" 2>/dev/null | tr -s ' ' '\n' | awk '$1 != "" { v = $1 < 0 ? -$1 : $1; if (v > m) m = v } END { print m + 0 }'
}
finish() {
    journalctl -o json --no-pager > "$out/journal.json" 2>/dev/null
    journalctl -o short-precise --no-pager > "$out/journal.txt" 2>/dev/null
    echo "DONE failures=$failures" >> "$results"
    sync
}
trap finish EXIT
echo "SPEED factor $speed: a fixed workload took $workload ms in this VM, $reference_ms ms on the reference run" |
    tee -a "$results" > /dev/console

# --- Install the packages built from the test's binaries (packaging/build-debs): the real units,
# sysusers and tmpfiles entries and udev rule, as an owner installs them.
note "installing the packages"
if dpkg -i /ci/debs/porchlightd_*.deb /ci/debs/porchlight-sync_*.deb > "$out/dpkg-install.txt" 2>&1; then
    pass "packages installed: $(dpkg-query -W -f='${Package} ${Version}  ' porchlightd porchlight-sync)"
else
    fail "dpkg -i failed: $(tail -3 "$out/dpkg-install.txt")"
fi
if systemctl is-enabled -q porchlightd && systemctl is-enabled -q porchlight-sync &&
    ! systemctl is-active -q porchlightd && ! systemctl is-active -q porchlight-sync && id porchlight > /dev/null &&
    [ -e /etc/porchlight/porchlight.toml ] && [ -e /lib/udev/rules.d/60-porchlight.rules ]; then
    pass "a fresh install: both services enabled, not started; the porchlight user, the configs and the udev rule in place"
else
    fail "after install: enabled $(systemctl is-enabled porchlightd)/$(systemctl is-enabled porchlight-sync)," \
        "active $(systemctl is-active porchlightd)/$(systemctl is-active porchlight-sync), user $(id porchlight 2>&1)"
fi

# --- The simulators: gpio-sim (button on line 0, chime relay on line 1, IR LEDs on line 2), vivid,
# snd-aloop.
note "loading simulators"
modprobe configfs
mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config
modprobe gpio-sim
sim=/sys/kernel/config/gpio-sim/porch
mkdir "$sim" "$sim/bank0" "$sim/bank0/line0" "$sim/bank0/line1" "$sim/bank0/line2"
echo 3 > "$sim/bank0/num_lines"
echo button > "$sim/bank0/line0/name"
echo chime > "$sim/bank0/line1/name"
echo ir > "$sim/bank0/line2/name"
# Labelled as the Pi 5's header chip, so that chip = "auto" and chip = "pinctrl-rp1" find it.
echo pinctrl-rp1 > "$sim/bank0/label"
echo 1 > "$sim/live"
chip=$(cat "$sim/bank0/chip_name")
device=$(cat "$sim/dev_name")
lines=/sys/devices/platform/$device/$chip
ir_line() { cat "$lines/sim_gpio2/value"; }
# Waits up to 10 s for the IR line to read $1.
ir_line_becomes() { until_ok 10 sh -c "[ \$(cat $lines/sim_gpio2/value) = $1 ]"; }
modprobe vivid n_devs=1 node_types=0x1 input_types=0x0
modprobe snd-aloop
udevadm settle
if [ -e "$lines/sim_gpio0/pull" ] && [ -e /dev/video0 ] && [ -e /proc/asound/Loopback ]; then
    pass "simulators: gpio-sim $chip ($device), vivid /dev/video0, snd-aloop"
else
    fail "simulators missing: $(ls "$lines" /dev/video* /proc/asound 2>&1 | tr '\n' ' ')"
fi
ls -l /dev/gpiochip* /dev/video0 /dev/snd/ >> "$out/steps.txt" 2>&1
# libgpiod 1's gpioinfo takes a chip; libgpiod 2's takes line names, and the chip with -c.
if gpioinfo --version | grep -q ' v1\.'; then
    gpio_info() { gpioinfo "$chip"; }
else
    gpio_info() { gpioinfo -c "$chip"; }
fi
echo "$(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r), $(gpioinfo --version | head -1), systemd $(systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p')" > "$out/release.txt"
# Plain Debian: the package's udev rule gives the chip to the porchlight group. Raspberry Pi OS's
# own rule (99-com.rules) then gives it to gpio; the rest of the test runs that way, as on a Pi.
if [ "$(stat -c %G "/dev/$chip")" = porchlight ]; then
    pass "the package's udev rule: /dev/$chip is $(stat -c '%U:%G %a' "/dev/$chip")"
else
    fail "/dev/$chip is $(stat -c '%U:%G %a' "/dev/$chip") after the package's udev rule"
fi
echo 'SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"' > /etc/udev/rules.d/99-com.rules
udevadm control --reload
udevadm trigger --action=change "/dev/$chip"
udevadm settle
if [ "$(stat -c %G "/dev/$chip")" = gpio ]; then
    pass "with Raspberry Pi OS's rule added: /dev/$chip is $(stat -c '%U:%G %a' "/dev/$chip"), as on a Pi"
else
    fail "/dev/$chip is $(stat -c '%U:%G %a' "/dev/$chip") with a 99-com.rules like Raspberry Pi OS's"
fi

# --- Configuration.
install -d -m 755 /etc/porchlight
cat > /etc/porchlight/sync.toml <<EOF
[server]
host = "127.0.0.1"
port = 8443
hostnames = ["localhost"]
[storage]
state_directory = "/var/lib/porchlight-sync"
EOF
# The IR LEDs' hours: a span around now (on), or one that starts later (off).
ir_now="$(date -d '-2 hours' +%H:%M)-$(date -d '+2 hours' +%H:%M)"
ir_later="$(date -d '+3 hours' +%H:%M)-$(date -d '+4 hours' +%H:%M)"
ir_hours=$ir_now
write_config() {
    cat > /etc/porchlight/porchlight.toml <<EOF
[device]
name = "VM porch"
[button]
chip = "${button_chip:-$chip}"
line = "button"
active_low = ${button_active_low:-false}
bias = "${button_bias:-as-is}"
debounce_ms = 20
ring_window_s = 0
[chime]
relay_chip = "${relay_chip:-$chip}"
relay_line = "chime"
relay_pulse_ms = 300
sound = "builtin"
[ir]
chip = "$chip"
line = "ir"
on_hours = ["$ir_hours"]
${ir_place:-}
[camera]
device = "/dev/video0"
format = "auto"
width = 640
height = 480
fps = 10
preroll_s = 1
postroll_s = 1
[motion]
analysis_fps = 2
[audio]
playback_device = "hw:Loopback,0,0"
capture_device = "hw:Loopback,1,1"
[sync]
retry_initial_s = 0.5
retry_max_s = 2
[[privacy.masks]]
name = "Neighbour"
points = [[0, 0], [160, 0], [160, 120], [0, 120]]
[log]
level = "info"
$1
EOF
}
write_config ""

# --- The bring-up checks (hardware/bring-up.md), before the daemon holds the devices, as the
# service's user (its groups come from the package's sysusers entry), as the guide runs them.
note "porchlightctl hw"
cfg=/etc/porchlight/porchlight.toml
as_service() { runuser -u porchlight -- "$@"; }
missing_groups=$(for group in video audio gpio; do id -nG porchlight | tr ' ' '\n' | grep -qx "$group" || echo "$group"; done)
if [ -z "$missing_groups" ]; then
    pass "the porchlight user is in the video, audio and gpio groups ($(id -nG porchlight))"
else
    fail "porchlight's groups: $(id -nG porchlight)"
fi
# hw gpio: the chips with their labels, the header's marked (gpio-sim is labelled as RP1 here).
as_service porchlightctl hw gpio > "$out/hw-gpio.txt" 2>&1
if grep -q "^$chip \[pinctrl-rp1\] 3 lines  (the 40-pin header's chip" "$out/hw-gpio.txt" &&
    grep -q '^  line 0: "button", free$' "$out/hw-gpio.txt"; then
    pass "porchlightctl hw gpio as porchlight: $(grep -c '^gpiochip' "$out/hw-gpio.txt") chips, $chip [pinctrl-rp1] marked as the header's"
else
    fail "hw gpio: '$(tr '\n' ' ' < "$out/hw-gpio.txt")'"
fi

# hw button until Ctrl-C (SIGTERM here: a background job ignores SIGINT): a press pulled through
# gpio-sim shows as edges and a ring.
# Each step waits for the watcher to show the one before: watching, then pressed, then released.
as_service porchlightctl hw button --config "$cfg" > "$out/hw-button.txt" 2>&1 &
checker=$!
shows() { grep -q "$1" "$out/hw-button.txt"; }
# Holding the line: the check's consumer on it in gpioinfo (its "Watching" line comes first).
# (libgpiod 1 marks it [used], libgpiod 2 names its consumer=.)
holds_button() { gpio_info | grep '"button"' | grep -q '\[used\]\|consumer='; }
missed=""
if ! until_ok 60 shows '^Watching line "button"'; then
    missed="'Watching line' line"
elif ! until_ok 60 holds_button; then
    missed="the line in use ($(gpio_info | grep '"button"'))"
else
    echo pull-up > "$lines/sim_gpio0/pull"
    until_ok 30 shows '] pressed$' || missed="'pressed' after the line went up"
    echo pull-down > "$lines/sim_gpio0/pull"
    [ -n "$missed" ] || until_ok 30 shows '] released after [0-9]* ms$' || missed="'released' after the line went down"
fi
pkill -TERM -x porchlightctl || true; wait "$checker" 2>/dev/null || true
cat "$out/hw-button.txt" >> "$out/steps.txt"
if [ -z "$missed" ] && shows '] pressed$' && shows '] RING$' && shows '] released after [0-9]* ms$'; then
    pass "porchlightctl hw button as porchlight: $(grep -c . "$out/hw-button.txt") lines, pressed, RING, $(grep -o 'released after [0-9]* ms' "$out/hw-button.txt")"
else
    fail "hw button: ${missed:+no $missed; }'$(tr '\n' ' ' < "$out/hw-button.txt")'"
fi
# The relay pulses and the IR line, read back from gpio-sim by a watcher that runs from before the
# check starts until after it has ended.
start_watch "$lines/sim_gpio1/value" "$out/hw-chime.txt"
as_service porchlightctl hw chime --config "$cfg" --count 2 >> "$out/steps.txt" 2>&1
stop_watch "$out/hw-chime.txt"
pulses=$(grep -c ' 1$' "$out/hw-chime.txt")
if [ "$pulses" = 2 ] && [ "$(last_value "$out/hw-chime.txt")" = 0 ]; then
    pass "porchlightctl hw chime as porchlight: 2 relay pulses read back from gpio-sim ($(pulse_lengths "$out/hw-chime.txt") ms), then off"
else
    fail "hw chime: $pulses pulses, line left at $(last_value "$out/hw-chime.txt"): '$(tr '\n' ' ' < "$out/hw-chime.txt")'"
fi
start_watch "$lines/sim_gpio2/value" "$out/hw-ir.txt"
as_service porchlightctl hw ir --config "$cfg" --seconds 2 >> "$out/steps.txt" 2>&1
stop_watch "$out/hw-ir.txt"
if [ "$(cut -d' ' -f2 "$out/hw-ir.txt" | tr -d '\n')" = 10 ]; then
    pass "porchlightctl hw ir as porchlight: the IR line went on for $(pulse_lengths "$out/hw-ir.txt") ms (asked 2 s) and off, read back from gpio-sim"
else
    fail "hw ir: '$(tr '\n' ' ' < "$out/hw-ir.txt")'"
fi
# Interrupted, a check switches its line off before it exits (130).
# (gpio-sim itself returns a released line to its pull, so the check's own message and exit status
# are what show that it switched the line off, not the default death by signal, 143.)
as_service porchlightctl hw ir --config "$cfg" --seconds 60 > "$out/hw-ir-interrupted.txt" 2>&1 &
checker=$!
ir_line_becomes 1
pkill -TERM -x porchlightctl || true
status=0; wait "$checker" || status=$?
cat "$out/hw-ir-interrupted.txt" >> "$out/steps.txt"
if [ "$status" = 130 ] && grep -q 'interrupted; line "ir" of .* switched off' "$out/hw-ir-interrupted.txt" &&
    [ "$(ir_line)" = 0 ]; then
    pass "hw ir interrupted (SIGTERM): it switched the IR line off and exited 130"
else
    fail "hw ir interrupted: exit $status, '$(tr '\n' ' ' < "$out/hw-ir-interrupted.txt")', IR line $(ir_line)"
fi
camera_report=$(as_service porchlightctl hw camera --config "$cfg" --seconds 3 2>&1)
echo "$camera_report" >> "$out/steps.txt"
if echo "$camera_report" | grep -q '/dev/video0: .* 640x480, [0-9]* frames'; then
    pass "porchlightctl hw camera as porchlight: $camera_report"
else
    fail "hw camera: $camera_report"
fi
python3 -c '
import math, struct, sys
sys.stdout.buffer.write(struct.pack("<96000h", *[int(12000 * math.sin(2 * math.pi * 440 * i / 16000)) for i in range(96000)]))' > /tmp/voice.raw
# The voice plays over and over until the check has ended, however late it starts.
(while aplay -q -D hw:Loopback,0,1 -f S16_LE -r 16000 -c 1 -t raw /tmp/voice.raw 2>> "$out/steps.txt"; do :; done) &
voice=$!
arecord -q -D hw:Loopback,1,0 -f S16_LE -r 16000 -c 1 -t raw "$out/hw-tone.raw" 2>> "$out/steps.txt" &
tone=$!
audio_report=$(as_service porchlightctl hw audio --config "$cfg" --seconds 4 2>&1)
kill -INT $tone; wait $tone 2>/dev/null
kill $voice 2>/dev/null; wait $voice 2>/dev/null; pkill -x aplay
echo "$audio_report" >> "$out/steps.txt"
loudest=$(echo "$audio_report" | sed -n 's/^loudest: \(-*[0-9]*\).*/\1/p')
tone_peak=$(peak "$out/hw-tone.raw")
if [ -n "$loudest" ] && [ "$loudest" -gt -20 ] && [ "${tone_peak:-0}" -gt 5000 ]; then
    pass "porchlightctl hw audio as porchlight: the tone came out of the speaker (peak $tone_peak), the meter saw the microphone at $loudest dBFS"
else
    fail "hw audio: loudest '$loudest' dBFS, tone peak ${tone_peak:-none}: $(echo "$audio_report" | tail -2 | tr '\n' ' ')"
fi

# --- The sync module, pairing, the doorbell.
note "starting the sync module"
systemctl start porchlight-sync
if until_ok 60 systemctl is-active porchlight-sync; then pass "porchlight-sync started by systemd"; else fail "porchlight-sync did not start"; fi
# The pairing code is made as the service's own (dynamic) user, which shares the running unit's UID.
code_output=$(systemd-run --quiet --wait --pipe -p DynamicUser=yes -p User=porchlight-sync \
    -p StateDirectory=porchlight-sync /usr/bin/porchlight-sync pair-code --config /etc/porchlight/sync.toml 2>&1)
echo "$code_output" >> "$out/steps.txt"
code=$(echo "$code_output" | sed -n '1s/^[^ ]* [^ ]* \([^ ]*\).*/\1/p')
fingerprint=$(echo "$code_output" | sed -n '2s/.* //p')
[ "$(stat -c '%U %a' /var/lib/porchlight 2>/dev/null)" = "porchlight 700" ] ||
    fail "the package did not make /var/lib/porchlight (0700 porchlight): $(stat -c '%U %a' /var/lib/porchlight 2>&1)"
# The owner first: an account, and the recovery key made and registered as the page does it
# (signed by itself), so that the doorbell can pin it at pairing and seal from its first event.
password="system test password"
systemd-run --quiet --wait --pipe -p DynamicUser=yes -p User=porchlight-sync -p StateDirectory=porchlight-sync \
    /usr/bin/porchlight-sync owner add owner --password-stdin --config /etc/porchlight/sync.toml \
    <<< "$password" >> "$out/steps.txt" 2>&1
read -r recovery point recovery_fingerprint < <(python3 /ci/owner.py owner "$password" make-key /tmp/recovery.pem)
if python3 /ci/owner.py owner "$password" add-key recovery "$point" /tmp/recovery.pem >> "$out/steps.txt" 2>&1; then
    pass "owner account, and a recovery key registered through the page's API"
else
    fail "owner key not registered"
fi
# Pairing pins the recovery key whose fingerprint the owner read off the Keys page.
if runuser -u porchlight -- porchlightctl pair --config /etc/porchlight/porchlight.toml \
    --sync https://localhost:8443 --code "$code" --fingerprint "$fingerprint" \
    --recovery-fingerprint "$recovery_fingerprint" >> "$out/steps.txt" 2>&1 &&
    grep -q "Pinned recovery key $recovery_fingerprint" "$out/steps.txt"; then
    pass "paired with code $code; recovery key $recovery_fingerprint pinned"
else
    fail "pairing failed (code '$code', fingerprint '$fingerprint', recovery '$recovery_fingerprint')"
fi

note "starting the doorbell"
systemctl start porchlightd
if until_ok 90 systemctl is-active porchlightd; then pass "porchlightd started by systemd (Type=notify, hardened unit)"; else fail "porchlightd did not start: $(systemctl status porchlightd --no-pager 2>&1 | tail -5)"; fi
status() { systemctl show -p StatusText --value porchlightd; }
# The units' hardening as this release's systemd scores it, on the installed, running units
# (.ci/check-units scores the unit files with the host's systemd; the bound is the same).
for unit in porchlightd porchlight-sync; do
    exposure=$(systemd-analyze security "$unit.service" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    if awk -v s="$exposure" 'BEGIN { exit !(s != "" && s <= 1.5) }'; then
        pass "systemd-analyze security $unit.service on systemd $(systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p'): exposure $exposure (at most 1.5)"
    else
        fail "systemd-analyze security $unit.service: exposure '${exposure}' (more than 1.5)"
        systemd-analyze security "$unit.service" >> "$out/steps.txt" 2>&1
    fi
done
until_ok 60 sh -c "systemctl show -p StatusText --value porchlightd | grep -qv 'degraded\|starting'"
note "STATUS: $(status)"
echo "STATUS after start: $(status)" >> "$out/steps.txt"

db=/var/lib/private/porchlight-sync/sync.sqlite
query() { sqlite3 -readonly "$db" "$1" 2>/dev/null; }

# --- Button: press through gpio-sim; the relay pulses; the ring reaches the sync module.
note "button"
rings_before=$(query "SELECT COUNT(*) FROM event WHERE kind = 'ring'")
rings_stored() { [ "$(query "SELECT COUNT(*) FROM event WHERE kind = 'ring'")" -gt "${rings_before:-0}" ]; }
relay() { cat "$lines/sim_gpio1/value"; }
# A press: the button held until the relay answers, then released; returns once the relay is off.
press() {
    start_watch "$lines/sim_gpio1/value" /tmp/press.txt
    echo pull-up > "$lines/sim_gpio0/pull"
    until_ok 30 grep -q ' 1$' /tmp/press.txt
    echo pull-down > "$lines/sim_gpio0/pull"
    until_ok 30 grep -q ' 0$' /tmp/press.txt
    stop_watch /tmp/press.txt
}
start_watch "$lines/sim_gpio1/value" "$out/chime.txt"
# The chime's sound, captured on the other side of the loopback until it has been heard.
arecord -q -D hw:Loopback,1,0 -f S16_LE -r 16000 -c 1 -t raw "$out/chime.raw" 2>> "$out/steps.txt" &
recorder=$!
until_ok 30 test -s "$out/chime.raw"
# The press is held until the relay answers it (or its deadline passes), then released.
echo pull-up > "$lines/sim_gpio0/pull"
until_ok 30 grep -q ' 1$' "$out/chime.txt"
echo pull-down > "$lines/sim_gpio0/pull"
until_ok 60 grep -q ' 0$' "$out/chime.txt"
stop_watch "$out/chime.txt"
# In the VM the pulse's length says how slow the VM is, not how the daemon behaves (the native
# tests and the benchmark assert that); here: one pulse for the ring, at least the configured
# 300 ms (less the watcher's sampling), and the relay not left on.
pulses=$(grep -c ' 1$' "$out/chime.txt")
pulse=$(pulse_lengths "$out/chime.txt")
if [ "$pulses" = 1 ] && [ "$(last_value "$out/chime.txt")" = 0 ] && [ "$(relay)" = 0 ] && [ "${pulse:-0}" -ge 250 ]; then
    pass "chime relay: one pulse of $pulse ms for the ring (configured 300 ms), then off, read back from gpio-sim"
else
    fail "chime relay: $pulses pulses ($pulse ms), line now $(relay): '$(tr '\n' ' ' < "$out/chime.txt")'"
fi
heard() { [ "$(peak "$out/chime.raw")" -gt 3000 ]; }
until_ok 60 heard
kill -INT $recorder; wait $recorder 2>/dev/null
peak=$(peak "$out/chime.raw")
if [ "${peak:-0}" -gt 3000 ]; then
    pass "chime sound played on snd-aloop and captured on the other side (peak $peak)"
else
    fail "no chime sound on the loopback (peak ${peak:-none}, $(stat -c %s "$out/chime.raw" 2>/dev/null) bytes)"
fi
if until_ok 60 rings_stored; then
    pass "ring stored at the sync module"
else
    fail "no ring at the sync module"
fi

# --- The chip by its label (as on a Pi 5), with active-low and the pull-up: the button wired to
# ground, as most are. Pressed is low; the ring must come while the line is held low.
note "button by label, active-low, pull-up"
button_chip=pinctrl-rp1 button_active_low=true button_bias=pull-up relay_chip=auto write_config ""
systemctl restart porchlightd
# Waits for the restarted daemon to hold the button again.
button_running() { status | grep -q 'running' && ! status | grep -q 'button \(degraded\|starting\)'; }
until_ok 90 button_running
button_flags=$(gpio_info | grep '"button"')
echo "button line, active-low and pull-up: $button_flags" >> "$out/steps.txt"
# The kernel applied the pull-up the daemon asked for: gpio-sim's input follows it, so the line
# reads high (released) before any press.
if echo "$button_flags" | grep -q 'active-low' && echo "$button_flags" | grep -q 'pull-up' &&
    [ "$(cat "$lines/sim_gpio0/value")" = 1 ]; then
    pass "button requested on chip \"pinctrl-rp1\" (found by its label) active-low with the pull-up: $(echo "$button_flags" | tr -s ' \t' ' ')"
else
    fail "button by label: gpioinfo '$button_flags', line value $(cat "$lines/sim_gpio0/value")"
fi
rings_before=$(query "SELECT COUNT(*) FROM event WHERE kind = 'ring'")
start_watch "$lines/sim_gpio1/value" /tmp/low.txt
echo pull-down > "$lines/sim_gpio0/pull"
if until_ok 60 rings_stored && until_ok 30 grep -q ' 1$' /tmp/low.txt; then
    pass "active-low: pulling the line low rang (relay on chip \"auto\" pulsed, ring stored) while it was held low"
else
    fail "active-low: no ring while the line was held low ($(tr '\n' ' ' < /tmp/low.txt))"
fi
echo pull-up > "$lines/sim_gpio0/pull"
until_ok 30 grep -q ' 0$' /tmp/low.txt
stop_watch /tmp/low.txt
# Back to the wiring the rest of the scenario drives: released is low again, set while nothing
# holds the line (to the active-low daemon, low would be a press).
systemctl stop porchlightd
echo pull-down > "$lines/sim_gpio0/pull"
write_config ""
systemctl start porchlightd
until_ok 90 button_running

# --- Camera: frames flow from vivid, motion reaches the sync module.
note "camera"
v4l2-ctl -d /dev/video0 --list-ctrls >> "$out/steps.txt" 2>&1
if until_ok 30 sh -c "systemctl show -p StatusText --value porchlightd | grep -q 'camera' && ! systemctl show -p StatusText --value porchlightd | grep -q 'camera degraded'"; then
    pass "camera streaming from vivid: $(status)"
else
    fail "camera: $(status)"
fi
# vivid's picture moves when its horizontal movement control is set.
v4l2-ctl -d /dev/video0 --set-ctrl horizontal_movement=4 >> "$out/steps.txt" 2>&1 || true
if until_ok 60 sh -c "[ \$(sqlite3 -readonly $db \"SELECT COUNT(*) FROM event WHERE kind = 'motion-started'\") -gt 0 ]"; then
    pass "motion event from vivid's moving picture stored at the sync module"
else
    fail "no motion event at the sync module"
fi

# The newest stored snapshot, for the host to check the privacy mask in (it has ffmpeg).
# Uploaded after its event: waited for.
until_ok 60 sh -c 'ls /var/lib/private/porchlight-sync/media/*/*-snapshot.jpg'
snapshot=$(ls -t /var/lib/private/porchlight-sync/media/*/*-snapshot.jpg 2>/dev/null | head -1)
if [ -n "$snapshot" ] && [ "$(head -c 4 "$snapshot")" = PLS1 ]; then
    pass "snapshot stored sealed at the sync module: $(basename "$snapshot")"
else
    fail "no sealed snapshot at the sync module: '$snapshot' starts with '$(head -c 4 "$snapshot" 2>/dev/null)'"
fi
if [ -n "$snapshot" ] && porchlightctl media decrypt --key "$recovery" "$snapshot" -o "$out/snapshot.jpg" >> "$out/steps.txt" 2>&1; then
    pass "the snapshot opens with the owner's recovery key (porchlightctl media decrypt)"
else
    fail "the snapshot does not open with the owner's key"
fi

# --- Talk: the owner's voice to the door's speaker, the door's microphone to the owner.
note "talk"
device_id=$(query "SELECT id FROM device LIMIT 1")
# A visitor at the door: 1 kHz in bursts (a steady tone is what noise suppression removes).
python3 -c '
import math, struct, sys
samples = [int(9000 * math.sin(2 * math.pi * 1000 * i / 16000)) if (i // 3200) % 2 == 0 else 0 for i in range(16000 * 10)]
sys.stdout.buffer.write(struct.pack("<%dh" % len(samples), *samples))' > /tmp/visitor.raw
# The visitor and the door's speaker are played and recorded from before the talk starts until
# after it has ended; the talk runs for 8 s from the door's first frame at the owner.
(while aplay -q -D hw:Loopback,0,1 -f S16_LE -r 16000 -c 1 -t raw /tmp/visitor.raw 2>> "$out/steps.txt"; do :; done) &
visitor=$!
arecord -q -D hw:Loopback,1,0 -f S16_LE -r 16000 -c 1 -t raw "$out/talk-speaker.raw" 2>> "$out/steps.txt" &
speaker=$!
talk=$(python3 /ci/owner.py owner "$password" talk "$device_id" 8 50 /tmp/recovery.pem 2>> "$out/steps.txt")
kill $visitor 2>/dev/null; wait $visitor 2>/dev/null; pkill -x aplay
echo "talk: $talk" >> "$out/steps.txt"
# The door's own count of what it played (the jitter buffer's statistics), once the end of the
# session has reached it through the sync module; and the sync module's count of what it relayed.
# The speaker is recorded until then: on a slow VM the door plays the owner's last frames well
# after the owner has stopped sending (once it played them all after the recorder had stopped).
talk_ended() { journalctl -u porchlightd -o json --no-pager | grep '"Talk session ended' | grep -q FRAMES_PLAYED; }
until_ok 60 talk_ended
kill -INT $speaker; wait $speaker 2>/dev/null
relayed_frames=$(query "SELECT CAST(record AS TEXT) FROM accessRecord ORDER BY sequence" |
    grep -o 'ended after [0-9]* s; [0-9]* frames to the door ([0-9]* not sent), [0-9]* to the owner' | tail -1)
echo "talk at the sync module: $relayed_frames" >> "$out/steps.txt"
played=$(journalctl -u porchlightd -o json --no-pager | grep '"Talk session ended' | grep FRAMES_PLAYED | tail -1 |
    jq -r '"received \(.PORCHLIGHT_FRAMES_RECEIVED // "?"), played \(.PORCHLIGHT_FRAMES_PLAYED), late \(.PORCHLIGHT_FRAMES_LATE), concealed \(.PORCHLIGHT_FRAMES_CONCEALED), dropped \(.PORCHLIGHT_FRAMES_DROPPED // "?"), underruns \(.PORCHLIGHT_UNDERRUNS // "?")"')
arrived=$(journalctl -u porchlightd -o json --no-pager | grep "talk frames on the control channel" | tail -1 |
    jq -r '"\(.PORCHLIGHT_ARRIVED) arrived on the control channel (\(.PORCHLIGHT_WITHOUT_SESSION) without a session, \(.PORCHLIGHT_REFUSED) refused)"')
played="$played; $arrived"
echo "talk at the door: $played" >> "$out/steps.txt"
received=$(echo "$talk" | jq -r '.received // 0' 2>/dev/null)
heard=$(echo "$talk" | jq -r '.peak // 0' 2>/dev/null)
# Audio flows: a second of the visitor's voice (50 frames), louder than the noise. The talk lasts
# 8 s and on until those 50 frames have arrived (at most 60 s more): a slow VM delivers fewer frames
# than real time; none, or silence, is the failure.
# Sealed both ways: every frame opened with the session's keys, none refused at either end.
refused_here=$(echo "$talk" | jq -r '.refused // 1' 2>/dev/null)
if [ "${received:-0}" -ge 50 ] && [ "${heard:-0}" -gt 1000 ] && [ "$refused_here" = 0 ] &&
    [[ "$arrived" == *", 0 refused)" ]]; then
    pass "talk, sealed end to end: the door's microphone reached the owner through the sync module ($received frames, peak $heard; $talk)"
else
    fail "talk from the door: $talk"
fi
spoken=$(peak "$out/talk-speaker.raw")
if [ "${spoken:-0}" -gt 1000 ]; then
    pass "talk: the owner's voice played on the door's speaker (peak $spoken on the loopback; at the door: $played; sync module: $relayed_frames)"
else
    fail "talk to the door: the speaker's loopback peaked at ${spoken:-none} (at the door: $played; sync module: $relayed_frames)"
fi

# --- journald: the daemon's structured fields.
if journalctl -u porchlightd -o json --no-pager | grep -q '"PORCHLIGHT_'; then
    pass "journald has PORCHLIGHT_* fields: $(journalctl -u porchlightd -o json --no-pager | grep -o '"PORCHLIGHT_[A-Z_]*"' | sort -u | head -6 | tr '\n' ' ')"
else
    fail "no PORCHLIGHT_* fields in the journal"
fi

# --- Unplugging: vivid removed (rmmod) while the daemon streams from it; the button still rings;
# the camera comes back when the module is loaded again.
note "unplugging the camera"
unplugged=$SECONDS
if modprobe -r vivid 2>> "$out/steps.txt"; then
    pass "vivid removed (rmmod) while streaming"
else
    # In use: unbinding its device is what a USB unplug does; then the module can go.
    echo vivid.0 > /sys/bus/platform/drivers/vivid/unbind
    if until_ok 20 modprobe -r vivid; then pass "vivid unbound, then removed (rmmod)"; else fail "vivid stayed in use"; fi
fi
camera_down() { systemctl show -p StatusText --value porchlightd | grep -q 'camera \(degraded\|stalled\)'; }
if until_ok 15 camera_down; then
    pass "camera gone: within $((SECONDS - unplugged)) s STATUS says $(status)"
else
    fail "camera gone but STATUS says $(status)"
fi
rings_before=$(query "SELECT COUNT(*) FROM event WHERE kind = 'ring'")
press
if until_ok 60 rings_stored; then
    pass "the button rings while the camera is gone"
else
    fail "no ring while the camera was gone"
fi
modprobe vivid n_devs=1 node_types=0x1 input_types=0x0
if until_ok 90 sh -c "! systemctl show -p StatusText --value porchlightd | grep -q 'camera \(degraded\|stalled\)'"; then
    pass "camera back after the module was loaded again: STATUS says $(status)"
else
    fail "camera did not recover: $(status)"
fi

# --- IR LEDs: on in their hours; a reload with hours that start later switches them off at once.
note "ir"
if ir_line_becomes 1; then pass "IR LEDs on inside on_hours ($ir_now), read back from gpio-sim"; else fail "IR line $(ir_line) inside $ir_now"; fi
ir_hours=$ir_later write_config ""
systemctl reload porchlightd
if ir_line_becomes 0; then
    pass "a reload with on_hours $ir_later switched the IR LEDs off without a restart"
else
    fail "IR line $(ir_line) after a reload to $ir_later"
fi
# schedule = "dark": on the equator where the sun is at its lowest now (dark), then where it is
# highest (light): the longitudes follow from the UTC time, so this holds at any hour.
utc_minutes=$((10#$(date -u +%H) * 60 + 10#$(date -u +%M)))
midnight_longitude=$(( ((-utc_minutes / 4 + 540) % 360) - 180 ))
noon_longitude=$(( ((720 - utc_minutes) / 4 + 540) % 360 - 180 ))
ir_dark_check() {  # longitude, expected line value, what the sun does there now
    ir_place=$(printf 'schedule = "dark"\nlatitude = 0\nlongitude = %s' "$1") write_config ""
    systemctl reload porchlightd
    if ir_line_becomes "$2"; then
        pass "schedule = \"dark\" at longitude $1 ($3): IR line $2 after a reload"
    else
        fail "IR line $(ir_line) for schedule = dark at longitude $1 ($3), expected $2"
    fi
}
ir_dark_check "$midnight_longitude" 1 "solar midnight now"
ir_status=$(porchlightctl status --config "$cfg" 2>&1)
if echo "$ir_status" | grep -q "; IR LEDs on;"; then pass "porchlightctl status: IR LEDs on"; else fail "status: $ir_status"; fi
ir_dark_check "$noon_longitude" 0 "solar noon now"
ir_hours=$ir_now write_config ""
systemctl reload porchlightd

# --- Bad config on reload keeps the old one running.
note "bad config"
cp /etc/porchlight/porchlight.toml /tmp/good.toml
echo "[button]" >> /etc/porchlight/porchlight.toml
pid=$(systemctl show -p MainPID --value porchlightd)
systemctl reload porchlightd
rejected() { journalctl -u porchlightd --no-pager | grep -q "Configuration rejected"; }
until_ok 30 rejected
if systemctl is-active -q porchlightd && [ "$(systemctl show -p MainPID --value porchlightd)" = "$pid" ] && rejected; then
    pass "a broken config on reload is rejected; the daemon keeps running (pid $pid)"
else
    fail "reload with a broken config: $(systemctl is-active porchlightd), pid $(systemctl show -p MainPID --value porchlightd)"
fi

# --- Watchdog: SIGSTOP; systemd kills and restarts it; no event is lost.
note "watchdog"
cp /tmp/good.toml /etc/porchlight/porchlight.toml
reloads() { journalctl -u porchlightd --no-pager -o cat | grep -c "Configuration reloaded"; }
reloads_before=$(reloads)
systemctl reload porchlightd
until_ok 30 sh -c "[ \$(journalctl -u porchlightd --no-pager -o cat | grep -c 'Configuration reloaded') -gt $reloads_before ]"
# The third ring: pressed, and written to the outbox (durably), before the daemon is frozen.
outbox() { sqlite3 -readonly /var/lib/porchlight/outbox.sqlite "SELECT COUNT(*) FROM outbox" 2>/dev/null || echo 0; }
outbox_before=$(outbox)
rings_before=$(query "SELECT COUNT(*) FROM event WHERE kind = 'ring'")
press
until_ok 30 sh -c "[ \$(sqlite3 -readonly /var/lib/porchlight/outbox.sqlite 'SELECT COUNT(*) FROM outbox' 2>/dev/null || echo 0) -gt $outbox_before ] || [ \$(sqlite3 -readonly $db \"SELECT COUNT(*) FROM event WHERE kind = 'ring'\") -gt ${rings_before:-0} ]"
recorded=$(outbox)
pid=$(systemctl show -p MainPID --value porchlightd)
kill -STOP "$pid"
if until_ok 60 sh -c "[ \$(systemctl show -p MainPID --value porchlightd) != $pid ] && systemctl is-active -q porchlightd" &&
    journalctl -u porchlightd --no-pager | grep -q 'Watchdog timeout'; then
    pass "frozen daemon killed by the watchdog and restarted ($(journalctl -u porchlightd --no-pager | grep -c 'Watchdog timeout') watchdog timeouts in the journal)"
else
    fail "watchdog: MainPID $(systemctl show -p MainPID --value porchlightd), $(systemctl is-active porchlightd)"
fi
rings_at_sync=$(query "SELECT COUNT(*) FROM event WHERE kind = 'ring'")
if [ "${rings_at_sync:-0}" -ge 3 ]; then
    pass "all three rings at the sync module after the restart"
else
    fail "rings at the sync module after the watchdog restart: $rings_at_sync (outbox had $recorded)"
fi

# --- Bad config at start: exit 78, no restart loop.
note "bad config at start"
echo "[button]" >> /etc/porchlight/porchlight.toml
restarts_before=$(systemctl show -p NRestarts --value porchlightd)
systemctl restart porchlightd
# Failed for good, not waiting to restart: systemd shows a scheduled restart as
# activating/auto-restart, and a unit in "failed" has none pending.
until_ok 60 sh -c '[ "$(systemctl show -p ActiveState --value porchlightd)" = failed ]'
result=$(systemctl show -p Result --value porchlightd)
code=$(systemctl show -p ExecMainStatus --value porchlightd)
restarts=$(systemctl show -p NRestarts --value porchlightd)
# A manual restart resets NRestarts to 0; any automatic restart after it would count.
if [ "$(systemctl is-active porchlightd)" = failed ] && [ "$code" = 78 ] && [ "$restarts" = 0 ] &&
    [ "$(systemctl show -p SubState --value porchlightd)" = failed ]; then
    pass "a broken config at start: exit 78, unit failed with no restart scheduled (RestartPreventExitStatus)"
else
    fail "broken config at start: $(systemctl is-active porchlightd), result $result, status $code, restarts $restarts_before -> $restarts"
fi
cp /tmp/good.toml /etc/porchlight/porchlight.toml

# --- Removing and purging the packages: binaries, units and conffiles go; the state stays.
note "removing the packages"
dpkg -r porchlightd porchlight-sync > "$out/dpkg-remove.txt" 2>&1
if ! systemctl is-active -q porchlightd && ! systemctl is-active -q porchlight-sync &&
    [ ! -e /usr/bin/porchlightd ] && [ ! -e /usr/bin/porchlight-sync ] && [ ! -e /lib/systemd/system/porchlightd.service ] &&
    [ -e /etc/porchlight/porchlight.toml ] && [ -e /var/lib/porchlight/device.key ]; then
    pass "removed: services stopped, binaries and units gone, conffiles and state kept"
else
    fail "after dpkg -r: active $(systemctl is-active porchlightd)/$(systemctl is-active porchlight-sync); $(ls /usr/bin/porchlight* /lib/systemd/system/porchlight* 2>&1 | tr '\n' ' ')"
fi
dpkg -P porchlightd porchlight-sync >> "$out/dpkg-remove.txt" 2>&1
leftovers=$(dpkg-query -W -f='${Package} ${Status}\n' porchlightd porchlight-sync 2>/dev/null | grep -v not-installed)
if [ -z "$leftovers" ] && [ ! -e /etc/porchlight/porchlight.toml ] && [ ! -e /etc/porchlight/sync.toml ] &&
    [ ! -e /etc/systemd/system/multi-user.target.wants/porchlightd.service ] && [ -e /var/lib/porchlight/device.key ]; then
    pass "purged: conffiles and enablement gone, the doorbell's state kept"
else
    fail "after dpkg -P: '$leftovers' $(ls /etc/porchlight /etc/systemd/system/multi-user.target.wants 2>&1 | tr '\n' ' ')"
fi

note "done: $failures failures"
