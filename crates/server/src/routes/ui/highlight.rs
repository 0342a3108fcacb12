//! Syntax highlighting of fenced code blocks (issue #13), on the server: a small,
//! embedded, class-based highlighter.
//!
//! Why not syntect: with its bundled grammars (`default-syntaxes`, `regex-fancy`) it adds
//! about 0.85 MiB to a stripped release binary (measured: 2,533,272 → 3,423,312 bytes for
//! a minimal program with pulldown-cmark and regex; 368 KB of it is the grammar dump),
//! which would take `agentpipe-web` over its 25 MiB budget; its grammars cannot be cut
//! down to a few languages without their sources. Agent messages need the common cases:
//! comments, strings, numbers, keywords, function and type names, attributes.
//!
//! What it does: one pass over the text with a per-language table ([`Lang`]) for the
//! C family (Rust, C, C++, C#, Java, Kotlin, Swift, Go, JavaScript, TypeScript, PHP,
//! Scala, Dart, CSS), the `#`-comment family (Python, Ruby, shell, YAML, TOML, INI,
//! Dockerfile, Makefile, Perl, R, Elixir), SQL and Lua (`--` comments), JSON, markup
//! (HTML, XML, SVG) and diffs. Each token that matters gets one `<span class="hl-X">`
//! ([`CLASSES`]); everything else is escaped text. `static/highlight.css` colours the
//! classes for light and dark schemes (no inline style: the Content-Security-Policy
//! holds). The HTML still goes through the Markdown sanitizer, which keeps exactly these
//! classes and nothing else.

use std::fmt::Write as _;

use super::render::escape;

/// Every class [`code`] emits (all on `<span>`): `hl-c` comment, `hl-k` keyword (markup
/// tags and removed diff lines too), `hl-s` string (added diff lines too), `hl-n` number
/// or language constant (`true`, `None`, `NULL`), `hl-f` function name (an identifier
/// before `(`), `hl-t` type name (built-in or capitalised), `hl-a` attribute (markup
/// attributes, JSON/YAML keys, Rust attributes and macros, decorators, shell variables).
pub const CLASSES: &[&str] = &["hl-c", "hl-k", "hl-s", "hl-n", "hl-f", "hl-t", "hl-a"];

/// Blocks longer than this (bytes) are shown unhighlighted.
pub const MAX_BYTES: usize = 64 * 1024;

/// How one language family is read.
struct Lang {
    keywords: &'static [&'static str],
    types: &'static [&'static str],
    constants: &'static [&'static str],
    line_comments: &'static [&'static str],
    block_comment: Option<(&'static str, &'static str)>,
    quotes: &'static [char],
    /// `"""` and `'''` strings (Python).
    triple_quotes: bool,
    /// Keywords in any case (SQL).
    any_case: bool,
    /// Identifiers starting with a capital letter are types.
    capital_types: bool,
    /// `name!` is a macro (Rust), `#[...]` an attribute.
    rust: bool,
    /// `@name` is a decorator or annotation.
    at_names: bool,
    /// `$name` and `${...}` are variables (shell, PHP, Perl).
    dollar_vars: bool,
    /// `key:` / `key =` at the start of a line is a key (YAML, TOML, INI).
    line_keys: bool,
}

const BASE: Lang = Lang {
    keywords: &[],
    types: &[],
    constants: &[],
    line_comments: &[],
    block_comment: None,
    quotes: &['"', '\''],
    triple_quotes: false,
    any_case: false,
    capital_types: false,
    rust: false,
    at_names: false,
    dollar_vars: false,
    line_keys: false,
};

const C_COMMENTS: Lang = Lang {
    line_comments: &["//"],
    block_comment: Some(("/*", "*/")),
    capital_types: true,
    ..BASE
};

