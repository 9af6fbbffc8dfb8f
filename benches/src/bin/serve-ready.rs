//! Time from `exec` to the first answered request, and the resident memory then.
//!
//! Usage: `serve-ready HOST:PORT PATH -- COMMAND [ARGS...]`. Spawns the command, sends
//! `GET PATH` to HOST:PORT every 0.2 ms until it answers 200, prints the elapsed time and the
//! process's VmRSS, then stops it with SIGTERM (and reports how long it took to exit).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(addr), Some(path), Some(dash)) = (args.first(), args.get(1), args.iter().position(|a| a == "--")) else {
        return Err("usage: serve-ready HOST:PORT PATH -- COMMAND [ARGS...]".into());
    };
    let command = &args[dash + 1..];
    let started = Instant::now();
    let mut child =
        Command::new(&command[0]).args(&command[1..]).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    let ready = loop {
        if answers(addr, path) {
            break started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            return Err("the server did not answer within 30 s".into());
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))?;
    let rss = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: ?").to_owned();
    let stopping = Instant::now();
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status()?;
    let exit = child.wait()?;
    println!(
        "ready in {:.1} ms; {}; SIGTERM -> exit ({exit}) in {:.1} ms",
        ready.as_secs_f64() * 1e3,
        rss.split_whitespace().collect::<Vec<_>>().join(" "),
        stopping.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

fn answers(addr: &str, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else { return false };
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && &head[9..12] == b"200"
}
