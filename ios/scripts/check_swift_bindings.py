#!/usr/bin/env python3
"""Checks that the generated Swift and Kotlin bindings carry the whole Rust API,
and that the Swift package's hand-written code only uses what they declare.

No Swift toolchain runs in CI, so this is the guard between the Rust API
(bindings/src/*.rs) and the Swift sources under ios/:

1. The Rust side is read from its UniFFI annotations: `#[uniffi::export]` impl
   blocks (their `pub fn` / `pub async fn`, and `#[uniffi::constructor]`s),
   exported free functions, `#[uniffi::export(with_foreign)]` traits,
   `uniffi::Record` / `Enum` / `Error` / `Object` types and
   `#[uniffi::remote(Enum)]` enums, with their fields and variants.
   What is read must be exactly the API listed in EXPECTED_API.
2. Every item must appear in the generated Swift (TesseraFFI.swift) and Kotlin
   (tessera_ffi.kt) with the right kind of declaration, UniFFI's naming
   (snake_case -> lowerCamelCase, Kotlin enum variants in SHOUTY_SNAKE_CASE,
   enums with data as Kotlin sealed classes, `…Error` -> `…Exception`), the same argument labels in order, and the same
   async / throws / returns-a-value shape and optionality. The other way round,
   the generated object protocols may declare nothing the Rust side lacks.
3. The hand-written Swift (ios/Sources, ios/Tests, ios/App) is scanned: calls on
   the generated object must name its methods with their labels, record
   initialisers must use their labels in order, `TesseraError` cases must
   exist, every implementation of a foreign trait (`SecureStorage`,
   `HttpTransport`, `HttpBody`) must implement every method with the
   generated signature, async and throws included, the error mapping must
   cover every case, and calls on `TesseraClient` must match the wrapper's
   own declarations.

Prints one line per failure (and per check with --verbose), then
`swift-bindings: N passed, M failed`; exits 1 when anything failed.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

# --------------------------------------------------------------------------
# Naming, as UniFFI does it (heck's word splitting).


def split_words(name: str) -> list[str]:
    """Splits snake_case, camelCase and UpperCamelCase names into words.

    Digits stay with the word before them (`Sha256` is one word), as heck does.
    """
    result: list[str] = []
    for part in name.split("_"):
        if not part:
            continue
        current = ""
        for index, char in enumerate(part):
            if current and char.isupper():
                previous = part[index - 1]
                following = part[index + 1] if index + 1 < len(part) else ""
                # aB -> a|B ; 1B -> 1|B ; ABc -> A|Bc (end of an acronym)
                if previous.islower() or previous.isdigit() or (previous.isupper() and following.islower()):
                    result.append(current)
                    current = ""
            current += char
        if current:
            result.append(current)
    return result


def lower_camel(name: str) -> str:
    words = split_words(name)
    if not words:
        return name
    return words[0].lower() + "".join(w[:1].upper() + w[1:].lower() for w in words[1:])


def upper_camel(name: str) -> str:
    return "".join(w[:1].upper() + w[1:].lower() for w in split_words(name))


def shouty_snake(name: str) -> str:
    return "_".join(w.upper() for w in split_words(name))


def kotlin_error_name(name: str) -> str:
    return name[: -len("Error")] + "Exception" if name.endswith("Error") else name


# --------------------------------------------------------------------------
# Lexing: blank out comments and the insides of string literals, keeping
# offsets and newlines, so that braces and parentheses can be matched.


class Blanker:
    """Turns source text into the same text with comments and string contents
    replaced by spaces. Understands Rust (raw strings, char literals vs
    lifetimes), Swift (raw strings `#"…"#`, multi-line strings, `\\( … )`
    interpolation) and Kotlin (`${ … }` templates, raw strings)."""

    def __init__(self, text: str, lang: str):
        if lang not in ("rust", "swift", "kotlin"):
            raise ValueError(lang)
        self.text = text
        self.lang = lang
        self.out = list(text)

    def run(self) -> str:
        end = self._code(0, None)
        if end != len(self.text):
            raise ValueError(f"unbalanced input near offset {end}")
        return "".join(self.out)

    def _blank(self, start: int, end: int) -> None:
        for k in range(start, end):
            if self.out[k] != "\n":
                self.out[k] = " "

    def _code(self, i: int, closer: str | None) -> int:
        """Scans code from `i` up to the unmatched `closer` (returns its index)
        or to the end of the text when `closer` is None."""
        text, n = self.text, len(self.text)
        depth = 0
        while i < n:
            c = text[i]
            if text.startswith("//", i):
                end = text.find("\n", i)
                end = n if end < 0 else end
                self._blank(i, end)
                i = end
                continue
            if text.startswith("/*", i):
                end = self._block_comment_end(i)
                self._blank(i, end)
                i = end
                continue
            string = self._string_start(i)
            if string is not None:
                open_end, kind = string
                end = self._string_end(open_end, kind)
                close_len = len(kind[0])
                self._blank(open_end, end - close_len)
                i = end
                continue
            if self.lang in ("rust", "kotlin") and c == "'":
                end = self._char_literal_end(i)
                if end is not None:
                    self._blank(i + 1, end - 1)
                    i = end
                    continue
            if c in "([{":
                depth += 1
            elif c in ")]}":
                if depth == 0 and closer is not None and c == closer:
                    return i
                depth -= 1
            i += 1
        if closer is not None:
            raise ValueError(f"unterminated interpolation (wanted {closer!r})")
        return n

    def _block_comment_end(self, i: int) -> int:
        text, n = self.text, len(self.text)
        depth = 0
        while i < n:
            if text.startswith("/*", i):
                depth += 1
                i += 2
            elif text.startswith("*/", i):
                depth -= 1
                i += 2
                if depth == 0:
                    return i
            else:
                i += 1
        raise ValueError("unterminated block comment")

    def _string_start(self, i: int) -> tuple[int, tuple[str, str]] | None:
        """Returns (index after the opening delimiter, (closing delimiter,
        flavour)) when a string literal starts at `i`."""
        text = self.text
        previous = text[i - 1] if i > 0 else ""
        if self.lang == "rust":
            if previous.isalnum() or previous == "_":
                return None
            m = re.compile(r'b?r(#*)"').match(text, i)
            if m:
                return m.end(), ('"' + m.group(1), "raw")
            m = re.compile(r'b?"').match(text, i)
            if m:
                return m.end(), ('"', "escaped")
            return None
        if self.lang == "swift":
            m = re.compile(r'(#*)("""|")').match(text, i)
            if not m or (m.group(1) and (previous.isalnum() or previous == "_")):
                return None
            hashes, quote = m.group(1), m.group(2)
            return m.end(), (quote + hashes, "swift" + hashes)
        # kotlin
        if text.startswith('"""', i):
            return i + 3, ('"""', "kotlin-raw")
        if text[i] == '"':
            return i + 1, ('"', "kotlin")
        return None

    def _string_end(self, i: int, kind: tuple[str, str]) -> int:
        """Returns the index after the closing delimiter of a string whose
        contents start at `i`."""
        closing, flavour = kind
        text, n = self.text, len(self.text)
        while i < n:
            if flavour == "raw":
                if text.startswith(closing, i):
                    return i + len(closing)
                i += 1
                continue
            if flavour == "escaped":
                if text[i] == "\\":
                    i += 2
                    continue
                if text[i] == '"':
                    return i + 1
                i += 1
                continue
            if flavour.startswith("swift"):
                hashes = flavour[len("swift"):]
                escape = "\\" + hashes
                if text.startswith(escape + "(", i):
                    end = self._code(i + len(escape) + 1, ")")
                    i = end + 1
                    continue
                if text.startswith(escape, i):
                    i += len(escape) + 1
                    continue
                if text.startswith(closing, i):
                    return i + len(closing)
                i += 1
                continue
            # kotlin, kotlin-raw
            if flavour == "kotlin" and text[i] == "\\":
                i += 2
                continue
            if text.startswith("${", i):
                end = self._code(i + 2, "}")
                i = end + 1
                continue
            if text.startswith(closing, i):
                # A raw string may end with extra quotes: """a""""
                end = i + len(closing)
                if flavour == "kotlin-raw":
                    while end < n and text[end] == '"':
                        end += 1
                return end
            i += 1
        raise ValueError("unterminated string literal")

    def _char_literal_end(self, i: int) -> int | None:
        """The index after a char literal at `i`, or None for a lifetime (Rust)
        or a stray quote."""
        text = self.text
        if i + 1 < len(text) and text[i + 1] == "\\":
            end = text.find("'", i + 2)
            if text[i + 2 : i + 3] == "'":  # '\''
                end = text.find("'", i + 3)
            return None if end < 0 else end + 1
        if i + 2 < len(text) and text[i + 2] == "'":
            return i + 3
        return None