const RUST: Lang = Lang {
    keywords: &[
        "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
        "extern", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
        "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "type",
        "union", "unsafe", "use", "where", "while", "yield",
    ],
    types: &[
        "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32",
        "i64", "i128", "isize", "f32", "f64", "String", "Vec", "Option", "Result", "Box",
    ],
    constants: &["true", "false", "None", "Some", "Ok", "Err"],
    quotes: &['"'],
    rust: true,
    ..C_COMMENTS
};

const C_LIKE: Lang = Lang {
    keywords: &[
        "auto",
        "break",
        "case",
        "catch",
        "class",
        "const",
        "constexpr",
        "continue",
        "default",
        "delete",
        "do",
        "else",
        "enum",
        "explicit",
        "extern",
        "final",
        "finally",
        "for",
        "friend",
        "goto",
        "if",
        "import",
        "inline",
        "interface",
        "namespace",
        "new",
        "operator",
        "override",
        "package",
        "private",
        "protected",
        "public",
        "register",
        "return",
        "sizeof",
        "static",
        "struct",
        "switch",
        "template",
        "this",
        "throw",
        "throws",
        "try",
        "typedef",
        "typename",
        "union",
        "using",
        "virtual",
        "volatile",
        "while",
        "extends",
        "implements",
        "instanceof",
        "abstract",
        "synchronized",
        "transient",
        "native",
        "var",
        "val",
        "fun",
        "object",
        "when",
        "is",
        "in",
        "out",
        "internal",
        "open",
        "data",
        "sealed",
        "companion",
        "lateinit",
        "func",
        "let",
        "guard",
        "defer",
        "struct",
        "protocol",
        "extension",
        "init",
        "self",
        "super",
        "async",
        "await",
        "yield",
        "base",
        "readonly",
        "ref",
        "out",
        "params",
        "lock",
        "foreach",
        "def",
        "trait",
        "match",
        "case",
        "implicit",
        "lazy",
        "with",
        "mixin",
        "required",
        "late",
        "dynamic",
        "echo",
        "function",
        "fn",
        "use",
        "elseif",
    ],
    types: &[
        "void", "int", "long", "short", "char", "float", "double", "bool", "boolean", "byte",
        "unsigned", "signed", "string", "size_t", "uint8_t", "uint16_t", "uint32_t", "uint64_t",
        "int8_t", "int16_t", "int32_t", "int64_t", "decimal", "object",
    ],
    constants: &[
        "true",
        "false",
        "null",
        "nullptr",
        "NULL",
        "nil",
        "undefined",
        "YES",
        "NO",
    ],
    at_names: true,
    ..C_COMMENTS
};

const GO: Lang = Lang {
    keywords: &[
        "break",
        "case",
        "chan",
        "const",
        "continue",
        "default",
        "defer",
        "else",
        "fallthrough",
        "for",
        "func",
        "go",
        "goto",
        "if",
        "import",
        "interface",
        "map",
        "package",
        "range",
        "return",
        "select",
        "struct",
        "switch",
        "type",
        "var",
    ],
    types: &[
        "bool",
        "byte",
        "complex64",
        "complex128",
        "error",
        "float32",
        "float64",
        "int",
        "int8",
        "int16",
        "int32",
        "int64",
        "rune",
        "string",
        "uint",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "uintptr",
        "any",
    ],
    constants: &["true", "false", "nil", "iota"],
    quotes: &['"', '\'', '`'],
    capital_types: false,
    ..C_COMMENTS
};

