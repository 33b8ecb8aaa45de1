#!/usr/bin/env python3
"""Tests of check_swift_bindings.py: UniFFI's naming, the lexer, the Rust
reader, and that the checker fails when the generated code or the wrapper
drifts from the Rust API (on the real generated files when they exist)."""

from __future__ import annotations

import contextlib
import io
import re
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import check_swift_bindings as checker  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
GENERATED_SWIFT = ROOT / "build/generated/swift/TesseraFFI.swift"
GENERATED_KOTLIN = ROOT / "build/generated/kotlin/org/tessera/ffi/tessera_ffi.kt"

RUST_FIXTURE = r'''
use std::sync::Arc;

/// A record.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Config {
    /// A folder ("C:\\dir" or "/tmp/{x}").
    pub data_dir: String,
    #[uniffi(default = None)]
    pub time_sources: Option<Vec<String>>,
}

#[uniffi::remote(Enum)]
pub enum Kind {
    Totp,
    Sha256,
}

#[derive(Debug, uniffi::Error)]
pub enum AppError {
    #[error("bad {field}: {reason}")]
    InvalidUri { field: String, reason: String },
    NoVault,
}

#[derive(uniffi::Object)]
pub struct Thing {
    inner: Mutex<Option<String>>,
}

impl Thing {
    pub fn not_exported(&self) {}
}

#[uniffi::export]
impl Thing {
    #[uniffi::constructor]
    pub fn new(config: Config, storage: Option<Arc<dyn Store>>) -> Result<Arc<Self>, AppError> {
        let c = '{';
        let s = r#"}"#;
        todo!()
    }

    pub fn codes<'a>(&'a self, now_ms: Option<u64>) -> Result<Vec<String>, AppError> {
        todo!()
    }

    pub fn lock(&self) {}

    fn private_helper(&self) {}
}

#[uniffi::export(async_runtime = "tokio")]
impl Thing {
    pub async fn sync_clock(&self) -> Result<(), AppError> {
        Ok(())
    }
}

#[uniffi::export(with_foreign)]
pub trait Store: Send + Sync {
    fn get(&self, key: String) -> Result<Option<String>, AppError>;
    fn set(&self, key: String, value: String) -> Result<(), AppError>;
}

#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait Fetcher: Send + Sync {
    async fn fetch(&self, url: String) -> Result<Vec<u8>, AppError>;
    fn close(&self);
}

#[uniffi::export]
pub fn version() -> String {
    String::new()
}
'''


class NamingTests(unittest.TestCase):
    def test_lower_camel(self):
        self.assertEqual(checker.lower_camel("valid_from_ms"), "validFromMs")
        self.assertEqual(checker.lower_camel("add_from_qr_image"), "addFromQrImage")
        self.assertEqual(checker.lower_camel("InSync"), "inSync")
        self.assertEqual(checker.lower_camel("Sha256"), "sha256")
        self.assertEqual(checker.lower_camel("lock"), "lock")

    def test_upper_camel_and_shouty(self):
        self.assertEqual(checker.upper_camel("invalid_uri"), "InvalidUri")
        self.assertEqual(checker.upper_camel("InvalidUri"), "InvalidUri")
        self.assertEqual(checker.shouty_snake("InSync"), "IN_SYNC")
        self.assertEqual(checker.shouty_snake("Sha256"), "SHA256")
        self.assertEqual(checker.shouty_snake("HTTPServer"), "HTTP_SERVER")

    def test_kotlin_error_name(self):
        self.assertEqual(checker.kotlin_error_name("TesseraError"), "TesseraException")
        self.assertEqual(checker.kotlin_error_name("Failure"), "Failure")


class BlankerTests(unittest.TestCase):
    def test_swift_strings_and_comments(self):
        source = 'let a = "x \\(f("{")) y" /* { /* nested */ } */ // }\nlet b = #"{"a":1}"#\nfoo()'
        blanked = checker.blank(source, "swift")
        self.assertEqual(len(blanked), len(source))
        self.assertNotIn("{", blanked)
        self.assertNotIn("}", blanked)
        self.assertIn("foo()", blanked)
        self.assertEqual(blanked.count("\n"), source.count("\n"))

    def test_swift_multiline_string(self):
        source = 'let s = """\n  { not code }\n  """\nbar()'
        blanked = checker.blank(source, "swift")
        self.assertNotIn("{", blanked)
        self.assertIn("bar()", blanked)

    def test_rust_lifetimes_chars_and_raw_strings(self):
        source = "fn f<'a>(x: &'a str) { let c = '{'; let d = '\\''; let s = r#\"}\"#; }"
        blanked = checker.blank(source, "rust")
        self.assertEqual(blanked.count("{"), 1)
        self.assertEqual(blanked.count("}"), 1)
        self.assertIn("<'a>", blanked)

    def test_kotlin_templates(self):
        source = 'val m = "field=${ `field` }, x=${ a.b("}") }"\nfun g() {}'
        blanked = checker.blank(source, "kotlin")
        self.assertEqual(blanked.count("{"), 1)
        self.assertIn("fun g()", blanked)


