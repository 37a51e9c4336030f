//! The Flow answers: one line per completion (`--responses FILE.csv|.jsonl`), and a tally of
//! the answers to each question for the page.
//!
//! The answers' shape is the Flow's own (the reply carries no schema), so the CSV's answer
//! columns are only known once every completion is read: completions are first written as JSON
//! Lines to a temporary file beside the output, collecting the keys in the order first seen,
//! then copied into the CSV. Memory holds the keys, not the completions.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::reconcile::Completion;
use crate::csv_out::{csv_writer, text_cell};
use crate::outputs::{Output, Scratch};

/// How the responses file is written, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponsesFormat {
    Csv,
    Jsonl,
}

impl ResponsesFormat {
    pub(crate) fn of(path: &Path) -> Option<ResponsesFormat> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(ResponsesFormat::Csv),
            "jsonl" | "ndjson" => Some(ResponsesFormat::Jsonl),
            _ => None,
        }
    }
}

/// The columns every line has, before the answers.
const FIXED: [&str; 4] = ["row", "to", "flow_token", "replied_at"];
/// The column of answers that are not a JSON object (kept as sent).
const UNPARSED: &str = "response_json";

pub(crate) struct ResponsesWriter {
    path: PathBuf,
    /// The JSON Lines being written: the output itself (`.jsonl`, `-`), or a scratch file the
    /// CSV is made from at the end.
    writer: BufWriter<Lines>,
    keys: Vec<String>,
    seen: HashSet<String>,
    /// Some completion's answers were not a JSON object.
    unparsed: bool,
    lines: u64,
}

impl ResponsesWriter {
    pub(crate) fn create(path: &Path, format: ResponsesFormat) -> std::io::Result<ResponsesWriter> {
        let lines = match format {
            ResponsesFormat::Csv => Lines::Scratch(Scratch::for_output(path)?),
            ResponsesFormat::Jsonl => Lines::Output(Output::create(path)?),
        };
        Ok(ResponsesWriter {
            path: path.to_owned(),
            writer: BufWriter::new(lines),
            keys: Vec::new(),
            seen: HashSet::new(),
            unparsed: false,
            lines: 0,
        })
    }

    /// One completion; `answers` is its `response_json` parsed (`None` when it did not parse).
    pub(crate) fn add(&mut self, completion: &Completion<'_>, answers: Option<&Value>) -> std::io::Result<()> {
        match answers {
            Some(Value::Object(map)) => {
                for key in map.keys() {
                    if key != "flow_token" && !self.seen.contains(key) {
                        self.seen.insert(key.clone());
                        self.keys.push(key.clone());
                    }
                }
            }
            Some(_) => self.unparsed = true,
            None => self.unparsed |= completion.response_json.is_some(),
        }
        // The line's fields in a fixed order, written as they are (no JSON object built and
        // copied for each completion).
        let writer = &mut self.writer;
        write!(writer, "{{\"row\":{},\"to\":", completion.row)?;
        serde_json::to_writer(&mut *writer, &phone(completion.to))?;
        writer.write_all(b",\"flow_token\":")?;
        serde_json::to_writer(&mut *writer, &completion.flow_token)?;
        writer.write_all(b",\"replied_at\":")?;
        serde_json::to_writer(&mut *writer, &super::rfc3339(completion.replied_at))?;
        writer.write_all(b",\"answers\":")?;
        match answers {
            Some(answers) => serde_json::to_writer(&mut *writer, answers)?,
            // Kept as sent when it did not parse.
            None => serde_json::to_writer(&mut *writer, &completion.response_json)?,
        }
        writer.write_all(b"}\n")?;
        self.lines += 1;
        Ok(())
    }

    /// Writes the file whole (renamed into place); how many completions it holds.
    pub(crate) fn finish(mut self) -> std::io::Result<u64> {
        self.writer.flush()?;
        let ResponsesWriter {
            path,
            writer,
            keys,
            unparsed,
            lines,
            ..
        } = self;
        match writer.into_inner().map_err(std::io::IntoInnerError::into_error)? {
            Lines::Output(output) => output.finish()?,
            Lines::Scratch(mut scratch) => to_csv(scratch.reader()?, &path, &keys, unparsed)?,
        }
        Ok(lines)
    }
}

