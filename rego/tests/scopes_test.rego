package mcp.lib.scopes_test

import data.mcp.lib.paths
import data.mcp.lib.scopes

test_globstar_matches_zero_or_more_directories if {
	scopes.match("src/**/*.ts", "src/a.ts")
	scopes.match("src/**/*.ts", "src/a/b/c.ts")
	scopes.match("**/x", "x")
	scopes.match("a/**/b/**/c", "a/b/c")
	scopes.match("a/**/b/**/c", "a/1/b/2/3/c")
	not scopes.match("src/**/*.ts", "lib/a.ts")
	not scopes.match("src/**/*.ts", "src/a.tsx")
	scopes.match("src/**", "src/a/b")
	not scopes.match("src/**", "src")
	scopes.match("**", "")
}

test_single_segment_wildcards if {
	scopes.match("org/*#*", "org/repo#1")
	not scopes.match("org/*", "org/a/b")
	scopes.match("org/*", "org/repo#1")
	scopes.match("?.ts", "é.ts")
	not scopes.match("a?c", "a/c")
}

test_braces_and_brackets if {
	scopes.match("*.{ts,tsx}", "a.tsx")
	scopes.match("src{,/**}", "src")
	scopes.match("src{,/**}", "src/a")
	scopes.match("{src/**/a,b}", "src/a")
	scopes.match("[a-c]x", "bx")
	scopes.match("[!.]*", "a")
	not scopes.match("[!.]*", ".a")
}

test_valid_globs if {
	every g in ["src/**/*.{ts,tsx}", "org/repo#*", "[!.]*", "{,x}", "SELECT **", "*.[jt]s"] {
		scopes.valid_glob(g)
	}
	every g in [
		"", "src/{a", "a}", "{a,{b}}", "[a", "a]", "[]", "[!]", "[a/b]", `a\*`, "{[ab]}", 7,
		"src/(x)/**", "(", ")", "a$", "a$b", "{a,(b)}", "[(]", "[$]",
	] {
		not scopes.valid_glob(g)
	}
	scopes.globs("a") == ["a"]
	scopes.globs(["a", "b"]) == ["a", "b"]
	not scopes.globs([])
	not scopes.globs(["a", "{"])
	not scopes.globs(7)
}

# A newline counts as a space, in the glob and in the value.
test_newlines_are_spaces if {
	scopes.match("SELECT **", "SELECT a\nFROM t")
	scopes.match("a\nb", "a b")
	scopes.excluding(["**;**"], "SELECT 1\n;DROP t", "text") == {"**;**"}
	scopes.excluding(["** into **"], "SELECT *\nINTO b", "text") == {"** into **"}
}

test_excluding_by_kind if {
	scopes.excluding(["**/secrets*"], "src/secrets/a.ts", "path") == {"**/secrets*"}
	scopes.excluding(["**/secrets*"], "src/secrets/a.ts", "text") == set()
	scopes.excluding(["**/secrets*", "**/.env*"], "src/SECRETS.ts", "path") == {"**/secrets*"}
	scopes.excluding(["org/private-*"], "org/private-x#3", "repo") == {"org/private-*"}
	scopes.excluding(["org"], "org/x#3", "repo") == {"org"}
	scopes.excluding(["**drop**"], "SELECT 1; DROP t", "text") == {"**drop**"}
	scopes.excluding(["**/X*"], "a/x", "path") == {"**/X*"}
	scopes.excluding([], "a", "path") == set()
}

test_prefixes if {
	paths.prefixes("src/a/b.ts") == {"src", "src/a", "src/a/b.ts"}
	paths.prefixes("a") == {"a"}
}

# valid_glob is written with string built-ins; it must accept exactly the
# strings the regular expression that defines the glob subset accepts. Every
# string of up to three characters over the characters that matter, and some
# longer ones, are compared.
_glob_regex := `^(?:[^{}\[\]\\()$]|\{[^{}\[\]\\()$]*\}|\[!?[^\[\]\\/!()$]+\])*$`

