//! Inputs and surroundings made to break flowc (an attack report on the loader and compiler):
//! each must end in a clear message and an exit code, never a hang, an abort, a panic or
//! memory without bound.

use std::process::{Output, Stdio};

use crate::support::{flowc_process, Scratch, BASE_TEMPLATE};

/// Runs flowc with stdout on `/dev/full`, where every write fails with "no space left".
fn run_into_full_disk(args: &[&std::ffi::OsStr]) -> Output {
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full exists on Linux");
    flowc_process()
        .args(args)
        .stdout(Stdio::from(full))
        .output()
        .expect("flowc runs")
}

fn assert_output_lost(output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(stderr.contains("cannot write the output"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn check_with_stdout_on_a_full_disk_is_an_error() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    assert_output_lost(&run_into_full_disk(&["check".as_ref(), template.as_os_str()]));
}

#[test]
fn render_with_stdout_on_a_full_disk_is_an_error() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let data = scratch.write("rows.csv", "name,phone,ref\nA,+14155550100,1\n");
    assert_output_lost(&run_into_full_disk(&["render".as_ref(), template.as_os_str()]));
    assert_output_lost(&run_into_full_disk(&[
        "render".as_ref(),
        template.as_os_str(),
        "--data".as_ref(),
        data.as_os_str(),
    ]));
}
