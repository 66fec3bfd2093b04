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
