//! Dynamic loading: libraries and the symbols in them.

use std::ffi::{CString, OsStr, c_int, c_void};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use libloading::os::unix;

use crate::error::{Error, Result};

/// `dlopen` mode flags. Combine with `|`: `OpenFlags::NOW | OpenFlags::GLOBAL`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpenFlags(c_int);

impl OpenFlags {
    /// Resolve functions on first call (`RTLD_LAZY`).
    pub const LAZY: OpenFlags = OpenFlags(libc::RTLD_LAZY);
    /// Resolve every symbol at load time (`RTLD_NOW`).
    pub const NOW: OpenFlags = OpenFlags(libc::RTLD_NOW);
    /// Keep the library's symbols out of later lookups (`RTLD_LOCAL`).
    pub const LOCAL: OpenFlags = OpenFlags(libc::RTLD_LOCAL);
    /// Make the library's symbols available to later loads (`RTLD_GLOBAL`).
    pub const GLOBAL: OpenFlags = OpenFlags(libc::RTLD_GLOBAL);
    /// Never unload the library (`RTLD_NODELETE`).
    pub const NODELETE: OpenFlags = OpenFlags(libc::RTLD_NODELETE);

    /// The flags as `dlopen` takes them.
    pub fn bits(self) -> c_int {
        self.0
    }

    /// Flags from raw `RTLD_*` bits (for callers that receive them as ints).
    pub fn from_bits(bits: c_int) -> OpenFlags {
        OpenFlags(bits)
    }
}

impl Default for OpenFlags {
    /// `RTLD_NOW | RTLD_LOCAL`: fail at load time, not at the first call.
    fn default() -> OpenFlags {
        OpenFlags::NOW | OpenFlags::LOCAL
    }
}

impl std::ops::BitOr for OpenFlags {
    type Output = OpenFlags;
    fn bitor(self, rhs: OpenFlags) -> OpenFlags {
        OpenFlags(self.0 | rhs.0)
    }
}

impl fmt::Debug for OpenFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither NOW nor LAZY is invalid for dlopen: show nothing rather
        // than a mode that is not there.
        let mut names = Vec::new();
        if self.0 & libc::RTLD_NOW != 0 {
            names.push("NOW");
        } else if self.0 & libc::RTLD_LAZY != 0 {
            names.push("LAZY");
        }
        names.push(if self.0 & libc::RTLD_GLOBAL != 0 {
            "GLOBAL"
        } else {
            "LOCAL"
        });
        if self.0 & libc::RTLD_NODELETE != 0 {
            names.push("NODELETE");
        }
        write!(f, "OpenFlags({})", names.join(" | "))
    }
}

/// A loaded shared library, or the running process itself.
///
/// Cloning is cheap and shares the handle; the library is closed (`dlclose`)
/// when the last clone and the last [`Symbol`] from it are dropped, so a
/// symbol's address never outlives its library.
#[derive(Clone)]
pub struct Library(Arc<LibraryInner>);

struct LibraryInner {
    handle: unix::Library,
    name: String,
}

impl Library {
    /// Opens a library by file name (searched as `dlopen` searches) or by path.
    ///
    /// ```
    /// use ffi_raw::{Library, OpenFlags};
    /// let libm = Library::open("libm.so.6", OpenFlags::default()).unwrap();
    /// assert!(libm.symbol("cos").is_ok());
    /// let err = Library::open("libdoes-not-exist.so", OpenFlags::default()).unwrap_err();
    /// assert!(err.to_string().contains("libdoes-not-exist.so"));
    /// ```
    pub fn open(name: impl AsRef<OsStr>, flags: OpenFlags) -> Result<Library> {
        let name = name.as_ref();
        let display = name.to_string_lossy().into_owned();
        // SAFETY: loading a library runs its initialisers, which is the
        // documented purpose of this call; libloading serialises dlerror.
        let handle =
            unsafe { unix::Library::open(Some(name), flags.bits()) }.map_err(|e| Error::Load {
                name: display.clone(),
                message: loader_message(&e),
            })?;
        Ok(Library(Arc::new(LibraryInner {
            handle,
            name: display,
        })))
    }

    /// The running process: the executable and every library loaded with
    /// global symbols (`dlopen(NULL)`), libc among them.
    pub fn this() -> Library {
        Library(Arc::new(LibraryInner {
            handle: unix::Library::this(),
            name: "<this process>".to_string(),
        }))
    }