const JS: Lang = Lang {
    keywords: &[
        "async",
        "await",
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "debugger",
        "default",
        "delete",
        "do",
        "else",
        "export",
        "extends",
        "finally",
        "for",
        "from",
        "function",
        "if",
        "import",
        "in",
        "instanceof",
        "let",
        "new",
        "of",
        "return",
        "static",
        "super",
        "switch",
        "this",
        "throw",
        "try",
        "typeof",
        "var",
        "void",
        "while",
        "with",
        "yield",
        "as",
        "interface",
        "type",
        "enum",
        "implements",
        "private",
        "protected",
        "public",
        "readonly",
        "declare",
        "namespace",
        "abstract",
        "keyof",
        "satisfies",
    ],
    types: &[
        "string", "number", "boolean", "any", "unknown", "never", "object", "bigint", "symbol",
    ],
    constants: &["true", "false", "null", "undefined", "NaN", "Infinity"],
    quotes: &['"', '\'', '`'],
    at_names: true,
    dollar_vars: false,
    ..C_COMMENTS
};

const CSS: Lang = Lang {
    keywords: &[
        "important",
        "media",
        "import",
        "supports",
        "keyframes",
        "font-face",
    ],
    capital_types: false,
    at_names: true,
    ..C_COMMENTS
};

const HASH_COMMENTS: Lang = Lang {
    line_comments: &["#"],
    ..BASE
};

const PYTHON: Lang = Lang {
    keywords: &[
        "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
        "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is",
        "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with",
        "yield", "match", "case", "self",
    ],
    types: &[
        "int", "float", "str", "bool", "bytes", "list", "dict", "set", "tuple", "object", "type",
    ],
    constants: &["True", "False", "None"],
    triple_quotes: true,
    capital_types: true,
    at_names: true,
    ..HASH_COMMENTS
};

const RUBY: Lang = Lang {
    keywords: &[
        "alias",
        "and",
        "begin",
        "break",
        "case",
        "class",
        "def",
        "defined?",
        "do",
        "else",
        "elsif",
        "end",
        "ensure",
        "for",
        "if",
        "in",
        "module",
        "next",
        "not",
        "or",
        "redo",
        "rescue",
        "retry",
        "return",
        "self",
        "super",
        "then",
        "undef",
        "unless",
        "until",
        "when",
        "while",
        "yield",
        "require",
        "attr_accessor",
        "attr_reader",
        "puts",
    ],
    constants: &["true", "false", "nil"],
    capital_types: true,
    ..HASH_COMMENTS
};

const SHELL: Lang = Lang {
    keywords: &[
        "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
        "in", "function", "return", "export", "local", "readonly", "set", "unset", "source",
        "echo", "exit", "cd", "sudo", "trap", "shift", "eval", "exec",
    ],
    constants: &["true", "false"],
    dollar_vars: true,
    ..HASH_COMMENTS
};

const CONFIG: Lang = Lang {
    keywords: &[
        "FROM",
        "RUN",
        "CMD",
        "COPY",
        "ADD",
        "ENV",
        "ARG",
        "WORKDIR",
        "EXPOSE",
        "ENTRYPOINT",
        "USER",
        "VOLUME",
        "LABEL",
        "HEALTHCHECK",
    ],
    constants: &["true", "false", "null", "yes", "no", "on", "off", "~"],
    dollar_vars: true,
    line_keys: true,
    ..HASH_COMMENTS
};

const SQL: Lang = Lang {
    keywords: &[
        "select",
        "from",
        "where",
        "and",
        "or",
        "not",
        "insert",
        "into",
        "values",
        "update",
        "set",
        "delete",
        "create",
        "table",
        "index",
        "view",
        "drop",
        "alter",
        "add",
        "column",
        "primary",
        "key",
        "foreign",
        "references",
        "join",
        "left",
        "right",
        "inner",
        "outer",
        "full",
        "cross",
        "on",
        "as",
        "group",
        "by",
        "order",
        "having",
        "limit",
        "offset",
        "union",
        "all",
        "distinct",
        "case",
        "when",
        "then",
        "else",
        "end",
        "is",
        "in",
        "between",
        "like",
        "exists",
        "begin",
        "commit",
        "rollback",
        "transaction",
        "with",
        "returning",
        "default",
        "unique",
        "constraint",
        "check",
        "if",
        "asc",
        "desc",
        "conflict",
        "do",
        "nothing",
        "trigger",
        "function",
        "returns",
        "language",
        "using",
        "explain",
        "analyze",
        "vacuum",
        "grant",
        "revoke",
        "cascade",
        "over",
        "partition",
    ],
    types: &[
        "int",
        "integer",
        "bigint",
        "smallint",
        "serial",
        "bigserial",
        "text",
        "varchar",
        "char",
        "boolean",
        "bool",
        "real",
        "double",
        "precision",
        "numeric",
        "decimal",
        "date",
        "time",
        "timestamp",
        "timestamptz",
        "interval",
        "json",
        "jsonb",
        "uuid",
        "bytea",
        "blob",
    ],
    constants: &["null", "true", "false"],
    line_comments: &["--"],
    block_comment: Some(("/*", "*/")),
    any_case: true,
    ..BASE
};

