//! The plugin's global allocator (feature `small-alloc`, on by default; wasm builds only): the
//! system allocator (dlmalloc) with a free list per size class in front of it for blocks of up
//! to 256 bytes. A transform hook gets each message as an owned `Message`, so every message
//! costs the plugin a few small allocations that are freed before the next one: served from
//! the free lists they cost a few instructions instead of a trip through dlmalloc. Small blocks
//! freed stay on their list (the plugin's memory stays at its peak of small blocks; instances
//! are disposable and memory-limited by the broker). Turn the feature off to use another
//! global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;

/// Size classes are multiples of 16 bytes, up to this.
const MAX_SMALL: usize = 256;
const CLASSES: usize = MAX_SMALL / 16;

/// The allocator.
pub struct SmallAlloc {
    /// Head of each class's free list: a freed block holds the address of the next.
    free: UnsafeCell<[*mut u8; CLASSES]>,
}

// SAFETY: wasm32-wasip2 plugins are single-threaded (no shared memory, no threads), so the
// free lists are never touched by two threads.
unsafe impl Sync for SmallAlloc {}

impl SmallAlloc {
    /// An allocator with empty free lists.
    pub const fn new() -> Self {
        SmallAlloc { free: UnsafeCell::new([std::ptr::null_mut(); CLASSES]) }
    }
}

impl Default for SmallAlloc {
    fn default() -> Self {
        Self::new()
    }
}

/// The class of a layout served from the free lists, if it is one.
fn class(layout: Layout) -> Option<usize> {
    (layout.size() <= MAX_SMALL && layout.align() <= 16).then(|| layout.size().max(1).div_ceil(16) - 1)
}

/// The layout every block of `class` is allocated with.
fn class_layout(class: usize) -> Layout {
    // SAFETY: the size is a non-zero multiple of 16 and 16 is a power of two.
    unsafe { Layout::from_size_align_unchecked((class + 1) * 16, 16) }
}

// SAFETY: every block handed out is at least `layout.size()` bytes, aligned to 16 (>= the
// layout's alignment) for small classes, or comes from `System` unchanged; a block goes back
// to the list of the class it was taken for (the same layout maps to the same class).
unsafe impl GlobalAlloc for SmallAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(c) = class(layout) else { return System.alloc(layout) };
        let heads = &mut *self.free.get();
        let head = heads[c];
        if head.is_null() {
            return System.alloc(class_layout(c));
        }
        heads[c] = *(head as *mut *mut u8);
        head
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(c) = class(layout) else { return System.dealloc(ptr, layout) };
        let heads = &mut *self.free.get();
        *(ptr as *mut *mut u8) = heads[c];
        heads[c] = ptr;
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        match (class(layout), class(new_layout)) {
            (None, None) => System.realloc(ptr, layout, new_size),
            (Some(a), Some(b)) if a == b => ptr,
            _ => {
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                new
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_blocks_are_reused_large_ones_pass_through() {
        let a = SmallAlloc::new();
        unsafe {
            let l = Layout::from_size_align(24, 8).unwrap();
            let p = a.alloc(l);
            assert_eq!(p as usize % 16, 0, "small blocks are 16-aligned");
            p.write_bytes(0xAB, 24);
            a.dealloc(p, l);
            let q = a.alloc(Layout::from_size_align(32, 4).unwrap());
            assert_eq!(p, q, "a freed block of the same class comes back");
            a.dealloc(q, Layout::from_size_align(32, 4).unwrap());
            let big = Layout::from_size_align(4096, 8).unwrap();
            let b = a.alloc(big);
            assert!(!b.is_null());
            a.dealloc(b, big);
        }
    }

    #[test]
    fn realloc_keeps_the_contents_across_classes() {
        let a = SmallAlloc::new();
        unsafe {
            let l = Layout::from_size_align(10, 1).unwrap();
            let p = a.alloc(l);
            for i in 0..10 {
                *p.add(i) = i as u8;
            }
            let same = a.realloc(p, l, 16);
            assert_eq!(same, p, "growing within the class keeps the block");
            let grown = a.realloc(same, Layout::from_size_align(16, 1).unwrap(), 200);
            let grown = a.realloc(grown, Layout::from_size_align(200, 1).unwrap(), 1000);
            for i in 0..10 {
                assert_eq!(*grown.add(i), i as u8);
            }
            let shrunk = a.realloc(grown, Layout::from_size_align(1000, 1).unwrap(), 5);
            for i in 0..5 {
                assert_eq!(*shrunk.add(i), i as u8);
            }
            a.dealloc(shrunk, Layout::from_size_align(5, 1).unwrap());
        }
    }

    #[test]
    fn over_aligned_layouts_go_to_the_system_allocator() {
        assert_eq!(class(Layout::from_size_align(16, 32).unwrap()), None);
        assert_eq!(class(Layout::from_size_align(0, 1).unwrap()), Some(0));
        assert_eq!(class(Layout::from_size_align(256, 16).unwrap()), Some(15));
        assert_eq!(class(Layout::from_size_align(257, 1).unwrap()), None);
    }
}