    /// The library behind `handle`, a handle that C code got from `dlopen`
    /// (cffi's `ffi.dlopen(handle)`).
    ///
    /// Ownership: the handle stays the caller's. This `Library` takes a
    /// reference of its own to the same loaded object (the loader counts
    /// it), so the caller may `dlclose` the handle whenever it likes: the
    /// library stays loaded while this `Library` or a [`Symbol`] from it
    /// lives, and dropping them releases only that own reference. The name
    /// is the path the loader knows the object by, or `<this process>` for
    /// the handle of `dlopen(NULL)`.
    ///
    /// A handle of another link-map namespace (`dlmopen`) is refused with
    /// an error, as is NULL.
    ///
    /// # Safety
    ///
    /// `handle` is NULL or a handle returned by `dlopen` (or `dlmopen`)
    /// that has not been closed since: the loader reads the object behind
    /// it, and anything else is undefined behaviour.
    pub unsafe fn from_handle(handle: *mut c_void) -> Result<Library> {
        let load_error = |message: &str| Error::Load {
            name: format!("{handle:p}"),
            message: message.to_string(),
        };
        if handle.is_null() {
            return Err(load_error("a NULL handle names no library"));
        }
        // The prefix of glibc's `struct link_map` (<link.h>), which is what
        // a handle points to there.
        #[repr(C)]
        struct LinkMap {
            l_addr: usize,
            l_name: *const std::ffi::c_char,
        }
        let mut map: *const LinkMap = std::ptr::null();
        // SAFETY: the caller promises `handle` is an open dlopen handle;
        // RTLD_DI_LINKMAP writes one pointer to `map`.
        let status = unsafe { libc::dlinfo(handle, libc::RTLD_DI_LINKMAP, (&raw mut map).cast()) };
        if status != 0 || map.is_null() {
            return Err(load_error("dlinfo cannot read the handle"));
        }
        // SAFETY: `map` is the handle's link map, which lives while the
        // handle is open; `l_name` is a NUL-terminated path ("" for the
        // main program), never written after loading.
        let path = unsafe {
            let name = (*map).l_name;
            if name.is_null() {
                return Err(load_error("the loader knows no path for it"));
            }
            std::ffi::CStr::from_ptr(name).to_owned()
        };
        let path = OsStr::from_bytes(path.to_bytes());
        // Opening the object by its path with RTLD_NOLOAD finds the loaded
        // one and counts one more reference to it, loading nothing ("" is
        // the main program, as `dlopen(NULL)`). RTLD_LAZY changes nothing
        // for an object already loaded; it is there because a mode is
        // required.
        // SAFETY: nothing is loaded, so no initialisers run; libloading
        // serialises dlerror.
        let own = unsafe { unix::Library::open(Some(path), libc::RTLD_LAZY | libc::RTLD_NOLOAD) }
            .map_err(|e| load_error(&loader_message(&e)))?;
        // The loader hands out the link map as the handle: getting another
        // one means the path names another object in the default namespace.
        let own_raw = own.into_raw();
        // SAFETY: `own_raw` came from dlopen just above; rewrapping it
        // closes it on drop, exactly once (also on the error below).
        let own = unsafe { unix::Library::from_raw(own_raw) };
        if own_raw != handle {
            return Err(load_error(
                "the handle is of another link-map namespace (dlmopen)",
            ));
        }
        let name = if path.is_empty() {
            "<this process>".to_string()
        } else {
            path.to_string_lossy().into_owned()
        };
        Ok(Library(Arc::new(LibraryInner { handle: own, name })))
    }

    /// The name or path this library was opened with.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Looks a symbol up (`dlsym`). The returned [`Symbol`] keeps this
    /// library loaded.
    pub fn symbol(&self, name: &str) -> Result<Symbol> {
        let c_name = CString::new(name).map_err(|_| Error::SymbolName(name.to_string()))?;
        // SAFETY: we ask for the raw address only (`*mut c_void`), which has
        // no validity requirements; using it is the caller's unsafe business.
        let raw = unsafe { self.0.handle.get::<*mut c_void>(c_name.as_bytes_with_nul()) };
        match raw {
            Ok(sym) => Ok(Symbol {
                addr: sym.into_raw(),
                library: self.clone(),
            }),
            Err(e) => Err(Error::Symbol {
                library: self.0.name.clone(),
                symbol: name.to_string(),
                message: loader_message(&e),
            }),
        }
    }
}

impl fmt::Debug for Library {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Library").field(&self.0.name).finish()
    }
}

/// The loader's own text for an error (dlerror), without libloading's prefix.
fn loader_message(e: &libloading::Error) -> String {
    use std::error::Error as _;
    match e.source() {
        Some(source) => source.to_string(),
        None => e.to_string(),
    }
}

