//! Malicious uploads are refused before they can write outside the build folder or fill
//! the disk; honest archives unpack intact.

use engine::archive::{unpack, ArchiveError, Limits};
use std::io::Write;

/// Builds a tar with raw header names, so tests can write what `tar::Builder` would refuse.
struct RawTar(Vec<u8>);

impl RawTar {
    fn new() -> Self {
        Self(Vec::new())
    }

    fn entry(mut self, name: &str, kind: tar::EntryType, data: &[u8], link: &str) -> Self {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        self.0.extend_from_slice(header.as_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().div_ceil(512) * 512, 0);
        self
    }

    fn file(self, name: &str, data: &[u8]) -> Self {
        self.entry(name, tar::EntryType::Regular, data, "")
    }

    fn symlink(self, name: &str, target: &str) -> Self {
        self.entry(name, tar::EntryType::Symlink, b"", target)
    }

    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0u8; 1024]);
        self.0
    }
}

fn unpack_into(
    bytes: &[u8],
    limits: Limits,
) -> (
    tempfile::TempDir,
    Result<engine::archive::Unpacked, ArchiveError>,
) {
    let outer = tempfile::tempdir().unwrap();
    let dest = outer.path().join("build");
    std::fs::create_dir(&dest).unwrap();
    let result = unpack(bytes, &dest, limits);
    (outer, result)
}

#[test]
fn an_honest_archive_unpacks_with_its_folders_and_inner_links() {
    let bytes = RawTar::new()
        .file("./Dockerfile", b"FROM scratch\n")
        .file("src/main.rs", b"fn main() {}\n")
        .symlink("src/alias.rs", "main.rs")
        .finish();
    let (outer, result) = unpack_into(&bytes, Limits::default());
    let unpacked = result.unwrap();
    assert_eq!(unpacked.entries, 3);
    let build = outer.path().join("build");
    assert_eq!(
        std::fs::read_to_string(build.join("src/alias.rs")).unwrap(),
        "fn main() {}\n"
    );
    assert!(build.join("Dockerfile").exists());
}

#[test]
fn an_absolute_path_is_refused() {
    let bytes = RawTar::new()
        .file("/tmp/captain-evil-absolute", b"x")
        .finish();
    let (_outer, result) = unpack_into(&bytes, Limits::default());
    assert!(
        matches!(result, Err(ArchiveError::AbsolutePath(_))),
        "{result:?}"
    );
    assert!(!std::path::Path::new("/tmp/captain-evil-absolute").exists());
}

#[test]
fn a_parent_traversal_is_refused() {
    let bytes = RawTar::new().file("src/../../evil", b"x").finish();
    let (outer, result) = unpack_into(&bytes, Limits::default());
    assert!(
        matches!(result, Err(ArchiveError::ParentTraversal(_))),
        "{result:?}"
    );
    assert!(!outer.path().join("evil").exists());
}

#[test]
fn a_symlink_out_of_the_tree_is_refused_whether_absolute_or_relative() {
    for target in ["/etc", "../..", "a/../../x"] {
        let bytes = RawTar::new()
            .symlink("out", target)
            .file("out/passwd", b"x")
            .finish();
        let (_outer, result) = unpack_into(&bytes, Limits::default());
        assert!(
            matches!(result, Err(ArchiveError::LinkEscapes(_))),
            "{target}: {result:?}"
        );
    }
}

#[test]
fn writing_through_an_inner_symlink_to_a_folder_is_refused() {
    let bytes = RawTar::new()
        .entry("dir/", tar::EntryType::Directory, b"", "")
        .symlink("via", "dir")
        .file("via/file", b"x")
        .finish();
    let (_outer, result) = unpack_into(&bytes, Limits::default());
    assert!(
        matches!(result, Err(ArchiveError::LinkEscapes(_))),
        "{result:?}"
    );
}

#[test]
fn a_gzip_bomb_is_stopped_at_the_size_limit_and_leaves_no_partial_file() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let bomb = RawTar::new()
        .file("zeros", &vec![0u8; 8 * 1024 * 1024])
        .finish();
    gz.write_all(&bomb).unwrap();
    let compressed = gz.finish().unwrap();
    assert!(
        compressed.len() < 64 * 1024,
        "the bomb should be small: {}",
        compressed.len()
    );
    let limits = Limits {
        max_total_bytes: 1024 * 1024,
        max_entries: 10,
    };
    let (outer, result) = unpack_into(&compressed, limits);
    assert!(
        matches!(result, Err(ArchiveError::TooLarge(_))),
        "{result:?}"
    );
    assert!(!outer.path().join("build/zeros").exists());
}

#[test]
fn too_many_entries_are_refused() {
    let mut tar = RawTar::new();
    for n in 0..20 {
        tar = tar.file(&format!("f{n}"), b"x");
    }
    let (_outer, result) = unpack_into(
        &tar.finish(),
        Limits {
            max_total_bytes: 1 << 20,
            max_entries: 10,
        },
    );
    assert!(
        matches!(result, Err(ArchiveError::TooManyEntries(10))),
        "{result:?}"
    );
}

#[test]
fn device_files_and_garbage_are_refused() {
    let bytes = RawTar::new()
        .entry("dev", tar::EntryType::Char, b"", "")
        .finish();
    let (_outer, result) = unpack_into(&bytes, Limits::default());
    assert!(
        matches!(result, Err(ArchiveError::SpecialFile(_))),
        "{result:?}"
    );
    let (_outer, result) = unpack_into(&[0x1f, 0x8b, 1, 2, 3], Limits::default());
    assert!(
        matches!(result, Err(ArchiveError::Malformed(_))),
        "{result:?}"
    );
}

proptest::proptest! {
    #[test]
    fn arbitrary_uploads_never_panic_or_escape(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096)) {
        let (outer, _result) = unpack_into(&bytes, Limits { max_total_bytes: 1 << 16, max_entries: 64 });
        let escaped: Vec<_> = std::fs::read_dir(outer.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        proptest::prop_assert_eq!(escaped, vec![std::ffi::OsString::from("build")]);
    }

    #[test]
    fn tar_entries_with_arbitrary_names_never_escape(name in "[a-z./]{1,40}", link in "[a-z./]{0,20}") {
        let bytes = RawTar::new().symlink(&format!("{name}l"), &link).file(&name, b"x").finish();
        let (outer, _result) = unpack_into(&bytes, Limits::default());
        let escaped: Vec<_> = std::fs::read_dir(outer.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        proptest::prop_assert_eq!(escaped, vec![std::ffi::OsString::from("build")]);
    }
}