def blank(text: str, lang: str) -> str:
    return Blanker(text, lang).run()


def matching(text: str, open_index: int) -> int:
    """The index of the bracket closing the one at `open_index` (in blanked text)."""
    pairs = {"(": ")", "[": "]", "{": "}", "<": ">"}
    opener = text[open_index]
    closer = pairs[opener]
    depth = 0
    for k in range(open_index, len(text)):
        c = text[k]
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                return k
    raise ValueError(f"no match for {opener!r} at {open_index}")


def split_top_level(text: str, separator: str = ",") -> list[str]:
    """Splits at separators outside (), [], {} and <> (for Rust types).

    A `>` that is part of `->` is not a closing angle bracket."""
    parts, depth, current = [], 0, []
    for index, c in enumerate(text):
        if c in "([{<":
            depth += 1
        elif c in ")]}" or (c == ">" and not (index > 0 and text[index - 1] == "-")):
            depth -= 1
        if c == separator and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
    tail = "".join(current)
    if tail.strip():
        parts.append(tail)
    return [p.strip() for p in parts]


# --------------------------------------------------------------------------
# The Rust API.


@dataclass
class Param:
    name: str
    type: str

    @property
    def optional(self) -> bool:
        return self.type.replace(" ", "").startswith("Option<")


@dataclass
class Function:
    name: str
    params: list[Param]
    is_async: bool
    throws: bool
    returns: bool
    constructor: bool = False


@dataclass
class Variant:
    name: str
    fields: list[Param]


@dataclass
class RustApi:
    records: dict[str, list[Param]] = field(default_factory=dict)
    enums: dict[str, list[Variant]] = field(default_factory=dict)
    errors: dict[str, list[Variant]] = field(default_factory=dict)
    objects: dict[str, list[Function]] = field(default_factory=dict)
    traits: dict[str, list[Function]] = field(default_factory=dict)
    functions: list[Function] = field(default_factory=list)


ITEM = re.compile(
    r"((?:#\[[^\]]*\]\s*)+)(?:pub(?:\s*\([^)]*\))?\s+)?(struct|enum|trait|impl|fn|async\s+fn)\b"
)
ATTRIBUTE = re.compile(r"#\[([^\]]*)\]")


def attributes(block: str) -> list[str]:
    return [re.sub(r"\s+", "", a) for a in ATTRIBUTE.findall(block)]


def depth_at(text: str, index: int) -> int:
    return text.count("{", 0, index) - text.count("}", 0, index)


def parse_params(text: str) -> list[Param]:
    params = []
    for part in split_top_level(text):
        part = re.sub(r"#\[[^\]]*\]", "", part).strip()
        if not part or re.fullmatch(r"&?\s*(?:'\w+\s+)?(?:mut\s+)?self(?:\s*:.*)?", part, re.S):
            continue
        m = re.match(r"(?:mut\s+)?(\w+)\s*:\s*(.+)", part, re.S)
        if not m:
            raise ValueError(f"cannot read the parameter {part!r}")
        params.append(Param(m.group(1), " ".join(m.group(2).split())))
    return params


def parse_function(text: str, start: int, attrs: list[str]) -> tuple[Function, int]:
    """Reads `[pub] [async] fn name(params) [-> ret]` starting at `start`;
    returns the function and the index after its signature."""
    m = re.compile(r"(?:pub(?:\s*\([^)]*\))?\s+)?(async\s+)?fn\s+(\w+)\s*(?:<[^>]*>)?\s*\(").match(text, start)
    if not m:
        raise ValueError(f"not a function at {start}: {text[start:start + 60]!r}")
    close = matching(text, m.end() - 1)
    params = parse_params(text[m.end() : close])
    tail_end = len(text)
    for stop in ("{", ";"):
        k = text.find(stop, close)
        if 0 <= k < tail_end:
            tail_end = k
    tail = text[close + 1 : tail_end]
    tail = re.split(r"\bwhere\b", tail)[0]
    ret = tail.split("->", 1)[1].strip() if "->" in tail else ""
    ret_compact = ret.replace(" ", "")
    throws = ret_compact.startswith("Result<")
    if throws:
        ok_type = split_top_level(ret_compact[len("Result<") : -1])[0]
        returns = ok_type not in ("()", "")
    else:
        returns = ret_compact not in ("", "()")
    function = Function(
        name=m.group(2),
        params=params,
        is_async=bool(m.group(1)),
        throws=throws,
        returns=returns,
        constructor=any(a.startswith("uniffi::constructor") for a in attrs),
    )
    return function, tail_end


