//! Compiling rows on every core while keeping their order.
//!
//! The calling thread reads rows (the readers are not `Send`) and hands them out in batches;
//! worker threads compile each batch into one buffer of bodies (and so does the calling thread
//! when a batch waits and it has nothing else to do); the calling thread gets the results back
//! in row order, through `on_row`. At most a few batches per worker are in
//! flight, so memory stays flat whatever the number of rows.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use crate::compile::Warning;
use crate::data::{DataError, Row};

use super::{BodyKeys, MessageCompiler, Problem};

/// Rows per batch: large enough that handing out costs little, small enough to stay in cache.
const BATCH: usize = 256;

/// What became of one row, in row order.
pub enum RowOutcome<'a> {
    Body {
        row: u64,
        body: &'a [u8],
        warnings: Vec<Warning>,
    },
    Invalid {
        row: u64,
        problem: Problem,
    },
    /// A row the data file could not give (ragged, not UTF-8), or a fault past which the file
    /// cannot be read (then it is the last outcome).
    Unreadable(DataError),
}

/// Whether to go on after an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

enum Item {
    Row(Row),
    Unreadable(DataError),
}

enum Done<X> {
    Body(u64, std::ops::Range<usize>, Vec<Warning>, X),
    Invalid(u64, Problem),
    Unreadable(DataError),
}

struct Compiled<X> {
    bodies: Vec<u8>,
    done: Vec<Done<X>>,
}

/// Compiles every row with `workers` threads (0: on the calling thread, which otherwise reads
/// the rows and delivers the results), calling `on_row` in row order. `prepare` adjusts each
/// row first (the `--var` values).
pub fn compile_in_order(
    compiler: &MessageCompiler,
    rows: impl Iterator<Item = Result<Row, DataError>>,
    workers: usize,
    prepare: impl Fn(&mut Row) + Sync,
    mut on_row: impl FnMut(RowOutcome<'_>) -> Flow,
) {
    let inspect = Inspect::<_, false> { with: |_: &[u8], _| () };
    compile_ordered(compiler, rows, workers, prepare, inspect, |outcome, _| on_row(outcome));
}

/// [`compile_in_order`], and `inspect` of each good body with its keys, on the worker that
/// compiled it (what the caller would otherwise compute on the calling thread, which reads and
/// delivers). The keys are `None` where only the body tells them (no plan wrote it).
pub fn compile_in_order_with<X: Send>(
    compiler: &MessageCompiler,
    rows: impl Iterator<Item = Result<Row, DataError>>,
    workers: usize,
    prepare: impl Fn(&mut Row) + Sync,
    inspect: impl Fn(&[u8], Option<BodyKeys>) -> X + Sync,
    on_row: impl FnMut(RowOutcome<'_>, Option<X>) -> Flow,
) {
    let inspect = Inspect::<_, true> { with: inspect };
    compile_ordered(compiler, rows, workers, prepare, inspect, on_row);
}

/// What is taken from each good body on the worker: `with` the body and, when `KEYS`, its keys
/// (a render that does not need them does not pay for them, not even a test a row).
struct Inspect<F, const KEYS: bool> {
    with: F,
}

fn compile_ordered<X: Send, F: Fn(&[u8], Option<BodyKeys>) -> X + Sync, const KEYS: bool>(
    compiler: &MessageCompiler,
    rows: impl Iterator<Item = Result<Row, DataError>>,
    workers: usize,
    prepare: impl Fn(&mut Row) + Sync,
    inspect: Inspect<F, KEYS>,
    mut on_row: impl FnMut(RowOutcome<'_>, Option<X>) -> Flow,
) {
    let mut batches = batches(rows);
    if workers == 0 {
        for batch in batches.by_ref() {
            let compiled = compile_batch(compiler, batch, &prepare, &inspect);
            if deliver(compiled, &mut on_row) == Flow::Stop {
                return;
            }
        }
        return;
    }
    let (work_sender, work_receiver) = mpsc::channel::<(u64, Vec<Item>)>();
    let work_receiver = std::sync::Mutex::new(work_receiver);
    let (done_sender, done_receiver) = mpsc::channel::<(u64, Compiled<X>)>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let work = &work_receiver;
            let done = done_sender.clone();
            let prepare = &prepare;
            let inspect = &inspect;
            scope.spawn(move || loop {
                let next = match work.lock() {
                    Ok(receiver) => receiver.recv(),
                    Err(_) => return,
                };
                let Ok((index, batch)) = next else { return };
                if done
                    .send((index, compile_batch(compiler, batch, prepare, inspect)))
                    .is_err()
                {
                    return;
                }
            });
        }
        drop(done_sender);
        let limit = workers as u64 * 4;
        let mut sent = 0u64;
        let mut next_to_deliver = 0u64;
        let mut waiting: BTreeMap<u64, Compiled<X>> = BTreeMap::new();
        let mut input_done = false;
        loop {
            while !input_done && sent - next_to_deliver < limit {
                match batches.next() {
                    Some(batch) => {
                        if work_sender.send((sent, batch)).is_err() {
                            input_done = true;
                        }
                        sent += 1;
                    }
                    None => input_done = true,
                }
            }
            if next_to_deliver == sent {
                break;
            }
            // Rather than wait, the calling thread compiles a batch no worker has taken yet: with
            // one worker (two cores), it would otherwise sit idle between reading and writing.
            let (index, compiled) = match done_receiver.try_recv() {
                Ok(done) => done,
                Err(mpsc::TryRecvError::Disconnected) => break,
                Err(mpsc::TryRecvError::Empty) => {
                    let queued = work_receiver
                        .try_lock()
                        .ok()
                        .and_then(|receiver| receiver.try_recv().ok());
                    match queued {
                        Some((index, batch)) => (index, compile_batch(compiler, batch, &prepare, &inspect)),
                        None => match done_receiver.recv() {
                            Ok(done) => done,
                            Err(_) => break,
                        },
                    }
                }
            };
            waiting.insert(index, compiled);
            while let Some(compiled) = waiting.remove(&next_to_deliver) {
                next_to_deliver += 1;
                if deliver(compiled, &mut on_row) == Flow::Stop {
                    drop(work_sender);
                    return;
                }
            }
        }
        drop(work_sender);
    });
}

