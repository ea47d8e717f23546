//! The dynamic section of an ELF file: the sonames it needs (`DT_NEEDED`), its own
//! (`DT_SONAME`), and where it asks the loader to look (`DT_RUNPATH`, `DT_RPATH`).
//!
//! Read by hand rather than through an ELF crate: four tags of one table and the
//! strings they point at are all rtlock needs, and a reader this small can be checked
//! line by line for what matters here, that hostile bytes (a tarball from a repository,
//! to be fuzzed) end in an error and never in a panic, an overflow or a huge allocation.
//! Every offset is checked arithmetic against the slice; nothing is allocated from a
//! count the file gives before that count is bounded by the file's length.
//!
//! The table is found as the dynamic loader finds it: the `PT_DYNAMIC` program header,
//! its string table at the `DT_STRTAB` address mapped through the `PT_LOAD` segments.
//! A file without program headers (a relocatable object, a separate debug file) is read
//! through its `SHT_DYNAMIC` section and that section's linked string table instead.
//! 32- and 64-bit, little- and big-endian.

/// What the dynamic section says. Empty lists for an ELF file without one (a static
/// executable, an object file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dynamic {
    /// `DT_NEEDED`, in file order (the loader's order).
    pub needed: Vec<String>,
    /// `DT_SONAME`.
    pub soname: Option<String>,
    /// `DT_RUNPATH`, split on `:` as the loader splits it (`$ORIGIN` left as written).
    pub runpath: Vec<String>,
    /// `DT_RPATH` (older, searched before `LD_LIBRARY_PATH`), split likewise.
    pub rpath: Vec<String>,
}

