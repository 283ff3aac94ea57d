# chart-data.awk - results.tsv -> "label plain tunnel ratio" per workload and RTT (best connection count), as measured
FNR == 1 { next }
{ k = $5 " " $3 " ms"; if ($7 + 0 > best[k SUBSEP $4] + 0) best[k SUBSEP $4] = $7; if (!(k in seen)) { seen[k] = 1; keys[++n] = k } }
END {
  for (i = 1; i <= n; i++) {
    p = best[keys[i] SUBSEP "plain"]; t = best[keys[i] SUBSEP "tunnel"]
    if (p > 0) printf "\"%s\" %d %d %.1f\n", keys[i], p, t, t / p
  }
}