class RustReaderTests(unittest.TestCase):
    def setUp(self):
        self.api = checker.parse_rust({"fixture.rs": RUST_FIXTURE})

    def test_records_enums_errors(self):
        fields = self.api.records["Config"]
        self.assertEqual([f.name for f in fields], ["data_dir", "time_sources"])
        self.assertEqual([f.optional for f in fields], [False, True])
        self.assertEqual([v.name for v in self.api.enums["Kind"]], ["Totp", "Sha256"])
        errors = self.api.errors["AppError"]
        self.assertEqual([v.name for v in errors], ["InvalidUri", "NoVault"])
        self.assertEqual([f.name for f in errors[0].fields], ["field", "reason"])

    def test_exported_methods_only(self):
        methods = {f.name: f for f in self.api.objects["Thing"]}
        self.assertEqual(set(methods), {"new", "codes", "lock", "sync_clock"})
        self.assertTrue(methods["new"].constructor)
        self.assertEqual([p.name for p in methods["new"].params], ["config", "storage"])
        self.assertTrue(methods["codes"].throws and methods["codes"].returns)
        self.assertEqual([p.optional for p in methods["codes"].params], [True])
        self.assertFalse(methods["lock"].throws or methods["lock"].returns)
        self.assertTrue(methods["sync_clock"].is_async and methods["sync_clock"].throws)
        self.assertFalse(methods["sync_clock"].returns)

    def test_traits_and_functions(self):
        store = {f.name: f for f in self.api.traits["Store"]}
        self.assertEqual(set(store), {"get", "set"})
        self.assertEqual([p.name for p in store["set"].params], ["key", "value"])
        self.assertTrue(store["get"].returns)
        self.assertFalse(store["set"].returns)
        self.assertEqual([f.name for f in self.api.functions], ["version"])

    def test_async_trait_methods(self):
        fetcher = {f.name: f for f in self.api.traits["Fetcher"]}
        self.assertEqual(set(fetcher), {"fetch", "close"})
        self.assertTrue(fetcher["fetch"].is_async and fetcher["fetch"].throws and fetcher["fetch"].returns)
        self.assertFalse(fetcher["close"].is_async or fetcher["close"].throws)


class LabelTests(unittest.TestCase):
    def test_defaults_may_be_left_out_in_order(self):
        decl = checker.Decl(["dataDir", "usePlatformKeystore", "timeSources"], [False] * 3, [False, True, True], "", "")
        self.assertTrue(checker.labels_fit(["dataDir"], decl))
        self.assertTrue(checker.labels_fit(["dataDir", "timeSources"], decl))
        self.assertFalse(checker.labels_fit(["timeSources", "dataDir"], decl))
        self.assertFalse(checker.labels_fit(["timeSources"], decl))
        self.assertFalse(checker.labels_fit(["dataDir", "other"], decl))

    def test_an_implementation_must_match_async_throws_and_the_return_type(self):
        def decl(tail: str) -> checker.Decl:
            return checker.Decl(["request"], [False], [False], tail, "")

        declared = decl(" async throws  -> HttpResponse")
        self.assertTrue(checker.implementation_fits(decl(" async throws -> any HttpResponse "), declared))
        self.assertTrue(checker.implementation_fits(decl(" async throws -> HttpResponse "), declared))
        self.assertFalse(checker.implementation_fits(decl(" throws -> HttpResponse "), declared))
        self.assertFalse(checker.implementation_fits(decl(" async -> HttpResponse "), declared))
        self.assertFalse(checker.implementation_fits(decl(" async throws -> Data "), declared))
        self.assertFalse(checker.implementation_fits(decl(" async throws "), declared))
        other_label = checker.Decl(["url"], [False], [False], " async throws -> HttpResponse", "")
        self.assertFalse(checker.implementation_fits(other_label, declared))

    def test_call_arguments(self):
        text = 'f(a: g(x: 1), b ? c : d, e: [k: v], "s")'
        self.assertEqual(checker.call_args(checker.blank(text, "swift"), 1), ["a", "_", "e", "_"])