/// Where the JSON Lines go.
enum Lines {
    Output(Output),
    Scratch(Scratch),
}

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Lines::Output(output) => output.write(buf),
            Lines::Scratch(scratch) => scratch.file().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Lines::Output(output) => output.flush(),
            Lines::Scratch(scratch) => scratch.file().flush(),
        }
    }
}

/// `+digits`, or nothing when the number is not known.
fn phone(digits: u64) -> String {
    if digits == 0 {
        String::new()
    } else {
        format!("+{digits}")
    }
}

/// Copies the JSON Lines into a CSV with a column per answer key.
fn to_csv(lines: impl std::io::Read, path: &Path, keys: &[String], unparsed: bool) -> std::io::Result<()> {
    let io = |error: csv::Error| std::io::Error::other(error.to_string());
    // The main report's writer and cells: every text cell quoted, formula starts guarded, the
    // header (answer keys the Flow's replies chose) included.
    let mut writer = csv_writer(BufWriter::new(Output::create(path)?));
    let mut header: Vec<String> = FIXED.iter().map(|name| (*name).to_owned()).collect();
    // An answer named like a fixed column keeps both, told apart.
    header.extend(keys.iter().map(|key| {
        if FIXED.contains(&key.as_str()) || key == UNPARSED {
            format!("answers.{key}")
        } else {
            text_cell(key.clone())
        }
    }));
    if unparsed {
        header.push(UNPARSED.to_owned());
    }
    writer.write_record(&header).map_err(io)?;
    let reader = std::io::BufReader::new(lines);
    let mut record: Vec<String> = Vec::with_capacity(header.len());
    for line in reader.lines() {
        let line = line?;
        let line: Line<'_> = serde_json::from_str(&line).map_err(std::io::Error::other)?;
        record.clear();
        record.push(line.row.to_string());
        record.push(line.to.into_owned());
        record.push(text_cell(line.flow_token.unwrap_or_default().into_owned()));
        record.push(line.replied_at.into_owned());
        let answers = &line.answers;
        let object = answers.as_object();
        for key in keys {
            record.push(object.and_then(|map| map.get(key)).map_or_else(String::new, cell));
        }
        if unparsed {
            record.push(match answers {
                Value::Object(_) => String::new(),
                Value::String(raw) => text_cell(raw.clone()),
                other => cell(other),
            });
        }
        writer.write_record(&record).map_err(io)?;
    }
    writer
        .into_inner()
        .map_err(|error| std::io::Error::other(error.to_string()))?
        .into_inner()
        .map_err(std::io::IntoInnerError::into_error)?
        .finish()
}

/// A line of the JSON Lines, as [`ResponsesWriter::add`] wrote it.
#[derive(serde::Deserialize)]
struct Line<'a> {
    row: u64,
    #[serde(borrow)]
    to: Cow<'a, str>,
    #[serde(borrow)]
    flow_token: Option<Cow<'a, str>>,
    #[serde(borrow)]
    replied_at: Cow<'a, str>,
    #[serde(default)]
    answers: Value,
}

/// An answer as a cell: text as it is (guarded against formulas), anything else as JSON.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text_cell(text.clone()),
        other => text_cell(other.to_string()),
    }
}

/// Questions tallied at most, and distinct answers per question: free-text answers (a name, a
/// comment) must not make memory grow with the number of replies. Answers beyond are counted
/// as "other".
const MAX_QUESTIONS: usize = 100;
const MAX_ANSWERS: usize = 1_000;
/// Characters of an answer kept for the tally.
const ANSWER_WIDTH: usize = 120;

/// The answers given to one question.
#[derive(Debug, Clone, Default)]
pub(crate) struct Question {
    pub(crate) key: String,
    counts: HashMap<String, u64>,
    /// Answers not tallied one by one (past [`MAX_ANSWERS`] distinct ones).
    pub(crate) other: u64,
    pub(crate) answered: u64,
}

impl Question {
    /// The `n` most common answers, the most common first.
    pub(crate) fn top(&self, n: usize) -> Vec<(&str, u64)> {
        let mut answers: Vec<(&str, u64)> = self
            .counts
            .iter()
            .map(|(answer, count)| (answer.as_str(), *count))
            .collect();
        answers.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        answers.truncate(n);
        answers
    }
}

/// The answers to each question of the Flow, over every completion.
#[derive(Debug, Clone, Default)]
pub(crate) struct AnswerTally {
    questions: Vec<Question>,
    pub(crate) completions: u64,
}

