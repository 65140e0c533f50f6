//! Integration tests for the public API of `ffi-raw`: loading, the platform
//! type table, call interfaces and every error they report, calls, `errno`
//! capture, closures, and use from several threads.
//!
//! C code is generated here and compiled with `gcc` into a temporary
//! directory at test time (see [`common`]). Agreement with gcc signature by
//! signature is the business of `tests/abi_diff/`; this file covers the API
//! surface and the error paths.

mod common {
    //! Shared helpers: compiling C, typed calls, re-running this binary.

    use std::ffi::c_void;
    use std::mem::MaybeUninit;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};

    use ffi_raw::{Cif, CodePtr, Library, OpenFlags};
    use tempfile::TempDir;

    /// A shared library compiled from C source into its own temporary
    /// directory (deleted on drop; a loaded library stays mapped).
    pub struct CLib {
        _dir: TempDir,
        path: PathBuf,
    }

    impl CLib {
        /// `gcc -shared -fPIC -O2 source.c`.
        pub fn build(source: &str) -> CLib {
            CLib::build_with(source, &[])
        }

        /// As [`CLib::build`], with extra compiler or linker arguments.
        pub fn build_with(source: &str, extra: &[&str]) -> CLib {
            let dir = temp_dir();
            let path = dir.path().join("libapi_test.so");
            gcc(dir.path(), source, &["-shared", "-fPIC"], extra, &path);
            CLib { _dir: dir, path }
        }

        /// The absolute path of the `.so`.
        pub fn path(&self) -> &Path {
            &self.path
        }

        /// Opens the library with the default flags (`NOW | LOCAL`).
        pub fn open(&self) -> Library {
            self.open_with(OpenFlags::default())
        }

        /// Opens the library with `flags`, panicking with the error text.
        pub fn open_with(&self, flags: OpenFlags) -> Library {
            Library::open(&self.path, flags).unwrap_or_else(|e| panic!("{e}"))
        }
    }

    /// A fresh temporary directory under cargo's directory for integration
    /// test files (not the shared `/tmp`), deleted on drop.
    pub fn temp_dir() -> TempDir {
        tempfile::Builder::new()
            .prefix("ffi-raw-api-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("create a temporary directory")
    }

    /// Compiles and runs a C program, returning its standard output.
    pub fn run_c_program(source: &str) -> String {
        let dir = temp_dir();
        let exe = dir.path().join("program");
        gcc(dir.path(), source, &[], &[], &exe);
        let output = Command::new(&exe).output().expect("run the C program");
        assert!(output.status.success(), "C program failed: {output:?}");
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    fn gcc(dir: &Path, source: &str, mode: &[&str], extra: &[&str], out: &Path) {
        let src = dir.join("source.c");
        std::fs::write(&src, source).expect("write the C source");
        let output = Command::new("gcc")
            .args(["-std=gnu11", "-O2", "-Wall"])
            .args(mode)
            .arg("-o")
            .arg(out)
            .arg(&src)
            .args(extra)
            .output()
            .expect("run gcc");
        assert!(
            output.status.success(),
            "gcc failed:\n{}\n--- source ---\n{source}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The code address of `name` in `lib` (valid while `lib` lives).
    pub fn func(lib: &Library, name: &str) -> CodePtr {
        lib.symbol(name)
            .unwrap_or_else(|e| panic!("{e}"))
            .code_ptr()
    }

    /// The argument pointer for `value`.
    pub fn arg<T>(value: &T) -> *const c_void {
        (value as *const T).cast()
    }

    /// Calls `func` through `cif` and returns the value as an `R`.
    ///
    /// # Safety
    /// As for [`Cif::call`]; `R` must have the layout of the return type.
    pub unsafe fn call<R>(cif: &Cif, func: CodePtr, args: &[*const c_void]) -> R {
        assert_eq!(
            std::mem::size_of::<R>(),
            cif.return_type().size(),
            "the Rust return type does not match {}",
            cif.return_type()
        );
        let mut ret = MaybeUninit::<R>::zeroed();
        // SAFETY: forwarded from this function's contract; `ret` is writable
        // and aligned for `R`, which has the return type's size.
        unsafe {
            cif.call(func, args, ret.as_mut_ptr().cast())
                .unwrap_or_else(|e| panic!("{e}"));
            ret.assume_init()
        }
    }

    /// Writes `value` as a closure's return bytes.
    pub fn write_ret<T: Copy>(ret: &mut [u8], value: T) {
        assert_eq!(ret.len(), std::mem::size_of::<T>(), "return buffer size");
        // SAFETY: `ret` has exactly `size_of::<T>()` writable bytes; the
        // write is unaligned.
        unsafe { ret.as_mut_ptr().cast::<T>().write_unaligned(value) }
    }

    /// Reads argument `i` of a closure as a `T` (for structs and other
    /// non-[`ffi_raw::Scalar`] types).
    pub fn read_arg<T: Copy>(args: &ffi_raw::ClosureArgs<'_>, i: usize) -> T {
        assert_eq!(
            args.bytes(i).len(),
            std::mem::size_of::<T>(),
            "argument size"
        );
        // SAFETY: the argument's bytes are `size_of::<T>()` long and the
        // caller names a `T` that every such argument value is valid for.
        unsafe { args.as_ptr(i).cast::<T>().read_unaligned() }
    }

    /// The environment variable that makes a re-run test take its child role.
    pub const CHILD_ENV: &str = "FFI_RAW_API_TEST_CHILD";

    /// This process's role, if it was started by [`run_child`].
    pub fn child_role() -> Option<String> {
        std::env::var(CHILD_ENV).ok()
    }

    /// The libtest name of test `function` in `module` (a `module_path!()`).
    pub fn test_name(module: &str, function: &str) -> String {
        let inner = module.split_once("::").map_or("", |(_, rest)| rest);
        format!("{inner}::{function}")
    }

    /// Re-runs this test binary for exactly the test `name`, with
    /// [`CHILD_ENV`] set to `role`, and returns what it did.
    pub fn run_child(name: &str, role: &str) -> Output {
        Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--exact", name, "--nocapture", "--include-ignored"])
            .args(["--test-threads", "1"])
            .env(CHILD_ENV, role)
            .output()
            .expect("run the test binary again")
    }

    /// Writes over a stretch of stack below the caller, so that later calls
    /// find non-zero garbage in uninitialised stack memory.
    #[inline(never)]
    pub fn dirty_stack() {
        let garbage = [0xA5u8; 32 * 1024];
        std::hint::black_box(&garbage);
    }

    /// An x87 80-bit `long double` in its 16-byte, 16-aligned slot.
    #[repr(C, align(16))]
    #[derive(Clone, Copy, Debug)]
    pub struct LongDouble(pub [u8; 16]);

    impl LongDouble {
        /// `(-1)^negative * mantissa * 2^(exponent - 16383 - 63)`, with the
        /// explicit integer bit in the mantissa's top bit.
        pub fn new(negative: bool, exponent: u16, mantissa: u64) -> LongDouble {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&mantissa.to_le_bytes());
            let se = exponent | (u16::from(negative) << 15);
            bytes[8..10].copy_from_slice(&se.to_le_bytes());
            LongDouble(bytes)
        }

        /// `(negative, exponent, mantissa)`: the ten meaningful bytes.
        pub fn parts(&self) -> (bool, u16, u64) {
            let mantissa = u64::from_le_bytes(self.0[..8].try_into().unwrap());
            let se = u16::from_le_bytes([self.0[8], self.0[9]]);
            (se & 0x8000 != 0, se & 0x7fff, mantissa)
        }
    }
}

mod loading {
    use std::ffi::{c_char, c_int};

    use ffi_raw::{Cif, Error, Library, OpenFlags, Type};

    use crate::common::{CLib, arg, call, func};

    fn int_fn(value: &str, name: &str) -> String {
        format!("int {name}(void) {{ return {value}; }}\n")
    }

    /// Whether the library at `path` is currently loaded in this process.
    fn is_loaded(path: &std::path::Path) -> bool {
        // RTLD_NOLOAD opens only an already loaded library (adding a
        // reference that the returned Library drops again).
        Library::open(
            path,
            OpenFlags::from_bits(libc::RTLD_LAZY | libc::RTLD_NOLOAD),
        )
        .is_ok()
    }

    fn call_int(lib: &Library, name: &str) -> c_int {
        let cif = Cif::new([], Type::I32).unwrap();
        // SAFETY: every `name` passed here is `int name(void)`.
        unsafe { call(&cif, func(lib, name), &[]) }
    }

    #[test]
    fn open_by_soname() {
        let libm = Library::open("libm.so.6", OpenFlags::default()).unwrap();
        assert_eq!(libm.name(), "libm.so.6");
        assert!(format!("{libm:?}").contains("libm.so.6"));
        let cos = libm.symbol("cos").unwrap();
        assert!(!cos.addr().is_null());
        assert_eq!(cos.code_ptr().as_ptr(), cos.addr());
        assert_eq!(cos.library().name(), "libm.so.6");
        assert!(format!("{cos:?}").contains("libm.so.6"));
        let cif = Cif::new([Type::F64], Type::F64).unwrap();
        let x = std::f64::consts::PI;
        // SAFETY: `double cos(double)`.
        let r: f64 = unsafe { call(&cif, cos.code_ptr(), &[arg(&x)]) };
        assert_eq!(r, -1.0);
    }

    #[test]
    fn open_by_absolute_path() {
        let lib = CLib::build(&int_fn("31337", "api_abs_path_fn"));
        assert!(lib.path().is_absolute());
        let opened = lib.open();
        assert_eq!(opened.name(), lib.path().to_str().unwrap());
        assert_eq!(call_int(&opened, "api_abs_path_fn"), 31337);
    }

    #[test]
    fn this_process_finds_libc() {
        let this = Library::this();
        assert_eq!(this.name(), "<this process>");
        let strlen = this.symbol("strlen").unwrap();
        let cif = Cif::new([Type::Pointer], Type::U64).unwrap();
        let s = c"twelve chars";
        let p: *const c_char = s.as_ptr();
        // SAFETY: `size_t strlen(const char *)` with a NUL-terminated string.
        let n: u64 = unsafe { call(&cif, strlen.code_ptr(), &[arg(&p)]) };
        assert_eq!(n, 12);
    }

    #[test]
    fn global_symbols_are_visible_through_this() {
        let lib = CLib::build(&int_fn("4242", "api_global_probe_fn"));
        assert!(Library::this().symbol("api_global_probe_fn").is_err());
        let opened = lib.open_with(OpenFlags::LAZY | OpenFlags::GLOBAL);
        {
            let this = Library::this();
            assert_eq!(call_int(&this, "api_global_probe_fn"), 4242);
        }
        drop(opened);
        // The last reference is gone: the library is unloaded and its
        // symbols leave the global scope.
        assert!(!is_loaded(lib.path()));
        assert!(Library::this().symbol("api_global_probe_fn").is_err());
    }

    #[test]
    fn local_symbols_are_not_visible_through_this() {
        let lib = CLib::build(&int_fn("77", "api_local_probe_fn"));
        for flags in [
            OpenFlags::default(),
            OpenFlags::NOW | OpenFlags::LOCAL,
            OpenFlags::LAZY | OpenFlags::LOCAL,
        ] {
            let opened = lib.open_with(flags);
            assert_eq!(call_int(&opened, "api_local_probe_fn"), 77);
            match Library::this().symbol("api_local_probe_fn") {
                Err(Error::Symbol {
                    library, symbol, ..
                }) => {
                    assert_eq!(library, "<this process>");
                    assert_eq!(symbol, "api_local_probe_fn");
                }
                other => panic!("a LOCAL symbol was found through this(): {other:?}"),
            }
        }
    }

    /// GLOBAL also makes a library's symbols available to libraries loaded
    /// later; LOCAL does not.
    #[test]
    fn global_satisfies_later_loads_and_local_does_not() {
        for (flags, provider_name) in [
            (OpenFlags::NOW | OpenFlags::LOCAL, "api_provider_local_case"),
            (
                OpenFlags::NOW | OpenFlags::GLOBAL,
                "api_provider_global_case",
            ),
        ] {
            let provider = CLib::build(&int_fn("555", provider_name));
            let consumer = CLib::build(&format!(
                "extern int {provider_name}(void);\n\
                 int api_consumer_fn(void) {{ return {provider_name}() + 1; }}\n"
            ));
            let _provider = provider.open_with(flags);
            let result = Library::open(consumer.path(), OpenFlags::NOW);
            if flags == OpenFlags::NOW | OpenFlags::GLOBAL {
                let consumer = result.unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(call_int(&consumer, "api_consumer_fn"), 556);
            } else {
                let err = result.expect_err("LOCAL symbols satisfied a later load");
                assert!(err.to_string().contains(provider_name), "{err}");
            }
        }
    }

    #[test]
    fn now_fails_on_unresolved_symbols_and_lazy_does_not() {
        let source = "extern int api_never_defined_anywhere(void);\n\
                      int api_calls_undefined(void) { return api_never_defined_anywhere(); }\n\
                      int api_harmless(void) { return 9; }\n";
        // `-z lazy`: no BIND_NOW in the library, whatever the toolchain default.
        let lib = CLib::build_with(source, &["-Wl,-z,lazy"]);

        let err = Library::open(lib.path(), OpenFlags::NOW).unwrap_err();
        match &err {
            Error::Load { name, message } => {
                assert_eq!(name, lib.path().to_str().unwrap());
                assert!(message.contains("undefined symbol"), "{message}");
                assert!(message.contains("api_never_defined_anywhere"), "{message}");
            }
            other => panic!("expected Error::Load, got {other:?}"),
        }
        assert!(err.to_string().contains("cannot load library"), "{err}");
        assert!(!is_loaded(lib.path()));

        let lazy = lib.open_with(OpenFlags::LAZY);
        assert_eq!(call_int(&lazy, "api_harmless"), 9);
        // The unresolved function's own address is still available.
        assert!(lazy.symbol("api_calls_undefined").is_ok());
    }

    #[test]
    fn missing_library_error_has_name_and_loader_text() {
        let name = "libffi-raw-api-no-such-library.so.7";
        let err = Library::open(name, OpenFlags::default()).unwrap_err();
        let Error::Load { name: n, message } = &err else {
            panic!("expected Error::Load, got {err:?}");
        };
        assert_eq!(n, name);
        assert!(
            message.contains("cannot open shared object file"),
            "not the dlerror text: {message}"
        );
        let text = err.to_string();
        assert!(
            text.contains(name) && text.contains(message.as_str()),
            "{text}"
        );

        let path = "/nonexistent-ffi-raw-dir/libx.so";
        let err = Library::open(path, OpenFlags::default()).unwrap_err();
        assert!(err.to_string().contains(path), "{err}");
        assert!(err.to_string().contains("No such file"), "{err}");
    }

    #[test]
    fn non_elf_file_error() {
        let dir = crate::common::temp_dir();
        let path = dir.path().join("libnot-elf.so");
        std::fs::write(
            &path,
            "this is not an ELF file, just some text\n".repeat(20),
        )
        .unwrap();
        let err = Library::open(&path, OpenFlags::default()).unwrap_err();
        let Error::Load { message, .. } = &err else {
            panic!("expected Error::Load, got {err:?}");
        };
        assert!(message.contains("ELF"), "{message}");
        assert!(err.to_string().contains("libnot-elf.so"), "{err}");
    }

    #[test]
    fn open_without_lazy_or_now_is_an_error() {
        // dlopen requires exactly one of RTLD_LAZY / RTLD_NOW.
        let lib = CLib::build(&int_fn("1", "api_mode_fn"));
        let err = Library::open(lib.path(), OpenFlags::GLOBAL).unwrap_err();
        assert!(matches!(err, Error::Load { .. }), "{err:?}");
        assert!(err.to_string().contains("invalid mode"), "{err}");
    }

    #[test]
    fn missing_symbol_error_names_library_and_symbol() {
        let libm = Library::open("libm.so.6", OpenFlags::default()).unwrap();
        let err = libm.symbol("api_no_such_symbol_xyz").unwrap_err();
        let Error::Symbol {
            library,
            symbol,
            message,
        } = &err
        else {
            panic!("expected Error::Symbol, got {err:?}");
        };
        assert_eq!(library, "libm.so.6");
        assert_eq!(symbol, "api_no_such_symbol_xyz");
        assert!(message.contains("undefined symbol"), "{message}");
        let text = err.to_string();
        assert!(
            text.contains("libm.so.6") && text.contains("api_no_such_symbol_xyz"),
            "{text}"
        );
    }

    #[test]
    fn symbol_name_with_nul_is_rejected() {
        let this = Library::this();
        let err = this.symbol("str\0len").unwrap_err();
        assert!(
            matches!(&err, Error::SymbolName(name) if name == "str\0len"),
            "{err:?}"
        );
        assert!(err.to_string().contains("NUL"), "{err}");
        // An empty name is not an error of this kind: the loader decides.
        assert!(!matches!(this.symbol(""), Err(Error::SymbolName(_))));
    }

    #[test]
    fn symbol_keeps_its_library_loaded() {
        let lib = CLib::build(&int_fn("2024", "api_kept_alive_fn"));
        let opened = lib.open();
        let clone = opened.clone();
        let symbol = opened.symbol("api_kept_alive_fn").unwrap();
        drop(opened);
        drop(clone);
        assert!(
            is_loaded(lib.path()),
            "the library was unloaded under a live Symbol"
        );
        let cif = Cif::new([], Type::I32).unwrap();
        // SAFETY: `int api_kept_alive_fn(void)`, still mapped (checked above).
        let r: c_int = unsafe { call(&cif, symbol.code_ptr(), &[]) };
        assert_eq!(r, 2024);
        let symbol_clone = symbol.clone();
        drop(symbol);
        assert!(is_loaded(lib.path()));
        drop(symbol_clone);
        assert!(
            !is_loaded(lib.path()),
            "the last Symbol did not unload the library"
        );
    }

    /// `dlopen` called directly, as C code would, for `from_handle`.
    fn c_dlopen(path: Option<&std::path::Path>) -> *mut std::ffi::c_void {
        use std::os::unix::ffi::OsStrExt;
        let path = path.map(|p| std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap());
        let name = path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
        // SAFETY: `name` is NULL or a NUL-terminated path.
        let handle = unsafe { libc::dlopen(name, libc::RTLD_NOW) };
        assert!(!handle.is_null(), "dlopen failed");
        handle
    }

    /// The handle stays the caller's: closing it does not unload the
    /// library under the `Library`, whose drop then unloads it.
    #[test]
    fn from_handle_keeps_the_library_after_the_caller_closes_the_handle() {
        let lib = CLib::build(&int_fn("606", "api_from_handle_fn"));
        let handle = c_dlopen(Some(lib.path()));
        // SAFETY: `handle` is open.
        let opened = unsafe { Library::from_handle(handle) }.unwrap();
        assert_eq!(opened.name(), lib.path().to_str().unwrap());
        assert_eq!(call_int(&opened, "api_from_handle_fn"), 606);
        // SAFETY: the handle is the caller's to close, once.
        assert_eq!(unsafe { libc::dlclose(handle) }, 0);
        assert!(
            is_loaded(lib.path()),
            "closing the handle unloaded the library"
        );
        assert_eq!(call_int(&opened, "api_from_handle_fn"), 606);
        drop(opened);
        assert!(!is_loaded(lib.path()));
    }

    /// Dropping the `Library` does not close the caller's handle.
    #[test]
    fn from_handle_leaves_the_handle_open_after_its_drop() {
        let lib = CLib::build(&int_fn("707", "api_from_handle_drop_fn"));
        let handle = c_dlopen(Some(lib.path()));
        // SAFETY: `handle` is open.
        let opened = unsafe { Library::from_handle(handle) }.unwrap();
        let symbol = opened.symbol("api_from_handle_drop_fn").unwrap();
        drop(opened);
        drop(symbol);
        assert!(is_loaded(lib.path()), "the drop closed the caller's handle");
        // SAFETY: the handle is still open, and closed once here.
        assert_eq!(unsafe { libc::dlclose(handle) }, 0);
        assert!(!is_loaded(lib.path()));
    }

    #[test]
    fn from_handle_of_the_process_and_of_null() {
        let handle = c_dlopen(None);
        // SAFETY: `handle` is open.
        let this = unsafe { Library::from_handle(handle) }.unwrap();
        assert_eq!(this.name(), "<this process>");
        assert!(this.symbol("strlen").is_ok());
        // SAFETY: closed once; the main program is never unloaded.
        assert_eq!(unsafe { libc::dlclose(handle) }, 0);

        // SAFETY: NULL is allowed, and refused.
        let err = unsafe { Library::from_handle(std::ptr::null_mut()) }.unwrap_err();
        assert!(matches!(err, Error::Load { .. }), "{err:?}");
        assert!(err.to_string().contains("NULL"), "{err}");
    }

    #[test]
    fn nodelete_keeps_the_library_after_the_last_drop() {
        let lib = CLib::build(&int_fn("3", "api_nodelete_fn"));
        let opened = lib.open_with(OpenFlags::NOW | OpenFlags::NODELETE);
        drop(opened);
        assert!(is_loaded(lib.path()));
    }

    #[test]
    fn open_flags_bits_and_debug() {
        assert_eq!(
            OpenFlags::default().bits(),
            libc::RTLD_NOW | libc::RTLD_LOCAL
        );
        assert_eq!(OpenFlags::default(), OpenFlags::NOW | OpenFlags::LOCAL);
        let all = OpenFlags::LAZY | OpenFlags::GLOBAL | OpenFlags::NODELETE;
        assert_eq!(
            all.bits(),
            libc::RTLD_LAZY | libc::RTLD_GLOBAL | libc::RTLD_NODELETE
        );
        assert_eq!(OpenFlags::from_bits(all.bits()), all);
        assert_eq!(
            format!("{:?}", OpenFlags::default()),
            "OpenFlags(NOW | LOCAL)"
        );
        assert_eq!(format!("{all:?}"), "OpenFlags(LAZY | GLOBAL | NODELETE)");
        assert_eq!(format!("{:?}", OpenFlags::GLOBAL), "OpenFlags(GLOBAL)");
    }
}

mod types {
    use std::collections::HashMap;

    use ffi_raw::{AggregateKind, ArrayType, CScalar, Error, StructType, Target, Type};

    use crate::common::run_c_program;

    /// Every `CScalar`'s size, alignment, float-ness and signedness, and
    /// every `Target` field, as gcc sees them on this machine.
    #[test]
    fn scalar_table_matches_gcc() {
        let mut src = String::from(
            "#include <stdio.h>\n#include <stdint.h>\n#include <stddef.h>\n\
             #include <sys/types.h>\n#include <wchar.h>\n#include <uchar.h>\nint main(void) {\n",
        );
        for scalar in CScalar::ALL {
            let t = scalar.c_name();
            if t == "void *" {
                src +=
                    &format!("printf(\"{t}|%zu|%zu|pointer\\n\", sizeof({t}), _Alignof({t}));\n");
            } else {
                // (T)0.5 * 2 == 1 only for floating types (`_Bool` gives 2);
                // (T)-1 < (T)0 only for signed types.
                src += &format!(
                    "printf(\"{t}|%zu|%zu|%s|%d\\n\", sizeof({t}), _Alignof({t}), \
                     (({t})0.5 * 2 == 1) ? \"float\" : \"integer\", (int)(({t})-1 < ({t})0));\n"
                );
            }
        }
        src += "printf(\"@char_is_signed|%d\\n\", (int)((char)-1 < 0));\n\
                printf(\"@short_size|%zu\\n\", sizeof(short));\n\
                printf(\"@int_size|%zu\\n\", sizeof(int));\n\
                printf(\"@long_size|%zu\\n\", sizeof(long));\n\
                printf(\"@long_long_size|%zu\\n\", sizeof(long long));\n\
                printf(\"@pointer_size|%zu\\n\", sizeof(void *));\n\
                printf(\"@long_double_size|%zu\\n\", sizeof(long double));\n\
                printf(\"@long_double_align|%zu\\n\", _Alignof(long double));\n\
                printf(\"@max_align|%zu\\n\", _Alignof(max_align_t));\n\
                printf(\"@wchar_size|%zu\\n\", sizeof(wchar_t));\n\
                printf(\"@wchar_is_signed|%d\\n\", (int)((wchar_t)-1 < 0));\n\
                return 0;\n}\n";
        let out = run_c_program(&src);

        let mut seen = 0;
        let mut facts = HashMap::new();
        for line in out.lines() {
            let fields: Vec<&str> = line.split('|').collect();
            if let Some(key) = fields[0].strip_prefix('@') {
                facts.insert(key.to_string(), fields[1].parse::<usize>().unwrap());
                continue;
            }
            let scalar = *CScalar::ALL
                .iter()
                .find(|s| s.c_name() == fields[0])
                .unwrap_or_else(|| panic!("unknown C name in {line:?}"));
            let ty = scalar.raw_type();
            assert_eq!(ty, Target::HOST.raw_type(scalar));
            assert_eq!(ty, Type::from(scalar));
            let (size, align): (usize, usize) =
                (fields[1].parse().unwrap(), fields[2].parse().unwrap());
            assert_eq!(
                (ty.size(), ty.align()),
                (size, align),
                "{} is {ty}",
                fields[0]
            );
            match fields[3] {
                "pointer" => assert_eq!(ty, Type::Pointer, "{}", fields[0]),
                "float" => assert!(
                    matches!(ty, Type::F32 | Type::F64 | Type::LongDouble),
                    "{} is a floating type, not {ty}",
                    fields[0]
                ),
                "integer" => {
                    assert!(ty.is_integer(), "{} is an integer, not {ty}", fields[0]);
                    let signed = fields[4] == "1";
                    assert_eq!(
                        ty.is_signed_integer(),
                        signed,
                        "signedness of {}",
                        fields[0]
                    );
                }
                other => panic!("bad kind {other}"),
            }
            seen += 1;
        }
        assert_eq!(seen, CScalar::ALL.len());

        let host = Target::HOST;
        let expect = [
            ("char_is_signed", usize::from(host.char_is_signed)),
            ("short_size", host.short_size),
            ("int_size", host.int_size),
            ("long_size", host.long_size),
            ("long_long_size", host.long_long_size),
            ("pointer_size", host.pointer_size),
            ("long_double_size", host.long_double_size),
            ("long_double_align", host.long_double_align),
            ("max_align", host.max_align),
            ("wchar_size", host.wchar_size),
            ("wchar_is_signed", usize::from(host.wchar_is_signed)),
        ];
        for (key, value) in expect {
            assert_eq!(facts[key], value, "Target::HOST.{key}");
        }
        assert_eq!(
            Type::from(CScalar::Char).is_signed_integer(),
            host.char_is_signed
        );
    }

    #[test]
    fn host_target_is_the_right_table() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(Target::HOST, Target::X86_64_LINUX);
        #[cfg(target_arch = "aarch64")]
        assert_eq!(Target::HOST, Target::AARCH64_LINUX);
        assert!(!Target::HOST.name.is_empty());
        assert_eq!(Target::AARCH64_LINUX.raw_type(CScalar::Char), Type::U8);
        assert_eq!(Target::X86_64_LINUX.raw_type(CScalar::Char), Type::I8);
    }

    #[test]
    fn struct_and_array_types() {
        let arr = ArrayType::new(Type::I16, 3).unwrap();
        assert_eq!((arr.len(), arr.size(), arr.is_empty()), (3, 6, false));
        assert_eq!(arr.element(), &Type::I16);
        assert!(ArrayType::new(Type::I16, 0).unwrap().is_empty());
        let s = StructType::new([Type::I8, Type::Array(arr.clone()), Type::F64]).unwrap();
        assert_eq!(s.offsets(), &[0, 2, 8]);
        assert_eq!((s.size(), s.align()), (16, 8));
        assert_eq!(s.memory_only_kind(), None);
        assert_eq!(s.fields().len(), 3);
        let ty = Type::Struct(s.clone());
        assert_eq!(ty.to_string(), "struct { i8, i16[3], f64 }");
        assert_eq!(
            ty,
            Type::Struct(StructType::new(s.fields().to_vec()).unwrap())
        );

        let u = StructType::memory_only(AggregateKind::Union, 12, 4).unwrap();
        assert_eq!(u.memory_only_kind(), Some(AggregateKind::Union));
        assert!(u.fields().is_empty());
        assert_eq!(Type::Struct(u.clone()).to_string(), "union (12 bytes)");
        assert_ne!(
            Type::Struct(u),
            Type::Struct(StructType::memory_only(AggregateKind::Packed, 12, 4).unwrap())
        );
        assert_eq!(AggregateKind::Packed.to_string(), "packed struct");
        assert_eq!(
            AggregateKind::Bitfields.to_string(),
            "struct with bitfields"
        );
    }

    #[test]
    fn layout_errors() {
        let err = StructType::new([]).unwrap_err();
        assert!(matches!(err, Error::EmptyStruct), "{err:?}");
        assert!(err.to_string().contains("at least one field"), "{err}");

        let err = StructType::new([Type::I32, Type::Void]).unwrap_err();
        assert!(
            matches!(&err, Error::Layout(m) if m.contains("field 1")),
            "{err:?}"
        );
        assert!(err.to_string().contains("invalid layout"), "{err}");

        let err = ArrayType::new(Type::Void, 4).unwrap_err();
        assert!(
            matches!(&err, Error::Layout(m) if m.contains("void")),
            "{err:?}"
        );

        let err = ArrayType::new(Type::I64, usize::MAX / 4).unwrap_err();
        assert!(matches!(&err, Error::TooLarge(_)), "{err:?}");
        assert!(err.to_string().contains("too large"), "{err}");

        let big = Type::Array(ArrayType::new(Type::U8, isize::MAX as usize - 1).unwrap());
        let err = StructType::new([Type::I64, big]).unwrap_err();
        assert!(matches!(&err, Error::TooLarge(_)), "{err:?}");

        for (size, align) in [(6, 4), (12, 3), (8, 0)] {
            let err = StructType::memory_only(AggregateKind::Union, size, align).unwrap_err();
            assert!(
                matches!(&err, Error::Layout(m) if m.contains("alignment")),
                "{err:?}"
            );
        }
    }
}

mod cif_errors {
    use ffi_raw::{
        AggregateKind, ArrayType, Cif, Closure, Error, OnPanic, Position, StructType, Type,
    };

    use crate::common::arg;

    fn memory_only(kind: AggregateKind) -> Type {
        Type::Struct(StructType::memory_only(kind, 8, 4).unwrap())
    }

    fn array() -> Type {
        Type::Array(ArrayType::new(Type::I32, 4).unwrap())
    }

    const KINDS: [AggregateKind; 3] = [
        AggregateKind::Union,
        AggregateKind::Packed,
        AggregateKind::Bitfields,
    ];

    #[test]
    fn void_argument() {
        let err = Cif::new([Type::I32, Type::Void], Type::Void).unwrap_err();
        assert!(
            matches!(err, Error::VoidValue(Position::Argument(1))),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("argument 1") && text.contains("void"),
            "{text}"
        );

        let err =
            Cif::new_variadic([Type::Pointer], [Type::I32, Type::Void], Type::I32).unwrap_err();
        assert!(
            matches!(err, Error::VoidValue(Position::Argument(2))),
            "{err:?}"
        );
        let err = Closure::new([Type::Void], Type::Void, |_, _| {}).unwrap_err();
        assert!(
            matches!(err, Error::VoidValue(Position::Argument(0))),
            "{err:?}"
        );
        // void is a fine return type.
        assert!(Cif::new([Type::I32], Type::Void).is_ok());
    }

    #[test]
    fn array_argument_and_return() {
        let err = Cif::new([Type::I32, Type::I32, array()], Type::Void).unwrap_err();
        assert!(
            matches!(err, Error::ArrayByValue(Position::Argument(2))),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("argument 2") && text.contains("array") && text.contains("Pointer"),
            "{text}"
        );

        let err = Cif::new([Type::I32], array()).unwrap_err();
        assert!(
            matches!(err, Error::ArrayByValue(Position::Return)),
            "{err:?}"
        );
        assert!(err.to_string().contains("return value"), "{err}");

        let err = Cif::new_variadic([Type::I32], [array()], Type::Void).unwrap_err();
        assert!(
            matches!(err, Error::ArrayByValue(Position::Argument(1))),
            "{err:?}"
        );
        let err = Closure::new([], array(), |_, _| {}).unwrap_err();
        assert!(
            matches!(err, Error::ArrayByValue(Position::Return)),
            "{err:?}"
        );
    }

    #[test]
    fn memory_only_argument_and_return() {
        for kind in KINDS {
            let err = Cif::new([Type::F64, memory_only(kind)], Type::Void).unwrap_err();
            match &err {
                Error::NotByValue { position, kind: k } => {
                    assert_eq!(*position, Position::Argument(1));
                    assert_eq!(*k, kind);
                }
                other => panic!("expected NotByValue, got {other:?}"),
            }
            let text = err.to_string();
            assert!(
                text.contains("argument 1")
                    && text.contains(&kind.to_string())
                    && text.contains("by value"),
                "{text}"
            );

            let err = Cif::new([Type::I32], memory_only(kind)).unwrap_err();
            assert!(
                matches!(err, Error::NotByValue { position: Position::Return, kind: k } if k == kind),
                "{err:?}"
            );
            assert!(err.to_string().contains("return value"), "{err}");

            let err =
                Cif::new_variadic([Type::Pointer], [memory_only(kind)], Type::I32).unwrap_err();
            assert!(
                matches!(err, Error::NotByValue { position: Position::Argument(1), kind: k } if k == kind),
                "{err:?}"
            );

            let err = Closure::new([memory_only(kind)], Type::Void, |_, _| {}).unwrap_err();
            assert!(
                matches!(err, Error::NotByValue { position: Position::Argument(0), kind: k } if k == kind),
                "{err:?}"
            );
            let err = Closure::new([], memory_only(kind), |_, _| {}).unwrap_err();
            assert!(
                matches!(err, Error::NotByValue { position: Position::Return, kind: k } if k == kind),
                "{err:?}"
            );
        }
    }

    #[test]
    fn variadic_without_fixed_arguments() {
        let err = Cif::new_variadic([], [Type::I32], Type::I32).unwrap_err();
        assert!(matches!(err, Error::VariadicWithoutFixed), "{err:?}");
        assert!(err.to_string().contains("fixed argument"), "{err}");
        let err = Cif::new_variadic([], [], Type::Void).unwrap_err();
        assert!(matches!(err, Error::VariadicWithoutFixed), "{err:?}");
        // No variadic arguments at all is a valid call shape.
        let cif = Cif::new_variadic([Type::Pointer], [], Type::I32).unwrap();
        assert_eq!(cif.fixed_args(), Some(1));
    }

    extern "C" fn add3(a: i32, b: i32, c: i32) -> i32 {
        a + b + c
    }

    #[test]
    fn wrong_argument_count() {
        let f = ffi_raw::CodePtr::from_fn(add3 as *const ());
        let fast = Cif::new([const { Type::I32 }; 3], Type::I32).unwrap();
        let variadic = Cif::new_variadic([Type::I32], [Type::I32, Type::I32], Type::I32).unwrap();
        assert!(fast.uses_fast_path());
        assert!(!variadic.uses_fast_path());
        let (a, b, c) = (1i32, 2i32, 3i32);
        for cif in [&fast, &variadic] {
            for args in [
                vec![arg(&a), arg(&b)],
                vec![arg(&a), arg(&b), arg(&c), arg(&c)],
                vec![],
            ] {
                let mut ret = 0x5555_5555i32;
                // SAFETY: the count check fails before anything is called.
                let err = unsafe { cif.call(f, &args, (&raw mut ret).cast()) }.unwrap_err();
                match err {
                    Error::ArgCount { expected, got } => {
                        assert_eq!((expected, got), (3, args.len()));
                    }
                    ref other => panic!("expected ArgCount, got {other:?}"),
                }
                assert_eq!(
                    err.to_string(),
                    format!("expected 3 arguments, got {}", args.len())
                );
                assert_eq!(ret, 0x5555_5555, "the return buffer was written");
                // SAFETY: as above.
                let err = unsafe { cif.call_with_errno(f, &args, (&raw mut ret).cast(), None) }
                    .unwrap_err();
                assert!(matches!(err, Error::ArgCount { .. }), "{err:?}");
            }
            let mut ret = 0i32;
            // SAFETY: `add3` is `int (int, int, int)`; reading the variadic
            // ints as fixed ones matches the x86-64 and AArch64 Linux ABIs
            // for int arguments in registers.
            unsafe { cif.call(f, &[arg(&a), arg(&b), arg(&c)], (&raw mut ret).cast()) }.unwrap();
            assert_eq!(ret, 6);
        }
    }

    #[test]
    fn zero_sized_struct_is_rejected_before_libffi() {
        let empty = || {
            let zero = Type::Array(ArrayType::new(Type::I32, 0).unwrap());
            Type::Struct(StructType::new([zero]).unwrap())
        };
        assert_eq!(empty().size(), 0);
        let zero_sized = |err: &Error, pos: Position| matches!(err, Error::NotByValue { position, kind: AggregateKind::ZeroSized } if *position == pos);
        let err = Cif::new([empty()], Type::Void).unwrap_err();
        assert!(zero_sized(&err, Position::Argument(0)), "{err:?}");
        assert!(err.to_string().contains("zero-sized"), "{err}");
        let err = Cif::new([], empty()).unwrap_err();
        assert!(zero_sized(&err, Position::Return), "{err:?}");
    }

    #[test]
    fn closure_return_size() {
        let err = Closure::with_on_panic(
            [Type::I32],
            Type::I32,
            OnPanic::Return(vec![0; 8]),
            |_, _| {},
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::ReturnSize {
                    expected: 4,
                    got: 8
                }
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains('4') && text.contains('8') && text.contains("bytes"),
            "{text}"
        );
        let err = Closure::with_on_panic([], Type::Void, OnPanic::Return(vec![1]), |_, _| {})
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::ReturnSize {
                    expected: 0,
                    got: 1
                }
            ),
            "{err:?}"
        );
        let pt = Type::Struct(StructType::new([Type::F64, Type::I64]).unwrap());
        let err = Closure::with_on_panic([], pt.clone(), OnPanic::Return(vec![0; 15]), |_, _| {})
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::ReturnSize {
                    expected: 16,
                    got: 15
                }
            ),
            "{err:?}"
        );
        assert!(Closure::with_on_panic([], pt, OnPanic::Return(vec![0; 16]), |_, _| {}).is_ok());
        assert!(Closure::with_on_panic([], Type::Void, OnPanic::Return(vec![]), |_, _| {}).is_ok());
    }

    #[test]
    fn cif_accessors() {
        let cif = Cif::new_variadic([Type::Pointer], [Type::F32, Type::I8], Type::I32).unwrap();
        assert_eq!(cif.arg_types(), &[Type::Pointer, Type::F32, Type::I8]);
        assert_eq!(cif.return_type(), &Type::I32);
        assert_eq!(cif.fixed_args(), Some(1));
        assert!(!cif.uses_fast_path());
        let cif = Cif::new([Type::I64, Type::F64], Type::F64).unwrap();
        assert_eq!(cif.fixed_args(), None);
        assert!(cif.uses_fast_path());
        assert!(format!("{cif:?}").contains("fast_path: true"), "{cif:?}");
        let many = Cif::new([const { Type::I64 }; 7], Type::I64).unwrap();
        assert!(!many.uses_fast_path());
        let ld = Cif::new([Type::LongDouble], Type::LongDouble).unwrap();
        assert!(!ld.uses_fast_path());
    }

    /// Memory-only aggregates nested inside a by-value struct must be either
    /// rejected (`NotByValue`, or an error from `StructType::new`) or passed
    /// exactly as gcc passes them. Each test here checks one case against a
    /// gcc-built callee.
    mod nested_memory_only {
        use std::ffi::c_void;

        use ffi_raw::{AggregateKind, Cif, Closure, Error, OnPanic, Position, StructType, Type};

        use crate::common::{CLib, arg, call, func, read_arg, write_ret};

        const SOURCE: &str = r#"
            union ul { double d; long l; };          /* classified INTEGER by gcc */
            union fu { double d; float f[2]; };      /* classified SSE by gcc */
            struct __attribute__((packed)) pk { char a; int b; };
            struct bf { unsigned a : 3; unsigned b : 29; };
            struct wrap_ul { union ul u; };
            struct wrap_fu { union fu u; };
            struct wrap_pk { char c; struct pk p; };
            struct wrap_bf { struct bf f; };
            struct pair_ul { double x; union ul u; };
            _Static_assert(sizeof(struct wrap_pk) == 6, "packed layout");
            _Static_assert(sizeof(struct wrap_bf) == 4, "bitfield layout");
            long wrap_ul_get(struct wrap_ul w) { return w.u.l; }
            double wrap_fu_get7(int a, int b, int c, int d, int e, int f, int g, struct wrap_fu w) {
                return w.u.d + a + b + c + d + e + f + g;
            }
            int wrap_pk_get(struct wrap_pk w) { return w.p.b + w.c; }
            unsigned wrap_bf_get(struct wrap_bf w) { return w.f.b * 8 + w.f.a; }
            struct pair_ul make_pair_ul(double x, long l) {
                struct pair_ul p; p.x = x; p.u.l = l; return p;
            }
            double call_wrap_fu(double (*f)(struct wrap_fu), double d) {
                struct wrap_fu w; w.u.d = d; return f(w);
            }
        "#;

        fn mem(kind: AggregateKind, size: usize, align: usize) -> Type {
            Type::Struct(StructType::memory_only(kind, size, align).unwrap())
        }

        /// The outer struct, or `None` if `StructType::new` rejects it.
        fn outer(fields: Vec<Type>) -> Option<Type> {
            match StructType::new(fields) {
                Ok(s) => Some(Type::Struct(s)),
                Err(e) => {
                    eprintln!("rejected by StructType::new: {e}");
                    None
                }
            }
        }

        /// The call interface, or `None` if it was correctly rejected.
        fn prepare(
            result: Result<Cif, Error>,
            position: Position,
            kind: AggregateKind,
        ) -> Option<Cif> {
            match result {
                Ok(cif) => Some(cif),
                Err(Error::NotByValue {
                    position: p,
                    kind: k,
                }) if p == position && k == kind => None,
                Err(e) => panic!("rejected with the wrong error: {e:?}"),
            }
        }

        #[test]
        fn union_member_argument() {
            let lib = CLib::build(SOURCE).open();
            let Some(wrap) = outer(vec![mem(AggregateKind::Union, 8, 8)]) else {
                return;
            };
            let result = Cif::new([wrap], Type::I64);
            let Some(cif) = prepare(result, Position::Argument(0), AggregateKind::Union) else {
                return;
            };
            let value: i64 = 0x1122_3344_5566_7788;
            // SAFETY: `long wrap_ul_get(struct wrap_ul)`; the struct is 8
            // bytes holding the union's `long` member.
            let got: i64 = unsafe { call(&cif, func(&lib, "wrap_ul_get"), &[arg(&value)]) };
            assert_eq!(got, value, "the union member did not reach the callee");
        }

        #[test]
        fn float_union_member_argument_libffi_path() {
            let lib = CLib::build(SOURCE).open();
            let Some(wrap) = outer(vec![mem(AggregateKind::Union, 8, 8)]) else {
                return;
            };
            let mut args = vec![Type::I32; 7];
            args.push(wrap);
            let Some(cif) = prepare(
                Cif::new(args, Type::F64),
                Position::Argument(7),
                AggregateKind::Union,
            ) else {
                return;
            };
            assert!(!cif.uses_fast_path());
            let ints = [1i32, 2, 3, 4, 5, 6, 7];
            let d = 0.25f64;
            let mut ptrs: Vec<*const c_void> = ints.iter().map(arg).collect();
            ptrs.push(arg(&d));
            // SAFETY: `double wrap_fu_get7(int x7, struct wrap_fu)`, the
            // struct being the 8 bytes of a double.
            let got: f64 = unsafe { call(&cif, func(&lib, "wrap_fu_get7"), &ptrs) };
            assert_eq!(got, 28.25);
        }

        #[test]
        fn packed_member_argument() {
            let lib = CLib::build(SOURCE).open();
            let Some(wrap) = outer(vec![Type::U8, mem(AggregateKind::Packed, 5, 1)]) else {
                return;
            };
            assert_eq!((wrap.size(), wrap.align()), (6, 1));
            let Some(cif) = prepare(
                Cif::new([wrap], Type::I32),
                Position::Argument(0),
                AggregateKind::Packed,
            ) else {
                return;
            };
            // struct wrap_pk { char c = 2; struct pk { char a = 0; int b = 1000; } }
            let mut bytes = [0u8; 6];
            bytes[0] = 2;
            bytes[2..6].copy_from_slice(&1000i32.to_ne_bytes());
            // SAFETY: `int wrap_pk_get(struct wrap_pk)`, 6 bytes, align 1.
            let got: i32 = unsafe { call(&cif, func(&lib, "wrap_pk_get"), &[arg(&bytes)]) };
            assert_eq!(got, 1002);
        }

        #[test]
        fn bitfield_member_argument() {
            let lib = CLib::build(SOURCE).open();
            let Some(wrap) = outer(vec![mem(AggregateKind::Bitfields, 4, 4)]) else {
                return;
            };
            let Some(cif) = prepare(
                Cif::new([wrap], Type::U32),
                Position::Argument(0),
                AggregateKind::Bitfields,
            ) else {
                return;
            };
            // a = 5 (3 bits), b = 12345 (29 bits), little-endian allocation.
            let bits: u32 = 5 | (12345 << 3);
            // SAFETY: `unsigned wrap_bf_get(struct wrap_bf)`, 4 bytes.
            let got: u32 = unsafe { call(&cif, func(&lib, "wrap_bf_get"), &[arg(&bits)]) };
            assert_eq!(got, 12345 * 8 + 5);
        }

        #[test]
        fn union_member_return() {
            let lib = CLib::build(SOURCE).open();
            let Some(pair) = outer(vec![Type::F64, mem(AggregateKind::Union, 8, 8)]) else {
                return;
            };
            let Some(cif) = prepare(
                Cif::new([Type::F64, Type::I64], pair),
                Position::Return,
                AggregateKind::Union,
            ) else {
                return;
            };
            let (x, l) = (1.5f64, -987_654_321i64);
            // SAFETY: `struct pair_ul make_pair_ul(double, long)`, returned
            // as 16 bytes: a double and the union's long.
            let got: (f64, i64) =
                unsafe { call(&cif, func(&lib, "make_pair_ul"), &[arg(&x), arg(&l)]) };
            assert_eq!(got, (x, l));
        }

        #[test]
        fn float_union_member_closure_argument() {
            let lib = CLib::build(SOURCE).open();
            let Some(wrap) = outer(vec![mem(AggregateKind::Union, 8, 8)]) else {
                return;
            };
            let closure = Closure::with_on_panic(
                [wrap],
                Type::F64,
                OnPanic::Return((-1.0f64).to_ne_bytes().to_vec()),
                |args, ret| write_ret(ret, read_arg::<f64>(args, 0) * 2.0),
            );
            let closure = match closure {
                Ok(c) => c,
                Err(Error::NotByValue {
                    position: Position::Argument(0),
                    kind: AggregateKind::Union,
                }) => return,
                Err(e) => panic!("rejected with the wrong error: {e:?}"),
            };
            let cif = Cif::new([Type::Pointer, Type::F64], Type::F64).unwrap();
            let f = closure.code_ptr().as_ptr();
            let d = 21.0f64;
            // SAFETY: `double call_wrap_fu(double (*)(struct wrap_fu), double)`
            // with a closure of that function type.
            let got: f64 = unsafe { call(&cif, func(&lib, "call_wrap_fu"), &[arg(&f), arg(&d)]) };
            assert_eq!(got, 42.0);
        }
    }

    /// A failing `Cif::new` must leave the types it was given intact.
    mod failed_prepare {
        use std::ffi::c_void;

        use ffi_raw::{ArrayType, Cif, StructType, Type};

        use crate::common::{CLib, arg, call, dirty_stack, func};

        const SOURCE: &str = r#"
            struct z8 { double z[0]; };
            struct w { double a; struct z8 z; double b; };
            _Static_assert(sizeof(struct w) == 16, "layout");
            double w_b7(int a, int b, int c, int d, int e, int f, int g, struct w w) {
                return w.b;
            }
        "#;

        #[test]
        fn zero_sized_struct_is_not_corrupted_by_a_failed_prepare() {
            let lib = CLib::build(SOURCE).open();
            let z8 = StructType::new([Type::Array(ArrayType::new(Type::F64, 0).unwrap())]).unwrap();
            assert_eq!((z8.size(), z8.align()), (0, 8));
            let w = Type::Struct(
                StructType::new([Type::F64, Type::Struct(z8.clone()), Type::F64]).unwrap(),
            );
            let mut args = vec![Type::I32; 7];
            args.push(w);
            let cif = Cif::new(args.clone(), Type::F64).unwrap();
            assert!(!cif.uses_fast_path());
            let f = func(&lib, "w_b7");
            // Passes struct w { a, {}, b } and returns what the callee saw as b.
            let b_seen = |cif: &Cif, a: f64, b: f64| -> f64 {
                let ints = [0i32; 7];
                let value = [a, b];
                let mut ptrs: Vec<*const c_void> = ints.iter().map(arg).collect();
                ptrs.push(arg(&value));
                dirty_stack();
                // SAFETY: `double w_b7(int x7, struct w)`; struct w is two
                // doubles.
                unsafe { call(cif, f, &ptrs) }
            };
            assert_eq!(b_seen(&cif, 1.25, 6.5), 6.5, "control call failed");
            assert_eq!(b_seen(&cif, 2.0, -3.0), -3.0, "control call failed");

            assert!(Cif::new([Type::Struct(z8)], Type::Void).is_err());

            // Fresh values each time: libffi loads all xmm registers from a
            // stack area that may still hold the previous call's values.
            let after = b_seen(&cif, 1.0, 7.75);
            let fresh = Cif::new(args, Type::F64).unwrap();
            let fresh_result = b_seen(&fresh, 0.5, -11.5);
            assert_eq!(
                (after, fresh_result),
                (7.75, -11.5),
                "the failed prepare changed how struct w is passed"
            );
        }
    }
}

