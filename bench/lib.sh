# bench/lib.sh -- sourced by the benchmark scripts that time commands and
# print medians: now, took CMD... (its seconds, stdout discarded), calc
# EXPR (bc, 6 decimals), summary FILE ("median (min-max)" of its numbers).
now() { date +%s.%N; }
took() { t0=$(now); "$@" >/dev/null; t1=$(now); echo "$t1 - $t0" | bc -l; }
calc() { echo "scale=6; $1" | bc -l; }
summary() {
    sort -g "$1" | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.3f (%.3f-%.3f)\n", m, v[1], v[NR] }'
}
