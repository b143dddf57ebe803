//! Property tests for the XML-RPC codec: round trips of arbitrary values, calls and faults, and
//! robustness against arbitrary, mutated, truncated, over-deep and hostile (DOCTYPE, entity
//! expansion) input, which must always give an error and never a panic or a stack overflow.

use proptest::prelude::*;
use shared::odoo::xmlrpc::{
    decode_call, decode_response, encode_call, encode_fault, encode_response, DecodeError, Fault,
    Limits, MethodCall, MethodResponse, Value,
};

/// Text with XML's special characters, entities-to-be, whitespace, control characters and
/// non-ASCII, plus anything at all.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ]{0,12}",
        "[<>&\"';#\\]\\[!?=/ \t\r\n\u{1}\u{1f}]{0,12}",
        "[éü€日本語🦀\u{7f}\u{a0}\u{fffd}]{0,6}",
        ".{0,16}",
        any::<String>(),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::Int),
        prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            Just(i32::MIN as i64 - 1),
            Just(i32::MAX as i64 + 1)
        ]
        .prop_map(Value::Int),
        any::<bool>().prop_map(Value::Bool),
        text().prop_map(Value::String),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::Double),
        prop_oneof![Just(0.0), Just(-0.0), Just(1e300), Just(5e-324), Just(0.1)]
            .prop_map(Value::Double),
        text().prop_map(Value::DateTime),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Value::Base64),
        Just(Value::Nil),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::vec((text(), inner), 0..8).prop_map(Value::Struct),
        ]
    })
}

/// What a value decodes back to: NUL cannot be carried by XML and is sent as U+FFFD.
fn expected(v: &Value) -> Value {
    let fix = |s: &str| s.replace('\0', "\u{fffd}");
    match v {
        Value::String(s) => Value::String(fix(s)),
        Value::DateTime(s) => Value::DateTime(fix(s)),
        Value::Array(items) => Value::Array(items.iter().map(expected).collect()),
        Value::Struct(members) => {
            Value::Struct(members.iter().map(|(k, v)| (fix(k), expected(v))).collect())
        }
        other => other.clone(),
    }
}

fn limits() -> Limits {
    Limits::default()
}

/// `depth` nested arrays around an int, as a response.
fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut doc = String::from("<?xml version=\"1.0\"?><methodResponse><params><param><value>");
    doc.push_str(&"<array><data><value>".repeat(depth));
    doc.push_str("<int>1</int>");
    doc.push_str(&"</value></data></array>".repeat(depth));
    doc.push_str("</value></param></params></methodResponse>");
    doc.into_bytes()
}