mod calls {
    use std::ffi::{c_char, c_int, c_void};

    use ffi_raw::{Cif, CodePtr, Library, Type};

    use crate::common::{CLib, arg, call, dirty_stack, func};

    const SOURCE: &str = r#"
        #include <stdarg.h>
        struct s3 { signed char a, b, c; };
        struct s24 { long a, b, c; };
        struct s40 { long a, b, c, d, e; };
        signed char ret_schar(void) { return -3; }
        unsigned char ret_uchar(void) { return 250; }
        short ret_short(void) { return -1234; }
        float ret_float(void) { return 1.5f; }
        struct s3 ret_s3(signed char x) { struct s3 s = { x, (signed char)(x + 1), (signed char)(x + 2) }; return s; }
        signed char ret_schar7(int a, int b, int c, int d, int e, int f, int g) { return (signed char)(a + b + c + d + e + f + g); }
        unsigned char ret_uchar7(int a, int b, int c, int d, int e, int f, int g) { return (unsigned char)(a + b + c + d + e + f + g); }
        short ret_short7(int a, int b, int c, int d, int e, int f, int g) { return (short)(a + b + c + d + e + f + g); }
        float ret_float7(int a, int b, int c, int d, int e, int f, int g) { return (float)(a + b + c + d + e + f + g) / 4; }
        struct s3 ret_s3_7(int a, int b, int c, int d, int e, int f, signed char x) { struct s3 s = { x, (signed char)(x + 1), (signed char)(x + 2) }; return s; }
        signed char ret_schar_var(int n, ...) {
            va_list ap; va_start(ap, n); int s = 0;
            for (int i = 0; i < n; i++) s += va_arg(ap, int);
            va_end(ap); return (signed char)s;
        }
        float ret_float_var(int n, ...) {
            va_list ap; va_start(ap, n); double s = 0;
            for (int i = 0; i < n; i++) s += va_arg(ap, double);
            va_end(ap); return (float)s;
        }
        struct s24 ret_s24(long x) { struct s24 s = { x, x * 2, x * 3 }; return s; }
        struct s40 ret_s40(long x) { struct s40 s = { x, x * 2, x * 3, x * 4, x * 5 }; return s; }
        /* Read the whole 32-bit argument: a clang-built callee declared with a
           char/short parameter relies on exactly these bits. */
        int see_int(int x) { return x; }
        unsigned see_uint(unsigned x) { return x; }
        int see_int_stack(long a, long b, long c, long d, long e, long f, int x) { return x; }
        unsigned see_uint_stack(long a, long b, long c, long d, long e, long f, unsigned x) { return x; }
        long sum12(long a, double b, int c, float d, long e, double f, int g, float h, long i, double j, int k, long l) {
            return a + (long)b + c + (long)d + e + (long)f + g + (long)h + i + (long)j + k + l;
        }
        void bump(int *p) { *p += 1; }
        void bump_var(int *p, ...) { *p += 10; }
        long double ld_twice(long double x) { return x * 2; }
        long double ld_mix(int a, long double b, double c) { return a * b + c; }
        void ld_store(long double x, long double *out) { *out = x; }
    "#;

