//! The session event log's on-disk record format: round trips, the line
//! between a torn tail (a crash mid-append, recoverable) and corruption
//! (refused), the writer's refusals, and seeks through the sparse index.

use std::fs;
use std::path::{Path, PathBuf};

use engine_core::events::log::*;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `(seq, time, payload)` as handed to the writer.
type Rec = (u64, i64, Vec<u8>);

fn opts(compression: Compression, index_every: u32) -> WriterOptions {
    WriterOptions { compression, durability: Durability::Buffered, index_every }
}

/// Sizes 0..2000; half random bytes (lz4 cannot shrink them), half runs of
/// a few symbols (it can).
fn random_payload(rng: &mut StdRng, max: usize) -> Vec<u8> {
    let len = rng.gen_range(0..max);
    if rng.gen_bool(0.5) {
        let mut v = vec![0u8; len];
        rng.fill(&mut v[..]);
        v
    } else {
        let symbols: [u8; 3] = rng.gen();
        (0..len).map(|i| symbols[(i / 7) % 3]).collect()
    }
}

fn random_records(seed: u64, n: usize, first_seq: u64, max_payload: usize) -> Vec<Rec> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut time = -5_000i64;
    (0..n)
        .map(|i| {
            time += rng.gen_range(0..3);
            (first_seq + i as u64, time, random_payload(&mut rng, max_payload))
        })
        .collect()
}

/// Writes the records and returns each one's offset.
fn write_log(path: &Path, records: &[Rec], options: WriterOptions) -> Vec<u64> {
    let mut w = LogWriter::create(path, options).unwrap();
    let offsets = records.iter().map(|(seq, time, p)| w.append(*seq, *time, p).unwrap()).collect();
    let summary = w.finish().unwrap();
    assert_eq!(summary.records, records.len() as u64);
    assert_eq!(summary.bytes, fs::metadata(path).unwrap().len());
    offsets
}

