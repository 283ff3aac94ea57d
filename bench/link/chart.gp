# chart.gp - "the same link carries X times more requests through the tunnel" (link-bench.sh)
# gnuplot -e "data='chart.dat'; output='chart.png'; rate=20" chart.gp
set terminal pngcairo size 900,480 font ",10"
set output output
set title sprintf("Requests per second across the same %d Mbit/s link: plain HTTP vs. through the tunnel", rate)
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set ylabel "req/s (log scale)"
set yrange [10:*]
set key top left
set xtics rotate by -20
set grid ytics
plot data using 2:xtic(1) title "plain HTTP/1.1" lc rgb "#999999", \
     '' using 3 title "through the tunnel" lc rgb "#2a7ab9", \
     '' using 0:3:(sprintf("%.0fx", $4)) with labels offset 1.5,0.7 notitle
