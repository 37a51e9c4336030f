//! Every file `flowc report` and `flowc send` write, aimed at what a careless or hostile
//! directory holds: devices, named pipes (with and without a reader), links to them, links to
//! the journal or to another file, links and pipes planted at the names temporary files used
//! to have, the campaign's own inputs, another journal's report. Each run has a deadline, so a
//! hang fails the test instead of blocking the suite.

use std::io::Read as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::campaign::Campaign;
use crate::support::provider::Provider;
use crate::support::receiver::Receiver;
use crate::support::{flowc, run, Outcome, Scratch, BASE_TEMPLATE};

const DEADLINE: Duration = Duration::from_secs(30);

/// A campaign sent once (2 rows accepted), and an event store the receiver made.
struct Sent {
    campaign: Campaign,
    store: PathBuf,
    _receiver: Receiver,
}

fn sent() -> Sent {
    let campaign = Campaign::new(2);
    let provider = Provider::accepting();
    let outcome = run(campaign.command(&provider).timeout(DEADLINE));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let receiver = Receiver::start();
    Sent {
        campaign,
        store: receiver.store.clone(),
        _receiver: receiver,
    }
}

impl Sent {
    fn dir(&self) -> &Path {
        self.campaign.scratch.path()
    }

    /// `flowc report JOURNAL --events STORE ARGS`, with a deadline.
    fn report(&self, args: &[&std::ffi::OsStr]) -> Outcome {
        run(flowc()
            .arg("report")
            .arg(self.campaign.journal_path())
            .arg("--events")
            .arg(&self.store)
            .args(args)
            .timeout(DEADLINE))
    }
}

fn mkfifo(path: &Path) -> PathBuf {
    let status = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
    path.to_owned()
}

fn symlink(target: &Path, link: &Path) -> PathBuf {
    std::os::unix::fs::symlink(target, link).expect("symlink");
    link.to_owned()
}

/// A reader on a named pipe, present before flowc starts (so that opening it for writing
/// needs no wait) and reading until flowc is done.
struct PipeReader {
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<u8>>,
}

impl PipeReader {
    fn open(path: &Path) -> PipeReader {
        let mut file = std::fs::File::options()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .expect("open the pipe for reading");
        let done = Arc::new(AtomicBool::new(false));
        let finished = Arc::clone(&done);
        let thread = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let mut buffer = [0u8; 8192];
            loop {
                // Read `done` before reading: what was written before it was set is then read.
                let last = finished.load(Ordering::SeqCst);
                match file.read(&mut buffer) {
                    Ok(0) | Err(_) if last => return bytes,
                    Ok(0) | Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    Ok(n) => bytes.extend_from_slice(&buffer[..n]),
                }
            }
        });
        PipeReader { done, thread }
    }

    fn finish(self) -> String {
        self.done.store(true, Ordering::SeqCst);
        String::from_utf8(self.thread.join().expect("reader")).expect("UTF-8")
    }
}

fn digest(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read")
}

fn is_fifo(path: &Path) -> bool {
    std::fs::symlink_metadata(path).expect("stat").file_type().is_fifo()
}

fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).expect("stat").file_type().is_symlink()
}

#[test]
fn report_outputs_on_a_device_or_a_named_pipe_are_written_into_not_replaced() {
    let sent = sent();
    let journal = digest(&sent.campaign.journal_path());
    // The report on a link to /dev/null: written into the device, exit 0. (Never /dev/null
    // itself: a flowc that replaces it, run as root, would break the machine.)
    let null = symlink(Path::new("/dev/null"), &sent.dir().join("null.csv"));
    let outcome = sent.report(&["--out".as_ref(), null.as_os_str()]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(is_link(&null));
    assert!(std::fs::metadata("/dev/null")
        .expect("/dev/null")
        .file_type()
        .is_char_device());
    // Each output on a named pipe with a reader, and through a chain of links to one.
    let pipe = mkfifo(&sent.dir().join("report.pipe"));
    let first = symlink(&pipe, &sent.dir().join("first.link"));
    let chain = symlink(&first, &sent.dir().join("chain.link"));
    for (option, path, starts) in [
        ("--out", &pipe, "\"row\",\"to\""),
        ("--html", &chain, "<!DOCTYPE html>"),
        ("--responses", &sent.dir().join("pipe-answers.jsonl"), ""),
    ] {
        if !path.exists() {
            mkfifo(path);
        }
        let reader = PipeReader::open(path);
        let outcome = sent.report(&[option.as_ref(), path.as_os_str()]);
        let read = reader.finish();
        assert_eq!(outcome.code, 0, "{option}: {}", outcome.stderr);
        assert!(read.starts_with(starts), "{option}: {read:.200}");
    }
    assert!(is_fifo(&pipe) && is_link(&first) && is_link(&chain));
    assert_eq!(digest(&sent.campaign.journal_path()), journal, "the journal is intact");
}

#[test]
fn a_named_pipe_without_a_reader_as_an_output_is_refused_without_waiting() {
    let sent = sent();
    let pipe = mkfifo(&sent.dir().join("nobody.html"));
    let outcome = sent.report(&["--html".as_ref(), pipe.as_os_str()]);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("no reader"), "{}", outcome.stderr);
    assert!(is_fifo(&pipe));
    let provider = Provider::accepting();
    let outcome = run(sent
        .campaign
        .command(&provider)
        .arg("--report")
        .arg(&pipe)
        .timeout(DEADLINE));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(is_fifo(&pipe));
}

