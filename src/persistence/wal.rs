//! The write-ahead log of durable mode: a file next to the store (`<store>.wal`) that holds
//! the row changes made since the last checkpoint, one frame per group commit.
//!
//! A QoS 1/2 acknowledgement waits for its frame to be appended and `fdatasync`ed: a
//! sequential append of a few bytes per change, where a store commit rewrites B-tree pages.
//! The writer folds the changes into the store now and then (a checkpoint) and empties the
//! log; by then most queued messages were acknowledged and cancel out, so the store itself
//! sees little of the traffic. At startup the log is replayed into the store before it is
//! read ([`replay`]).
//!
//! The file is zero-filled ahead ([`PREALLOCATE`] bytes, when the disk has room): overwriting
//! allocated blocks lets `fdatasync` skip the file's metadata (0.13-0.17 ms instead of
//! 0.26-0.28 ms per sync on this project's test machine). Emptying the log after a checkpoint
//! starts a new generation at offset 0 instead of truncating, and keeps the blocks a busy log
//! grew into past the preallocated part (up to [`KEEP_AT_MOST`]): the next generation
//! overwrites them as cheaply as the zero-filled ones.
//!
//! Frame: payload length (u32), CRC-32 of generation and payload (u32), generation (u64), all
//! little endian, then the payload: a sequence of postcard-encoded [`RowChange`]s. A frame
//! that is cut short, does not match its checksum or belongs to another generation ends the
//! log: it was being written when the broker stopped (so nothing waited on it), or it is
//! left over from a generation the store already has.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::model::{Pending, RowChange};
use super::StoreError;

const HEADER: usize = 16;
/// Bytes zero-filled ahead when the log is created.
pub const PREALLOCATE: u64 = 32 << 20;
/// At most this much of a log that grew past its preallocated part is kept after a
/// checkpoint (the writer checkpoints at 64 MiB of log).
pub const KEEP_AT_MOST: u64 = 96 << 20;

/// The log file of the store at `store`.
pub fn path_of(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".wal");
    PathBuf::from(name)
}

/// An open log, appended to by the writer thread.
pub struct Wal {
    file: File,
    /// Bytes of complete frames; the next frame goes here.
    len: u64,
    /// Generation of the frames written now.
    generation: u64,
    /// Bytes of blocks the file has for frames to overwrite: zero-filled ahead, or grown
    /// into by an earlier generation (0 when the disk had no room).
    allocated: u64,
}

impl Wal {
    /// Opens (or creates) the log. `keep`: the frames [`replay`] found must stay (the store
    /// could not take them yet), new ones follow them; otherwise the log starts empty.
    pub fn open(path: &Path, keep: Option<&Replay>) -> Result<Wal, StoreError> {
        let io = |e: io::Error| StoreError::Io(format!("{}: {e}", path.display()));
        let file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(io)?;
        if let Some(r) = keep {
            file.set_len(r.len).and_then(|()| file.sync_data()).map_err(io)?;
            return Ok(Wal { file, len: r.len, generation: r.generation, allocated: 0 });
        }
        file.set_len(0).map_err(io)?;
        let allocated = match zero_fill(&file, PREALLOCATE) {
            Ok(()) => PREALLOCATE,
            Err(e) => {
                // A full disk: the log grows as it is written instead.
                tracing::warn!(path = %path.display(), error = %e, "cannot allocate the write-ahead log ahead; appending");
                file.set_len(0).map_err(io)?;
                0
            }
        };
        file.sync_all().map_err(io)?;
        Ok(Wal { file, len: 0, generation: 1, allocated })
    }

