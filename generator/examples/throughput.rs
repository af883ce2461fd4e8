//! Measures the CloudTrail generator: documents per second and bytes per second for building and
//! serialising N documents (default 100,000) into a sink. Run it in release mode:
//!
//! ```sh
//! cargo run --release -p lookout-generator --example throughput -- 100000
//! ```

use chrono::{DateTime, Utc};
use lookout_generator::{Generator, GeneratorConfig};
use std::io::Write;
use std::time::Instant;

/// How many documents when no count is given.
const DEFAULT_COUNT: u64 = 100_000;

/// Counts the bytes written through it.
struct CountingSink(u64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let count = match std::env::args().nth(1) {
        Some(text) => text.parse()?,
        None => DEFAULT_COUNT,
    };
    let start: DateTime<Utc> = "2024-05-01T00:00:00Z".parse()?;
    let end: DateTime<Utc> = "2024-05-02T00:00:00Z".parse()?;
    let generator = Generator::new(GeneratorConfig::new(7, start, end, count))?;
    let mut sink = CountingSink(0);
    let began = Instant::now();
    for doc in generator.documents() {
        serde_json::to_writer(&mut sink, &doc)?;
        sink.write_all(b"\n")?;
    }
    let seconds = began.elapsed().as_secs_f64();
    println!(
        "{count} documents, {:.1} MB in {seconds:.2} s: {:.0} documents/s, {:.1} MB/s",
        sink.0 as f64 / 1e6,
        count as f64 / seconds,
        sink.0 as f64 / 1e6 / seconds
    );
    Ok(())
}
