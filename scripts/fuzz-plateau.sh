#!/usr/bin/env bash
# Did a fuzzing run's coverage plateau? Reads libFuzzer logs (as written by
# scripts/fuzz-campaign.sh) and prints, per log: executions, cov/ft when the
# corpus was loaded (INITED) and at the end, and when `cov` and `ft` last
# grew, as minutes into the run and as the share of the run's time after
# it ("flat 60 %" = no new edge in the last 60 % of the run's time). The
# time of a status line is its execution count over its exec/s (libFuzzer's
# exec/s is executions so far over seconds since start), so a run whose
# rate falls as its inputs grow is not mistaken for a plateau.
#
#   scripts/fuzz-plateau.sh fuzz/artifacts/decrypt/campaign-*.log
set -euo pipefail
[ $# -gt 0 ] || { sed -n '2,11p' "$0"; exit 2; }
printf '%-56s %10s %6s %11s %11s %20s %20s\n' log execs min "cov init>end" "ft init>end" "last cov+ min (flat)" "last ft+ min (flat)"
for log in "$@"; do
    awk -v lg="$log" '
        /^#[0-9]+\t/ {
            n = substr($1, 2) + 0
            c = ""; f = ""; r = ""
            for (i = 2; i < NF; i++) {
                if ($i == "cov:") c = $(i + 1) + 0
                if ($i == "ft:") f = $(i + 1) + 0
                if ($i == "exec/s:") r = $(i + 1) + 0
            }
            if (c == "") next
            # exec/s is 0 in the first second (INITED of a small corpus).
            t = r > 0 ? n / r : 0
            if ($2 == "INITED") { c0 = c; f0 = f; cov = c; ft = f; tc = t; tf = t }
            if (c > cov) { cov = c; tc = t }
            if (f > ft) { ft = f; tf = t }
            last = n; tend = t
        }
        /^stat::number_of_executed_units:/ { last = $2 + 0 }
        END {
            if (tend == "") { printf "%-56s no libFuzzer status lines\n", lg; exit }
            fc = tend > 0 ? 100 * (tend - tc) / tend : 0
            ff = tend > 0 ? 100 * (tend - tf) / tend : 0
            printf "%-56s %10d %6.1f %11s %11s %10.1f (%4.1f%%) %10.1f (%4.1f%%)\n", lg, last, tend / 60,
                c0 ">" cov, f0 ">" ft, tc / 60, fc, tf / 60, ff
        }' "$log"
done
