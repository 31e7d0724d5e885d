# bench/cluster.sh: the cluster sitting, `bench/compare --cluster`. Sourced by compare
# once it has built everything, so it runs with compare's servers (start_server,
# start_postgres, stop_server, wait_idle), its runner (bench) and options (--reps,
# --duration, --quick, --out); compare exits after it.
#
# Each repetition, in turn (servers on CPU 0, the generator on CPU 1, as compare):
#   parley1  one parley node on PostgreSQL (a cluster's store, so the same for all);
#   parley2  two nodes (node_id 1 and 2), one Redis, the same PostgreSQL; the room's
#            members alternate between the nodes, its sender on node 1;
#   sio2     bench/peers/socketio_cluster: two Node.js Socket.IO processes, one Redis;
# each gets compare's fanout (window 1), burst and rate (20k deliveries/s) at N=1,000,
# in one room (setup_room: in parley2 one node 2 owns, so every message crosses twice).
# Then Redis's commands and bytes per room message (INFO around fanouts at a fixed rate)
# in rooms of two sizes, for parley2 and sio2. Each run's JSON line gains the CPU
# seconds of every process (and of parley's threads, by name) and the Redis commands.
# Writes results/cluster.jsonl, results/cluster.md (the section report.sh carries into
# RESULTS.md; also put into the current RESULTS.md) and results/cluster.png.

bash "$ROOT/.ci/dev" deps redis-server >>"$LOG" 2>&1 || { say "cannot install redis-server"; exit 1; }
if ! command -v node >/dev/null; then
    say "node is missing: the Socket.IO cluster is skipped"
    CONFIGS="parley1 parley2"
elif [ -d "$BENCH/peers/socketio_cluster/node_modules/socket.io" ] ||
    (cd "$BENCH/peers/socketio_cluster" && npm ci --no-audit --no-fund >>"$LOG" 2>&1); then
    CONFIGS="parley1 parley2 sio2"
else
    say "npm ci failed: the Socket.IO cluster is skipped"
    CONFIGS="parley1 parley2"
fi
start_postgres || exit 1

N=$([ "$QUICK" = 1 ] && echo 200 || echo 1000)
CMDS_SIZES=$([ "$QUICK" = 1 ] && echo "50 200" || echo "200 2000")
CMDS_RATE=40 # msg/s: 80k deliveries/s in the larger room, within every server's reach
SECRET=parley-bench-cluster-secret-0123456789
HZ=$(getconf CLK_TCK)
REDIS_PORT=""
REDIS_PID=""
CFG=()  # "name:pid" of every process of the configuration running now
LOGS=() # "pid:log" of its servers

start_redis() {
    REDIS_PORT=$(free_port)
    $PIN_SERVER redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
        --logfile "$WORK/redis.log" &
    REDIS_PID=$!
    PIDS+=("$REDIS_PID")
    CFG+=("redis:$REDIS_PID")
    for _ in $(seq 1 100); do
        redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.1
    done
    say "redis-server did not start"
    return 1
}

# start_node NAME SERVER MAX DIR FLAGS...: one server of the configuration, its log apart.
start_node() {
    local name=$1 server=$2 max=$3 dir=$4
    shift 4
    SERVER_LOG="$WORK/$name.log" start_server "$server" "$max" "$dir" "$@" || return 1
    CFG+=("$name:$SERVER_PID")
    LOGS+=("$SERVER_PID:$WORK/$name.log")
    PORTS+=("$SERVER_PORT")
}

# start_config NAME N: its servers (parley's nodes once each sees both), SERVER_PORTS
# (the generator's --ports) and SERVER_PID (node 1, the one --server-pid samples).
start_config() {
    local name=$1 max=$(($2 + 100)) redis
    CFG=("postgres:$PG_PID") LOGS=() PORTS=()
    case "$name" in
    parley1) start_node node1 parley_pg "$max" "$WORK/$name-1" || return 1 ;;
    parley2)
        start_redis || return 1
        redis="redis://127.0.0.1:$REDIS_PORT"
        for i in 1 2; do
            start_node "node$i" parley_pg "$max" "$WORK/$name-$i" --node-id "$i" --redis-url "$redis" \
                --jwt-secret "$SECRET" || return 1
        done
        for port in "${PORTS[@]}"; do
            for _ in $(seq 1 100); do
                [ "$(curl -s "http://127.0.0.1:$port/healthz" | jq '.nodes | length')" = 2 ] && break
                sleep 0.1
            done
        done
        ;;
    sio2)
        CFG=() # no store
        start_redis || return 1
        for i in 1 2; do
            start_node "node$i" sio 0 "" --redis-url "redis://127.0.0.1:$REDIS_PORT" || return 1
        done
        ;;
    esac
    SERVER_PORTS=$(IFS=,; echo "${PORTS[*]}")
    SERVER_PID=${LOGS[0]%%:*}
    SERVER_PORT=${PORTS[0]}
}

