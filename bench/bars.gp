# The bar charts of bench/report.sh and bench/cluster_report.sh, `load`ed by each:
# clustered bars on a log scale. The caller sets terminal, output, title, labels, keys.
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set grid ytics
