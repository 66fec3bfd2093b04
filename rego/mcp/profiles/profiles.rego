# METADATA
# title: Purpose profiles
# description: |
#   The engine that turns a purpose profile, a YAML (or JSON) data file under
#   rego/profiles/<name>/, into a purpose. OPA loads profiles/<name>/data.yaml
#   at data.profiles.<name>; the profile whose session.purpose equals
#   input.session.purpose governs the session (see rego/README.md for the
#   format). This package offers the same rules as a purpose package (allow,
#   deny, visible) for mcp.authz to use, plus session_ttl_s for session/open.
#   It reads a profile; it never needs to change for a new one.
# scope: package
# schemas:
#   - input: schema.input
package mcp.profiles

import data.mcp.lib.findings
import data.mcp.lib.history
import data.mcp.lib.identity
import data.mcp.lib.paths
import data.mcp.lib.scopes
import data.mcp.lib.text
import data.mcp.lib.tools

# --- Configuration: which argument a scope applies to ------------------------

# When a tool's entry has a scope (or exclude) but no scope_arg, the scope
# applies to these arguments, by server and then by tool name; "*" stands for
# every other tool of the server. A tool found nowhere has no scope argument,
# so a scope on it refuses every call until the profile sets scope_arg.
default_scope_args := {
	"filesystem": {
		"*": ["path"],
		"read_multiple_files": ["paths[]"],
		"move_file": ["source", "destination"],
		"list_allowed_directories": [],
	},
	"github": {"*": ["repo"]},
	"database": {"query": ["query"]},
}

# How a scope argument is read and checked, by server and argument name. Any
# argument not listed here is a path. The argument is a non-empty string, or
# for "name[]" a non-empty list of them, each value checked.
#   path  no path tricks (lib/paths), inside the scope, and no exclude
#         matching it or a directory above it
#   repo  "owner/repo", built from the arguments owner and repo, with
#         "#<number>" added from pull_number or issue_number when one is given
#   text  inside the scope and no exclude matching it, as it is
arg_kinds := {
	"github": {"repo": "repo"},
	"database": {"query": "text"},
}

# Servers that take the roots their client gives them as their sandbox (the
# reference filesystem server replaces its allowed directories with them): a
# client's roots are never passed to them (upstreams.<name>.roots: client is
# refused); their configured roots, or none, are.
roots_set_sandbox := {"filesystem"}

# The fields a profile may have. Any other field is refused as a likely typo:
# a misspelt "exclude" must not quietly widen what a purpose allows.
profile_fields := {"session", "tools", "sampling"}

session_fields := object.keys(_session_checks)

tool_fields := object.keys(_tool_checks)

# --- Which profile governs ----------------------------------------------------

default all_profiles := {}

# Every profile, by its directory name under rego/profiles.
all_profiles := data.profiles if is_object(data.profiles)

session_purpose := p if {
	p := input.session.purpose
	is_string(p)
	p != ""
}

# Profiles whose session.purpose is this session's purpose. mcp.authz refuses
# the request when more than one policy (profile or Rego package) claims it.
default claiming := set()

claiming := names if {
	names := data.mcpgate.prepared.claims[session_purpose]
} else := claiming_of(session_purpose)

# The profiles that claim purpose; none for an empty purpose, as for a
# session without one (session_purpose is undefined then).
claiming_of(purpose) := {name |
	some name, p in all_profiles
	p.session.purpose == purpose
} if purpose != ""

claiming_of("") := set()

# The profile read below: the only one claiming the session purpose.
current := name if {
	count(claiming) == 1
	some name in claiming
}

profile := all_profiles[current]

purpose := session_purpose if current

_tools := _tools_of(profile)

_tools_of(p) := t if {
	t := p.tools
	is_object(t)
} else := {}

_strings_or_empty(x) := x if _string_list(x)

_strings_or_empty(x) := [] if not _string_list(x)

# The governing profile's membership lists, ttl and members text (see
# _prepare_profile): prepared by the gateway at load, or worked out now.
_allowed_groups := _profile.allowed_groups