    /// A return buffer with canary bytes after the value.
    #[repr(C, align(16))]
    struct Canaried([u8; 96]);

    const CANARY: u8 = 0xA7;

    /// Calls and checks that exactly the return type's size was written.
    ///
    /// # Safety
    /// As for [`Cif::call`].
    unsafe fn returns_exactly(cif: &Cif, f: CodePtr, args: &[*const c_void], expected: &[u8]) {
        let size = cif.return_type().size();
        assert_eq!(size, expected.len());
        let mut buf = Canaried([CANARY; 96]);
        // SAFETY: forwarded; the buffer is 96 bytes, 16-aligned.
        unsafe { cif.call(f, args, buf.0.as_mut_ptr().cast()) }.unwrap();
        assert_eq!(&buf.0[..size], expected, "returned {}", cif.return_type());
        assert!(
            buf.0[size..].iter().all(|&b| b == CANARY),
            "a {size}-byte return ({}, fast path: {}) wrote past its end: {:02x?}",
            cif.return_type(),
            cif.uses_fast_path(),
            &buf.0[size..size + 16]
        );
    }

    fn s3() -> Type {
        Type::Struct(ffi_raw::StructType::new([const { Type::I8 }; 3]).unwrap())
    }

    #[test]
    fn small_returns_stay_inside_the_buffer_fast_path() {
        let lib = CLib::build(SOURCE).open();
        let cases: [(&str, Type, Vec<u8>); 4] = [
            ("ret_schar", Type::I8, (-3i8).to_ne_bytes().to_vec()),
            ("ret_uchar", Type::U8, vec![250]),
            ("ret_short", Type::I16, (-1234i16).to_ne_bytes().to_vec()),
            ("ret_float", Type::F32, 1.5f32.to_ne_bytes().to_vec()),
        ];
        for (name, ty, expected) in cases {
            let cif = Cif::new([], ty).unwrap();
            assert!(cif.uses_fast_path());
            // SAFETY: each function is `T name(void)` with T matching `ty`.
            unsafe { returns_exactly(&cif, func(&lib, name), &[], &expected) };
        }
        let cif = Cif::new([Type::I8], s3()).unwrap();
        assert!(cif.uses_fast_path());
        let x = 40i8;
        // SAFETY: `struct s3 ret_s3(signed char)`.
        unsafe { returns_exactly(&cif, func(&lib, "ret_s3"), &[arg(&x)], &[40, 41, 42]) };
    }