@unittest.skipUnless(
    GENERATED_SWIFT.exists() and GENERATED_KOTLIN.exists(), "run scripts/bindings.sh to generate the bindings"
)
class GeneratedBindingsTests(unittest.TestCase):
    """The checker passes on the real bindings and fails on altered copies."""

    @classmethod
    def setUpClass(cls):
        sources = {str(p): p.read_text() for p in sorted((ROOT / "bindings/src").glob("*.rs"))}
        cls.api = checker.parse_rust(sources)
        cls.swift_source = GENERATED_SWIFT.read_text()
        cls.kotlin_source = GENERATED_KOTLIN.read_text()

    def failures_swift(self, source: str) -> list[str]:
        report = checker.Report(verbose=False)
        with contextlib.redirect_stdout(io.StringIO()):
            checker.check_swift(self.api, checker.blank(source, "swift"), report)
        return report.failed

    def failures_kotlin(self, source: str) -> list[str]:
        report = checker.Report(verbose=False)
        with contextlib.redirect_stdout(io.StringIO()):
            checker.check_kotlin(self.api, checker.blank(source, "kotlin"), report)
        return report.failed

    def test_the_real_bindings_pass(self):
        self.assertEqual(self.failures_swift(self.swift_source), [])
        self.assertEqual(self.failures_kotlin(self.kotlin_source), [])

    def test_a_missing_method_fails(self):
        altered = re.sub(r"func codes\(", "func kodes(", self.swift_source)
        failures = self.failures_swift(altered)
        self.assertTrue(any("func codes" in f for f in failures), failures)
        self.assertTrue(any("kodes" in f for f in failures), "an extra method must be reported too")

    def test_a_changed_label_fails(self):
        altered = self.swift_source.replace("func codes(nowMs:", "func codes(at:")
        self.assertTrue(any("func codes" in f for f in self.failures_swift(altered)))

    def test_lost_optionality_fails(self):
        altered = self.swift_source.replace("public var validFromMs: UInt64?", "public var validFromMs: UInt64")
        self.assertTrue(any("validFromMs optionality" in f for f in self.failures_swift(altered)))

    def test_a_missing_error_case_fails(self):
        altered = self.swift_source.replace("case WrongRecoveryKey", "case WrongKey")
        self.assertTrue(any("WrongRecoveryKey" in f for f in self.failures_swift(altered)))

    def test_a_missing_enum_variant_fails_in_kotlin(self):
        altered = self.kotlin_source.replace("IN_SYNC,", "SYNCED,")
        self.assertTrue(any("IN_SYNC" in f for f in self.failures_kotlin(altered)))

    def test_a_lost_suspend_fails_in_kotlin(self):
        altered = self.kotlin_source.replace("suspend fun `syncClock`", "fun `syncClock`")
        self.assertTrue(any("syncClock" in f for f in self.failures_kotlin(altered)))

    def test_a_variant_with_fields_is_checked_in_both_languages(self):
        altered = self.swift_source.replace("*/attemptsLeft: UInt32", "*/left: UInt32")
        self.assertTrue(any("wrongNumber fields" in f for f in self.failures_swift(altered)))
        altered = self.kotlin_source.replace("object Connected : PushEvent()", "object Online : PushEvent()")
        self.assertTrue(any("PushEvent.Connected" in f for f in self.failures_kotlin(altered)))
        altered = re.sub(r"(data class Disconnected\([^)]*?)val `retryInMs`", r"\1val `retryMs`", self.kotlin_source)
        self.assertTrue(any("PushEvent.Disconnected fields" in f for f in self.failures_kotlin(altered)))

    def test_the_listed_api_is_the_exported_one(self):
        report = checker.Report(verbose=False)
        with contextlib.redirect_stdout(io.StringIO()):
            checker.check_expected(self.api, report)
        self.assertEqual(report.failed, [])
        listed = {**checker.EXPECTED_API, "objects": {**checker.EXPECTED_API["objects"]}}
        listed["objects"]["PushSubscription"] = ["next", "cancel"]
        listed["records"] = [r for r in checker.EXPECTED_API["records"] if r != "PushPrompt"]
        report = checker.Report(verbose=False)
        with contextlib.redirect_stdout(io.StringIO()):
            checker.check_expected(self.api, report, listed)
        self.assertTrue(any("PushSubscription methods" in f and "account_id" in f for f in report.failed))
        self.assertTrue(any("records" in f and "PushPrompt" in f for f in report.failed))

    def test_a_wrapper_calling_a_missing_method_fails(self):
        swift = checker.blank(self.swift_source, "swift")
        report = checker.Report(verbose=False)
        with contextlib.redirect_stdout(io.StringIO()):
            methods = checker.check_swift(self.api, swift, report)
        decl = methods["Authenticator"]["codes"]
        wrapper = checker.blank("let core: Authenticator = x\ncore.codes(at: 1)\ncore.kodes()\n", "swift")
        calls = checker.calls_on(wrapper, checker.receivers_of(wrapper, "Authenticator"))
        self.assertEqual([c.name for c in calls], ["codes", "kodes"])
        self.assertFalse(checker.labels_fit(calls[0].labels, decl))
        self.assertNotIn("kodes", methods["Authenticator"])


if __name__ == "__main__":
    unittest.main()