_allowed_roles := _profile.allowed_roles

ttl := _profile.ttl

_members_text := _profile.members_text

# The governing profile uses only pinned tools, prompts and resources
# (session.require_pinned: true): mcp.authz hides and refuses the others
# (mcp.lib.trust).
default require_pinned := false

require_pinned if profile.session.require_pinned == true

_groups_of(p) := _strings_or_empty(object.get(p.session, "allowed_groups", []))

_roles_of(p) := _strings_or_empty(object.get(p.session, "allowed_roles", []))

# --- The called tool ------------------------------------------------------------

# The called tool's entry in the profile; undefined when it is not listed.
entry := _tools[input.tool.id] if input.action == "tools/call"

# What the profile alone says about the called tool (see "Prepared once per
# bundle" below): prepared by the gateway at load, or worked out now.
_tool := t if {
	input.action == "tools/call"
	t := data.mcpgate.prepared.profiles[current].tools[input.tool.id]
} else := _prepare_tool(current, _tools, input.tool.id, entry)

default _listed := false

_listed if _tool

# A listed tool the profile allows.
default _granted_tool := false

_granted_tool if _tool.granted

# A granted tool with a scope or an exclude.
default _scoped := false

_scoped if _tool.scoped

# The scope as reasons show it; undefined when a glob is not valid.
_scope_text := _tool.scope_text

# The entry's globs prepared for matching (scopes.plan); undefined, as the
# globs are, when one is not valid, so nothing matches.
_scope_plans := _tool.scope_plans

_exclude_plans := _tool.exclude_plans

_requires := r if {
	_granted_tool
	r := object.get(entry, "requires", [])
	is_array(r)
}

# The arguments the scope applies to: scope_arg, or the defaults above. An
# argument written "name[]" holds a list, each element of which is checked.
scope_args := [entry.scope_arg] if is_string(entry.scope_arg)

scope_args := entry.scope_arg if is_array(entry.scope_arg)

scope_args := _default_args(input.tool.server, input.tool.name) if {
	input.action == "tools/call"
	not "scope_arg" in _tool.fields
}

_default_args(server, name) := args if {
	args := default_scope_args[server][name]
} else := args if {
	args := default_scope_args[server]["*"]
} else := []

# arg_name("paths[]") is "paths"; is_list_arg("paths[]") holds.
arg_name(arg) := trim_suffix(arg, "[]")

is_list_arg(arg) if endswith(arg, "[]")

arg_kind(arg) := object.get(arg_kinds, [input.tool.server, arg_name(arg)], "path")

# The kind of each scope argument, worked out once per request for the rules
# below (a function is worked out again on every call).
_kinds[arg] := arg_kind(arg) if some arg in scope_args

# Every value the scope applies to, as {where, value, raw, kind}: where names
# it in reasons ("path", "paths[1]", "repo"); raw is the value as the client
# wrote it, value what the scope and excludes are matched against: for a path
# its fact (lib/paths: "./src/a.ts" is "src/a.ts"), for other kinds raw as it
# is. Only well-formed values appear; the ones that are not are refused by
# _argument_problems.
scope_values contains {"where": arg, "value": _fact(v, kind), "raw": v, "kind": kind} if {
	_scoped
	some arg in scope_args
	not is_list_arg(arg)
	kind := _kinds[arg]
	kind != "repo"
	v := tools.argument(arg)
	tools.non_empty_string(v)
}

scope_values contains {"where": concat("", [name, "[", format_int(i, 10), "]"]), "value": _fact(v, kind), "raw": v, "kind": kind} if {
	_scoped
	some arg in scope_args
	is_list_arg(arg)
	name := arg_name(arg)
	kind := _kinds[arg]
	kind != "repo"
	some i, v in _list_argument(name)
	tools.non_empty_string(v)
}

scope_values contains {"where": arg, "value": _repo_value, "raw": _repo_value, "kind": "repo"} if {
	_scoped
	some arg in scope_args
	not is_list_arg(arg)
	_kinds[arg] == "repo"
}

_fact(v, "path") := paths.fact(v, _served_roots)

