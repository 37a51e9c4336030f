# Sourced by the benchmark scripts: the release builds and a deterministic contacts file.
# prepare_contacts ROWS...: builds flowc and the bench tools, writes $work/contacts-ROWS.csv once.
work=${BENCH_DIR:-target/bench-data}
mkdir -p "$work"
flowc=${FLOWC_BIN:-target/release/flowc}

prepare_contacts() {
  cargo build --release --quiet
  cargo build --release --quiet --manifest-path benches/tools/Cargo.toml
  local n
  for n in "$@"; do
    [ -s "$work/contacts-$n.csv" ] || python3 benches/gen_contacts.py "$n" > "$work/contacts-$n.csv"
  done
}
