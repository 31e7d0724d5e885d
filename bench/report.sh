#!/usr/bin/env bash
# bench/report.sh: turns the JSON lines of a bench/compare sitting into RESULTS.md
# (machine, date, exact commands, medians and ranges, ratios to the baselines, the
# issue-4 targets) and PNG charts drawn with gnuplot. Called by bench/compare:
#   report.sh RUNS.jsonl OUT_DIR QUICK REPS DURATION PIN_SERVER PIN_GEN STEADY BURST SKIPPED
set -euo pipefail
RUNS=$1 OUT=$2 QUICK=$3 REPS=$4 DURATION=$5 PIN_SERVER=$6 PIN_GEN=$7 STEADY=$8 BURST=$9
SKIPPED=${10:-}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MD="$OUT/RESULTS.md"
CHARTS="$OUT/results"
mkdir -p "$CHARTS"

JQ_LIB=$(<"$ROOT/bench/report_lib.jq") # runs(), stat(), rng(), ratio(), fmt, kfmt
jqr() { jq -rn --slurpfile inputs_all "$RUNS" "def inputs_all: \$inputs_all; $JQ_LIB $1"; }

CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
{
    echo "# parley bench results"
    echo
    if [ "$QUICK" = 1 ]; then
        echo "**Smoke run (--quick): small N, short runs, one repetition; not a measurement.**"
        echo
    fi
    echo "Written by \`bench/compare\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo
    echo "## Machine"
    echo
    echo "- $(nproc) CPUs, ${CPU:-unknown CPU}; kernel $(uname -r); $(free -g | awk '/^Mem:/ {print $2}') GiB RAM; \`ulimit -n\` $(ulimit -n)"
    echo "- server pinned with \`${PIN_SERVER:-none}\`, generator with \`${PIN_GEN:-none}\` (one thread)"
    echo "- loopback only; $REPS repetition(s) per server, servers alternating (parley, raw, ws, parley, ...),"
    echo "  ${DURATION} s of sending per run. The machine is shared: ratios from one sitting are the headline,"
    echo "  absolute numbers drift."
    echo "- message: a ~64-byte body; parley's delivered frame is ~240 bytes (JSON with sender), raw"
    echo "  frames are padded to ~220 bytes."
    echo
    echo "## The targets of issue 4"
    echo
    echo "| target | measured (median, range over repetitions) | met |"
    echo "|---|---|---|"
    jqr '
      def med($t; $n; $s; f): runs($t; $n; $s) | stat(f) | .med;
      def row($name; $val; $ok): "| \($name) | \($val) | \(if $ok == null then "**not measured**" elif $ok then "yes" else "**no**" end) |";
      def dps: .deliveries_per_s;
      ([inputs_all[] | .n] | unique) as $ns
      | ($ns[] | . as $n
        | med("fanout"; $n; "parley"; dps) as $p | med("fanout"; $n; "raw"; dps) as $r
        | med("fanout"; $n; "ws"; dps) as $w
        | select($p != null or $r != null)
        | row("fan-out deliveries/s >= 0.9x raw, N=\($n)";
              "parley \($p | kfmt), raw \($r | kfmt): **\(ratio($p; $r) | fmt)x**";
              (if ratio($p; $r) == null then null else ratio($p; $r) >= 0.9 end)),
          row("fan-out deliveries/s >= 1.5x ws, N=\($n)";
              "parley \($p | kfmt), ws \($w | kfmt): **\(ratio($p; $w) | fmt)x**";
              (if ratio($p; $w) == null then null else ratio($p; $w) >= 1.5 end)),
          (med("burst"; $n; "parley"; dps) as $pb | med("burst"; $n; "raw"; dps) as $rb
           | select($pb != null or $rb != null)
           | row("bursts: parley >= 3x raw single-send, N=\($n)";
                 "parley \($pb | kfmt), raw \($rb | kfmt): **\(ratio($pb; $rb) | fmt)x**";
                 (if ratio($pb; $rb) == null then null else ratio($pb; $rb) >= 3 end)))),
      (runs("rate"; ($ns | min); "parley") as $rr | select($rr | length > 0)
       | ($rr | stat(.lat_deliver_us.p99 / 1000) | .med) as $p99
       | row("p99 send->deliver < 10 ms at 20k deliveries/s, N=\($ns | min)";
             "p99 \($rr | rng(.lat_deliver_us.p99 / 1000; fmt)) ms at \($rr | rng(dps; kfmt)) deliveries/s";
             ($p99 < 10))),
      ([inputs_all[] | select(.test == "rooms" and .server == "parley")] as $ro
       | select($ro | length > 0)
       | ($ro | stat(.acks_per_s) | .med) as $a
       | row(">= 100k durably acked msgs/s across many rooms (ack p99)";
             "\($ro | rng(.acks_per_s; kfmt)) acked/s, ack p99 \($ro | rng(.lat_ack_us.p99 / 1000; fmt)) ms (\($ro[0].conns) users, rooms of \($ro[0].group))";
             ($a >= 100000))),
      ([inputs_all[] | select(.test == "rooms")] as $sq
       | [inputs_all[] | select(.test == "rooms_pg")] as $pg
       | select(($sq | length > 0) and ($pg | length > 0))
       | ($sq | stat(.acks_per_s) | .med) as $sa | ($pg | stat(.acks_per_s) | .med) as $pa
       | row("PostgreSQL store >= 0.5x the durably acked msgs/s of SQLite (same rooms run)";
             "PostgreSQL \($pa | kfmt), SQLite \($sa | kfmt): **\(ratio($pa; $sa) | fmt)x**, ack p99 \($pg | rng(.lat_ack_us.p99 / 1000; fmt)) ms";
             (ratio($pa; $sa) >= 0.5))),
      ([inputs_all[] | select(.test == "limit")] as $l | select($l | length > 0) | $l[0] as $x
       | row(">= 19,000 connections held at <= 40 KB RSS each";
             "\($x.ready) held; \($x.rss_kib_per_conn | fmt) KiB/conn added after start, \($x.rss_kib_total_per_conn | fmt) KiB/conn in all (idle server \($x.rss_kib_before / 1024 | fmt) MiB)";
             ($x.ready >= 19000 and $x.rss_kib_per_conn <= 40)),
         row("connects past the limit refused with 503, not hung";
             "\($x.refused_503) of \($x.conns - $x.ready) refused with 503, \($x.failed) failed, max connect \($x.lat_connect_us.max / 1000 | fmt) ms, /healthz \($x.healthz_status) while full";
             ($x.refused_503 == ($x.conns - $x.ready) and $x.failed == 0 and $x.healthz_status == 200)))
    '
    echo
    echo "## The goals of issue 16"
    echo
    echo "Medians over the repetitions of this sitting; server CPU per operation from /proc"
    echo "(utime + stime over the sending interval, per delivery, durable message or connect)."
    echo
    echo "| measure | goal | measured | met |"
    echo "|---|---|---|---|"
    jqr '
      def med($t; $n; $s; f): runs($t; $n; $s) | stat(f) | .med;
      def row($name; $goal; $val; $ok): "| \($name) | \($goal) | \($val) | \(if $ok == null then "**not measured**" elif $ok then "yes" else "**no**" end) |";
      def cpu($t; $n; $s): med($t; $n; $s; .cpu_us_per_delivery) | fmt;
      def both($a; $b): if $a == null or $b == null then null else ($a and $b) end;
      ([inputs_all[] | select(.test == "rooms")] | stat(.acks_per_s) | .med) as $ra
      | ([inputs_all[] | select(.test == "rooms")] | stat(.cpu_us_per_ack) | .med) as $rc
      | ([inputs_all[] | select(.test == "durable_base")] | stat(.acks_per_s) | .med) as $ba
      | ([inputs_all[] | select(.test == "durable_base")] | stat(.cpu_us_per_ack) | .med) as $bc
      | ([inputs_all[] | select(.test == "durable_base")] | stat(.batch) | .med) as $bb
      | row("durably acked msgs/s, `rooms` (2000 users, rooms of 5, window 8)";
            "≥ 100k and ≥ 0.5x the durable baseline";
            "parley \($ra | kfmt) (\($rc | fmt) µs CPU/message), baseline \($ba | kfmt) at batch \($bb | fmt), 5 per room (\($bc | fmt) µs CPU/row): **\(ratio($ra; $ba) | fmt)x**";
            (if $ra == null or $ba == null then null else ($ra >= 100000 and ratio($ra; $ba) >= 0.5) end)),
        (med("connect"; 10000; "parley"; .connects_per_s) as $p
         | med("connect"; 10000; "ws"; .connects_per_s) as $w
         | med("connect"; 10000; "parley"; .lat_connect_us.p99 / 1000) as $p99
         | row("connects/s at N=10k, and connect p99"; "≥ 3x ws, p99 < 250 ms";
               "parley \($p | kfmt)/s, p99 \($p99 | fmt) ms (\(med("connect"; 10000; "parley"; .cpu_us_per_connect) | fmt) µs CPU/connect); ws \($w | kfmt)/s: **\(ratio($p; $w) | fmt)x**";
               (if $p == null or $w == null then null else (ratio($p; $w) >= 3 and $p99 < 250) end))),
        ((1000, 10000) as $n
         | med("fanout"; $n; "parley"; .deliveries_per_s) as $p
         | med("fanout"; $n; "ws"; .deliveries_per_s) as $w
         | row("window-1 fan-out deliveries/s, N=\($n)"; "≥ 1.5x ws";
               "parley \($p | kfmt), ws \($w | kfmt): **\(ratio($p; $w) | fmt)x**; µs CPU/delivery parley \(cpu("fanout"; $n; "parley")), raw \(cpu("fanout"; $n; "raw")), ws \(cpu("fanout"; $n; "ws"))";
               (if ratio($p; $w) == null then null else ratio($p; $w) >= 1.5 end))),
        (med("connect"; 10000; "parley"; .rss_kib_per_conn) as $k
         | row("RSS per held connection (N=10k, added)"; "≤ 16 KiB";
               "\($k | fmt) KiB (raw \(med("connect"; 10000; "raw"; .rss_kib_per_conn) | fmt), ws \(med("connect"; 10000; "ws"; .rss_kib_per_conn) | fmt))";
               (if $k == null then null else $k <= 16 end))),
        (med("rate"; 1000; "parley"; .lat_deliver_us.p99 / 1000) as $p
         | med("rate"; 1000; "raw"; .lat_deliver_us.p99 / 1000) as $r
         | row("p99 send-to-deliver at 20k deliveries/s"; "no worse than raw";
               "parley \($p | fmt) ms, raw \($r | fmt) ms (µs CPU/delivery parley \(cpu("rate"; 1000; "parley")), raw \(cpu("rate"; 1000; "raw")))";
               (if $p == null or $r == null then null else $p <= $r end))),
        ((1000, 10000) as $n
         | med("burst"; $n; "parley"; .deliveries_per_s) as $p
         | med("burst"; $n; "rawm"; .deliveries_per_s) as $m
         | row("burst deliveries/s, N=\($n)"; "≥ 0.9x raw merged-writes";
               "parley \($p | kfmt), rawm \($m | kfmt): **\(ratio($p; $m) | fmt)x**; µs CPU/delivery parley \(cpu("burst"; $n; "parley")), rawm \(cpu("burst"; $n; "rawm"))";
               (if ratio($p; $m) == null then null else ratio($p; $m) >= 0.9 end)))
    '
    echo
    if [ -n "$SKIPPED" ]; then
        echo "Skipped: fan-out of${SKIPPED} (the server could not connect that many members of one"
        echo "room within the connect timeout; see compare.log and the notes below)."
        echo
    fi
    echo "## Fan-out: one room, one sender"
    echo
    echo "\`fanout\` = \`$STEADY\` (as fast as acks allow, one send in flight); \`burst\` = \`$BURST\`"
    echo "(the sender writes 16 frames per send(), at most 64 not yet back at the sender; parley's acks"
    echo "come after the durable commit, not after the fan-out, so pacing bursts by acks would measure"
    echo "queue growth rather than throughput); \`rate\` = a fixed rate giving 20k deliveries/s. Raw and"
    echo "ws have no acks: the sender's own copy of its frame stands in."
    echo
    echo "Server CPU µs/delivery: the server's CPU time (utime + stime from /proc) over the sending"
    echo "interval divided by the deliveries made in it; it holds still when the machine's load moves"
    echo "the rates."
    echo
    echo "\`rawm\` is raw_ws merging each client's frames of one wake into one send (\`--merge 1\`),"
    echo "the physical limit for bursts; its ratio column is parley's burst over it."
    echo
    echo "| test | N | server | deliveries/s | ratio to raw | ratio to ws | ratio to rawm | p50 ms | p99 ms | p99.9 ms | max ms | ack p99 ms | server CPU % | server CPU µs/delivery |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    jqr '
      [inputs_all[] | select(.scenario == "fanout")] as $all
      | ($all | map([.test, .n]) | unique[]) as [$t, $n]
      | (runs($t; $n; "raw") | stat(.deliveries_per_s) | .med) as $r
      | (runs($t; $n; "ws") | stat(.deliveries_per_s) | .med) as $w
      | (runs($t; $n; "rawm") | stat(.deliveries_per_s) | .med) as $m
      | ("parley", "raw", "ws", "rawm") as $s | runs($t; $n; $s) as $x | select($x | length > 0)
      | ($x | stat(.deliveries_per_s) | .med) as $d
      | "| \($t) | \($n) | \($s) | \($x | rng(.deliveries_per_s; kfmt)) | \(ratio($d; $r) | fmt) | \(ratio($d; $w) | fmt) | \(ratio($d; $m) | fmt) | \($x | stat(.lat_deliver_us.p50 / 1000) | .med | fmt) | \($x | rng(.lat_deliver_us.p99 / 1000; fmt)) | \($x | stat(.lat_deliver_us.p999 / 1000) | .med | fmt) | \($x | stat(.lat_deliver_us.max / 1000) | .med | fmt) | \($x | stat(.lat_ack_us.p99 / 1000) | .med | fmt) | \($x | stat(.server_cpu_pct) | .med | fmt) | \($x | rng(.cpu_us_per_delivery; fmt)) |"
    '
    echo
    echo "Ratios within each repetition (parley/raw, parley/ws, same sitting):"
    echo
    jqr '
      [inputs_all[] | select(.scenario == "fanout")] as $all
      | ($all | map([.test, .n]) | unique[]) as [$t, $n]
      | [range(1; 100) as $rep
         | [$all[] | select(.test == $t and .n == $n and .rep == $rep)] as $g
         | select($g | length > 0)
         | ($g | map(select(.server == "parley")) | .[0].deliveries_per_s) as $p
         | {raw: ratio($p; ($g | map(select(.server == "raw")) | .[0].deliveries_per_s)),
            ws: ratio($p; ($g | map(select(.server == "ws")) | .[0].deliveries_per_s))}] as $rs
      | select($rs | length > 0)
      | "- \($t) N=\($n): parley/raw \([$rs[].raw | fmt] | join(", ")); parley/ws \([$rs[].ws | fmt] | join(", "))"
    '
    echo
    echo "## Connect (rooms of 10, connect and subscribe as fast as possible, 256 in flight)"
    echo
    echo "| N | server | connections/s | connect p99 ms | failed | 503 | RSS KiB/conn added | RSS KiB/conn in all | server CPU µs/connect |"
    echo "|---|---|---|---|---|---|---|---|---|"
    jqr '
      ([inputs_all[] | select(.test == "connect" or .test == "limit") | [.test, .n]] | unique[]) as [$t, $n]
      | ("parley", "raw", "ws") as $s | runs($t; $n; $s) as $x | select($x | length > 0)
      | "| \($n)\(if $t == "limit" then " (limit \($x[0].ready))" else "" end) | \($s) | \($x | rng(.connects_per_s; kfmt)) | \($x | rng(.lat_connect_us.p99 / 1000; fmt)) | \([$x[].failed] | add) | \([$x[].refused_503] | add) | \($x | rng(.rss_kib_per_conn; fmt)) | \($x | rng(.rss_kib_total_per_conn; fmt)) | \($x | rng(.cpu_us_per_connect; fmt)) |"
    '
    echo
    echo "## Rooms (parley only: durable acks, on each store)"
    echo
    echo "PostgreSQL runs on the server's CPU beside parley (its CPU is not in the server column)."
    echo
    echo "Server CPU µs/message: per durably acked message with its deliveries (room of 5)."
    echo
    echo "| store | users | room size | window | acked/s | deliveries/s | ack p50 ms | ack p99 ms | deliver p99 ms | server CPU % | server CPU µs/message | µs/delivery |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    jqr '
      ("rooms", "rooms_pg") as $t
      | [inputs_all[] | select(.test == $t)] as $x | select($x | length > 0)
      | "| \(if $t == "rooms" then "SQLite" else "PostgreSQL" end) | \($x[0].conns) | \($x[0].group) | \($x[0].window) | \($x | rng(.acks_per_s; kfmt)) | \($x | rng(.deliveries_per_s; kfmt)) | \($x | stat(.lat_ack_us.p50 / 1000) | .med | fmt) | \($x | rng(.lat_ack_us.p99 / 1000; fmt)) | \($x | stat(.lat_deliver_us.p99 / 1000) | .med | fmt) | \($x | stat(.server_cpu_pct) | .med | fmt) | \($x | rng(.cpu_us_per_ack; fmt)) | \($x | rng(.cpu_us_per_delivery; fmt)) |"
    '
    echo
    echo "## Notifications (parley only: pushes to SSE streams)"
    echo
    echo "One room of N members; the sender publishes with one send in flight; the other N-1 hold"
    echo "their \`/api/events\` stream instead of subscribing, so every message is a coalesced"
    echo "\`group_message\` push to each of them, and every stream must end on the last message."
    echo
    echo "| N | pushes/s | messages acked/s | push p50 ms | push p99 ms | server CPU % | server CPU µs/push |"
    echo "|---|---|---|---|---|---|---|"
    jqr '
      [inputs_all[] | select(.test == "notify")] as $x | select($x | length > 0)
      | "| \($x[0].conns) | \($x | rng(.deliveries_per_s; kfmt)) | \($x | rng(.acks_per_s; kfmt)) | \($x | stat(.lat_deliver_us.p50 / 1000) | .med | fmt) | \($x | rng(.lat_deliver_us.p99 / 1000; fmt)) | \($x | stat(.server_cpu_pct) | .med | fmt) | \($x | rng(.cpu_us_per_delivery; fmt)) |"
    '
    echo
    echo "## Verification"
    echo
    jqr '
      [inputs_all[]] as $a
      | "- \($a | length) runs, \([$a[] | select(.verified)] | length) verified (every connection ready,"
        + " no gaps, dups, missing deliveries, errors or lost connections)."
        + "\n- summed over all runs: gaps \([$a[].gaps] | add), dups \([$a[].dups] | add), missing \([$a[].missing] | add),"
        + " errors \([$a[].errors] | add), lost connections \([$a[].lost] | add), failed connects \([$a[].failed] | add);"
        + " acked \([$a[].acked] | add) of \([$a[].sent] | add) sent; \([$a[].delivered] | add) deliveries of \([$a[].expected] | add) expected."
        + ([$a[] | select(.verified | not) | "\n- not verified: \(.test) N=\(.n) rep \(.rep) \(.server): ready \(.ready)/\(.conns), \(.first_error)"] | join(""))
    '
    echo
    if command -v gnuplot >/dev/null; then
        echo "## Charts"
        echo
        echo "![deliveries per second](results/throughput.png)"
        echo
        echo "![send to deliver latency](results/latency.png)"
        echo
    fi
    # The soak (half an hour on its own) and the cluster sitting (compare --cluster) are
    # not part of a compare sitting: their sections are kept in results/soak.md and
    # results/cluster.md and carried into every RESULTS.md.
    for part in soak cluster; do
        if [ -s "$ROOT/bench/results/$part.md" ]; then
            cat "$ROOT/bench/results/$part.md"
            echo
        fi
    done
    echo "## Exact commands"
    echo
    echo "Servers (each started, measured and stopped in turn):"
    echo
    echo '```'
    echo "$PIN_SERVER build-bench/parley --listen 127.0.0.1:0 --data-dir DIR --password-hash-ops 1 --password-hash-mem-kib 8 --max-connections N+100 --rate-limit-per-s 1000000 --rate-limit-burst 1000000 --signup-limit-addr 1000000 --log-level info"
    echo "$PIN_SERVER build-bench/bench/raw_ws --port 0 --max-seconds 1800 [--merge 1]"
    echo "$PIN_SERVER build-bench/bench/durable_base --data-dir DIR --store sqlite|postgres --users 2000 --group 5 --batch B --per-room 5 --duration $DURATION"
    echo "$PIN_SERVER node bench/peers/ws_node/server.js --port 0 --max-seconds 1800"
    echo '```'
    echo
    echo "Generator (first repetition of each; PORT, PID and the cache path vary):"
    echo
    echo '```'
    jqr '[inputs_all[] | select(.rep == 1)] | unique_by([.test, .n, .server])[] | .cmd' |
        sed -e "s#$ROOT/##g" -e "s#/tmp/parley-compare\.[A-Za-z0-9]*/#TMP/#g"
    echo '```'
    echo
    echo "Reproduce: \`bench/compare\` (about 15 minutes; \`--quick\` for a smoke run)."
    echo "Raw results: \`results/runs.jsonl\` (one JSON line per run); log: \`results/compare.log\`."
} >"$MD"

