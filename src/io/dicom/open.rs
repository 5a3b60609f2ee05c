//! Opening a file as a DICOM object, tolerating the two common deviations from PS3.10: no 128-byte
//! preamble (dicom-rs detects that itself), and no file meta group at all — a bare data set as some
//! older systems write. For the latter radpipe synthesises a file meta group (Implicit VR Little Endian,
//! or Explicit VR Little Endian when the first element carries a VR) and hands the bytes to dicom-rs.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use dicom_core::VR;
use dicom_object::file::ReadPreamble;
use dicom_object::{DefaultDicomObject, FileMetaTableBuilder, OpenFileOptions};

use super::error_chain;
use super::guard::{self, Syntax};
use crate::{Error, Result};

const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

/// Opens `path` as a DICOM file.
pub(super) fn open(path: &Path) -> Result<DefaultDicomObject> {
    let mut file = crate::io::gate::open(path, crate::io::gate::InputKind::Image)?;
    let metadata = file.metadata().map_err(|e| Error::io(path, e))?;
    if metadata.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::other("is a directory, not a DICOM file"),
        ));
    }
    let mut head = Vec::with_capacity(132);
    file.by_ref()
        .take(132)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;

    let magic_end = if head.get(128..132) == Some(b"DICM") {
        Some(132)
    } else if head.get(0..4) == Some(b"DICM") {
        Some(4)
    } else {
        None
    };
    if let Some(start) = magic_end {
        let mut reader = std::io::BufReader::new(file);
        check_lengths(&mut reader, start, metadata.len()).map_err(|e| Error::format(path, e))?;
        drop(reader);
        return guarded(path, || OpenFileOptions::new().open_file(path))?.map_err(|e| {
            Error::format(
                path,
                format!("not a readable DICOM file: {}", error_chain(&e)),
            )
        });
    }
    open_bare(path, &head)
}

/// A file without "DICM": a data set with no file meta information.
fn open_bare(path: &Path, head: &[u8]) -> Result<DefaultDicomObject> {
    let not_dicom = || {
        Error::format(
            path,
            "not a DICOM file: no \"DICM\" marker at byte 0 or 128, and it does not start like a DICOM data set",
        )
    };
    let (group, vr) = match head {
        [g0, g1, _, _, v0, v1, ..] => (u16::from_le_bytes([*g0, *g1]), [*v0, *v1]),
        _ => return Err(not_dicom()),
    };
    let explicit = VR::from_binary(vr).is_some();
    let bytes = crate::io::gate::read(path, crate::io::gate::InputKind::Image)?;
    let mut stream = Vec::with_capacity(bytes.len() + 256);
    stream.extend_from_slice(b"DICM");
    match group {
        // A file meta group without the magic code in front of it.
        0x0002 if explicit => {}
        // A bare data set: it starts with group 0008 in every conformant object.
        0x0008 => {
            let ts = if explicit { EXPLICIT_LE } else { IMPLICIT_LE };
            let meta = FileMetaTableBuilder::new()
                .transfer_syntax(ts)
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
                .media_storage_sop_instance_uid("2.25.0")
                .build()
                .map_err(|e| Error::format(path, error_chain(&e)))?;
            meta.write(&mut stream)
                .map_err(|e| Error::format(path, error_chain(&e)))?;
        }
        _ => return Err(not_dicom()),
    }
    stream.extend_from_slice(&bytes);
    drop(bytes);
    let len = stream.len() as u64;
    check_lengths(&mut std::io::Cursor::new(stream.as_slice()), 4, len)
        .map_err(|e| Error::format(path, e))?;
    guarded(path, || {
        OpenFileOptions::new()
            .read_preamble(ReadPreamble::Never)
            .from_reader(stream.as_slice())
    })?
    .map_err(|e| {
        Error::format(
            path,
            format!(
                "no DICOM file header, and not readable as a bare data set: {}",
                error_chain(&e)
            ),
        )
    })
}

/// Runs the [`guard`] pre-scan on the file meta group starting at `start` (just after "DICM") and on
/// the data set after it.
fn check_lengths<R: Read + Seek>(r: &mut R, start: u64, len: u64) -> Result<(), String> {
    r.seek(SeekFrom::Start(start))
        .map_err(|e| format!("cannot seek: {e}"))?;
    if let Some((ts, dataset)) = guard::meta_transfer_syntax(r, start, len)? {
        match Syntax::of(&ts) {
            Some(syntax) => guard::scan(r, dataset, len, syntax)?,
            None => guard::scan_deflated(r, dataset)?,
        }
    }
    Ok(())
}

/// Runs a dicom-rs parse, turning a panic inside it into an error naming the file.
fn guarded<T>(path: &Path, parse: impl FnOnce() -> T) -> Result<T> {
    crate::io::contained::run(parse).ok_or_else(|| {
        Error::format(
            path,
            "the DICOM parser failed on this file (malformed data set)",
        )
    })
}