    #[test]
    fn small_returns_stay_inside_the_buffer_libffi_path() {
        let lib = CLib::build(SOURCE).open();
        let ints = [1i32, 2, 3, 4, 5, 6, -30];
        let ptrs: Vec<*const c_void> = ints.iter().map(arg).collect();
        let cases: [(&str, Type, Vec<u8>); 4] = [
            ("ret_schar7", Type::I8, (-9i8).to_ne_bytes().to_vec()),
            ("ret_uchar7", Type::U8, vec![247]),
            ("ret_short7", Type::I16, (-9i16).to_ne_bytes().to_vec()),
            ("ret_float7", Type::F32, (-2.25f32).to_ne_bytes().to_vec()),
        ];
        for (name, ty, expected) in cases {
            let cif = Cif::new([const { Type::I32 }; 7], ty).unwrap();
            assert!(!cif.uses_fast_path());
            // SAFETY: each function is `T name(int x7)`.
            unsafe { returns_exactly(&cif, func(&lib, name), &ptrs, &expected) };
        }
        let mut args = vec![Type::I32; 6];
        args.push(Type::I8);
        let cif = Cif::new(args, s3()).unwrap();
        assert!(!cif.uses_fast_path());
        let x = -100i8;
        let mut ptrs: Vec<*const c_void> = ints[..6].iter().map(arg).collect();
        ptrs.push(arg(&x));
        let expected = [-100i8 as u8, -99i8 as u8, -98i8 as u8];
        // SAFETY: `struct s3 ret_s3_7(int x6, signed char)`.
        unsafe { returns_exactly(&cif, func(&lib, "ret_s3_7"), &ptrs, &expected) };

        // Variadic signatures always take libffi.
        let cif =
            Cif::new_variadic([Type::I32], [Type::I32, Type::I16, Type::I8], Type::I8).unwrap();
        assert!(!cif.uses_fast_path());
        let (n, a, b, c) = (3i32, 100i32, 20i16, -3i8);
        // SAFETY: `signed char ret_schar_var(int, ...)` reading n ints.
        unsafe {
            returns_exactly(
                &cif,
                func(&lib, "ret_schar_var"),
                &[arg(&n), arg(&a), arg(&b), arg(&c)],
                &117i8.to_ne_bytes(),
            )
        };
        let cif = Cif::new_variadic([Type::I32], [Type::F64, Type::F32], Type::F32).unwrap();
        let (n, a, b) = (2i32, 0.5f64, 0.25f32);
        // SAFETY: `float ret_float_var(int, ...)` reading n doubles.
        unsafe {
            returns_exactly(
                &cif,
                func(&lib, "ret_float_var"),
                &[arg(&n), arg(&a), arg(&b)],
                &0.75f32.to_ne_bytes(),
            )
        };
    }

