//! What PID 1 holds while it idles for the server's lifetime. Start-up
//! touches most of the binary's code (settings, the address, the option
//! file, TLS set-up for the background work), and the kernel maps it 64
//! KiB at a time: about 2.6 MiB of the binary stays mapped, counted in
//! replikit's RSS, although the supervising loop needs a few pages of it.
//! Once the command runs, replikit lets go of those mappings and of the
//! heap start-up freed. The pages stay in the page cache (shared,
//! reclaimable, and charged to the container either way); a page needed
//! later is mapped again from there, without I/O.

/// How long the supervisor waits, after starting the command, before it
/// shrinks: nothing has happened for that long, so it idles.
pub const QUIET_BEFORE_SHRINKING: std::time::Duration = std::time::Duration::from_millis(200);

/// Gives back start-up's freed heap and its mappings of the binary's
/// read-only segments. Called once the command has run quietly for
/// `QUIET_BEFORE_SHRINKING`, so that it runs beside the command rather
/// than before it.
pub fn shrink() {
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe { libc::malloc_trim(0) };
    for (start, len) in read_only_segments() {
        // SAFETY: the range is one of our own never-written segments
        // (code, constants): dropping its pages only means that the next
        // access maps them again from the file. Writable segments, whose
        // pages hold relocations and state, are never passed.
        unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
    }
}

/// The binary's loaded segments that are neither writable nor ever
/// written (code and constants), page-aligned: (start, length).
fn read_only_segments() -> Vec<(usize, usize)> {
    let mut found: Vec<(usize, usize)> = Vec::new();
    // SAFETY: dl_iterate_phdr calls `collect` with a valid dl_phdr_info
    // whose program headers live as long as the call; `found` outlives it.
    unsafe {
        libc::dl_iterate_phdr(
            Some(collect),
            (&mut found as *mut Vec<(usize, usize)>).cast(),
        );
    }
    found
}

/// dl_iterate_phdr's callback: the first object is the program itself.
unsafe extern "C" fn collect(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: both pointers come from dl_iterate_phdr as documented above.
    let (info, found) = unsafe { (&*info, &mut *data.cast::<Vec<(usize, usize)>>()) };
    let page = page_size();
    for i in 0..info.dlpi_phnum as usize {
        // SAFETY: dlpi_phdr points at dlpi_phnum program headers.
        let ph = unsafe { &*info.dlpi_phdr.add(i) };
        if ph.p_type != libc::PT_LOAD || ph.p_flags & libc::PF_W != 0 {
            continue;
        }
        let start = info.dlpi_addr as usize + ph.p_vaddr as usize;
        let (start, len) = page_span(start, ph.p_memsz as usize, page);
        if len > 0 {
            found.push((start, len));
        }
    }
    1 // the program only, not the vDSO
}

/// The whole pages that lie inside [start, start + len) (pure): a page
/// shared with a neighbouring segment is left alone.
fn page_span(start: usize, len: usize, page: usize) -> (usize, usize) {
    let first = start.div_ceil(page) * page;
    let end = (start + len) / page * page;
    (first, end.saturating_sub(first))
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_pages_inside_a_segment() {
        let table = [
            ((0, 8192), (0, 8192)),
            ((0, 8191), (0, 4096)),
            ((1, 8192), (4096, 4096)),
            ((4096, 100), (4096, 0)),
            ((4095, 2), (4096, 0)),
            ((10, 20), (4096, 0)),
            ((0x10fa00, 0x239a10), (0x110000, 0x239000)),
        ];
        for ((start, len), want) in table {
            assert_eq!(page_span(start, len, 4096), want, "{start:#x}+{len:#x}");
        }
    }

    #[test]
    fn the_code_is_among_the_segments_and_survives_shrinking() {
        let segments = read_only_segments();
        let here = the_code_is_among_the_segments_and_survives_shrinking as *const () as usize;
        assert!(
            segments.iter().any(|&(s, l)| s <= here && here < s + l),
            "{here:#x} in {segments:x?}"
        );
        static CONSTANTS: [u64; 4] = [3, 5, 7, 11];
        shrink();
        // Code and constants are mapped again, unchanged, as they are used.
        let sum: u64 = std::hint::black_box(&CONSTANTS).iter().sum();
        assert_eq!(sum, 26);
        assert_eq!(page_span(1, 2, 4096), (4096, 0));
    }
}