def parse_variants(body: str) -> list[Variant]:
    variants = []
    for chunk in split_top_level(body):
        chunk = re.sub(r"#\[[^\]]*\]", "", chunk).strip()
        if not chunk:
            continue
        m = re.match(r"(\w+)\s*(.*)", chunk, re.S)
        name, rest = m.group(1), m.group(2).strip()
        fields: list[Param] = []
        if rest.startswith("{"):
            fields = parse_params(rest[1 : matching(rest, 0)])
        elif rest.startswith("("):
            inner = split_top_level(rest[1 : matching(rest, 0)])
            fields = [Param(f"v{k + 1}", t) for k, t in enumerate(inner)]
        variants.append(Variant(name, fields))
    return variants


def parse_struct_fields(body: str) -> list[Param]:
    fields = []
    for chunk in split_top_level(body):
        chunk = re.sub(r"#\[[^\]]*\]", "", chunk).strip()
        m = re.match(r"pub(?:\s*\([^)]*\))?\s+(\w+)\s*:\s*(.+)", chunk, re.S)
        if m:
            fields.append(Param(m.group(1), " ".join(m.group(2).split())))
    return fields


def parse_rust(sources: dict[str, str]) -> RustApi:
    api = RustApi()
    for path, raw in sorted(sources.items()):
        text = blank(raw, "rust")
        for m in ITEM.finditer(text):
            attrs = attributes(m.group(1))
            kind = re.sub(r"\s+", " ", m.group(2))
            if depth_at(text, m.start()) != 0:
                continue
            derives = ",".join(a[len("derive(") : -1] for a in attrs if a.startswith("derive("))
            derived = set(derives.split(",")) if derives else set()
            is_export = any(a == "uniffi::export" or a.startswith("uniffi::export(") for a in attrs)
            is_remote_enum = "uniffi::remote(Enum)" in attrs
            rest = text[m.end() :]
            name_match = re.match(r"\s*(\w+)", rest)
            if kind in ("struct", "enum", "trait"):
                name = name_match.group(1)
                brace = text.find("{", m.end())
                semicolon = text.find(";", m.end())
                has_body = brace >= 0 and (semicolon < 0 or brace < semicolon)
                body = text[brace + 1 : matching(text, brace)] if has_body else ""
                if kind == "struct" and "uniffi::Record" in derived:
                    api.records[name] = parse_struct_fields(body)
                if kind == "struct" and "uniffi::Object" in derived:
                    api.objects.setdefault(name, [])
                if kind == "enum" and "uniffi::Error" in derived:
                    api.errors[name] = parse_variants(body)
                elif kind == "enum" and ("uniffi::Enum" in derived or is_remote_enum):
                    api.enums[name] = parse_variants(body)
                if kind == "trait" and is_export:
                    methods = []
                    for fm in re.finditer(r"((?:#\[[^\]]*\]\s*)*)\b(?:async\s+)?fn\s+\w+", body):
                        if depth_at(body, fm.start()) != 0:
                            continue
                        fn_start = fm.start() + len(fm.group(1))
                        function, _ = parse_function(body, fn_start, attributes(fm.group(1)))
                        methods.append(function)
                    api.traits[name] = methods
            elif kind == "impl" and is_export:
                target = re.match(r"\s*(?:<[^>]*>\s*)?(?:\w+\s+for\s+)?(\w+)", rest).group(1)
                brace = text.find("{", m.end())
                body = text[brace + 1 : matching(text, brace)]
                methods = api.objects.setdefault(target, [])
                for fm in re.finditer(r"((?:#\[[^\]]*\]\s*)*)pub(?:\s*\([^)]*\))?\s+(?:async\s+)?fn\s+\w+", body):
                    if depth_at(body, fm.start()) != 0:
                        continue
                    fn_start = fm.start() + len(fm.group(1))
                    function, _ = parse_function(body, fn_start, attributes(fm.group(1)))
                    methods.append(function)
            elif kind in ("fn", "async fn") and is_export:
                fn_start = m.start() + len(m.group(1))
                function, _ = parse_function(text, fn_start, attrs)
                api.functions.append(function)
    return api


# --------------------------------------------------------------------------
# Reading generated and hand-written Swift / Kotlin declarations.


@dataclass
class Decl:
    """One function-like declaration found in Swift or Kotlin."""

    labels: list[str]
    optional: list[bool]
    defaults: list[bool]
    tail: str
    prefix: str


def block_of(text: str, header: re.Pattern[str]) -> str | None:
    """The body of the first `{ … }` block whose header matches."""
    m = header.search(text)
    if not m:
        return None
    brace = text.find("{", m.end() - 1)
    return text[brace + 1 : matching(text, brace)]


def swift_params(params_text: str) -> tuple[list[str], list[bool], list[bool]]:
    labels, optional, defaults = [], [], []
    for part in split_top_level(params_text.replace("->", "→")):
        if not part:
            continue
        m = re.match(r"(?:(\w+)\s+)?(\w+)\s*:\s*([^=]+?)\s*(=.*)?$", part, re.S)
        if not m and ":" not in part:
            # An enum case's unlabelled associated value: `case prompt(PushPrompt)`.
            labels.append("_")
            optional.append(part.endswith("?"))
            defaults.append(False)
            continue
        if not m:
            raise ValueError(f"cannot read the Swift parameter {part!r}")
        external = m.group(1) or m.group(2)
        labels.append(external)
        type_text = m.group(3).strip()
        optional.append(type_text.endswith("?") or type_text.endswith("?)"))
        defaults.append(m.group(4) is not None)
    return labels, optional, defaults


def swift_decls(text: str, keyword_pattern: str) -> list[Decl]:
    """Declarations `<keyword_pattern>(params) tail` in blanked Swift text."""
    decls = []
    for m in re.finditer(keyword_pattern + r"\s*\(", text):
        open_paren = m.end() - 1
        close = matching(text, open_paren)
        labels, optional, defaults = swift_params(text[open_paren + 1 : close])
        line_end = text.find("\n", close)
        brace = text.find("{", close)
        stops = [k for k in (line_end, brace) if k >= 0]
        tail = text[close + 1 : min(stops) if stops else len(text)]
        line_start = text.rfind("\n", 0, m.start()) + 1
        decls.append(Decl(labels, optional, defaults, tail, text[line_start : m.start()]))
    return decls


