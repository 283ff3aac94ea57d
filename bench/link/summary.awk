# summary.awk - link-bench.sh's results.tsv and large.tsv -> Markdown tables, in the order measured (best connection count per cell,
# median of the large-transfer repeats). Limit: "link" when the busier direction ran at >= 85 % of the rate,
# "CPU" when the machine's cores were >= 85 % busy, else "round trips" (connections x RTT bound wrk's rate).
function limit(util, busy) { return util >= 85 ? "link" : (busy >= 85 ? "CPU" : "round trips") }
function median(list,   n, v, i, j, t) {
  n = split(list, v, " ")
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
  return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
FNR == 1 { file++; next }
file == 1 {
  k = $2 SUBSEP $3 SUBSEP $5 SUBSEP $4
  if (!(k in best) || $7 + 0 > best[k] + 0) { best[k] = $7; row[k] = $0 }
  cc = $2 SUBSEP $3 SUBSEP $5; if (!(cc in cell)) { cell[cc] = 1; cells[++nc] = cc }
}
file == 2 && $10 ~ /^2/ {
  k = $2 SUBSEP $3 SUBSEP $4 SUBSEP $5
  mb[k] = mb[k] " " $8; if (!(k in lk)) { order[++nl] = k; lk[k] = 1 }
}
file == 2 && $10 !~ /^2/ { bad[$4 " " $5] = bad[$4 " " $5] " " $10 }
END {
  if (nc) {
    print "| link | RTT ms | workload | plain req/s (conns) | p50 / p99 ms | link use | limit | tunnel req/s (conns) | p50 / p99 ms | link use | limit | link B/req plain / tunnel | **tunnel / plain** |"
    print "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for (i = 1; i <= nc; i++) {
      split(cells[i], c, SUBSEP)
      p = row[cells[i] SUBSEP "plain"]; t = row[cells[i] SUBSEP "tunnel"]
      if (p == "" || t == "") continue
      split(p, P, "\t"); split(t, T, "\t")
      printf "| %s Mbit/s | %s | %s | %d (%s) | %.1f / %.1f | %d %% | %s | %d (%s) | %.1f / %.1f | %d %% | %s | %d / %d | **%.1fx** |\n",
        c[1], c[2], c[3], P[7], P[6], P[8], P[9], P[14], limit(P[14], P[16]), T[7], T[6], T[8], T[9], T[14], limit(T[14], T[16]),
        P[15], T[15], T[7] / (P[7] > 0 ? P[7] : 1)
    }
  }
  if (nl) {
    print ""
    print "| link | RTT ms | path | direction | Mbit/s (median) | share of the link rate | runs |"
    print "|---|---|---|---|---|---|---|"
    for (i = 1; i <= nl; i++) {
      split(order[i], c, SUBSEP); m = median(mb[order[i]])
      printf "| %s Mbit/s | %s | %s | %s | %.1f | %.0f %% | %s |\n", c[1], c[2], c[3], c[4], m, 100 * m / c[1], mb[order[i]]
    }
  }
  for (b in bad) printf "\nfailed transfers (%s): HTTP%s\n", b, bad[b]
}