/// `depth` nested structs around an int, as a call.
fn nested_structs(depth: usize) -> Vec<u8> {
    let mut doc = String::from("<methodCall><methodName>m</methodName><params><param><value>");
    doc.push_str(&"<struct><member><name>k</name><value>".repeat(depth));
    doc.push_str("<int>1</int>");
    doc.push_str(&"</value></member></struct>".repeat(depth));
    doc.push_str("</value></param></params></methodCall>");
    doc.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn response_round_trip(v in value()) {
        let bytes = encode_response(&v);
        let decoded = decode_response(&bytes, &limits());
        prop_assert_eq!(decoded, Ok(MethodResponse::Success(expected(&v))));
    }

    #[test]
    fn call_round_trip(method in text(), params in proptest::collection::vec(value(), 0..5)) {
        let bytes = encode_call(&method, &params);
        let decoded = decode_call(&bytes, &limits());
        prop_assert_eq!(
            decoded,
            Ok(MethodCall {
                method: method.replace('\0', "\u{fffd}"),
                params: params.iter().map(expected).collect(),
            })
        );
    }

    #[test]
    fn fault_round_trip(code in any::<i64>(), message in text()) {
        let fault = Fault { code, message };
        let decoded = decode_response(&encode_fault(&fault), &limits());
        prop_assert_eq!(
            decoded,
            Ok(MethodResponse::Fault(Fault {
                code,
                message: fault.message.replace('\0', "\u{fffd}"),
            }))
        );
    }

    #[test]
    fn json_round_trip_of_json_shaped_values(v in value()) {
        // Through JSON, DateTime and Base64 become strings and doubles that are whole numbers
        // stay doubles only if they do not fit an i64, so compare JSON with JSON.
        let json = v.to_json();
        prop_assert_eq!(&serde_json::Value::from(v.clone()), &json);
        prop_assert_eq!(Value::from_json(&json).to_json(), json);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_response(&bytes, &limits());
        let _ = decode_call(&bytes, &limits());
    }

    #[test]
    fn arbitrary_markup_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("<value>"), Just("</value>"), Just("<array>"), Just("</array>"), Just("<data>"),
        Just("</data>"), Just("<struct>"), Just("</struct>"), Just("<member>"), Just("</member>"),
        Just("<name>"), Just("</name>"), Just("<int>"), Just("</int>"), Just("<string>"),
        Just("</string>"), Just("<nil/>"), Just("<value/>"), Just("<data/>"), Just("1"),
        Just("&amp;"), Just("&#0;"), Just("&#xD800;"), Just("&bogus;"), Just("&"), Just("\r\n"),
        Just("<!-- c -->"), Just("<![CDATA[x]]>"), Just("<?pi x?>"), Just(" "),
        Just("<params>"), Just("</params>"), Just("<param>"), Just("</param>"),
        Just("<fault>"), Just("</fault>"), Just("<methodResponse>"), Just("</methodResponse>"),
    ], 0..64)) {
        let doc = parts.concat();
        let _ = decode_response(doc.as_bytes(), &limits());
        let _ = decode_call(doc.as_bytes(), &limits());
    }

    #[test]
    fn mutated_documents_never_panic(
        v in value(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..6),
    ) {
        let mut bytes = encode_response(&v);
        for (at, op, byte) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => {
                    bytes.remove(i);
                }
                _ => bytes.insert(i, byte),
            }
        }
        let _ = decode_response(&bytes, &limits());
        let _ = decode_call(&bytes, &limits());
    }

    #[test]
    fn truncated_documents_are_errors(v in value(), cut in any::<prop::sample::Index>()) {
        let bytes = encode_response(&v);
        // Everything after the root's closing `>` is the trailing newline(s).
        let root_end = bytes.iter().rposition(|&b| b == b'>').expect("a closing tag") + 1;
        let len = cut.index(root_end);
        prop_assert!(decode_response(&bytes[..len], &limits()).is_err(), "prefix of {} bytes decoded", len);

        let call = encode_call("execute_kw", std::slice::from_ref(&v));
        let root_end = call.iter().rposition(|&b| b == b'>').expect("a closing tag") + 1;
        let len = cut.index(root_end);
        prop_assert!(decode_call(&call[..len], &limits()).is_err(), "prefix of {} bytes decoded", len);
    }

    #[test]
    fn depth_limit_is_exact(depth in 1usize..40) {
        let limits = Limits { max_depth: depth, ..Limits::default() };
        prop_assert!(decode_response(&nested_arrays(depth), &limits).is_ok());
        prop_assert!(decode_call(&nested_structs(depth), &limits).is_ok());
        let arrays = decode_response(&nested_arrays(depth + 1), &limits);
        prop_assert!(matches!(arrays, Err(DecodeError::TooDeep { .. })), "{:?}", arrays);
        let structs = decode_call(&nested_structs(depth + 1), &limits);
        prop_assert!(matches!(structs, Err(DecodeError::TooDeep { .. })), "{:?}", structs);
    }
}

#[test]
fn very_deep_nesting_is_an_error_not_a_stack_overflow() {
    for doc in [nested_arrays(200_000), nested_structs(200_000)] {
        let response = decode_response(&doc, &Limits::default());
        let call = decode_call(&doc, &Limits::default());
        assert!(response.is_err() && call.is_err());
    }
    assert!(matches!(
        decode_response(&nested_arrays(200_000), &Limits::default()),
        Err(DecodeError::TooDeep { max_depth: 64, .. })
    ));
    // Unclosed nesting: the limit is hit before the missing end tags matter.
    let open_only = "<methodResponse><params><param><value>".to_owned()
        + &"<array><data><value>".repeat(100_000);
    assert!(matches!(
        decode_response(open_only.as_bytes(), &Limits::default()),
        Err(DecodeError::TooDeep { .. })
    ));
}

#[test]
fn size_limit() {
    let doc = encode_response(&Value::String("x".repeat(1000)));
    let small = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    assert!(matches!(
        decode_response(&doc, &small),
        Err(DecodeError::TooLarge { max_bytes: 100, .. })
    ));
    assert!(matches!(
        decode_call(&doc, &small),
        Err(DecodeError::TooLarge { .. })
    ));
    assert!(decode_response(&doc, &Limits::default()).is_ok());
}

#[test]
fn billion_laughs_and_doctypes_are_refused() {
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<methodResponse><params><param><value><string>&lol3;</string></value></param></params></methodResponse>"#;
    let r = decode_response(laughs.as_bytes(), &Limits::default());
    assert!(matches!(r, Err(DecodeError::Doctype { .. })), "{r:?}");

    let external = r#"<?xml version="1.0"?><!DOCTYPE r SYSTEM "file:///etc/passwd"><methodCall><methodName>x</methodName></methodCall>"#;
    let r = decode_call(external.as_bytes(), &Limits::default());
    assert!(matches!(r, Err(DecodeError::Doctype { .. })), "{r:?}");

    // Without a DOCTYPE an undeclared entity is refused, not left in or expanded.
    let undeclared = b"<methodResponse><params><param><value><string>a&lol;b</string></value></param></params></methodResponse>";
    let r = decode_response(undeclared, &Limits::default());
    assert!(matches!(r, Err(DecodeError::BadEntity { .. })), "{r:?}");
}

