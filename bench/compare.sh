#!/usr/bin/env bash
# Side-by-side benchmark: the same loadgen scenarios against shardmq, Mosquitto
# and (when installed) rumqttd, each started fresh per scenario on a free
# loopback port, then one Markdown table of the figures and shardmq's ratio to
# each peer.
#
# Usage: bench/compare.sh [--quick] [--brokers "shardmq mosquitto rumqttd"]
#                         [--broker-shards N] [--loadgen-shards N] [--out DIR]
#
#   --quick            short runs and fewer idle connections (a smoke test)
#   --brokers LIST     which brokers to run (default: every one found)
#   --broker-shards N  shardmq shards and rumqttd's CPU set (default: half the CPUs)
#   --loadgen-shards N loadgen shards, pinned to the CPUs after the broker's
#   --out DIR          keep the per-run JSON reports and broker logs there
#   --only NAME        run only the scenarios whose name contains NAME
#
# The broker "shardmq-unpinned" (only when listed in --brokers) is shardmq
# with pin_shards = false: its shards may move between CPUs, as a host shared
# with the load generator may want.
#
# SHARDMQ_BIN=path uses that shardmq binary instead of building one.
# SHARDMQ_BASELINE_BIN=path also runs that shardmq binary, as the broker
# "shardmq-baseline" (e.g. a build of the previous commit), in the same run:
# before/after figures measured side by side under the same load.
#
# Flat-out QoS 0 runs offer more than any broker delivers: they measure
# throughput under overload, and their latency is queueing time. QoS 0
# fan-out is offered at fixed rates instead: 1M deliveries/s, which every
# broker here sustains (CPU per delivery compares them), and 4M/s (100 x 100)
# and 8M/s (1 x 1,000), above what the peers sustain on two cores but within
# reach of loadgen's own receive ceiling (7-8M deliveries/s on one core), so
# that deliveries/s compare the brokers rather than the load generator.
# Flat-out QoS 1 fan-out is bounded by the publishers' inflight window, but
# brokers acknowledge before delivering, so the fan-out backlog can outlast
# the drain and show up as loss; 1 x 1,000 at QoS 1 is offered at 2.5M
# deliveries/s instead (1 publisher at 2,500 msg/s), past what a broker on
# two cores shared with loadgen delivers.
#
# The burst scenarios (burst-*) send flat out a fixed number of messages per
# publisher (-n) and stop, as benchmark clients and bursty devices do: 100 x
# 100 fan-out at QoS 1 with 100 messages per publisher (1,000,000 deliveries)
# and 100-to-1 fan-in at QoS 1 with 1,000 per publisher (100,000
# deliveries). They show whether a broker loses acknowledged QoS 1 messages
# when publishers outrun subscribers: a message the broker has acknowledged
# must reach every matching subscriber however far behind it is, so any loss
# there is a broker fault, and a throughput figure with loss is not a result.
# They have no warmup (the whole burst is measured), sending bounded at 60 s
# and a 60 s drain that ends as soon as everything has arrived, so that loss
# there is messages that never came rather than a backlog cut off by the
# drain: Mosquitto on one core takes 10-20 s after the last publish to
# deliver the fan-out burst, which a 5 s drain would report as loss. --quick
# runs them at the same sizes.
#
# Every scenario that carries messages reports, from loadgen's JSON report,
# the deliveries expected, those lost (count and share), the duplicates and,
# at QoS 1, the publishes the broker never acknowledged (loss up to that many
# times the subscribers per message may be messages still unacknowledged
# when the drain ended; loss beyond it is of acknowledged messages). A
# deliveries/s figure from a run that lost messages, and any ratio taken
# from one, is marked "(lossy)".
#
# Ratios are shardmq / peer: above 1 is better for deliveries/s, below 1 is
# better for CPU per delivery, latency and memory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

quick=0
brokers=""
cpus="$(nproc)"
broker_shards=$(((cpus + 1) / 2))
loadgen_shards=$((cpus - broker_shards))
out=""
only=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --brokers) brokers="$2"; shift ;;
        --broker-shards) broker_shards="$2"; shift ;;
        --loadgen-shards) loadgen_shards="$2"; shift ;;
        --out) out="$2"; shift ;;
        --only) only="$2"; shift ;;
        -h | --help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[ "$loadgen_shards" -ge 1 ] || loadgen_shards=1
