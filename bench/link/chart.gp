# chart.gp - "the same link carries X times more requests through the tunnel" (link-bench.sh)
# gnuplot -e "data='chart.dat'; output='chart.png'" chart.gp
set terminal pngcairo size 1000,560 font ",10"
set output output
set title "Requests per second across the same link: plain HTTP/1.1 vs. through the tunnel (best of 256 and 1024 connections)"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set ylabel "req/s (log scale)"
set yrange [10:1000000]
set key below
set xtics rotate by -20
set grid ytics
plot data using 2:xtic(1) title "plain HTTP/1.1" lc rgb "#999999", \
     '' using 3 title "through the tunnel (x: times plain)" lc rgb "#2a7ab9", \
     '' using ($0+0.17):5 with points pt 9 ps 1.6 lc rgb "#d62728" title "what the link would carry through the tunnel (its busier direction at the full rate)", \
     '' using ($0+0.17):3:(sprintf("%.1fx", $4)) with labels offset 0,0.8 notitle
