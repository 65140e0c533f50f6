//! Calling real libc functions through ffi-typed declarations.

use std::ffi::CString;
use std::sync::Arc;

use ffi_raw::{CScalar, Library};
use ffi_typed::{CType, Error, FieldDecl, Function, FunctionType, Packing, RecordKind, Value};

fn s(x: CScalar) -> CType {
    CType::Scalar(x)
}

fn function(name: &str, ret: CType, params: Vec<CType>, variadic: bool) -> Function {
    let symbol = Library::this().symbol(name).unwrap();
    Function::new(
        Arc::new(FunctionType {
            ret,
            params,
            variadic,
        }),
        symbol,
    )
    .unwrap()
}

#[test]
fn scalar_call() {
    let labs = function("labs", s(CScalar::Long), vec![s(CScalar::Long)], false);
    // SAFETY: `long labs(long)`.
    let r = unsafe { labs.call(&[Value::Int(-42)]) }.unwrap();
    assert_eq!(r, Some(Value::Int(42)));
}

#[test]
fn struct_returned_by_value() {
    let div_t = CType::new_record(RecordKind::Struct, None);
    div_t
        .complete(
            vec![
                FieldDecl::new("quot", s(CScalar::Int)),
                FieldDecl::new("rem", s(CScalar::Int)),
            ],
            Packing::Natural,
        )
        .unwrap();
    let div = function("div", div_t, vec![s(CScalar::Int), s(CScalar::Int)], false);
    // SAFETY: `div_t div(int, int)`.
    let r = unsafe { div.call(&[Value::Int(17), Value::Int(5)]) }.unwrap();
    let expected = Value::Record(vec![
        (Some("quot".into()), Value::Int(3)),
        (Some("rem".into()), Value::Int(2)),
    ]);
    assert_eq!(r, Some(expected));
}

#[test]
fn variadic_call_with_promotions() {
    let char_ptr = CType::pointer_to(s(CScalar::Char));
    let size_t = s(CScalar::SizeT);
    let snprintf = function(
        "snprintf",
        s(CScalar::Int),
        vec![char_ptr.clone(), size_t, char_ptr.clone()],
        true,
    );
    let mut buf = vec![0u8; 64];
    let format = CString::new("%.2f|%c|%hd|%s").unwrap();
    let word = CString::new("ok").unwrap();
    let args = [
        Value::Pointer(buf.as_mut_ptr() as usize),
        Value::Int(64),
        Value::Pointer(format.as_ptr() as usize),
    ];
    let extra = [
        (s(CScalar::Float), Value::Float(1.25)),
        (s(CScalar::Char), Value::Int(b'x' as i128)),
        (s(CScalar::Short), Value::Int(-7)),
        (char_ptr, Value::Pointer(word.as_ptr() as usize)),
    ];
    // SAFETY: snprintf's signature; the buffer and strings outlive the call.
    let n = unsafe { snprintf.call_variadic(&args, &extra) }.unwrap();
    let text = "1.25|x|-7|ok";
    assert_eq!(n, Some(Value::Int(text.len() as i128)));
    assert_eq!(&buf[..text.len()], text.as_bytes());
}

#[test]
fn bad_calls_are_errors() {
    let labs = function("labs", s(CScalar::Long), vec![s(CScalar::Long)], false);
    // SAFETY: none of these calls reaches C: each fails before the call.
    unsafe {
        let err = labs.call(&[]).unwrap_err();
        assert_eq!(err.to_string(), "long(long) takes 1 argument, 0 given");
        let err = labs.call(&[Value::Float(1.0)]).unwrap_err();
        assert_eq!(err.to_string(), "argument 0: cannot store 1 in long");
        let err = labs.call(&[Value::Int(1i128 << 70)]).unwrap_err();
        assert!(
            matches!(&err, Error::Argument { index: 0, source } if matches!(**source, Error::OutOfRange(_))),
            "{err}"
        );
        let err = labs
            .call_variadic(&[Value::Int(1)], &[(s(CScalar::Int), Value::Int(2))])
            .unwrap_err();
        assert!(err.to_string().contains("not variadic"), "{err}");
    }
    // A union cannot be passed by value through libffi: refused at declaration.
    let u = CType::new_record(RecordKind::Union, Some("u"));
    u.complete(vec![FieldDecl::new("i", s(CScalar::Int))], Packing::Natural)
        .unwrap();
    let ty = Arc::new(FunctionType {
        ret: s(CScalar::Int),
        params: vec![u],
        variadic: false,
    });
    let err = Function::new(ty, Library::this().symbol("labs").unwrap()).unwrap_err();
    assert!(err.to_string().contains("union"), "{err}");
}
