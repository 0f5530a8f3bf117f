//! The key file: text, `#` comments and blank lines kept, `active = ID` and `ID = BASE64`
//! lines, mode 0600. Rewrites are atomic (a 0600 temporary file in the same directory,
//! then a rename).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use crate::error::RingError;
use crate::kek::{check_id, decode_kek, encode_kek, generate_kek, generate_kek_id};
use crate::ring::Ring;

/// The first line of every key file Keyward writes.
pub const KEY_FILE_HEADER: &str =
    "# Keyward key-encryption keys. Keep this file secret; it must stay mode 0600.";

enum Line {
    /// A comment or blank line, kept as it was.
    Text(String),
    Active(String),
    Kek {
        id: String,
        key: Zeroizing<String>,
        line: usize,
    },
}

struct KeyFile {
    lines: Vec<Line>,
}

impl KeyFile {
    fn read(path: &Path) -> Result<KeyFile, RingError> {
        let mut file = File::open(path).map_err(|e| RingError::io(path, e))?;
        check_mode(path, &file)?;
        let mut text = Zeroizing::new(String::new());
        file.read_to_string(&mut text)
            .map_err(|e| RingError::io(path, e))?;
        KeyFile::parse(path, &text)
    }

    fn parse(path: &Path, text: &str) -> Result<KeyFile, RingError> {
        let mut lines = Vec::new();
        let syntax = |n: usize, what: &str| RingError::Syntax {
            origin: format!("{} line {n}", path.display()),
            what: what.to_string(),
        };
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                lines.push(Line::Text(raw.to_string()));
                continue;
            }
            let (name, value) = trimmed
                .split_once('=')
                .ok_or_else(|| syntax(n, "expected `ID = BASE64` or `active = ID`"))?;
            let (name, value) = (name.trim(), value.trim());
            let origin = format!("{} line {n}", path.display());
            if name == "active" {
                if lines.iter().any(|l| matches!(l, Line::Active(_))) {
                    return Err(syntax(n, "`active` is set twice"));
                }
                check_id(value, &origin)?;
                lines.push(Line::Active(value.to_string()));
            } else {
                check_id(name, &origin)?;
                if value.is_empty() {
                    return Err(syntax(
                        n,
                        &format!("the key-encryption key {name} has no key"),
                    ));
                }
                lines.push(Line::Kek {
                    id: name.to_string(),
                    key: Zeroizing::new(value.into()),
                    line: n,
                });
            }
        }
        Ok(KeyFile { lines })
    }

    fn ids(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter_map(|l| match l {
            Line::Kek { id, .. } => Some(id.as_str()),
            _ => None,
        })
    }

    /// The id on the `active` line, else the first key's.
    fn active(&self) -> Option<&str> {
        let explicit = self.lines.iter().find_map(|l| match l {
            Line::Active(id) => Some(id.as_str()),
            _ => None,
        });
        explicit.or_else(|| self.ids().next())
    }

    fn to_ring(&self, path: &Path) -> Result<Ring, RingError> {
        let mut keks = Vec::new();
        for l in &self.lines {
            if let Line::Kek { id, key, line } = l {
                let origin = format!("{} line {line}", path.display());
                keks.push((id.clone(), decode_kek(id, key, &origin)?));
            }
        }
        let active = self.active().unwrap_or_default().to_string();
        Ring::from_zeroizing(keks, &active, &path.display().to_string())
    }

    fn set_active(&mut self, kek_id: &str) {
        if let Some(l) = self.lines.iter_mut().find(|l| matches!(l, Line::Active(_))) {
            *l = Line::Active(kek_id.to_string());
        } else {
            let at = self
                .lines
                .iter()
                .position(|l| matches!(l, Line::Kek { .. }));
            self.lines.insert(
                at.unwrap_or(self.lines.len()),
                Line::Active(kek_id.to_string()),
            );
        }
    }

    fn render(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        for l in &self.lines {
            match l {
                Line::Text(t) => out.push_str(t),
                Line::Active(id) => {
                    out.push_str("active = ");
                    out.push_str(id);
                }
                Line::Kek { id, key, .. } => {
                    out.push_str(id);
                    out.push_str(" = ");
                    out.push_str(key);
                }
            }
            out.push('\n');
        }
        out
    }

    /// Checks that the result still makes a ring, then replaces the file atomically.
    fn write(&self, path: &Path) -> Result<(), RingError> {
        self.to_ring(path)?;
        write_atomically(path, &self.render())
    }
}

