//! Running one ignored test of this binary in a child process of its own, for what the test
//! process cannot share: `OTEL_*` variables, and global providers installed for good.

use std::process::{Command, Output};

/// The name libtest knows `test` by, a test of the module at `module` (its `module_path!()`):
/// its path without the crate.
fn test_path(module: &str, test: &str) -> String {
    let module = module.split_once("::").map_or(module, |(_, module)| module);
    format!("{module}::{test}")
}

/// The ignored test `name` of the module at `module`, to be run in a child process with `env`
/// (and without every other `OTEL_*`/`RUST_LOG` variable of ours).
pub fn command(module: &str, name: &str, env: &[(&str, String)]) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([
        &test_path(module, name),
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (key, _) in std::env::vars() {
        if key.starts_with("OTEL_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command.env("TELEMETRY_TEST_CHILD", name);
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// Runs the ignored test `name` in a child process (see [`command`]) to its end.
pub fn run(module: &str, name: &str, env: &[(&str, String)]) -> Output {
    let output = command(module, name, env).output().expect("child runs");
    assert_succeeded(name, &output);
    output
}

/// The child ran its one test and it passed (a filter that matches no test succeeds too).
pub fn assert_succeeded(name: &str, output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed"),
        "child {name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Fails unless this test runs as the child `name`, started by its parent test.
pub fn assert_child(name: &str) {
    assert_eq!(
        std::env::var("TELEMETRY_TEST_CHILD").as_deref(),
        Ok(name),
        "this test is run by its parent test, in a child process"
    );
}
