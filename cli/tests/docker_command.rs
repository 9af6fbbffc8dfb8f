//! The container's command, run as the Dockerfile says (no container engine runs here): the
//! final stage's ENTRYPOINT and CMD, its ENV, and its USER where this process may switch to it,
//! over an inventory that user can read but not write. Only the port (8080 may be taken) and
//! the paths inside the image are mapped to this machine's.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The final stage's instructions that shape the command: (ENTRYPOINT + CMD, ENV, USER).
fn final_stage(dockerfile: &str) -> (Vec<String>, HashMap<String, String>, Option<String>) {
    // Continuation lines joined, comments dropped.
    let joined = dockerfile.replace("\\\n", " ");
    let stage = joined.rsplit("\nFROM ").next().expect("a final stage");
    let (mut entrypoint, mut cmd, mut env, mut user) = (Vec::new(), Vec::new(), HashMap::new(), None);
    let json_list = |text: &str| -> Vec<String> { serde_json::from_str(text.trim()).expect("an exec-form JSON list") };
    for line in stage.lines().map(str::trim).filter(|line| !line.starts_with('#')) {
        if let Some(rest) = line.strip_prefix("ENTRYPOINT ") {
            entrypoint = json_list(rest);
        } else if let Some(rest) = line.strip_prefix("CMD ") {
            cmd = json_list(rest);
        } else if let Some(rest) = line.strip_prefix("USER ") {
            user = Some(rest.trim().to_owned());
        } else if let Some(rest) = line.strip_prefix("ENV ") {
            for pair in rest.split_whitespace() {
                let (name, value) = pair.split_once('=').expect("ENV NAME=VALUE");
                env.insert(name.to_owned(), value.to_owned());
            }
        }
    }
    (entrypoint.into_iter().chain(cmd).collect(), env, user)
}

#[test]
fn the_container_command_serves_a_read_only_inventory_as_its_user() {
    let dockerfile = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/Dockerfile"))
        .expect("deploy/Dockerfile");
    let (command, env, user) = final_stage(&dockerfile);
    assert_eq!(command[0], "/usr/local/bin/tessera", "{command:?}");
    assert_eq!(env.get("TESSERA_INVENTORY").map(String::as_str), Some("/inventory"));
    let (temp, dir) = common::demo();
    // The image's paths, mapped: the binary, the inventory volume, the ports.
    let free = || TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("addr").port();
    let (port, admin_port) = (free(), free());
    let args: Vec<String> = command[1..]
        .iter()
        .map(|arg| {
            arg.replace("0.0.0.0:8080", &format!("127.0.0.1:{port}"))
                .replace("0.0.0.0:9090", &format!("127.0.0.1:{admin_port}"))
        })
        .collect();
    assert!(args.iter().any(|arg| arg.contains(&port.to_string())), "the CMD listens on 8080: {args:?}");
    // Readable by anyone, writable by root alone: the container's user cannot write it.
    for path in [temp.path(), dir.as_path(), &dir.join("stores")] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut process = match user.as_deref().filter(|_| is_root() && has("setpriv")) {
        Some(user) => {
            let (uid, gid) = user.split_once(':').unwrap_or((user, user));
            let mut process = Command::new("setpriv");
            process.args([format!("--reuid={uid}"), format!("--regid={gid}"), "--clear-groups".into()]);
            process.arg(env!("CARGO_BIN_EXE_tessera"));
            process
        }
        None => {
            eprintln!("running as this user: switching to the image's USER needs root and setpriv");
            Command::new(env!("CARGO_BIN_EXE_tessera"))
        }
    };
    process.args(&args).envs(&env).env("TESSERA_INVENTORY", &dir).stdout(Stdio::null()).stderr(Stdio::piped());
    let before = listing(&dir);
    let mut server = process.spawn().expect("the container command starts");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = server.try_wait().expect("wait") {
            let mut said = String::new();
            let _ = server.stderr.take().expect("stderr").read_to_string(&mut said);
            panic!("the server exited ({status}): {said}");
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no answer on {port} within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let health = http_get(port, "/healthz");
    let landing = http_get(port, "/");
    let item = http_get(port, "/collections/geotessera-2024/items/2024_grid_0.85_49.95");
    let public_metrics = http_get(port, "/metrics");
    let admin_metrics = http_get(admin_port, "/metrics");
    let _ = server.kill();
    let _ = server.wait();
    let mut said = String::new();
    let _ = server.stderr.take().expect("stderr").read_to_string(&mut said);
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(landing.starts_with("HTTP/1.1 200") && landing.contains("\"conformsTo\""), "{landing}");
    assert!(item.starts_with("HTTP/1.1 200"), "{item}");
    assert!(public_metrics.starts_with("HTTP/1.1 404"), "metrics are for the operator: {public_metrics}");
    assert!(admin_metrics.starts_with("HTTP/1.1 200"), "on the admin port: {admin_metrics}");
    assert!(said.contains("GET /healthz 200"), "--access-log logs each request: {said}");
    assert_eq!(listing(&dir), before, "the server wrote nothing into the inventory");
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

fn has(tool: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|out| out.status.success())
}

/// The inventory's files and their lengths.
fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = walk(dir).into_iter().collect();
    files.sort();
    files
}

fn walk(dir: &Path) -> Vec<(String, u64)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push((path.display().to_string(), entry.metadata().map_or(0, |m| m.len())));
        }
    }
    files
}

fn http_get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply
}
