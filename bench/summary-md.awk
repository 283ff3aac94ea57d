# summary-md.awk: summary.tsv as a Markdown table.
NR == 1 {
  print "| pair | workload | conns | runs | req/s | % of direct | p50 ms | p99 ms | tunnel B/req up / down | plain B/req | tunnel/plain | tunnel pkts/req | CPU us/req edge + origin = total | peak RSS MiB edge / origin |"
  print "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  next
}
{
  if ($1 == "direct") printf "| direct | %s | %s | %s | %s | 100 | %s | %s | - | %s | - | - | - | - |\n", $2, $3, $4, $5, $7, $8, $11
  else printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s | %s | %s + %s = %s | %s / %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18
}