# "(" and "$" stand for the three characters refused anywhere (")" is in
# the longer strings): each more character makes the test much slower.
_glob_chars := ["a", "/", "!", "{", "}", "[", "]", `\`, "*", "(", "$"]

_short_strings := {concat("", [a, b, c]) |
	some a in array.concat(_glob_chars, [""])
	some b in array.concat(_glob_chars, [""])
	some c in array.concat(_glob_chars, [""])
}

test_valid_glob_agrees_with_its_regex if {
	longer := {
		"src/**/*.{ts,tsx}", "[{]", "[!{}]x{a,b}", "{a}[b]{c}[!d]", "[a]]", "{a}}", "[!!a]",
		"é[é]{é}", "a\nb", "{[}]", "x[a-z]/y{,z}", "[!a/b]", "{a/b}[c]", "]{", "[!a]", "[a!]", "{a}b}",
		"[a]{b", "{a,b}{c}", "[ab]x]", "[[a]]", "{{a}}", "[!/]", "[a\\]", "*{*}*[*]", "[!a]b[c]{d}e",
		"src/(x)/**", "a$", "{a,$}", "[!(]", "x)", "${a}", ")", "[)]", "{)}", "a)b", "[!)]x",
	}

	# "" matches the regex; valid_glob refuses it before (and did before too).
	every s in (_short_strings | longer) - {""} {
		_valid(s) == regex.match(_glob_regex, s)
	}
}

_valid(s) if scopes.valid_glob(s)

_valid(s) := false if not scopes.valid_glob(s)

# Simple globs are matched with string built-ins, others with glob.match;
# both ways must agree on every simple glob.
_simple_globs := [
	"src/**/*.ts", "**/x", "**/.env*", "**/secrets*", "src/**", "src", "org/repo#*", "org/*", "*", "**",
	"a/**/b", "a/**/*", "*.ts", ".env*", "a//b", "a/", "/a", "*/", "/**", "**/", "*/*", "a/*/b", "**/a/*",
	"é*", "a b/*", "a.+|^/*", "src/**/*.{ts,tsx}", "*.{a,b}", "{x,src}/**", "a/{b,x}/b", "{a,b}*",
	"*{a,b}", "{.env,secrets}*", "**/{a,b}", "{a, b}",
]

_sample_values := [
	"", "x", "a", "b", "/", "//", "src", "src/", "src/a.ts", "src/a/b.ts", "src/a/b/c.tsx", ".env", "a/.env.local",
	"a/b/.env", "secrets", "x/secrets/y", "org/repo#1", "org/repo", "org/a/b", "org/#", "/x", "a//b", "a/b",
	"a/x/b", "a/x/y/b", "é/x", "éa", ".envé", "a/", "/a", "x/a/z", "a b/c", "a.+|^/q", "ts", ".ts", "a.a",
	"x/y", "a/b/b", "q/b", " b",
]

# In chunks: opa test --coverage traces every step, and each test must end
# within its timeout.
test_simple_globs_match_as_glob_match_does_1 if _agree(array.slice(_simple_globs, 0, 6))

test_simple_globs_match_as_glob_match_does_2 if _agree(array.slice(_simple_globs, 6, 12))

test_simple_globs_match_as_glob_match_does_3 if _agree(array.slice(_simple_globs, 12, 18))

test_simple_globs_match_as_glob_match_does_4 if _agree(array.slice(_simple_globs, 18, 24))

test_simple_globs_match_as_glob_match_does_5 if _agree(array.slice(_simple_globs, 24, 30))

test_simple_globs_match_as_glob_match_does_6 if _agree(array.slice(_simple_globs, 30, 36))

test_simple_glob_chunks_cover_every_glob if count(_simple_globs) <= 36

_agree(globs) if {
	every g in globs {
		scopes._pattern(g).simple
		every v in _sample_values {
			_simple_result(g, v) == _glob_result(g, v)
		}
	}
}

test_other_globs_are_left_to_glob_match if {
	every g in [
		"[a-c]x", "?.ts", "a/**/b/**/c", "a**", "*.*.ts", "SELECT **", "org/*#*", "*a*", "src{,/**}",
		"{a,}", "*{,}*", "{}", "{a,b}{c}", "x/**{a,b}", "{a*,b}", "{a/b,c}", "{a?,b}", "a}", "{a,b}]",
		"(x)", "a$", "{a,(b)}",
	] {
		not scopes._pattern(g).simple
	}
}

_simple_result(g, v) if scopes._pattern_match(scopes._pattern(g), v, split(v, "/"))

_simple_result(g, v) := false if not scopes._pattern_match(scopes._pattern(g), v, split(v, "/"))

_glob_result(g, v) if glob.match(scopes._globstar(g), ["/"], v)

_glob_result(g, v) := false if not glob.match(scopes._globstar(g), ["/"], v)

test_matches_any if {
	scopes.matches_any(["lib/**", "src/**/*.{ts,tsx}"], "src/a/b.tsx")
	not scopes.matches_any(["lib/**", "src/**/*.{ts,tsx}"], "src/a/b.js")
	scopes.matches_any_plan([scopes.plan("[a-c]x")], "bx")
}

# excluding checks a path's directories at once rather than one by one; it
# must give what matching each of paths.prefixes with glob.match gave.
_exclude_globs := [
	"**/.env*", "**/secrets*", "**/X*", "org", "org/private-*", "**;**", "** into **", "**drop**", "src",
	"src/**", "a/*/c", "**/b/*", "*.ts", "[Ss]ecret*", "{a,b}/**", "a/**/c", "**", "*/b", "a/b", "**/b/**",
	"A/**", "ORG/*", "org/*#3",
]

_exclude_values := [
	"src/a.ts", "src/secrets/a.ts", "src/SECRETS.ts", "a/.env", ".Env.local", "a/b/c", "a/b", "a", "a/x/c/d",
	"org/private-x#3", "org/x#3", "Org/Repo#1", "org/repo", "SELECT 1;\nDROP t", "SELECT *\nINTO b", "b/x",
	"x/b/y/z", "a//c", "/a", "é/b",
]

# In chunks, to stay within opa test's timeout under --coverage.
test_excluding_agrees_with_glob_match_path_1 if _exclusions_agree("path", 0)

test_excluding_agrees_with_glob_match_path_2 if _exclusions_agree("path", 7)

test_excluding_agrees_with_glob_match_path_3 if _exclusions_agree("path", 14)

test_excluding_agrees_with_glob_match_repo_1 if _exclusions_agree("repo", 0)

test_excluding_agrees_with_glob_match_repo_2 if _exclusions_agree("repo", 7)

test_excluding_agrees_with_glob_match_repo_3 if _exclusions_agree("repo", 14)

test_excluding_agrees_with_glob_match_text if _exclusions_agree("text", 0)

test_excluding_agrees_with_glob_match_text_2 if _exclusions_agree("text", 7)

test_excluding_agrees_with_glob_match_text_3 if _exclusions_agree("text", 14)

test_exclude_chunks_cover_every_value if count(_exclude_values) <= 21

_exclusions_agree(kind, from) if {
	every v in array.slice(_exclude_values, from, from + 7) {
		scopes.excluding(_exclude_globs, v, kind) == _old_excluding(_exclude_globs, v, kind)
	}
}

# The implementation before the segment matcher.
_old_excluding(gs, v, kind) := {g |
	candidates := {scopes._flat(c) | some c in _old_candidates(v, kind)}
	folded := {lower(c) | some c in candidates}
	some g in gs
	_old_any_match(scopes._globstar(g), scopes._globstar(lower(g)), candidates, folded)
}

_old_any_match(pattern, _, candidates, _) if {
	some c in candidates
	glob.match(pattern, ["/"], c)
}

_old_any_match(_, folded_pattern, _, folded) if {
	some c in folded
	glob.match(folded_pattern, ["/"], c)
}

_old_candidates(v, "path") := paths.prefixes(v)

_old_candidates(v, "repo") := paths.prefixes(split(v, "#")[0]) | {v}

_old_candidates(v, "text") := {v}
