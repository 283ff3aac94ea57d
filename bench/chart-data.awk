# chart-data.awk: from summary.tsv, one row per pair at the given connection count (-v conns=N):
# pair (no header row), then for rtb and get-small: bytes per request on the wire (plain HTTP for direct, the
# tunnel both ways otherwise) and req/s.
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
$col["conns"] == conns {
  p = $col["impl"]
  if (!(p in seen)) { seen[p] = 1; pairs[++n] = p }
  bytes = p == "direct" ? $col["plain_Bpr"] : $col["tun_up_Bpr"] + $col["tun_down_Bpr"]
  b[p, $col["workload"]] = bytes; r[p, $col["workload"]] = $col["rps"]
}
END {
  for (i = 1; i <= n; i++) {
    p = pairs[i]
    printf "%s\t%s\t%s\t%s\t%s\n", (p == "direct" ? "plain-HTTP" : p), ((p, "rtb") in b ? b[p, "rtb"] : 0), ((p, "get-small") in b ? b[p, "get-small"] : 0), ((p, "rtb") in r ? r[p, "rtb"] : 0), ((p, "get-small") in r ? r[p, "get-small"] : 0)
  }
}
