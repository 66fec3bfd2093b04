# What upstreams ask of a session's client (sampling/createMessage,
# elicitation/create, roots/list) and which upstreams' log messages a session
# receives (notifications/message): the profile engine's rules on profiles
# written for each test, and the shipped code-review purpose.
package mcp.asks_test

import data.mcp.authz
import data.mcp.profiles
import data.mcp.testing.fixtures as fx

# A profile "t" for purpose "p": echo of everything allowed, and `extra`.
profile(extra) := {"t": object.union(
	{"session": {"purpose": "p"}, "tools": {"everything.echo": {"allowed": true}}},
	extra,
)}

in_p(inp) := fx.with_purpose(inp, "p")

decide(ps, inp) := d if {
	d := authz.decision with input as inp with data.profiles as ps with data.mcp.purposes as {}
}

visible(ps, inp) := v if {
	v := authz.visible with input as inp with data.profiles as ps with data.mcp.purposes as {}
}

# --- elicitation and roots: upstreams the purpose uses ---------------------------

test_elicitation_by_a_server_the_purpose_uses if {
	d := decide(profile({}), in_p(fx.elicitation_form("everything")))
	d.allow
	d.reasons == ["allowed by purpose p"]
	decide(profile({}), in_p(fx.elicitation_url("everything", "https://idp.example/consent"))).allow
}

test_elicitation_by_a_server_the_purpose_does_not_use if {
	d := decide(profile({}), in_p(fx.elicitation_form("github")))
	not d.allow
	d.reasons == ["upstream github may not ask for elicitation/create: purpose p allows none of its tools"]
}

# A tool the profile refuses does not make its server used.
test_a_refused_tool_does_not_count_as_used if {
	ps := profile({"tools": {"everything.echo": {"allowed": false}}})
	not decide(ps, in_p(fx.elicitation_form("everything"))).allow
}

test_configured_roots if {
	decide(profile({}), in_p(fx.roots_from("everything", "config", ["file:///srv/repo"]))).allow
	d := decide(profile({}), in_p(fx.roots_from("github", "config", [])))
	d.reasons == ["upstream github may not ask for roots/list: purpose p allows none of its tools"]
}

test_client_roots_never_reach_a_server_whose_sandbox_they_set if {
	ps := profile({"tools": {"filesystem.read_file": {"allowed": true}}})
	decide(ps, in_p(fx.roots_from("filesystem", "config", ["file:///srv/repo"]))).allow
	d := decide(ps, in_p(fx.roots_from("filesystem", "client", [])))
	not d.allow
	d.reasons == ["upstream filesystem takes the roots it is given as its sandbox, so a client's roots would widen it; configure its roots (upstreams.filesystem.roots) instead"]
	decide(profile({}), in_p(fx.roots_from("everything", "client", []))).allow
}

test_asks_follow_membership_and_ttl if {
	ps := {"t": {
		"session": {"purpose": "p", "allowed_groups": ["sre"], "ttl": 60},
		"tools": {"everything.echo": {"allowed": true}},
	}}
	d := decide(ps, in_p(fx.elicitation_form("everything")))
	not d.allow
	"p needs membership in the group sre" in d.reasons
	member := fx.with_identity(in_p(fx.elicitation_form("everything")), fx.okta_user(["sre"], []))
	decide(ps, member).allow
	old := fx.with_age(member, 61)
	not decide(ps, old).allow
}

# --- sampling: only where the purpose allows it -----------------------------------

test_sampling_is_refused_unless_the_profile_allows_it if {
	d := decide(profile({}), in_p(fx.sampling("everything", 100, [])))
	not d.allow
	d.reasons == ["purpose p does not let upstream everything ask its client for sampling"]
	refused := profile({"sampling": {"everything": {"allowed": false, "reason": "is not trusted with the model"}}})
	decide(refused, in_p(fx.sampling("everything", 100, []))).reasons == ["sampling by upstream everything is not trusted with the model"]
}

