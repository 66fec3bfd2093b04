# METADATA
# title: Path checks
# description: |
#   Helpers for deciding whether a client-supplied, upstream-relative path is
#   safe to compare against globs. Glob matching is purely lexical, so a path
#   like "src/../.env" matches "src/**" although it leaves src on disk: every
#   such trick is refused here before any glob is consulted.
# scope: package
# schemas:
#   - input: schema.input
package mcp.lib.paths

import data.mcp.lib.text

# Each trick names one way a path can mean something other than it says.
# The messages complete the sentence `path "…" <message>`.
trick_messages := {
	"absolute": "is absolute",
	"home": "starts with ~ (home directory)",
	"drive": "starts with a drive letter",
	"dotdot": "has a \"..\" segment",
	"dot": "has a \".\" segment",
	"empty": "has an empty segment (// or a trailing /)",
	"backslash": "contains a backslash",
	"control": "contains a NUL or other control character",
	"short_name": "looks like a Windows short name (~ and a digit, as in SECRET~1.TS), which may name another file",
}

# tricks(p) is the set of trick messages that apply to p (empty when p is clean).
tricks(p) := {msg |
	segments := split(p, "/")
	some kind, msg in trick_messages
	_trick(kind, p, segments)
}

# clean(p) holds for a non-empty string with no tricks.
clean(p) if {
	is_string(p)
	p != ""
	count(tricks(p)) == 0
}

_trick("absolute", p, _) if startswith(p, "/")

_trick("home", p, _) if startswith(p, "~")

# Windows drive letters ("C:", "c:\") make a path absolute whatever follows.
# Written with split and trim rather than regex.match(`^[A-Za-z]:`, p), which
# the wasm evaluator would compile on every evaluation.
_trick("drive", p, _) if {
	contains(p, ":")
	letter := split(p, ":")[0]
	count(letter) == 1
	trim(letter, ascii_letters) == ""
}

ascii_letters := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

_trick("dotdot", _, segments) if ".." in segments

_trick("dot", _, segments) if "." in segments

# A leading "/" is already reported as absolute, so only later segments count.
_trick("empty", _, segments) if {
	some i, seg in segments
	seg == ""
	i > 0
}

