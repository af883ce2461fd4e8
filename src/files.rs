//! The files lookout is pointed at (rule files, exception and value lists), read the same way:
//! folders walked for files of given extensions, each real folder once and only regular files
//! kept (a FIFO, socket or device would block the reader or never end); a whole file read up to
//! a size limit; byte offsets turned into 1-based lines and character columns.

use std::fmt;
use std::path::{Path, PathBuf};

/// How deep folders are searched, so that a symlink loop cannot recurse forever.
pub const MAX_FOLDER_DEPTH: usize = 32;

/// What a walk found: the files to read, and the paths it passed over with why.
#[derive(Debug, Default)]
pub struct Walked {
    pub files: Vec<PathBuf>,
    /// What was named but cannot be read: a folder that cannot be listed or lies too deep, a
    /// path named itself that is not a regular file.
    pub errors: Vec<(PathBuf, String)>,
    /// Files of a wanted extension inside a folder that are not regular files, skipped.
    pub warnings: Vec<(PathBuf, String)>,
}

/// Finds the files under `paths` whose extension is one of `extensions` (a file named itself
/// is taken whatever its name). Each folder is entered once, by its real path, so a symlink
/// loop (or two links to the same folder) neither repeats files nor multiplies the walk.
pub fn walk(paths: &[PathBuf], extensions: &[&str]) -> Walked {
    let mut walk = Walk {
        extensions,
        found: Walked::default(),
        seen_folders: std::collections::HashSet::new(),
    };
    for path in paths {
        walk.visit(path, 0);
    }
    walk.found
}

/// The state of one walk: what was found, and which real folders were entered.
struct Walk<'a> {
    extensions: &'a [&'a str],
    found: Walked,
    seen_folders: std::collections::HashSet<PathBuf>,
}

impl Walk<'_> {
    fn visit(&mut self, path: &Path, depth: usize) {
        if !path.is_dir() {
            let wanted = depth == 0
                || (path.extension().and_then(|e| e.to_str()))
                    .is_some_and(|e| self.extensions.contains(&e));
            if wanted {
                self.add_file(path, depth);
            }
            return;
        }
        if depth > MAX_FOLDER_DEPTH {
            let message = format!("folder nested deeper than {MAX_FOLDER_DEPTH} levels, skipped");
            return self.found.errors.push((path.to_path_buf(), message));
        }
        if !self.first_visit(path) {
            return;
        }
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(error) => {
                let message = format!("cannot read folder: {error}");
                return self.found.errors.push((path.to_path_buf(), message));
            }
        };
        for entry in entries {
            match entry {
                Ok(entry) => self.visit(&entry.path(), depth + 1),
                Err(error) => {
                    let message = format!("cannot read folder: {error}");
                    self.found.errors.push((path.to_path_buf(), message));
                }
            }
        }
    }

    /// Keeps `path` when it is a regular file (symlinks followed). Anything else is skipped: a
    /// warning inside a folder, an error when the path was named itself. A path that cannot be
    /// examined is kept, so that reading it reports why.
    fn add_file(&mut self, path: &Path, depth: usize) {
        let kind = match std::fs::metadata(path) {
            Ok(metadata) if !metadata.is_file() => file_kind(&metadata),
            _ => return self.found.files.push(path.to_path_buf()),
        };
        let message = format!("not a regular file ({kind}), skipped");
        match depth {
            0 => self.found.errors.push((path.to_path_buf(), message)),
            _ => self.found.warnings.push((path.to_path_buf(), message)),
        }
    }

    /// Whether the real path (symlinks resolved) of a folder is new to this walk; a folder
    /// that cannot be resolved counts as new (reading it reports the problem).
    fn first_visit(&mut self, folder: &Path) -> bool {
        match std::fs::canonicalize(folder) {
            Ok(real) => self.seen_folders.insert(real),
            Err(_) => true,
        }
    }
}

fn file_kind(metadata: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = metadata.file_type();
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
    }
    let _ = metadata;
    "not a file"
}

/// Why a file was not read.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// It holds more than the limit, in bytes.
    TooLarge(u64),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(error) => write!(f, "cannot read: {error}"),
            ReadError::TooLarge(limit) => write!(f, "file is larger than {limit} bytes"),
        }
    }
}

/// A whole file of at most `limit` bytes (a stray huge file cannot exhaust memory).
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge(limit));
    }
    Ok(bytes)
}

/// The 1-based line and character column of a byte offset in `text` (clamped to the text).
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}
