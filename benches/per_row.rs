//! Per-row cost of each shipped template: bind + render + normalise + validate + serialise,
//! one row at a time, on the fast path (the pre-serialised plan) and the full path.
//!
//! Run: `cargo bench --bench per_row`

use std::path::Path;

use flowc::data::Row;
use flowc::pipeline::MessageCompiler;
use flowc::template::Template;
use serde_json::Value;

const TEMPLATES: &[&str] = &[
    "appointment-booking",
    "feedback-survey",
    "lead-capture",
    "service-booking",
];

fn main() {
    divan::main();
}

/// The template's compiler and a row of its example values (as text, as from a CSV).
fn setup(name: &str) -> (MessageCompiler, Row) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("templates/{name}.yaml"));
    let template = Template::load(&path).expect("shipped template");
    let values = template
        .vars
        .iter()
        .map(|var| {
            let value = var.example.clone().or_else(|| var.default.clone());
            value.map(|value| match value {
                Value::String(text) => Value::String(text),
                other => Value::String(other.to_string()),
            })
        })
        .collect();
    let compiler = MessageCompiler::new(template).expect("shipped template compiles");
    (compiler, Row { number: 2, values })
}

#[divan::bench(args = TEMPLATES)]
fn fast_path(bencher: divan::Bencher, name: &str) {
    let (compiler, row) = setup(name);
    let mut out = Vec::with_capacity(2048);
    bencher.bench_local(|| {
        out.clear();
        let warnings = compiler.compile_row_into(row.clone(), &mut out).expect("valid row");
        divan::black_box((&out, warnings));
    });
}

#[divan::bench(args = TEMPLATES)]
fn full_path(bencher: divan::Bencher, name: &str) {
    let (compiler, row) = setup(name);
    let mut out = Vec::with_capacity(2048);
    bencher.bench_local(|| {
        out.clear();
        let message = compiler.compile_row(row.clone()).expect("valid row");
        serde_json::to_writer(&mut out, &message.body).expect("serialise");
        divan::black_box(&out);
    });
}