    /// Bytes in the log.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the log holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one frame and waits until it is on disk. On failure the log is cut back to
    /// its last complete frame, so the next append does not follow a torn one.
    pub fn append(&mut self, changes: &[u8]) -> io::Result<()> {
        let len = u32::try_from(changes.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "log frame over 4 GiB"))?;
        let mut frame = Vec::with_capacity(HEADER + changes.len());
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(&checksum(self.generation, changes).to_le_bytes());
        frame.extend_from_slice(&self.generation.to_le_bytes());
        frame.extend_from_slice(changes);
        let written = self.file.write_all_at(&frame, self.len).and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len += frame.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Cut a torn frame off; within the allocated part, zero its header instead.
                let _ = match self.len + HEADER as u64 <= self.allocated {
                    true => self.file.write_all_at(&[0; HEADER], self.len),
                    false => self.file.set_len(self.len.max(self.allocated)),
                };
                Err(e)
            }
        }
    }

    /// Empties the log (after a checkpoint put everything in it into the store): a new
    /// generation starts at offset 0. The log counts as empty from here on, whatever the
    /// disk says below: the next frame goes to offset 0 with the new generation, so frames of
    /// the old one are never read again (replaying them would only repeat what the store
    /// has). The first header is zeroed in place, in a block the file already has, before
    /// the file gives back what it does not keep: on a full disk, zeroing after cutting the
    /// file to nothing needs a new block and fails, and a log that then went on appending at
    /// its old length left a hole at offset 0 that hid every later frame from [`replay`].
    /// A log that was preallocated keeps the blocks it grew into (up to [`KEEP_AT_MOST`]):
    /// appending past the end of the file costs each `fdatasync` a write of the file's
    /// metadata (~190 us per 16 KiB append against ~120 us on this project's test machine).
    /// One that could not be (a full disk) gives them back.
    pub fn reset(&mut self) -> io::Result<()> {
        let had = std::mem::take(&mut self.len);
        self.generation += 1;
        if had == 0 {
            return Ok(());
        }
        self.file.write_all_at(&[0; HEADER], 0)?;
        if self.allocated > 0 {
            self.allocated = self.allocated.max(had.min(KEEP_AT_MOST));
        }
        let keep = self.allocated.max(HEADER as u64);
        if had > keep {
            self.file.set_len(keep)?;
        }
        self.file.sync_data()
    }
}

/// What [`replay`] read.
#[derive(Debug, Default)]
pub struct Replay {
    /// The rows the log changes (a later change of a row replaced an earlier one).
    pub rows: Pending,
    /// Complete frames read.
    pub frames: usize,
    /// Bytes of those frames.
    pub len: u64,
    /// Their generation.
    pub generation: u64,
}

/// Reads the log at `path` (missing: nothing).
pub fn replay(path: &Path) -> Result<Replay, StoreError> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes).map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Replay::default()),
        Err(e) => return Err(StoreError::Io(format!("{}: {e}", path.display()))),
    }
    let mut rows = Pending::default();
    let mut frames = 0;
    let mut at = 0;
    let generation = frame_at(&bytes, 0).map_or(1, |(g, _)| g);
    while let Some(payload) = frame_at(&bytes, at).and_then(|(g, p)| (g == generation).then_some(p)) {
        let mut rest = payload;
        while !rest.is_empty() {
            let (change, tail): (RowChange, &[u8]) = postcard::take_from_bytes(rest).map_err(|e| {
                StoreError::Corrupt(format!("{}: undecodable change in frame {frames}: {e}", path.display()))
            })?;
            rows.insert(change.key, change.value);
            rest = tail;
        }
        frames += 1;
        at += HEADER + payload.len();
    }
    Ok(Replay { rows, frames, len: at as u64, generation })
}

/// The generation and payload of the complete, intact frame at `at`, if there is one.
fn frame_at(bytes: &[u8], at: usize) -> Option<(u64, &[u8])> {
    let header = bytes.get(at..at + HEADER)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let generation = u64::from_le_bytes(header[8..].try_into().ok()?);
    let payload = bytes.get(at + HEADER..at + HEADER + len)?;
    (checksum(generation, payload) == crc).then_some((generation, payload))
}