/// Groups rows into batches; a fault that ends the file ends its batch and the stream.
fn batches(rows: impl Iterator<Item = Result<Row, DataError>>) -> impl Iterator<Item = Vec<Item>> {
    let mut rows = rows.fuse();
    let mut ended = false;
    std::iter::from_fn(move || {
        if ended {
            return None;
        }
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH {
            match rows.next() {
                Some(Ok(row)) => batch.push(Item::Row(row)),
                Some(Err(error)) => {
                    let fatal = !error.is_row_error();
                    batch.push(Item::Unreadable(error));
                    if fatal {
                        ended = true;
                        break;
                    }
                }
                None => {
                    ended = true;
                    break;
                }
            }
        }
        (!batch.is_empty()).then_some(batch)
    })
}

fn compile_batch<X, const KEYS: bool>(
    compiler: &MessageCompiler,
    batch: Vec<Item>,
    prepare: &impl Fn(&mut Row),
    inspect: &Inspect<impl Fn(&[u8], Option<BodyKeys>) -> X, KEYS>,
) -> Compiled<X> {
    // Room for the batch's bodies at the size the last batch's had (a quarter more), so that the
    // buffer is not grown, and its bodies copied, on the way.
    let per_row = BODY_BYTES.load(Ordering::Relaxed);
    let mut bodies = Vec::with_capacity(batch.len() * (per_row + per_row / 4));
    let mut done = Vec::with_capacity(batch.len());
    for item in batch {
        match item {
            Item::Unreadable(error) => done.push(Done::Unreadable(error)),
            Item::Row(mut row) => {
                prepare(&mut row);
                let number = row.number;
                let start = bodies.len();
                let mut keys = None;
                let compiled = if KEYS {
                    compiler.compile_row_with_keys(row, &mut bodies, &mut keys)
                } else {
                    compiler.compile_row_into(row, &mut bodies)
                };
                match compiled {
                    Ok(warnings) => {
                        let extra = (inspect.with)(&bodies[start..], keys);
                        done.push(Done::Body(number, start..bodies.len(), warnings, extra));
                    }
                    Err(problem) => done.push(Done::Invalid(number, problem)),
                }
            }
        }
    }
    if let Some(per_row) = bodies.len().checked_div(done.len()) {
        BODY_BYTES.store(per_row.clamp(256, 64 << 10), Ordering::Relaxed);
    }
    Compiled { bodies, done }
}

/// The bytes a body took on average in the last batch compiled (any template: only a hint).
static BODY_BYTES: AtomicUsize = AtomicUsize::new(700);

fn deliver<X>(compiled: Compiled<X>, on_row: &mut impl FnMut(RowOutcome<'_>, Option<X>) -> Flow) -> Flow {
    for done in compiled.done {
        let (outcome, extra) = match done {
            Done::Body(row, range, warnings, extra) => (
                RowOutcome::Body {
                    row,
                    body: &compiled.bodies[range],
                    warnings,
                },
                Some(extra),
            ),
            Done::Invalid(row, problem) => (RowOutcome::Invalid { row, problem }, None),
            Done::Unreadable(error) => (RowOutcome::Unreadable(error), None),
        };
        if on_row(outcome, extra) == Flow::Stop {
            return Flow::Stop;
        }
    }
    Flow::Continue
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::template::Template;

    #[test]
    fn rows_come_back_in_order_whichever_thread_compiled_them() {
        let text = "vars:\n  n: {example: \"1\"}\nmessaging_object:\n  to: \"+14155550100\"\n  interactive:\n    body: {text: \"row {{n}}\"}\n    action:\n      parameters: {flow_id: \"1\", flow_cta: Go, flow_action: navigate, flow_action_payload: {screen: A}}\n";
        let template = Template::parse("t.yaml".to_owned(), text.to_owned()).expect("parses");
        let compiler = MessageCompiler::new(template).expect("compiles");
        let count = BATCH as u64 * 40 + 3;
        let rows = (2..count + 2).map(|number| {
            Ok(Row {
                number,
                values: vec![Some(Value::String(number.to_string()))],
            })
        });
        for workers in [0, 1, 3] {
            let mut seen = Vec::new();
            compile_in_order(
                &compiler,
                rows.clone(),
                workers,
                |_| {},
                |outcome| {
                    let RowOutcome::Body { row, body, .. } = outcome else {
                        panic!("every row compiles");
                    };
                    assert!(String::from_utf8_lossy(body).contains(&format!("\"row {row}\"")));
                    seen.push(row);
                    Flow::Continue
                },
            );
            assert_eq!(seen, (2..count + 2).collect::<Vec<_>>(), "{workers} workers");
        }
    }
}
