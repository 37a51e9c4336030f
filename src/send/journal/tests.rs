//! The journal's crash model, tested: damaged, copied, truncated and half-made journals are
//! refused or resumed as the module notes say.

use super::*;

fn fingerprint() -> Fingerprint {
    Fingerprint {
        template: "t1".to_owned(),
        data: "d1".to_owned(),
    }
}

/// A journal with row 2 sent once.
fn journal_with_a_sent_row(path: &Path) {
    let mut journal = Journal::open(Some(path), &fingerprint(), false).expect("new");
    let mut preflight = journal.preflight().expect("preflight");
    preflight
        .record(2, &RowKeys::recipient("+1"), RowStatus::Pending, None)
        .expect("row 2");
    preflight.finish().expect("commit");
    let writer = JournalWriter::spawn(journal);
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    runtime
        .block_on(writer.handle().sending(2, 1, "flow"))
        .expect("durable");
    drop(writer.finish().expect("journal back"));
}

#[test]
fn a_changed_campaign_is_refused_once_anything_was_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    let changed = Fingerprint {
        data: "d2".to_owned(),
        ..fingerprint()
    };
    drop(Journal::open(Some(&path), &fingerprint(), false).expect("new"));
    // Nothing sent: the fixed data file starts over.
    drop(Journal::open(Some(&path), &changed, false).expect("nothing to protect"));
    std::fs::remove_file(&path).expect("remove");
    std::fs::remove_file(Mirror::path_for(&path)).expect("remove the mirror");
    journal_with_a_sent_row(&path);
    assert!(matches!(
        Journal::open(Some(&path), &changed, false),
        Err(JournalError::Changed { what: "data file", .. })
    ));
    assert!(Journal::open(Some(&path), &changed, true).is_ok());
}

#[test]
fn a_changed_template_resumes_only_when_asked_and_sent_rows_keep_their_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    let mut journal = Journal::open(Some(&path), &fingerprint(), false).expect("new");
    let mut preflight = journal.preflight().expect("preflight");
    let keys = |recipient: &str, token: &str| RowKeys {
        flow_token: Some(token.to_owned()),
        ..RowKeys::recipient(recipient)
    };
    preflight
        .record(2, &keys("+1", "old"), RowStatus::Pending, None)
        .expect("row 2");
    preflight.finish().expect("commit");
    let writer = JournalWriter::spawn(journal);
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    runtime
        .block_on(writer.handle().sending(2, 1, "flow"))
        .expect("durable");
    drop(writer.finish().expect("journal back"));
    let fixed = Fingerprint {
        template: "t2".to_owned(),
        ..fingerprint()
    };
    assert!(matches!(
        Journal::open(Some(&path), &fixed, false),
        Err(JournalError::Changed { what, .. }) if what.starts_with("template")
    ));
    let changed = Resume {
        restart: false,
        changed_template: true,
    };
    let other_data = Fingerprint {
        data: "d2".to_owned(),
        ..fixed.clone()
    };
    assert!(matches!(
        Journal::open_with(Some(&path), &other_data, changed),
        Err(JournalError::Changed { what: "data file", .. })
    ));
    let mut journal = Journal::open_with(Some(&path), &fixed, changed).expect("resumed");
    assert_eq!(
        journal.template_change(),
        Some(&TemplateChange {
            earlier: vec![("t1".to_owned(), 1)],
            now: "t2".to_owned(),
        })
    );
    let mut preflight = journal.preflight().expect("preflight");
    preflight
        .record(2, &keys("+2", "new"), RowStatus::Pending, None)
        .expect("row 2");
    preflight
        .record(3, &keys("+2", "new"), RowStatus::Pending, None)
        .expect("row 3");
    preflight.finish().expect("commit");
    let kept: (String, Option<String>, Option<String>) = journal
        .connection
        .query_row(
            "SELECT recipient, flow_token, template FROM rows WHERE row = 2",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .expect("row 2");
    assert_eq!(kept, ("+1".to_owned(), Some("old".to_owned()), Some("t1".to_owned())));
    let fresh: Option<String> = journal
        .connection
        .query_row("SELECT flow_token FROM rows WHERE row = 3", [], |row| row.get(0))
        .expect("row 3");
    assert_eq!(fresh.as_deref(), Some("new"));
}