    #[test]
    fn memory_returns_stay_inside_the_buffer() {
        let lib = CLib::build(SOURCE).open();
        let s24 = Type::Struct(ffi_raw::StructType::new([const { Type::I64 }; 3]).unwrap());
        let s40 = Type::Struct(ffi_raw::StructType::new([const { Type::I64 }; 5]).unwrap());
        let x = -7i64;
        for (name, ty, n) in [("ret_s24", s24, 3i64), ("ret_s40", s40, 5)] {
            let cif = Cif::new([Type::I64], ty).unwrap();
            assert!(!cif.uses_fast_path());
            let expected: Vec<u8> = (1..=n).flat_map(|k| (x * k).to_ne_bytes()).collect();
            // SAFETY: `struct sN name(long)` returning n longs.
            unsafe { returns_exactly(&cif, func(&lib, name), &[arg(&x)], &expected) };
        }
    }

    /// char and short arguments arrive extended to 32 bits, as clang-built
    /// callees assume. No clang here, so the callees are gcc-built and
    /// declared `int`/`unsigned`: at the ABI level they read the same 32 bits
    /// a clang `signed char` callee reads. In registers (fast path) and on
    /// the stack (libffi path, where the slot's upper bytes would otherwise
    /// be whatever was on the stack).
    #[test]
    fn small_int_arguments_are_extended_to_32_bits() {
        let lib = CLib::build(SOURCE).open();
        let longs = [0i64; 6];
        let cases: [(Type, &[u8], i64); 4] = [
            (Type::I8, &(-1i8).to_ne_bytes(), -1),
            (Type::U8, &[0xff], 0xff),
            (Type::I16, &(-2i16).to_ne_bytes(), -2),
            (Type::U16, &0xfffeu16.to_ne_bytes(), 0xfffe),
        ];
        for (ty, bytes, expected) in cases {
            let signed = ty.is_signed_integer();
            let ret = if signed { Type::I32 } else { Type::U32 };
            let mut value = [0u8; 8];
            value[..bytes.len()].copy_from_slice(bytes);

            let cif = Cif::new([ty.clone()], ret.clone()).unwrap();
            assert!(cif.uses_fast_path());
            let name = if signed { "see_int" } else { "see_uint" };
            dirty_stack();
            // SAFETY: `int see_int(int)` / `unsigned see_uint(unsigned)`
            // given a char/short: the ABI-level view of a narrow parameter.
            let got: i32 = unsafe { call(&cif, func(&lib, name), &[arg(&value)]) };
            let got = if signed {
                i64::from(got)
            } else {
                i64::from(got as u32)
            };
            assert_eq!(got, expected, "{ty} in a register");

            let mut args = vec![Type::I64; 6];
            args.push(ty.clone());
            let cif = Cif::new(args, ret).unwrap();
            assert!(!cif.uses_fast_path());
            let mut ptrs: Vec<*const c_void> = longs.iter().map(arg).collect();
            ptrs.push(arg(&value));
            let name = if signed {
                "see_int_stack"
            } else {
                "see_uint_stack"
            };
            dirty_stack();
            // SAFETY: as above, with the narrow argument on the stack.
            let got: i32 = unsafe { call(&cif, func(&lib, name), &ptrs) };
            let got = if signed {
                i64::from(got)
            } else {
                i64::from(got as u32)
            };
            assert_eq!(got, expected, "{ty} on the stack");
        }
    }

    #[test]
    fn many_mixed_arguments() {
        let lib = CLib::build(SOURCE).open();
        let args = [
            Type::I64,
            Type::F64,
            Type::I32,
            Type::F32,
            Type::I64,
            Type::F64,
            Type::I32,
            Type::F32,
            Type::I64,
            Type::F64,
            Type::I32,
            Type::I64,
        ];
        let cif = Cif::new(args, Type::I64).unwrap();
        assert!(!cif.uses_fast_path());
        let (a, b, c, d) = (1i64, 20.0f64, 300i32, 4000.0f32);
        let (e, f, g, h) = (50_000i64, 600_000.0f64, 7_000_000i32, 8.0f32);
        let (i, j, k, l) = (-90i64, -100.0f64, -1100i32, 1i64 << 40);
        let ptrs = [
            arg(&a),
            arg(&b),
            arg(&c),
            arg(&d),
            arg(&e),
            arg(&f),
            arg(&g),
            arg(&h),
            arg(&i),
            arg(&j),
            arg(&k),
            arg(&l),
        ];
        // SAFETY: `long sum12(long, double, int, float, ...)` as declared.
        let got: i64 = unsafe { call(&cif, func(&lib, "sum12"), &ptrs) };
        let expected = a
            + b as i64
            + i64::from(c)
            + d as i64
            + e
            + f as i64
            + i64::from(g)
            + h as i64
            + i
            + j as i64
            + i64::from(k)
            + l;
        assert_eq!(got, expected);
    }

    #[test]
    fn void_returns_accept_a_null_return_pointer() {
        let lib = CLib::build(SOURCE).open();
        let mut n: c_int = 0;
        let p: *mut c_int = &raw mut n;
        let fast = Cif::new([Type::Pointer], Type::Void).unwrap();
        assert!(fast.uses_fast_path());
        // SAFETY: `void bump(int *)` with a valid pointer; void ignores ret.
        unsafe { fast.call(func(&lib, "bump"), &[arg(&p)], std::ptr::null_mut()) }.unwrap();
        let slow = Cif::new_variadic([Type::Pointer], [Type::I32], Type::Void).unwrap();
        // SAFETY: `void bump_var(int *, ...)`, as above.
        unsafe {
            slow.call(
                func(&lib, "bump_var"),
                &[arg(&p), arg(&n)],
                std::ptr::null_mut(),
            )
        }
        .unwrap();
        assert_eq!(n, 11);
    }

