package mcp.lib.paths_test

import data.mcp.lib.paths
import data.mcp.lib.text

test_clean_relative_path if {
	paths.clean("src/a/b.ts")
	count(paths.tricks("src/a/b.ts")) == 0
}

test_each_trick_is_named if {
	paths.tricks("/etc/passwd") == {"is absolute"}
	paths.tricks("~/x") == {"starts with ~ (home directory)"}
	paths.tricks("C:/x") == {"starts with a drive letter"}
	paths.tricks("c:x") == {"starts with a drive letter"}
	paths.tricks("src/../x") == {"has a \"..\" segment"}
	paths.tricks("./src") == {"has a \".\" segment"}
	paths.tricks("src//a") == {"has an empty segment (// or a trailing /)"}
	paths.tricks("src/") == {"has an empty segment (// or a trailing /)"}
	paths.tricks(`src\a`) == {"contains a backslash"}
	paths.tricks("src/a\u0000.ts") == {"contains a NUL or other control character"}
	paths.tricks("src/a\n.ts") == {"contains a NUL or other control character"}
}

test_tricks_combine if {
	paths.tricks(`/a/../b\c`) == {"is absolute", "has a \"..\" segment", "contains a backslash"}
}

test_dots_inside_a_name_are_fine if {
	paths.clean("src/a..b/c.d.ts")
	paths.clean("src/.hidden/x.ts")
}

test_clean_rejects_non_strings_and_empty if {
	not paths.clean("")
	not paths.clean(42)
	not paths.clean(null)
	not paths.clean("../x")
}

test_matches_any if {
	paths.matches_any("src/a/b.ts", ["lib/*", "src/**/*.ts"])
	not paths.matches_any("src/a.ts", ["src/**/*.ts"]) # ** needs a directory here
	paths.matches_any("src/a.tsx", ["src/*.{ts,tsx}"])
	not paths.matches_any("src/a/b.ts", ["src/*.ts"]) # * stays within a segment
	not paths.matches_any("src/a.ts", [])
}

test_within if {
	paths.within("src", "src")
	paths.within("src/a/b", "src")
	not paths.within("srcx", "src")
	not paths.within("lib/src", "src")
}

test_has_segment_prefix if {
	paths.has_segment_prefix(".env", [".env"])
	paths.has_segment_prefix("src/SECRETS/x.ts", ["secrets"])
	paths.has_segment_prefix("src/.env.local", [".env"])
	not paths.has_segment_prefix("src/my.env.ts", [".env"])
	not paths.has_segment_prefix("src/mysecrets.ts", ["secrets"])
}

test_quote if {
	text.quote("src/a.ts") == `"src/a.ts"`
	text.quote(`a"b\c`) == `"a\"b\\c"`
	text.quote("a\u0000b\nc\rd\te") == `"a\0b\nc\rd\te"`
}

test_quote_clips_long_values if {
	long := concat("", [x | some _ in numbers.range(1, 130); x := "a"])
	quoted := text.quote(long)
	count(quoted) == text.max_quoted + 5
	endswith(quoted, `..."`)
}

test_show if {
	text.show("code-review") == "code-review"
	text.show("") == "(empty)"
}

# The drive-letter trick is checked with split and trim; it must hold for
# exactly the paths ^[A-Za-z]: matches.
test_drive_trick_agrees_with_its_regex if {
	every p in {"C:", "c:\\x", "z:/a", "a", "ab:", ":", ":a", "1:", "é:", "C", "C/:", "Cc:", "_:", "", "a:b:c", "[:", "{:"} {
		_drive(p) == regex.match(`^[A-Za-z]:`, p)
	}
}

_drive(p) if "starts with a drive letter" in paths.tricks(p)

_drive(p) := false if not "starts with a drive letter" in paths.tricks(p)

# The control-character trick reads json.marshal's escapes; it must hold for
# exactly the strings [\x00-\x1f\x7f] matches: every character up to U+024F
# is tried on its own, inside a path and next to backslashes (whose escapes
# it takes apart), and some others. The gateway's wasm evaluator decides the
# same on these strings (checked when the escapes were chosen: its
# json.marshal escapes control characters as Go's does). In chunks, to stay
# within opa test's timeout when traced.
test_control_trick_agrees_with_its_regex_1 if _control_agrees(0, 99)

test_control_trick_agrees_with_its_regex_2 if _control_agrees(100, 199)

