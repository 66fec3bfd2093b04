# Runs every case in cases.json through the policy, so the cases the
# gateway's runner checks against the wasm build are also checked by opa.
#
# `opa test -v` and `opa test --coverage` trace every evaluation step, which
# makes a decision some ten times slower, and each test must finish within
# opa test's timeout (5s by default). So the cases run in chunks of
# chunk_size, one test per chunk; test_chunks_cover_every_case fails when
# the corpus outgrows the chunk tests (add test_cases_NN rules then).
# `opa test rego/` loads rego/tests/cases.json at data.tests: a JSON file's
# content lands at its directory's path, so the array is data.tests.cases.
package mcp.cases_test

import data.mcp.authz

cases := data.tests.cases

chunk_size := 20

# Every case's result from OPA's Go evaluator, by case name, for the gateway's
# runner to compare with the wasm build: `opa eval -d rego
# data.mcp.cases_test.answers`. It has to be a rule in a module: in an ad hoc
# query, `with input as c.input` inside a comprehension is not applied
# (OPA 1.22), so every case would see an empty input.
answers[c.name] := {"decision": d, "visible": v} if {
	some c in cases
	d := authz.decision with input as c.input
	v := authz.visible with input as c.input
}

# case_problems(c) is the set of ways case c fails; empty when it passes.
case_problems(c) := ps if {
	c.entrypoint == "mcp/authz/decision"
	d := authz.decision with input as c.input
	ps := _decision_problems(c, d)
} else := ps if {
	c.entrypoint == "mcp/authz/visible"
	v := authz.visible with input as c.input
	ps := {concat("", ["visible is ", json.marshal(sort(v)), ", expected ", json.marshal(sort(c.expect.visible))]) |
		sort(v) != sort(c.expect.visible)
	}
} else := {"unknown entrypoint"}

_decision_problems(c, d) := ((({concat("", ["allow is ", json.marshal(d.allow), "; reasons ", json.marshal(d.reasons)]) |
	d.allow != c.expect.allow
} | {concat("", ["no reason contains ", json.marshal(fragment), "; reasons ", json.marshal(d.reasons)]) |
	some fragment in object.get(c.expect, "reasons_include", [])
	not _mentions(d.reasons, fragment)
}) | {concat("", ["obligation ", key, " is ", json.marshal(object.get(d.obligations, key, "(absent)")), ", expected ", json.marshal(value)]) |
	# The gateway's runner does not read obligations_include; it compares
	# the whole decision, obligations included, with this evaluator's.
	some key, value in object.get(c.expect, "obligations_include", {})
	object.get(d.obligations, key, "(absent)") != value
}) | {"denied without a reason" |
	# Every deny must explain itself.
	d.allow == false
	count(d.reasons) == 0
}) | {concat("", ["refused by the core's fallback reason only: ", reason]) |
	# Grants and refusals are written separately; if they drifted apart, a
	# request would be refused with only the core's generic fallback
	# reason. Its one intended use: resources and prompts under a profile
	# that no Rego package extends (profiles hold tools only).
	some reason in d.reasons
	contains(reason, "has no rule that allows")
	not _profile_without_rego(c.input)
}

_mentions(reasons, fragment) if {
	some reason in reasons
	contains(reason, fragment)
}

# (An extension that grants nothing, such as documentation's, which only
# redacts results, does not count.)
_profile_without_rego(inp) if {
	inp.action in {"resources/read", "prompts/get"}
	authz.governing_profile with input as inp
	extensions := authz.extensions with input as inp
	every name in extensions {
		not _grants_anything(name)
	}
}

_grants_anything(name) if "allow" in object.keys(data.mcp.purposes[name])

# chunk_passes(k) holds when every case of the k-th chunk passes.
chunk_passes(k) if {
	failing := {c.name: problems |
		some c in array.slice(cases, k * chunk_size, (k + 1) * chunk_size)
		problems := case_problems(c)
		count(problems) > 0
	}
	print("failing cases:", failing)
	count(failing) == 0
}

test_cases_loaded if count(cases) > 0

test_chunks_cover_every_case if count(cases) <= 25 * chunk_size

test_cases_00 if chunk_passes(0)

test_cases_01 if chunk_passes(1)

test_cases_02 if chunk_passes(2)

test_cases_03 if chunk_passes(3)

test_cases_04 if chunk_passes(4)

test_cases_05 if chunk_passes(5)

test_cases_06 if chunk_passes(6)

test_cases_07 if chunk_passes(7)

test_cases_08 if chunk_passes(8)

test_cases_09 if chunk_passes(9)

test_cases_10 if chunk_passes(10)

test_cases_11 if chunk_passes(11)

test_cases_12 if chunk_passes(12)

test_cases_13 if chunk_passes(13)

test_cases_14 if chunk_passes(14)

test_cases_15 if chunk_passes(15)

test_cases_16 if chunk_passes(16)

test_cases_17 if chunk_passes(17)

test_cases_18 if chunk_passes(18)

test_cases_19 if chunk_passes(19)

test_cases_20 if chunk_passes(20)

test_cases_21 if chunk_passes(21)

test_cases_22 if chunk_passes(22)

test_cases_23 if chunk_passes(23)

test_cases_24 if chunk_passes(24)

# The answers rule itself, on one case (all of them would take too long
# traced; the gateway's runner reports a case without an answer).
test_answers_have_decision_and_visible if {
	one := [c | some c in cases; c.name == "read_file: nested ts under src"]
	a := answers with data.tests.cases as one
	a["read_file: nested ts under src"].decision.allow == true
	a["read_file: nested ts under src"].visible == set()
}

test_case_names_unique if {
	names := {c.name | some c in cases}
	count(names) == count(cases)
}

test_deny_cases_name_a_reason if {
	vague := [c.name |
		some c in cases
		c.expect.allow == false
		count(object.get(c.expect, "reasons_include", [])) == 0
	]
	count(vague) == 0
}

# A failing case is reported with what went wrong.
test_case_problems_explain if {
	c := {
		"name": "x", "entrypoint": "mcp/authz/decision",
		"input": {"session": {"purpose": "nobody"}},
		"expect": {"allow": true, "reasons_include": ["zzz"], "obligations_include": {"rate_limit": 1}},
	}
	case_problems(c) == {
		`allow is false; reasons ["no policy for purpose nobody"]`,
		`no reason contains "zzz"; reasons ["no policy for purpose nobody"]`,
		"obligation rate_limit is null, expected 1",
	}
	v := {"name": "y", "entrypoint": "mcp/authz/visible", "input": {}, "expect": {"visible": ["a"]}}
	case_problems(v) == {`visible is [], expected ["a"]`}
	case_problems({"name": "z", "entrypoint": "other"}) == {"unknown entrypoint"}
}

# Grants and refusals must agree: a grant nobody makes, with no reason to
# refuse, leaves only the fallback, which the corpus must never show.
test_fallback_only_for_resources_under_profiles if {
	quiet := {"quiet": {"purpose": "quiet"}}
	c := {
		"name": "q", "entrypoint": "mcp/authz/decision",
		"input": {"action": "tools/list", "session": {"purpose": "quiet"}},
		"expect": {"allow": false, "reasons_include": ["has no rule"]},
	}
	case_problems(c) == {"refused by the core's fallback reason only: purpose quiet has no rule that allows tools/list"} with data.mcp.purposes as quiet
}
