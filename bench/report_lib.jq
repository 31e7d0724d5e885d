# jq helpers of bench/report.sh and bench/cluster_report.sh: runs of one test/n/server,
# their median and range, a ratio of medians, number formats.
def median: sort | if length == 0 then null
    elif length % 2 == 1 then .[(length - 1) / 2]
    else (.[length / 2 - 1] + .[length / 2]) / 2 end;
# A fan-out run that never connected its room measured nothing: it is left out.
def runs($t; $n; $s): [inputs_all[] | select(.test == $t and .n == $n and .server == $s)
    | select(.scenario != "fanout" or .ready >= .conns)];
def fmt: if . == null then "-" elif . >= 100 then (. | round | tostring)
    else (. * 100 | round / 100 | tostring) end;
def kfmt: if . == null then "-" elif . >= 1000000 then ((. / 10000 | round) / 100 | tostring) + "M"
    elif . >= 1000 then ((. / 10 | round) / 100 | tostring) + "k" else (. | fmt) end;
def stat(f): [.[] | f] | if length == 0 then {med: null, min: null, max: null}
    else {med: median, min: min, max: max} end;
def rng(f; fm): stat(f) | if .med == null then "-"
    else "\(.med | fm) (\(.min | fm)-\(.max | fm))" end;
def ratio($a; $b): if $a == null or $b == null or $b == 0 then null else $a / $b end;