_fact(v, kind) := v if kind != "path"

# The directories the called tool's server serves, when the policy knows them.
_served_roots := object.get(paths.served_roots, input.tool.server, [])

# How a reason names a value: as the client wrote it, and what it was read as
# when that differs ("./src/a.ts" (read as "src/a.ts")).
shown(v) := text.quote(v.raw) if v.raw == v.value

else := concat("", [text.quote(v.raw), " (read as ", text.quote(v.value), ")"])

_list_argument(name) := v if {
	v := tools.argument(name)
	is_array(v)
}

# --- Grants -------------------------------------------------------------------

# Grants prove the request good on their own; deny below explains each way it
# is not. mcp.authz allows only with a grant and no denial.
default allow := false

allow if {
	input.action == "tools/call"
	_usable
	not _expired
	_granted_tool
	count(entry_problems) == 0
	_arguments_ok
	every required in _requires {
		history.called(required)
	}
}

allow if {
	tools.is_list_action
	_usable
	not _expired
}

allow if {
	input.action == "session/open"
	_usable
}

# Ending a resource subscription only stops what the session is told, so any
# session the profile admits may do it (what it subscribes to, and whether an
# update reaches it, is decided by the rules about resources).
allow if {
	input.action == "resources/unsubscribe"
	_usable
	not _expired
}

# The result of a call this session was allowed to make: the profile says
# nothing against it (what the result holds is for extensions to judge, on
# input.result.findings).
allow if {
	findings.is_result_action
	_usable
	not _expired
}

# A well-formed profile that admits this caller.
default _usable := false

_usable if {
	count(profile_problems) == 0
	admits
}

# Whether the profile's session.allowed_groups and allowed_roles admit the
# caller. A profile with neither admits every caller.
default admits := false

admits if {
	count(_allowed_groups) == 0
	count(_allowed_roles) == 0
}

admits if identity.member(_allowed_groups, _allowed_roles)

default _expired := false

_expired if {
	input.action != "session/open"
	input.session.age_s > ttl
}

default _arguments_ok := false

_arguments_ok if not _scoped

_arguments_ok if {
	_scoped
	count(scope_args) > 0
	every arg in scope_args {
		_argument_ok(arg, _kinds[arg])
	}
}

_argument_ok(arg, kind) if {
	not is_list_arg(arg)
	kind != "repo"
	v := tools.argument(arg)
	tools.non_empty_string(v)
	_value_ok(v, kind)
}

_argument_ok(arg, kind) if {
	is_list_arg(arg)
	kind != "repo"
	vs := _list_argument(arg_name(arg))
	count(vs) > 0
	every v in vs {
		tools.non_empty_string(v)
		_value_ok(v, kind)
	}
}

_argument_ok(arg, "repo") if {
	not is_list_arg(arg)
	_value_ok(_repo_value, "repo")
}

_value_ok(v, kind) if {
	v in _in_scope_values
	count(_exclusions[[v, kind]]) == 0
	_clean(v, kind)
}

# Whether each scope value is inside the scope, and the excludes matching it,
# worked out once per request for allow and deny alike, by raw value and from
# its fact. A value missing here is neither in scope nor free of excludes, so
# it is refused.
_in_scope_values contains v.raw if {
	some v in scope_values
	_in_scope(v.value)
}

_exclusions[[v.raw, v.kind]] := {p.glob | some p in scopes.excluding_plans(plans, v.value, v.kind)} if {
	plans := _exclude_plans
	some v in scope_values
}

# What in each path as written could change its target (lib/paths), once per
# request.
_path_tricks[v.raw] := paths.target_tricks(v.raw, _served_roots) if {
	some v in scope_values
	v.kind == "path"
}

_in_scope(_) if not "scope" in _tool.fields

_in_scope(v) if scopes.matches_any_plan(_scope_plans, v)

_clean(v, "path") if count(_path_tricks[v]) == 0

_clean(_, "repo")

_clean(_, "text")