#[test]
fn links_and_pipes_planted_at_temporary_names_are_never_followed_or_waited_on() {
    let sent = sent();
    let journal_path = sent.campaign.journal_path();
    let journal = digest(&journal_path);
    let victim = sent.dir().join("victim.txt");
    std::fs::write(&victim, "keep me").expect("victim");
    let dir = sent.dir();
    // The names the report's temporary files once had, each a link to the journal or another
    // file, or a named pipe nobody reads.
    symlink(&journal_path, &dir.join("answers.csv.partial.jsonl"));
    symlink(&journal_path, &dir.join("answers.csv.partial"));
    symlink(&victim, &dir.join("answers.jsonl.partial"));
    mkfifo(&dir.join("page.html.partial"));
    symlink(&journal_path, &dir.join("r.csv.partial"));
    for responses in ["answers.csv", "answers.jsonl"] {
        let outcome = sent.report(&[
            "--out".as_ref(),
            dir.join("r.csv").as_os_str(),
            "--responses".as_ref(),
            dir.join(responses).as_os_str(),
            "--html".as_ref(),
            dir.join("page.html").as_os_str(),
        ]);
        assert_eq!(outcome.code, 0, "{responses}: {}", outcome.stderr);
    }
    assert_eq!(digest(&journal_path), journal, "the journal is intact");
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "keep me");
    for planted in [
        "answers.csv.partial.jsonl",
        "answers.csv.partial",
        "answers.jsonl.partial",
        "r.csv.partial",
    ] {
        assert!(is_link(&dir.join(planted)), "{planted}");
    }
    assert!(is_fifo(&dir.join("page.html.partial")));
    assert!(std::fs::read_to_string(dir.join("page.html"))
        .expect("page")
        .starts_with("<!DOCTYPE html>"));
    assert!(std::fs::read_to_string(dir.join("answers.csv"))
        .expect("responses")
        .trim_start_matches('"')
        .starts_with("row"));
    // A send's report too.
    let planted = symlink(&victim, &dir.join("contacts.report.csv.partial"));
    let provider = Provider::accepting();
    let outcome = run(sent.campaign.command(&provider).timeout(DEADLINE));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "keep me");
    assert!(is_link(&planted));
    assert_eq!(sent.campaign.report().len(), 2);
}

#[test]
fn an_output_that_is_a_link_to_a_file_is_refused_and_the_link_and_its_target_kept() {
    let sent = sent();
    let dir = sent.dir();
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "keep me").expect("victim");
    let link = symlink(&victim, &dir.join("linked.csv"));
    for option in ["--out", "--html", "--responses"] {
        let outcome = sent.report(&[option.as_ref(), link.as_os_str()]);
        assert_eq!(outcome.code, 2, "{option}: {}", outcome.stderr);
        assert!(outcome.stderr.contains("symbolic link"), "{option}: {}", outcome.stderr);
        assert!(is_link(&link), "{option}");
        assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "keep me");
    }
    let provider = Provider::accepting();
    let outcome = run(sent
        .campaign
        .command(&provider)
        .arg("--report")
        .arg(&link)
        .timeout(DEADLINE));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(is_link(&link));
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "keep me");
    // A link to the journal, as any output, is refused as the journal.
    let journal = digest(&sent.campaign.journal_path());
    let to_journal = symlink(&sent.campaign.journal_path(), &dir.join("journal-link.html"));
    for option in ["--out", "--html", "--responses"] {
        let outcome = sent.report(&[option.as_ref(), to_journal.as_os_str()]);
        assert_eq!(outcome.code, 2, "{option}: {}", outcome.stderr);
    }
    assert_eq!(digest(&sent.campaign.journal_path()), journal, "the journal is intact");
}