/// The address of a symbol, with its library kept loaded.
#[derive(Clone)]
pub struct Symbol {
    addr: *mut c_void,
    library: Library,
}

// SAFETY: an address is plain data; the library handle is `Send + Sync`.
unsafe impl Send for Symbol {}
// SAFETY: as for `Send`.
unsafe impl Sync for Symbol {}

impl Symbol {
    /// The symbol's address. It is valid while this `Symbol` lives; it may be
    /// NULL for an undefined weak symbol.
    pub fn addr(&self) -> *mut c_void {
        self.addr
    }

    /// The symbol as a function address for [`crate::Cif::call`].
    pub fn code_ptr(&self) -> CodePtr {
        CodePtr(self.addr)
    }

    /// The library this symbol came from.
    pub fn library(&self) -> &Library {
        &self.library
    }

    /// Whether the `len` bytes at this symbol may be written: they lie in a
    /// writable segment of a loaded object, outside the part the loader
    /// makes read-only after relocation (RELRO). A `const` global lives in a
    /// read-only segment, and writing it would kill the process, whatever
    /// a declaration says about it.
    ///
    /// ```
    /// use ffi_raw::Library;
    /// let this = Library::this();
    /// // `environ` is an ordinary writable global; `strlen` is code.
    /// assert!(this.symbol("environ").unwrap().is_writable(8));
    /// assert!(!this.symbol("strlen").unwrap().is_writable(1));
    /// ```
    pub fn is_writable(&self, len: usize) -> bool {
        is_writable_data(self.addr as usize, len)
    }
}

/// Whether `[addr, addr + len)` is inside one writable, non-RELRO segment of
/// an object the dynamic loader has loaded.
fn is_writable_data(addr: usize, len: usize) -> bool {
    struct Query {
        start: usize,
        end: usize,
        writable: bool,
    }

    /// Called by `dl_iterate_phdr` for each loaded object; returns non-zero
    /// to stop once the object holding the range is found. Only reads the
    /// program headers it is given: nothing here can panic.
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut c_void,
    ) -> libc::c_int {
        // SAFETY: `data` is the `Query` passed below, borrowed exclusively
        // for the iteration; `info` and its `phnum` headers are valid for
        // this call (dl_iterate_phdr's contract).
        let (query, headers, base) = unsafe {
            let info = &*info;
            let headers: &[libc::Elf64_Phdr] = if info.dlpi_phdr.is_null() {
                &[]
            } else {
                std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum))
            };
            (&mut *data.cast::<Query>(), headers, info.dlpi_addr as usize)
        };
        let covers = |h: &libc::Elf64_Phdr| {
            let start = base.wrapping_add(h.p_vaddr as usize);
            let end = start.saturating_add(h.p_memsz as usize);
            start <= query.start && query.end <= end
        };
        let mut in_object = false;
        let mut writable = false;
        for h in headers {
            if h.p_type == libc::PT_LOAD && covers(h) {
                in_object = true;
                writable = h.p_flags & libc::PF_W != 0;
            }
        }
        if !in_object {
            return 0;
        }
        let overlaps = |h: &libc::Elf64_Phdr| {
            let start = base.wrapping_add(h.p_vaddr as usize);
            let end = start.saturating_add(h.p_memsz as usize);
            start < query.end && query.start < end
        };
        let relro = headers
            .iter()
            .any(|h| h.p_type == libc::PT_GNU_RELRO && overlaps(h));
        query.writable = writable && !relro;
        1
    }

    let Some(end) = addr.checked_add(len.max(1)) else {
        return false;
    };
    let mut query = Query {
        start: addr,
        end,
        writable: false,
    };
    // SAFETY: `visit` matches the callback type, never unwinds, and only
    // uses `data` as the `Query` it is given here, which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&raw mut query).cast()) };
    query.writable
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Symbol({:p} in {:?})", self.addr, self.library.name())
    }
}

/// The address of a function's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CodePtr(pub *mut c_void);

// SAFETY: an address is plain data; calling through it is unsafe anyway.
unsafe impl Send for CodePtr {}
// SAFETY: as for `Send`.
unsafe impl Sync for CodePtr {}

impl CodePtr {
    /// The address of a Rust or C function pointer.
    pub fn from_fn(f: *const ()) -> CodePtr {
        CodePtr(f as *mut c_void)
    }

    /// The raw address.
    pub fn as_ptr(self) -> *mut c_void {
        self.0
    }
}