def kotlin_prefix(text: str, index: int) -> str:
    """The modifiers and annotations of the declaration at `index`: the start
    of its line, and the lines above it that are annotations (or blank, as doc
    comments are once blanked)."""
    line_start = text.rfind("\n", 0, index) + 1
    parts = [text[line_start:index]]
    end = line_start - 1
    while end > 0:
        start = text.rfind("\n", 0, end) + 1
        line = text[start:end].strip()
        if line and not line.startswith("@"):
            break
        parts.insert(0, line)
        end = start - 1
    return " ".join(parts)


def kotlin_decls(text: str, name: str) -> list[Decl]:
    decls = []
    pattern = re.compile(r"fun\s+`?" + re.escape(name) + r"`?\s*\(")
    for m in pattern.finditer(text):
        open_paren = m.end() - 1
        close = matching(text, open_paren)
        labels, optional = [], []
        for part in split_top_level(text[open_paren + 1 : close]):
            pm = re.match(r"`?(\w+)`?\s*:\s*(.+)", part, re.S)
            if pm:
                labels.append(pm.group(1))
                optional.append(pm.group(2).strip().endswith("?"))
        tail_end = text.find("\n", close)
        decls.append(Decl(labels, optional, [False] * len(labels), text[close + 1 : tail_end], kotlin_prefix(text, m.start())))
    return decls


# --------------------------------------------------------------------------
# The checks.


class Report:
    def __init__(self, verbose: bool):
        self.passed = 0
        self.failed: list[str] = []
        self.verbose = verbose

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            if self.verbose:
                print(f"ok   {what}")
        else:
            message = f"FAIL {what}" + (f": {detail}" if detail else "")
            self.failed.append(message)
            print(message)
        return ok


def describe(decl: Decl) -> str:
    return "(" + ", ".join(f"{label}:" for label in decl.labels) + ")" + decl.tail.strip()


def swift_shape_ok(decl: Decl, function: Function) -> tuple[bool, str]:
    expected = [lower_camel(p.name) for p in function.params]
    if decl.labels != expected:
        return False, f"labels {decl.labels}, expected {expected}"
    wanted_optional = [p.optional for p in function.params]
    if decl.optional != wanted_optional:
        return False, f"optional parameters {decl.optional}, expected {wanted_optional}"
    tail = decl.tail
    if bool(re.search(r"\basync\b", tail)) != function.is_async:
        return False, f"async is {not function.is_async}, expected {function.is_async}: {tail.strip()!r}"
    if bool(re.search(r"\bthrows\b", tail)) != function.throws:
        return False, f"throws is {not function.throws}, expected {function.throws}: {tail.strip()!r}"
    if not function.constructor and ("->" in tail) != function.returns:
        return False, f"returns a value is {not function.returns}, expected {function.returns}: {tail.strip()!r}"
    return True, ""


def kotlin_shape_ok(decl: Decl, function: Function, in_class: bool) -> tuple[bool, str]:
    expected = [lower_camel(p.name) for p in function.params]
    if decl.labels != expected:
        return False, f"labels {decl.labels}, expected {expected}"
    wanted_optional = [p.optional for p in function.params]
    if decl.optional != wanted_optional:
        return False, f"optional parameters {decl.optional}, expected {wanted_optional}"
    if bool(re.search(r"\bsuspend\b", decl.prefix)) != function.is_async:
        return False, f"suspend is {not function.is_async}, expected {function.is_async}"
    if in_class and ("@Throws(" in decl.prefix) != function.throws:
        return False, f"@Throws is {not function.throws}, expected {function.throws}"
    if (":" in decl.tail.split("{")[0].split("=")[0]) != function.returns:
        return False, f"returns a value is {not function.returns}, expected {function.returns}"
    return True, ""