# ------------------------------------------------------------------ charts

command -v gnuplot >/dev/null || exit 0
DAT="$CHARTS/throughput.dat"
jqr '
  def m($t; $n; $s): runs($t; $n; $s) | stat(.deliveries_per_s) | .med // 0;
  [inputs_all[] | select(.scenario == "fanout" and .test != "rate") | [.test, .n]] | unique[] as [$t, $n]
  | "\"\($t) N=\($n)\" \(m($t; $n; "parley")) \(m($t; $n; "raw")) \(m($t; $n; "ws"))"
' >"$DAT"
LAT="$CHARTS/latency.dat"
jqr '
  def p($x; f): $x | stat(f) | .med // 0;
  [inputs_all[] | select(.scenario == "fanout") | [.test, .n, .server]] | unique[] as [$t, $n, $s]
  | runs($t; $n; $s) as $x
  | "\"\($s) \($t) N=\($n)\" \(p($x; .lat_deliver_us.p50 / 1000)) \(p($x; .lat_deliver_us.p99 / 1000)) \(p($x; .lat_deliver_us.p999 / 1000)) \(p($x; .lat_deliver_us.max / 1000))"
' >"$LAT"
if [ -s "$DAT" ]; then
    gnuplot <<EOF || true
set terminal pngcairo size 1000,560 font ",10"
set output "$CHARTS/throughput.png"
set title "Fan-out deliveries per second (median of repetitions; log scale)"
load "$ROOT/bench/bars.gp"
set yrange [1000:*]
set ylabel "deliveries/s"
set key top left
plot "$DAT" using 2:xtic(1) title "parley", "" using 3 title "raw epoll (1 send/frame)", "" using 4 title "Node ws"
EOF
fi
if [ -s "$LAT" ]; then
    gnuplot <<EOF || true
set terminal pngcairo size 1200,600 font ",9"
set output "$CHARTS/latency.png"
set title "send -> deliver latency percentiles (median of repetitions; log scale)"
load "$ROOT/bench/bars.gp"
set ylabel "ms"
set xtics rotate by -35
set key top left
plot "$LAT" using 2:xtic(1) title "p50", "" using 3 title "p99", "" using 4 title "p99.9", "" using 5 title "max"
EOF
fi