    extern "C" fn rust_callee(a: i8, b: f32, c: u64) -> f64 {
        f64::from(a) + f64::from(b) + c as f64
    }

    #[test]
    fn call_a_rust_function_through_code_ptr() {
        let f = CodePtr::from_fn(rust_callee as *const ());
        assert_eq!(f.as_ptr() as usize, rust_callee as *const () as usize);
        let cif = Cif::new([Type::I8, Type::F32, Type::U64], Type::F64).unwrap();
        let (a, b, c) = (-5i8, 0.5f32, 1u64 << 33);
        // SAFETY: `rust_callee` is an extern "C" fn with this signature.
        let got: f64 = unsafe { call(&cif, f, &[arg(&a), arg(&b), arg(&c)]) };
        assert_eq!(got, -4.5 + (1u64 << 33) as f64);
    }

    /// `int snprintf(char *, size_t, const char *, ...)` with the given
    /// variadic types and values; returns the formatted string.
    fn snprintf(format: &std::ffi::CStr, types: Vec<Type>, values: &[*const c_void]) -> String {
        let libc = Library::this();
        let cif =
            Cif::new_variadic([Type::Pointer, Type::U64, Type::Pointer], types, Type::I32).unwrap();
        let mut buf = [0u8; 512];
        let out: *mut c_char = buf.as_mut_ptr().cast();
        let size = buf.len() as u64;
        let fmt: *const c_char = format.as_ptr();
        let mut ptrs = vec![arg(&out), arg(&size), arg(&fmt)];
        ptrs.extend_from_slice(values);
        // SAFETY: snprintf with a writable buffer of `size` bytes and a
        // format whose conversions match the promoted variadic types.
        let n: c_int = unsafe { call(&cif, func(&libc, "snprintf"), &ptrs) };
        let n = usize::try_from(n).expect("snprintf failed");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn variadic_default_promotions() {
        let (f, c, u, s, uc, d, l) = (
            1.25f32,
            -5i8,
            65535u16,
            -300i16,
            200u8,
            -2.5f64,
            -9_000_000_000i64,
        );
        let text = snprintf(
            c"%.3f|%d|%u|%d|%u|%.1f|%lld",
            vec![
                Type::F32,
                Type::I8,
                Type::U16,
                Type::I16,
                Type::U8,
                Type::F64,
                Type::I64,
            ],
            &[
                arg(&f),
                arg(&c),
                arg(&u),
                arg(&s),
                arg(&uc),
                arg(&d),
                arg(&l),
            ],
        );
        assert_eq!(text, "1.250|-5|65535|-300|200|-2.5|-9000000000");
    }

    /// More than 16 converted arguments: the conversions spill to the heap.
    #[test]
    fn variadic_with_many_converted_arguments() {
        let values: Vec<i8> = (0..20).map(|i| (i * 13 - 128) as i8).collect();
        let format = std::ffi::CString::new("%d ".repeat(values.len())).unwrap();
        let ptrs: Vec<*const c_void> = values.iter().map(arg).collect();
        let text = snprintf(&format, vec![Type::I8; values.len()], &ptrs);
        let expected: String = values.iter().map(|v| format!("{v} ")).collect();
        assert_eq!(text, expected);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        #[test]
        fn variadic_promotions_for_any_values(c: i8, uc: u8, s: i16, us: u16, f: f32, l: i64) {
            let text = snprintf(
                c"%d %u %d %u %lld %.17g",
                vec![Type::I8, Type::U8, Type::I16, Type::U16, Type::I64, Type::F32],
                &[arg(&c), arg(&uc), arg(&s), arg(&us), arg(&l), arg(&f)],
            );
            let parts: Vec<&str> = text.split(' ').collect();
            proptest::prop_assert_eq!(&parts[..5], &[c.to_string(), uc.to_string(), s.to_string(), us.to_string(), l.to_string()][..]);
            let printed = parts[5];
            if f.is_nan() {
                proptest::prop_assert!(printed.contains("nan"), "{}", printed);
            } else if f.is_infinite() {
                proptest::prop_assert!(printed.contains("inf"), "{}", printed);
            } else {
                proptest::prop_assert_eq!(printed.parse::<f64>().unwrap(), f64::from(f));
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    mod long_double {
        use std::ffi::c_int;

        use ffi_raw::{Cif, Type};

        use super::SOURCE;
        use crate::common::{CLib, LongDouble, arg, call, func};

        const ONE: u64 = 1 << 63;

        #[test]
        fn argument_and_return() {
            let lib = CLib::build(SOURCE).open();
            let cif = Cif::new([Type::LongDouble], Type::LongDouble).unwrap();
            assert!(!cif.uses_fast_path());
            // 1 + 2^-60: needs the 64-bit x87 mantissa (a double would round it).
            let x = LongDouble::new(false, 16383, ONE | 8);
            // SAFETY: `long double ld_twice(long double)`.
            let got: LongDouble = unsafe { call(&cif, func(&lib, "ld_twice"), &[arg(&x)]) };
            assert_eq!(got.parts(), (false, 16384, ONE | 8));

            let cif = Cif::new([Type::I32, Type::LongDouble, Type::F64], Type::LongDouble).unwrap();
            let (a, c): (c_int, f64) = (3, 0.5);
            // SAFETY: `long double ld_mix(int, long double, double)`.
            let got: LongDouble =
                unsafe { call(&cif, func(&lib, "ld_mix"), &[arg(&a), arg(&x), arg(&c)]) };
            // 3 * (1 + 2^-60) + 0.5 = 3.5 + 3 * 2^-60 = (7 * 2^61 + 12) * 2^(1 - 63)
            assert_eq!(got.parts(), (false, 16384, (7u64 << 61) + 12));

            let cif = Cif::new([Type::LongDouble, Type::Pointer], Type::Void).unwrap();
            let neg = LongDouble::new(true, 16383 + 100, ONE | 1);
            let mut out = LongDouble([0; 16]);
            let p: *mut LongDouble = &raw mut out;
            // SAFETY: `void ld_store(long double, long double *)`.
            let () = unsafe { call(&cif, func(&lib, "ld_store"), &[arg(&neg), arg(&p)]) };
            assert_eq!(out.parts(), neg.parts());
        }
    }
}

mod errno_capture {
    use std::ffi::{c_char, c_int, c_long};

    use ffi_raw::{Cif, Library, Type, errno, set_errno};

    use crate::common::{CLib, arg, func};

    const SOURCE: &str = r#"
        #include <errno.h>
        int read_errno(void) { return errno; }
        void write_errno(int v) { errno = v; }
    "#;

    #[test]
    fn strtol_out_of_range_sets_erange() {
        let libc = Library::this();
        let strtol = func(&libc, "strtol");
        let cif = Cif::new([Type::Pointer, Type::Pointer, Type::I32], Type::I64).unwrap();
        let end: *mut *mut c_char = std::ptr::null_mut();
        let base: c_int = 10;
        for (text, expected_ret, expected_errno) in [
            (c"99999999999999999999999999", c_long::MAX, libc::ERANGE),
            (c"-99999999999999999999999999", c_long::MIN, libc::ERANGE),
            (c"12345", 12345, 0),
        ] {
            let s: *const c_char = text.as_ptr();
            let mut ret: c_long = 0;
            // SAFETY: `long strtol(const char *, char **, int)` with a
            // NUL-terminated string and a NULL end pointer.
            let e = unsafe {
                cif.call_with_errno(
                    strtol,
                    &[arg(&s), arg(&end), arg(&base)],
                    (&raw mut ret).cast(),
                    Some(0),
                )
            }
            .unwrap();
            assert_eq!((ret, e), (expected_ret, expected_errno), "{text:?}");
            assert_eq!(errno(), expected_errno);
        }
    }

    #[test]
    fn set_before_is_seen_by_the_callee_and_capture_after() {
        let lib = CLib::build(SOURCE).open();
        let read = Cif::new([], Type::I32).unwrap();
        let write = Cif::new([Type::I32], Type::Void).unwrap();
        let mut seen: c_int = 0;
        // SAFETY: `int read_errno(void)`.
        let e = unsafe {
            read.call_with_errno(
                func(&lib, "read_errno"),
                &[],
                (&raw mut seen).cast(),
                Some(4321),
            )
        }
        .unwrap();
        assert_eq!((seen, e), (4321, 4321));

        // None leaves errno as it is.
        set_errno(55);
        // SAFETY: as above.
        let e = unsafe {
            read.call_with_errno(func(&lib, "read_errno"), &[], (&raw mut seen).cast(), None)
        }
        .unwrap();
        assert_eq!((seen, e), (55, 55));

        let v: c_int = 77;
        // SAFETY: `void write_errno(int)`; the return pointer is ignored.
        let e = unsafe {
            write.call_with_errno(
                func(&lib, "write_errno"),
                &[arg(&v)],
                std::ptr::null_mut(),
                Some(1),
            )
        }
        .unwrap();
        assert_eq!(e, 77);
        assert_eq!(errno(), 77);
    }

    #[test]
    fn errno_is_per_thread() {
        let lib = CLib::build(SOURCE).open();
        set_errno(999);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                assert_ne!(errno(), 999, "a new thread sees the main thread's errno");
                set_errno(12);
                assert_eq!(errno(), 12);
            });
            for t in 0..8 {
                let lib = &lib;
                scope.spawn(move || {
                    let read = Cif::new([], Type::I32).unwrap();
                    let write = Cif::new([Type::I32], Type::Void).unwrap();
                    for i in 0..2000 {
                        let v: c_int = t * 100_000 + i;
                        // SAFETY: `void write_errno(int)`.
                        let e = unsafe {
                            write.call_with_errno(
                                func(lib, "write_errno"),
                                &[arg(&v)],
                                std::ptr::null_mut(),
                                Some(-1),
                            )
                        }
                        .unwrap();
                        assert_eq!(e, v);
                        let mut seen: c_int = 0;
                        // SAFETY: `int read_errno(void)`.
                        let e = unsafe {
                            read.call_with_errno(
                                func(lib, "read_errno"),
                                &[],
                                (&raw mut seen).cast(),
                                None,
                            )
                        }
                        .unwrap();
                        assert_eq!((seen, e), (v, v), "thread {t} saw another thread's errno");
                    }
                });
            }
        });
        assert_eq!(errno(), 999);
    }
}

mod closures {
    use std::collections::HashSet;
    use std::ffi::{c_int, c_long, c_void};
    use std::os::unix::process::ExitStatusExt;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use ffi_raw::{Cif, Closure, ClosureArgs, Error, Library, OnPanic, Position, StructType, Type};

    use crate::common::{
        CLib, arg, call, child_role, func, read_arg, run_child, test_name, write_ret,
    };

    const SOURCE: &str = r#"
        #include <pthread.h>
        struct pt { double x; long y; };
        struct big { long a, b, c, d; };
        struct pt call_pt(struct pt (*f)(struct pt, int), struct pt p, int k) { return f(p, k); }
        struct pt call_pt0(struct pt (*f)(void)) { return f(); }
        struct big call_big(struct big (*f)(struct big, struct big), struct big a, struct big b) { return f(a, b); }
        int call_int(int (*f)(int), int x) { return f(x); }
        int call_small(signed char (*f)(unsigned short), unsigned short x) { return f(x) * 2; }
        double call_mix(double (*f)(float, signed char, double, unsigned short),
                        float a, signed char b, double c, unsigned short d) { return f(a, b, c, d); }
        long double call_ld(long double (*f)(long double, int), long double x) { return f(x, 3); }

        struct job { long (*f)(long); long base, n, sum; pthread_barrier_t *barrier; };
        static void *run_job(void *p) {
            struct job *j = p;
            pthread_barrier_wait(j->barrier);
            long s = 0;
            for (long i = 0; i < j->n; i++) s += j->f(j->base + i);
            j->sum = s;
            return 0;
        }
        long call_from_threads(long (*f)(long), int nthreads, long n) {
            pthread_t t[64]; struct job jobs[64]; pthread_barrier_t b;
            if (nthreads < 1 || nthreads > 64) return -1;
            pthread_barrier_init(&b, 0, nthreads);
            for (int i = 0; i < nthreads; i++) {
                jobs[i] = (struct job){ f, i * n, n, 0, &b };
                if (pthread_create(&t[i], 0, run_job, &jobs[i])) return -2;
            }
            long total = 0;
            for (int i = 0; i < nthreads; i++) { pthread_join(t[i], 0); total += jobs[i].sum; }
            pthread_barrier_destroy(&b);
            return total;
        }
    "#;

    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Pt {
        x: f64,
        y: i64,
    }

    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Big {
        a: i64,
        b: i64,
        c: i64,
        d: i64,
    }