loadgen_first_cpu=$((broker_shards % cpus))
broker_cpus="0-$((broker_shards - 1))"

if [ "$quick" = 1 ]; then
    warmup=1 duration=3 drain=3 idle_wanted=5000
else
    warmup=2 duration=10 drain=5 idle_wanted=50000
fi

# Every connection is a file descriptor on both sides; raise the limit as far
# as this account may, and fit the idle-connection run into it.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fd_limit="$(ulimit -n)"
# The full run opens 50,000 connections at 5,000/s: 10 s of arrivals. A run
# cut short by the limit keeps those 10 s and lowers the rate in proportion,
# so that as large a share of the connections has been idle for a while when
# memory is read (a broker that frees idle connections' buffers after a
# delay is measured as it would be at the full count).
idle_connections=$idle_wanted
idle_rate=5000
if [ "$fd_limit" != unlimited ] && [ $((fd_limit - 1000)) -lt "$idle_wanted" ]; then
    idle_connections=$((fd_limit - 1000))
    idle_rate=$((5000 * idle_connections / idle_wanted))
    echo "compare.sh: open-file limit is $fd_limit; idle run uses $idle_connections connections at $idle_rate/s instead of $idle_wanted at 5000/s" >&2
fi

work="$(mktemp -d)"
[ -n "$out" ] && mkdir -p "$out" && work="$(cd "$out" && pwd)"
broker_pid=""
cleanup() {
    if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
        kill "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
    fi
    # An if, not `[ ] &&`: under set -e a false last test here would make
    # the whole script exit 1 after a good run.
    if [ -z "$out" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# name | loadgen arguments [| timing options, instead of the common ones]
burst_timing="--warmup 0 --duration 60 --drain 60"
scenarios=(
    "p2p-qos0|p2p -c 100 -q 0 -s 64"
    "p2p-qos1|p2p -c 100 -q 1 -s 64"
    "fan-out-100x100-qos0|fan-out -p 100 -c 100 -q 0 -s 64 --total-rate 10000"
    "fan-out-100x100-qos0-4m|fan-out -p 100 -c 100 -q 0 -s 64 --total-rate 40000"
    "fan-out-100x100-qos1|fan-out -p 100 -c 100 -q 1 -s 64"
    "fan-out-1x1000-qos0|fan-out -p 1 -c 1000 -q 0 -s 64 --rate 1000"
    "fan-out-1x1000-qos0-8m|fan-out -p 1 -c 1000 -q 0 -s 64 --rate 8000"
    "fan-out-1x1000-qos1|fan-out -p 1 -c 1000 -q 1 -s 64 --rate 2500"
    "latency-20k-qos1|p2p -c 100 -q 1 -s 64 --total-rate 20000"
    "burst-fan-out-100x100-qos1|fan-out -p 100 -c 100 -q 1 -s 64 -n 100|$burst_timing"
    "burst-fan-in-100x1-qos1|fan-in -c 100 -m 1 -q 1 -s 64 -n 1000|$burst_timing"
    "idle-connections|conn -c $idle_connections --bind 127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5 --connect-rate $idle_rate"
)

selected=()
for entry in "${scenarios[@]}"; do
    [[ "${entry%%|*}" == *"$only"* ]] && selected+=("$entry")
done
if [ "${#selected[@]}" -eq 0 ]; then
    echo "compare.sh: no scenario name contains '$only'; the scenarios are:" >&2
    for entry in "${scenarios[@]}"; do echo "  ${entry%%|*}" >&2; done
    exit 2
fi

echo "compare.sh: building release binaries" >&2
(cd "$root" && cargo build --release -q -p shardmq-loadgen)
target_dir="${CARGO_TARGET_DIR:-$root/target}"
loadgen="$target_dir/release/loadgen"
shardmq_bin="${SHARDMQ_BIN:-$target_dir/release/shardmq}"
auto_brokers=0
[ -z "${brokers// /}" ] && auto_brokers=1
have_shardmq=0
if [ -n "${SHARDMQ_BIN:-}" ]; then
    have_shardmq=1
elif [ "$auto_brokers" = 1 ] || [[ " $brokers " == *" shardmq "* ]]; then
    if (cd "$root" && cargo build --release -q -p shardmq-shards --bin shardmq); then
        have_shardmq=1
    else
        echo "compare.sh: the shardmq binary does not build; running the peers only" >&2
        brokers="${brokers//shardmq/}"
    fi
fi
rumqttd_bin="$(command -v rumqttd || true)"
[ -z "$rumqttd_bin" ] && [ -x "$HOME/.cargo/bin/rumqttd" ] && rumqttd_bin="$HOME/.cargo/bin/rumqttd"

baseline_bin="${SHARDMQ_BASELINE_BIN:-}"
if [ "$auto_brokers" = 1 ]; then
    [ "$have_shardmq" = 1 ] && brokers="shardmq"
    [ -n "$baseline_bin" ] && brokers="$brokers shardmq-baseline"
    command -v mosquitto >/dev/null && brokers="$brokers mosquitto"
    [ -n "$rumqttd_bin" ] && brokers="$brokers rumqttd"
fi
[ -n "${brokers// /}" ] || { echo "compare.sh: no broker to run" >&2; exit 2; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() {
    local port="$1" tries=200
    while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        tries=$((tries - 1))
        if [ "$tries" -le 0 ] || ! kill -0 "$broker_pid" 2>/dev/null; then
            return 1
        fi
        sleep 0.05
    done
}

# Starts broker $1 on port $2; sets broker_pid.
start_broker() {
    local name="$1" port="$2" log="$work/$1-$3.log"
    case "$name" in
        shardmq)
            "$shardmq_bin" --listen "127.0.0.1:$port" --shards "$broker_shards" >"$log" 2>&1 &
            ;;
        shardmq-unpinned)
            printf 'pin_shards = false\n' >"$work/shardmq-unpinned.toml"
            "$shardmq_bin" --config "$work/shardmq-unpinned.toml" --listen "127.0.0.1:$port" --shards "$broker_shards" >"$log" 2>&1 &
            ;;
        shardmq-baseline)
            [ -n "$baseline_bin" ] || { echo "compare.sh: shardmq-baseline needs SHARDMQ_BASELINE_BIN" >&2; exit 2; }
            "$baseline_bin" --listen "127.0.0.1:$port" --shards "$broker_shards" >"$log" 2>&1 &
            ;;
        mosquitto)
            cat >"$work/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 1000000
