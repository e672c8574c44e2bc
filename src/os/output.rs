//! Files netflow creates, as root, in directories other users may write to.
//!
//! Owns how an output reaches its name: every check runs before anything existing is
//! touched; a new file is born unnamed (O_TMPFILE) with its final mode and is linked in
//! and renamed over its name only when complete, so an interrupted or killed netflow
//! leaves nothing behind and a planted file is never written through. Where a
//! filesystem has no O_TMPFILE, a short hidden temporary name stands in; a later run
//! removes those of dead netflow processes. Does not decide what goes in a file.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat, CWD};
use rustix::io::Errno;

use crate::error::Error;
use crate::os::signals::{self, AbortHook};

/// Where a path leads: its directory (held open, so a renamed or swapped parent cannot
/// redirect the final rename) and the last component, looked at without following it.
#[derive(Debug)]
pub struct Place {
    shown: PathBuf,
    dir: OwnedFd,
    dir_id: (u64, u64),
    name: OsString,
    existing: Option<Stat>,
}

impl Place {
    /// Opens the directory of `path` and looks at what is at `path` today.
    pub fn of(path: &Path) -> Result<Place, Error> {
        let err = |e: io::Error| output_error(path, e);
        let raw = path.as_os_str().as_bytes();
        // `Path` drops a trailing `/` or `/.`, which would turn `file/.` into `file`.
        if raw.ends_with(b"/")
            || raw.ends_with(b"/.")
            || raw.ends_with(b"/..")
            || raw == b"."
            || raw == b".."
        {
            return Err(err(io::Error::other("names a directory, not a file")));
        }
        let name = match path.file_name() {
            Some(n) => n.to_owned(),
            None => return Err(err(io::Error::other("names a directory, not a file"))),
        };
        let dir_path = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = open_dir_trusted(dir_path).map_err(|e| match e {
            Walk::Io(e) => err(e),
            Walk::Redirected { link, uid } => err(io::Error::other(format!(
                "goes through `{}`, a symbolic link of uid {uid}, who could point it anywhere (name the real directory)",
                link.display()
            ))),
        })?;
        let dir_stat = rfs::fstat(&dir).map_err(|e| err(e.into()))?;
        let existing = match rfs::statat(&dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Some(stat),
            Err(Errno::NOENT) => None,
            Err(e) => return Err(err(e.into())),
        };
        Ok(Place {
            shown: path.to_path_buf(),
            dir,
            dir_id: (dir_stat.st_dev, dir_stat.st_ino),
            name,
            existing,
        })
    }

    /// The file type of what is there now, if anything.
    fn kind(&self) -> Option<FileType> {
        self.existing
            .as_ref()
            .map(|s| FileType::from_raw_mode(s.st_mode))
    }