def check_swift(api: RustApi, swift: str, report: Report) -> dict[str, dict[str, Decl]]:
    """Checks the generated Swift; returns each object's methods as declared
    there (name -> declaration), for the wrapper checks."""
    methods_by_object: dict[str, dict[str, Decl]] = {}

    for name, fields in api.records.items():
        body = block_of(swift, re.compile(r"public\s+struct\s+" + name + r"\b[^{]*\{"))
        if not report.check(body is not None, f"swift: public struct {name}"):
            continue
        for f in fields:
            m = re.search(r"public\s+var\s+" + lower_camel(f.name) + r"\s*:\s*([^\n=]+)", body)
            report.check(m is not None, f"swift: {name}.{lower_camel(f.name)}")
            if m:
                report.check(
                    m.group(1).strip().endswith("?") == f.optional,
                    f"swift: {name}.{lower_camel(f.name)} optionality",
                    f"declared {m.group(1).strip()!r}, Rust type {f.type!r}",
                )
        inits = swift_decls(body, r"public\s+init")
        expected = [lower_camel(f.name) for f in fields]
        report.check(
            any(d.labels == expected for d in inits),
            f"swift: {name}.init({', '.join(l + ':' for l in expected)})",
            f"found {[describe(d) for d in inits]}",
        )

    for name, variants in api.enums.items():
        body = block_of(swift, re.compile(r"public\s+enum\s+" + name + r"\b[^{]*\{"))
        if not report.check(body is not None, f"swift: public enum {name}"):
            continue
        for v in variants:
            case = lower_camel(v.name)
            m = re.search(r"\bcase\s+" + case + r"\b\s*(\()?", body)
            if not report.check(m is not None, f"swift: {name}.{case}"):
                continue
            # A variant with fields is a case with associated values, labelled
            # like the fields (UniFFI keeps the names of named fields).
            labels: list[str] = []
            if m.group(1):
                labels, _, _ = swift_params(body[m.end() : matching(body, m.end() - 1)])
            expected = [lower_camel(f.name) for f in v.fields]
            if v.fields and v.fields[0].name.startswith("v") and v.fields[0].name[1:].isdigit():
                expected = ["_"] * len(v.fields)
            report.check(labels == expected, f"swift: {name}.{case} fields", f"{labels} != {expected}")

    for name, variants in api.errors.items():
        body = block_of(swift, re.compile(r"public\s+enum\s+" + name + r"\s*:[^{]*\bError\b[^{]*\{"))
        if not report.check(body is not None, f"swift: public enum {name}: Error"):
            continue
        for v in variants:
            case = upper_camel(v.name)
            m = re.search(r"\bcase\s+" + case + r"\b\s*(\()?", body)
            if not report.check(m is not None, f"swift: {name}.{case}"):
                continue
            labels: list[str] = []
            if m.group(1):
                labels, _, _ = swift_params(body[m.end() : matching(body, m.end() - 1)])
            expected = [lower_camel(f.name) for f in v.fields]
            report.check(labels == expected, f"swift: {name}.{case} fields", f"{labels} != {expected}")

    for name, methods in api.objects.items():
        protocol = block_of(swift, re.compile(r"public\s+protocol\s+" + name + r"Protocol\b[^{]*\{"))
        klass = block_of(swift, re.compile(r"open\s+class\s+" + name + r"\s*:[^{]*\{"))
        report.check(protocol is not None, f"swift: public protocol {name}Protocol")
        if not report.check(klass is not None, f"swift: open class {name}"):
            continue
        declared: dict[str, Decl] = {}
        for function in methods:
            if function.constructor:
                if function.name == "new":
                    decls = swift_decls(klass, r"public\s+convenience\s+init")
                    what = f"swift: {name} public convenience init(…)"
                else:
                    decls = swift_decls(klass, r"public\s+static\s+func\s+" + lower_camel(function.name))
                    what = f"swift: {name}.{lower_camel(function.name)} (static constructor)"
                results = [swift_shape_ok(d, function) for d in decls]
                report.check(
                    any(ok for ok, _ in results), what, "; ".join(r for _, r in results) or "not declared"
                )
                continue
            swift_name = lower_camel(function.name)
            for scope, text, keyword in (
                ("protocol", protocol or "", r"(?<![\w.])func\s+" + swift_name),
                ("class", klass, r"open\s+func\s+" + swift_name),
            ):
                decls = swift_decls(text, keyword)
                results = [swift_shape_ok(d, function) for d in decls]
                ok = report.check(
                    any(ok for ok, _ in results),
                    f"swift: {name} {scope} func {swift_name}",
                    "; ".join(r for _, r in results) or "not declared",
                )
                if ok and scope == "class":
                    declared[swift_name] = decls[0]
        # Nothing in the protocol that the Rust side does not export.
        expected_names = {lower_camel(f.name) for f in methods if not f.constructor}
        found = set(re.findall(r"(?<![\w.])func\s+(\w+)\s*\(", protocol or ""))
        report.check(
            found <= expected_names,
            f"swift: {name}Protocol declares only exported methods",
            f"not in the Rust API (or missed by this checker): {sorted(found - expected_names)}",
        )
        methods_by_object[name] = declared

    for name, methods in api.traits.items():
        body = block_of(swift, re.compile(r"public\s+protocol\s+" + name + r"\s*:[^{]*\{"))
        if not report.check(body is not None, f"swift: public protocol {name}"):
            continue
        declared = {}
        for function in methods:
            swift_name = lower_camel(function.name)
            decls = swift_decls(body, r"(?<![\w.])func\s+" + swift_name)
            results = [swift_shape_ok(d, function) for d in decls]
            ok = report.check(
                any(ok for ok, _ in results),
                f"swift: {name} func {swift_name}",
                "; ".join(r for _, r in results) or "not declared",
            )
            if ok:
                declared[swift_name] = decls[0]
        methods_by_object[name] = declared

    for function in api.functions:
        swift_name = lower_camel(function.name)
        decls = swift_decls(swift, r"^public\s+func\s+" + swift_name)
        results = [swift_shape_ok(d, function) for d in decls]
        report.check(
            any(ok for ok, _ in results),
            f"swift: public func {swift_name}",
            "; ".join(r for _, r in results) or "not declared",
        )
    return methods_by_object


def check_kotlin(api: RustApi, kotlin: str, report: Report) -> None:
    for name, fields in api.records.items():
        m = re.search(r"\bdata\s+class\s+" + name + r"\s*\(", kotlin)
        if not report.check(m is not None, f"kotlin: data class {name}"):
            continue
        params = kotlin[m.end() : matching(kotlin, m.end() - 1)]
        for f in fields:
            fm = re.search(r"\bvar\s+`?" + lower_camel(f.name) + r"`?\s*:\s*([^,\n=]+)", params)
            report.check(fm is not None, f"kotlin: {name}.{lower_camel(f.name)}")
            if fm:
                report.check(
                    fm.group(1).strip().endswith("?") == f.optional,
                    f"kotlin: {name}.{lower_camel(f.name)} optionality",
                    f"declared {fm.group(1).strip()!r}, Rust type {f.type!r}",
                )

    for name, variants in api.enums.items():
        if any(v.fields for v in variants):
            # An enum with data is a sealed class: `object` for a variant
            # without fields, `data class` with `val`s for one with fields.
            body = block_of(kotlin, re.compile(r"\bsealed\s+class\s+" + name + r"\b[^{]*\{"))
            if not report.check(body is not None, f"kotlin: sealed class {name}"):
                continue
            for v in variants:
                variant = upper_camel(v.name)
                if not v.fields:
                    report.check(
                        re.search(r"\bobject\s+" + variant + r"\s*:\s*" + name + r"\s*\(", body) is not None,
                        f"kotlin: {name}.{variant} (object)",
                    )
                    continue
                m = re.search(r"\bdata\s+class\s+" + variant + r"\s*\(", body)
                if not report.check(m is not None, f"kotlin: {name}.{variant} (data class)"):
                    continue
                params = body[m.end() : matching(body, m.end() - 1)]
                labels = re.findall(r"\bval\s+`?(\w+)`?\s*:", params)
                expected = [lower_camel(f.name) for f in v.fields]
                report.check(labels == expected, f"kotlin: {name}.{variant} fields", f"{labels} != {expected}")
            continue
        body = block_of(kotlin, re.compile(r"\benum\s+class\s+" + name + r"\b[^{]*\{"))
        if not report.check(body is not None, f"kotlin: enum class {name}"):
            continue
        for v in variants:
            report.check(
                re.search(r"(?<![\w.])" + shouty_snake(v.name) + r"\s*[,;(]", body) is not None,
                f"kotlin: {name}.{shouty_snake(v.name)}",
            )

    for name, variants in api.errors.items():
        exception = kotlin_error_name(name)
        body = block_of(kotlin, re.compile(r"\bsealed\s+class\s+" + exception + r"\b[^{]*\{"))
        if not report.check(body is not None, f"kotlin: sealed class {exception}"):
            continue
        for v in variants:
            m = re.search(r"\bclass\s+" + upper_camel(v.name) + r"\s*\(", body)
            if not report.check(m is not None, f"kotlin: {exception}.{upper_camel(v.name)}"):
                continue
            params = body[m.end() : matching(body, m.end() - 1)]
            labels = re.findall(r"\bval\s+`?(\w+)`?\s*:", params)
            expected = [lower_camel(f.name) for f in v.fields]
            report.check(
                labels == expected, f"kotlin: {exception}.{upper_camel(v.name)} fields", f"{labels} != {expected}"
            )

    for name, methods in api.objects.items():
        interface = block_of(kotlin, re.compile(r"\binterface\s+" + name + r"Interface\b[^{]*\{"))
        klass = block_of(kotlin, re.compile(r"\bopen\s+class\s+" + name + r"\s*:[^{]*\{"))
        report.check(interface is not None, f"kotlin: interface {name}Interface")
        if not report.check(klass is not None, f"kotlin: open class {name}"):
            continue
        for function in methods:
            if function.constructor:
                if function.name == "new":
                    found = []
                    for m in re.finditer(r"\bconstructor\s*\(", klass):
                        params = klass[m.end() : matching(klass, m.end() - 1)]
                        found.append(re.findall(r"`?(\w+)`?\s*:", params))
                    expected = [lower_camel(p.name) for p in function.params]
                    report.check(expected in found, f"kotlin: {name} constructor({', '.join(expected)})", f"found {found}")
                else:
                    report.check(
                        bool(kotlin_decls(klass, lower_camel(function.name))),
                        f"kotlin: {name}.{lower_camel(function.name)} (companion constructor)",
                    )
                continue
            kotlin_name = lower_camel(function.name)
            for scope, text, in_class in (("interface", interface or "", False), ("class", klass, True)):
                decls = kotlin_decls(text, kotlin_name)
                results = [kotlin_shape_ok(d, function, in_class) for d in decls]
                report.check(
                    any(ok for ok, _ in results),
                    f"kotlin: {name} {scope} fun {kotlin_name}",
                    "; ".join(r for _, r in results) or "not declared",
                )
        expected_names = {lower_camel(f.name) for f in methods if not f.constructor}
        found_names = set(re.findall(r"\bfun\s+`?(\w+)`?\s*\(", interface or ""))
        report.check(
            found_names <= expected_names,
            f"kotlin: {name}Interface declares only exported methods",
            f"not in the Rust API (or missed by this checker): {sorted(found_names - expected_names)}",
        )

    for name, methods in api.traits.items():
        body = block_of(kotlin, re.compile(r"\binterface\s+" + name + r"\s*\{"))
        if not report.check(body is not None, f"kotlin: interface {name}"):
            continue
        for function in methods:
            decls = kotlin_decls(body, lower_camel(function.name))
            results = [kotlin_shape_ok(d, function, False) for d in decls]
            report.check(
                any(ok for ok, _ in results),
                f"kotlin: {name} fun {lower_camel(function.name)}",
                "; ".join(r for _, r in results) or "not declared",
            )

    for function in api.functions:
        report.check(bool(kotlin_decls(kotlin, lower_camel(function.name))), f"kotlin: fun {lower_camel(function.name)}")