# Lists show the tools the profile allows; whether a call passes depends on its
# arguments and history. Resources and prompts are not part of a profile.
visible contains item.id if {
	_usable
	some item in input.catalog
	item.kind == "tool"
	_tools[item.id].allowed == true
	_entry_ok(item.id)
}

# At session/open, the instructions of the servers whose tools the profile
# allows: a session is told how to use the servers it may use, and nothing
# about the others.
visible contains item.id if {
	input.action == "session/open"
	_usable
	some item in input.catalog
	item.kind == "instruction"
	item.server in _servers_used
}

_servers_used contains tools.server_of(id) if {
	some id, e in _tools
	e.allowed == true
}

# session/open returns the profile's ttl as the obligation session_ttl_s.
session_ttl_s contains ttl if input.action == "session/open"

# --- What upstreams ask of the session's client ----------------------------------

# The upstream asking (input.upstream.server), for sampling/createMessage,
# elicitation/create and roots/list.
_asking := input.upstream.server if tools.is_ask_action

# Elicitation and roots: an upstream the purpose uses (it allows one of its
# tools) may ask; a client's roots never reach a server whose sandbox they set.
allow if {
	input.action in {"elicitation/create", "roots/list"}
	_usable
	not _expired
	_asking in _servers_used
	not _client_roots_refused
}

# Sampling: only an upstream the profile's sampling table allows, within the
# entry's limits.
allow if {
	input.action == "sampling/createMessage"
	_usable
	not _expired
	_sampling_entry.allowed == true
	count(_sampling_problems) == 0
}

default _client_roots_refused := false

_client_roots_refused if {
	input.action == "roots/list"
	input.roots.from == "client"
	_asking in roots_set_sandbox
}

deny contains reason if {
	input.action in {"elicitation/create", "roots/list"}
	not _asking in _servers_used
	reason := concat("", [
		"upstream ", _asking, " may not ask for ", input.action,
		": purpose ", purpose, " allows none of its tools",
	])
}

deny contains reason if {
	_client_roots_refused
	reason := concat("", [
		"upstream ", _asking, " takes the roots it is given as its sandbox, so a client's roots would widen it",
		"; configure its roots (upstreams.", _asking, ".roots) instead",
	])
}

# The governing profile's sampling table: upstream server -> entry.
_sampling_table := t if {
	t := profile.sampling
	is_object(t)
} else := {}

_sampling_entry := _sampling_table[_asking] if input.action == "sampling/createMessage"

deny contains reason if {
	input.action == "sampling/createMessage"
	not _sampling_entry.allowed == true
	reason := _sampling_refusal
}

deny contains reason if some reason in _sampling_problems

_sampling_refusal := concat(" ", ["sampling by upstream", _asking, _sampling_entry.reason]) if {
	tools.non_empty_string(_sampling_entry.reason)
} else := concat("", ["purpose ", purpose, " does not let upstream ", _asking, " ask its client for sampling"])

# What an allowed upstream's sampling request may not do.
_sampling_problems contains reason if {
	_sampling_entry.allowed == true
	limit := _sampling_entry.max_tokens
	input.sampling.max_tokens > limit
	reason := concat("", [
		"sampling by upstream ", _asking, " asks for ", format_int(input.sampling.max_tokens, 10),
		" tokens; purpose ", purpose, " allows at most ", format_int(limit, 10),
	])
}

_sampling_problems contains reason if {
	_sampling_entry.allowed == true
	count(input.sampling.tools) > 0
	not _sampling_entry.tools == true
	reason := concat("", [
		"sampling by upstream ", _asking, " offers the model tools (",
		concat(", ", input.sampling.tools), "); purpose ", purpose, " does not allow tools in sampling",
	])
}

# Which upstreams' log messages reach the session over shared connections
# (notifications/message): those of the servers the purpose uses.
allow if {
	input.action == "notifications/message"
	_usable
	not _expired
}

visible contains item.id if {
	input.action == "notifications/message"
	_usable
	some item in input.catalog
	item.kind == "log"
	item.server in _servers_used
}

# --- Refusals ---------------------------------------------------------------------

deny contains reason if some reason in profile_problems

deny contains reason if some reason in entry_problems