    /// Whether two places name the same file: one directory and name (however each path
    /// was spelled), or two names of one existing file.
    pub fn same_file(&self, other: &Place) -> bool {
        if self.dir_id == other.dir_id && self.name == other.name {
            return true;
        }
        match (&self.existing, &other.existing) {
            (Some(a), Some(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
            _ => false,
        }
    }

    /// Refuses what a new file may not replace: only nothing, or a regular file, will do.
    fn check_replaceable(&self) -> Result<(), Error> {
        match self.kind() {
            None | Some(FileType::RegularFile) => Ok(()),
            Some(kind) => Err(self.refuse(not_a_file(kind))),
        }
    }

    /// As [`Place::check_replaceable`], and an existing file must be the invoking user's
    /// own with no other hard link: a file another user planted (in /tmp, say) keeps its
    /// owner and mode if written through, and a hard link would carry root's data to
    /// another name.
    fn check_private(&self) -> Result<(), Error> {
        self.check_replaceable()?;
        let Some(stat) = &self.existing else {
            return Ok(());
        };
        let uid = rustix::process::getuid().as_raw();
        if stat.st_uid != uid {
            return Err(self.refuse(format!(
                "exists and belongs to uid {} (netflow replaces only files of uid {uid}; remove it or pick another name)",
                stat.st_uid
            )));
        }
        if stat.st_nlink != 1 {
            return Err(self.refuse(format!(
                "has {} hard links (netflow replaces only a file with one name)",
                stat.st_nlink
            )));
        }
        Ok(())
    }

    fn refuse(&self, why: String) -> Error {
        output_error(&self.shown, io::Error::other(why))
    }

    pub fn path(&self) -> &Path {
        &self.shown
    }
}

fn not_a_file(kind: FileType) -> String {
    let what = match kind {
        FileType::Symlink => "a symbolic link (name the file it points to)",
        FileType::Directory => "a directory",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        _ => "not a regular file",
    };
    format!("is {what}")
}

fn output_error(path: &Path, source: io::Error) -> Error {
    Error::Output {
        path: path.display().to_string(),
        source,
    }
}

/// Why a directory could not be opened.
enum Walk {
    Io(io::Error),
    /// A symbolic link on the way belongs to someone else: it could send root's output
    /// into any directory (`/tmp/alice/reports -> /root`).
    Redirected {
        link: PathBuf,
        uid: u32,
    },
}

impl From<Errno> for Walk {
    fn from(e: Errno) -> Walk {
        Walk::Io(e.into())
    }
}

/// Symbolic links followed on the way to a directory, at most (as the kernel's 40).
const MAX_LINKS: usize = 40;

/// Opens a directory one component at a time, each relative to the last (so nothing
/// can be swapped between steps), following only symbolic links that belong to root or
/// to the invoking user. The kernel's `protected_symlinks` covers only sticky,
/// world-writable directories; a link in a user's own directory would otherwise steer
/// root anywhere.
fn open_dir_trusted(dir: &Path) -> Result<OwnedFd, Walk> {
    let uid = rustix::process::getuid().as_raw();
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut at = if dir.is_absolute() {
        rfs::open("/", dir_flags, Mode::empty())?
    } else {
        rfs::open(".", dir_flags, Mode::empty())?
    };
    let mut walked = if dir.is_absolute() {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    };
    let mut todo: Vec<OsString> = components(dir.as_os_str().as_bytes());
    let mut links = 0;
    while let Some(part) = todo.pop() {
        if part.is_empty() {
            // An absolute link target: start again at the root.
            at = rfs::open("/", dir_flags, Mode::empty())?;
            walked = PathBuf::from("/");
            continue;
        }
        let next = rfs::openat(
            &at,
            part.as_os_str(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let stat = rfs::fstat(&next)?;
        walked.push(&part);
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::Directory => at = next,
            FileType::Symlink => {
                if stat.st_uid != 0 && stat.st_uid != uid {
                    return Err(Walk::Redirected {
                        link: walked,
                        uid: stat.st_uid,
                    });
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(Walk::Io(Errno::LOOP.into()));
                }
                let target = rfs::readlinkat(&next, "", Vec::new())?;
                todo.extend(components(target.as_bytes()));
                walked.pop();
            }
            _ => return Err(Walk::Io(Errno::NOTDIR.into())),
        }
    }
    Ok(at)
}

/// A path's components, last first (a stack); an absolute path ends with an empty
/// component that means "the root".
fn components(path: &[u8]) -> Vec<OsString> {
    let mut parts: Vec<OsString> = path
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty() && *p != b".")
        .map(|p| OsStr::from_bytes(p).to_owned())
        .collect();
    if path.starts_with(b"/") {
        parts.insert(0, OsString::new());
    }
    parts.reverse();
    parts
}

/// Temporary names made by this process, so each is new.
static TEMP_SEQ: AtomicU32 = AtomicU32::new(0);

/// The prefix of every temporary name; `remove_stale` knows it.
const TEMP_PREFIX: &str = ".netflow-";

/// A new file, not yet visible under its name: created with its final mode, written,
/// then [`NewFile::commit`]ted (synced, linked in, renamed over the name). Dropped
/// uncommitted, it vanishes.
#[derive(Debug)]
pub struct NewFile {
    place: Place,
    file: File,
    /// The hidden name it has until committed, where the filesystem has no O_TMPFILE.
    temp_name: Option<OsString>,
    /// Removes that name if netflow exits abruptly (a second Ctrl-C).
    _abort: Option<AbortHook>,
}

impl NewFile {
    /// Creates the file in `place`'s directory with `mode` (whatever the umask).
    pub fn create(place: Place, mode: u32) -> Result<NewFile, Error> {
        let mode = Mode::from_raw_mode(mode);
        remove_stale(&place.dir);
        let unnamed = rfs::openat(
            &place.dir,
            ".",
            // Read and write: a capture is read back to convert it to pcapng.
            OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
            mode,
        );
        let (fd, temp_name) = match unnamed {
            Ok(fd) => (fd, None),
            // Filesystems without O_TMPFILE say so in one of these ways.
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOENT) => {
                let name = temp_name();
                let fd = rfs::openat(
                    &place.dir,
                    name.as_os_str(),
                    OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::RDWR
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    mode,
                )
                .map_err(|e| output_error(&place.shown, e.into()))?;
                (fd, Some(name))
            }
            Err(e) => return Err(output_error(&place.shown, e.into())),
        };
        let abort = temp_name
            .as_ref()
            .and_then(|name| removal_on_abort(&place.dir, name));
        // Held until netflow exits: a later run's sweep removes only temporaries it can
        // lock, so a live netflow's file (in another pid namespace, or on another host
        // sharing an NFS directory) is never taken for a dead one's.
        let _ = rfs::flock(&fd, rfs::FlockOperation::NonBlockingLockExclusive);
        let new = NewFile {
            file: File::from(fd),
            place,
            temp_name,
            _abort: abort,
        };
        rfs::fchmod(&new.file, mode).map_err(|e| output_error(&new.place.shown, e.into()))?;
        Ok(new)
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn path(&self) -> &Path {
        &self.place.shown
    }

    /// Syncs the file and puts it in place of whatever its name held.
    pub fn commit(self) -> io::Result<()> {
        let name = self.place.name.clone();
        self.commit_as(&name)
    }

    /// Syncs the file and gives it `name` in the same directory instead of its own.
    pub fn commit_as(mut self, name: &OsStr) -> io::Result<()> {
        self.file.sync_all()?;
        let temp = match self.temp_name.take() {
            Some(temp) => temp,
            None => {
                let temp = temp_name();
                // Between the link and the rename the file has a name: an abrupt exit
                // right then must not leave it.
                self._abort = removal_on_abort(&self.place.dir, &temp);
                link_unnamed(&self.file, &self.place.dir, &temp)?;
                temp
            }
        };
        let renamed = rfs::renameat(&self.place.dir, temp.as_os_str(), &self.place.dir, name);
        if let Err(e) = renamed {
            let _ = rfs::unlinkat(&self.place.dir, temp.as_os_str(), AtFlags::empty());
            return Err(e.into());
        }
        Ok(())
    }

    /// Links the file in as `name` only if nothing has that name (never replaces).
    pub fn keep_as_new(mut self, name: &OsStr) -> io::Result<()> {
        self.file.sync_all()?;
        match self.temp_name.take() {
            Some(temp) => {
                let linked = rfs::linkat(
                    &self.place.dir,
                    temp.as_os_str(),
                    &self.place.dir,
                    name,
                    AtFlags::empty(),
                );
                let _ = rfs::unlinkat(&self.place.dir, temp.as_os_str(), AtFlags::empty());
                linked.map_err(io::Error::from)
            }
            None => link_unnamed(&self.file, &self.place.dir, name),
        }
    }
}

impl Drop for NewFile {
    /// An uncommitted file leaves nothing behind.
    fn drop(&mut self) {
        if let Some(temp) = &self.temp_name {
            let _ = rfs::unlinkat(&self.place.dir, temp.as_os_str(), AtFlags::empty());
        }
    }
}

/// Unlinks `name` in `dir` if netflow exits abruptly while the hook lives.
fn removal_on_abort(dir: &OwnedFd, name: &OsStr) -> Option<AbortHook> {
    let dir = dir.try_clone().ok()?;
    let name = name.to_owned();
    Some(signals::on_abort(move || {
        let _ = rfs::unlinkat(&dir, name.as_os_str(), AtFlags::empty());
    }))
}

/// Gives an O_TMPFILE file a name. AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the
/// /proc/self/fd link works for anyone who opened the file.
fn link_unnamed(file: &File, dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    match rfs::linkat(file.as_fd(), "", dir, name, AtFlags::EMPTY_PATH) {
        Ok(()) => Ok(()),
        Err(Errno::NOENT | Errno::PERM | Errno::ACCESS) => {
            let link = format!("/proc/self/fd/{}", file.as_raw_fd());
            rfs::linkat(CWD, link.as_str(), dir, name, AtFlags::SYMLINK_FOLLOW)
                .map_err(io::Error::from)
        }
        Err(e) => Err(e.into()),
    }
}

/// A short hidden name: the target's own name could make it too long for the
/// filesystem, and the pid lets a later run tell whose it was.
fn temp_name() -> OsString {
    let n = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
    OsString::from(format!("{TEMP_PREFIX}{}-{n}.tmp", std::process::id()))
}

/// Removes temporary files left in `dir` by netflow processes that are gone (killed
/// before they could clean up): only regular files of ours, named as we name them, that
/// no live netflow holds locked.
fn remove_stale(dir: &OwnedFd) {
    // `dir` is an O_PATH descriptor, which cannot list entries.
    let listable = rfs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    );
    let Ok(entries) = listable.and_then(rfs::Dir::read_from) else {
        return;
    };
    let uid = rustix::process::geteuid().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name().to_bytes();
        if stale_pid(name).is_none() {
            continue;
        }
        let name = OsStr::from_bytes(name);
        let Ok(fd) = rfs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            continue;
        };
        let ours = rfs::fstat(&fd).is_ok_and(|s| {
            s.st_uid == uid && FileType::from_raw_mode(s.st_mode) == FileType::RegularFile
        });
        let abandoned = rfs::flock(&fd, rfs::FlockOperation::NonBlockingLockExclusive).is_ok();
        if ours && abandoned {
            let _ = rfs::unlinkat(dir, name, AtFlags::empty());
        }
    }
}