/// Documents that are valid but outside what Odoo writes: comments, CDATA, CRLF, a declared
/// encoding, bare text, empty elements, `i4`/`i8`/`nil`, odd whitespace and base64 lines.
#[test]
fn accepted_variants() {
    let doc = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!-- hi -->\r\n\
        <methodResponse><params><param><value><array><data>\r\n\
        <value>bare &amp; text</value><value></value><value/><value><string/></value>\
        <value><i4> 7 </i4></value><value><i8>-9223372036854775808</i8></value>\
        <value><boolean>1</boolean></value><value><double>-1.5e3</double></value>\
        <value><dateTime.iso8601>20261124T18:26:56</dateTime.iso8601></value>\
        <value><base64>aGVs\n bG8=\n</base64></value><value><nil/></value>\
        <value><string><![CDATA[<raw & text>]]>&#x1F980;&#65;\r\nx</string></value>\
        <value><struct></struct></value><value><array><data/></array></value>\
        <value>  <int>3</int>  </value>\
        </data></array></value></param></params></methodResponse><!-- bye -->\n";
    let r = decode_response(doc.as_bytes(), &Limits::default()).expect("valid document");
    let s = |t: &str| Value::String(t.to_owned());
    assert_eq!(
        r,
        MethodResponse::Success(Value::Array(vec![
            s("bare & text"),
            s(""),
            s(""),
            s(""),
            Value::Int(7),
            Value::Int(i64::MIN),
            Value::Bool(true),
            Value::Double(-1500.0),
            Value::DateTime("20261124T18:26:56".into()),
            Value::Base64(b"hello".to_vec()),
            Value::Nil,
            s("<raw & text>🦀A\nx"),
            Value::Struct(vec![]),
            Value::Array(vec![]),
            Value::Int(3),
        ]))
    );
    // A call without <params>.
    let call = decode_call(
        b"<methodCall><methodName>version</methodName></methodCall>",
        &Limits::default(),
    );
    assert_eq!(
        call,
        Ok(MethodCall {
            method: "version".into(),
            params: vec![]
        })
    );
}

#[test]
fn refused_variants_have_clear_errors() {
    let wrap = |inner: &str| {
        format!("<methodResponse><params><param><value>{inner}</value></param></params></methodResponse>")
    };
    let cases: &[(&str, &str)] = &[
        ("<int>12x</int>", "bad <int> value \"12x\""),
        ("<int>99999999999999999999</int>", "bad <int>"),
        ("<boolean>true</boolean>", "bad <boolean> value \"true\""),
        ("<double>one</double>", "bad <double>"),
        ("<base64>!!!!</base64>", "bad <base64>"),
        ("<float>1</float>", "unexpected <float>"),
        ("text<int>1</int>", "unexpected text"),
        ("<array><value/></array>", "expected <data>"),
        (
            "<struct><member><value><int>1</int></value></member></struct>",
            "expected <name>",
        ),
        ("<string>a</int>", "unexpected </int>"),
        ("<string>a&#0;</string>", "entity &#0;"),
    ];
    for (inner, message) in cases {
        let err = decode_response(wrap(inner).as_bytes(), &Limits::default()).expect_err(inner);
        assert!(err.to_string().contains(message), "{inner}: {err}");
    }
    let err = decode_response(
        b"<methodResponse><params></params></methodResponse>",
        &Limits::default(),
    )
    .expect_err("no param");
    assert!(matches!(err, DecodeError::Missing { .. }), "{err}");
    let err = decode_response(b"<methodResponse><params><param><value>1</value></param><param><value>2</value></param></params></methodResponse>", &Limits::default())
        .expect_err("two params");
    assert!(err.to_string().contains("exactly one"), "{err}");
    let err = decode_response(b"<methodResponse><params><param><value>1</value></param></params></methodResponse>trailing", &Limits::default())
        .expect_err("trailing text");
    assert!(err.to_string().contains("end of document"), "{err}");
    let err = decode_response(
        b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><methodResponse/>",
        &Limits::default(),
    )
    .expect_err("latin-1");
    assert!(matches!(err, DecodeError::UnsupportedEncoding(_)), "{err}");
    let err = decode_response(
        b"<methodResponse><params><param><value>\xff</value></param></params></methodResponse>",
        &Limits::default(),
    )
    .expect_err("bad utf-8");
    assert!(matches!(err, DecodeError::InvalidUtf8 { .. }), "{err}");
    let err = decode_response(
        b"<methodResponse><params><param><value>1</val",
        &Limits::default(),
    )
    .expect_err("truncated");
    assert!(err.to_string().contains("byte"), "{err}");
    let err = decode_response(b"<methodResponse><fault><value><struct><member><name>faultCode</name><value><string>x</string></value></member></struct></value></fault></methodResponse>", &Limits::default())
        .expect_err("bad fault");
    assert!(matches!(err, DecodeError::BadFault(_)), "{err}");
}