stop_config() {
    local entry
    for entry in "${LOGS[@]}"; do
        SERVER_PID=${entry%%:*} SERVER_LOG=${entry#*:} stop_server
    done
    if [ -n "$REDIS_PID" ]; then
        kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null || true
    fi
    REDIS_PID="" SERVER_PID="" SERVER_PORTS=""
}

# The CPU clock ticks of PID and its children (PostgreSQL's backends) as one JSON
# number, and of parley's threads summed by name (digits dropped) as an object. Each
# is one awk over /proc: a node has a thousand threads.
STAT_AWK='{match($0, /\(.*\)/); name = substr($0, RSTART + 1, RLENGTH - 2); gsub(/[0-9 ]/, "", name)
           split(substr($0, RSTART + RLENGTH + 1), f, " ");'
ticks() {
    awk "$STAT_AWK"' t += f[12] + f[13] + f[14] + f[15]} END {print t + 0}' \
        "/proc/$1/stat" $(pgrep -P "$1" | sed 's|.*|/proc/&/stat|') 2>/dev/null
}
thread_ticks() {
    awk "$STAT_AWK"' t[name] += f[12] + f[13]} END {for (k in t) print k, t[k]}' \
        /proc/"$1"/task/*/stat 2>/dev/null |
        jq -Rnc 'reduce (inputs | split(" ")) as [$k, $v] ({}; .[$k] = ($v | tonumber))'
}
# Everything a run's line gains, sampled now: {procs, threads, redis: {cmds, in, out}, t}
# (in, out: the bytes Redis has read and written).
sample() {
    local entry procs="{}" threads="{}" redis="{}"
    for entry in "${CFG[@]}"; do
        procs=$(jq -c --arg k "${entry%%:*}" --argjson v "$(ticks "${entry#*:}")" '.[$k] = $v' <<<"$procs")
    done
    for entry in "${LOGS[@]}"; do
        [[ $CUR_SERVER == parley* ]] || break
        threads=$(jq -c --arg k "$(grep -o 'node[0-9]' <<<"${entry#*:}")" \
            --argjson v "$(thread_ticks "${entry%%:*}")" '.[$k] = $v' <<<"$threads")
    done
    if [ -n "$REDIS_PID" ]; then
        redis=$(redis-cli -p "$REDIS_PORT" info stats commandstats | tr -d '\r' | awk -F'[:,=]' '
            /^cmdstat_/ {sub("cmdstat_", "", $1); print "cmds", $1, $3}
            /^total_net_input_bytes:/ {print "in", "-", $2}
            /^total_net_output_bytes:/ {print "out", "-", $2}' |
            jq -Rnc 'reduce (inputs | split(" ")) as [$s, $k, $v] ({cmds: {}};
                if $s == "cmds" then .cmds[$k] = ($v | tonumber) else .[$s] = ($v | tonumber) end)')
    fi
    jq -nc --argjson p "$procs" --argjson th "$threads" --argjson r "$redis" \
        --argjson t "$(date +%s.%N)" '{procs: $p, threads: $th, redis: $r, t: $t}'
}

# cbench TEST N REP ARGS...: compare's bench, once every node has closed the last run's
# connections, its JSON line given the CPU seconds of each process and thread, the Redis
# commands (INFO not counted) and bytes in and out over the run, and (IDLE, when set)
# what an idle second costs Redis in this configuration (heartbeats, leases).
cbench() {
    local port lines before after
    if [[ $CUR_SERVER == parley* ]]; then
        for port in "${PORTS[@]}"; do CUR_SERVER=parley SERVER_PORT=$port wait_idle; done
    fi
    lines=$(wc -l <"$RUNS")
    before=$(sample)
    bench "$@"
    after=$(sample)
    [ "$(wc -l <"$RUNS")" -gt "$lines" ] || return 0
    local line leases="{}"
    if [ "$CUR_SERVER" = parley2 ]; then # which node owns the room(s)
        leases=$(redis-cli -p "$REDIS_PORT" --scan --pattern 'parley:room:*' |
            while read -r key; do echo "$key $(redis-cli -p "$REDIS_PORT" get "$key")"; done |
            jq -Rnc 'reduce (inputs | split(" ")) as [$k, $v] ({}; .[$k] = $v)')
    fi
    line=$(tail -1 "$RUNS" | jq -c --argjson a "$before" --argjson b "$after" --argjson hz "$HZ" \
        --argjson idle "${IDLE:-null}" --argjson leases "$leases" --arg cfg "$CUR_SERVER" '
        def delta($y; $x): $y | with_entries(.value = (.value - ($x[.key] // 0)));
        . + {config: $cfg, wall_s: ($b.t - $a.t), leases: $leases,
             cpu_s: (delta($b.procs; $a.procs) | map_values(. / $hz)),
             thread_cpu_s: ($b.threads | with_entries(.key as $n
                 | .value = (delta(.value; $a.threads[$n] // {}) | map_values(. / $hz)))),
             redis_cmds: (delta($b.redis.cmds // {}; $a.redis.cmds // {}) | del(.info)
                 | with_entries(select(.value > 0))),
             redis_bytes_in: (($b.redis.in // 0) - ($a.redis.in // 0)),
             redis_bytes_out: (($b.redis.out // 0) - ($a.redis.out // 0)), redis_idle_per_s: $idle}')
    sed -i '$d' "$RUNS"
    echo "$line" >>"$RUNS"
}

# What Redis does per second for this configuration with no traffic, over 5 s:
# {cmds, in} (commands, INFO not counted, and bytes read).
idle_redis() {
    local a b
    a=$(sample)
    sleep 5
    b=$(sample)
    jq -nc --argjson a "$a" --argjson b "$b" '($b.t - $a.t) as $s
        | def total($x): [$x.redis.cmds | to_entries[] | select(.key != "info") | .value] | add // 0;
        {cmds: ((total($b) - total($a)) / $s), in: (($b.redis.in - $a.redis.in) / $s)}'
}

# setup_room N: the users and the room the next runs share (a connect run; their
# --cache in ROOM_ARGS). In parley2 the room is made again, at most 8 times, until
# node 2 owns it: the sender, on node 1, is then never the owner, and every message
# crosses Redis to the owner and back (with 2 nodes a sender is on the owner half the
# time; this is the harder half, and the same in every run). Socket.IO has no setup.
setup_room() {
    local n=$1 try cache owner=""
    ROOM_ARGS=()
    [[ $CUR_SERVER == parley* ]] || return 0
    for try in $(seq 1 8); do
        cache="$WORK/$CUR_SERVER-$n-$try.cache"
        bench setup "$n" "$try" connect --conns "$n" --group "$n" --duration 1 --cache "$cache" \
            --connect-timeout "$FANOUT_CONNECT_S"
        ROOM_ARGS=(--cache "$cache")
        [ "$CUR_SERVER" = parley2 ] || return 0
        owner=$(redis-cli -p "$REDIS_PORT" get "parley:room:$(awk 'NR == 2 {print $2}' "$cache")")
        [ "${owner%%:*}" != 2 ] || return 0
    done
    say "node 1 owns every room made: the sender is on the owner"
}

for rep in $(seq 1 "$REPS"); do
    for cfg in $CONFIGS; do
        CUR_SERVER=$cfg
        start_config "$cfg" "$N" || { FAILED=$((FAILED + 1)); stop_config; continue; }
        setup_room "$N"
        cbench fanout "$N" "$rep" fanout --conns "$N" "${STEADY_ARGS[@]}" --duration "$DURATION" \
            --connect-timeout "$FANOUT_CONNECT_S" "${ROOM_ARGS[@]}"
        cbench burst "$N" "$rep" fanout --conns "$N" "${BURST_ARGS[@]}" --duration "$DURATION" \
            --connect-timeout "$FANOUT_CONNECT_S" "${ROOM_ARGS[@]}"
        cbench rate "$N" "$rep" fanout --conns "$N" --rate $((RATE_MSGS * 1000 / N)) --window 0 \
            --duration "$DURATION" "${ROOM_ARGS[@]}"
        stop_config
    done
done

# Redis commands per room message: the same message rate into rooms of two sizes, a
# run of D and one of 3D seconds each (the report takes the difference, so what is not
# per message cancels out), both in the room setup_room made.
for cfg in $CONFIGS; do
    [ "$cfg" != parley1 ] || continue
    for n in $CMDS_SIZES; do
        CUR_SERVER=$cfg
        start_config "$cfg" "$n" || { FAILED=$((FAILED + 1)); stop_config; continue; }
        setup_room "$n"
        IDLE=$(idle_redis)
        for rep in 1 2; do
            cbench cmds "$n" "$rep" fanout --conns "$n" --rate "$CMDS_RATE" --window 0 \
                --duration $(((2 * rep - 1) * DURATION)) --connect-timeout "$FANOUT_CONNECT_S" \
                "${ROOM_ARGS[@]}"
        done
        IDLE=""
        stop_config
    done
done

"$BENCH/cluster_report.sh" "$RUNS" "$OUT" "$QUICK" "$REPS" "$DURATION" "$N" "$CMDS_RATE" ||
    say "cluster report failed"
echo "bench smoke: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