/// The pid in a temporary name `.netflow-PID-N.tmp`.
fn stale_pid(name: &[u8]) -> Option<u32> {
    let rest = name.strip_prefix(TEMP_PREFIX.as_bytes())?;
    let rest = rest.strip_suffix(b".tmp")?;
    let (pid, seq) = std::str::from_utf8(rest).ok()?.split_once('-')?;
    seq.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// Where the report goes with `-o`.
#[derive(Debug)]
pub enum ReportTarget {
    /// A character device (`/dev/null`, a terminal), written straight into.
    Device { path: PathBuf, file: File },
    /// A FIFO: opened for writing only when the report is ready (opening blocks until
    /// a reader comes), and checked to still be a FIFO then.
    Fifo(Place),
    /// A regular file or a new name: a new file renamed over it, mode 0644.
    Replace(NewFile),
}

/// Reports are for other programs to read.
const REPORT_MODE: u32 = 0o644;
/// Captures hold payloads.
pub const CAPTURE_MODE: u32 = 0o600;

impl ReportTarget {
    /// What `-o` may do with `place`; fails (exit 2) for anything but a character
    /// device, a FIFO, a regular file or a new name.
    pub fn check(place: &Place) -> Result<(), Error> {
        match place.kind() {
            Some(FileType::CharacterDevice | FileType::Fifo) => Ok(()),
            _ => place.check_replaceable(),
        }
    }

    pub fn create(place: Place) -> Result<ReportTarget, Error> {
        ReportTarget::check(&place)?;
        match place.kind() {
            Some(FileType::CharacterDevice) => {
                let fd = rfs::openat(
                    &place.dir,
                    place.name.as_os_str(),
                    OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| output_error(&place.shown, e.into()))?;
                let file = File::from(fd);
                if !is_kind(&file, FileType::CharacterDevice) {
                    return Err(place.refuse("changed while netflow opened it".into()));
                }
                Ok(ReportTarget::Device {
                    path: place.shown,
                    file,
                })
            }
            Some(FileType::Fifo) => Ok(ReportTarget::Fifo(place)),
            _ => {
                // A report replacing one keeps its mode and owner: a 0600 report (full
                // command lines, on a host with hidepid) must not become world-readable.
                let kept = place
                    .existing
                    .as_ref()
                    .map(|s| (s.st_mode & 0o7777, s.st_uid, s.st_gid));
                let new = NewFile::create(place, kept.map_or(REPORT_MODE, |(mode, ..)| mode))?;
                if let Some((_, uid, gid)) = kept {
                    // Best effort: only root may give a file away.
                    let _ = rfs::fchown(
                        new.file(),
                        Some(rustix::process::Uid::from_raw(uid)),
                        Some(rustix::process::Gid::from_raw(gid)),
                    );
                }
                Ok(ReportTarget::Replace(new))
            }
        }
    }

    /// Writes the report and, for a file, puts it in place.
    pub fn commit(self, bytes: &[u8]) -> Result<(), Error> {
        match self {
            ReportTarget::Device { path, mut file } => {
                file.write_all(bytes).map_err(|e| output_error(&path, e))
            }
            ReportTarget::Fifo(place) => {
                let fd =
                    open_fifo_reader_waits(&place).map_err(|e| output_error(&place.shown, e))?;
                let mut file = File::from(fd);
                if !is_kind(&file, FileType::Fifo) {
                    return Err(place.refuse("is no longer a FIFO".into()));
                }
                file.write_all(bytes)
                    .map_err(|e| output_error(&place.shown, e))
            }
            ReportTarget::Replace(new) => {
                let path = new.path().to_path_buf();
                let mut file = new.file();
                file.write_all(bytes).map_err(|e| output_error(&path, e))?;
                new.commit().map_err(|e| output_error(&path, e))
            }
        }
    }
}

/// How long a finished report waits for a FIFO's reader to appear.
const FIFO_READER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens a FIFO for writing once it has a reader, waiting at most
/// [`FIFO_READER_WAIT`]: a plain open would block forever on a FIFO nobody reads.
fn open_fifo_reader_waits(place: &Place) -> io::Result<OwnedFd> {
    let flags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let deadline = std::time::Instant::now() + FIFO_READER_WAIT;
    loop {
        match rfs::openat(&place.dir, place.name.as_os_str(), flags, Mode::empty()) {
            Ok(fd) => {
                // A reader is there: from now on, writes may wait for it.
                rfs::fcntl_setfl(&fd, OFlags::WRONLY)?;
                return Ok(fd);
            }
            Err(Errno::NXIO) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(Errno::NXIO) => {
                return Err(io::Error::other(format!(
                    "a FIFO that nobody read for {} s",
                    FIFO_READER_WAIT.as_secs()
                )))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn is_kind(file: &File, kind: FileType) -> bool {
    rfs::fstat(file).is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == kind)
}

/// The `-w` capture: a new private file (mode 0600) that replaces only a regular file of
/// the invoking user with one link; anything else is refused before capture (exit 2).
pub fn check_capture_target(place: &Place) -> Result<(), Error> {
    place.check_private()
}

/// Creates the capture file for `place` (see [`check_capture_target`]).
pub fn create_capture(place: Place) -> Result<NewFile, Error> {
    place.check_private()?;
    NewFile::create(place, CAPTURE_MODE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_carry_their_pid_and_nothing_else_matches() {
        let name = temp_name();
        assert_eq!(
            stale_pid(name.as_bytes()),
            Some(std::process::id()),
            "{name:?}"
        );
        assert_eq!(stale_pid(b".netflow-12-3.tmp"), Some(12));
        assert_eq!(stale_pid(b".netflow-12.tmp"), None);
        assert_eq!(stale_pid(b"netflow-12-3.tmp"), None);
        assert_eq!(stale_pid(b".netflow-x-3.tmp"), None);
        assert_eq!(stale_pid(b".report.json.netflow-12.tmp"), None);
    }
}
