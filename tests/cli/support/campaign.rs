//! A campaign for the sending tests: a scratch folder with the base template and a CSV of
//! contacts, the `flowc send` commands that point it at a fake provider with test credentials,
//! and readers of the report it writes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::provider::Provider;
use crate::support::{flowc, flowc_process, Outcome, Scratch, BASE_TEMPLATE};

pub(crate) const KEY: &str = "sekret-key-6789";
pub(crate) const SID: &str = "HXAPTEST01IN";
pub(crate) const FROM: &str = "+911234567890";

/// A campaign of `rows` contacts whose `ref` is `R<n>`.
pub(crate) struct Campaign {
    pub(crate) scratch: Scratch,
    pub(crate) template: PathBuf,
    pub(crate) data: PathBuf,
}

impl Campaign {
    pub(crate) fn new(rows: usize) -> Campaign {
        let scratch = Scratch::new();
        let template = scratch.write("t.yaml", BASE_TEMPLATE);
        let mut csv = String::from("name,phone,ref\n");
        for n in 0..rows {
            csv.push_str(&format!("Name {n} & Co,+1415{n:07},R{n}\n"));
        }
        let data = scratch.write("contacts.csv", csv);
        Campaign {
            scratch,
            template,
            data,
        }
    }

    /// `flowc send` for this campaign at no rate limit, with short retry delays.
    pub(crate) fn command(&self, provider: &Provider) -> assert_cmd::Command {
        self.command_at(provider, 0, &self.data)
    }

    pub(crate) fn command_at(&self, provider: &Provider, rate: u32, data: &Path) -> assert_cmd::Command {
        let mut command = flowc();
        command
            .arg("send")
            .arg(&self.template)
            .arg("--data")
            .arg(data)
            .args(["--yes", "--retry-delay-ms", "20", "--timeout", "5"])
            .args(["--rate", &rate.to_string()])
            .env("KALEYRA_SID", SID)
            .env("KALEYRA_API_KEY", KEY)
            .env("KALEYRA_WHATSAPP_NUMBER", FROM)
            .env("KALEYRA_BASE_URL", provider.url())
            .env_remove("KALEYRA_REGION");
        command
    }

    /// `flowc send` running in the background (to be interrupted or killed), its output piped.
    pub(crate) fn spawn(&self, provider: &Provider, concurrency: u32) -> std::process::Child {
        flowc_process()
            .arg("send")
            .arg(&self.template)
            .arg("--data")
            .arg(&self.data)
            .args(["--yes", "--rate", "0", "--concurrency", &concurrency.to_string()])
            .env("KALEYRA_SID", SID)
            .env("KALEYRA_API_KEY", KEY)
            .env("KALEYRA_WHATSAPP_NUMBER", FROM)
            .env("KALEYRA_BASE_URL", provider.url())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn flowc")
    }

    /// `flowc send` of this campaign to `url`, with only the flags every run needs (no rate
    /// limit, short retry delays).
    pub(crate) fn command_to(&self, url: &str) -> assert_cmd::Command {
        let mut command = flowc();
        command
            .arg("send")
            .arg(&self.template)
            .arg("--data")
            .arg(&self.data)
            .args(["--yes", "--rate", "0", "--retry-delay-ms", "10"])
            .env("KALEYRA_SID", SID)
            .env("KALEYRA_API_KEY", KEY)
            .env("KALEYRA_WHATSAPP_NUMBER", FROM)
            .env("KALEYRA_BASE_URL", url)
            .env_remove("KALEYRA_REGION");
        command
    }

    pub(crate) fn report_path(&self) -> PathBuf {
        self.scratch.path().join("contacts.report.csv")
    }

    pub(crate) fn journal_path(&self) -> PathBuf {
        self.scratch.path().join("contacts.journal.sqlite")
    }

    /// The report's lines by `row`.
    pub(crate) fn report(&self) -> Vec<HashMap<String, String>> {
        read_report(&self.report_path())
    }
}

pub(crate) fn read_report(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).expect("the report exists");
    let header = reader.headers().expect("header").clone();
    // `--events` adds delivery columns after these.
    assert_eq!(
        header.iter().take(8).collect::<Vec<_>>(),
        [
            "row",
            "to",
            "status",
            "http_status",
            "code",
            "message_id",
            "attempts",
            "error"
        ]
    );
    reader
        .records()
        .map(|record| {
            let record = record.expect("record");
            header
                .iter()
                .map(str::to_owned)
                .zip(record.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

pub(crate) fn statuses(report: &[HashMap<String, String>]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for line in report {
        *counts.entry(line["status"].clone()).or_default() += 1;
    }
    counts
}

pub(crate) fn assert_no_key(outcome: &Outcome) {
    assert!(!outcome.stdout.contains(KEY), "key on stdout");
    assert!(!outcome.stderr.contains(KEY), "key on stderr");
}

/// Waits (at most 30 s) until the provider has received `count` requests.
pub(crate) fn wait_for_requests(provider: &Provider, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while provider.count() < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Sends a signal (`-INT`, `-TERM`) to a running flowc.
pub(crate) fn signal(child: &std::process::Child, name: &str) {
    let status = std::process::Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// A Unix time as the report writes it.
pub(crate) fn rfc3339(time: i64) -> String {
    jiff::Timestamp::from_second(time)
        .expect("a time the tests use")
        .to_string()
}

/// The report's lines with the delivery columns, by `row`.
pub(crate) fn read_delivery_report(path: &Path) -> HashMap<String, HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).expect("the report exists");
    let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_owned).collect();
    assert_eq!(
        header,
        [
            "row",
            "to",
            "status",
            "http_status",
            "code",
            "message_id",
            "attempts",
            "error",
            "run",
            "sent_at",
            "message",
            "delivery",
            "delivery_code",
            "delivery_error",
            "delivered_at",
            "read_at",
            "replied_at",
            "opted_out_at",
            "billable",
            "pricing_category"
        ]
    );
    reader
        .records()
        .map(|record| {
            let line: HashMap<String, String> = header
                .iter()
                .cloned()
                .zip(record.expect("record").iter().map(str::to_owned))
                .collect();
            (line["row"].clone(), line)
        })
        .collect()
}
