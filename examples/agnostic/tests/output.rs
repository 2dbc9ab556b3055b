//! Runs the example binary and checks what each authsessions call returned.

#[test]
fn the_authsessions_calls_behave_as_documented() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_agnostic"))
        .output()
        .expect("example runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let expected = [
        "token header: Bearer ",
        "token resolves to the laptop session: true",
        "garbage header resolves to: None",
        "user id: user-1",
        r#"meta: {"agent":{"name":"firefox","version":[128,0]}}"#,
        "user-1 sessions: laptop, phone",
        "all sessions: 3",
        "destroyed phone: true",
        "destroyed phone again: false",
        "user-1 sessions after destroy: laptop",
        "phone user id after destroy: None",
    ];
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines, expected, "{stdout}");
}

#[test]
fn help_describes_the_example_and_other_arguments_are_refused() {
    let run = |arg: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_agnostic"))
            .arg(arg)
            .output()
            .expect("example runs")
    };
    let help = run("--help");
    assert!(help.status.success());
    let stdout = String::from_utf8(help.stdout).unwrap();
    assert!(stdout.starts_with("usage: agnostic"), "{stdout}");
    assert!(
        !stdout.contains("token header"),
        "ran the example: {stdout}"
    );
    let wrong = run("--store=redis");
    assert_eq!(wrong.status.code(), Some(2));
    assert!(wrong.stdout.is_empty());
    let stderr = String::from_utf8(wrong.stderr).unwrap();
    assert!(
        stderr.contains("unexpected argument \"--store=redis\""),
        "{stderr}"
    );
}

#[test]
fn a_closed_stdout_ends_the_example_without_a_panic() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_agnostic"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("example runs");
    // Closed before the example prints its first line, as `| head -0` would.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("example ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
}

/// Only a closed stdout (a broken pipe) is a quiet end: output that could
/// not be written for another reason (a full disk: `agnostic > /dev/full`)
/// must not be reported as a success, as `println!` did by failing.
#[cfg(target_os = "linux")]
#[test]
fn output_lost_to_a_full_disk_is_not_a_success() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_agnostic"))
        .stdout(full)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("example runs");
    assert!(
        !output.status.success(),
        "every line was lost (ENOSPC) yet the example exited {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}