/// Why bytes that start like an ELF file cannot be read as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("ELF file with an unknown class {0} (neither 32- nor 64-bit)")]
    Class(u8),
    #[error("ELF file with an unknown byte order {0} (neither little- nor big-endian)")]
    ByteOrder(u8),
    /// A table or string lies (partly) past the end of the file.
    #[error("truncated ELF file: its {0} lies past the end of the file")]
    Truncated(&'static str),
    /// A value that no valid ELF file holds.
    #[error("malformed ELF file: {0}")]
    Malformed(&'static str),
}

const MAGIC: &[u8; 4] = b"\x7fELF";

/// The bytes start with the ELF magic number (4 bytes are enough to tell).
pub fn is_elf(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// The dynamic section of the ELF file `bytes`; `None` when `bytes` is not ELF.
pub fn dynamic(bytes: &[u8]) -> Result<Option<Dynamic>, ElfError> {
    if !is_elf(bytes) {
        return Ok(None);
    }
    let file = File::new(bytes)?;
    let Some((table, strings)) = file.dynamic_table()? else {
        return Ok(Some(Dynamic::default()));
    };
    file.read_dynamic(table, strings).map(Some)
}

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const SHT_DYNAMIC: u32 = 6;
const SHT_NOBITS: u32 = 8;
/// `e_phnum` when the real count is in section 0's `sh_info`.
const PN_XNUM: u64 = 0xffff;

const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
const DT_SONAME: u64 = 14;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

/// A byte range of the file.
#[derive(Debug, Clone, Copy)]
struct Span {
    offset: u64,
    size: u64,
}

struct File<'a> {
    bytes: &'a [u8],
    wide: bool,
    big: bool,
    phoff: u64,
    phentsize: u64,
    phnum: u64,
    shoff: u64,
    shentsize: u64,
    shnum: u64,
}

impl<'a> File<'a> {
    fn new(bytes: &'a [u8]) -> Result<File<'a>, ElfError> {
        let ident = bytes.get(..16).ok_or(ElfError::Truncated("header"))?;
        let wide = match ident[4] {
            1 => false,
            2 => true,
            other => return Err(ElfError::Class(other)),
        };
        let big = match ident[5] {
            1 => false,
            2 => true,
            other => return Err(ElfError::ByteOrder(other)),
        };
        let mut file = File {
            bytes,
            wide,
            big,
            phoff: 0,
            phentsize: 0,
            phnum: 0,
            shoff: 0,
            shentsize: 0,
            shnum: 0,
        };
        let header = "header";
        // Offsets of e_phoff.. in the 64-bit and 32-bit layouts.
        let (phoff, shoff, tail) = if wide { (32, 40, 54) } else { (28, 32, 42) };
        file.phoff = file.word(phoff, header)?;
        file.shoff = file.word(shoff, header)?;
        file.phentsize = file.u16(tail, header)?;
        file.phnum = file.u16(tail + 2, header)?;
        file.shentsize = file.u16(tail + 4, header)?;
        file.shnum = file.u16(tail + 6, header)?;
        // Extended numbering: counts too large for the header live in section 0.
        if file.shoff != 0 && (file.shnum == 0 || file.phnum == PN_XNUM) {
            let first = file.section_at(0, "section header table")?;
            if file.shnum == 0 {
                file.shnum = first.size;
            }
            if file.phnum == PN_XNUM {
                file.phnum = first.info;
            }
        }
        Ok(file)
    }

    fn slice(&self, offset: u64, len: u64, what: &'static str) -> Result<&'a [u8], ElfError> {
        let start = usize::try_from(offset).map_err(|_| ElfError::Truncated(what))?;
        let len = usize::try_from(len).map_err(|_| ElfError::Truncated(what))?;
        let end = start.checked_add(len).ok_or(ElfError::Truncated(what))?;
        self.bytes.get(start..end).ok_or(ElfError::Truncated(what))
    }

    fn u16(&self, offset: u64, what: &'static str) -> Result<u64, ElfError> {
        let b: [u8; 2] = self.slice(offset, 2, what)?.try_into().expect("2 bytes");
        Ok(u64::from(if self.big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }))
    }

    fn u32(&self, offset: u64, what: &'static str) -> Result<u64, ElfError> {
        let b: [u8; 4] = self.slice(offset, 4, what)?.try_into().expect("4 bytes");
        Ok(u64::from(if self.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }))
    }

    fn u64(&self, offset: u64, what: &'static str) -> Result<u64, ElfError> {
        let b: [u8; 8] = self.slice(offset, 8, what)?.try_into().expect("8 bytes");
        Ok(if self.big {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        })
    }

    /// An address-sized word: 8 bytes in a 64-bit file, 4 in a 32-bit one.
    fn word(&self, offset: u64, what: &'static str) -> Result<u64, ElfError> {
        if self.wide {
            self.u64(offset, what)
        } else {
            self.u32(offset, what)
        }
    }

    /// The offset of entry `index` of a table at `base` with entries of `entsize`
    /// bytes, at least `min` of which are read.
    fn entry(
        &self,
        base: u64,
        entsize: u64,
        min: u64,
        index: u64,
        what: &'static str,
    ) -> Result<u64, ElfError> {
        if entsize < min {
            return Err(ElfError::Malformed(
                "header table entries smaller than the format's",
            ));
        }
        let at = index
            .checked_mul(entsize)
            .and_then(|o| o.checked_add(base))
            .ok_or(ElfError::Truncated(what))?;
        // The whole entry must be in the file, not only the fields read.
        self.slice(at, entsize, what)?;
        Ok(at)
    }

    fn segment_at(&self, index: u64) -> Result<Segment, ElfError> {
        let what = "program header table";
        if self.wide {
            let at = self.entry(self.phoff, self.phentsize, 56, index, what)?;
            Ok(Segment {
                kind: self.u32(at, what)? as u32,
                offset: self.u64(at + 8, what)?,
                vaddr: self.u64(at + 16, what)?,
                filesz: self.u64(at + 32, what)?,
            })
        } else {
            let at = self.entry(self.phoff, self.phentsize, 32, index, what)?;
            Ok(Segment {
                kind: self.u32(at, what)? as u32,
                offset: self.u32(at + 4, what)?,
                vaddr: self.u32(at + 8, what)?,
                filesz: self.u32(at + 16, what)?,
            })
        }
    }

    fn section_at(&self, index: u64, what: &'static str) -> Result<Section, ElfError> {
        if self.wide {
            let at = self.entry(self.shoff, self.shentsize, 64, index, what)?;
            Ok(Section {
                kind: self.u32(at + 4, what)? as u32,
                offset: self.u64(at + 24, what)?,
                size: self.u64(at + 32, what)?,
                link: self.u32(at + 40, what)?,
                info: self.u32(at + 44, what)?,
            })
        } else {
            let at = self.entry(self.shoff, self.shentsize, 40, index, what)?;
            Ok(Section {
                kind: self.u32(at + 4, what)? as u32,
                offset: self.u32(at + 16, what)?,
                size: self.u32(at + 20, what)?,
                link: self.u32(at + 24, what)?,
                info: self.u32(at + 28, what)?,
            })
        }
    }

    /// The program headers, each checked to be in the file. Their count is bounded by
    /// the file: each takes `phentsize` bytes of it.
    fn segments(&self) -> Result<Vec<Segment>, ElfError> {
        if self.phoff == 0 || self.phnum == 0 {
            return Ok(Vec::new());
        }
        let span = self
            .phnum
            .checked_mul(self.phentsize)
            .ok_or(ElfError::Truncated("program header table"))?;
        self.slice(self.phoff, span, "program header table")?;
        (0..self.phnum).map(|i| self.segment_at(i)).collect()
    }

    /// The dynamic table and its string table, if the file has them.
    fn dynamic_table(&self) -> Result<Option<(Span, Option<Span>)>, ElfError> {
        let segments = self.segments()?;
        if !segments.is_empty() {
            let Some(dynamic) = segments.iter().find(|s| s.kind == PT_DYNAMIC) else {
                return Ok(None);
            };
            let table = Span {
                offset: dynamic.offset,
                size: dynamic.filesz,
            };
            self.slice(table.offset, table.size, "dynamic section")?;
            // The string table is found from the tags, by address.
            return Ok(Some((table, None)));
        }
        if self.shoff == 0 || self.shnum == 0 {
            return Ok(None);
        }
        let span = self
            .shnum
            .checked_mul(self.shentsize)
            .ok_or(ElfError::Truncated("section header table"))?;
        self.slice(self.shoff, span, "section header table")?;
        for index in 0..self.shnum {
            let section = self.section_at(index, "section header table")?;
            // A separate debug file keeps `.dynamic` as SHT_NOBITS, without its bytes:
            // it is skipped here like any other section.
            if section.kind != SHT_DYNAMIC {
                continue;
            }
            if section.link == 0 || section.link >= self.shnum {
                return Err(ElfError::Malformed(
                    "the dynamic section links to no string table",
                ));
            }
            let strings = self.section_at(section.link, "section header table")?;
            if strings.kind == SHT_NOBITS {
                return Ok(None);
            }
            let table = Span {
                offset: section.offset,
                size: section.size,
            };
            self.slice(table.offset, table.size, "dynamic section")?;
            let strings = Span {
                offset: strings.offset,
                size: strings.size,
            };
            self.slice(strings.offset, strings.size, "dynamic string table")?;
            return Ok(Some((table, Some(strings))));
        }
        Ok(None)
    }

    /// The file range of the `DT_STRTAB` address: the `PT_LOAD` segment holding it,
    /// from there to `DT_STRSZ` bytes (or the segment's end when there is no size).
    fn strings_at(&self, address: u64, size: Option<u64>) -> Result<Span, ElfError> {
        for segment in self.segments()? {
            if segment.kind != PT_LOAD || address < segment.vaddr {
                continue;
            }
            let into = address - segment.vaddr;
            if into >= segment.filesz {
                continue;
            }
            let offset = segment
                .offset
                .checked_add(into)
                .ok_or(ElfError::Truncated("dynamic string table"))?;
            let size = size.unwrap_or(segment.filesz - into);
            self.slice(offset, size, "dynamic string table")?;
            return Ok(Span { offset, size });
        }
        Err(ElfError::Malformed(
            "the dynamic string table's address is in no loaded segment",
        ))
    }

    fn read_dynamic(&self, table: Span, strings: Option<Span>) -> Result<Dynamic, ElfError> {
        let what = "dynamic section";
        let entsize: u64 = if self.wide { 16 } else { 8 };
        let mut tags: Vec<(u64, u64)> = Vec::new();
        let (mut strtab, mut strsz) = (None, None);
        // At most size / entsize entries: bounded by the file.
        for index in 0..table.size / entsize {
            let at = table.offset + index * entsize;
            let tag = self.word(at, what)?;
            let value = self.word(at + entsize / 2, what)?;
            match tag {
                DT_NULL => break,
                DT_STRTAB => strtab = Some(value),
                DT_STRSZ => strsz = Some(value),
                DT_NEEDED | DT_SONAME | DT_RPATH | DT_RUNPATH => tags.push((tag, value)),
                _ => {}
            }
        }
        let mut out = Dynamic::default();
        if tags.is_empty() {
            return Ok(out);
        }
        let strings = match strings {
            Some(strings) => strings,
            None => {
                let address = strtab.ok_or(ElfError::Malformed(
                    "the dynamic section names strings but has no DT_STRTAB",
                ))?;
                self.strings_at(address, strsz)?
            }
        };
        let text = self.slice(strings.offset, strings.size, "dynamic string table")?;
        for (tag, value) in tags {
            let string = string_at(text, value)?;
            match tag {
                DT_NEEDED => out.needed.push(string),
                DT_SONAME => out.soname = Some(string),
                DT_RPATH => out.rpath = split_path(&string),
                _ => out.runpath = split_path(&string),
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

#[derive(Debug, Clone, Copy)]
struct Section {
    kind: u32,
    offset: u64,
    size: u64,
    link: u64,
    info: u64,
}

/// The NUL-terminated string at `offset` of a string table. Sonames are bytes to the
/// loader; a non-UTF-8 one is kept lossily (it can only fail to match).
fn string_at(table: &[u8], offset: u64) -> Result<String, ElfError> {
    let rest = usize::try_from(offset)
        .ok()
        .and_then(|o| table.get(o..))
        .ok_or(ElfError::Malformed(
            "a dynamic entry points past its string table",
        ))?;
    let end = memchr::memchr(0, rest).ok_or(ElfError::Malformed(
        "a string of the dynamic string table is not terminated",
    ))?;
    Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// A search path as the loader splits it; an empty path is no directory at all.
fn split_path(path: &str) -> Vec<String> {
    if path.is_empty() {
        return Vec::new();
    }
    path.split(':').map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `readelf -d` of `path`: (needed, soname, runpath, rpath), the reference.
    fn readelf(path: &str) -> Dynamic {
        let out = std::process::Command::new("readelf")
            .args(["-d", "-W", path])
            .env("LC_ALL", "C")
            .output()
            .expect("readelf (binutils) runs");
        assert!(out.status.success(), "readelf -d {path}");
        let text = String::from_utf8(out.stdout).unwrap();
        let bracketed = |line: &str| {
            let start = line.find('[').unwrap() + 1;
            let end = line.rfind(']').unwrap();
            line[start..end].to_string()
        };
        let mut d = Dynamic::default();
        for line in text.lines() {
            if line.contains("(NEEDED)") {
                d.needed.push(bracketed(line));
            } else if line.contains("(SONAME)") {
                d.soname = Some(bracketed(line));
            } else if line.contains("(RUNPATH)") {
                d.runpath = split_path(&bracketed(line));
            } else if line.contains("(RPATH)") {
                d.rpath = split_path(&bracketed(line));
            }
        }
        d
    }

    /// Real ELF files of this machine: an executable, shared libraries (one with a
    /// long DT_NEEDED list), the loader itself.
    fn real_files() -> Vec<String> {
        let mut files: Vec<String> = ["/usr/bin/ls", "/usr/bin/bash", "/usr/bin/gpg"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let lib = "/usr/lib/x86_64-linux-gnu";
        for prefix in [
            "libz.so.",
            "libc.so.",
            "libcurl.so.",
            "libssl.so.",
            "ld-linux",
        ] {
            if let Ok(entries) = std::fs::read_dir(lib) {
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(prefix))
                    .collect();
                names.sort();
                if let Some(name) = names.first() {
                    files.push(format!("{lib}/{name}"));
                }
            }
        }
        files.retain(|f| std::path::Path::new(f).exists());
        assert!(
            files.len() >= 5,
            "too few ELF files on this machine: {files:?}"
        );
        files
    }

    #[test]
    fn real_files_read_as_readelf_reads_them() {
        for path in real_files() {
            let bytes = std::fs::read(&path).unwrap();
            let got = dynamic(&bytes).unwrap().expect("an ELF file");
            assert_eq!(got, readelf(&path), "{path}");
        }
        let ls = dynamic(&std::fs::read("/usr/bin/ls").unwrap())
            .unwrap()
            .unwrap();
        assert!(ls.needed.iter().any(|n| n == "libc.so.6"), "{ls:?}");
        assert_eq!(ls.soname, None);
    }

    #[test]
    fn the_soname_of_a_library_is_its_own() {
        let lib = std::fs::canonicalize("/usr/lib/x86_64-linux-gnu/libz.so.1").unwrap();
        let d = dynamic(&std::fs::read(lib).unwrap()).unwrap().unwrap();
        assert_eq!(d.soname.as_deref(), Some("libz.so.1"));
        assert!(d.needed.iter().any(|n| n == "libc.so.6"), "{d:?}");
    }

    #[test]
    fn not_elf_is_none_and_elf_is_told_by_four_bytes() {
        assert_eq!(dynamic(b"#!/bin/sh\necho hi\n").unwrap(), None);
        assert_eq!(dynamic(b"").unwrap(), None);
        assert!(is_elf(b"\x7fELF"));
        assert!(!is_elf(b"\x7fEL"));
        assert!(!is_elf(b"MZ\x90\x00"));
        assert_eq!(dynamic(b"\x7fELF"), Err(ElfError::Truncated("header")));
        let mut bad = vec![0u8; 64];
        bad[..4].copy_from_slice(MAGIC);
        bad[4] = 3;
        assert_eq!(dynamic(&bad), Err(ElfError::Class(3)));
        bad[4] = 2;
        bad[5] = 0;
        assert_eq!(dynamic(&bad), Err(ElfError::ByteOrder(0)));
    }

    /// Every prefix of a real library, and the library with bytes overwritten all over
    /// it, reads to a value or an error; never a panic.
    #[test]
    fn truncated_and_garbled_files_never_panic() {
        let lib = std::fs::canonicalize("/usr/lib/x86_64-linux-gnu/libz.so.1").unwrap();
        let bytes = std::fs::read(lib).unwrap();
        let whole = dynamic(&bytes).unwrap().unwrap();
        // The headers and dynamic section are near the start; every prefix up to 16 KiB,
        // then a sample.
        let mut truncated_errors = 0;
        for len in (0..bytes.len().min(16 * 1024)).chain((16 * 1024..bytes.len()).step_by(97)) {
            match dynamic(&bytes[..len]) {
                Ok(Some(d)) => assert!(d == whole || d.needed.len() <= whole.needed.len()),
                Ok(None) => assert!(len < 4),
                Err(_) => truncated_errors += 1,
            }
        }
        assert!(truncated_errors > 0);
        // A xorshift stream: deterministic, no dependency.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let header_end = 4096.min(bytes.len());
        for _ in 0..3000 {
            let mut garbled = bytes[..header_end.max(64)].to_vec();
            for _ in 0..1 + next() % 8 {
                let at = (next() % garbled.len() as u64) as usize;
                garbled[at] = next() as u8;
            }
            let _ = dynamic(&garbled);
            // Garbling the whole file too (tables point far into it).
            let mut whole_garbled = bytes.clone();
            let at = (next() % whole_garbled.len().min(8192) as u64) as usize;
            whole_garbled[at] = next() as u8;
            let _ = dynamic(&whole_garbled);
        }
    }

    /// A minimal ELF file with one PT_LOAD, a PT_DYNAMIC and a section table, in either
    /// class and byte order, as a toolchain for another architecture would write it.
    fn synthetic(wide: bool, big: bool, with_sections: bool) -> Vec<u8> {
        let put = |out: &mut Vec<u8>, at: usize, value: u64, size: usize| {
            let bytes = if big {
                value.to_be_bytes()[8 - size..].to_vec()
            } else {
                value.to_le_bytes()[..size].to_vec()
            };
            out[at..at + size].copy_from_slice(&bytes);
        };
        let w = if wide { 8 } else { 4 };
        let (ehsize, phentsize, shentsize) = if wide { (64, 56, 64) } else { (52, 32, 40) };
        let strings = b"\0libfoo.so.1\0libbar.so.2\0libself.so.3\0$ORIGIN/../lib:/opt/x\0";
        let phoff = ehsize;
        let dynoff = phoff + 2 * phentsize;
        let entries: [(u64, u64); 7] = [
            (DT_NEEDED, 1),
            (DT_NEEDED, 13),
            (DT_SONAME, 25),
            (DT_RUNPATH, 38),
            (DT_STRTAB, 0), // patched below
            (DT_STRSZ, strings.len() as u64),
            (DT_NULL, 0),
        ];
        let dynsize = entries.len() * 2 * w;
        let stroff = dynoff + dynsize;
        let shoff = stroff + strings.len();
        let total = shoff + if with_sections { 3 * shentsize } else { 0 };
        let mut out = vec![0u8; total];
        out[..4].copy_from_slice(MAGIC);
        out[4] = if wide { 2 } else { 1 };
        out[5] = if big { 2 } else { 1 };
        out[6] = 1;
        let (o_phoff, o_shoff, o_tail) = if wide { (32, 40, 54) } else { (28, 32, 42) };
        put(&mut out, o_phoff, phoff as u64, w);
        put(&mut out, o_tail, phentsize as u64, 2);
        put(&mut out, o_tail + 2, 2, 2);
        if with_sections {
            put(&mut out, o_shoff, shoff as u64, w);
            put(&mut out, o_tail + 4, shentsize as u64, 2);
            put(&mut out, o_tail + 6, 3, 2);
        }
        // The file is loaded at 0x1000: address = 0x1000 + offset.
        let base = 0x1000u64;
        let segment = |out: &mut Vec<u8>, i: usize, kind: u64, off: u64, size: u64| {
            let at = phoff + i * phentsize;
            put(out, at, kind, 4);
            if wide {
                put(out, at + 8, off, 8);
                put(out, at + 16, base + off, 8);
                put(out, at + 32, size, 8);
            } else {
                put(out, at + 4, off, 4);
                put(out, at + 8, base + off, 4);
                put(out, at + 16, size, 4);
            }
        };
        segment(&mut out, 0, PT_LOAD as u64, 0, total as u64);
        segment(
            &mut out,
            1,
            PT_DYNAMIC as u64,
            dynoff as u64,
            dynsize as u64,
        );
        for (i, (tag, mut value)) in entries.into_iter().enumerate() {
            if tag == DT_STRTAB {
                value = base + stroff as u64;
            }
            put(&mut out, dynoff + i * 2 * w, tag, w);
            put(&mut out, dynoff + i * 2 * w + w, value, w);
        }
        out[stroff..stroff + strings.len()].copy_from_slice(strings);
        if with_sections {
            let section =
                |out: &mut Vec<u8>, i: usize, kind: u64, off: u64, size: u64, link: u64| {
                    let at = shoff + i * shentsize;
                    put(out, at + 4, kind, 4);
                    if wide {
                        put(out, at + 24, off, 8);
                        put(out, at + 32, size, 8);
                        put(out, at + 40, link, 4);
                    } else {
                        put(out, at + 16, off, 4);
                        put(out, at + 20, size, 4);
                        put(out, at + 24, link, 4);
                    }
                };
            section(
                &mut out,
                1,
                SHT_DYNAMIC as u64,
                dynoff as u64,
                dynsize as u64,
                2,
            );
            section(&mut out, 2, 3, stroff as u64, strings.len() as u64, 0);
        }
        out
    }

    #[test]
    fn every_class_and_byte_order_reads() {
        let expected = Dynamic {
            needed: vec!["libfoo.so.1".into(), "libbar.so.2".into()],
            soname: Some("libself.so.3".into()),
            runpath: vec!["$ORIGIN/../lib".into(), "/opt/x".into()],
            rpath: vec![],
        };
        for wide in [false, true] {
            for big in [false, true] {
                for with_sections in [false, true] {
                    let bytes = synthetic(wide, big, with_sections);
                    assert_eq!(
                        dynamic(&bytes).unwrap().as_ref(),
                        Some(&expected),
                        "wide {wide}, big-endian {big}, sections {with_sections}"
                    );
                    // Without program headers, the section table alone finds it.
                    if with_sections {
                        let mut no_segments = bytes.clone();
                        let o_tail = if wide { 56 } else { 44 };
                        no_segments[o_tail] = 0;
                        no_segments[o_tail + 1] = 0;
                        assert_eq!(dynamic(&no_segments).unwrap(), Some(expected.clone()));
                    }
                    for len in 0..bytes.len() {
                        let _ = dynamic(&bytes[..len]);
                    }
                }
            }
        }
    }

    #[test]
    fn hostile_counts_and_offsets_are_errors() {
        let bytes = synthetic(true, false, false);
        // e_phoff far past the end.
        let mut far = bytes.clone();
        far[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            dynamic(&far),
            Err(ElfError::Truncated("program header table"))
        );
        // e_phentsize below the format's.
        let mut small = bytes.clone();
        small[54] = 8;
        small[55] = 0;
        assert!(matches!(dynamic(&small), Err(ElfError::Malformed(_))));
        // A DT_NEEDED offset past the string table.
        let mut past = bytes.clone();
        let dynoff = 64 + 2 * 56;
        past[dynoff + 8..dynoff + 16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(dynamic(&past), Err(ElfError::Malformed(_))));
        // An ELF file without program headers or sections: empty lists.
        let mut bare = bytes.clone();
        bare[56] = 0;
        assert_eq!(dynamic(&bare).unwrap(), Some(Dynamic::default()));
    }

    #[test]
    fn search_paths_split_as_the_loader_splits_them() {
        assert_eq!(
            split_path("$ORIGIN:/usr/lib/R/lib"),
            ["$ORIGIN", "/usr/lib/R/lib"]
        );
        assert!(split_path("").is_empty());
    }
}