deny contains reason if {
	not admits
	not _overage_applies
	reason := concat("", [purpose, " needs membership in ", _members_text])
}

# Entra leaves groups out of a token when a user has too many. If the gateway
# could not resolve them, membership is unknown: the fix is configuration, not
# joining a group. A role still admits the user.
deny contains reason if {
	not admits
	_overage_applies
	reason := identity.overage_reason(_roles_text(_allowed_roles))
}

deny contains reason if {
	_expired
	reason := concat("", [
		"this session is older than ", format_int(ttl, 10),
		" s, the ttl of purpose ", purpose, "; open a new session",
	])
}

deny contains reason if {
	input.action == "tools/call"
	not _listed
	reason := concat("", [input.tool.id, " is not in the ", purpose, " allow-list"])
}

deny contains reason if {
	input.action == "tools/call"
	_listed
	not _granted_tool
	reason := concat(" ", [input.tool.id, _refusal_text])
}

deny contains reason if {
	_granted_tool
	some required in _requires
	not history.called(required)
	reason := concat("", [input.tool.id, " requires ", required, " earlier in this session"])
}

deny contains reason if {
	_scoped
	count(scope_args) == 0
	reason := concat("", [
		input.tool.id, " has a scope in profile ", current,
		" but no argument to apply it to; set scope_arg",
	])
}

deny contains reason if some reason in _argument_problems

deny contains reason if {
	some v in scope_values
	not v.raw in _in_scope_values
	reason := concat("", [
		input.tool.id, ": argument ", v.where, " ", shown(v),
		" is outside scope ", _scope_text,
	])
}

deny contains reason if {
	some v in scope_values
	matched := _exclusions[[v.raw, v.kind]]
	count(matched) > 0
	reason := concat("", [
		input.tool.id, ": argument ", v.where, " ", shown(v),
		" matches exclude ", concat(", ", sort(matched)),
	])
}

deny contains reason if {
	some v in scope_values
	v.kind == "path"
	some msg in _path_tricks[v.raw]
	reason := concat("", [input.tool.id, ": argument ", v.where, " ", text.quote(v.raw), " ", msg])
}

_refusal_text := entry.reason if {
	tools.non_empty_string(entry.reason)
} else := concat("", ["is not allowed for purpose ", purpose])

default _overage_applies := false

_overage_applies if {
	count(_allowed_groups) > 0
	identity.groups_unknown
}

# How reasons name who is admitted: the profile's members_text, or the groups
# and roles themselves.
_members_text_of(p) := p.session.members_text if {
	tools.non_empty_string(p.session.members_text)
} else := concat(" or ", [t | some t in [_groups_text(_groups_of(p)), _roles_text(_roles_of(p))]; t != ""])

_groups_text(groups) := concat("", ["the group ", groups[0]]) if {
	count(groups) == 1
} else := concat("", ["one of the groups (", concat(", ", sort(groups)), ")"]) if {
	count(groups) > 1
} else := ""

_roles_text(roles) := concat("", ["the ", roles[0], " app role"]) if {
	count(roles) == 1
} else := concat("", ["one of the app roles (", concat(", ", sort(roles)), ")"]) if {
	count(roles) > 1
} else := ""

# --- Arguments ------------------------------------------------------------------

# Reasons a scope argument is missing or not usable; a tool whose scope has
# no value to check is refused, never let through.
_argument_problems contains reason if {
	_scoped
	some arg in scope_args
	not is_list_arg(arg)
	_kinds[arg] != "repo"
	not tools.non_empty_string(tools.argument(arg))
	reason := concat("", [input.tool.id, ": argument ", arg, " must be a non-empty string"])
}

_argument_problems contains reason if {
	_scoped
	some arg in scope_args
	is_list_arg(arg)
	not _non_empty_list(tools.argument(arg_name(arg)))
	reason := concat("", [input.tool.id, ": argument ", arg_name(arg), " must be a non-empty list of strings"])
}