impl AnswerTally {
    pub(crate) fn add(&mut self, answers: Option<&Value>) {
        self.completions += 1;
        let Some(Value::Object(map)) = answers else { return };
        self.add_object(map);
    }

    fn add_object(&mut self, map: &Map<String, Value>) {
        for (key, value) in map {
            if key == "flow_token" {
                continue;
            }
            let index = match self.questions.iter().position(|question| question.key == *key) {
                Some(index) => index,
                None if self.questions.len() < MAX_QUESTIONS => {
                    self.questions.push(Question {
                        key: key.clone(),
                        ..Question::default()
                    });
                    self.questions.len() - 1
                }
                None => continue,
            };
            let question = &mut self.questions[index];
            question.answered += 1;
            let text = crate::words::clip(&answer_text(value), ANSWER_WIDTH).into_owned();
            if let Some(count) = question.counts.get_mut(&text) {
                *count += 1;
            } else if question.counts.len() < MAX_ANSWERS {
                question.counts.insert(text, 1);
            } else {
                question.other += 1;
            }
        }
    }

    pub(crate) fn questions(&self) -> &[Question] {
        &self.questions
    }
}

/// An answer as a person reads it: text as is, a list as its items.
fn answer_text(value: &Value) -> String {
    match value {
        Value::Null => "(empty)".to_owned(),
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(answer_text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn completion(row: u64, json: &'static str) -> Completion<'static> {
        Completion {
            row,
            to: 14_155_550_100,
            flow_token: Some("tok"),
            replied_at: 1_767_225_600,
            response_json: Some(json),
        }
    }

    #[test]
    fn report_responses_csv_has_a_column_per_answer_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("answers.csv");
        let mut writer = ResponsesWriter::create(&path, ResponsesFormat::Csv).expect("create");
        let first = r#"{"flow_token":"tok","slot":"10:00","extras":["wash","=cmd"]}"#;
        let second = r#"{"flow_token":"tok","row":"mine","slot":"11:00","rating":5}"#;
        for (row, json) in [(2, first), (3, second)] {
            let value: Value = serde_json::from_str(json).expect("json");
            writer.add(&completion(row, json), Some(&value)).expect("add");
        }
        writer.add(&completion(4, "{not json"), None).expect("add raw");
        assert_eq!(writer.finish().expect("finish"), 3);
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                r#""row","to","flow_token","replied_at","slot","extras","answers.row","rating","response_json""#,
                r#"2,+14155550100,"tok","2026-01-01T00:00:00Z","10:00","[""wash"",""=cmd""]","","","""#,
                r#"3,+14155550100,"tok","2026-01-01T00:00:00Z","11:00","","mine",5,"""#,
                r#"4,+14155550100,"tok","2026-01-01T00:00:00Z","","","","","{not json""#,
            ]
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("list").count(),
            1,
            "no partial file left"
        );
    }

    #[test]
    fn report_responses_jsonl_keeps_the_answers_as_json() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("answers.jsonl");
        let mut writer = ResponsesWriter::create(&path, ResponsesFormat::Jsonl).expect("create");
        let json = r#"{"flow_token":"tok","slot":"10:00"}"#;
        let value: Value = serde_json::from_str(json).expect("json");
        writer.add(&completion(2, json), Some(&value)).expect("add");
        writer.finish().expect("finish");
        let line: Value =
            serde_json::from_str(std::fs::read_to_string(&path).expect("read").trim()).expect("one JSON line");
        assert_eq!(
            line,
            json!({"row": 2, "to": "+14155550100", "flow_token": "tok", "replied_at": "2026-01-01T00:00:00Z",
                   "answers": {"flow_token": "tok", "slot": "10:00"}})
        );
    }

    #[test]
    fn report_the_tally_puts_the_most_common_answer_first() {
        let mut tally = AnswerTally::default();
        for slot in ["10:00", "11:00", "10:00", "12:00", "10:00", "11:00"] {
            tally.add(Some(
                &json!({"flow_token": "t", "slot": slot, "extras": ["wash", "wax"]}),
            ));
        }
        let questions = tally.questions();
        assert_eq!(questions.len(), 2);
        assert_eq!(questions[0].key, "slot");
        assert_eq!(questions[0].top(2), [("10:00", 3), ("11:00", 2)]);
        assert_eq!(questions[1].top(5), [("wash, wax", 6)]);
        assert_eq!(tally.completions, 6);
    }
}