# Windows treats "\" as a separator, which the "/" glob delimiter would miss.
_trick("backslash", p, _) if contains(p, `\`)

# NUL truncates paths in C APIs; other control characters only hide intent.
# [\x00-\x1f\x7f] without that regex, which the wasm evaluator would compile
# on every evaluation, and without 33 calls of contains (3.5 µs a path):
# JSON writes every character below U+0020 as an escape, \b, \f, \n, \r, \t
# or \u00XX (Go's json.marshal and the wasm evaluator's alike). With the
# escaped backslashes (\\) taken out, such an escape is the only thing left
# that starts with a backslash followed by one of those letters or by u000 or
# u001 (Go's other escapes, \u003c and the like, start otherwise). U+007F is
# not escaped, so it is looked for as it is. paths_test compares this with
# the regex on every character up to U+024F, alone and around backslashes.
_trick("control", p, _) if {
	escaped := replace(json.marshal(p), `\\`, "")
	contains(escaped, `\`) # no escape left at all: the usual case, one call
	some e in [`\u000`, `\u001`, `\b`, `\f`, `\n`, `\r`, `\t`]
	contains(escaped, e)
}

_trick("control", p, _) if contains(p, "\u007f")

# Windows gives a long name a short (8.3) alias, "SECRET~1.TS" for "secrets.ts": a segment
# with "~" and a digit may name a file whose long name the scope or an exclude refuses.
_trick("short_name", p, segments) if {
	contains(p, "~")
	some segment in segments
	some i, part in split(segment, "~")
	i > 0
	part != ""
	contains("0123456789", substring(part, 0, 1))
}

# --- Paths as agents write them ----------------------------------------------
#
# Agents write "./src/a.ts", "src/" or "src//a.ts" for paths that name the same
# file as "src/a.ts". Those spellings are harmless: the policy matches scopes
# and excludes against the path they mean (fact), and refuses only what can
# change the target (target_tricks). The raw value stays in input.arguments,
# and profiles hand both to rules (scope_values: value is the fact, raw the
# value as written).

# Configuration: the directories each upstream server serves its files from,
# by server name, as absolute paths without a trailing "/". An absolute path
# at or below one of them is read relative to it ("/srv/repo/src/a.ts" is
# "src/a.ts" when filesystem serves /srv/repo); every other absolute path is
# refused. Empty by default: the gateway does not tell the policy where a
# server's files are, so a deployment lists them here, for example
#   served_roots := {"filesystem": ["/srv/repo"]}
served_roots := {}

# fact(p, roots) is the relative path p names, once its harmless spellings
# are undone: below one of roots (the longest that applies) when p is
# absolute, then without "." segments, empty segments and a trailing "/"
# ("." for the root itself). An absolute path below none of roots is left as
# it is: target_tricks refuses it.
fact(p, roots) := normalised(trim_prefix(substring(p, count(root), -1), "/")) if {
	startswith(p, "/")
	root := _root(p, roots)
} else := p if {
	startswith(p, "/")
} else := normalised(p)

# normalised(p): p without "." segments and empty segments, "." when nothing
# is left ("./src/" is "src", "./" is "."). Most paths have neither, and are
# recognised as such with one concat and two contains.
normalised(p) := p if {
	wrapped := concat("", ["/", p, "/"])
	not contains(wrapped, "/./")
	not contains(wrapped, "//")
} else := _joined([s | some s in split(p, "/"); s != "."; s != ""])

_joined(segments) := concat("/", segments) if count(segments) > 0

else := "."

# The longest of roots that p is at or below.
_root(p, roots) := root if {
	below := [r | some r in roots; _at_or_below(p, r)]
	longest := max([count(r) | some r in below])
	some root in below
	count(root) == longest
}

_at_or_below(p, root) if p == root

_at_or_below(p, root) if startswith(p, concat("", [root, "/"]))

# target_tricks(p, roots) is the set of reasons p could name another file
# than its fact says: the tricks above, except the harmless "." and empty
# segments and an absolute path below one of roots, plus percent-encodings,
# characters that Unicode compatibility normalisation changes and characters
# that look like "/", "\" or ".". Empty when p may be matched as its fact.
target_tricks(p, roots) := ({msg |
	segments := split(p, "/")
	some kind, msg in trick_messages
	kind != "dot" # two comparisons, not membership in a set literal, which
	kind != "empty" # the wasm evaluator would build for every kind
	_trick(kind, p, segments)
	not _served(kind, p, roots)
} | _encoded(p)) | _unicode_tricks(p)

_served("absolute", p, roots) if _root(p, roots)

# A server that decodes percent-encoding (URL-style) reads "%73ecrets.ts" as
# "secrets.ts" and "%2F" as a separator: any "%" with two hex digits, in any
# case, may name another file than the segments and globs here see. A "%"
# without them is a plain character.
_encoded(p) := {concat("", [
	"contains percent-encoding ", concat(", ", sort(found)),
	", which a server that decodes it reads as other characters",
])} if {
	contains(p, "%")
	found := {concat("", ["%", upper(pair)]) |
		some i, part in split(p, "%")
		i > 0
		pair := substring(part, 0, 2)
		count(pair) == 2
		trim(pair, "0123456789abcdefABCDEF") == ""
	}
	count(found) > 0
} else := set()

# Characters that stand for "/", "\" or "." after Unicode compatibility
# normalisation (NFKC) or a Windows best-fit conversion, or that look like
# them: a path with one may name another file than it seems to.
lookalike_characters := {
	"\u2215": "U+2215 DIVISION SLASH, which looks like /",
	"\u2044": "U+2044 FRACTION SLASH, which looks like /",
	"\uff0f": "U+FF0F FULLWIDTH SOLIDUS, which looks like /",
	"\u29f8": "U+29F8 BIG SOLIDUS, which looks like /",
	"\u2571": "U+2571 BOX DRAWINGS LIGHT DIAGONAL, which looks like /",
	"\uff3c": "U+FF3C FULLWIDTH REVERSE SOLIDUS, which looks like \\",
	"\u2216": "U+2216 SET MINUS, which looks like \\",
	"\ufe68": "U+FE68 SMALL REVERSE SOLIDUS, which looks like \\",
	"\u29f9": "U+29F9 BIG REVERSE SOLIDUS, which looks like \\",
	"\uff0e": "U+FF0E FULLWIDTH FULL STOP, which looks like .",
	"\u2024": "U+2024 ONE DOT LEADER, which looks like .",
	"\u2025": "U+2025 TWO DOT LEADER, which looks like ..",
	"\ufe52": "U+FE52 SMALL FULL STOP, which looks like .",
}

# Every other character that NFKC changes (fullwidth and mathematical letters,
# ligatures, superscripts, compatibility ideographs...): "src/\uff53ecrets.ts"
# is "src/secrets.ts" to a server or file system that normalises, and a
# Windows best-fit conversion maps many the same way. Rego cannot normalise,
# so nfkc/data.json (data.mcp.lib.nfkc.compatibility, generated by
# scripts/gen-nfkc.mjs) lists them all, by character: its code point, a space
# and its NFKC form ("U+FF53 s").
# Only a path with a character outside printable ASCII can hold either kind:
# checked with one trim (usual paths) before its characters are looked up.
_unicode_tricks(p) := {msg |
	some character in split(p, "")
	msg := _unicode_trick(character)
} if trim(p, printable_ascii) != ""

else := set()

_unicode_trick(character) := concat("", ["contains ", lookalike_characters[character]])

_unicode_trick(character) := concat("", [
	"contains ", code, ", which reads as ", text.quote(substring(entry, count(code) + 1, -1)),
	" in Unicode compatibility form (NFKC)",
]) if {
	not lookalike_characters[character]
	entry := data.mcp.lib.nfkc.compatibility[character]
	code := split(entry, " ")[0]
}

printable_ascii := concat("", [
	"abcdefghijklmnopqrstuvwxyz/.-_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
	" !\"#$%&'()*+,:;<=>?@[\\]^`{|}~",
])

# matches_any(p, globs) holds if p matches one of globs, with "/" as the
# separator so that "*" stays within one segment and "**" crosses segments.
matches_any(p, globs) if {
	some g in globs
	glob.match(g, ["/"], p)
}

# within(p, dir) holds if p is dir itself or lies below it. Lexical only:
# callers must also require clean(p).
within(p, dir) if p == dir

within(p, dir) if startswith(p, concat("", [dir, "/"]))

# has_segment_prefix(p, prefixes) holds if any segment of p starts with one of
# prefixes, compared case-insensitively (case-insensitive file systems would
# open "SECRETS.ts" for "secrets.ts"). Catches what "**/name*" globs miss:
# a first segment, or a matching directory further up the path.
has_segment_prefix(p, prefixes) if {
	lowered := [lower(prefix) | some prefix in prefixes]
	some seg in split(lower(p), "/")
	some prefix in lowered
	startswith(seg, prefix)
}

# prefixes(p) is the set of p and every directory above it: for "src/a/b.ts",
# {"src", "src/a", "src/a/b.ts"}. Rules that refuse a path because of a name
# anywhere in it check each of these.
prefixes(p) := {concat("/", array.slice(segments, 0, n)) |
	segments := split(p, "/")
	some n in numbers.range(1, count(segments))
}
