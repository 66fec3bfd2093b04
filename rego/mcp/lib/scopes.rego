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
# braces, no brackets inside braces, no "/" in brackets, no empty brackets,
# and none of "(", ")" and "$". Outside this subset the wasm and Go
# evaluators do not agree, so a policy could decide differently in the
# gateway and in `opa test`: on malformed globs (an unclosed brace, a
# trailing backslash), and on those three characters, which the wasm
# glob.match reads as regular-expression syntax where Go's takes them
# literally ("src/(x)/**" admits "src/x/a" in wasm, "src/(x)/a" in Go; "a$b"
# matches nothing in wasm; a lone "(" is an error there).
#
# Checked with string built-ins rather than the equivalent regular expression
# ^(?:[^{}\[\]\\()$]|\{[^{}\[\]\\()$]*\}|\[!?[^\[\]\\/!()$]+\])*$ (see
# scopes_test): the wasm evaluator compiles a regular expression on every
# evaluation, and this one alone cost about 20 µs per decision.
valid_glob(g) if {
	is_string(g)
	g != ""
	not contains(g, `\`)
	not _has_regex_syntax(g)
	parts := split(g, "[")
	_braces_ok(parts[0])
	every part in array.slice(parts, 1, count(parts)) {
		_bracket_ok(part)
	}
}

_has_regex_syntax(g) if {
	some c in ["(", ")", "$"]
	contains(g, c)
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
match(g, v) if matches_plan(plan(g), _flat(v))

# The wasm evaluator compiles every glob it meets into a regular expression
# again on each evaluation (10 to 25 µs a glob), so a simple glob, the usual
# kind, is matched segment by segment with string built-ins instead, and
# only others go to glob.match; scopes_test checks that both ways agree.
# plan(g) prepares glob g once for many matches: callers that match one glob
# against several values keep the plan in a rule, which an evaluation works
# out only once (a function is worked out again on every call).
plan(g) := {"glob": g, "exact": exact, "folded": _folded(f, exact), "folds": lower(f) != f} if {
	f := _flat(g)
	exact := _pattern(f)
}

# The pattern for case-insensitive matching: the same one when lower-casing
# does not change the glob.
_folded(f, exact) := exact if {
	lower(f) == f
} else := _pattern(lower(f))

# A pattern is simple, a list of alternatives each prepared for matching
# (_alternative), or left to glob.match with its "**/" rewritten (see
# _globstar).
_pattern(f) := {"simple": true, "alternatives": [_alternative(split(a, "/")) | some a in alternatives]} if {
	alternatives := _alternatives(f)
	every a in alternatives {
		_simple(a)
	}
} else := {"simple": false, "glob": _globstar(f)}

# A glob without braces is its own only alternative. One brace group of
# non-empty alternatives without "*", "?" or "/" ("*.{ts,tsx}") stands for
# the globs with each alternative in its place ("*.ts", "*.tsx"): such an
# alternative cannot join two "*" or change which segment is a whole "**".
_alternatives(f) := [f] if not contains(f, "{")

_alternatives(f) := [concat("", [parts[0], alternative, rest[1]]) | some alternative in alternatives] if {
	parts := split(f, "{")
	count(parts) == 2
	rest := split(parts[1], "}")
	count(rest) == 2
	not _has_wildcard(rest[0])
	alternatives := split(rest[0], ",")
	not "" in alternatives
}

_has_wildcard(s) if {
	some c in ["*", "?", "/"]
	contains(s, c)
}

# matches_plan(p, v) holds if the flat value v matches the glob of plan p.
matches_plan(p, v) if _pattern_match(p.exact, v, split(v, "/"))

_pattern_match(pattern, _, segments) if {
	pattern.simple
	some alternative in pattern.alternatives
	_simple_match(alternative, segments)
}

_pattern_match(pattern, v, _) if {
	not pattern.simple
	glob.match(pattern.glob, ["/"], v)
}

# A simple glob has no braces, brackets, "?", backslash, "(", ")" or "$", at
# most one "**" segment, and at most one "*" in every other segment.
_simple(g) if {
	not _has_special(g)
	segments := split(g, "/")
	count([s | some s in segments; s == "**"]) <= 1
	every s in segments {
		_simple_segment(s)
	}
}

# "(", ")" and "$" too: the wasm evaluator's glob.match treats them as
# regular-expression syntax ("(x)" matches "x") where Go's takes them
# literally. valid_glob refuses them in profiles; a glob that has one and
# reaches match or plan by another way is left to glob.match, as before.
_has_special(g) if {
	some c in ["{", "}", "[", "]", "?", `\`, "(", ")", "$"]
	contains(g, c)
}

_simple_segment("**")

_simple_segment(s) if count(split(s, "*")) <= 2

# The segments of a simple alternative, split where matching needs it, so
# that matching does no arithmetic (integers are arbitrary-precision decimals
# in wasm, and slow) and splits no pattern: "exact" when it has no "**";
# "head" and "tail", the segments before and after a "**" that stands for
# zero or more whole segments ("{**/,}" after _globstar); "under" for the
# segments before a final "**", which stands for the rest of the value, at
# least one segment. Each segment is a literal string, or for one "*" the
# two strings around it ("*.ts" is ["", ".ts"]).
_alternative(ps) := {"exact": _segments(ps)} if not "**" in ps

_alternative(ps) := {
	"head": _segments(array.slice(ps, 0, k)),
	"tail": _segments(array.slice(ps, k + 1, count(ps))),
} if {
	some k, p in ps
	p == "**"
	k < count(ps) - 1
}

_alternative(ps) := {"under": _segments(array.slice(ps, 0, k))} if {
	k := count(ps) - 1
	ps[k] == "**"
}

_segments(ps) := [_segment(p) | some p in ps]

_segment(p) := p if not contains(p, "*")

_segment(p) := split(p, "*") if contains(p, "*")

# An alternative against value segments vs.
_simple_match(alt, vs) if {
	count(alt.exact) == count(vs)
	every i, p in alt.exact {
		_segment_match(p, vs[i])
	}
}

_simple_match(alt, vs) if {
	tail := alt.tail
	count(vs) >= count(alt.head) + count(tail)
	every i, p in alt.head {
		_segment_match(p, vs[i])
	}
	rest := array.slice(vs, count(vs) - count(tail), count(vs))
	every j, p in tail {
		_segment_match(p, rest[j])
	}
}

_simple_match(alt, vs) if {
	count(vs) > count(alt.under)
	every i, p in alt.under {
		_segment_match(p, vs[i])
	}
}

# One segment: a literal, or the strings around its "*", which stands for
# any characters of the segment.
_segment_match(p, s) if p == s

_segment_match(p, s) if {
	is_array(p)
	startswith(s, p[0])
	endswith(trim_prefix(s, p[0]), p[1])
}

# Newlines count as spaces: the wasm evaluator's "**" does not cross a
# newline while Go's does, and a multi-line SQL query should match
# "SELECT **" (and be excluded by "**;**") in the gateway and in tests alike.
_flat(s) := replace(s, "\n", " ")

# matches_any(gs, v) holds if v matches one of the globs gs.
matches_any(gs, v) if {
	some g in gs
	match(g, v)
}

# matches_any_plan(plans, v): the same for globs prepared with plan.
matches_any_plan(plans, v) if {
	flat := _flat(v)
	segments := split(flat, "/")
	some p in plans
	_pattern_match(p.exact, flat, segments)
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
excluding(gs, v, kind) := {p.glob | some p in excluding_plans([plan(g) | some g in gs], v, kind)}

# excluding_plans(plans, v, kind) is the set of plans (see plan) whose globs
# exclude value v, as excluding.
excluding_plans(plans, v, kind) := {p |
	flat := _flat(v)
	some p in plans
	_excludes(p, flat, kind)
}

_excludes(p, v, kind) if _excluded_by(p.exact, v, kind)

# The lower-cased pass, needed only when lower-casing changes the glob or the
# value: otherwise it would repeat the pass above.
_excludes(p, v, kind) if {
	_folds(p, v)
	_excluded_by(p.folded, lower(v), kind)
}

_folds(p, _) if p.folds

_folds(_, v) if lower(v) != v

# A path is excluded when it or a directory above it matches; a repository
# "owner/repo#12" when the owner, "owner/repo" or the whole value does.
_excluded_by(pattern, v, "path") if _matches_prefix(pattern, v)

_excluded_by(pattern, v, "repo") if _matches_prefix(pattern, split(v, "#")[0])

_excluded_by(pattern, v, "repo") if _pattern_match(pattern, v, split(v, "/"))

_excluded_by(pattern, v, "text") if _pattern_match(pattern, v, split(v, "/"))

# _matches_prefix(pattern, v) holds if pattern matches v or a directory above
# it: one of paths.prefixes(v).
_matches_prefix(pattern, v) if {
	pattern.simple
	segments := split(v, "/")
	some alternative in pattern.alternatives
	_simple_prefix_match(alternative, segments)
}

_matches_prefix(pattern, v) if {
	not pattern.simple
	some c in paths.prefixes(v)
	glob.match(pattern.glob, ["/"], c)
}

# _simple_prefix_match(alt, vs) is _simple_match of alt against the first n
# segments of vs, for some n from 1 to all of them, checked at once.
_simple_prefix_match(alt, vs) if {
	count(alt.exact) <= count(vs)
	every i, p in alt.exact {
		_segment_match(p, vs[i])
	}
}

# The usual exclude ("**/.env*", "**/secrets*"): one segment after the "**",
# which some segment at or after the head must match.
_simple_prefix_match(alt, vs) if {
	[p] := alt.tail
	every i, q in alt.head {
		_segment_match(q, vs[i])
	}
	some i, s in vs
	i >= count(alt.head)
	_segment_match(p, s)
}

_simple_prefix_match(alt, vs) if {
	tail := alt.tail
	count(tail) > 1
	count(vs) >= count(alt.head) + count(tail)
	every i, p in alt.head {
		_segment_match(p, vs[i])
	}
	some n in numbers.range(count(alt.head) + count(tail), count(vs))
	rest := array.slice(vs, n - count(tail), n)
	every j, p in tail {
		_segment_match(p, rest[j])
	}
}

_simple_prefix_match(alt, vs) if {
	count(vs) > count(alt.under)
	every i, p in alt.under {
		_segment_match(p, vs[i])
	}
}