/// Refuses a key file that group or others may read or write.
#[cfg(unix)]
fn check_mode(path: &Path, file: &File) -> Result<(), RingError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file
        .metadata()
        .map_err(|e| RingError::io(path, e))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o077 != 0 {
        return Err(RingError::InsecureFile {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_path: &Path, _file: &File) -> Result<(), RingError> {
    Ok(())
}

/// Opens a new file readable and writable by its owner only; fails if it exists.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn write_atomically(path: &Path, contents: &str) -> Result<(), RingError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut r = [0u8; 6];
    crate::crypto::random(&mut r);
    let tmp = dir.join(format!(".{name}.{}.tmp", hex::encode(r)));
    let result = (|| {
        let mut file = create_private(&tmp)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(RingError::io(path, e));
    }
    // Make the rename itself durable where the platform allows it.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The ring in the key file at `path`.
pub(crate) fn load_key_file(path: &Path) -> Result<Ring, RingError> {
    KeyFile::read(path)?.to_ring(path)
}

/// Creates the key file at `path` (which must not exist) with one fresh, active key.
pub(crate) fn create_key_file(path: &Path, now: DateTime<Utc>) -> Result<Ring, RingError> {
    let id = generate_kek_id(now);
    let key = Zeroizing::new(generate_kek());
    let contents = Zeroizing::new(format!(
        "{KEY_FILE_HEADER}\n# Created by Keyward on {}. Losing it makes the stored secrets unreadable: back it up.\nactive = {id}\n{id} = {}\n",
        now.format("%Y-%m-%d"),
        *Zeroizing::new(encode_kek(&key)),
    ));
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir).map_err(|e| RingError::io(dir, e))?;
    }
    let mut file = create_private(path).map_err(|e| RingError::io(path, e))?;
    let written = file
        .write_all(contents.as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        drop(file);
        let _ = fs::remove_file(path);
        return Err(RingError::io(path, e));
    }
    Ring::new(vec![(id.clone(), *key)], &id)
}

/// Adds a fresh key to the key file at `path`, making it the active one if `make_active`;
/// returns its id. Comments and the other lines stay as they were.
pub fn add_to_key_file(
    path: &Path,
    now: DateTime<Utc>,
    make_active: bool,
) -> Result<String, RingError> {
    let mut kf = KeyFile::read(path)?;
    let id = loop {
        let id = generate_kek_id(now);
        if !kf.ids().any(|other| other == id) {
            break id;
        }
    };
    let key = Zeroizing::new(encode_kek(&Zeroizing::new(generate_kek())));
    let at = kf
        .lines
        .iter()
        .rposition(|l| matches!(l, Line::Kek { .. }))
        .map_or(kf.lines.len(), |i| i + 1);
    kf.lines.insert(
        at,
        Line::Kek {
            id: id.clone(),
            key,
            line: at + 1,
        },
    );
    if make_active {
        kf.set_active(&id);
    }
    kf.write(path)?;
    Ok(id)
}

/// Removes the key `kek_id` from the key file; refuses the active one.
pub fn retire_from_key_file(path: &Path, kek_id: &str) -> Result<(), RingError> {
    let mut kf = KeyFile::read(path)?;
    if !kf.ids().any(|id| id == kek_id) {
        return Err(RingError::NotInFile {
            id: kek_id.to_string(),
            path: path.to_path_buf(),
        });
    }
    if kf.active() == Some(kek_id) {
        return Err(RingError::RetireActive {
            id: kek_id.to_string(),
            path: path.to_path_buf(),
        });
    }
    kf.lines
        .retain(|l| !matches!(l, Line::Kek { id, .. } if id == kek_id));
    kf.write(path)
}

/// Makes `kek_id`, which must be in the key file, the active key.
pub fn set_active_in_key_file(path: &Path, kek_id: &str) -> Result<(), RingError> {
    let mut kf = KeyFile::read(path)?;
    if !kf.ids().any(|id| id == kek_id) {
        return Err(RingError::NotInFile {
            id: kek_id.to_string(),
            path: path.to_path_buf(),
        });
    }
    kf.set_active(kek_id);
    kf.write(path)
}

#[cfg(all(test, unix))]
mod tests;
