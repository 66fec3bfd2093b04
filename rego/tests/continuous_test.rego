package mcp.continuous_test

import data.mcp.authz
import data.mcp.lib.behaviour
import data.mcp.lib.flow
import data.mcp.testing.fixtures as fx

# --- helpers -------------------------------------------------------------------

# A purpose with a baseline: the behaviour rules apply.
quiet := {
	"calls_1m": 1,
	"calls_10m": 1,
	"baseline": true,
	"rate_ratio": 0.1,
	"age_ratio": 0.1,
	"ngram": "",
	"ngram_novel": false,
	"novel_ngrams": 0,
	"novel_tools": 0,
	"tool_set_drift": 0,
	"denied": 0,
	"denied_recent": 0,
	"repeats": 0,
}

# A code-review call of everything.echo (which the profile allows) with these
# behaviour facts, annotations and session labels.
echo_with(facts, annotations, labels) := object.union(
	fx.call_annotated("everything", "echo", {"message": "hi"}, annotations),
	{
		"behaviour": object.union(quiet, facts),
		"session": object.union(fx.session("code-review"), {"labels": labels, "finding_counts": {}}),
	},
)

echo(facts) := echo_with(facts, fx.read_only, [])

# everything.echo made a sink (open world), in a session with these labels.
sink(labels) := echo_with({}, {"readOnlyHint": true, "openWorldHint": true}, labels)

read_src := fx.call("filesystem", "read_text_file", {"path": "src/app.ts"})

provenance(label, fraction) := {"args_from_results": {
	"fraction": fraction,
	"matched": 9,
	"argument": "/message",
	"labels": [label],
	"by_label": {label: fraction},
}}

# --- flow labels -------------------------------------------------------------------

test_source_labels_from_data if {
	d := authz.decision with input as read_src with data.flow.sources as {"filesystem.read_text_file": ["private"]}
	d.allow
	d.obligations.label_session == ["private"]
	flow.source_labels == {"private"} with input as read_src with data.flow.sources as {"filesystem.read_text_file": ["private"]}
}

test_open_world_results_are_untrusted if {
	flow.source_labels == {"untrusted"} with input as sink([])
	d := authz.decision with input as sink([])
	d.allow
	d.obligations.label_session == ["untrusted"]
}

test_no_labels_no_label_obligation if {
	d := authz.decision with input as read_src
	d.allow
	not "label_session" in object.keys(d.obligations)
}

test_a_denied_call_labels_nothing if {
	denied := fx.call("filesystem", "read_text_file", {"path": ".env"})
	d := authz.decision with input as denied with data.flow.sources as {"filesystem.read_text_file": ["private"]}
	not d.allow
	not "label_session" in object.keys(d.obligations)
}

test_sinks if {
	flow.is_sink with input as sink([])
	not flow.is_sink with input as echo({})
	flow.is_sink with input as echo({}) with data.flow.sinks as ["everything.echo"]
	not flow.is_sink with input as object.union(sink([]), {"action": "tools/result"})
}

test_secret_in_session_refuses_sinks if {
	d := authz.decision with input as sink(["secret"])
	not d.allow
	some reason in d.reasons
	contains(reason, "secret data entered this session")
	authz.decision.allow with input as echo_with({}, fx.read_only, ["secret"])
}

test_private_in_session_needs_approval_for_sinks if {
	d := authz.decision with input as sink(["private"])
	d.allow
	contains(d.obligations.require_approval.reason, "private data entered this session")
	d.obligations.require_approval.self == false
	d.obligations.require_approval.approvers.roles == ["mcpgate.approver"]
	authz.decision.obligations.require_approval == null with input as sink([])
}

test_arguments_carrying_private_text_refused_on_sinks if {
	inp := object.union(sink([]), {"behaviour": object.union(quiet, provenance("private", 0.9))})
	d := authz.decision with input as inp
	not d.allow
	some reason in d.reasons
	contains(reason, "carry text from a result labelled private (argument /message, 90% of it)")
	flow.carried == {"private"} with input as inp
}

test_arguments_below_the_threshold_pass if {
	inp := object.union(sink([]), {"behaviour": object.union(quiet, provenance("private", 0.3))})
	authz.decision.allow with input as inp
	count(flow.carried) == 0 with input as inp
}

test_untrusted_text_may_go_out if {
	inp := object.union(sink([]), {"behaviour": object.union(quiet, provenance("untrusted", 1))})
	authz.decision.allow with input as inp
}

test_injection_then_destructive_needs_approval if {
	destructive := echo_with({}, {"destructiveHint": true}, ["injection"])
	flow.is_destructive with input as destructive
	d := authz.decision with input as destructive
	contains(flow.approvals[_].reason, "injected instructions were seen") with input as destructive
	listed := echo_with({}, fx.read_only, ["injection"])
	flow.is_destructive with input as listed with data.mcp.lib.approval.destructive_tools as {"everything.echo"}
	not flow.is_destructive with input as echo_with({}, fx.read_only, [])
	d.obligations.require_approval != null
}

# --- behaviour --------------------------------------------------------------------

test_quiet_session_untouched if {
	d := authz.decision with input as echo({})
	d.allow
	not "throttle" in object.keys(d.obligations)
	not "alert" in object.keys(d.obligations)
	d.obligations.terminate_session == false
}