/// Every record the reader yields, and the error that ended iteration.
fn read_all(reader: &mut LogReader) -> (Vec<Rec>, Option<LogError>) {
    let mut out = Vec::new();
    for r in reader.records() {
        match r {
            Ok(r) => out.push((r.seq, r.time, r.payload)),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// As `read_all`, through `next_lent` (payloads lent from the read buffer).
fn read_all_lent(reader: &mut LogReader) -> (Vec<Rec>, Option<LogError>) {
    let (mut out, mut spare) = (Vec::new(), Vec::new());
    loop {
        match reader.next_lent(&mut spare) {
            Ok(Some((h, payload))) => out.push((h.seq, h.time, payload.to_vec())),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn copy_with_index(from: &Path, to: &Path, bytes: &[u8]) {
    fs::write(to, bytes).unwrap();
    if index_path(from).exists() {
        fs::copy(index_path(from), index_path(to)).unwrap();
    }
}

// 1. Round trip -------------------------------------------------------------

fn round_trip(compression: Compression) {
    let dir = tmp();
    let path = dir.path().join("session.telog");
    let records = random_records(7, 10_000, 1, 2000);
    let offsets = write_log(&path, &records, opts(compression, 256));

    let mut reader = LogReader::open(&path).unwrap();
    assert_eq!(reader.torn_tail(), None);
    assert!(reader.corruption().is_none());
    assert_eq!(reader.index_status(), &IndexStatus::Valid);
    assert_eq!(reader.len_records(), 10_000);
    assert_eq!((reader.first_seq(), reader.last_seq()), (Some(1), Some(10_000)));
    assert_eq!((reader.first_time(), reader.last_time()), (Some(records[0].1), Some(records[9_999].1)));
    assert_eq!(reader.valid_bytes(), fs::metadata(&path).unwrap().len());
    assert!(reader.times_monotonic());

    let mut got = Vec::new();
    for r in reader.records() {
        let r = r.unwrap();
        assert_eq!(r.offset, offsets[got.len()]);
        got.push((r.seq, r.time, r.payload));
    }
    assert!(got == records, "records differ after a round trip");

    // The reusing variant reads the same, and compression was used exactly
    // where it paid off.
    reader.rewind().unwrap();
    let mut buf = Vec::new();
    let (mut n, mut compressed) = (0, 0);
    while let Some(h) = reader.next_into(&mut buf).unwrap() {
        let (seq, time, payload) = &records[n];
        assert_eq!((h.seq, h.time, h.offset), (*seq, *time, offsets[n]));
        assert_eq!(&buf, payload);
        if h.compressed {
            compressed += 1;
            assert!((h.stored_len as usize) < payload.len());
        } else {
            assert_eq!(h.stored_len as usize, payload.len());
        }
        n += 1;
    }
    assert_eq!(n, 10_000);
    match compression {
        Compression::None => assert_eq!(compressed, 0),
        Compression::Lz4 => assert!((3_000..7_000).contains(&compressed), "{compressed} of 10000 compressed"),
    }
    assert!(reader.next_into(&mut buf).unwrap().is_none(), "stays at the end");

    // Lent payloads (10 MB of records: many straddle the 1 MB read buffer's
    // end and are copied), alone and mixed with copies and seeks.
    reader.rewind().unwrap();
    let (lent, err) = read_all_lent(&mut reader);
    assert!(err.is_none() && lent == records, "lent payloads differ");
    let mut spare = Vec::new();
    for (i, seq) in [5_000u64, 17, 9_998, 17, 4_321].into_iter().enumerate() {
        reader.seek_seq(seq).unwrap();
        for n in seq..(seq + 40).min(10_001) {
            let (h, payload) = match i % 2 == 0 && n % 3 == 0 {
                true => reader.next_into(&mut buf).unwrap().map(|h| (h, buf.clone())).unwrap(),
                false => reader.next_lent(&mut spare).unwrap().map(|(h, p)| (h, p.to_vec())).unwrap(),
            };
            assert_eq!(
                (h.seq, h.time, &payload),
                (records[n as usize - 1].0, records[n as usize - 1].1, &records[n as usize - 1].2)
            );
        }
    }
}

#[test]
fn round_trip_10k_records_uncompressed() {
    round_trip(Compression::None);
}

#[test]
fn round_trip_10k_records_lz4() {
    round_trip(Compression::Lz4);
}

#[test]
fn empty_log_round_trips() {
    let dir = tmp();
    let path = dir.path().join("empty");
    let s = LogWriter::create(&path, WriterOptions::default()).unwrap().finish().unwrap();
    assert_eq!((s.records, s.bytes, s.first_seq, s.last_time), (0, 8, None, None));
    let mut r = LogReader::open(&path).unwrap();
    assert_eq!((r.len_records(), r.first_seq(), r.torn_tail()), (0, None, None));
    assert!(r.is_empty());
    assert!(r.next_into(&mut Vec::new()).unwrap().is_none());
    assert!(matches!(r.seek_seq(0), Err(LogError::EmptyLog { .. })));
    assert_eq!(r.seek_time(0).unwrap(), None);
}

#[test]
fn a_file_that_is_not_a_log_is_refused_naming_the_path() {
    let dir = tmp();
    let path = dir.path().join("notes.txt");
    fs::write(&path, b"hello world, not a log").unwrap();
    let err = LogReader::open(&path).err().expect("refused");
    assert!(matches!(err, LogError::BadHeader { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("notes.txt") && msg.contains("TELOG"), "{msg}");
    assert!(matches!(recover(&path), Err(LogError::BadHeader { .. })));
    // A future format version is not read as this one.
    let mut v2 = FILE_MAGIC.to_vec();
    v2[7] = 2;
    fs::write(&path, &v2).unwrap();
    assert!(matches!(LogReader::open(&path), Err(LogError::BadHeader { .. })));
}

// 2. Torn tail --------------------------------------------------------------

fn torn_tail_at_every_offset(compression: Compression) {
    let dir = tmp();
    let full = dir.path().join("full.telog");
    let mut records = random_records(3, 20, 1000, 300);
    // A last record whose cut points cover header and payload, and that lz4
    // shrinks (so the compressed case really cuts a compressed record).
    records.push((1020, records[19].1 + 1, b"abcabcabcabc-last-record-".repeat(5)));
    let n = records.len();
    // index_every 4 puts an entry on the last record (index 20): the copied
    // index then points past the cut, as after a real crash.
    let offsets = write_log(&full, &records, opts(compression, 4));
    let bytes = fs::read(&full).unwrap();
    let (last_off, end) = (offsets[n - 1], bytes.len() as u64);

    for cut in last_off..end {
        let path = dir.path().join(format!("cut-{cut}.telog"));
        copy_with_index(&full, &path, &bytes[..cut as usize]);
        let expected_torn = (cut > last_off).then_some(TornTail { offset: last_off, bytes: cut - last_off });

        let mut reader = LogReader::open(&path).unwrap();
        assert_eq!(reader.torn_tail(), expected_torn, "cut at {cut}");
        assert!(reader.corruption().is_none(), "cut at {cut}: {:?}", reader.corruption());
        assert_eq!(reader.valid_bytes(), last_off);
        assert_eq!(reader.len_records(), n as u64 - 1);
        assert_eq!(reader.last_seq(), Some(1019));
        let (got, err) = read_all(&mut reader);
        assert!(err.is_none(), "cut at {cut}: {err:?}");
        assert!(got[..] == records[..n - 1], "cut at {cut}: earlier records damaged");
        // Seeks work within what is left (the index entry for the cut
        // record is dropped).
        reader.seek_seq(1019).unwrap();
        assert_eq!(reader.records().next().unwrap().unwrap().seq, 1019);
        assert!(matches!(reader.seek_seq(1020), Err(LogError::SeqOutOfRange { seq: 1020, first: 1000, last: 1019 })));
        drop(reader);

        assert_eq!(recover(&path).unwrap(), expected_torn, "cut at {cut}");
        assert_eq!(fs::metadata(&path).unwrap().len(), last_off, "recover truncates to the last good record");
        assert_eq!(recover(&path).unwrap(), None, "a recovered log is clean");

        let mut w = LogWriter::open_append(&path, opts(compression, 4)).unwrap();
        assert_eq!(w.next_seq(), Some(1020));
        assert!(matches!(
            w.append(1021, 0, b"x"),
            Err(LogError::NonConsecutiveSeq { expected: 1020, found: 1021, .. })
        ));
        let (seq, time, payload) = &records[n - 1];
        assert_eq!(w.append(*seq, *time, payload).unwrap(), last_off);
        w.append(1021, time + 1, b"one more").unwrap();
        let summary = w.finish().unwrap();
        assert_eq!((summary.records, summary.first_seq, summary.last_seq), (n as u64 + 1, Some(1000), Some(1021)));

        let mut reader = LogReader::open(&path).unwrap();
        assert_eq!(reader.index_status(), &IndexStatus::Valid, "open_append rewrote the index");
        assert_eq!(reader.torn_tail(), None);
        let (got, err) = read_all(&mut reader);
        assert!(err.is_none());
        assert!(got[..n] == records[..], "cut at {cut}: sequence not continued");
        assert_eq!(got[n], (1021, time + 1, b"one more".to_vec()));
        fs::remove_file(&path).unwrap();
        fs::remove_file(index_path(&path)).unwrap();
    }
}

#[test]
fn torn_tail_at_every_byte_of_the_last_record_uncompressed() {
    torn_tail_at_every_offset(Compression::None);
}

#[test]
fn torn_tail_at_every_byte_of_the_last_record_lz4() {
    torn_tail_at_every_offset(Compression::Lz4);
}

#[test]
fn torn_file_header_is_an_empty_log_and_recovers() {
    let dir = tmp();
    for cut in 0..8usize {
        let path = dir.path().join(format!("h{cut}"));
        fs::write(&path, &FILE_MAGIC[..cut]).unwrap();
        let mut reader = LogReader::open(&path).unwrap();
        assert_eq!(reader.torn_tail(), Some(TornTail { offset: 0, bytes: cut as u64 }));
        assert_eq!(reader.len_records(), 0);
        assert!(reader.next_into(&mut Vec::new()).unwrap().is_none());
        assert_eq!(recover(&path).unwrap(), Some(TornTail { offset: 0, bytes: cut as u64 }));
        assert_eq!(fs::read(&path).unwrap(), FILE_MAGIC, "reset to an empty log");
        let mut w = LogWriter::open_append(&path, WriterOptions::default()).unwrap();
        assert_eq!(w.next_seq(), None);
        w.append(5, 1, b"first").unwrap();
        w.finish().unwrap();
        let mut reader = LogReader::open(&path).unwrap();
        assert_eq!(read_all(&mut reader).0, vec![(5, 1, b"first".to_vec())]);
    }
}

// 3. Corruption -------------------------------------------------------------

fn flipped_bytes_in_record(compression: Compression, index_every: u32, m: usize, with_index: bool) {
    let dir = tmp();
    let full = dir.path().join("full.telog");
    let records: Vec<Rec> = random_records(11, 21, 0, 1)
        .into_iter()
        .enumerate()
        .map(|(i, (s, t, _))| (s, t, format!("record {i} ").repeat(1 + i % 4).into_bytes()))
        .collect();
    let offsets = write_log(&full, &records, opts(compression, index_every));
    let bytes = fs::read(&full).unwrap();
    let (start, end) = (offsets[m] as usize, offsets[m + 1] as usize);
    let mut reader = LogReader::open(&full).unwrap();
    reader.seek_seq(m as u64).unwrap();
    let h = reader.next_into(&mut Vec::new()).unwrap().unwrap();
    assert_eq!(h.compressed, compression == Compression::Lz4, "the damaged record is stored as intended");
    let header_crc_end = start + 25;

    for at in start..end {
        let path = dir.path().join(format!("flip-{at}.telog"));
        let mut damaged = bytes.clone();
        damaged[at] ^= 0xff;
        copy_with_index(&full, &path, &damaged);
        if !with_index {
            let _ = fs::remove_file(index_path(&path));
        }

        let mut reader = LogReader::open(&path).unwrap();
        assert_eq!(reader.torn_tail(), None, "flip at {at}");
        if !with_index && at < header_crc_end {
            // The header scan of the rebuild stops right there (it does not
            // read payloads, so payload_crc and payload flips wait for
            // iteration).
            assert_eq!(reader.corruption().and_then(|e| e.corrupt_offset()), Some(start as u64), "flip at {at}");
            assert_eq!(reader.len_records(), m as u64);
        }
        let (got, err) = read_all(&mut reader);
        assert!(got[..] == records[..m], "flip at {at}: records before the damage must all come back");
        match err {
            Some(LogError::Corrupt { offset, reason, path: p }) => {
                assert_eq!(offset, start as u64, "flip at {at}");
                assert_eq!(p, path);
                if at < header_crc_end {
                    assert!(matches!(reason, CorruptReason::HeaderCrc { .. }), "flip at {at}: {reason}");
                } else {
                    assert!(matches!(reason, CorruptReason::PayloadCrc { .. }), "flip at {at}: {reason}");
                }
            }
            other => panic!("flip at {at}: expected Corrupt, got {other:?}"),
        }
        assert!(reader.next_into(&mut Vec::new()).unwrap().is_none(), "nothing after the corruption");
        reader.rewind().unwrap();
        let (lent, lent_err) = read_all_lent(&mut reader);
        assert!(lent[..] == records[..m], "flip at {at}: lent records before the damage");
        assert_eq!(lent_err.and_then(|e| e.corrupt_offset()), Some(start as u64), "flip at {at}: lent");

        match recover(&path) {
            Err(LogError::Corrupt { offset, .. }) => assert_eq!(offset, start as u64),
            other => panic!("flip at {at}: recover must refuse, got {other:?}"),
        }
        assert_eq!(fs::read(&path).unwrap(), damaged, "recover must not touch a corrupt log");
        assert!(matches!(LogWriter::open_append(&path, WriterOptions::default()), Err(LogError::Corrupt { .. })));
        fs::remove_file(&path).unwrap();
        let _ = fs::remove_file(index_path(&path));
    }
}

#[test]
fn flipped_byte_in_a_middle_record_is_corruption() {
    flipped_bytes_in_record(Compression::None, 4, 10, true);
}

#[test]
fn flipped_byte_in_an_indexed_middle_record_is_corruption() {
    flipped_bytes_in_record(Compression::None, 4, 12, true);
}

#[test]
fn flipped_byte_in_a_middle_record_is_corruption_without_index() {
    flipped_bytes_in_record(Compression::None, 4, 10, false);
}

#[test]
fn flipped_byte_in_a_compressed_middle_record_is_corruption() {
    flipped_bytes_in_record(Compression::Lz4, 4, 11, true);
}

/// A record built by hand: valid crcs over whatever fields are given.
fn craft_record(len: u32, flags: u8, seq: u64, time: i64, payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&len.to_le_bytes());
    h.push(flags);
    h.extend_from_slice(&seq.to_le_bytes());
    h.extend_from_slice(&time.to_le_bytes());
    let header_crc = crc32fast::hash(&h);
    h.extend_from_slice(&header_crc.to_le_bytes());
    h.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    h.extend_from_slice(payload);
    h
}

#[test]
fn well_checksummed_but_invalid_records_are_corruption() {
    let dir = tmp();
    let good = dir.path().join("good");
    let records = random_records(5, 3, 0, 50);
    write_log(&good, &records, opts(Compression::None, 256));
    let base = fs::read(&good).unwrap();
    let end = base.len() as u64;
    type Check = fn(&CorruptReason) -> bool;
    // (name, bytes appended after the good records, seen by open's header
    // scan, expected reason). Each is followed by a good record, so a reader
    // that guessed past the damage would find something to yield.
    let cases: Vec<(&str, Vec<u8>, bool, Check)> = vec![
        ("seq gap", craft_record(3, 0, 4, 9, b"abc"), true, |r| {
            matches!(r, CorruptReason::SeqGap { expected: 3, found: 4 })
        }),
        ("repeated seq", craft_record(3, 0, 2, 9, b"abc"), true, |r| matches!(r, CorruptReason::SeqGap { .. })),
        ("unknown flag", craft_record(3, 0b100, 3, 9, b"abc"), true, |r| matches!(r, CorruptReason::BadFlags(0b100))),
        // Over 64 MiB: corruption, although the payload also "runs past EOF".
        ("oversized", craft_record(64 * 1024 * 1024 + 1, 0, 3, 9, b""), true, |r| {
            matches!(r, CorruptReason::TooLarge { .. })
        }),
        // Checksums fine, but not lz4: found when the payload is read.
        ("bad lz4", craft_record(6, 1, 3, 9, &[20, 0, 0, 0, 0xff, 0x00]), false, |r| {
            matches!(r, CorruptReason::Decompress(_))
        }),
        (
            "payload crc",
            {
                let mut r = craft_record(3, 0, 3, 9, b"abc");
                r[31] ^= 0x10;
                r
            },
            false,
            |r| matches!(r, CorruptReason::PayloadCrc { .. }),
        ),
    ];
    for (name, tail, header_level, check) in cases {
        let path = dir.path().join(name.replace(' ', "-"));
        let mut bytes = base.clone();
        bytes.extend_from_slice(&tail);
        bytes.extend_from_slice(&craft_record(1, 0, 4, 10, b"z"));
        fs::write(&path, &bytes).unwrap();
        let mut reader = LogReader::open(&path).unwrap();
        let up_front = reader.corruption().and_then(|e| e.corrupt_offset());
        assert_eq!(up_front, header_level.then_some(end), "{name}");
        assert_eq!(reader.torn_tail(), None, "{name}");
        let (got, err) = read_all(&mut reader);
        assert!(got == records, "{name}");
        match err {
            Some(LogError::Corrupt { offset, reason, .. }) => {
                assert_eq!(offset, end, "{name}");
                assert!(check(&reason), "{name}: {reason}");
            }
            other => panic!("{name}: {other:?}"),
        }
        assert!(matches!(recover(&path), Err(LogError::Corrupt { offset, .. }) if offset == end), "{name}");
    }
}

#[test]
fn a_complete_header_with_a_bad_crc_at_the_very_end_is_corruption_not_torn() {
    let dir = tmp();
    let path = dir.path().join("log");
    let records = random_records(5, 3, 0, 50);
    write_log(&path, &records, opts(Compression::None, 256));
    let end = fs::metadata(&path).unwrap().len();
    let mut bytes = fs::read(&path).unwrap();
    let mut header = craft_record(100, 0, 3, 9, &[0; 100]);
    header.truncate(RECORD_HEADER_LEN); // its payload is "missing": would be torn...
    header[8] ^= 1; // ...but the header does not check out
    bytes.extend_from_slice(&header);
    fs::write(&path, &bytes).unwrap();
    let r = LogReader::open(&path).unwrap();
    assert_eq!(r.torn_tail(), None);
    assert_eq!(r.corruption().and_then(|e| e.corrupt_offset()), Some(end));
    assert!(matches!(recover(&path), Err(LogError::Corrupt { offset, .. }) if offset == end));
    // The same header intact is a torn tail.
    header[8] ^= 1;
    bytes.truncate(end as usize);
    bytes.extend_from_slice(&header);
    fs::write(&path, &bytes).unwrap();
    let r = LogReader::open(&path).unwrap();
    assert_eq!(r.torn_tail(), Some(TornTail { offset: end, bytes: RECORD_HEADER_LEN as u64 }));
    assert!(r.corruption().is_none());
}

/// A long read is checked ahead by a second thread, chunk by chunk, past
/// its first records. Damage deep in a long log, a record bigger than a
/// chunk, a torn tail and a seek in the middle of the read all read exactly
/// as in a short log: every record before the damage, then `Corrupt` at its
/// offset, never a damaged payload handed out.
#[test]
fn long_reads_checked_ahead_report_damage_and_torn_tails_as_short_ones_do() {
    for compression in [Compression::None, Compression::Lz4] {
        let dir = tmp();
        let path = dir.path().join("long.telog");
        // About 4 MB of records, and one of 3 MB (bigger than a chunk).
        let mut records = random_records(21, 4_000, 1, 2000);
        let mut rng = StdRng::seed_from_u64(5);
        records[2_500].2 = (0..3_000_000).map(|_| rng.gen()).collect();
        let offsets = write_log(&path, &records, opts(compression, 256));
        let bytes = fs::read(&path).unwrap();

        let mut reader = LogReader::open(&path).unwrap();
        let (got, err) = read_all_lent(&mut reader);
        assert!(err.is_none() && got == records, "{compression:?}: a clean long read");
        reader.rewind().unwrap();
        let (got, err) = read_all(&mut reader);
        assert!(err.is_none() && got == records, "{compression:?}: a clean long read, copied");

        // A seek in the middle of a long read, and reading on to the end.
        reader.rewind().unwrap();
        let mut spare = Vec::new();
        for _ in 0..1_500 {
            reader.next_lent(&mut spare).unwrap().unwrap();
        }
        reader.seek_seq(10).unwrap();
        let (got, err) = read_all_lent(&mut reader);
        assert!(err.is_none() && got[..] == records[9..], "{compression:?}: reading on after a seek");

        let damage = [
            (3_000, offsets[3_000] + 2, "a header"),
            (3_000, offsets[3_000] + RECORD_HEADER_LEN as u64 + 5, "a payload"),
            (2_500, offsets[2_500] + 1_000_000, "the record bigger than a chunk"),
            (1_001, offsets[1_001] + 27, "a payload crc"),
        ];
        for (m, at, what) in damage {
            let damaged_path = dir.path().join(format!("flip-{at}.telog"));
            let mut damaged = bytes.clone();
            damaged[at as usize] ^= 0x10;
            copy_with_index(&path, &damaged_path, &damaged);
            let mut reader = LogReader::open(&damaged_path).unwrap();
            for lent in [true, false] {
                reader.rewind().unwrap();
                let (got, err) = if lent { read_all_lent(&mut reader) } else { read_all(&mut reader) };
                assert!(got[..] == records[..m], "{compression:?}, damage in {what}: the records before it");
                assert_eq!(err.and_then(|e| e.corrupt_offset()), Some(offsets[m]), "{compression:?}, {what}");
            }
        }

        let torn_path = dir.path().join("torn.telog");
        copy_with_index(&path, &torn_path, &bytes[..offsets[3_999] as usize + 40]);
        let mut reader = LogReader::open(&torn_path).unwrap();
        assert_eq!(reader.torn_tail().map(|t| t.offset), Some(offsets[3_999]));
        let (got, err) = read_all_lent(&mut reader);
        assert!(err.is_none() && got[..] == records[..3_999], "{compression:?}: a long read up to a torn tail");
    }
}

// 4. Seeks ------------------------------------------------------------------

const SEEK_N: u64 = 100_000;
const SEEK_FIRST: u64 = 500;

/// Non-decreasing with repeats and gaps, so "first record at or after t"
/// has to pick the first of equals.
fn seek_time_of(i: u64) -> i64 {
    1_000_000 + (i / 3) as i64 * 5
}

fn seek_payload(seq: u64) -> Vec<u8> {
    let n = (seq % 23) as usize;
    seq.to_le_bytes().iter().copied().cycle().take(n).collect()
}

fn write_seek_log(path: &Path, n: u64) {
    let mut w = LogWriter::create(path, opts(Compression::None, 256)).unwrap();
    for i in 0..n {
        let seq = SEEK_FIRST + i;
        w.append(seq, seek_time_of(i), &seek_payload(seq)).unwrap();
    }
    w.finish().unwrap();
}

fn check_seeks(path: &Path, expected_status: fn(&IndexStatus) -> bool) {
    let times: Vec<i64> = (0..SEEK_N).map(seek_time_of).collect();
    let mut reader = LogReader::open(path).unwrap();
    assert!(expected_status(reader.index_status()), "{:?}", reader.index_status());
    assert_eq!(reader.len_records(), SEEK_N);
    assert_eq!(reader.index_every(), 256);
    assert_eq!(reader.index_entries().len(), SEEK_N.div_ceil(256) as usize);
    let last = SEEK_FIRST + SEEK_N - 1;
    let mut rng = StdRng::seed_from_u64(99);
    let mut buf = Vec::new();
    for _ in 0..400 {
        let seq = rng.gen_range(SEEK_FIRST..=last);
        reader.seek_seq(seq).unwrap();
        for k in 0..3 {
            let Some(h) = reader.next_into(&mut buf).unwrap() else {
                assert!(seq + k > last);
                break;
            };
            assert_eq!(h.seq, seq + k);
            assert_eq!(h.time, times[(h.seq - SEEK_FIRST) as usize]);
            assert_eq!(buf, seek_payload(h.seq));
        }

        let t = rng.gen_range(times[0] - 10..times[SEEK_N as usize - 1] + 10);
        let want = times.partition_point(|&x| x < t) as u64;
        let got = reader.seek_time(t).unwrap();
        if want == SEEK_N {
            assert_eq!(got, None, "t {t}");
            assert!(reader.next_into(&mut buf).unwrap().is_none());
        } else {
            assert_eq!(got, Some(SEEK_FIRST + want), "t {t}");
            let h = reader.next_into(&mut buf).unwrap().unwrap();
            assert_eq!(h.seq, SEEK_FIRST + want);
            assert!(h.time >= t && (want == 0 || times[want as usize - 1] < t));
            assert_eq!(buf, seek_payload(h.seq));
        }
    }
    // Edges.
    for (t, want) in [(i64::MIN, Some(SEEK_FIRST)), (times[0], Some(SEEK_FIRST)), (i64::MAX, None)] {
        assert_eq!(reader.seek_time(t).unwrap(), want);
    }
    assert!(reader.next_into(&mut buf).unwrap().is_none(), "past the last time: at the end");
    reader.seek_seq(last).unwrap();
    assert_eq!(reader.next_into(&mut buf).unwrap().unwrap().seq, last);
    assert!(reader.next_into(&mut buf).unwrap().is_none());
    reader.seek_seq(SEEK_FIRST).unwrap();
    assert_eq!(reader.next_into(&mut buf).unwrap().unwrap().seq, SEEK_FIRST);
    for bad in [0, SEEK_FIRST - 1, last + 1, u64::MAX] {
        let err = reader.seek_seq(bad).unwrap_err();
        assert!(
            matches!(err, LogError::SeqOutOfRange { seq, first: SEEK_FIRST, last: l } if seq == bad && l == last),
            "{err}"
        );
    }
}

#[test]
fn seek_seq_and_time_on_100k_records() {
    let dir = tmp();
    let path = dir.path().join("big.telog");
    write_seek_log(&path, SEEK_N);
    check_seeks(&path, |s| *s == IndexStatus::Valid);

    // Stale: the index of a shorter version of the same log.
    let short = dir.path().join("short.telog");
    write_seek_log(&short, 40_000);
    let full_index = fs::read(index_path(&path)).unwrap();
    fs::copy(index_path(&short), index_path(&path)).unwrap();
    check_seeks(&path, |s| matches!(s, IndexStatus::Repaired { kept, .. } if *kept == 40_000usize.div_ceil(256)));

    // Stale the other way: entries past the end of a truncated log are dropped.
    let longer = dir.path().join("longer.telog");
    let bytes = fs::read(&path).unwrap();
    // Cut inside a record before the last index entry (i = 99_840).
    let mut r = LogReader::open(&path).unwrap();
    r.seek_seq(SEEK_FIRST + 99_800).unwrap();
    let cut_at = r.next_into(&mut Vec::new()).unwrap().unwrap().offset + 5;
    fs::write(&longer, &bytes[..cut_at as usize]).unwrap();
    fs::write(index_path(&longer), &full_index).unwrap();
    let r = LogReader::open(&longer).unwrap();
    assert!(matches!(r.index_status(), IndexStatus::Repaired { .. }), "{:?}", r.index_status());
    assert_eq!(r.torn_tail(), Some(TornTail { offset: cut_at - 5, bytes: 5 }));
    assert_eq!(r.last_seq(), Some(SEEK_FIRST + 99_799));

    // Foreign: the index of another log (other times) is not used at all.
    let other = dir.path().join("other.telog");
    let mut w = LogWriter::create(&other, opts(Compression::None, 256)).unwrap();
    for i in 0..SEEK_N {
        w.append(SEEK_FIRST + i, seek_time_of(i) + 1, &seek_payload(SEEK_FIRST + i)).unwrap();
    }
    w.finish().unwrap();
    fs::copy(index_path(&other), index_path(&path)).unwrap();
    check_seeks(&path, |s| matches!(s, IndexStatus::Rebuilt { .. }));

    // Garbage, then missing.
    fs::write(index_path(&path), b"garbage").unwrap();
    check_seeks(&path, |s| matches!(s, IndexStatus::Rebuilt { .. }));
    fs::remove_file(index_path(&path)).unwrap();
    check_seeks(&path, |s| *s == IndexStatus::Missing);
}

#[test]
fn seek_time_refuses_a_log_whose_times_go_back() {
    let dir = tmp();
    let path = dir.path().join("jumpy");
    let times = [10i64, 20, 20, 15, 30, 40, 50, 60, 70, 80];
    let mut w = LogWriter::create(&path, opts(Compression::None, 2)).unwrap();
    for (i, t) in times.iter().enumerate() {
        w.append(i as u64, *t, b"e").unwrap();
    }
    w.finish().unwrap();
    for with_index in [true, false] {
        if !with_index {
            fs::remove_file(index_path(&path)).unwrap();
        }
        let mut r = LogReader::open(&path).unwrap();
        assert!(!r.times_monotonic(), "with index: {with_index}");
        assert!(matches!(r.seek_time(20), Err(LogError::TimesNotMonotonic { .. })));
        r.seek_seq(4).unwrap();
        assert_eq!(r.next_into(&mut Vec::new()).unwrap().unwrap().time, 30);
    }
    // Appending keeps the knowledge, and a monotonic log says so.
    let mut w = LogWriter::open_append(&path, opts(Compression::None, 2)).unwrap();
    w.append(10, 90, b"e").unwrap();
    w.finish().unwrap();
    assert!(!LogReader::open(&path).unwrap().times_monotonic());
    let ok = dir.path().join("ok");
    let mut w = LogWriter::create(&ok, opts(Compression::None, 2)).unwrap();
    for i in 0..10 {
        w.append(i, 5, b"e").unwrap();
    }
    w.finish().unwrap();
    let mut r = LogReader::open(&ok).unwrap();
    assert!(r.times_monotonic());
    assert_eq!(r.seek_time(5).unwrap(), Some(0), "first of equal times");
    assert_eq!(r.seek_time(6).unwrap(), None);
}

// 5. Writer refusals --------------------------------------------------------

#[test]
fn writer_refuses_non_consecutive_seqs_without_writing() {
    let dir = tmp();
    let path = dir.path().join("log");
    let mut w = LogWriter::create(&path, WriterOptions::default()).unwrap();
    assert_eq!(w.next_seq(), None);
    w.append(7, 0, b"a").unwrap();
    let before = w.bytes();
    for bad in [7, 9, 0, u64::MAX] {
        let err = w.append(bad, 0, b"b").unwrap_err();
        assert!(matches!(err, LogError::NonConsecutiveSeq { expected: 8, found, .. } if found == bad), "{err}");
    }
    assert_eq!(w.bytes(), before);
    assert!(!w.is_poisoned(), "a refused seq is the caller's bug, not an I/O failure");
    w.append(8, 0, b"b").unwrap();
    assert_eq!(w.finish().unwrap().records, 2);
    assert_eq!(read_all(&mut LogReader::open(&path).unwrap()).0.len(), 2);
}

#[test]
fn writer_refuses_the_reserved_last_seq() {
    let dir = tmp();
    let mut w = LogWriter::create(dir.path().join("log"), WriterOptions::default()).unwrap();
    assert!(matches!(w.append(u64::MAX, 0, b"a"), Err(LogError::SeqOverflow { .. })));
    w.append(u64::MAX - 1, 0, b"a").unwrap();
    assert!(matches!(w.append(u64::MAX, 0, b"b"), Err(LogError::SeqOverflow { .. })));
    assert!(!w.is_poisoned());
    let s = w.finish().unwrap();
    assert_eq!((s.records, s.last_seq), (1, Some(u64::MAX - 1)));
}

#[test]
fn writer_refuses_oversized_records() {
    let dir = tmp();
    let mut w = LogWriter::create(dir.path().join("log"), opts(Compression::Lz4, 256)).unwrap();
    let big = vec![0u8; MAX_RECORD_LEN + 1];
    assert!(matches!(w.append(0, 0, &big), Err(LogError::RecordTooLarge { len, .. }) if len == MAX_RECORD_LEN + 1));
    assert_eq!(w.next_seq(), None);
    w.append(0, 0, b"fine").unwrap();
}

#[test]
fn create_refuses_an_existing_file() {
    let dir = tmp();
    let path = dir.path().join("log");
    fs::write(&path, b"precious").unwrap();
    let err = LogWriter::create(&path, WriterOptions::default()).err().expect("refused");
    assert!(matches!(err, LogError::AlreadyExists { .. }), "{err}");
    assert!(err.to_string().contains("log"));
    assert_eq!(fs::read(&path).unwrap(), b"precious");
}

#[test]
fn dropping_a_writer_without_finish_keeps_what_was_appended() {
    let dir = tmp();
    let path = dir.path().join("log");
    let mut w = LogWriter::create(&path, opts(Compression::None, 256)).unwrap();
    for i in 0..100 {
        w.append(i, i as i64, b"kept").unwrap();
    }
    drop(w);
    let mut r = LogReader::open(&path).unwrap();
    assert_eq!(read_all(&mut r).0.len(), 100);
    assert_eq!(r.torn_tail(), None);
}

#[test]
fn open_append_on_a_clean_log_continues_and_keeps_the_index() {
    let dir = tmp();
    let path = dir.path().join("log");
    let records = random_records(1, 1000, 0, 100);
    write_log(&path, &records[..600], opts(Compression::Lz4, 64));
    assert_eq!(recover(&path).unwrap(), None);
    let mut w = LogWriter::open_append(&path, opts(Compression::Lz4, 64)).unwrap();
    assert_eq!((w.next_seq(), w.records()), (Some(600), 600));
    for (seq, time, p) in &records[600..] {
        w.append(*seq, *time, p).unwrap();
    }
    w.finish().unwrap();
    let mut r = LogReader::open(&path).unwrap();
    assert_eq!(r.index_status(), &IndexStatus::Valid);
    let entries: Vec<u64> = r.index_entries().iter().map(|e| e.seq).collect();
    assert_eq!(entries, (0..1000).step_by(64).collect::<Vec<u64>>());
    assert!(read_all(&mut r).0 == records);
}

#[test]
fn every_durability_mode_writes_the_same_log() {
    let dir = tmp();
    let records = random_records(2, 50, 0, 200);
    let modes = [
        Durability::Buffered,
        Durability::FlushEach,
        Durability::FsyncEach,
        Durability::FsyncEvery { records: 7, millis: 1 },
        Durability::default(),
    ];
    let mut files = Vec::new();
    for (i, durability) in modes.into_iter().enumerate() {
        let path: PathBuf = dir.path().join(format!("log{i}"));
        write_log(&path, &records, WriterOptions { durability, ..WriterOptions::default() });
        files.push(fs::read(&path).unwrap());
    }
    assert!(files.windows(2).all(|w| w[0] == w[1]));
}

// 6. Properties -------------------------------------------------------------

fn arb_records() -> impl Strategy<Value = Vec<(i64, Vec<u8>)>> {
    let payload = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        (any::<u8>(), 0..300usize).prop_map(|(b, n)| vec![b; n]),
    ];
    proptest::collection::vec((-3i64..10, payload), 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn prop_round_trip_and_any_truncation_is_a_boundary_or_torn(
        recs in arb_records(),
        first_seq in 0u64..1_000_000,
        lz4 in any::<bool>(),
        index_every in 1u32..6,
        cut_frac in 0.0f64..=1.0,
    ) {
        let dir = tmp();
        let path = dir.path().join("log");
        let mut time = 0i64;
        let records: Vec<Rec> = recs
            .into_iter()
            .enumerate()
            .map(|(i, (dt, p))| {
                time += dt;
                (first_seq + i as u64, time, p)
            })
            .collect();
        let compression = if lz4 { Compression::Lz4 } else { Compression::None };
        let offsets = write_log(&path, &records, opts(compression, index_every));
        let mut reader = LogReader::open(&path).unwrap();
        let (got, err) = read_all(&mut reader);
        prop_assert!(err.is_none());
        prop_assert!(got == records);

        let bytes = fs::read(&path).unwrap();
        let cut = (bytes.len() as f64 * cut_frac) as usize;
        let cut_path = dir.path().join("cut");
        copy_with_index(&path, &cut_path, &bytes[..cut]);
        let mut reader = LogReader::open(&cut_path).unwrap();
        prop_assert!(reader.corruption().is_none());
        let (got, err) = read_all(&mut reader);
        prop_assert!(err.is_none(), "truncation read as corruption: {:?}", err);
        let boundaries: Vec<usize> =
            offsets.iter().skip(1).map(|&o| o as usize).chain([8, bytes.len()]).collect();
        let complete = (0..records.len())
            .filter(|&i| offsets.get(i + 1).map_or(bytes.len(), |&o| o as usize) <= cut)
            .count();
        prop_assert!(got[..] == records[..complete]);
        if cut < 8 {
            prop_assert_eq!(reader.torn_tail(), Some(TornTail { offset: 0, bytes: cut as u64 }));
        } else if boundaries.contains(&cut) {
            prop_assert_eq!(reader.torn_tail(), None);
        } else {
            let start = offsets[complete] as usize;
            prop_assert_eq!(reader.torn_tail(), Some(TornTail { offset: start as u64, bytes: (cut - start) as u64 }));
        }
        drop(reader);
        let torn = recover(&cut_path).unwrap();
        prop_assert_eq!(torn.is_some(), !boundaries.contains(&cut) || cut < 8);
        let mut reader = LogReader::open(&cut_path).unwrap();
        prop_assert_eq!(reader.torn_tail(), None);
        prop_assert!(read_all(&mut reader).0 == records[..complete]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Whatever happens to the bytes after the file header (and to the
    /// index), nothing panics, the reader yields a prefix of what was
    /// written, and recover either refuses or leaves a log that reads clean.
    #[test]
    fn prop_damage_never_panics_and_never_yields_wrong_records(
        seed in any::<u64>(),
        lz4 in any::<bool>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..4),
        index_edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
    ) {
        let dir = tmp();
        let path = dir.path().join("log");
        let records = random_records(seed, 30, seed % 1000, 120);
        let compression = if lz4 { Compression::Lz4 } else { Compression::None };
        write_log(&path, &records, opts(compression, 3));
        let mut bytes = fs::read(&path).unwrap();
        for (at, value, kind) in edits {
            let body = bytes.len() - 8;
            let i = 8 + at.index(body.max(1)).min(body.saturating_sub(1));
            match kind {
                0 => bytes[i] = value,
                1 => bytes.truncate(i),
                2 => bytes.insert(i, value),
                _ => {
                    bytes.remove(i.min(bytes.len() - 1).max(8));
                }
            }
            if bytes.len() <= 8 {
                break;
            }
        }
        fs::write(&path, &bytes).unwrap();
        let mut index = fs::read(index_path(&path)).unwrap();
        for (at, value) in index_edits {
            let i = at.index(index.len());
            index[i] = value;
        }
        fs::write(index_path(&path), &index).unwrap();

        let mut reader = LogReader::open(&path).unwrap();
        let (got, _err) = read_all(&mut reader);
        prop_assert!(got[..] == records[..got.len()], "yielded a record that was not written");
        if let Some(first) = reader.first_seq() {
            let _ = reader.seek_seq(first + reader.len_records() / 2);
            let _ = reader.next_into(&mut Vec::new());
        }
        let _ = reader.seek_time(records[10].1);
        let _ = reader.next_into(&mut Vec::new());
        drop(reader);
        match recover(&path) {
            Ok(_) => {
                let mut reader = LogReader::open(&path).unwrap();
                prop_assert_eq!(reader.torn_tail(), None);
                let (again, err) = read_all(&mut reader);
                prop_assert!(err.is_none(), "recovered log is not clean: {:?}", err);
                prop_assert!(again[..] == records[..again.len()]);
            }
            Err(LogError::Corrupt { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected error {}", e),
        }
    }
}

// Timing --------------------------------------------------------------------

/// Not a test: `cargo test -p engine-core --test event_log_format --
/// --ignored --nocapture timing` prints append and replay speed.
#[test]
#[ignore]
fn timing_append_and_read_1m_records_of_150_bytes() {
    use std::time::Instant;
    let dir = tmp();
    let n = 1_000_000u64;
    let mut rng = StdRng::seed_from_u64(1);
    // Event-like: a fixed prefix, then small numbers (random, so lz4 finds
    // little to share) or a repeated field pattern (lz4 shrinks it).
    let random: Vec<Vec<u8>> = (0..1024)
        .map(|_| {
            let mut p = b"decision:BTCUSDT:enter_long:".to_vec();
            while p.len() < 150 {
                p.push(rng.gen_range(0..40));
            }
            p
        })
        .collect();
    let patterned: Vec<Vec<u8>> = (0..1024u32)
        .map(|i| {
            let mut p = b"decision:BTCUSDT:enter_long:".to_vec();
            while p.len() < 150 {
                p.extend_from_slice(&[1, 0, 0, (i % 7) as u8, 2, 0, 0, 0]);
            }
            p.truncate(150);
            p
        })
        .collect();
    for (name, options, payloads) in [
        ("none/buffered", opts(Compression::None, 256), &random),
        ("lz4/buffered, random", opts(Compression::Lz4, 256), &random),
        ("lz4/buffered, patterned", opts(Compression::Lz4, 256), &patterned),
        (
            "none/flush_each",
            WriterOptions { durability: Durability::FlushEach, ..opts(Compression::None, 256) },
            &random,
        ),
        ("none/default fsync_every", WriterOptions::default(), &random),
    ] {
        let path = dir.path().join(name.replace(['/', ' ', ','], "_"));
        let mut w = LogWriter::create(&path, options).unwrap();
        let t0 = Instant::now();
        for i in 0..n {
            w.append(i, i as i64 * 1000, &payloads[(i % 1024) as usize]).unwrap();
        }
        let append = t0.elapsed();
        let t0 = Instant::now();
        let summary = w.finish().unwrap();
        let finish = t0.elapsed();

        let t0 = Instant::now();
        let mut r = LogReader::open(&path).unwrap();
        let open = t0.elapsed();
        let t0 = Instant::now();
        let mut buf = Vec::new();
        let mut count = 0u64;
        while let Some(h) = r.next_into(&mut buf).unwrap() {
            count += h.seq & 1;
        }
        let read = t0.elapsed();
        assert_eq!(count, n / 2);
        println!(
            "{name:>26}: append {:6.1} ns/rec ({:5.2} M/s) + finish {:?}, {:5.1} MB; open {:?}; next_into {:5.1} ns/rec ({:4.2} M/s)",
            append.as_nanos() as f64 / n as f64,
            n as f64 / append.as_secs_f64() / 1e6,
            finish,
            summary.bytes as f64 / 1e6,
            open,
            read.as_nanos() as f64 / n as f64,
            n as f64 / read.as_secs_f64() / 1e6,
        );
        fs::remove_file(&path).unwrap();
    }
}
