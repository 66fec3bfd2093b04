# METADATA
# title: Behaviour signals
# description: |
#   What the shipped policy does with input.behaviour, the signals the
#   gateway works out for every decided call of a session
#   (docs/continuous-verification.md). mcp.authz applies these rules to the
#   purposes that opt in: those listed in data.behaviour.purposes ("*" for
#   all), and those with a baseline in data.baselines (mcpgate baseline
#   learn), whose ratios then mean something. Agents differ too much for one
#   rate to suit every purpose unasked: a coding agent may read thirty files
#   a minute. The thresholds are the constants below.
#     - a call rate spike: throttled, then refused, then the session ended;
#     - a runaway loop (the same call with the same arguments again and
#       again): refused, then the session ended;
#     - probing (many recent calls denied): the session ended;
#     - a session far older than its purpose's p95 duration: the user must
#       authenticate again (step_up);
#     - calls unlike the purpose's baseline (new pairs of tools, tools the
#       purpose never used): an alert for a person to look at.
# scope: package
# schemas:
#   - input: schema.input
package mcp.lib.behaviour

import data.mcp.lib.text

# Calls per minute at which a session is slowed down, refused, ended.
throttle_per_min := 15

refuse_per_min := 30

terminate_per_min := 60

# How long a throttled call waits.
throttle_delay_ms := 500

# A baseline's p95 rate times this slows a session down too.
throttle_ratio := 3

# Identical recent calls (same target and arguments) that make a loop.
loop_repeats := 4

terminate_repeats := 8

# Denied calls among the recent history that make probing.
probing_denials := 5

# A session this many times older than its purpose's p95 duration needs a
# fresh authentication (not older than fresh_auth_s).
stale_age_ratio := 3

fresh_auth_s := 900

# Novelty that raises an alert.
alert_novel_ngrams := 3

alert_novel_tools := 2

_b := input.behaviour

default _decided_call := false

_decided_call if {
	_call_action
	_watched
}

# A comparison per action rather than membership in a set literal, which the
# wasm evaluator would build on every evaluation.
default _call_action := false

_call_action if input.action == "tools/call"

_call_action if input.action == "resources/read"

_call_action if input.action == "prompts/get"

# The session's purpose opted in: listed, "*" listed, or with a baseline.
default _watched := false

_watched if input.session.purpose in data.behaviour.purposes

_watched if "*" in data.behaviour.purposes

# The gateway found a baseline for the purpose in data.baselines.
_watched if input.behaviour.baseline == true

_target := input.tool.id if {
	input.action == "tools/call"
} else := input.resource.id if {
	input.action == "resources/read"
} else := input.prompt.id if {
	input.action == "prompts/get"
}

denials contains reason if {
	_decided_call
	_b.calls_1m > refuse_per_min
	reason := concat("", [
		"call rate spike: ", format_int(_b.calls_1m, 10), " calls in the last minute (at most ",
		format_int(refuse_per_min, 10), "); slow down",
	])
}

denials contains reason if {
	_decided_call
	_b.repeats >= loop_repeats
	reason := concat("", [
		"runaway loop: ", _target, " was called with these same arguments ",
		format_int(_b.repeats, 10), " times among the recent calls; change the approach instead of repeating it",
	])
}

denials contains reason if {
	_decided_call
	_b.denied_recent >= probing_denials
	reason := concat("", [
		"probing: ", format_int(_b.denied_recent, 10),
		" of the recent calls were denied; the session is ended",
	])
}

terminate contains true if {
	_decided_call
	_b.calls_1m > terminate_per_min
}

terminate contains true if {
	_decided_call
	_b.repeats >= terminate_repeats
}

terminate contains true if {
	_decided_call
	_b.denied_recent >= probing_denials
}

throttle contains {"delay_ms": throttle_delay_ms} if {
	_decided_call
	_b.calls_1m > throttle_per_min
}

throttle contains {"delay_ms": throttle_delay_ms} if {
	_decided_call
	_b.rate_ratio >= throttle_ratio
	_b.calls_1m > 5
}

alerts contains reason if {
	_decided_call
	_b.calls_1m > throttle_per_min
	reason := concat("", ["call rate ", format_int(_b.calls_1m, 10), " per minute"])
}

alerts contains reason if {
	_decided_call
	_b.novel_ngrams >= alert_novel_ngrams
	reason := concat("", [
		format_int(_b.novel_ngrams, 10), " calls in an order the purpose's baseline never saw (last ",
		text.show(_b.ngram), ")",
	])
}

alerts contains reason if {
	_decided_call
	_b.novel_tools >= alert_novel_tools
	reason := concat("", [
		format_int(_b.novel_tools, 10), " tools the purpose's baseline never used",
	])
}

alerts contains reason if {
	_decided_call
	some reason in denials
}

_auth_age_s := (input.request.time_ns / 1000000000) - input.identity.auth_time

default _fresh_auth := false

_fresh_auth if _auth_age_s <= fresh_auth_s

step_up contains {
	"reason": concat("", [
		"this session is older than ", format_int(stale_age_ratio, 10),
		" times its purpose's usual (p95) duration; authenticate again to go on",
	]),
	"max_age_s": fresh_auth_s,
} if {
	_decided_call
	_b.age_ratio >= stale_age_ratio
	not _fresh_auth
}