const LUA: Lang = Lang {
    keywords: &[
        "and", "break", "do", "else", "elseif", "end", "for", "function", "goto", "if", "in",
        "local", "not", "or", "repeat", "return", "then", "until", "while",
    ],
    constants: &["true", "false", "nil"],
    line_comments: &["--"],
    ..BASE
};

/// How a block is read: a token table, markup, or a diff.
enum Mode {
    Code(&'static Lang),
    Json,
    Markup,
    Diff,
}

/// The mode for a fence's info word (`rust`, `rs`, `py`, `bash`…, any case).
fn mode_for(lang: &str) -> Option<Mode> {
    let lang = lang.trim().to_ascii_lowercase();
    Some(match lang.as_str() {
        "rust" | "rs" => Mode::Code(&RUST),
        "c" | "h" | "cpp" | "c++" | "cc" | "cxx" | "hpp" | "cs" | "c#" | "csharp" | "java"
        | "kotlin" | "kt" | "kts" | "swift" | "php" | "scala" | "dart" | "groovy" | "objc"
        | "objective-c" => Mode::Code(&C_LIKE),
        "go" | "golang" => Mode::Code(&GO),
        "js" | "javascript" | "jsx" | "mjs" | "cjs" | "ts" | "typescript" | "tsx" => {
            Mode::Code(&JS)
        }
        "css" | "scss" | "less" => Mode::Code(&CSS),
        "python" | "py" | "python3" | "pyi" => Mode::Code(&PYTHON),
        "ruby" | "rb" => Mode::Code(&RUBY),
        "bash" | "sh" | "shell" | "zsh" | "console" | "shellsession" | "fish" | "ps1"
        | "powershell" => Mode::Code(&SHELL),
        "yaml" | "yml" | "toml" | "ini" | "cfg" | "conf" | "env" | "dotenv" | "dockerfile"
        | "docker" | "makefile" | "make" | "properties" => Mode::Code(&CONFIG),
        "perl" | "pl" | "r" | "elixir" | "ex" | "exs" | "nix" => Mode::Code(&HASH_COMMENTS),
        "sql" | "postgres" | "postgresql" | "sqlite" | "mysql" | "plpgsql" => Mode::Code(&SQL),
        "lua" | "haskell" | "hs" => Mode::Code(&LUA),
        "json" | "jsonc" | "json5" | "jsonl" | "ndjson" | "geojson" => Mode::Json,
        "html" | "htm" | "xml" | "svg" | "xhtml" | "vue" | "svelte" | "plist" => Mode::Markup,
        "diff" | "patch" | "udiff" => Mode::Diff,
        _ => return None,
    })
}

/// Highlights `text` as `lang`: escaped HTML with `<span class="hl-…">` around tokens.
/// `None` for an unknown or missing language and for blocks over [`MAX_BYTES`]: the
/// caller shows those as plain escaped text.
pub fn code(lang: &str, text: &str) -> Option<String> {
    if text.len() > MAX_BYTES {
        return None;
    }
    let mut out = Out::default();
    match mode_for(lang)? {
        Mode::Code(l) => lex(l, text, &mut out),
        Mode::Json => json(text, &mut out),
        Mode::Markup => markup(text, &mut out),
        Mode::Diff => diff(text, &mut out),
    }
    Some(out.finish())
}

/// Output under construction; adjacent pieces of one class share a span.
#[derive(Default)]
struct Out {
    html: String,
    open: Option<&'static str>,
}

impl Out {
    fn push(&mut self, class: Option<&'static str>, text: &str) {
        if text.is_empty() {
            return;
        }
        if class != self.open {
            if self.open.is_some() {
                self.html.push_str("</span>");
            }
            if let Some(c) = class {
                let _ = write!(self.html, r#"<span class="{c}">"#);
            }
            self.open = class;
        }
        self.html.push_str(&escape(text));
    }

    fn finish(mut self) -> String {
        if self.open.is_some() {
            self.html.push_str("</span>");
        }
        self.html
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// End (byte index) of the identifier starting at `i`.
fn ident_end(t: &str, i: usize) -> usize {
    t[i..]
        .char_indices()
        .find(|(_, c)| !is_ident(*c))
        .map_or(t.len(), |(j, _)| i + j)
}

/// End of a string opened by `quote` at `i` (after the closing quote, or the end of the
/// text); backslash escapes the next character. Single-line quotes stop at a newline.
fn string_end(t: &str, i: usize, quote: &str, multiline: bool) -> usize {
    let mut j = i + quote.len();
    while j < t.len() {
        let rest = &t[j..];
        if let Some(escaped) = rest.strip_prefix('\\') {
            j += 1 + escaped.chars().next().map_or(0, char::len_utf8);
            continue;
        }
        if rest.starts_with(quote) {
            return j + quote.len();
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c == '\n' && !multiline {
            return j;
        }
        j += c.len_utf8();
    }
    t.len()
}

fn lex(l: &Lang, t: &str, out: &mut Out) {
    let bytes = t.as_bytes();
    let mut i = 0;
    let mut line_start = true;
    while i < t.len() {
        let rest = &t[i..];
        let Some(c) = rest.chars().next() else { break };
        // comments
        if let Some(p) = l.line_comments.iter().find(|p| rest.starts_with(**p)) {
            // `#` only starts a comment at a word boundary (shell `a#b`, URLs).
            let boundary = *p != "#" || i == 0 || bytes[i - 1].is_ascii_whitespace();
            if boundary && !(l.rust && rest.starts_with("#[")) {
                let end = rest.find('\n').map_or(t.len(), |j| i + j);
                out.push(Some("hl-c"), &t[i..end]);
                i = end;
                continue;
            }
        }
        if let Some((open, close)) = l.block_comment {
            if let Some(body) = rest.strip_prefix(open) {
                let end = body
                    .find(close)
                    .map_or(t.len(), |j| i + open.len() + j + close.len());
                out.push(Some("hl-c"), &t[i..end]);
                i = end;
                continue;
            }
        }
        // strings
        if l.triple_quotes && (rest.starts_with("\"\"\"") || rest.starts_with("'''")) {
            let end = string_end(t, i, &rest[..3], true);
            out.push(Some("hl-s"), &t[i..end]);
            i = end;
            continue;
        }
        if l.quotes.contains(&c) {
            // Rust: `'a` is a lifetime, `'x'` a character.
            let lifetime = l.rust
                && c == '\''
                && rest[1..].chars().next().is_some_and(is_ident_start)
                && rest[1..].chars().nth(1) != Some('\'');
            if !lifetime {
                let q = &rest[..c.len_utf8()];
                let end = string_end(t, i, q, c == '`' || l.rust);
                out.push(Some("hl-s"), &t[i..end]);
                i = end;
                line_start = false;
                continue;
            }
        }
        if l.rust && c == '\'' {
            // a lifetime: the quote and the name, as a type
            let end = ident_end(t, i + 1);
            out.push(Some("hl-t"), &t[i..end]);
            i = end;
            continue;
        }
        if l.rust && (rest.starts_with("#[") || rest.starts_with("#![")) {
            let end = rest
                .find(']')
                .filter(|j| !rest[..*j].contains('\n'))
                .map_or(i + 1, |j| i + j + 1);
            out.push(Some("hl-a"), &t[i..end]);
            i = end;
            continue;
        }
        if l.at_names && c == '@' && rest[1..].chars().next().is_some_and(is_ident_start) {
            let end = t[i + 1..]
                .char_indices()
                .find(|(_, c)| !(is_ident(*c) || *c == '.' || *c == '-'))
                .map_or(t.len(), |(j, _)| i + 1 + j);
            out.push(Some("hl-a"), &t[i..end]);
            i = end;
            continue;
        }
        if l.dollar_vars && c == '$' {
            let end = if rest.starts_with("${") {
                rest.find('}').map_or(i + 2, |j| i + j + 1)
            } else {
                let e = ident_end(t, i + 1);
                if e == i + 1 {
                    // `$?`, `$1`, `$@`
                    i + 1 + rest[1..].chars().next().map_or(0, char::len_utf8)
                } else {
                    e
                }
            };
            out.push(Some("hl-a"), &t[i..end]);
            i = end;
            continue;
        }
        // numbers (not inside identifiers)
        let after_ident = i > 0 && t[..i].chars().next_back().is_some_and(is_ident);
        if c.is_ascii_digit() && !after_ident {
            let end = t[i..]
                .char_indices()
                .find(|(j, c)| {
                    !(c.is_ascii_alphanumeric()
                        || *c == '_'
                        || (*c == '.'
                            && t[i + j + 1..]
                                .chars()
                                .next()
                                .is_some_and(|d| d.is_ascii_digit())))
                })
                .map_or(t.len(), |(j, _)| i + j);
            out.push(Some("hl-n"), &t[i..end]);
            i = end;
            line_start = false;
            continue;
        }
        if is_ident_start(c) && !after_ident {
            let end = ident_end(t, i);
            let word = &t[i..end];
            let next = t[end..].chars().next();
            let has = |list: &[&str]| {
                if l.any_case {
                    list.iter().any(|k| k.eq_ignore_ascii_case(word))
                } else {
                    list.contains(&word)
                }
            };
            let key_here = l.line_keys
                && line_start
                && t[end..]
                    .trim_start_matches([' ', '\t'])
                    .starts_with([':', '=']);
            let class = if key_here {
                Some("hl-a")
            } else if has(l.keywords) {
                Some("hl-k")
            } else if has(l.constants) {
                Some("hl-n")
            } else if has(l.types) {
                Some("hl-t")
            } else if l.rust && next == Some('!') && !t[end..].starts_with("!=") {
                out.push(Some("hl-a"), &t[i..end + 1]);
                i = end + 1;
                line_start = false;
                continue;
            } else if next == Some('(') {
                Some("hl-f")
            } else if l.capital_types && c.is_uppercase() {
                Some("hl-t")
            } else {
                None
            };
            out.push(class, word);
            i = end;
            line_start = false;
            continue;
        }
        out.push(None, &rest[..c.len_utf8()]);
        if c == '\n' {
            line_start = true;
        } else if !(c.is_whitespace() || l.line_keys && matches!(c, '-' | '[')) {
            line_start = false;
        }
        i += c.len_utf8();
    }
}

/// JSON: keys (a string followed by `:`) as attributes, other strings, numbers and
/// constants.
fn json(t: &str, out: &mut Out) {
    let mut i = 0;
    while i < t.len() {
        let rest = &t[i..];
        let Some(c) = rest.chars().next() else { break };
        if c == '"' {
            let end = string_end(t, i, "\"", false);
            let key = t[end..].trim_start().starts_with(':');
            out.push(Some(if key { "hl-a" } else { "hl-s" }), &t[i..end]);
            i = end;
            continue;
        }
        if c == '-' || c.is_ascii_digit() {
            let end = rest
                .char_indices()
                .skip(1)
                .find(|(_, c)| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')))
                .map_or(t.len(), |(j, _)| i + j);
            out.push(Some("hl-n"), &t[i..end]);
            i = end;
            continue;
        }
        if c.is_ascii_alphabetic() {
            let end = ident_end(t, i);
            let w = &t[i..end];
            let class = matches!(w, "true" | "false" | "null").then_some("hl-n");
            out.push(class, w);
            i = end;
            continue;
        }
        if rest.starts_with("//") || rest.starts_with("/*") {
            let (open, close) = if rest.starts_with("//") {
                ("//", "\n")
            } else {
                ("/*", "*/")
            };
            let end = rest[open.len()..].find(close).map_or(t.len(), |j| {
                i + open.len() + j + if close == "\n" { 0 } else { close.len() }
            });
            out.push(Some("hl-c"), &t[i..end]);
            i = end;
            continue;
        }
        out.push(None, &rest[..c.len_utf8()]);
        i += c.len_utf8();
    }
}

/// Markup: comments, tag names as keywords, attribute names, quoted values as strings.
fn markup(t: &str, out: &mut Out) {
    let mut i = 0;
    while i < t.len() {
        let rest = &t[i..];
        if rest.starts_with("<!--") {
            let end = rest.find("-->").map_or(t.len(), |j| i + j + 3);
            out.push(Some("hl-c"), &t[i..end]);
            i = end;
            continue;
        }
        if let Some(after) = rest.strip_prefix('<') {
            // `<`, `</`, `<!`, `<?` then the name
            let name_at = i + after
                .find(|c: char| !matches!(c, '/' | '!' | '?'))
                .map_or(1, |j| j + 1);
            let name_end = t[name_at..]
                .char_indices()
                .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '-' | ':' | '_' | '.')))
                .map_or(t.len(), |(j, _)| name_at + j);
            if name_end == name_at {
                out.push(None, "<");
                i += 1;
                continue;
            }
            out.push(None, &t[i..name_at]);
            out.push(Some("hl-k"), &t[name_at..name_end]);
            i = name_end;
            // attributes up to `>`
            while i < t.len() {
                let r = &t[i..];
                let Some(c) = r.chars().next() else { break };
                if c == '>' {
                    out.push(None, ">");
                    i += 1;
                    break;
                }
                if c == '"' || c == '\'' {
                    let end = r[1..].find(c).map_or(t.len(), |j| i + j + 2);
                    out.push(Some("hl-s"), &t[i..end]);
                    i = end;
                    continue;
                }
                if c.is_alphabetic() {
                    let end = r
                        .char_indices()
                        .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '-' | ':' | '_' | '.')))
                        .map_or(t.len(), |(j, _)| i + j);
                    out.push(Some("hl-a"), &t[i..end]);
                    i = end;
                    continue;
                }
                out.push(None, &r[..c.len_utf8()]);
                i += c.len_utf8();
            }
            continue;
        }
        let end = rest.find('<').map_or(t.len(), |j| i + j.max(1));
        out.push(None, &t[i..end]);
        i = end;
    }
}