# --------------------------------------------------------------------------
# The hand-written Swift.


@dataclass
class Call:
    name: str
    labels: list[str]
    line: int


def call_args(text: str, open_paren: int) -> list[str]:
    close = matching(text, open_paren)
    labels = []
    for part in split_top_level(text[open_paren + 1 : close].replace("->", "→")):
        if not part:
            continue
        m = re.match(r"(\w+)\s*:(?!:)", part)
        labels.append(m.group(1) if m else "_")
    return labels


def calls_on(text: str, receivers: set[str]) -> list[Call]:
    calls = []
    if not receivers:
        return calls
    pattern = re.compile(r"(?<![\w.])(" + "|".join(sorted(receivers)) + r")\s*\.\s*(\w+)\s*\(")
    for m in pattern.finditer(text):
        calls.append(Call(m.group(2), call_args(text, m.end() - 1), text.count("\n", 0, m.start()) + 1))
    return calls


def labels_fit(call: list[str], decl: Decl) -> bool:
    """True when a call's labels fit a declaration: in order, with only
    parameters that have defaults left out."""
    k = 0
    for label, has_default in zip(decl.labels, decl.defaults):
        if k < len(call) and call[k] == label:
            k += 1
        elif not has_default:
            return False
    return k == len(call)


def swift_files(root: Path) -> dict[Path, str]:
    files = {}
    for sub in ("Sources/Tessera", "Tests", "App"):
        for path in sorted((root / "ios" / sub).rglob("*.swift")):
            files[path] = blank(path.read_text(encoding="utf-8"), "swift")
    return files


def receivers_of(text: str, type_name: str, factories: tuple[str, ...] = ()) -> set[str]:
    """Names that hold a `type_name` in this file: declared with that type,
    or bound from an expression that makes or fetches one."""
    names = set(re.findall(r"\b(\w+)\s*:\s*(?:any\s+)?" + type_name + r"\b(?!\.)", text))
    makers = [re.escape(type_name) + r"\s*[.(]"] + [re.escape(f) for f in factories]
    for m in re.finditer(r"\b(?:let|var)\s+(\(?[\w\s,]+\)?)\s*(?::[^=]+)?=\s*([^\n]+)", text):
        bound, expression = m.group(1), m.group(2)
        if any(re.search(maker, expression) for maker in makers):
            first = bound.strip("() ").split(",")[0].strip()
            if re.fullmatch(r"\w+", first) and first != "_":
                names.add(first)
    for m in re.finditer(r"\bguard\s+let\s+(\w+)\s*=\s*([^\s,]+)", text):
        if any(re.search(maker, m.group(2)) for maker in makers):
            names.add(m.group(1))
    names.discard(type_name)
    return names


def returned_type(decl: Decl) -> str:
    """The return type of a Swift declaration ("" for none), with `any`
    dropped: `-> any P` and `-> P` return the same existential."""
    parts = decl.tail.split("->")
    if len(parts) < 2:
        return ""
    return re.sub(r"\bany\s+", "", parts[-1]).strip()


def implementation_fits(implemented: Decl, declared: Decl) -> bool:
    """True when a hand-written method implements a generated foreign-trait
    method: the same labels and optionality, async and throws alike, and the
    same return type."""
    return (
        implemented.labels == declared.labels
        and implemented.optional == declared.optional
        and bool(re.search(r"\basync\b", implemented.tail)) == bool(re.search(r"\basync\b", declared.tail))
        and bool(re.search(r"\bthrows\b", implemented.tail)) == bool(re.search(r"\bthrows\b", declared.tail))
        and returned_type(implemented) == returned_type(declared)
    )