    fn pt_type() -> Type {
        Type::Struct(StructType::new([Type::F64, Type::I64]).unwrap())
    }

    fn big_type() -> Type {
        Type::Struct(StructType::new([const { Type::I64 }; 4]).unwrap())
    }

    fn library() -> (CLib, Library) {
        let lib = CLib::build_with(SOURCE, &["-pthread"]);
        let opened = lib.open();
        (lib, opened)
    }

    /// `int call_int(int (*)(int), int)` on `closure`.
    fn c_call_int(lib: &Library, closure: &Closure, x: c_int) -> c_int {
        let cif = Cif::new([Type::Pointer, Type::I32], Type::I32).unwrap();
        let f = closure.code_ptr().as_ptr();
        // SAFETY: call_int's signature, with a closure of type int (*)(int).
        unsafe { call(&cif, func(lib, "call_int"), &[arg(&f), arg(&x)]) }
    }

    #[test]
    fn qsort_with_a_closure_comparator() {
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let compare = Closure::with_on_panic(
            [Type::Pointer, Type::Pointer],
            Type::I32,
            OnPanic::Return(vec![0; 4]),
            move |args, ret| {
                counter.fetch_add(1, Ordering::Relaxed);
                let a: *const c_void = args.get(0).unwrap();
                let b: *const c_void = args.get(1).unwrap();
                // SAFETY: qsort passes pointers to elements of the i32 array.
                let (a, b) = unsafe { (*a.cast::<i32>(), *b.cast::<i32>()) };
                write_ret(ret, a.cmp(&b) as i32);
            },
        )
        .unwrap();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut values: Vec<i32> = (0..1000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as i32
            })
            .collect();
        let mut expected = values.clone();
        expected.sort();
        assert_ne!(values, expected);

        let libc = Library::this();
        let cif = Cif::new(
            [Type::Pointer, Type::U64, Type::U64, Type::Pointer],
            Type::Void,
        )
        .unwrap();
        let base = values.as_mut_ptr().cast::<c_void>();
        let (n, size) = (values.len() as u64, 4u64);
        let cmp = compare.code_ptr().as_ptr();
        // SAFETY: qsort over `n` i32s with a comparator of the right type.
        let () = unsafe {
            call(
                &cif,
                func(&libc, "qsort"),
                &[arg(&base), arg(&n), arg(&size), arg(&cmp)],
            )
        };
        assert_eq!(values, expected);
        assert!(calls.load(Ordering::Relaxed) >= 999);
    }

    #[test]
    fn struct_by_value_argument_and_return() {
        let (_lib, lib) = library();
        let closure = Closure::with_on_panic(
            [pt_type(), Type::I32],
            pt_type(),
            OnPanic::Return(vec![0; 16]),
            |args, ret| {
                let p: Pt = read_arg(args, 0);
                let k: i32 = args.get(1).unwrap();
                write_ret(
                    ret,
                    Pt {
                        x: p.x * f64::from(k),
                        y: p.y + i64::from(k),
                    },
                );
            },
        )
        .unwrap();
        let cif = Cif::new([Type::Pointer, pt_type(), Type::I32], pt_type()).unwrap();
        let f = closure.code_ptr().as_ptr();
        let (p, k) = (Pt { x: 1.5, y: -40 }, 4i32);
        // SAFETY: `struct pt call_pt(struct pt (*)(struct pt, int), struct pt, int)`.
        let got: Pt = unsafe { call(&cif, func(&lib, "call_pt"), &[arg(&f), arg(&p), arg(&k)]) };
        assert_eq!(got, Pt { x: 6.0, y: -36 });

        // Passed and returned in memory.
        let closure = Closure::new([big_type(), big_type()], big_type(), |args, ret| {
            let (a, b): (Big, Big) = (read_arg(args, 0), read_arg(args, 1));
            write_ret(
                ret,
                Big {
                    a: a.a - b.a,
                    b: a.b - b.b,
                    c: a.c - b.c,
                    d: a.d - b.d,
                },
            );
        })
        .unwrap();
        let cif = Cif::new([Type::Pointer, big_type(), big_type()], big_type()).unwrap();
        let f = closure.code_ptr().as_ptr();
        let a = Big {
            a: 10,
            b: 20,
            c: 30,
            d: i64::MIN + 40,
        };
        let b = Big {
            a: 1,
            b: 2,
            c: 3,
            d: 40,
        };
        // SAFETY: `struct big call_big(struct big (*)(struct big, struct big), struct big, struct big)`.
        let got: Big = unsafe { call(&cif, func(&lib, "call_big"), &[arg(&f), arg(&a), arg(&b)]) };
        assert_eq!(
            got,
            Big {
                a: 9,
                b: 18,
                c: 27,
                d: i64::MIN
            }
        );
    }

    #[test]
    fn scalar_arguments_and_small_returns() {
        let (_lib, lib) = library();
        let mix = Closure::with_on_panic(
            [Type::F32, Type::I8, Type::F64, Type::U16],
            Type::F64,
            OnPanic::Return(f64::NAN.to_ne_bytes().to_vec()),
            |args, ret| {
                let a: f32 = args.get(0).unwrap();
                let b: i8 = args.get(1).unwrap();
                let c: f64 = args.get(2).unwrap();
                let d: u16 = args.get(3).unwrap();
                write_ret(ret, f64::from(a) + f64::from(b) + c + f64::from(d));
            },
        )
        .unwrap();
        let cif = Cif::new(
            [Type::Pointer, Type::F32, Type::I8, Type::F64, Type::U16],
            Type::F64,
        )
        .unwrap();
        let f = mix.code_ptr().as_ptr();
        let (a, b, c, d) = (0.5f32, -7i8, 0.25f64, 65000u16);
        // SAFETY: call_mix's signature with a closure of the matching type.
        let got: f64 = unsafe {
            call(
                &cif,
                func(&lib, "call_mix"),
                &[arg(&f), arg(&a), arg(&b), arg(&c), arg(&d)],
            )
        };
        assert_eq!(got, 0.5 - 7.0 + 0.25 + 65000.0);

        let small = Closure::new([Type::U16], Type::I8, |args, ret| {
            let x: u16 = args.get(0).unwrap();
            write_ret(ret, (x as i8).wrapping_neg());
        })
        .unwrap();
        let cif = Cif::new([Type::Pointer, Type::U16], Type::I32).unwrap();
        let f = small.code_ptr().as_ptr();
        let x = 0x0105u16; // as i8: 5, negated: -5
        // SAFETY: `int call_small(signed char (*)(unsigned short), unsigned short)`.
        let got: c_int = unsafe { call(&cif, func(&lib, "call_small"), &[arg(&f), arg(&x)]) };
        assert_eq!(got, -10);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn long_double_argument_and_return() {
        use crate::common::LongDouble;
        let (_lib, lib) = library();
        let closure = Closure::new(
            [Type::LongDouble, Type::I32],
            Type::LongDouble,
            |args, ret| {
                let x: LongDouble = read_arg(args, 0);
                let k: i32 = args.get(1).unwrap();
                let (negative, exponent, mantissa) = x.parts();
                // Multiply by 2^k by adjusting the exponent.
                let y = LongDouble::new(negative, exponent + k as u16, mantissa);
                ret.copy_from_slice(&y.0);
            },
        )
        .unwrap();
        let cif = Cif::new([Type::Pointer, Type::LongDouble], Type::LongDouble).unwrap();
        let f = closure.code_ptr().as_ptr();
        let x = LongDouble::new(true, 16383, (1 << 63) | 0x1234);
        // SAFETY: `long double call_ld(long double (*)(long double, int), long double)`.
        let got: LongDouble = unsafe { call(&cif, func(&lib, "call_ld"), &[arg(&f), arg(&x)]) };
        assert_eq!(got.parts(), (true, 16386, (1 << 63) | 0x1234));
    }

    #[test]
    fn closure_args_api_and_type_mismatch() {
        #[derive(Default)]
        struct Seen {
            len: usize,
            empty: bool,
            types: Vec<Type>,
            bytes0: Vec<u8>,
            values: Vec<String>,
            errors: Vec<Error>,
        }
        let seen = std::sync::Arc::new(Mutex::new(Seen::default()));
        let record = seen.clone();
        let closure = Closure::with_on_panic(
            [Type::I32, Type::Pointer, Type::F64],
            Type::Void,
            OnPanic::Return(vec![]),
            move |args: &ClosureArgs<'_>, _ret: &mut [u8]| {
                let mut s = record.lock().unwrap();
                s.len = args.len();
                s.empty = args.is_empty();
                s.types = args.types().to_vec();
                s.bytes0 = args.bytes(0).to_vec();
                s.values.push(format!("{:?}", args.get::<i32>(0)));
                s.values.push(format!(
                    "{:?}",
                    args.get::<*mut c_void>(1).map(|p| p as usize)
                ));
                s.values.push(format!("{:?}", args.get::<f64>(2)));
                for err in [
                    args.get::<u32>(0).map(drop),
                    args.get::<i64>(0).map(drop),
                    args.get::<i64>(1).map(drop),
                    args.get::<f32>(2).map(drop),
                ] {
                    s.errors.push(err.unwrap_err());
                }
            },
        )
        .unwrap();
        let cif = Cif::new([Type::I32, Type::Pointer, Type::F64], Type::Void).unwrap();
        let (a, p, c) = (-17i32, 0x1000usize as *const c_void, 2.5f64);
        // SAFETY: the closure has exactly this signature.
        let () = unsafe { call(&cif, closure.code_ptr(), &[arg(&a), arg(&p), arg(&c)]) };

        let s = seen.lock().unwrap();
        assert_eq!((s.len, s.empty), (3, false));
        assert_eq!(s.types, [Type::I32, Type::Pointer, Type::F64]);
        assert_eq!(s.bytes0, (-17i32).to_ne_bytes());
        assert_eq!(s.values, ["Ok(-17)", "Ok(4096)", "Ok(2.5)"]);
        let expected = [
            (0, "i32", "u32"),
            (0, "i32", "i64"),
            (1, "pointer", "i64"),
            (2, "f64", "f32"),
        ];
        for (err, (i, actual_ty, requested_ty)) in s.errors.iter().zip(expected) {
            match err {
                Error::TypeMismatch {
                    position,
                    actual,
                    requested,
                } => {
                    assert_eq!(*position, Position::Argument(i));
                    assert_eq!(actual, actual_ty);
                    assert_eq!(*requested, requested_ty);
                }
                other => panic!("expected TypeMismatch, got {other:?}"),
            }
            assert_eq!(
                err.to_string(),
                format!("argument {i} has type {actual_ty}, not {requested_ty}")
            );
        }
        assert!(format!("{closure:?}").contains("Closure"));
    }

    /// A callback may drop its own closure while C runs it (a Python
    /// callback releasing itself): the call finishes with everything the
    /// callback captured still alive, and that is freed when it returns.
    #[test]
    fn closure_dropped_by_its_own_callback_finishes_the_call() {
        struct SetOnDrop(std::sync::Arc<AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let (_lib, lib) = library();
        let freed = std::sync::Arc::new(AtomicBool::new(false));
        let own: std::sync::Arc<Mutex<Option<Closure>>> = Default::default();
        let (flag, slot, seen) = (SetOnDrop(freed.clone()), own.clone(), freed.clone());
        let closure = Closure::new([Type::I32], Type::I32, move |args, ret| {
            let _captured = &flag;
            drop(slot.lock().unwrap().take());
            let x: i32 = args.get(0).unwrap();
            // -1 if what this callback captured went with its closure.
            write_ret(
                ret,
                if seen.load(Ordering::SeqCst) {
                    -1
                } else {
                    x + 1
                },
            );
        })
        .unwrap();
        let cif = Cif::new([Type::Pointer, Type::I32], Type::I32).unwrap();
        let f = closure.code_ptr().as_ptr();
        *own.lock().unwrap() = Some(closure);
        let x: c_int = 41;
        // SAFETY: call_int's signature; the closure is alive when called.
        let got: c_int = unsafe { call(&cif, func(&lib, "call_int"), &[arg(&f), arg(&x)]) };
        assert_eq!(got, 42);
        assert!(own.lock().unwrap().is_none());
        assert!(freed.load(Ordering::SeqCst), "freed once the call returned");
    }

    #[test]
    fn no_argument_closure() {
        let closure = Closure::new([], Type::I64, |args, ret| {
            assert!(args.is_empty());
            write_ret(ret, args.len() as i64 + 99);
        })
        .unwrap();
        let cif = Cif::new([], Type::I64).unwrap();
        // SAFETY: the closure is `long (void)`.
        let got: i64 = unsafe { call(&cif, closure.code_ptr(), &[]) };
        assert_eq!(got, 99);
    }

    #[test]
    fn called_from_eight_c_threads() {
        let (_lib, lib) = library();
        let threads = std::sync::Arc::new(Mutex::new(HashSet::new()));
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        let (seen, counter) = (threads.clone(), calls.clone());
        let closure = Closure::with_on_panic(
            [Type::I64],
            Type::I64,
            OnPanic::Return(vec![0; 8]),
            move |args, ret| {
                let x: i64 = args.get(0).unwrap();
                counter.fetch_add(1, Ordering::Relaxed);
                seen.lock().unwrap().insert(std::thread::current().id());
                write_ret(ret, 3 * x + 1);
            },
        )
        .unwrap();
        let cif = Cif::new([Type::Pointer, Type::I32, Type::I64], Type::I64).unwrap();
        let f = closure.code_ptr().as_ptr();
        let (nthreads, n): (c_int, c_long) = (8, 5000);
        // SAFETY: `long call_from_threads(long (*)(long), int, long)`; the
        // closure outlives the call, which joins its threads.
        let total: c_long = unsafe {
            call(
                &cif,
                func(&lib, "call_from_threads"),
                &[arg(&f), arg(&nthreads), arg(&n)],
            )
        };
        let count = i64::from(nthreads) * n;
        let expected: i64 = (0..count).map(|x| 3 * x + 1).sum();
        assert_eq!(total, expected);
        assert_eq!(calls.load(Ordering::Relaxed), count as usize);
        let threads = threads.lock().unwrap();
        assert_eq!(
            threads.len(),
            8,
            "calls came from {} threads",
            threads.len()
        );
        assert!(!threads.contains(&std::thread::current().id()));
    }

    #[test]
    fn on_panic_return_gives_the_default() {
        let (_lib, lib) = library();
        let closure = Closure::with_on_panic(
            [Type::I32],
            Type::I32,
            OnPanic::Return((-1i32).to_ne_bytes().to_vec()),
            |args, ret| {
                let x: i32 = args.get(0).unwrap();
                // Written before the panic: the default must replace it.
                write_ret(ret, 12345i32);
                if x == 13 {
                    panic!("unlucky number (expected by the test)");
                }
                write_ret(ret, x * 2);
            },
        )
        .unwrap();
        for _ in 0..3 {
            assert_eq!(c_call_int(&lib, &closure, 13), -1);
            assert_eq!(c_call_int(&lib, &closure, 21), 42);
        }

        let default = Pt { x: 1.5, y: 7 };
        let mut bytes = 1.5f64.to_ne_bytes().to_vec();
        bytes.extend_from_slice(&7i64.to_ne_bytes());
        let closure = Closure::with_on_panic([], pt_type(), OnPanic::Return(bytes), |_, _| {
            std::panic::panic_any(42u32); // a non-string payload
        })
        .unwrap();
        let cif = Cif::new([Type::Pointer], pt_type()).unwrap();
        let f = closure.code_ptr().as_ptr();
        // SAFETY: `struct pt call_pt0(struct pt (*)(void))`.
        let got: Pt = unsafe { call(&cif, func(&lib, "call_pt0"), &[arg(&f)]) };
        assert_eq!(got, default);
    }

    const ABORT_MESSAGE: &str = "deliberate panic for the abort test 7c1e";

    #[test]
    fn on_panic_abort_kills_the_process() {
        if child_role().as_deref() == Some("abort") {
            // libc's qsort is the C caller: aborting skips destructors, so
            // the child builds nothing that would need cleaning up.
            let compare = Closure::new([Type::Pointer, Type::Pointer], Type::I32, |_, _| {
                panic!("{ABORT_MESSAGE}")
            })
            .unwrap();
            let mut values = [2i32, 1];
            let cif = Cif::new(
                [Type::Pointer, Type::U64, Type::U64, Type::Pointer],
                Type::Void,
            )
            .unwrap();
            let (base, n, size) = (values.as_mut_ptr().cast::<c_void>(), 2u64, 4u64);
            let cmp = compare.code_ptr().as_ptr();
            let qsort = func(&Library::this(), "qsort");
            // SAFETY: qsort over two i32s with a comparator of the right type.
            let () = unsafe { call(&cif, qsort, &[arg(&base), arg(&n), arg(&size), arg(&cmp)]) };
            panic!("the closure returned instead of aborting");
        }
        let output = run_child(
            &test_name(module_path!(), "on_panic_abort_kills_the_process"),
            "abort",
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.signal(),
            Some(libc::SIGABRT),
            "child status {:?}\nstderr:\n{stderr}",
            output.status
        );
        assert!(
            stderr.contains(&format!(
                "ffi-raw: a closure callback panicked ({ABORT_MESSAGE})"
            )),
            "stderr:\n{stderr}"
        );
        assert!(stderr.contains("aborting"), "stderr:\n{stderr}");
    }

    /// `Error::ClosureAlloc`: in a child process, cap the address space at
    /// its current size so that libffi cannot map memory for closure code.
    /// (Small allocations still succeed: this thread's malloc arena has
    /// room, and it grows inside address space that is already reserved.)
    #[test]
    fn closure_allocation_failure_is_an_error() {
        if child_role().as_deref() == Some("alloc") {
            let cif_before = Cif::new([Type::I32], Type::I32).unwrap();
            let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
            let pages: u64 = statm.split_whitespace().next().unwrap().parse().unwrap();
            // SAFETY: sysconf has no preconditions.
            let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap();
            let limit = libc::rlimit {
                rlim_cur: pages * page,
                rlim_max: libc::RLIM_INFINITY,
            };
            // SAFETY: `limit` is a valid rlimit; lowering the soft limit of
            // this (child) process is the point.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
            let result = Closure::new([Type::I32], Type::I32, |_, _| {});
            let relaxed = libc::rlimit {
                rlim_cur: libc::RLIM_INFINITY,
                rlim_max: libc::RLIM_INFINITY,
            };
            // SAFETY: as above, restoring the limit.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &relaxed) }, 0);
            let err = result.expect_err("a closure was allocated without address space");
            assert!(matches!(err, Error::ClosureAlloc), "{err:?}");
            assert!(err.to_string().contains("allocate"), "{err}");
            // Nothing is left half-built: closures work again afterwards.
            let closure = Closure::new([Type::I32], Type::I32, |args, ret| {
                write_ret(ret, args.get::<i32>(0).unwrap() + 1);
            })
            .unwrap();
            let x = 41i32;
            // SAFETY: the closure has exactly this signature.
            let got: i32 = unsafe { call(&cif_before, closure.code_ptr(), &[arg(&x)]) };
            assert_eq!(got, 42);
            println!("child saw: {err}");
            return;
        }
        let name = test_name(module_path!(), "closure_allocation_failure_is_an_error");
        let output = run_child(&name, "alloc");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("child saw:"),
            "child failed: {:?}\nstdout:\n{stdout}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Resident set size of this process, in bytes.
    fn rss() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        pages * usize::try_from(page).unwrap()
    }

    /// Creates, calls and drops `n` closures, each owning 256 bytes of
    /// captured state.
    fn churn(n: usize) {
        let cif = Cif::new([Type::I32, Type::F64, pt_type()], Type::I64).unwrap();
        for i in 0..n {
            let captured = vec![i as u8; 256];
            let closure = Closure::new(
                [Type::I32, Type::F64, pt_type()],
                Type::I64,
                move |args, ret| {
                    let x: i32 = args.get(0).unwrap();
                    write_ret(ret, i64::from(x) + i64::from(captured[0]));
                },
            )
            .unwrap();
            let (a, b, c) = (i as i32, 0.0f64, Pt { x: 0.0, y: 0 });
            // SAFETY: the closure has exactly this signature.
            let got: i64 = unsafe { call(&cif, closure.code_ptr(), &[arg(&a), arg(&b), arg(&c)]) };
            assert_eq!(got, i as i32 as i64 + i64::from(i as u8));
        }
    }

    /// Run alone in a child process so that other tests' allocations do not
    /// move the RSS. A leak of 100 bytes per closure (far less than a
    /// closure's state) would grow it by 5 MB; the bound is 3 MiB.
    #[test]
    fn dropping_closures_does_not_leak() {
        if child_role().as_deref() == Some("leak") {
            churn(5_000);
            let before = rss();
            churn(50_000);
            let after = rss();
            let growth = after.saturating_sub(before);
            println!("RSS before {before} after {after} growth {growth}");
            assert!(
                growth < 3 << 20,
                "RSS grew by {growth} bytes over 50,000 closures"
            );
            return;
        }
        let output = run_child(
            &test_name(module_path!(), "dropping_closures_does_not_leak"),
            "leak",
        );
        assert!(
            output.status.success(),
            "child failed: {:?}\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("RSS before"),
            "the child did not measure:\n{stdout}"
        );
    }
}