/// Diffs: added lines as strings, removed lines as keywords, hunk headers as comments.
fn diff(t: &str, out: &mut Out) {
    for line in t.split_inclusive('\n') {
        let class = if line.starts_with("+++") || line.starts_with("---") {
            Some("hl-t")
        } else if line.starts_with('+') {
            Some("hl-s")
        } else if line.starts_with('-') {
            Some("hl-k")
        } else if line.starts_with("@@") {
            Some("hl-c")
        } else {
            None
        };
        out.push(class, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_tokens_get_classes() {
        let h = code(
            "rust",
            "// note\n#[derive(Debug)]\nfn main() { let s = \"<b>\"; let n = 42; println!(\"{n}\"); }\n",
        )
        .expect("rust is known");
        assert!(h.contains(r#"<span class="hl-c">// note</span>"#), "{h}");
        assert!(
            h.contains(r#"<span class="hl-a">#[derive(Debug)]</span>"#),
            "{h}"
        );
        assert!(h.contains(r#"<span class="hl-k">fn</span>"#), "{h}");
        assert!(h.contains(r#"<span class="hl-f">main</span>"#), "{h}");
        assert!(
            h.contains(r#"<span class="hl-s">&quot;&lt;b&gt;&quot;</span>"#),
            "{h}"
        );
        assert!(h.contains(r#"<span class="hl-n">42</span>"#), "{h}");
        assert!(h.contains(r#"<span class="hl-a">println!</span>"#), "{h}");
        assert!(!h.contains("<b>"), "text is escaped: {h}");
    }

    #[test]
    fn other_languages() {
        let py = code("py", "def f(x):\n    return None  # done\n").expect("python");
        assert!(
            py.contains(r#"<span class="hl-k">def</span> <span class="hl-f">f</span>"#),
            "{py}"
        );
        assert!(py.contains(r#"<span class="hl-n">None</span>"#), "{py}");
        assert!(py.contains(r#"<span class="hl-c"># done"#), "{py}");
        let sql = code("SQL", "SELECT id FROM t WHERE n > 2 -- big\n").expect("sql");
        assert!(sql.contains(r#"<span class="hl-k">SELECT</span>"#), "{sql}");
        assert!(sql.contains(r#"<span class="hl-c">-- big"#), "{sql}");
        let js = code("ts", "const s = `a ${b}`; // x\n").expect("ts");
        assert!(js.contains(r#"<span class="hl-s">`a ${b}`</span>"#), "{js}");
        let sh = code("bash", "echo \"$HOME\" # greet\ncurl a.com/#x\n").expect("bash");
        assert!(sh.contains(r#"<span class="hl-c"># greet</span>"#), "{sh}");
        assert!(!sh.contains(r#"<span class="hl-c">#x"#), "{sh}");
        let j = code("json", r#"{"a": 1, "b": "x", "c": true}"#).expect("json");
        assert!(
            j.contains(r#"<span class="hl-a">&quot;a&quot;</span>"#),
            "{j}"
        );
        assert!(
            j.contains(r#"<span class="hl-s">&quot;x&quot;</span>"#),
            "{j}"
        );
        let x = code("html", r#"<a href="/x">hi</a>"#).expect("html");
        assert!(x.contains(r#"&lt;<span class="hl-k">a</span> <span class="hl-a">href</span>=<span class="hl-s">&quot;/x&quot;</span>&gt;"#), "{x}");
        let d = code("diff", "@@ -1 +1 @@\n-old\n+new\n").expect("diff");
        assert!(d.contains(r#"<span class="hl-k">-old"#), "{d}");
        assert!(d.contains(r#"<span class="hl-s">+new"#), "{d}");
        let y = code("yaml", "name: demo # x\nport: 8080\n").expect("yaml");
        assert!(y.contains(r#"<span class="hl-a">name</span>"#), "{y}");
    }

    #[test]
    fn unknown_empty_and_huge_blocks_are_plain() {
        assert!(code("no-such-language", "x").is_none());
        assert!(code("", "x").is_none());
        assert!(code("rust", &"x".repeat(MAX_BYTES + 1)).is_none());
        // unterminated strings and comments end at the end of the text
        assert!(code("rust", "let s = \"open").is_some_and(|h| h.ends_with("</span>")));
        assert!(code("c", "/* open").is_some());
        // multi-byte text never splits a character
        assert!(code("py", "s = 'héllo' # ünïcode ✓\n").is_some());
    }
}
