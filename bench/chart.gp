# chart.gp: bytes per request on the wire and req/s per pair (data from chart-data.awk).
# gnuplot -e "data='chart.dat'; output='chart.png'; conns=256" chart.gp
set terminal pngcairo size 1200,480 font ",10"
set output output
set multiplot layout 1,2 title sprintf("Teleport.Grpc vs plain HTTP, %d connections (medians)", conns)
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top right
set xtics nomirror
set title "bytes on the wire per request (log scale; lower is better)"
set logscale y
set ylabel "bytes / request"
plot data using 2:xtic(1) title "rtb", '' using 3 title "get-small"
unset logscale y
set title "requests per second (higher is better)"
set ylabel "req/s"
set yrange [0:*]
plot data using 4:xtic(1) title "rtb", '' using 5 title "get-small"
unset multiplot