mod threads {
    use std::ffi::{c_int, c_long};
    use std::sync::Barrier;

    use ffi_raw::{ArrayType, Cif, Closure, CodePtr, Library, StructType, Symbol, Type};

    use crate::common::{CLib, arg, call, func, write_ret};

    const fn assert_send_sync<T: Send + Sync>() {}

    // Compile-time checks: these types can be shared between threads.
    const _: () = {
        assert_send_sync::<Cif>();
        assert_send_sync::<Closure>();
        assert_send_sync::<Library>();
        assert_send_sync::<Symbol>();
        assert_send_sync::<CodePtr>();
        assert_send_sync::<Type>();
        assert_send_sync::<StructType>();
        assert_send_sync::<ArrayType>();
        assert_send_sync::<ffi_raw::Error>();
    };

    const SOURCE: &str = r#"
        long mixer(long a, double b, int c) { return a * 3 + (long)b - c; }
        long mixer8(long a, long b, long c, long d, long e, long f, long g, double h) {
            return a + b + c + d + e + f + g * 2 + (long)h;
        }
    "#;

    #[test]
    fn one_cif_from_eight_threads() {
        let lib = CLib::build(SOURCE).open();
        let fast = Cif::new([Type::I64, Type::F64, Type::I32], Type::I64).unwrap();
        assert!(fast.uses_fast_path());
        let mut args8 = vec![Type::I64; 7];
        args8.push(Type::F64);
        let slow = Cif::new(args8, Type::I64).unwrap();
        assert!(!slow.uses_fast_path());
        let (mixer, mixer8) = (func(&lib, "mixer"), func(&lib, "mixer8"));
        let barrier = Barrier::new(8);
        std::thread::scope(|scope| {
            for t in 0..8i64 {
                let (fast, slow, barrier) = (&fast, &slow, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    for i in 0..20_000i64 {
                        let (a, b, c) =
                            (t * 1_000_000 + i, (i % 97) as f64 + 0.5, (t as c_int) * 7);
                        // SAFETY: `long mixer(long, double, int)`.
                        let got: c_long =
                            unsafe { call(fast, mixer, &[arg(&a), arg(&b), arg(&c)]) };
                        assert_eq!(got, a * 3 + (i % 97) - i64::from(c));
                        if i % 8 == 0 {
                            let longs = [a, 1, 2, 3, 4, 5, t];
                            let h = -(i as f64);
                            let mut ptrs: Vec<_> = longs.iter().map(arg).collect();
                            ptrs.push(arg(&h));
                            // SAFETY: `long mixer8(long x7, double)`.
                            let got: c_long = unsafe { call(slow, mixer8, &ptrs) };
                            assert_eq!(got, a + 15 + 2 * t - i);
                        }
                    }
                });
            }
        });
    }

    #[test]
    fn one_closure_from_eight_rust_threads() {
        let closure = Closure::new([Type::I32, Type::I32], Type::I32, |args, ret| {
            let (a, b): (i32, i32) = (args.get(0).unwrap(), args.get(1).unwrap());
            write_ret(ret, a.wrapping_mul(31).wrapping_add(b));
        })
        .unwrap();
        let cif = Cif::new([Type::I32, Type::I32], Type::I32).unwrap();
        let barrier = Barrier::new(8);
        std::thread::scope(|scope| {
            for t in 0..8i32 {
                let (closure, cif, barrier) = (&closure, &cif, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    for i in 0..10_000i32 {
                        // SAFETY: the closure has exactly this signature.
                        let got: i32 =
                            unsafe { call(cif, closure.code_ptr(), &[arg(&t), arg(&i)]) };
                        assert_eq!(got, t * 31 + i);
                    }
                });
            }
        });
    }

    #[test]
    fn symbols_move_between_threads() {
        let lib = CLib::build(SOURCE).open();
        let symbol = lib.symbol("mixer").unwrap();
        drop(lib);
        let handle = std::thread::spawn(move || {
            let cif = Cif::new([Type::I64, Type::F64, Type::I32], Type::I64).unwrap();
            let (a, b, c) = (2i64, 10.0f64, 1i32);
            // SAFETY: `long mixer(long, double, int)`, kept loaded by `symbol`.
            let got: c_long =
                unsafe { call(&cif, symbol.code_ptr(), &[arg(&a), arg(&b), arg(&c)]) };
            got
        });
        assert_eq!(handle.join().unwrap(), 15);
    }
}
