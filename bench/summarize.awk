# summarize.awk: medians of the yardstick's results.tsv per (impl, workload, conns), skipping runs
# it marked noisy and runs during which the hypervisor stole more than -v maxsteal % of the CPU
# (default 10; on a shared VM a stolen run measures the host, not the code), plus each pair's peak
# RSS from the files peak-rss.sh wrote (-v rss=DIR).
function median(key, name,    n, i, j, v, t) {
  n = count[key]
  for (i = 1; i <= n; i++) v[i] = val[key, name, i]
  for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] + 0 > t + 0; j--) v[j + 1] = v[j]; v[j + 1] = t }
  if (n == 0 || v[1] == "NA") return "NA"
  return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function peak(file,    kib) {
  if ((getline kib < file) > 0) { close(file); return sprintf("%.0f", kib / 1024) }
  return "NA"
}
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
$col["rep"] ~ /noisy/ { next }
$col["steal_pct"] != "NA" && $col["steal_pct"] + 0 > (maxsteal == "" ? 10 : maxsteal) { stolen++; next }
{
  key = $col["impl"] SUBSEP $col["workload"] SUBSEP $col["conns"]
  if (!(key in count)) order[++keys] = key
  n = ++count[key]
  split("rps p50_ms p99_ms tun_up_Bpr tun_down_Bpr plain_Bpr ratio tun_pkts_pr edge_cpu_us_pr origin_cpu_us_pr edge_origin_cpu_us_pr", names, " ")
  for (i in names) val[key, names[i], n] = $col[names[i]]
}
END {
  if (stolen) printf "summarize: left out %d run(s) with more than %s%% CPU steal\n", stolen, (maxsteal == "" ? 10 : maxsteal) > "/dev/stderr"
  OFS = "\t"
  print "impl", "workload", "conns", "runs", "rps", "pct_of_direct", "p50_ms", "p99_ms", "tun_up_Bpr", "tun_down_Bpr", "plain_Bpr", "ratio", "tun_pkts_pr", "edge_cpu_us_pr", "origin_cpu_us_pr", "cpu_us_pr", "edge_rss_mib", "origin_rss_mib"
  for (k = 1; k <= keys; k++) {
    key = order[k]; split(key, part, SUBSEP)
    direct = median("direct" SUBSEP part[2] SUBSEP part[3], "rps")
    rps = median(key, "rps")
    pct = (direct != "NA" && direct > 0) ? sprintf("%.1f", 100 * rps / direct) : "NA"
    er = part[1] == "direct" ? "NA" : peak(rss "/" part[1] ".edge")
    orr = part[1] == "direct" ? "NA" : peak(rss "/" part[1] ".origin")
    print part[1], part[2], part[3], count[key], sprintf("%.0f", rps), pct, median(key, "p50_ms"), median(key, "p99_ms"),
      median(key, "tun_up_Bpr"), median(key, "tun_down_Bpr"), median(key, "plain_Bpr"), median(key, "ratio"),
      median(key, "tun_pkts_pr"), median(key, "edge_cpu_us_pr"), median(key, "origin_cpu_us_pr"), median(key, "edge_origin_cpu_us_pr"), er, orr
  }
}