#[test]
fn a_dash_writes_each_output_to_standard_output() {
    let sent = sent();
    let outcome = sent.report(&["--html".as_ref(), "-".as_ref()]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stdout.starts_with("<!DOCTYPE html>"), "{:.200}", outcome.stdout);
    assert!(!sent.dir().join("-").exists());
    let outcome = sent.report(&["--responses".as_ref(), "-".as_ref()]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(!sent.dir().join("-").exists());
    let outcome = sent.report(&["--out".as_ref(), "-".as_ref(), "--html".as_ref(), "-".as_ref()]);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("standard output"), "{}", outcome.stderr);
    let provider = Provider::accepting();
    let outcome = run(sent
        .campaign
        .command(&provider)
        .args(["--report", "-"])
        .timeout(DEADLINE));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stdout.starts_with("\"row\",\"to\""), "{}", outcome.stdout);
    assert!(!sent.dir().join("-").exists());
}

#[test]
fn report_refuses_an_output_that_is_the_campaigns_data_file_or_template() {
    let sent = sent();
    let data = digest(&sent.campaign.data);
    let template = digest(&sent.campaign.template);
    let dir = sent.dir();
    let hard = dir.join("hard.csv");
    std::fs::hard_link(&sent.campaign.data, &hard).expect("hard link");
    for (option, path) in [
        ("--out", sent.campaign.data.clone()),
        ("--responses", sent.campaign.data.clone()),
        ("--html", sent.campaign.template.clone()),
        ("--out", hard),
    ] {
        let outcome = sent.report(&[option.as_ref(), path.as_os_str()]);
        assert_eq!(outcome.code, 2, "{option} {}: {}", path.display(), outcome.stderr);
        assert!(outcome.stderr.contains("would destroy"), "{}", outcome.stderr);
    }
    assert_eq!(digest(&sent.campaign.data), data);
    assert_eq!(digest(&sent.campaign.template), template);
    // The next send resumes: the data file is the one the journal knows.
    let provider = Provider::accepting();
    provider.expect_requests(0);
    let outcome = run(sent.campaign.command(&provider).timeout(DEADLINE));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
}

#[test]
fn a_campaign_with_another_journal_keeps_its_own_report() {
    let sent = sent();
    let dir = sent.dir();
    let real = std::fs::read_to_string(sent.campaign.report_path()).expect("the real report");
    // A trial of the same data with another journal, to a provider that refuses everything.
    let failing = Provider::start(Duration::ZERO, |_, _, _| {
        crate::support::provider::Reply::error(400, "E400", "refused")
    });
    let trial = dir.join("trial.journal.sqlite");
    let outcome = run(sent
        .campaign
        .command(&failing)
        .arg("--journal")
        .arg(&trial)
        .timeout(DEADLINE));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("trial.report.csv"), "{}", outcome.stderr);
    assert!(dir.join("trial.report.csv").exists());
    assert_eq!(
        std::fs::read_to_string(sent.campaign.report_path()).expect("the real report"),
        real
    );
    // Naming the real campaign's report for the trial is refused, by send and by report.
    let outcome = run(sent
        .campaign
        .command(&failing)
        .arg("--journal")
        .arg(&trial)
        .arg("--report")
        .arg(sent.campaign.report_path())
        .timeout(DEADLINE));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("contacts.journal.sqlite"), "{}", outcome.stderr);
    let outcome = run(flowc()
        .arg("report")
        .arg(&trial)
        .arg("--out")
        .arg(sent.campaign.report_path())
        .timeout(DEADLINE));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("another journal"), "{}", outcome.stderr);
    assert_eq!(
        std::fs::read_to_string(sent.campaign.report_path()).expect("the real report"),
        real
    );
    // The campaign's own report is still rewritten by its own journal.
    let outcome = run(flowc()
        .arg("report")
        .arg(sent.campaign.journal_path())
        .timeout(DEADLINE));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
}

#[test]
fn preview_writes_into_a_named_pipe_and_refuses_a_link_to_a_file() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let victim = scratch.write("victim.html", "keep me");
    let link = symlink(&victim, &scratch.path().join("page.html"));
    let preview = |out: &Path| {
        run(flowc()
            .arg("preview")
            .arg(&template)
            .arg("--out")
            .arg(out)
            .timeout(DEADLINE))
    };
    let outcome = preview(&link);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("symbolic link"), "{}", outcome.stderr);
    assert!(is_link(&link));
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "keep me");
    let pipe = mkfifo(&scratch.path().join("page.pipe"));
    let outcome = preview(&pipe);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("no reader"), "{}", outcome.stderr);
    let reader = PipeReader::open(&pipe);
    let outcome = preview(&pipe);
    let read = reader.finish();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(read.starts_with("<!DOCTYPE html>"), "{read:.200}");
    assert!(is_fifo(&pipe));
}