max_inflight_messages 0
max_connections -1
set_tcp_nodelay true
EOF
            taskset -c "$broker_cpus" mosquitto -c "$work/mosquitto.conf" >"$log" 2>&1 &
            ;;
        rumqttd)
            cat >"$work/rumqttd.toml" <<EOF
id = 0

[router]
id = 0
max_connections = $((idle_connections + 1000))
max_outgoing_packet_count = 1000
max_segment_size = 104857600
max_segment_count = 10

[v4.1]
name = "v4-1"
listen = "127.0.0.1:$port"
next_connection_delay_ms = 0
    [v4.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 20480
    max_inflight_count = 100
    dynamic_filters = true
EOF
            taskset -c "$broker_cpus" "$rumqttd_bin" -q -c "$work/rumqttd.toml" >"$log" 2>&1 &
            ;;
        *) echo "compare.sh: unknown broker $name" >&2; exit 2 ;;
    esac
    broker_pid=$!
    if ! wait_for_port "$port"; then
        echo "compare.sh: $name did not start listening on $port; see $log" >&2
        return 1
    fi
}

stop_broker() {
    kill "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
    broker_pid=""
}

failures=()
for entry in "${selected[@]}"; do
    name="${entry%%|*}"
    args="${entry#*|}"
    timing="--warmup $warmup --duration $duration --drain $drain"
    if [[ "$args" == *"|"* ]]; then
        timing="${args#*|}"
        args="${args%%|*}"
    fi
    for broker in $brokers; do
        port="$(free_port)"
        echo "compare.sh: $name against $broker" >&2
        if ! start_broker "$broker" "$port" "$name"; then
            failures+=("$name/$broker: broker did not start")
            stop_broker
            continue
        fi
        # shellcheck disable=SC2086 # args and timing are word lists on purpose
        if ! "$loadgen" $args -P "$port" --shards "$loadgen_shards" --first-cpu "$loadgen_first_cpu" \
            $timing \
            --broker-pid "$broker_pid" --quiet --json "$work/$name-$broker.json" >/dev/null; then
            failures+=("$name/$broker: loadgen reported failures (see $work/$name-$broker.json)")
        fi
        stop_broker
    done
