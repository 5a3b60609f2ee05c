//! DICOM reader and derived-DICOM writer against pydicom and against hand-built trap files.
//!
//! - Every codec input (native LE/BE/implicit, RLE, JPEG 2000 lossless and lossy, explicit-VR-UN) decodes
//!   to pydicom 3.0.2's stored values exactly (SHA-256 of the int32 dump, element-wise where the dump is
//!   committed), and to its modality values (exact hash when they are integers, else within 1e-3
//!   relative of the float32 dump).
//! - Sign extension of 12-bit signed data with garbage high bits; `UN`-encoded attributes (the committed
//!   file and a synthetic one); Modality and VOI LUT Sequences; multi-frame; files without preamble or
//!   file meta group.
//! - Bad inputs fail with one-line errors that name the file, without panicking or allocating what a
//!   lying header claims.
//! - Derived output reads back with the same pixels and geometry, new UIDs, and the patient/study copied,
//!   leaving the source untouched.
//!
//! This file holds what the test files share: paths to the committed corpus and its pydicom
//! manifest, the dumps, and the builders of hand-made DICOM objects. The tests are grouped by what
//! they check: [`pydicom`] (committed files against pydicom), [`synthetic`] (hand-built files read
//! right), [`refusals`] (bad and lying inputs fail cleanly), [`derived`] (the derived-DICOM writer).

mod derived;
mod pydicom;
mod refusals;
mod synthetic;

use std::path::{Path, PathBuf};

use dicom_core::value::{
    DataSetSequence, PixelFragmentSequence, PrimitiveValue, Value as DicomValue,
};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject, OpenFileOptions};
use radpipe::io::dicom::{DerivedDicom, DicomImage, Photometric, read_dicom, write_derived_dicom};
use radpipe::transforms::{ModalityLut, VoiFunction, Window};
use radpipe::{Error, Geometry, HostImage, Pixels};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn data(name: &str) -> PathBuf {
    repo(&format!("tests/data/dicom/{name}"))
}

fn manifest() -> Value {
    let path = repo("tests/fixtures/pydicom/manifest.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; regenerate with `.venv/bin/python scripts/make_fixtures.py`",
            path.display()
        )
    });
    serde_json::from_slice(&bytes).expect("manifest json")
}

fn case<'a>(m: &'a Value, name: &str) -> &'a Value {
    m["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name} in manifest"))
}

fn read(path: &Path) -> DicomImage {
    read_dicom(path).unwrap_or_else(|e| panic!("{e}"))
}

fn stored_i32(img: &HostImage) -> Vec<i32> {
    (0..img.pixel_count())
        .map(|i| img.pixels.get_f64(i) as i32)
        .collect()
}

fn sha256_hex(bytes: impl IntoIterator<Item = [u8; 4]>) -> String {
    let mut h = Sha256::new();
    for b in bytes {
        h.update(b);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn read_i32_dump(path: &Path) -> Vec<i32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn read_f32_dump(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn modality_values(dicom: &DicomImage, frame: u32) -> Vec<f64> {
    let img = dicom.frame(frame).expect("frame");
    let lut = dicom.modality_lut(frame);
    (0..img.pixel_count())
        .map(|i| lut.apply(img.pixels.get_f64(i)))
        .collect()
}

/// Writes `obj` as an Explicit VR Little Endian file.
fn write_file(path: &Path, obj: InMemDicomObject) {
    write_file_ts(path, obj, "1.2.840.10008.1.2.1");
}

/// Writes `obj` with transfer syntax `ts`.
fn write_file_ts(path: &Path, obj: InMemDicomObject, ts: &str) {
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(ts)
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
                .media_storage_sop_instance_uid("2.25.1"),
        )
        .expect("meta");
    file.write_to_file(path).expect("write test file");
}

fn un(tag: Tag, bytes: &[u8]) -> DataElement<InMemDicomObject> {
    DataElement::new(
        tag,
        VR::UN,
        PrimitiveValue::U8(bytes.iter().copied().collect()),
    )
}

fn us(tag: Tag, v: u16) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::US, PrimitiveValue::from(v))
}

/// A small 16-bit greyscale image, every attribute typed, `pixels` as OW.
fn basic_image(rows: u16, cols: u16, pixels: Vec<u16>) -> InMemDicomObject {
    let mut obj = InMemDicomObject::new_empty();
    obj.put(DataElement::new(
        tags::SOP_CLASS_UID,
        VR::UI,
        PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.7"),
    ));
    obj.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from("2.25.1"),
    ));
    obj.put(us(tags::SAMPLES_PER_PIXEL, 1));
    obj.put(DataElement::new(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        PrimitiveValue::from("MONOCHROME2"),
    ));
    obj.put(us(tags::ROWS, rows));
    obj.put(us(tags::COLUMNS, cols));
    obj.put(us(tags::BITS_ALLOCATED, 16));
    obj.put(us(tags::BITS_STORED, 16));
    obj.put(us(tags::HIGH_BIT, 15));
    obj.put(us(tags::PIXEL_REPRESENTATION, 0));
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(pixels.into()),
    ));
    obj
}

/// Asserts `result` is an error whose one-line message names `path` and contains `what`.
fn assert_names_file<T: std::fmt::Debug>(
    result: radpipe::Result<T>,
    path: &Path,
    what: &str,
) -> Error {
    let err = result.expect_err("expected an error");
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "message does not name the file: {msg}"
    );
    assert!(
        msg.to_lowercase().contains(&what.to_lowercase()),
        "message lacks {what:?}: {msg}"
    );
    assert!(!msg.contains('\n'), "multi-line message: {msg}");
    err
}

fn item(elements: Vec<DataElement<InMemDicomObject>>) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(elements)
}

fn seq(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
}

fn ds(tag: Tag, text: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::DS, PrimitiveValue::from(text))
}