test_control_trick_agrees_with_its_regex_3 if _control_agrees(200, 299)

test_control_trick_agrees_with_its_regex_4 if _control_agrees(300, 399)

test_control_trick_agrees_with_its_regex_6 if _control_agrees(400, 499)

test_control_trick_agrees_with_its_regex_7 if _control_agrees(500, 591)

test_control_trick_agrees_with_its_regex_5 if {
	every p in [`\u0000`, `\\u0001`, `a\b`, `\n`, "<>&", "\u2028", "\ufeff", "\ufffd", "😀", "a\u007fb"] {
		_control(p) == regex.match(`[\x00-\x1f\x7f]`, p)
	}
}

_control_agrees(from, to) if {
	every n in numbers.range(from, to) {
		c := _char(n)
		expected := regex.match(`[\x00-\x1f\x7f]`, c)
		every p in [c, concat("", ["src/a", c, ".ts"]), concat("", [`\`, c]), concat("", [`\\`, c]), concat("", [c, `\`])] {
			_control(p) == expected
		}
	}
}

_char(n) := json.unmarshal(concat("", [`"\u00`, _hex(n), `"`])) if n < 256

_char(n) := json.unmarshal(concat("", [`"\u`, _hex(n), `"`])) if n >= 256

_hex(n) := concat("", [_digit(floor(n / 16)), _digit(n % 16)]) if n < 256

_hex(n) := concat("", [_digit(floor(n / 4096)), _digit(floor(n / 256) % 16), _digit(floor(n / 16) % 16), _digit(n % 16)]) if n >= 256

_digit(d) := substring("0123456789abcdef", d, 1)

_control(p) if "contains a NUL or other control character" in paths.tricks(p)

_control(p) := false if not "contains a NUL or other control character" in paths.tricks(p)

# --- paths as agents write them -------------------------------------------------

test_harmless_spellings_have_the_plain_fact if {
	every raw in ["./src/a.ts", "././src/a.ts", "src/./a.ts", "src//a.ts", "src/a.ts/", ".//src///a.ts/./"] {
		paths.fact(raw, []) == "src/a.ts"
		count(paths.target_tricks(raw, [])) == 0
	}
	paths.fact("src/a.ts", []) == "src/a.ts"
	paths.fact(".", []) == "."
	paths.fact("./", []) == "."
	paths.fact("src/", []) == "src"
}

test_target_changing_spellings_are_tricks if {
	paths.target_tricks("src/../x", []) == {"has a \"..\" segment"}
	paths.target_tricks("./../x", []) == {"has a \"..\" segment"}
	paths.target_tricks(`src\x`, []) == {"contains a backslash"}
	paths.target_tricks("src/x\u0000", []) == {"contains a NUL or other control character"}
	paths.target_tricks("/etc/passwd", []) == {"is absolute"}
	paths.target_tricks("~/x", []) == {"starts with ~ (home directory)"}
	paths.target_tricks("C:/x", []) == {"starts with a drive letter"}
	every raw in ["src%2Fx", "src%2fx", "src%2f%2Fx"] {
		paths.target_tricks(raw, []) == {"contains percent-encoding %2F, which a server that decodes it reads as other characters"}
	}

	# A percent sign alone, and a name outside ASCII that looks like nothing, are fine.
	count(paths.target_tricks("src/100%.ts", [])) == 0
	count(paths.target_tricks("src/caf\u00e9/r\u00e9sum\u00e9.ts", [])) == 0
}

# Any percent-encoding, not only of separators: a server that decodes it reads
# "%73ecrets.ts" as "secrets.ts". Named as written, in upper case, each once.
test_every_percent_encoding_is_a_trick if {
	paths.target_tricks("src/%73ecrets.ts", []) == {"contains percent-encoding %73, which a server that decodes it reads as other characters"}
	paths.target_tricks("%2e%2E/x%5c%00%20.ts", []) == {"contains percent-encoding %00, %20, %2E, %5C, which a server that decodes it reads as other characters"}
	paths.target_tricks("src/%2573.ts", []) == {"contains percent-encoding %25, which a server that decodes it reads as other characters"}
	paths.target_tricks("src/%%73.ts", []) == {"contains percent-encoding %73, which a server that decodes it reads as other characters"}
	every raw in ["src/%", "src/a%", "src/a%7", "src/%g0.ts", "src/%7g.ts", "src/50%-off.ts"] {
		count(paths.target_tricks(raw, [])) == 0
	}
}

# Characters Unicode compatibility normalisation changes, from the table in
# nfkc/data.json: named by code point with the form they take.
test_compatibility_characters_are_tricks if {
	paths.target_tricks("src/\uff53ecrets.ts", []) == {`contains U+FF53, which reads as "s" in Unicode compatibility form (NFKC)`}
	paths.target_tricks("src/\ufb01le.ts", []) == {`contains U+FB01, which reads as "fi" in Unicode compatibility form (NFKC)`}
	paths.target_tricks("src/\u212aey.ts", []) == {`contains U+212A, which reads as "K" in Unicode compatibility form (NFKC)`}
	paths.target_tricks("src/a\u00a0b.ts", []) == {`contains U+00A0, which reads as " " in Unicode compatibility form (NFKC)`}
	paths.target_tricks("src/x\u00b2\u00b2.ts", []) == {`contains U+00B2, which reads as "2" in Unicode compatibility form (NFKC)`}
	paths.target_tricks("src/\uff02.ts", []) == {`contains U+FF02, which reads as "\"" in Unicode compatibility form (NFKC)`}

	# A look-alike of a separator or a dot keeps its own reason, once.
	paths.target_tricks("src\uff0fa.ts", []) == {"contains U+FF0F FULLWIDTH SOLIDUS, which looks like /"}

	# Canonical forms are not tricks: composed and decomposed accents, Cyrillic.
	count(paths.target_tricks("src/caf\u00e9/cafe\u0301/\u0455rc.ts", [])) == 0
}

# The table holds what scripts/gen-nfkc.mjs wrote; test/unit/paths-wasm.test.ts
# compares it with Node's NFKC on every character.
test_compatibility_table_is_loaded if {
	count(data.mcp.lib.nfkc.compatibility) > 4000
	data.mcp.lib.nfkc.compatibility["ｓ"] == "U+FF53 s"
}

# Windows short (8.3) names: "~" and a digit inside a segment.
test_short_names_are_tricks if {
	every raw in ["src/SECRET~1.TS", "src/secret~1.ts", "src/SECRE~12.ts", "PROGRA~1/x.ts", "src/a~9"] {
		paths.target_tricks(raw, []) == {"looks like a Windows short name (~ and a digit, as in SECRET~1.TS), which may name another file"}
	}
	paths.tricks("src/SECRET~1.TS") == {"looks like a Windows short name (~ and a digit, as in SECRET~1.TS), which may name another file"}
	every raw in ["src/a~b.ts", "src/a~.ts", "src/~/x.ts", "src/backup~"] {
		count(paths.target_tricks(raw, [])) == 0
	}
}

test_every_lookalike_is_a_trick if {
	every character, name in paths.lookalike_characters {
		paths.target_tricks(concat("", ["src", character, "x.ts"]), []) == {concat("", ["contains ", name])}
	}
	count(paths.lookalike_characters) == 13
}

# Absolute paths: read relative to a served root when they are at or below one
# (the longest, when roots nest), refused otherwise.
test_absolute_paths_below_a_served_root if {
	roots := ["/srv/repo", "/srv/repo/vendor"]
	paths.fact("/srv/repo/src/a.ts", roots) == "src/a.ts"
	paths.fact("/srv/repo/./src//a.ts", roots) == "src/a.ts"
	paths.fact("/srv/repo", roots) == "."
	paths.fact("/srv/repo/", roots) == "."
	paths.fact("/srv/repo/vendor/lib/x.ts", roots) == "lib/x.ts"
	count(paths.target_tricks("/srv/repo/src/a.ts", roots)) == 0
	paths.target_tricks("/srv/repo/../etc/passwd", roots) == {"has a \"..\" segment"}
	paths.target_tricks("/srv/repository/src/a.ts", roots) == {"is absolute"}
	paths.fact("/srv/repository/src/a.ts", roots) == "/srv/repository/src/a.ts"
	paths.target_tricks("/etc/passwd", roots) == {"is absolute"}
}

# tricks() itself stays strict: resource URIs (code_review) use it as they are.
test_tricks_still_name_dot_and_empty_segments if {
	paths.tricks("./src") == {"has a \".\" segment"}
	paths.tricks("src/") == {"has an empty segment (// or a trailing /)"}
}