done

# figure <scenario> <broker> <jq expression>
figure() {
    local file="$work/$1-$2.json"
    [ -f "$file" ] || { echo "-"; return; }
    jq -r "$3 // \"-\" | if type == \"number\" then (. * 100 | round / 100) else . end" "$file"
}

ratio() {
    if [[ "$1" =~ ^[0-9.]+$ && "$2" =~ ^[0-9.]+$ ]] && [ "$(jq -n "$2 > 0")" = true ]; then
        jq -n "($1 / $2) * 100 | round / 100"
    else
        echo "-"
    fi
}

# lossy <scenario> <broker>: true when that run lost messages.
lossy() {
    local file="$work/$1-$2.json"
    [ -f "$file" ] && [ "$(jq -r '.lost > 0' "$file")" = true ]
}

peers=()
for broker in $brokers; do [ "$broker" != shardmq ] && peers+=("$broker"); done
header="| scenario | figure |"
rule="|---|---|"
for broker in $brokers; do header="$header $broker |"; rule="$rule---:|"; done
if [[ " $brokers " == *" shardmq "* ]]; then
    for peer in "${peers[@]}"; do header="$header shardmq/$peer |"; rule="$rule---:|"; done
fi

any_lossy=0
echo
echo "loadgen: $loadgen_shards shard(s) from CPU $loadgen_first_cpu; brokers on CPUs $broker_cpus; warmup ${warmup}s, ${duration}s measured (burst-*: $burst_timing)"
echo
echo "$header"
echo "$rule"
for entry in "${selected[@]}"; do
    name="${entry%%|*}"
    # label | jq expression [| rate: marked when the run lost messages;
    # count: no ratio]
    if [ "$name" = idle-connections ]; then
        figures=("RSS per connection (B)|.broker_rss_per_connection_bytes" "CONNACK p99 (us)|.latency_connack.p99_us")
    else
        figures=("deliveries/s|.delivered_per_s|rate" "broker CPU us/delivery|.broker_cpu_us_per_delivery"
            "latency p50 (us)|(.latency_delivery | if .count > 0 then .p50_us else null end)"
            "latency p99 (us)|(.latency_delivery | if .count > 0 then .p99_us else null end)"
            "expected deliveries|.expected_deliveries|count"
            "lost (messages)|.lost|count"
            "lost (%)|(if .expected_deliveries > 0 then 100 * .lost / .expected_deliveries else null end)"
            "duplicates|.duplicates|count"
            "publishes not acknowledged|(if .qos > 0 then .published - .acknowledged else null end)|count")
    fi
    for entry_figure in "${figures[@]}"; do
        label="${entry_figure%%|*}"
        expression="${entry_figure#*|}"
        kind=""
        if [[ "$expression" == *"|rate" || "$expression" == *"|count" ]]; then
            kind="${expression##*|}"
            expression="${expression%|*}"
        fi
        row="| $name | $label |"
        for broker in $brokers; do
            value="$(figure "$name" "$broker" "$expression")"
            if [ "$kind" = rate ] && lossy "$name" "$broker"; then
                value="$value (lossy)"
                any_lossy=1
            fi
            row="$row $value |"
        done
        if [[ " $brokers " == *" shardmq "* ]]; then
            mine="$(figure "$name" shardmq "$expression")"
            for peer in "${peers[@]}"; do
                if [ "$kind" = count ]; then
                    value="-"
                else
                    value="$(ratio "$mine" "$(figure "$name" "$peer" "$expression")")"
                    if [ "$kind" = rate ] && [ "$value" != - ] && { lossy "$name" shardmq || lossy "$name" "$peer"; }; then
                        value="$value (lossy)"
                    fi
                fi
                row="$row $value |"
            done
        fi
        echo "$row"
    done
done
if [ "$any_lossy" = 1 ]; then
    echo
    echo "(lossy): that run lost messages (see its lost rows); its deliveries/s, and any ratio taken from it, is not a result."
fi

if [ "${#failures[@]}" -gt 0 ]; then
    echo
    echo "Runs with failures:"
    for failure in "${failures[@]}"; do echo "- $failure"; done
fi
