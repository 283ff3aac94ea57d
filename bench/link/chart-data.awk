# chart-data.awk - results.tsv (one or more) -> "label plain tunnel ratio tunnel-link-limit" per link rate, RTT and
# workload (best connection count), in the order measured. The link limit is the req/s at which the tunnel's busier
# direction would fill the rate (each direction has the full rate): what the link would carry if CPU were no limit.
FNR == 1 { next }
{
  k = $5 ", " $2 " Mbit/s, " $3 " ms"
  if ($7 + 0 > best[k SUBSEP $4] + 0) { best[k SUBSEP $4] = $7; if ($4 == "tunnel") cap[k] = $7 * $2 / ($12 > $13 ? $12 : $13) }
  if (!(k in seen)) { seen[k] = 1; keys[++n] = k }
}
END {
  for (i = 1; i <= n; i++) {
    p = best[keys[i] SUBSEP "plain"]; t = best[keys[i] SUBSEP "tunnel"]
    if (p > 0) printf "\"%s\" %d %d %.1f %d\n", keys[i], p, t, t / p, cap[keys[i]]
  }
}
