# Runs every case in cases.json through the policy, so the cases the
# gateway's runner checks against the wasm build are also checked by opa.
# `opa test rego/` loads rego/tests/cases.json at data.tests: a JSON file's
# content lands at its directory's path, so the array is data.tests.cases.
package mcp.cases_test

import data.mcp.authz

cases := data.tests.cases

# The result a case's entrypoint gives for its input.
result(c) := authz.decision if {
	c.entrypoint == "mcp/authz/decision"
} else := sort(authz.visible) if {
	c.entrypoint == "mcp/authz/visible"
}

passes(c) if {
	c.entrypoint == "mcp/authz/decision"
	d := result(c) with input as c.input
	d.allow == c.expect.allow
	every fragment in object.get(c.expect, "reasons_include", []) {
		some reason in d.reasons
		contains(reason, fragment)
	}
}

passes(c) if {
	c.entrypoint == "mcp/authz/visible"
	v := result(c) with input as c.input
	v == c.expect.visible
}

failures contains {"name": c.name, "expect": c.expect, "got": got} if {
	some c in cases
	not passes(c)
	got := object.get({"r": result(c)}, "r", "undefined") with input as c.input
}

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

test_cases_loaded if count(cases) > 0

test_answers_cover_every_case if count(answers) == count(cases)

test_all_cases_pass if {
	print("failing cases:", failures)
	count(failures) == 0
}

test_case_names_unique if {
	names := {c.name | some c in cases}
	count(names) == count(cases)
}

# Every deny must explain itself, and every case must say what it expects.
test_denials_carry_reasons if {
	silent := [c.name |
		some c in cases
		c.entrypoint == "mcp/authz/decision"
		d := authz.decision with input as c.input
		not d.allow
		count(d.reasons) == 0
	]
	print("denied without reasons:", silent)
	count(silent) == 0
}

test_deny_cases_name_a_reason if {
	vague := [c.name |
		some c in cases
		c.expect.allow == false
		count(object.get(c.expect, "reasons_include", [])) == 0
	]
	count(vague) == 0
}

# Grants and refusals are written separately; if they drifted apart, a
# request would be refused with only the core's generic fallback reason.
test_grants_and_refusals_agree if {
	generic := [c.name |
		some c in cases
		c.entrypoint == "mcp/authz/decision"
		d := authz.decision with input as c.input
		some reason in d.reasons
		contains(reason, "has no rule that allows")
	]
	print("refused only by the fallback:", generic)
	count(generic) == 0
}