def check_wrapper(
    root: Path,
    swift: str,
    api: RustApi,
    methods_by_object: dict[str, dict[str, Decl]],
    report: Report,
) -> None:
    files = swift_files(root)
    if not report.check(bool(files), "wrapper: Swift sources found under ios/"):
        return
    relative = {path: path.relative_to(root) for path in files}

    # 1. Calls on the generated objects.
    for object_name, declared in methods_by_object.items():
        if object_name in api.traits:
            continue
        constructors = swift_decls(
            block_of(swift, re.compile(r"open\s+class\s+" + object_name + r"\s*:[^{]*\{")) or "",
            r"public\s+convenience\s+init",
        )
        for path, text in files.items():
            for call in calls_on(text, receivers_of(text, object_name)):
                decl = declared.get(call.name)
                report.check(
                    decl is not None and labels_fit(call.labels, decl),
                    f"wrapper: {relative[path]}:{call.line} calls {object_name}.{call.name}"
                    f"({', '.join(l + ':' for l in call.labels)})",
                    "no such method" if decl is None else f"declared as {call.name}{describe(decl)}",
                )
            for m in re.finditer(r"(?<![\w.])" + object_name + r"\s*\(", text):
                labels = call_args(text, m.end() - 1)
                line = text.count("\n", 0, m.start()) + 1
                report.check(
                    any(labels_fit(labels, d) for d in constructors),
                    f"wrapper: {relative[path]}:{line} calls {object_name}({', '.join(l + ':' for l in labels)})",
                    f"declared {[describe(d) for d in constructors]}",
                )

    # 2. Record initialisers, with their labels in order.
    for name in api.records:
        body = block_of(swift, re.compile(r"public\s+struct\s+" + name + r"\b[^{]*\{")) or ""
        inits = swift_decls(body, r"public\s+init")
        for path, text in files.items():
            for m in re.finditer(r"(?<![\w.])" + name + r"\s*\(", text):
                labels = call_args(text, m.end() - 1)
                line = text.count("\n", 0, m.start()) + 1
                report.check(
                    any(labels_fit(labels, d) for d in inits),
                    f"wrapper: {relative[path]}:{line} makes {name}({', '.join(l + ':' for l in labels)})",
                    f"declared {[describe(d) for d in inits]}",
                )

    # 3. Error cases named in the hand-written code exist, with their labels.
    for name, variants in api.errors.items():
        cases = {upper_camel(v.name): [lower_camel(f.name) for f in v.fields] for v in variants}
        for path, text in files.items():
            uses = re.finditer(r"(?<![\w])" + name + r"\.(\w+)(\s*\()?", text)
            for m in uses:
                line = text.count("\n", 0, m.start()) + 1
                case = m.group(1)
                ok = case in cases
                detail = "no such case"
                if ok and m.group(2):
                    labels = call_args(text, m.end() - 1)
                    ok = labels == cases[case]
                    detail = f"labels {labels}, expected {cases[case]}"
                report.check(ok, f"wrapper: {relative[path]}:{line} uses {name}.{case}", detail)

        # The mapping in ios/Sources/Tessera handles every case.
        mapping = [
            (path, text)
            for path, text in files.items()
            if "Sources/Tessera" in str(relative[path]) and re.search(r"as\?\s*" + name + r"\b", text)
        ]
        if report.check(bool(mapping), f"wrapper: a mapping of {name} in ios/Sources/Tessera"):
            for case in cases:
                report.check(
                    any(re.search(r"case\s+(?:let\s+)?\." + case + r"\b", text) for _, text in mapping),
                    f"wrapper: the {name} mapping handles .{case}",
                )
            for path, text in mapping:
                for m in re.finditer(r"case\s+(?:let\s+)?\.([A-Z]\w*)", text):
                    report.check(
                        m.group(1) in cases,
                        f"wrapper: {relative[path]} maps {name}.{m.group(1)}",
                        "no such case",
                    )

    # 4. Every implementation of a foreign trait implements every method.
    for trait, declared in methods_by_object.items():
        if trait not in api.traits:
            continue
        for path, text in files.items():
            for m in re.finditer(r"\bclass\s+(\w+)\s*:\s*([^{]+)\{", text):
                conformances = [c.strip() for c in m.group(2).split(",")]
                if trait not in conformances:
                    continue
                class_body = text[m.end() : matching(text, m.end() - 1)]
                for method, decl in declared.items():
                    implemented = swift_decls(class_body, r"func\s+" + method)
                    ok = any(implementation_fits(d, decl) for d in implemented)
                    report.check(
                        ok,
                        f"wrapper: {relative[path]} {m.group(1)} implements {trait}.{method}"
                        f"({', '.join(l + ':' for l in decl.labels)})",
                        f"the protocol declares {method}{describe(decl)}",
                    )

    # 5. Calls on the wrapper's own types (TesseraClient, PushHandoff, …) from
    #    the other files match their public declarations.
    wrapper_types: dict[str, tuple[Path, dict[str, list[Decl]], list[Decl]]] = {}
    for path, text in files.items():
        if "Sources/Tessera" not in str(relative[path]):
            continue
        for m in re.finditer(r"public\s+(?:final\s+)?(?:class|actor|struct|enum)\s+(\w+)[^{]*\{", text):
            body = text[m.end() : matching(text, m.end() - 1)]
            public: dict[str, list[Decl]] = {}
            for fm in re.finditer(
                r"public\s+(?:(?:static|nonisolated|mutating)\s+)*func\s+(\w+)\s*(?:<[^>]*>)?\(", body
            ):
                decl = swift_decls(body[fm.start() :], r"func\s+" + fm.group(1))[0]
                public.setdefault(fm.group(1), []).append(decl)
            for cm in re.finditer(r"\bcase\s+(\w+)\s*\(", body):
                if depth_at(body, cm.start()) == 0:
                    public.setdefault(cm.group(1), []).extend(swift_decls(body[cm.start() :], r"case\s+" + cm.group(1))[:1])
            inits = swift_decls(body, r"public\s+(?:convenience\s+)?init")
            wrapper_types[m.group(1)] = (path, public, inits)
    report.check("TesseraClient" in wrapper_types, "wrapper: public TesseraClient in ios/Sources/Tessera")
    factories = {"TesseraClient": ("makeUnlockedClient(", "model.client")}
    for type_name, (declaring, public, inits) in sorted(wrapper_types.items()):
        for path, text in files.items():
            if path == declaring:
                continue
            receivers = receivers_of(text, type_name, factories.get(type_name, ()))
            receivers.add(type_name)
            for call in calls_on(text, receivers):
                decls = public.get(call.name, [])
                report.check(
                    any(labels_fit(call.labels, d) for d in decls),
                    f"wrapper: {relative[path]}:{call.line} calls {type_name}.{call.name}"
                    f"({', '.join(l + ':' for l in call.labels)})",
                    "no such public method"
                    if not decls
                    else f"declared {[call.name + describe(d) for d in decls]}",
                )
            for m in re.finditer(r"(?<![\w.])" + type_name + r"\s*\(", text):
                labels = call_args(text, m.end() - 1)
                line = text.count("\n", 0, m.start()) + 1
                report.check(
                    any(labels_fit(labels, d) for d in inits),
                    f"wrapper: {relative[path]}:{line} calls {type_name}({', '.join(l + ':' for l in labels)})",
                    f"declared {[describe(d) for d in inits]}",
                )