fn checksum(generation: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&generation.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Writes `len` zero bytes from the start of `file`.
fn zero_fill(file: &File, len: u64) -> io::Result<()> {
    let block = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < len {
        let n = (len - at).min(block.len() as u64) as usize;
        file.write_all_at(&block[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::model::Key;
    use super::*;

    fn change(key: Key, value: Option<&[u8]>) -> Vec<u8> {
        postcard::to_stdvec(&RowChange { key, value: value.map(<[u8]>::to_vec) }).unwrap()
    }

    /// A new log in a temporary directory (which lives as long as the first value).
    fn new_log() -> (tempfile::TempDir, PathBuf, Wal) {
        let dir = tempfile::tempdir().unwrap();
        let path = path_of(&dir.path().join("s.redb"));
        let wal = Wal::open(&path, None).unwrap();
        (dir, path, wal)
    }

    /// A new log as if `bytes` had been zero-filled ahead (0: a disk too full to preallocate).
    fn new_log_allocated(bytes: u64) -> (tempfile::TempDir, PathBuf, Wal) {
        let (dir, path, mut wal) = new_log();
        wal.allocated = bytes;
        wal.file.set_len(bytes).unwrap();
        (dir, path, wal)
    }

    /// The frames a replay of `path` reads and the rows they change.
    fn replayed(path: &Path) -> (usize, Vec<Key>) {
        let r = replay(path).unwrap();
        (r.frames, r.rows.keys().cloned().collect())
    }

    #[test]
    fn frames_replay_in_order_and_a_torn_tail_is_ignored() {
        let (_dir, path, mut wal) = new_log();
        let mut first = change(Key::Message(1), Some(b"m1"));
        first.extend(change(Key::Queue("c".into(), 1), Some(b"e1")));
        wal.append(&first).unwrap();
        let mut second = change(Key::Queue("c".into(), 1), None);
        second.extend(change(Key::Message(1), None));
        second.extend(change(Key::Message(2), Some(b"m2")));
        wal.append(&second).unwrap();
        // A frame cut short, as a crash in the middle of an append leaves it.
        let torn = change(Key::Message(3), Some(b"m3"));
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&(torn.len() as u32).to_le_bytes(), wal.len()).unwrap();
        f.write_all_at(&[1, 2], wal.len() + 4).unwrap();

        let r = replay(&path).unwrap();
        let Replay { ref rows, frames, len, .. } = r;
        assert_eq!(frames, 2);
        assert_eq!(len, wal.len());
        // Reopened at the complete frames, the torn one is cut off and appends follow them.
        let mut wal = Wal::open(&path, Some(&r)).unwrap();
        wal.append(&change(Key::Message(4), Some(b"m4"))).unwrap();
        assert_eq!(replay(&path).unwrap().frames, 3);
        assert_eq!(rows.get(&Key::Message(1)), Some(&None), "deleted by the second frame");
        assert_eq!(rows.get(&Key::Queue("c".into(), 1)), Some(&None));
        assert_eq!(rows.get(&Key::Message(2)), Some(&Some(b"m2".to_vec())));
        assert_eq!(rows.get(&Key::Message(3)), None, "the torn frame is not replayed");
    }

    #[test]
    fn a_frame_with_a_bad_checksum_ends_the_log() {
        let (_dir, path, mut wal) = new_log();
        wal.append(&change(Key::Message(1), Some(b"a"))).unwrap();
        wal.append(&change(Key::Message(2), Some(b"b"))).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = wal.len() as usize - 1;
        bytes[last] ^= 0xFF;
        std::fs::write(&path, &bytes).unwrap();
        let r = replay(&path).unwrap();
        assert_eq!((r.frames, r.rows.len()), (1, 1));
    }

    #[test]
    fn reset_empties_the_log_and_frames_of_the_old_generation_are_never_replayed() {
        let (_dir, path, mut wal) = new_log();
        wal.append(&change(Key::Message(1), Some(b"a"))).unwrap();
        wal.append(&change(Key::Message(9), Some(b"old"))).unwrap();
        wal.reset().unwrap();
        assert!(wal.is_empty());
        assert_eq!(replay(&path).unwrap().frames, 0, "nothing after a reset");
        // Same length as the old first frame: the old second frame follows it on disk.
        wal.append(&change(Key::Message(2), Some(b"b"))).unwrap();
        assert_eq!(replayed(&path), (1, vec![Key::Message(2)]));
    }

    #[test]
    fn a_reset_that_cannot_write_still_empties_the_log() {
        let (_dir, path, mut wal) = new_log_allocated(0); // as on a disk too full to preallocate
        wal.append(&change(Key::Message(1), Some(b"in the store already"))).unwrap();
        wal.append(&change(Key::Message(9), Some(b"so is this"))).unwrap();
        // The disk refuses every write (as a full one refused the zeroed header).
        wal.file = File::open(&path).unwrap();
        assert!(wal.reset().is_err());
        assert!(wal.is_empty(), "the checkpoint has what the log held: the log is empty");
        wal.file = OpenOptions::new().read(true).write(true).open(&path).unwrap();
        wal.append(&change(Key::Message(2), Some(b"new"))).unwrap();
        assert_eq!(replayed(&path), (1, vec![Key::Message(2)]));
    }

    #[test]
    fn a_log_that_could_not_be_preallocated_gives_its_blocks_back_at_a_reset() {
        let (_dir, path, mut wal) = new_log_allocated(0);
        wal.append(&change(Key::Message(1), Some(&[1; 10_000]))).unwrap();
        wal.reset().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), HEADER as u64);
        assert_eq!(replay(&path).unwrap().frames, 0);
    }

    #[test]
    fn a_preallocated_log_keeps_the_blocks_it_grew_into() {
        let (_dir, path, mut wal) = new_log_allocated(4096);
        wal.append(&change(Key::Message(1), Some(&[1; 10_000]))).unwrap();
        let grown = wal.len();
        wal.reset().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), grown, "the file keeps its blocks");
        assert_eq!(replay(&path).unwrap().frames, 0, "and they hold no frame of the new generation");
        wal.append(&change(Key::Message(2), Some(b"b"))).unwrap();
        assert_eq!(replayed(&path), (1, vec![Key::Message(2)]));
    }

    #[test]
    fn a_missing_log_replays_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let r = replay(&dir.path().join("none.wal")).unwrap();
        assert_eq!((r.rows.len(), r.frames, r.len), (0, 0, 0));
    }
}