#[test]
fn in_flight_rows_become_unknown_on_the_next_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    let mut journal = Journal::open(Some(&path), &fingerprint(), false).expect("new");
    let mut preflight = journal.preflight().expect("preflight");
    preflight
        .record(2, &RowKeys::recipient("+1"), RowStatus::Pending, None)
        .expect("row 2");
    preflight
        .record(3, &RowKeys::recipient("+1"), RowStatus::Invalid, Some("bad"))
        .expect("row 3");
    preflight.finish().expect("commit");
    let writer = JournalWriter::spawn(journal);
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    runtime
        .block_on(writer.handle().sending(2, 1, "flow"))
        .expect("durable");
    drop(writer.finish().expect("journal back"));

    let mut journal = Journal::open(Some(&path), &fingerprint(), false).expect("resume");
    assert!(journal.is_resume());
    assert_eq!(journal.recover_in_flight().expect("recover"), 1);
    let index = journal.resume_index(100).expect("index");
    assert_eq!(index.get(2), Some(RowStatus::Unknown));
    assert_eq!(index.get(3), Some(RowStatus::Invalid));
    assert_eq!(index.get(4), None);
}

fn damage_of(result: Result<Journal, JournalError>) -> String {
    match result {
        Err(JournalError::Damaged { problem, .. }) => problem,
        Err(other) => panic!("another error: {other}"),
        Ok(_) => panic!("a damaged journal was opened"),
    }
}

#[test]
fn an_empty_journal_is_refused_unless_restarted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    journal_with_a_sent_row(&path);
    std::fs::write(&path, "").expect("truncate");
    assert!(damage_of(Journal::open(Some(&path), &fingerprint(), false)).contains("is empty"));
    assert!(Journal::open(Some(&path), &fingerprint(), true).is_ok());
}

#[test]
fn a_journal_that_lost_commits_from_its_wal_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    let mut journal = Journal::open(Some(&path), &fingerprint(), false).expect("new");
    let mut preflight = journal.preflight().expect("preflight");
    for row in [2, 3] {
        preflight
            .record(row, &RowKeys::recipient("+1"), RowStatus::Pending, None)
            .expect("a row");
    }
    preflight.finish().expect("commit");
    let writer = JournalWriter::spawn(journal);
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    // The first send is folded into the main file at once; the second stays in the WAL.
    runtime
        .block_on(writer.handle().sending(2, 1, "flow"))
        .expect("durable");
    runtime
        .block_on(writer.handle().sending(3, 1, "flow"))
        .expect("durable");
    // A crash now, and the `-wal` file lost: only the main file and the mirror remain.
    let copy = dir.path().join("copy.sqlite");
    std::fs::copy(&path, &copy).expect("copy the main file");
    std::fs::copy(Mirror::path_for(&path), Mirror::path_for(&copy)).expect("copy the mirror");
    drop(writer.finish().expect("journal back"));
    let problem = damage_of(Journal::open(Some(&copy), &fingerprint(), false));
    assert!(
        problem.contains("has lost 1 of its last commits") && problem.contains("row 3"),
        "{problem}"
    );
}

#[test]
fn the_first_send_is_in_the_main_file_even_if_the_wal_and_the_mirror_are_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    let mut journal = Journal::open(Some(&path), &fingerprint(), false).expect("new");
    let mut preflight = journal.preflight().expect("preflight");
    preflight
        .record(2, &RowKeys::recipient("+1"), RowStatus::Pending, None)
        .expect("a row");
    preflight.finish().expect("commit");
    let writer = JournalWriter::spawn(journal);
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    runtime
        .block_on(writer.handle().sending(2, 1, "flow"))
        .expect("durable");
    let copy = dir.path().join("copy.sqlite");
    std::fs::copy(&path, &copy).expect("the main file alone");
    drop(writer.finish().expect("journal back"));
    // Without its mirror, and with a send on record: refused, never taken for a fresh start.
    assert!(damage_of(Journal::open(Some(&copy), &fingerprint(), false)).contains("lost its mirror"));
}

