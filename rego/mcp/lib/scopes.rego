# METADATA
# title: Scope globs
# description: |
#   Glob matching for scopes and exclusions, on top of Rego's glob.match.
#   Every glob here uses "/" as its only delimiter: "*" and "?" stay within
#   one segment (a directory or file name, or the owner or the repository of
#   "owner/repo#12"), "**" crosses segments, and a whole "**" segment followed
#   by "/" also matches no segment at all, so "src/**/*.ts" matches
#   "src/a.ts" as well as "src/a/b.ts". Braces list alternatives
#   ("*.{ts,tsx}"); brackets list characters ("[a-z]", "[!.]").
# scope: package
# schemas:
#   - input: schema.input
package mcp.lib.scopes

import data.mcp.lib.paths

# The glob syntax a profile may use: no backslash escapes, no braces inside
# braces, no brackets inside braces, no "/" in brackets, no empty brackets.
# Outside this subset the wasm and Go evaluators do not agree on every
# malformed glob (an unclosed brace, a trailing backslash), so a policy could
# decide differently in the gateway and in `opa test`.
#
# Checked with string built-ins rather than the equivalent regular expression
# ^(?:[^{}\[\]\\]|\{[^{}\[\]\\]*\}|\[!?[^\[\]\\/!]+\])*$ (see scopes_test): the
# wasm evaluator compiles a regular expression on every evaluation, and this
# one alone cost about 20 µs per decision.
valid_glob(g) if {
	is_string(g)
	g != ""
	not contains(g, `\`)
	parts := split(g, "[")
	_braces_ok(parts[0])
	every part in array.slice(parts, 1, count(parts)) {
		_bracket_ok(part)
	}
}

# s (a part of a glob with no brackets) has no "]", and each "{" is closed
# by a "}" before the next "{", with no other "}".
_braces_ok(s) if {
	not contains(s, "]")
	pieces := split(s, "{")
	not contains(pieces[0], "}")
	every piece in array.slice(pieces, 1, count(pieces)) {
		count(split(piece, "}")) == 2
	}
}

# part follows a "[": a class of characters (an optional "!", then at least
# one character other than "!" and "/"), its "]", then braces as above.
_bracket_ok(part) if {
	pieces := split(part, "]")
	count(pieces) == 2
	class := trim_prefix(pieces[0], "!")
	class != ""
	not contains(class, "!")
	not contains(class, "/")
	_braces_ok(pieces[1])
}

# globs(x) is x as a list of globs: a single glob or a list of them. Undefined
# unless every one is valid and there is at least one.
globs(x) := [x] if valid_glob(x)

globs(x) := x if {
	is_array(x)
	count(x) > 0
	every g in x {
		valid_glob(g)
	}
}

# match(g, v) holds if v matches glob g (see the package description).
match(g, v) if glob.match(_globstar(g), ["/"], _flat(v))

# Newlines count as spaces: the wasm evaluator's "**" does not cross a
# newline while Go's does, and a multi-line SQL query should match
# "SELECT **" (and be excluded by "**;**") in the gateway and in tests alike.
_flat(s) := replace(s, "\n", " ")

# matches_any(gs, v) holds if v matches one of the globs gs.
matches_any(gs, v) if {
	some g in gs
	match(g, v)
}

# glob.match's "**/" needs at least one segment; "{**/,}" also allows none.
# Only a whole "**" segment that is followed by "/" is rewritten.
_globstar(g) := _flat(g) if {
	not contains(g, "**/")
} else := concat("", [_piece(segment, i, n) | some i, segment in segments]) if {
	segments := split(_flat(g), "/")
	n := count(segments)
}

_piece(segment, i, n) := "{**/,}" if {
	segment == "**"
	i < n - 1
} else := concat("", [segment, "/"]) if {
	i < n - 1
} else := segment

# excluding(gs, v, kind) is the set of globs in gs that exclude value v.
# Exclusions match case-insensitively (a case-insensitive file system opens
# ".ENV" for ".env"). For a path they match the path or any directory above
# it ("**/secrets*" excludes "src/secrets/a.ts"); for a repository
# "owner/repo#12", the owner, "owner/repo" or the whole value.
excluding(gs, v, kind) := {g |
	candidates := {_flat(c) | some c in _candidates(v, kind)}
	folded := {lower(c) | some c in candidates}
	some g in gs
	_any_match(_globstar(g), _globstar(lower(g)), candidates, folded)
}

_any_match(pattern, _, candidates, _) if {
	some c in candidates
	glob.match(pattern, ["/"], c)
}

_any_match(_, folded_pattern, _, folded) if {
	some c in folded
	glob.match(folded_pattern, ["/"], c)
}

_candidates(v, "path") := paths.prefixes(v)

_candidates(v, "repo") := paths.prefixes(split(v, "#")[0]) | {v}

_candidates(v, "text") := {v}