# --------------------------------------------------------------------------
# The exported API, listed. The checks below work from what parse_rust reads
# in bindings/src; this list guards the reader itself: an item listed here
# that it does not find, or an item it finds that is not listed, fails. So a
# new export must be added here, and is then looked for in the generated
# Swift and Kotlin like every other one.

EXPECTED_API: dict[str, object] = {
    "objects": {
        "Authenticator": [
            # the vault, accounts and codes
            "new", "vault_exists", "is_unlocked", "create_vault", "unlock_with_keystore",
            "unlock_with_password", "unlock_with_recovery_key", "lock", "add_uri", "add_uris",
            "add_from_qr_pixels", "accounts", "rename_account", "remove_account", "move_account",
            "set_tags", "codes", "next_hotp_code", "trusted_now_ms", "clock_status",
            "set_password", "new_recovery_key", "vault_info", "sync_clock",
            # push approval
            "push_accounts", "handle_push_payload", "subscribe_push", "pair_push",
            "pending_prompts", "fetch_prompt", "answer_prompt", "unpair_push",
            "update_push_delivery",
            # import, export, backups and device-to-device transfer
            "preview_import", "apply_import", "export_accounts", "backup", "verify_export",
            "start_receive", "send_transfer",
        ],
        "PushSubscription": ["next", "cancel", "account_id"],
        "ImportSession": ["preview", "discard"],
        "TransferReceiver": ["invite", "wait", "open_envelope", "apply", "cancel"],
    },
    "records": [
        "AuthenticatorConfig", "AccountRecord", "AddedAccount", "CodeRecord", "ClockInfo",
        "SlotRecord", "VaultInfo", "PushAccount", "PushPrompt",
        "PreviewAccount", "RejectedEntry", "ImportPreview", "ExportWarning", "ExportedFile",
        "TransferInvite", "HandoffPreview", "ReceivedTransfer", "HandoffFailure",
        "TransferApplied", "SentTransfer",
        # the app's HTTP transport
        "HttpHeader", "HttpRequest", "HttpResponse",
    ],
    "enums": [
        "OtpKind", "Algorithm", "ClockState", "PromptMode", "PushDelivery", "PushDecision",
        "AnswerOutcome", "PushEvent", "TransferFormat",
    ],
    "errors": {
        "TesseraError": [
            "InvalidUri", "InvalidImage", "InvalidInput", "AccountNotFound", "DuplicateAccount",
            "NoVault", "VaultExists", "Locked", "WrongPassword", "WrongRecoveryKey",
            "KeystoreUnavailable", "Storage", "VaultDamaged", "Time", "PairingRefused",
            "DeviceRevoked", "PromptUnavailable", "UntrustedPrompt", "InvalidPushPayload",
            "PushNetwork", "PushRefused", "PasswordRequired", "InvalidFile",
            "WouldLoseInformation", "Transfer", "ConfirmationMismatch", "Network", "Internal",
        ],
    },
    "traits": {
        "SecureStorage": ["get", "set", "delete"],
        "HttpTransport": ["send"],
        "HttpBody": ["read", "cancel"],
    },
    "functions": [],
}


def check_expected(api: RustApi, report: Report, expected: dict[str, object] = EXPECTED_API) -> None:
    """The API read from bindings/src is exactly the listed one."""

    def same(what: str, found: set[str], listed: set[str]) -> None:
        report.check(
            found == listed,
            f"rust: {what} as listed in EXPECTED_API",
            f"read but not listed: {sorted(found - listed)}; listed but not read: {sorted(listed - found)}",
        )

    objects = expected["objects"]
    same("objects", set(api.objects), set(objects))
    for name, methods in objects.items():
        same(f"{name} methods", {f.name for f in api.objects.get(name, [])}, set(methods))
    same("records", set(api.records), set(expected["records"]))
    same("enums", set(api.enums), set(expected["enums"]))
    errors = expected["errors"]
    same("errors", set(api.errors), set(errors))
    for name, variants in errors.items():
        same(f"{name} variants", {v.name for v in api.errors.get(name, [])}, set(variants))
    traits = expected["traits"]
    same("foreign traits", set(api.traits), set(traits))
    for name, methods in traits.items():
        same(f"{name} methods", {f.name for f in api.traits.get(name, [])}, set(methods))
    same("functions", {f.name for f in api.functions}, set(expected["functions"]))


# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--swift", type=Path, help="generated TesseraFFI.swift")
    parser.add_argument("--kotlin", type=Path, help="generated tessera_ffi.kt")
    parser.add_argument("--verbose", "-v", action="store_true", help="print every check")
    args = parser.parse_args(argv)

    root = args.root.resolve()
    swift_path = args.swift or root / "build/generated/swift/TesseraFFI.swift"
    kotlin_path = args.kotlin or root / "build/generated/kotlin/org/tessera/ffi/tessera_ffi.kt"
    for path in (swift_path, kotlin_path):
        if not path.exists():
            print(f"swift-bindings: {path} is missing; run scripts/bindings.sh first", file=sys.stderr)
            return 2

    sources = {str(p): p.read_text(encoding="utf-8") for p in sorted((root / "bindings/src").glob("*.rs"))}
    api = parse_rust(sources)
    report = Report(args.verbose)
    report.check(
        bool(api.objects or api.functions),
        "rust: the API exports at least one object or function",
        "no #[uniffi::export] found in bindings/src",
    )

    check_expected(api, report)

    swift = blank(swift_path.read_text(encoding="utf-8"), "swift")
    kotlin = blank(kotlin_path.read_text(encoding="utf-8"), "kotlin")
    methods_by_object = check_swift(api, swift, report)
    check_kotlin(api, kotlin, report)
    check_wrapper(root, swift, api, methods_by_object, report)

    counts = (
        f"{len(api.objects)} objects ({sum(len(m) for m in api.objects.values())} methods), "
        f"{len(api.records)} records, {len(api.enums)} enums, {len(api.errors)} errors, "
        f"{len(api.traits)} foreign traits, {len(api.functions)} functions"
    )
    print(f"rust API: {counts}")
    print(f"swift-bindings: {report.passed} passed, {len(report.failed)} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