#[test]
fn copies_and_deletions_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    journal_with_a_sent_row(&path);
    // Copied without its mirror.
    let copy = dir.path().join("copy.sqlite");
    std::fs::copy(&path, &copy).expect("copy");
    assert!(damage_of(Journal::open(Some(&copy), &fingerprint(), false)).contains("lost its mirror"));
    // Another campaign's journal beside this mirror.
    let other = dir.path().join("other.sqlite");
    journal_with_a_sent_row(&other);
    std::fs::copy(&other, &path).expect("replace");
    assert!(damage_of(Journal::open(Some(&path), &fingerprint(), false)).contains("not the journal its mirror"));
    // Deleted, its mirror left.
    std::fs::remove_file(&path).expect("delete");
    assert!(damage_of(Journal::open(Some(&path), &fingerprint(), false)).contains("is missing"));
}

#[test]
fn a_file_that_is_not_a_journal_is_never_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("contacts.csv");
    std::fs::write(&path, "name,phone\nAsha,+919876543210\n").expect("write");
    for restart in [false, true] {
        let problem = damage_of(Journal::open(Some(&path), &fingerprint(), restart));
        assert!(problem.contains("not a SQLite database"), "{problem}");
    }
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        "name,phone\nAsha,+919876543210\n"
    );
}

#[test]
fn unknown_statuses_and_impossible_rows_refuse_to_resume() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    journal_with_a_sent_row(&path);
    let journal = Journal::open(Some(&path), &fingerprint(), false).expect("resume");
    journal
        .connection
        .execute("UPDATE rows SET status = 'sent' WHERE row = 2", [])
        .expect("edit");
    let Err(JournalError::Damaged { problem, .. }) = journal.resume_index(100) else {
        panic!("an unknown status was accepted")
    };
    assert!(problem.contains("unknown status `sent` for row 2"), "{problem}");
    journal
        .connection
        .execute(
            "UPDATE rows SET status = 'pending', row = 1000000000000 WHERE row = 2",
            [],
        )
        .expect("edit");
    let Err(JournalError::Damaged { problem, .. }) = journal.resume_index(100) else {
        panic!("an impossible row was accepted")
    };
    assert!(problem.contains("row 1000000000000"), "{problem}");
}

#[test]
fn a_run_killed_while_creating_its_journal_leaves_a_campaign_that_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    // Killed after the journal was linked into place, before its mirror was written.
    create_file(&path, &fingerprint(), "j").expect("created");
    assert!(!Mirror::path_for(&path).exists());
    drop(Journal::open(Some(&path), &fingerprint(), false).expect("no mirror, nothing sent: resumes"));
    // Killed while building it: a temporary file only; the next run starts afresh.
    std::fs::remove_file(&path).expect("remove");
    std::fs::write(dir.path().join("j.sqlite.creating-1"), "half").expect("leftover");
    // The mirror saw nothing sent, so the missing journal protects nothing.
    drop(Journal::open(Some(&path), &fingerprint(), false).expect("a mirror of nothing sent"));
    // Once something was sent, the same deletion is refused.
    std::fs::remove_file(&path).expect("remove");
    std::fs::remove_file(Mirror::path_for(&path)).expect("remove the mirror");
    journal_with_a_sent_row(&path);
    std::fs::remove_file(&path).expect("remove");
    assert!(damage_of(Journal::open(Some(&path), &fingerprint(), false)).contains("is missing"));
}

#[test]
fn the_mirror_is_never_written_through_a_link_planted_after_the_journal_was_opened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("elsewhere.txt");
    let path = dir.path().join("j.sqlite.mirror");
    std::os::unix::fs::symlink(&target, &path).expect("a dangling link");
    let mirror = mirror::Mirror { path, state: None };
    let state = mirror::MirrorState {
        campaign: "c".to_owned(),
        commit: 1,
        run: 1,
        max_sent_row: 2,
    };
    let error = mirror.write(&state).expect_err("refused");
    assert!(error.to_string().contains("symbolic link"), "{error}");
    assert!(!target.exists(), "written through the link");
}
