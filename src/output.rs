//! Writing results: to stdout, or to a file that appears whole or not at all.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Where a command's main output goes.
pub enum Sink {
    Stdout(BufWriter<io::Stdout>),
    Device(BufWriter<File>),
    /// A temporary file beside the target, renamed over it on `finish`.
    File {
        temp: tempfile::NamedTempFile<BufWriter<File>>,
        target: PathBuf,
    },
}

impl Sink {
    pub fn open(path: Option<&Path>) -> anyhow::Result<Sink> {
        match path {
            None => Ok(Sink::Stdout(BufWriter::with_capacity(1 << 16, io::stdout()))),
            // A device or a pipe (`-o /dev/null`) is written in place: renaming
            // a temporary file over it would replace the device.
            Some(target) if target.exists() && !target.is_file() => {
                let file = File::options()
                    .write(true)
                    .open(target)
                    .with_context(|| format!("opening {}", target.display()))?;
                Ok(Sink::Device(BufWriter::with_capacity(1 << 16, file)))
            }
            Some(target) => {
                let dir = match target.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                let temp = tempfile::Builder::new()
                    .prefix(".trading-engine-")
                    .make_in(dir, |path| File::create(path).map(|f| BufWriter::with_capacity(1 << 16, f)))
                    .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
                Ok(Sink::File { temp, target: target.to_path_buf() })
            }
        }
    }

    /// Flushes and, for a file, moves it into place.
    pub fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::Stdout(mut out) => flush_stdout(&mut out),
            Sink::Device(mut out) => out.flush().context("writing the output"),
            Sink::File { mut temp, target } => {
                temp.as_file_mut().flush().with_context(|| format!("writing {}", target.display()))?;
                temp.persist(&target).with_context(|| format!("moving the output into {}", target.display()))?;
                Ok(())
            }
        }
    }
}

/// A closed pipe (`| head`) is not an error worth reporting.
fn flush_stdout(out: &mut BufWriter<io::Stdout>) -> anyhow::Result<()> {
    match out.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Stdout(out) => out.write(buf),
            Sink::Device(out) => out.write(buf),
            Sink::File { temp, .. } => temp.as_file_mut().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Stdout(out) => out.flush(),
            Sink::Device(out) => out.flush(),
            Sink::File { temp, .. } => temp.as_file_mut().flush(),
        }
    }
}