#[test]
fn a_journal_that_does_not_record_where_its_data_file_is_still_protects_it() {
    let sent = sent();
    let connection = rusqlite::Connection::open(sent.campaign.journal_path()).expect("journal");
    connection
        .execute("DELETE FROM meta WHERE key LIKE 'input %'", [])
        .expect("forget the inputs' paths");
    drop(connection);
    let data = digest(&sent.campaign.data);
    let outcome = sent.report(&["--out".as_ref(), sent.campaign.data.as_os_str()]);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("would destroy the data file"),
        "{}",
        outcome.stderr
    );
    assert_eq!(digest(&sent.campaign.data), data);
}

#[test]
fn a_report_in_a_copied_campaign_folder_never_replaces_its_data_file_or_template() {
    let sent = sent();
    // The campaign's folder copied elsewhere: the journal still names the first folder's files.
    let copy = Scratch::new();
    for name in ["t.yaml", "contacts.csv"] {
        std::fs::copy(sent.dir().join(name), copy.path().join(name)).expect("copy");
    }
    let journal = sent.campaign.journal_path();
    let journal_copy = copy.path().join(journal.file_name().expect("name"));
    std::fs::copy(&journal, &journal_copy).expect("copy journal");
    let mirror = sent.dir().join("contacts.journal.sqlite.mirror");
    if mirror.exists() {
        std::fs::copy(&mirror, copy.path().join("contacts.journal.sqlite.mirror")).expect("copy mirror");
    }
    let data = digest(&copy.path().join("contacts.csv"));
    let template = digest(&copy.path().join("t.yaml"));
    for (option, name) in [
        ("--out", "contacts.csv"),
        ("--html", "t.yaml"),
        ("--responses", "contacts.csv"),
    ] {
        let mut command = flowc();
        command
            .current_dir(copy.path())
            .arg("report")
            .arg("contacts.journal.sqlite")
            .arg("--events")
            .arg(&sent.store);
        if option != "--out" {
            command.args(["--out", "r.csv"]);
        }
        let outcome = run(command.args([option, name]).timeout(DEADLINE));
        assert_eq!(outcome.code, 2, "{option} {name}: {}", outcome.stderr);
        assert!(outcome.stderr.contains("would destroy"), "{}", outcome.stderr);
    }
    assert_eq!(digest(&copy.path().join("contacts.csv")), data);
    assert_eq!(digest(&copy.path().join("t.yaml")), template);
}

/// A block device node in `dir` (major 60: reserved for local use, so no driver answers and
/// nothing can be written even if it were opened), or `None` without the right to make one
/// (not root).
fn block_device(dir: &Path, name: &str) -> Option<PathBuf> {
    let path = dir.join(name);
    let made = std::process::Command::new("mknod")
        .arg(&path)
        .args(["b", "60", "0"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    made.then_some(path)
}

#[test]
fn block_devices_are_refused_as_outputs_and_as_the_event_store() {
    let sent = sent();
    let dir = sent.dir().to_path_buf();
    let Some(device) = block_device(&dir, "disk.csv") else {
        eprintln!("skipped: making a block device node needs root (the kind decision has a unit test)");
        return;
    };
    let link = symlink(&device, &dir.join("link-disk.csv"));
    let report = dir.join("r.csv");
    for target in [&device, &link] {
        for option in ["--out", "--html", "--responses"] {
            let mut args: Vec<&std::ffi::OsStr> = Vec::new();
            if option != "--out" {
                args.extend(["--out".as_ref(), report.as_os_str()]);
            }
            args.extend([option.as_ref(), target.as_os_str()]);
            let outcome = sent.report(&args);
            assert_eq!(outcome.code, 2, "{option} {}: {}", target.display(), outcome.stderr);
            assert!(outcome.stderr.contains("block device"), "{}", outcome.stderr);
        }
        let outcome = run(flowc()
            .arg("preview")
            .arg(&sent.campaign.template)
            .arg("--out")
            .arg(target)
            .timeout(DEADLINE));
        assert_ne!(outcome.code, 0, "{}", outcome.stderr);
        assert!(outcome.stderr.contains("block device"), "{}", outcome.stderr);
        let provider = Provider::accepting();
        provider.expect_requests(0);
        let outcome = run(sent
            .campaign
            .command(&provider)
            .arg("--report")
            .arg(target)
            .timeout(DEADLINE));
        assert_ne!(outcome.code, 0, "{}", outcome.stderr);
        assert!(outcome.stderr.contains("block device"), "{}", outcome.stderr);
        let Err((code, stderr)) = Receiver::spawn_at(Scratch::new(), target.clone(), "127.0.0.1:0", &[]) else {
            panic!("a block device was used as the store")
        };
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("block device"), "{stderr}");
    }
    assert!(std::fs::symlink_metadata(&device)
        .expect("still there")
        .file_type()
        .is_block_device());
}