test_sampling_allowed_within_its_limits if {
	ps := profile({"sampling": {"everything": {"allowed": true, "max_tokens": 500}}})
	decide(ps, in_p(fx.sampling("everything", 500, []))).allow
	d := decide(ps, in_p(fx.sampling("everything", 501, [])))
	not d.allow
	d.reasons == ["sampling by upstream everything asks for 501 tokens; purpose p allows at most 500"]
	with_tools := decide(ps, in_p(fx.sampling("everything", 10, ["search", "fetch"])))
	with_tools.reasons == ["sampling by upstream everything offers the model tools (search, fetch); purpose p does not allow tools in sampling"]
	tools_ok := profile({"sampling": {"everything": {"allowed": true, "tools": true}}})
	decide(tools_ok, in_p(fx.sampling("everything", 100000, ["search"]))).allow
	not decide(ps, in_p(fx.sampling("github", 10, []))).allow
}

test_a_malformed_sampling_table_is_a_profile_problem if {
	profiles.problems("t") == {"profile t is malformed: sampling must be an object of upstream server names"} with data.profiles as profile({"sampling": ["everything"]})
	profiles.problems("t") == {
		"profile t is malformed: sampling.a must be an object such as {allowed: true}",
		"profile t is malformed: sampling.b.allowed must be true or false",
		"profile t is malformed: sampling.c.max_tokens must be a positive whole number of tokens",
		"profile t is malformed: sampling.c.tools must be true or false",
		"profile t is malformed: sampling.c.reason must be a non-empty string",
		"profile t is malformed: unknown field sampling.c.model",
	} with data.profiles as profile({"sampling": {
		"a": true,
		"b": {},
		"c": {"allowed": true, "max_tokens": 0, "tools": "yes", "reason": "", "model": "x"},
	}})
	count(profiles.problems("t")) == 0 with data.profiles as profile({"sampling": {"everything": {"allowed": true}}})
	not decide(profile({"sampling": []}), in_p(fx.elicitation_form("everything"))).allow
}

# --- the core: malformed inputs and the fallback reason ---------------------------

test_an_ask_without_its_upstream_is_malformed if {
	inp := object.remove(in_p(fx.elicitation_form("everything")), ["upstream"])
	"malformed request: elicitation/create without upstream" in decide(profile({}), inp).reasons
}

test_the_fallback_reason_names_the_upstream if {
	rego_purpose := {"q": {"purpose": "q"}}
	d := authz.decision with input as fx.with_purpose(fx.sampling("everything", 10, []), "q")
		with data.profiles as {}
		with data.mcp.purposes as rego_purpose
	d.reasons == ["purpose q has no rule that allows sampling/createMessage by upstream everything"]
}

# --- log messages over shared connections ------------------------------------------

test_log_messages_of_the_servers_the_purpose_uses if {
	visible(profile({}), in_p(fx.log_sources(["everything", "github", "filesystem"]))) == {"everything"}
	outsider := {"t": {
		"session": {"purpose": "p", "allowed_groups": ["sre"]},
		"tools": {"everything.echo": {"allowed": true}},
	}}
	visible(outsider, in_p(fx.log_sources(["everything"]))) == set()
	decide(profile({}), in_p(fx.log_sources(["everything"]))).allow
}

# --- the shipped code-review purpose ------------------------------------------------

test_code_review_lets_its_servers_ask_for_input_but_not_for_sampling if {
	authz.decision.allow with input as fx.elicitation_form("everything")
	authz.decision.allow with input as fx.roots_from("filesystem", "config", ["file:///srv/repo/src"])
	authz.decision.reasons == ["purpose code-review does not let upstream everything ask its client for sampling"] with input as fx.sampling("everything", 100, [])
	not authz.decision.allow with input as fx.roots_from("filesystem", "client", [])
	not authz.decision.allow with input as fx.elicitation_form("database")
	not authz.decision.allow with input as fx.as_app(fx.elicitation_form("everything"))
	authz.visible == {"everything", "filesystem"} with input as fx.log_sources(["everything", "filesystem", "database"])
}