_argument_problems contains reason if {
	_scoped
	some arg in scope_args
	is_list_arg(arg)
	some i, v in _list_argument(arg_name(arg))
	not tools.non_empty_string(v)
	reason := concat("", [input.tool.id, ": argument ", arg_name(arg), "[", format_int(i, 10), "] must be a non-empty string"])
}

# A repository scope on a list argument has no meaning: refused.
_argument_problems contains reason if {
	_scoped
	some arg in scope_args
	is_list_arg(arg)
	_kinds[arg] == "repo"
	reason := concat("", [input.tool.id, ": argument ", arg, " is a repository and cannot be a list"])
}

_argument_problems contains reason if {
	_scoped
	some arg in scope_args
	not is_list_arg(arg)
	_kinds[arg] == "repo"
	some name in ["owner", "repo"]
	not name in _github_names
	reason := concat("", [
		input.tool.id, ": argument ", name,
		" must be a GitHub name (letters, digits, \".\", \"-\", \"_\"; not \".\" or \"..\")",
	])
}

_argument_problems contains reason if {
	_scoped
	some arg in scope_args
	not is_list_arg(arg)
	_kinds[arg] == "repo"
	some name in _number_args
	not _number_text(tools.argument(name))
	reason := concat("", [input.tool.id, ": argument ", name, " must be a positive integer"])
}

_argument_problems contains reason if {
	_scoped
	some arg in scope_args
	not is_list_arg(arg)
	_kinds[arg] == "repo"
	count(_number_args) > 1
	reason := concat("", [
		input.tool.id,
		": arguments pull_number and issue_number are both given; a scope checks one number",
	])
}

_non_empty_list(x) if {
	is_array(x)
	count(x) > 0
}

# "owner/repo", and "#<number>" from pull_number or issue_number.
_repo_value := concat("", [tools.argument("owner"), "/", tools.argument("repo"), _number_suffix]) if {
	"owner" in _github_names
	"repo" in _github_names
}

# The arguments owner and repo that are GitHub names, checked once per
# request (trim over a 65-character set is not cheap in wasm).
_github_names contains name if {
	some name in ["owner", "repo"]
	_github_name(tools.argument(name))
}

_number_args := [name | some name in ["pull_number", "issue_number"]; tools.argument(name) != null]

_number_suffix := "" if count(_number_args) == 0

_number_suffix := concat("", ["#", _number_text(tools.argument(_number_args[0]))]) if count(_number_args) == 1

_number_text(n) := format_int(n, 10) if _positive_integer(n)

# These two check with trim (every character in a set) rather than
# regex.match, which the wasm evaluator compiles on every evaluation:
# _number_text accepts what ^[1-9][0-9]*$ does, _github_name what
# ^[A-Za-z0-9._-]+$ does (see profiles_test).
_number_text(n) := n if {
	is_string(n)
	n != ""
	trim(n, "0123456789") == ""
	not startswith(n, "0")
}

_github_name(x) if {
	is_string(x)
	x != ""
	trim(x, _github_chars) == ""
	not x in {".", ".."}
}

# Lower-case letters first: the wasm trim looks each character up in this set
# in order, and names are mostly lower case.
_github_chars := "abcdefghijklmnopqrstuvwxyz-0123456789_.ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_positive_integer(n) if {
	is_number(n)
	n > 0
	floor(n) == n
}

_string_list(x) if {
	is_array(x)
	every s in x {
		tools.non_empty_string(s)
	}
}

# --- Checking a profile ------------------------------------------------------------

# A malformed profile fails closed, with a reason naming the mistake, so it
# shows at once instead of widening or narrowing a rule unnoticed: a mistake
# in the profile as a whole (its fields, its session) refuses every request
# of its purpose; a mistake in a tool's entry refuses calls to that tool and
# hides it from lists. Only what a request needs is checked for it; the
# tests check every shipped profile as a whole with problems(name).

# problems(name) is every problem of profile name; empty for a good one.
problems(name) := _named(name, _profile_problems(all_profiles[name]) | {msg |
	table := object.get(all_profiles[name], "tools", {})
	is_object(table)
	some id, e in table
	some msg in _tool_problems(table, id, e)
})

