//! The template-repository workflow: `flowc init`, `flowc test` and its review, completions,
//! the manual page and the version.

use std::path::Path;

use crate::support::{flowc, run, Scratch, BASE_TEMPLATE};

fn test_in(dir: &Path, args: &[&str]) -> crate::support::Outcome {
    run(flowc().current_dir(dir).arg("test").args(args))
}

fn snapshots(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("templates/__snapshots__"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn init_creates_a_repository_whose_tests_pass() {
    let scratch = Scratch::new();
    let outcome = run(flowc().arg("init").arg(scratch.path()));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    for file in [
        "templates/example.yaml",
        "templates/example.fixtures.yaml",
        "templates/example-template.yaml",
        "templates/approved/service_booking.en_US.json",
        "flows/booking.json",
        "schemas/template.schema.json",
        ".github/workflows/flowc.yml",
        "README.md",
    ] {
        assert!(scratch.path().join(file).is_file(), "{file}");
    }
    assert_eq!(
        snapshots(scratch.path()),
        [
            "example-template@example.snap",
            "example@accented-name.snap",
            "example@example.snap",
            "example@no-city.snap"
        ]
    );
    let readme = std::fs::read_to_string(scratch.path().join("README.md")).expect("README");
    assert_eq!(readme.lines().count(), 4);
    let workflow = std::fs::read_to_string(scratch.path().join(".github/workflows/flowc.yml")).expect("workflow");
    assert!(workflow.contains("flowc check --format github") && workflow.contains("flowc test --format github"));

    let outcome = test_in(scratch.path(), &[]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout.trim(),
        "4 passed, 0 new or changed (pending review), 0 failed"
    );
    let outcome = run(flowc().current_dir(scratch.path()).arg("check"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
}

/// The example template message is checked against the approved template init ships beside
/// it: the check passes as shipped, and fails once the approved template is paused.
#[test]
fn init_ships_a_template_message_checked_against_its_approved_template() {
    let scratch = Scratch::new();
    assert_eq!(run(flowc().arg("init").arg(scratch.path())).code, 0);
    let check = || {
        run(flowc()
            .current_dir(scratch.path())
            .args(["check", "templates/example-template.yaml"]))
    };
    let outcome = check();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let render = run(flowc()
        .current_dir(scratch.path())
        .args(["render", "templates/example-template.yaml"]));
    assert_eq!(render.code, 0, "{}", render.stderr);
    let body: serde_json::Value = serde_json::from_str(&render.stdout).expect("a JSON body");
    assert_eq!(body["messaging_object"]["type"], "template");
    assert_eq!(body["messaging_object"]["template"]["name"], "service_booking");
    let approved = scratch.path().join("templates/approved/service_booking.en_US.json");
    let text = std::fs::read_to_string(&approved).expect("the approved template");
    std::fs::write(&approved, text.replace("\"APPROVED\"", "\"PAUSED\"")).expect("pause it");
    let outcome = check();
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("is PAUSED, not APPROVED") && outcome.stderr.contains("132015"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn init_refuses_to_overwrite() {
    let scratch = Scratch::new();
    scratch.write("README.md", "mine");
    let outcome = run(flowc().arg("init").arg(scratch.path()));
    assert_eq!(outcome.code, 2);
    assert!(outcome.stderr.contains("refusing to overwrite"), "{}", outcome.stderr);
    assert_eq!(
        std::fs::read_to_string(scratch.path().join("README.md")).expect("README"),
        "mine"
    );
}

#[test]
fn init_lists_every_file_in_the_way_whole_one_a_line() {
    let scratch = Scratch::new();
    let deep = scratch
        .path()
        .join("a-rather-long-folder-name-for-the-templates-repository-of-the-clinic");
    assert_eq!(run(flowc().arg("init").arg(&deep)).code, 0);
    let outcome = run(flowc().arg("init").arg(&deep));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(!outcome.stderr.contains("..."), "no path is cut: {}", outcome.stderr);
    for file in [
        "templates/example.yaml",
        "templates/example.fixtures.yaml",
        "templates/example-template.yaml",
        "templates/approved/service_booking.en_US.json",
        "flows/booking.json",
        "schemas/template.schema.json",
        ".github/workflows/flowc.yml",
        "README.md",
        "templates/__snapshots__/example@accented-name.snap",
        "templates/__snapshots__/example@example.snap",
        "templates/__snapshots__/example@no-city.snap",
    ] {
        let path = deep.join(file).display().to_string();
        assert!(
            outcome.stderr.lines().any(|line| line.trim() == path),
            "`{path}` on a line of its own: {}",
            outcome.stderr
        );
    }
}

#[test]
fn init_writes_a_gitignore_for_preview_pages() {
    let scratch = Scratch::new();
    let outcome = run(flowc().arg("init").arg(scratch.path()));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let ignore = std::fs::read_to_string(scratch.path().join(".gitignore")).expect("a .gitignore");
    assert!(ignore.lines().any(|line| line == "*.preview.html"), "{ignore}");
    assert!(outcome.stderr.contains(".gitignore"), "{}", outcome.stderr);
}

#[test]
fn init_keeps_an_existing_gitignore_and_says_what_to_add() {
    let scratch = Scratch::new();
    scratch.write(".gitignore", "target/\n");
    let outcome = run(flowc().arg("init").arg(scratch.path()));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        std::fs::read_to_string(scratch.path().join(".gitignore")).expect("the .gitignore"),
        "target/\n"
    );
    assert!(outcome.stderr.contains("add `*.preview.html`"), "{}", outcome.stderr);
}

#[cfg(unix)]
#[test]
fn init_does_not_write_a_gitignore_through_a_link() {
    let scratch = Scratch::new();
    let outside = Scratch::new();
    std::os::unix::fs::symlink(outside.path().join("planted"), scratch.path().join(".gitignore")).expect("link");
    let outcome = run(flowc().arg("init").arg(scratch.path()));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        !outside.path().join("planted").exists(),
        "the link's target is not created"
    );
    assert!(outcome.stderr.contains("add `*.preview.html`"), "{}", outcome.stderr);
}

#[test]
fn test_and_check_run_inside_the_templates_folder() {
    let scratch = Scratch::new();
    assert_eq!(run(flowc().arg("init").arg(scratch.path())).code, 0);
    let inside = scratch.path().join("templates");
    let outcome = test_in(&inside, &[]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout.trim(),
        "4 passed, 0 new or changed (pending review), 0 failed"
    );
    let outcome = run(flowc().current_dir(&inside).arg("check"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
}

#[test]
fn test_without_a_templates_folder_says_what_to_run() {
    let scratch = Scratch::new();
    let outcome = test_in(scratch.path(), &[]);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("flowc test PATH"),
        "names the way to run it: {}",
        outcome.stderr
    );
}

#[test]
fn a_changed_template_fails_with_a_diff_and_a_pending_snapshot() {
    let scratch = Scratch::new();
    assert_eq!(run(flowc().arg("init").arg(scratch.path())).code, 0);
    let template = scratch.path().join("templates/example.yaml");
    let text = std::fs::read_to_string(&template).expect("template");
    std::fs::write(&template, text.replace("Book a slot", "Book your slot")).expect("edit");

    let outcome = test_in(scratch.path(), &[]);
    assert_eq!(outcome.code, 1);
    assert!(
        outcome.stderr.contains("-           \"flow_cta\": \"Book a slot\","),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("+           \"flow_cta\": \"Book your slot\","),
        "{}",
        outcome.stderr
    );
    assert_eq!(
        outcome.stdout.trim(),
        "1 passed, 3 new or changed (pending review), 0 failed"
    );
    assert!(scratch
        .path()
        .join("templates/__snapshots__/example@example.snap.new")
        .is_file());

    // Review: accept the first, reject the second, skip the third.
    let outcome = run(flowc()
        .current_dir(scratch.path())
        .args(["test", "--review"])
        .write_stdin("a\nr\ns\n"));
    assert_eq!(outcome.code, 1, "one is still pending: {}", outcome.stderr);
    assert_eq!(
        snapshots(scratch.path()),
        [
            "example-template@example.snap",
            "example@accented-name.snap",
            "example@example.snap",
            "example@no-city.snap",
            "example@no-city.snap.new"
        ]
    );
    let accepted = std::fs::read_to_string(
        scratch
            .path()
            .join("templates/__snapshots__/example@accented-name.snap"),
    )
    .expect("snap");
    assert!(accepted.contains("Book your slot"));

    let outcome = test_in(scratch.path(), &["--accept"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let outcome = test_in(scratch.path(), &[]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
}

#[test]
fn github_format_annotates_the_changed_template() {
    let scratch = Scratch::new();
    assert_eq!(run(flowc().arg("init").arg(scratch.path())).code, 0);
    let template = scratch.path().join("templates/example.yaml");
    let text = std::fs::read_to_string(&template).expect("template");
    std::fs::write(&template, text.replace("Book a slot", "Book your slot")).expect("edit");
    let outcome = test_in(scratch.path(), &["--format", "github"]);
    assert_eq!(outcome.code, 1);
    assert!(
        outcome
            .stdout
            .lines()
            .any(|line| line.starts_with("::error file=templates/example.yaml,")
                && line.contains(",title=flowc::templates/example.yaml case `example`: changed body")),
        "{}",
        outcome.stdout
    );
}

#[test]
fn a_new_template_gets_new_snapshots_and_a_deleted_one_leaves_orphans() {
    let scratch = Scratch::new();
    scratch.write("templates/a.yaml", BASE_TEMPLATE);
    std::fs::create_dir_all(scratch.path().join("templates")).expect("dir");
    let outcome = test_in(scratch.path(), &[]);
    assert_eq!(outcome.code, 1);
    assert!(
        outcome.stderr.contains("new: templates/a.yaml case `example`"),
        "{}",
        outcome.stderr
    );
    assert_eq!(test_in(scratch.path(), &["--accept"]).code, 0);
    assert_eq!(snapshots(scratch.path()), ["a@example.snap"]);

    std::fs::remove_file(scratch.path().join("templates/a.yaml")).expect("delete");
    scratch.write("templates/b.yaml", BASE_TEMPLATE);
    assert_eq!(test_in(scratch.path(), &["--accept"]).code, 0);
    let outcome = test_in(scratch.path(), &[]);
    assert_eq!(outcome.code, 0, "orphans warn, they do not fail: {}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("orphan snapshot templates/__snapshots__/a@example.snap"),
        "{}",
        outcome.stderr
    );
    assert_eq!(test_in(scratch.path(), &["--prune"]).code, 0);
    assert_eq!(snapshots(scratch.path()), ["b@example.snap"]);
}

#[test]
fn a_corrupt_snapshot_file_fails_with_a_clear_message() {
    let scratch = Scratch::new();
    scratch.write("templates/a.yaml", BASE_TEMPLATE);
    assert_eq!(test_in(scratch.path(), &["--accept"]).code, 0);
    scratch.write("templates/__snapshots__/a@example.snap", "{ not a snapshot");
    let outcome = test_in(scratch.path(), &[]);
    assert_eq!(outcome.code, 1);
    assert!(
        outcome
            .stderr
            .contains("`templates/__snapshots__/a@example.snap` is not a snapshot file"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stdout.contains("1 failed"), "{}", outcome.stdout);
}

#[test]
fn a_fixture_naming_an_undeclared_variable_is_refused_at_its_line() {
    let scratch = Scratch::new();
    scratch.write("templates/a.yaml", BASE_TEMPLATE);
    scratch.write(
        "templates/a.fixtures.yaml",
        "- name: typo\n  vars: { nmae: \"Ravi\" }\n",
    );
    let outcome = test_in(scratch.path(), &[]);
    assert_eq!(outcome.code, 1);
    assert!(
        outcome
            .stderr
            .contains("the fixture sets `nmae`, which the template does not declare"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("a.fixtures.yaml:2:11"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("did you mean `name`?"), "{}", outcome.stderr);
}

#[test]
fn a_fixture_that_breaks_a_rule_fails_its_case() {
    let scratch = Scratch::new();
    scratch.write("templates/a.yaml", BASE_TEMPLATE);
    scratch.write(
        "templates/a.fixtures.yaml",
        format!("- name: long\n  vars: {{ name: \"{}\" }}\n", "N".repeat(70)),
    );
    let outcome = test_in(scratch.path(), &["--accept"]);
    assert_eq!(outcome.code, 1);
    assert!(
        outcome
            .stderr
            .contains("case `long`: `interactive.header.text` is 73 characters long"),
        "{}",
        outcome.stderr
    );
    assert_eq!(snapshots(scratch.path()), ["a@example.snap"]);
}

#[test]
fn completions_for_every_shell() {
    for (shell, marker) in [
        ("bash", "_flowc()"),
        ("zsh", "#compdef flowc"),
        ("fish", "complete -c flowc"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let outcome = run(flowc().args(["completions", shell]));
        assert_eq!(outcome.code, 0, "{shell}: {}", outcome.stderr);
        assert!(outcome.stdout.contains(marker), "{shell}");
        assert!(outcome.stdout.contains("render"), "{shell} completes the subcommands");
    }
    assert_eq!(run(flowc().args(["completions", "tcsh"])).code, 2);
}

#[test]
fn man_page_and_version() {
    let outcome = run(flowc().arg("man"));
    assert_eq!(outcome.code, 0);
    assert!(outcome.stdout.starts_with(".ie \\n(.g .ds Aq"), "roff");
    assert!(outcome.stdout.contains("flowc"));
    let outcome = run(flowc().arg("--version"));
    assert_eq!(
        outcome.stdout.trim(),
        format!("flowc {} (flow-message schema 1)", env!("CARGO_PKG_VERSION"))
    );
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schemas/flow-message.schema.json")).expect("schema");
    assert_eq!(
        schema["x-flowc-schema-version"], "1",
        "the version string names the embedded schema's version"
    );
}

#[test]
fn testing_one_template_neither_reports_nor_prunes_the_others() {
    let scratch = Scratch::new();
    scratch.write("templates/a.yaml", BASE_TEMPLATE);
    scratch.write("templates/b.yaml", BASE_TEMPLATE);
    assert_eq!(test_in(scratch.path(), &["--accept"]).code, 0);
    let outcome = test_in(scratch.path(), &["templates/a.yaml", "--prune"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(!outcome.stderr.contains("orphan"), "{}", outcome.stderr);
    assert_eq!(snapshots(scratch.path()), ["a@example.snap", "b@example.snap"]);
}

/// A link planted in the target directory: init must neither write through it nor create its
/// target, and must say which link is in the way.
#[cfg(unix)]
fn assert_init_refuses_the_link(scratch: &Scratch, link: &str, outside: &Path) {
    let outcome = run(flowc().arg("init").arg(scratch.path()));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains(&format!(
            "refusing to write through the symbolic link `{}`",
            scratch.path().join(link).display()
        )),
        "{}",
        outcome.stderr
    );
    let written: Vec<_> = std::fs::read_dir(outside)
        .expect("the outside directory")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    assert!(written.is_empty(), "nothing is written outside the target: {written:?}");
    assert!(!scratch.path().join("schemas").exists(), "nothing is written at all");
}

#[cfg(unix)]
#[test]
fn init_refuses_a_symlinked_templates_directory() {
    let scratch = Scratch::new();
    let outside = Scratch::new();
    std::os::unix::fs::symlink(outside.path(), scratch.path().join("templates")).expect("link");
    assert_init_refuses_the_link(&scratch, "templates", outside.path());
}

#[cfg(unix)]
#[test]
fn init_does_not_create_the_target_of_a_dangling_link() {
    let scratch = Scratch::new();
    let outside = Scratch::new();
    std::os::unix::fs::symlink(outside.path().join("planted"), scratch.path().join("README.md")).expect("link");
    assert_init_refuses_the_link(&scratch, "README.md", outside.path());
}

#[cfg(unix)]
#[test]
fn init_refuses_a_symlinked_snapshot_directory() {
    let scratch = Scratch::new();
    let outside = Scratch::new();
    std::fs::create_dir_all(scratch.path().join("templates")).expect("dir");
    std::os::unix::fs::symlink(outside.path(), scratch.path().join("templates/__snapshots__")).expect("link");
    assert_init_refuses_the_link(&scratch, "templates/__snapshots__", outside.path());
}

#[cfg(unix)]
#[test]
fn test_replaces_a_planted_pending_link_instead_of_writing_through_it() {
    let scratch = Scratch::new();
    let outside = Scratch::new();
    scratch.write("templates/a.yaml", BASE_TEMPLATE);
    std::fs::create_dir_all(scratch.path().join("templates/__snapshots__")).expect("dir");
    let pending = scratch.path().join("templates/__snapshots__/a@example.snap.new");
    std::os::unix::fs::symlink(outside.path().join("victim"), &pending).expect("link");
    let outcome = test_in(scratch.path(), &[]);
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        !outside.path().join("victim").exists(),
        "the link's target is not created"
    );
    let metadata = std::fs::symlink_metadata(&pending).expect("the pending file");
    assert!(
        metadata.file_type().is_file(),
        "the link is replaced by the pending snapshot"
    );
}

/// A template with a fixture, its three snapshots accepted, then broken by `edit`: its
/// snapshots are not orphans, and `--prune` refuses while it fails.
fn assert_a_failing_template_keeps_its_snapshots(edit: impl FnOnce(&Scratch)) {
    let scratch = Scratch::new();
    scratch.write("templates/a.yaml", BASE_TEMPLATE);
    scratch.write("templates/b.yaml", BASE_TEMPLATE);
    scratch.write(
        "templates/a.fixtures.yaml",
        "- name: other-name\n  vars: { name: \"Ravi\" }\n",
    );
    assert_eq!(test_in(scratch.path(), &["--accept"]).code, 0);
    // A real orphan beside them: --prune must not remove even that while a template fails.
    scratch.write(
        "templates/__snapshots__/gone@example.snap",
        "---\nsource: gone.yaml\nexpression: example\n---\n{}\n",
    );
    let before = snapshots(scratch.path());
    assert_eq!(before.len(), 4);
    edit(&scratch);

    let outcome = test_in(scratch.path(), &[]);
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        !outcome.stderr.contains("orphan snapshot templates/__snapshots__/a@"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("orphan snapshot templates/__snapshots__/gone@example.snap"),
        "{}",
        outcome.stderr
    );

    let outcome = test_in(scratch.path(), &["--prune"]);
    assert_ne!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("not pruning"), "{}", outcome.stderr);
    assert_eq!(snapshots(scratch.path()), before, "nothing is deleted");
}

#[test]
fn prune_keeps_the_snapshots_of_a_template_with_an_undeclared_variable() {
    assert_a_failing_template_keeps_its_snapshots(|scratch| {
        scratch.write(
            "templates/a.yaml",
            BASE_TEMPLATE.replace("\"Hi {{name}}\"", "\"Hi {{nmae}}\""),
        );
    });
}

#[test]
fn prune_keeps_the_snapshots_of_a_template_with_a_bad_fixture() {
    assert_a_failing_template_keeps_its_snapshots(|scratch| {
        scratch.write(
            "templates/a.fixtures.yaml",
            "- name: other-name\n  vars: { nmae: \"Ravi\" }\n",
        );
    });
}

#[test]
fn prune_keeps_the_snapshots_of_a_template_that_does_not_parse() {
    assert_a_failing_template_keeps_its_snapshots(|scratch| {
        scratch.write("templates/a.yaml", "vars: [unclosed\n");
    });
}

fn snapshot_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    snapshots(dir)
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(dir.join("templates/__snapshots__").join(&name)).expect("snapshot");
            (name, bytes)
        })
        .collect()
}

#[test]
fn snapshots_are_the_same_bytes_from_any_directory() {
    let scratch = Scratch::new();
    scratch.write("templates/a.yaml", BASE_TEMPLATE);
    scratch.write(
        "templates/a.fixtures.yaml",
        "- name: other\n  vars: { name: \"Ravi\" }\n",
    );
    let snapshot_dir = scratch.path().join("templates/__snapshots__");

    // From the repository root, with a relative path.
    assert_eq!(test_in(scratch.path(), &["--accept"]).code, 0);
    let from_root = snapshot_bytes(scratch.path());
    assert_eq!(from_root.len(), 2);
    assert!(
        String::from_utf8_lossy(&from_root[0].1).starts_with("---\nsource: a.yaml\nexpression: example\n---\n"),
        "{}",
        String::from_utf8_lossy(&from_root[0].1)
    );

    // From the templates directory, and from elsewhere with an absolute path.
    for (cwd, path) in [
        (scratch.path().join("templates"), ".".into()),
        (std::env::temp_dir(), scratch.path().join("templates")),
    ] {
        std::fs::remove_dir_all(&snapshot_dir).expect("remove the snapshots");
        let outcome = run(flowc().current_dir(&cwd).arg("test").arg(&path).arg("--accept"));
        assert_eq!(outcome.code, 0, "{}", outcome.stderr);
        assert_eq!(snapshot_bytes(scratch.path()), from_root, "from {}", cwd.display());
    }
}

#[test]
fn init_writes_the_same_snapshots_from_any_directory() {
    let here = Scratch::new();
    assert_eq!(run(flowc().current_dir(here.path()).arg("init")).code, 0);
    let elsewhere = Scratch::new();
    assert_eq!(run(flowc().arg("init").arg(elsewhere.path().join("repo"))).code, 0);
    assert_eq!(
        snapshot_bytes(here.path()),
        snapshot_bytes(&elsewhere.path().join("repo"))
    );
}

/// An initialised repository whose template changed: three pending snapshots, reviewed in
/// the order accented-name, example, no-city.
fn three_pending() -> Scratch {
    let scratch = Scratch::new();
    assert_eq!(run(flowc().arg("init").arg(scratch.path())).code, 0);
    let template = scratch.path().join("templates/example.yaml");
    let text = std::fs::read_to_string(&template).expect("template");
    std::fs::write(&template, text.replace("Book a slot", "Book your slot")).expect("edit");
    assert_eq!(test_in(scratch.path(), &[]).code, 1);
    scratch
}

fn review(scratch: &Scratch, keys: &str) -> crate::support::Outcome {
    run(flowc()
        .current_dir(scratch.path())
        .args(["test", "--review"])
        .write_stdin(keys))
}

#[test]
fn review_takes_single_keys_without_enter() {
    let scratch = three_pending();
    let outcome = review(&scratch, "ras");
    assert_eq!(outcome.code, 1, "one is still pending: {}", outcome.stderr);
    assert_eq!(
        snapshots(scratch.path()),
        [
            "example-template@example.snap",
            "example@accented-name.snap",
            "example@example.snap",
            "example@no-city.snap",
            "example@no-city.snap.new"
        ]
    );
    assert_eq!(
        outcome.stdout.trim(),
        "1 passed, 1 new or changed (pending review), 0 failed, 1 accepted, 1 rejected"
    );
}

#[test]
fn review_capital_a_accepts_all_remaining() {
    let scratch = three_pending();
    let outcome = review(&scratch, "rA");
    assert_eq!(outcome.code, 1, "a rejected change still differs: {}", outcome.stderr);
    assert_eq!(
        outcome.stdout.trim(),
        "1 passed, 0 new or changed (pending review), 0 failed, 2 accepted, 1 rejected"
    );
    assert_eq!(
        snapshots(scratch.path()),
        [
            "example-template@example.snap",
            "example@accented-name.snap",
            "example@example.snap",
            "example@no-city.snap"
        ]
    );
    let accepted =
        std::fs::read_to_string(scratch.path().join("templates/__snapshots__/example@no-city.snap")).expect("snap");
    assert!(accepted.contains("Book your slot"));
}

#[test]
fn review_asks_again_after_an_unknown_key() {
    let scratch = three_pending();
    let outcome = review(&scratch, "x?a");
    assert!(outcome.stderr.contains("unknown key `x`"), "{}", outcome.stderr);
    assert_eq!(outcome.stderr.matches("unknown key").count(), 2, "{}", outcome.stderr);
    // `a` answered the first; the end of input leaves the other two pending.
    assert_eq!(
        outcome.stdout.trim(),
        "1 passed, 2 new or changed (pending review), 0 failed, 1 accepted"
    );
}

#[test]
fn github_notice_for_a_changed_snapshot_points_at_the_change_and_says_what_to_run() {
    let scratch = three_pending();
    let outcome = test_in(scratch.path(), &["--format", "github"]);
    assert_eq!(outcome.code, 1);
    let template = std::fs::read_to_string(scratch.path().join("templates/example.yaml")).expect("template");
    let line = template
        .lines()
        .position(|line| line.contains("Book your slot"))
        .expect("the changed line")
        + 1;
    let notice = outcome
        .stdout
        .lines()
        .find(|line| line.contains("case `example`: changed body"))
        .unwrap_or_else(|| panic!("{}", outcome.stdout));
    assert!(
        notice.starts_with(&format!("::error file=templates/example.yaml,line={line},")),
        "{notice}"
    );
    assert!(notice.contains("flowc test --review"), "{notice}");
}

/// A real terminal (a pseudo-terminal from util-linux's `script`): one key, no Enter, and the
/// answer takes effect at once; with line-buffered input nothing would happen until a newline.
#[cfg(unix)]
#[test]
fn review_reads_single_keys_from_a_terminal() {
    use std::io::Write;
    if !Path::new("/usr/bin/script").exists() {
        eprintln!("skipped: no script(1) to give flowc a terminal");
        return;
    }
    let scratch = three_pending();
    let command = format!("'{}' test --review", assert_cmd::cargo::cargo_bin("flowc").display());
    let mut child = std::process::Command::new("/usr/bin/script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(scratch.path())
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("script runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"r").and_then(|()| stdin.flush()).expect("a key");
    let rejected = scratch
        .path()
        .join("templates/__snapshots__/example@accented-name.snap.new");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while rejected.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let answered = !rejected.exists();
    if answered {
        stdin.write_all(b"A").expect("a key");
    } else {
        let _ = child.kill();
    }
    drop(stdin);
    let output = child.wait_with_output().expect("script ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(answered, "`r` without Enter was not taken: {stdout}");
    assert!(
        stdout.contains("1 passed, 0 new or changed (pending review), 0 failed, 2 accepted, 1 rejected"),
        "{stdout}"
    );
    assert_eq!(
        snapshots(scratch.path()),
        [
            "example-template@example.snap",
            "example@accented-name.snap",
            "example@example.snap",
            "example@no-city.snap"
        ]
    );
}

/// flowc is `publish = false`: a crate of the same name on crates.io is someone else's, so
/// the workflow installs from flowc's repository, named by a workflow variable.
#[test]
fn init_workflow_installs_flowc_from_its_repository_not_by_crate_name() {
    let scratch = Scratch::new();
    assert_eq!(run(flowc().arg("init").arg(scratch.path())).code, 0);
    let workflow = std::fs::read_to_string(scratch.path().join(".github/workflows/flowc.yml")).expect("workflow");
    let installs: Vec<&str> = workflow.lines().filter(|line| line.contains("cargo install")).collect();
    assert!(!installs.is_empty(), "{workflow}");
    for line in installs {
        assert!(line.contains("--git \"$FLOWC_GIT\""), "installs by name: {line}");
    }
    assert!(workflow.contains("FLOWC_GIT: ${{ vars.FLOWC_GIT }}"), "{workflow}");
    assert!(!workflow.contains("FLOWC_INSTALL"), "{workflow}");
}

#[test]
fn readme_says_how_to_install_flowc() {
    let readme = std::fs::read_to_string(crate::support::repo().join("README.md")).expect("README");
    assert!(readme.contains("cargo install --locked --path ."), "from a clone");
    assert!(
        readme.contains("cargo install --locked --git"),
        "from the repository's URL"
    );
    assert!(!readme.contains("cargo install --locked flowc"), "never by crate name");
    assert!(
        !readme.contains("shared/"),
        "the README cites public pages, not ../shared"
    );
}

/// One page documents everything: a section for each subcommand with its synopsis, its long
/// description, every option and argument, and its examples.
#[test]
fn man_page_documents_every_subcommand_and_option() {
    use clap::CommandFactory;
    let page = run(flowc().arg("man")).stdout;
    let cli = flowc::cli::Cli::command();
    for sub in cli.get_subcommands() {
        let name = sub.get_name();
        let heading = format!(".SH \"FLOWC {}\"", name.to_uppercase());
        let start = page
            .find(&heading)
            .unwrap_or_else(|| panic!("no section `{heading}`:\n{page}"));
        let section = &page[start + heading.len()..];
        let section = &section[..section.find("\n.SH ").unwrap_or(section.len())];
        assert!(
            section.contains(&format!("flowc {name}")),
            "{name}: synopsis\n{section}"
        );
        for arg in sub.get_arguments().filter(|arg| !arg.is_hide_set()) {
            let shown = match arg.get_long() {
                Some(long) => format!("\\-\\-{}", long.replace('-', "\\-")),
                None => arg
                    .get_value_names()
                    .map_or_else(|| arg.get_id().to_string(), |names| names.join(" ")),
            };
            assert!(
                section.contains(&shown),
                "{name}: `{shown}` is not documented\n{section}"
            );
        }
        if sub.get_after_help().is_some() {
            assert!(section.contains(".SS EXAMPLES\n"), "{name}: examples\n{section}");
        }
    }
}

#[test]
fn init_help_has_examples() {
    let outcome = run(flowc().args(["init", "--help"]));
    assert_eq!(outcome.code, 0);
    assert!(outcome.stdout.contains("Examples:"), "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains("flowc init flow-templates"),
        "{}",
        outcome.stdout
    );
}

/// Each line of every command's examples is printed whole on an 80-column terminal: a command
/// cut in two cannot be copied.
#[test]
fn help_examples_keep_each_line_whole_at_80_columns() {
    use clap::CommandFactory;
    let cli = flowc::cli::Cli::command();
    for sub in cli.get_subcommands() {
        let Some(examples) = sub.get_after_help() else {
            continue;
        };
        let name = sub.get_name();
        let outcome = run(flowc().env("COLUMNS", "80").args([name, "--help"]));
        assert_eq!(outcome.code, 0, "{}", outcome.stderr);
        let printed: Vec<&str> = outcome.stdout.lines().map(str::trim_end).collect();
        for line in examples.to_string().lines().filter(|line| !line.trim().is_empty()) {
            assert!(
                printed.contains(&line.trim_end()),
                "`flowc {name} --help` cuts the line\n{line}\n{}",
                outcome.stdout
            );
        }
    }
}

#[test]
fn the_manual_and_help_list_every_exit_status() {
    let page = run(flowc().arg("man")).stdout;
    let start = page.find(".SH \"EXIT STATUS\"").expect("an EXIT STATUS section");
    let section = &page[start..];
    let section = &section[..section[1..].find("\n.SH ").map_or(section.len(), |end| end + 1)];
    let help = run(flowc().env("COLUMNS", "200").arg("--help")).stdout;
    for text in [section, help.as_str()] {
        for code in ["0", "1", "2", "130", "143"] {
            assert!(
                text.lines()
                    .any(|line| line.trim() == code || line.trim_start().starts_with(&format!("{code} "))),
                "exit status {code} is listed:\n{text}"
            );
        }
        assert!(text.contains("SIGTERM") && text.contains("receive"), "{text}");
    }
}
