#!/usr/bin/env bash
# bench/cluster_report.sh: turns the JSON lines of a cluster sitting (bench/cluster.sh)
# into results/cluster.md, the "Cluster" section every RESULTS.md carries (report.sh),
# puts it into OUT/RESULTS.md now, and draws results/cluster.png (deliveries/s) and
# results/cluster_latency.png (the rate test's latency) with gnuplot.
#   cluster_report.sh RUNS.jsonl OUT_DIR QUICK REPS DURATION N CMDS_RATE
set -euo pipefail
RUNS=$1 OUT=$2 QUICK=$3 REPS=$4 DURATION=$5 N=$6 CMDS_RATE=$7
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MD="$OUT/results/cluster.md"
JQ_LIB=$(<"$ROOT/bench/report_lib.jq")
jqr() {
    jq -rn --slurpfile inputs_all "$RUNS" --argjson N "$N" "def inputs_all: \$inputs_all; $JQ_LIB
      def med(\$t; \$s; f): runs(\$t; \$N; \$s) | stat(f) | .med;
      # The ratio of two configurations' medians over the repetitions' own ratios: each
      # repetition ran them side by side, so load from outside the sitting cancels.
      def pratio(\$t; \$a; \$b): [runs(\$t; \$N; \$a)[] as \$x | runs(\$t; \$N; \$b)[]
          | select(.rep == \$x.rep and .deliveries_per_s > 0) | \$x.deliveries_per_s / .deliveries_per_s] | median;
      def row(\$name; \$goal; \$val; \$ok): \"| \(\$name) | \(\$goal) | \(\$val) | \(if \$ok == null
          then \"**not measured**\" elif \$ok then \"yes\" else \"**no**\" end) |\";
      # Redis commands per room message from the two cmds runs of one configuration and
      # N (rep 1: D seconds, rep 2: 3D): what the longer one sent more, less what the idle
      # configuration (heartbeats, leases) sends in the extra time, over its extra messages.
      # Setup, connects and subscribes, the same in both, cancel out.
      def cmds(\$r): \$r.redis_cmds | to_entries | map(.value) | add // 0;
      def per_msg(\$s; \$n): [inputs_all[] | select(.test == \"cmds\" and .server == \$s and .n == \$n)]
          | sort_by(.rep) | if length < 2 then null else .[0] as \$a | .[1] as \$b
          | (\$b.acked - \$a.acked) as \$m
          | (\$b.wall_s - \$a.wall_s) as \$w
          | {n: \$n, msgs: \$m, idle: \$b.redis_idle_per_s.cmds,
             all: ((cmds(\$b) - cmds(\$a)) / \$m),
             net: ((cmds(\$b) - cmds(\$a) - \$b.redis_idle_per_s.cmds * \$w) / \$m),
             bytes: ((\$b.redis_bytes_in - \$a.redis_bytes_in - \$b.redis_idle_per_s.in * \$w) / \$m),
             publish: (((\$b.redis_cmds.publish // 0) - (\$a.redis_cmds.publish // 0)) / \$m),
             by: (\$b.redis_cmds | with_entries(.value = (.value - (\$a.redis_cmds[.key] // 0)) / \$m))} end;
      def sizes(\$s): [inputs_all[] | select(.test == \"cmds\" and .server == \$s) | .n] | unique;
      $1"
}
{
    echo "## Cluster (issue 12)"
    echo
    [ "$QUICK" = 0 ] || { echo "**Smoke run (--quick): not a measurement.**"; echo; }
    echo "Written by \`bench/compare --cluster\` on $(date -u '+%Y-%m-%d %H:%M UTC'): one sitting,"
    echo "$REPS repetition(s) of each configuration in turn, ${DURATION} s of sending per run, N=$N"
    echo "members in one room. Every server process (parley nodes, Node.js processes, Redis,"
    echo "PostgreSQL) on CPU 0, the generator on CPU 1: two nodes share one core, so the"
    echo "two-node figures measure what the cluster costs, not what a second machine adds."
    echo
    echo "- \`parley1\`: one parley node, \`store = postgres\` (the cluster's store, so the same for both)."
    echo "- \`parley2\`: two nodes (\`--node-id 1\` and \`2\`), one Redis, the same PostgreSQL; members"
    echo "  alternate between the nodes (\`parley-bench --ports P1,P2\`), the sender on node 1 and the"
    echo "  room owned by node 2 (rooms are made until one hashes there): every message crosses"
    echo "  Redis to its owner and back, the harder of the two cases a sender can be in."
    echo "- \`sio2\`: \`bench/peers/socketio_cluster\`, Socket.IO 4 with \`@socket.io/redis-adapter\` on"
    echo "  two Node.js processes, one Redis; every client in one room, \`io.to(room).emit\`."
    echo "  Socket.IO has no acks and stores nothing: its sender waits for its own copy, as"
    echo "  raw_ws's does in compare; parley's window waits for the ack, which follows the"
    echo "  PostgreSQL commit."
    echo
    echo "Deliveries/s: medians over the repetitions; ratios: the median of each repetition's"
    echo "own ratio (the configurations of a repetition ran one after the other)."
    echo
    echo "| goal | target | measured | met |"
    echo "|---|---|---|---|"
    jqr '
      med("fanout"; "parley1"; .deliveries_per_s) as $f1 | med("fanout"; "parley2"; .deliveries_per_s) as $f2
      | med("fanout"; "sio2"; .deliveries_per_s) as $fs
      | med("burst"; "parley1"; .deliveries_per_s) as $b1 | med("burst"; "parley2"; .deliveries_per_s) as $b2
      | med("burst"; "sio2"; .deliveries_per_s) as $bs
      | pratio("fanout"; "parley2"; "parley1") as $rf1 | pratio("burst"; "parley2"; "parley1") as $rb1
      | pratio("fanout"; "parley2"; "sio2") as $rfs | pratio("burst"; "parley2"; "sio2") as $rbs
      | (runs("rate"; $N; "parley2") | stat(.lat_deliver_remote_us.p99 / 1000)) as $rps
      | med("rate"; "parley2"; .lat_deliver_remote_us.p99 / 1000) as $rp
      | med("rate"; "parley2"; .lat_deliver_us.p99 / 1000) as $ra
      | med("rate"; "parley2"; .deliveries_per_s) as $rd
      | def both($a; $b; $min): if $a == null or $b == null then null else ($a >= $min and $b >= $min) end;
        row("two-node fan-out deliveries/s vs one node"; "≥ 0.8x";
            "fanout \($f2 | kfmt) vs \($f1 | kfmt): **\($rf1 | fmt)x**; burst \($b2 | kfmt) vs \($b1 | kfmt): **\($rb1 | fmt)x**";
            both($rf1; $rb1; 0.8)),
        row("two-node fan-out deliveries/s vs Socket.IO two-node"; "≥ 2x";
            "fanout \($f2 | kfmt) vs \($fs | kfmt): **\($rfs | fmt)x**; burst \($b2 | kfmt) vs \($bs | kfmt): **\($rbs | fmt)x**";
            both($rfs; $rbs; 2)),
        row("p99 send→deliver across nodes at 20k deliveries/s"; "< 15 ms";
            "\($rp | fmt) ms on node 2 (range \($rps.min | fmt)-\($rps.max | fmt); all members: \($ra | fmt) ms) at \($rd | kfmt) deliveries/s";
            (if $rp == null then null else $rp < 15 end))'
    jqr '
      [sizes("parley2")[] as $n | per_msg("parley2"; $n) | select(.)] as $p
      | if ($p | length) < 2 then row("Redis commands per room message"; "independent of N"; "-"; null)
        else row("Redis commands per room message, N=\($p[0].n) vs N=\($p[-1].n)"; "independent of N";
              "\($p[0].net | fmt) vs \($p[-1].net | fmt) (PUBLISH \($p[0].publish | fmt) vs \($p[-1].publish | fmt)); bytes into Redis per message \($p[0].bytes | kfmt) vs \($p[-1].bytes | kfmt)";
              ((($p[-1].net - $p[0].net) | fabs) <= 0.1 * $p[0].net + 0.05)) end'
    echo
    echo "### Every run"
    echo
    echo "Median (range) over the repetitions. CPU: each process's utime + stime over the run"
    echo "(connects and drain included) divided by the run's wall time; all share CPU 0."
    echo
    echo "| test | config | deliveries/s | p50 ms | p99 ms | p99 ms, node 2 | CPU % node 1 / node 2 / Redis / PostgreSQL |"
    echo "|---|---|---|---|---|---|---|"
    jqr '
      def cpu($x; $k): $x | stat(select(.cpu_s[$k] != null) | .cpu_s[$k] / .wall_s * 100) | .med | if . == null then "-" else (. | round | tostring) end;
      ("fanout", "burst", "rate") as $t | ("parley1", "parley2", "sio2") as $s | runs($t; $N; $s) as $x
      | select($x | length > 0)
      | "| \($t) | \($s) | \($x | rng(.deliveries_per_s; kfmt)) | \($x | stat(.lat_deliver_us.p50 / 1000) | .med | fmt) | \($x | stat(.lat_deliver_us.p99 / 1000) | .med | fmt) | \($x | stat(select(.lat_deliver_remote_us) | .lat_deliver_remote_us.p99 / 1000) | .med | fmt) | \(cpu($x; "node1")) / \(cpu($x; "node2")) / \(cpu($x; "redis")) / \(cpu($x; "postgres")) |"'
    echo
    echo "### Redis commands per room message"
    echo
    echo "Two runs of \`fanout --rate $CMDS_RATE --window 0\` into the same room of a fresh"
    echo "configuration, ${DURATION} s and $((3 * DURATION)) s of sending, Redis's \`INFO stats commandstats\` before"
    echo "and after each (\`INFO\` not counted): per message is what the longer run sent more over its"
    echo "extra messages, so setup, connects and subscribes cancel out; \"net\" also takes off what"
    echo "the idle configuration sends in the extra time (heartbeats, node list, leases; measured"
    echo "for 5 s before the runs). A low rate, so each message is mostly its own turn of the"
    echo "bridge: about the most commands a message costs (at higher rates one PUBLISH carries many)."
    echo "Bytes: what Redis read from its clients per message, net of idle (\`total_net_input_bytes\`)."
    echo
    echo "| config | N | extra messages | idle cmds/s | per message | net per message | bytes in per message | by command, per message |"
    echo "|---|---|---|---|---|---|---|---|"
    jqr '
      ("parley2", "sio2") as $s | sizes($s)[] as $n | per_msg($s; $n) | select(.)
      | "| \($s) | \(.n) | \(.msgs) | \(.idle | fmt) | \(.all | fmt) | \(.net | fmt) | \(.bytes | kfmt) | \(.by | to_entries | map("\(.key) \(.value | fmt)") | join(", ")) |"'
    echo
    echo "### Where parley2's CPU goes"
    echo
    echo "CPU seconds per second of run by thread name (digits dropped), median over the"
    echo "fanout and burst runs, the busiest first:"
    echo
    echo "| test | node | threads |"
    echo "|---|---|---|"
    jqr '
      ("fanout", "burst") as $t | runs($t; $N; "parley2") as $x | ("node1", "node2") as $node
      | [$x[] | .wall_s as $w | .thread_cpu_s[$node] // {} | map_values(. / $w)] as $per
      | ([$per[] | keys[]] | unique | map(. as $k | {k: $k, v: ([$per[] | .[$k] // 0] | median)})
         | sort_by(-.v) | map(select(.v >= 0.01)) | .[:8] | map("\(.k) \(.v * 100 | round) %") | join(", ")) as $top
      | "| \($t) | \($node) | \($top) |"'
    echo
    if command -v gnuplot >/dev/null; then
        echo "![cluster deliveries per second](results/cluster.png)"
        echo
        echo "![cluster latency at 20k deliveries/s](results/cluster_latency.png)"
        echo
    fi
    echo "Reproduce: \`bench/compare --cluster\` (\`--quick\`: N=200, 2 s, one repetition)."
} >"$MD"

# The section in OUT/RESULTS.md now: replaces the one there, or is added at its end.
if [ -f "$OUT/RESULTS.md" ]; then
    awk -v md="$MD" '
        /^## Cluster/ {skip = 1; while ((getline l < md) > 0) print l; print ""; done = 1; next}
        skip && /^## / {skip = 0}
        !skip {print}
        END {if (!done) {print ""; while ((getline l < md) > 0) print l}}
    ' "$OUT/RESULTS.md" >"$OUT/RESULTS.md.tmp" && mv "$OUT/RESULTS.md.tmp" "$OUT/RESULTS.md"
fi

DAT="$OUT/results/cluster.dat" LAT="$OUT/results/cluster_latency.dat"
jqr '("fanout", "burst") as $t
     | "\($t) \([("parley1", "parley2", "sio2") as $s | med($t; $s; .deliveries_per_s) // 0] | join(" "))"' >"$DAT"
jqr '("parley1", "parley2", "sio2") as $s | select(runs("rate"; $N; $s) | length > 0)
     | "\($s) \([med("rate"; $s; .lat_deliver_us.p50), med("rate"; $s; .lat_deliver_us.p99),
                  med("rate"; $s; .lat_deliver_remote_us.p99 // .lat_deliver_us.p99)] | map(. / 1000) | join(" "))"' >"$LAT"
if command -v gnuplot >/dev/null && [ -s "$DAT" ]; then
    gnuplot <<GP || true
set terminal pngcairo size 900,500 font ",10"
set output "$OUT/results/cluster.png"
set title "Cluster fan-out deliveries per second, N=$N (median of repetitions; log scale)"
load "$ROOT/bench/bars.gp"
set yrange [1000:*]
set ylabel "deliveries/s"
set key top right
plot "$DAT" using 2:xtic(1) title "parley, one node", "" using 3 title "parley, two nodes", "" using 4 title "Socket.IO, two nodes"
GP
    gnuplot <<GP || true
set terminal pngcairo size 900,500 font ",10"
set output "$OUT/results/cluster_latency.png"
set title "send -> deliver at 20k deliveries/s, N=$N (median of repetitions; log scale)"
load "$ROOT/bench/bars.gp"
set ylabel "ms"
set key top left
plot "$LAT" using 2:xtic(1) title "p50", "" using 3 title "p99", "" using 4 title "p99 on node 2"
GP
fi
rm -f "$DAT" "$LAT"