# The problems of the governing profile as a whole, and of the called tool's
# entry: prepared by the gateway at load, or worked out once per request.
profile_problems := _profile.problems

entry_problems := _tool.problems

_entry_ok(id) if count(_tool_problems_of(id)) == 0

_tool_problems_of(id) := ps if {
	ps := data.mcpgate.prepared.profiles[current].tools[id].problems
} else := _named(current, _tool_problems(_tools, id, _tools[id]))

_profile := p if {
	p := data.mcpgate.prepared.profiles[current]
} else := _prepare_profile(current, profile)

# --- Prepared once per bundle ---------------------------------------------------

# What depends on the profiles alone (their problems, the fields of each tool
# entry, its scope and exclude globs as plans for scopes and as reasons show
# them) for every profile and tool. The wasm evaluator keeps nothing from one
# evaluation to the next, so the gateway evaluates data.mcp.authz.prepare
# once when it loads a bundle (refusing the bundle if any profile has a
# problem) and puts prepared at data.mcpgate.prepared.profiles; the rules
# above read the governing profile's and the called tool's values from there.
# Where they are missing (opa test, OPA's Go evaluator, a bundle built
# without that entrypoint) the rules work out the same values per request
# with the same functions.
prepared[name] := object.union(_prepare_profile(name, p), {"tools": {id: _prepare_tool(name, table, id, e) |
	some id, e in table
}}) if {
	some name, p in all_profiles
	table := _tools_of(p)
}

# Every problem of every profile, for the gateway to refuse the bundle with.
all_problems contains msg if {
	some name, _ in all_profiles
	some msg in problems(name)
}

# One profile's values; a key whose value would be undefined (no valid ttl,
# lists or members text of a malformed session) is left out.
_prepare_profile(name, p) := object.union_n([
	{"problems": _named(name, _profile_problems(p))},
	{"allowed_groups": v | v := _groups_of(p)},
	{"allowed_roles": v | v := _roles_of(p)},
	{"ttl": v | v := p.session.ttl; _positive_integer(v)},
	{"members_text": v | v := _members_text_of(p)},
])

# Profile names by the purpose they claim, for claiming.
prepared_claims[purpose] := sort(claiming_of(purpose)) if {
	some _, p in all_profiles
	purpose := p.session.purpose
	is_string(purpose)
}

# One tool's values; a key whose value would be undefined (a glob that is
# not valid, the fields of an entry that is no object) is left out, so a rule
# reading it is undefined, as it would be without preparing.
_prepare_tool(name, table, id, e) := object.union_n([
	{"problems": _named(name, _tool_problems(table, id, e))},
	{"fields": v | v := object.keys(e)},
	{"granted": true | e.allowed == true},
	{"scoped": true | e.allowed == true; _has_scope(e)},
	{"scope_text": v | v := concat(", ", scopes.globs(e.scope))},
	{"scope_plans": v | v := _plans(scopes.globs(e.scope))},
	{"exclude_plans": v | v := _plans(_exclude_globs(e))},
])

_plans(globs) := [scopes.plan(g) | some g in globs]

_has_scope(e) if "scope" in object.keys(e)

_has_scope(e) if "exclude" in object.keys(e)

_exclude_globs(e) := scopes.globs(e.exclude) if "exclude" in object.keys(e)

_exclude_globs(e) := [] if not "exclude" in object.keys(e)

_named(name, msgs) := {concat("", ["profile ", name, " is malformed: ", msg]) | some msg in msgs}

_profile_problems(p) := {"it must be an object with session and tools"} if {
	not is_object(p)
} else := ((_unknown_fields(p, profile_fields, "") | _session_problems(p)) | {"tools must be an object of tool ids" |
	"tools" in object.keys(p)
	not is_object(p.tools)
}) | _sampling_table_problems(p)

# sampling: upstream server name -> {allowed, max_tokens, tools, reason}.
_sampling_checks := {
	"allowed": "boolean",
	"max_tokens": "ttl",
	"tools": "boolean",
	"reason": "string",
}

