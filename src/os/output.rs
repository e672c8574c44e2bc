//! Report files written atomically: a reader sees the old report or the new one,
//! never half of one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// A report file in the making: a temporary file beside the target, created when the
/// snapshot starts (proving the directory is writable) and renamed over the target
/// when the report is done.
pub struct ReportFile {
    path: PathBuf,
    tmp_path: PathBuf,
    file: Option<File>,
    committed: bool,
}

impl ReportFile {
    pub fn create(path: &Path) -> Result<ReportFile, Error> {
        let err = |source| Error::Output {
            path: path.display().to_string(),
            source,
        };
        if path.is_dir() {
            return Err(err(std::io::Error::other("is a directory")));
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .ok_or_else(|| err(std::io::Error::other("not a file name")))?;
        let tmp_path = dir.join(format!(
            ".{}.netflow-{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp_path)
            .map_err(err)?;
        Ok(ReportFile {
            path: path.to_path_buf(),
            tmp_path,
            file: Some(file),
            committed: false,
        })
    }

    /// Writes the bytes, syncs them to disk and moves the file into place.
    pub fn commit(mut self, bytes: &[u8]) -> Result<(), Error> {
        let err = |source| Error::Output {
            path: self.path.display().to_string(),
            source,
        };
        let mut file = self.file.take().expect("commit runs once");
        // Reports are for other programs to read: 0644 whatever the umask.
        file.set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(err)?;
        file.write_all(bytes).map_err(err)?;
        file.sync_all().map_err(err)?;
        fs::rename(&self.tmp_path, &self.path).map_err(err)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for ReportFile {
    /// An unfinished report (cancelled, or its write failed) leaves nothing behind.
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}