test_rate_throttled_then_refused_then_ended if {
	slow := authz.decision with input as echo({"calls_1m": 16, "calls_10m": 16})
	slow.allow
	slow.obligations.throttle == {"delay_ms": 500}
	slow.obligations.alert == ["call rate 16 per minute"]
	refused := authz.decision with input as echo({"calls_1m": 31, "calls_10m": 31})
	not refused.allow
	"call rate spike: 31 calls in the last minute (at most 30); slow down" in refused.reasons
	refused.obligations.terminate_session == false
	ended := authz.decision with input as echo({"calls_1m": 61, "calls_10m": 61})
	ended.obligations.terminate_session == true
}

test_rate_against_the_baseline if {
	d := authz.decision with input as echo({"calls_1m": 9, "baseline": true, "rate_ratio": 4.5, "age_ratio": 0.1})
	d.allow
	d.obligations.throttle == {"delay_ms": 500}
	quiet_ratio := authz.decision with input as echo({"calls_1m": 4, "baseline": true, "rate_ratio": 4, "age_ratio": 0.1})
	not "throttle" in object.keys(quiet_ratio.obligations)
}

test_runaway_loop if {
	d := authz.decision with input as echo({"repeats": 4})
	not d.allow
	some reason in d.reasons
	startswith(reason, "runaway loop: everything.echo was called with these same arguments 4 times")
	d.obligations.terminate_session == false
	authz.decision.obligations.terminate_session with input as echo({"repeats": 8})
	authz.decision.allow with input as echo({"repeats": 3})
}

test_probing_ends_the_session if {
	d := authz.decision with input as echo({"denied": 5, "denied_recent": 5})
	not d.allow
	d.obligations.terminate_session
	"probing: 5 of the recent calls were denied; the session is ended" in d.reasons
	contains(concat(" ", d.obligations.alert), "probing")
	authz.decision.allow with input as echo({"denied": 9, "denied_recent": 4})
}

test_stale_session_steps_up if {
	old := echo({"baseline": true, "rate_ratio": 0.2, "age_ratio": 3.5})
	d := authz.decision with input as old
	d.allow
	contains(d.obligations.step_up.reason, "authenticate again")
	d.obligations.step_up.max_age_s == 900

	# A user who signed in within the last 15 minutes is not asked again.
	fresh := object.union(old, {"identity": object.union(fx.identity("user"), {"auth_time": 1767225000})})
	not "step_up" in object.keys(authz.decision.obligations) with input as fresh
	stale := object.union(old, {"identity": object.union(fx.identity("user"), {"auth_time": 1767200000})})
	"step_up" in object.keys(authz.decision.obligations) with input as stale
}

test_novelty_alerts if {
	d := authz.decision with input as echo({"baseline": true, "rate_ratio": 0.2, "age_ratio": 0.1, "ngram": "a.b>everything.echo", "ngram_novel": true, "novel_ngrams": 3, "novel_tools": 2, "tool_set_drift": 0.5})
	d.allow
	d.obligations.alert == [
		"2 tools the purpose's baseline never used",
		"3 calls in an order the purpose's baseline never saw (last a.b>everything.echo)",
	]
}

test_behaviour_applies_to_reads_and_prompts if {
	read := object.union(fx.read("docs", "file:///a.md"), {"behaviour": object.union(quiet, {"repeats": 4})})
	some reason in behaviour.denials with input as read
	contains(reason, "docs:file:///a.md")
}

test_results_are_not_decided_on_behaviour if {
	result := object.union(echo({"calls_1m": 99, "repeats": 9}), {"action": "tools/result", "result": {"findings": [], "findings_dropped": 0, "bytes": 1, "is_error": false, "inspectors": {}}})
	count(behaviour.denials) == 0 with input as result
	count(behaviour.terminate) == 0 with input as result
}

test_a_purpose_may_add_throttle_alert_and_step_up if {
	d := authz.decision with input as echo({})
		with data.mcp.purposes.code_review.throttle as {{"delay_ms": 100}}
		with data.mcp.purposes.code_review.alert as {"watch this", 7}
		with data.mcp.purposes.code_review.step_up as {{"reason": "sign in again"}}
	d.allow
	d.obligations.throttle == {"delay_ms": 100}
	d.obligations.alert == ["watch this"]
	d.obligations.step_up == {"reason": "sign in again"}
}

test_behaviour_rules_apply_only_where_a_purpose_opted_in if {
	spike := {"calls_1m": 99, "baseline": false, "rate_ratio": null, "age_ratio": null}
	unwatched := object.union(echo({}), {"behaviour": object.remove(object.union(quiet, spike), ["rate_ratio", "age_ratio"])})
	authz.decision.allow with input as unwatched
	not authz.decision.allow with input as unwatched with data.behaviour.purposes as ["code-review"]
	not authz.decision.allow with input as unwatched with data.behaviour.purposes as ["*"]
	authz.decision.allow with input as unwatched with data.behaviour.purposes as ["documentation"]
	not authz.decision.allow with input as echo({"calls_1m": 99})
}

# The item a call or its result is about, for each action that has one.
test_item_kinds if {
	every action, kind in {
		"tools/call": "tool", "tools/result": "tool",
		"resources/read": "resource", "resources/result": "resource",
		"prompts/get": "prompt", "prompts/result": "prompt",
	} {
		flow._item_kind == kind with input as {"action": action}
	}
	not flow._item_kind with input as {"action": "tools/list"}
}