_sampling_table_problems(p) := set() if {
	not "sampling" in object.keys(p)
} else := {"sampling must be an object of upstream server names" | not is_object(p.sampling)} if {
	not is_object(p.sampling)
} else := {msg |
	some server, e in p.sampling
	some msg in _sampling_entry_problems(server, e)
}

_sampling_entry_problems(server, e) := {concat("", ["sampling.", server, " must be an object such as {allowed: true}"])} if {
	not is_object(e)
} else := (_unknown_fields(e, object.keys(_sampling_checks), concat("", ["sampling.", server, "."])) | {msg |
	some field, value in e
	check := _sampling_checks[field]
	not _field_ok(check, value)
	msg := concat("", ["sampling.", server, ".", field, " ", _sampling_messages[check]])
}) | {concat("", ["sampling.", server, ".allowed must be true or false"]) | not "allowed" in object.keys(e)}

_sampling_messages := object.union(_field_messages, {"ttl": "must be a positive whole number of tokens"})

_unknown_fields(obj, known, prefix) := {concat("", ["unknown field ", prefix, key]) |
	some key, _ in obj
	not key in known
}

# The check each field must pass, by field; see _field_ok.
_session_checks := {
	"purpose": "string",
	"ttl": "ttl",
	"allowed_groups": "strings",
	"allowed_roles": "strings",
	"members_text": "string",
	"require_pinned": "boolean",
}

_tool_checks := {
	"allowed": "boolean",
	"scope": "globs",
	"exclude": "globs",
	"scope_arg": "names",
	"requires": "tool_ids",
	"reason": "string",
}

_session_problems(p) := {"session must be an object with purpose"} if {
	not is_object(object.get(p, "session", null))
} else := (_unknown_fields(p.session, session_fields, "session.") | {msg |
	some field, value in p.session
	check := _session_checks[field]
	not _field_ok(check, value)
	msg := concat("", ["session.", field, " ", _field_messages[check]])
}) | {"session.purpose must be a non-empty string" | not "purpose" in object.keys(p.session)}

_tool_problems(table, id, e) := {concat("", ["tools.", id, " must be an object such as {allowed: true}"])} if {
	not is_object(e)
} else := (_unknown_fields(e, tool_fields, concat("", ["tools.", id, "."])) | _entry_problems(id, e)) | _requires_problems(table, id, e)

_entry_problems(id, e) := ({msg |
	some field, value in e
	check := _tool_checks[field]
	not _field_ok(check, value)
	msg := concat("", ["tools.", id, ".", field, " ", _field_messages[check]])
} | {concat("", ["tools.", id, ".allowed must be true or false"]) | not "allowed" in object.keys(e)}) | {concat("", ["tool id ", id, " must be server.name"]) | not tools.is_tool_id(id)}

# A required tool the profile does not allow could never have been called in
# this purpose, so the requiring tool could never be called either.
_requires_problems(table, id, e) := {msg |
	e.allowed == true
	required_ids := object.get(e, "requires", [])
	is_array(required_ids)
	some required in required_ids
	is_string(required)
	not table[required].allowed == true
	msg := concat("", ["tools.", id, ".requires names ", required, ", which the profile does not allow"])
}

_field_messages := {
	"string": "must be a non-empty string",
	"ttl": "must be a positive whole number of seconds",
	"strings": "must be a list of non-empty strings",
	"boolean": "must be true or false",
	"globs": "must be a glob or a non-empty list of globs (no backslashes, nested braces, parentheses or dollar signs)",
	"names": "must be an argument name or a non-empty list of them",
	"tool_ids": "must be a list of tool ids (server.name)",
}

_field_ok("string", x) if tools.non_empty_string(x)

_field_ok("ttl", x) if _positive_integer(x)

_field_ok("strings", x) if _string_list(x)

_field_ok("boolean", x) if is_boolean(x)

_field_ok("globs", x) if scopes.globs(x)

_field_ok("names", x) if tools.non_empty_string(x)

_field_ok("names", x) if {
	_string_list(x)
	count(x) > 0
}

_field_ok("tool_ids", x) if {
	is_array(x)
	every id in x {
		tools.is_tool_id(id)
	}
}
