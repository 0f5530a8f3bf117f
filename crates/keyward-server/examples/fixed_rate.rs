//! A fixed-rate HTTP load generator for `bench/run.sh` (wrk2 is not packaged in
//! Debian): sends `POST /v1/keys/verify` at a constant rate over keep-alive
//! connections and reports latency percentiles.
//!
//! Latency is measured from the moment a request was *scheduled*, not from when it was
//! sent, so a stall is not hidden by the client waiting for it (no coordinated
//! omission). Each of `--connections` threads owns one connection and every
//! `connections`-th slot of the schedule. The last ~200 µs before a slot are spun
//! rather than slept, so timer slack does not count as server latency.
//!
//! ```text
//! fixed_rate --addr 127.0.0.1:8080 --token TOKEN --keys keys.txt --rate 1000 --duration 10
//! ```
//! Std only; HTTP/1.1 with `Content-Length` responses, which is what Keyward sends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

struct Options {
    addr: String,
    token: String,
    keys: Vec<String>,
    rate: f64,
    duration: Duration,
    connections: usize,
    permission: String,
}

fn usage() -> ! {
    eprintln!("usage: fixed_rate --addr HOST:PORT --token TOKEN --keys FILE [--rate 1000] [--duration 10] [--connections 4] [--permission keys:read]");
    std::process::exit(2)
}

fn options() -> Options {
    let mut args = std::env::args().skip(1);
    let (mut addr, mut token, mut keys_file) = (None, None, None);
    let (mut rate, mut duration, mut connections) = (1000.0, 10.0, 4usize);
    let mut permission = "keys:read".to_owned();
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--addr" => addr = Some(value()),
            "--token" => token = Some(value()),
            "--keys" => keys_file = Some(value()),
            "--rate" => rate = value().parse().unwrap_or_else(|_| usage()),
            "--duration" => duration = value().parse().unwrap_or_else(|_| usage()),
            "--connections" => connections = value().parse().unwrap_or_else(|_| usage()),
            "--permission" => permission = value(),
            _ => usage(),
        }
    }
    let keys_file = keys_file.unwrap_or_else(|| usage());
    let keys: Vec<String> = std::fs::read_to_string(&keys_file)
        .unwrap_or_else(|e| {
            eprintln!("cannot read {keys_file}: {e}");
            std::process::exit(2)
        })
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect();
    if keys.is_empty() || rate <= 0.0 || connections == 0 {
        usage();
    }
    Options {
        addr: addr.unwrap_or_else(|| usage()),
        token: token.unwrap_or_else(|| usage()),
        keys,
        rate,
        duration: Duration::from_secs_f64(duration),
        connections,
        permission,
    }
}

fn request(o: &Options, key: &str) -> Vec<u8> {
    let body = format!(r#"{{"key":"{key}","permission":"{}"}}"#, o.permission);
    format!(
        "POST /v1/keys/verify HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        o.addr,
        o.token,
        body.len()
    )
    .into_bytes()
}

/// Reads one response; returns whether it was a 200 whose body says `"valid":true`.
fn read_response(reader: &mut BufReader<TcpStream>, line: &mut String) -> std::io::Result<bool> {
    line.clear();
    reader.read_line(line)?;
    let ok_status = line.starts_with("HTTP/1.1 200");
    let mut length = 0usize;
    loop {
        line.clear();
        if reader.read_line(line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let valid = body.windows(12).any(|w| w == br#""valid":true"#);
    Ok(ok_status && valid)
}

fn wait_until(t: Instant) {
    let now = Instant::now();
    if t > now + Duration::from_micros(300) {
        std::thread::sleep(t - now - Duration::from_micros(200));
    }
    while Instant::now() < t {
        std::hint::spin_loop();
    }
}

struct Outcome {
    latencies: Vec<Duration>,
    failures: usize,
}

fn worker(o: &Options, index: usize, start: Instant) -> Outcome {
    let stream = TcpStream::connect(&o.addr).unwrap_or_else(|e| {
        eprintln!("cannot connect to {}: {e}", o.addr);
        std::process::exit(1)
    });
    stream.set_nodelay(true).expect("nodelay");
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    let period = Duration::from_secs_f64(1.0 / o.rate);
    let total = (o.duration.as_secs_f64() * o.rate) as usize;
    let mut out = Outcome {
        latencies: Vec::with_capacity(total / o.connections + 1),
        failures: 0,
    };
    let mut line = String::new();
    let mut slot = index;
    while slot < total {
        let scheduled = start + period * slot as u32;
        // Formatted before the slot, so it is not part of the measured latency; not
        // prepared for all keys up front, as `bench/run.sh --hot` passes a million.
        let req = request(o, &o.keys[slot % o.keys.len()]);
        wait_until(scheduled);
        let ok = writer
            .write_all(&req)
            .and_then(|_| read_response(&mut reader, &mut line));
        match ok {
            Ok(true) => out.latencies.push(scheduled.elapsed()),
            Ok(false) => out.failures += 1,
            Err(e) => {
                eprintln!("connection {index}: {e}");
                out.failures += 1;
                break;
            }
        }
        slot += o.connections;
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn main() {
    let o = options();
    // Give every connection time to open before the first slot.
    let start = Instant::now() + Duration::from_millis(50);
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..o.connections)
            .map(|i| {
                let o = &o;
                s.spawn(move || worker(o, i, start))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let failures: usize = outcomes.iter().map(|o| o.failures).sum();
    let mut all: Vec<Duration> = outcomes.into_iter().flat_map(|o| o.latencies).collect();
    all.sort_unstable();
    println!(
        "fixed-rate: {} ok, {} failed, {:.0} req/s achieved (target {:.0})",
        all.len(),
        failures,
        all.len() as f64 / elapsed,
        o.rate
    );
    println!(
        "latency ms: p50 {:.3} p90 {:.3} p99 {:.3} p99.9 {:.3} max {:.3}",
        percentile(&all, 50.0),
        percentile(&all, 90.0),
        percentile(&all, 99.0),
        percentile(&all, 99.9),
        percentile(&all, 100.0)
    );
    if failures > 0 {
        std::process::exit(1);
    }
}
