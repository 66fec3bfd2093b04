# METADATA
# title: Session history queries
# description: |
#   Questions about this session's earlier decisions.
#   input.session.summary answers the ones about the whole session in O(1):
#   per kind of target (tools, resources, prompts), target id -> {allowed,
#   denied, last_ns}, kept by the gateway for every call of the session,
#   never trimmed (at most sessions.summary_limit targets; calls of further
#   new targets are counted in input.session.counters.untracked).
#   input.session.history holds only the most recent calls, oldest first,
#   each {action, target, args_digest, allowed, at_ns}, for rules about
#   order or arguments (tool_calls).
# scope: package
# schemas:
#   - input: schema.input
package mcp.lib.history

# The whole session's tools/call decisions: tool id -> {allowed, denied,
# last_ns}. Prompts and resources are kept apart, so a prompt with a tool's
# id never counts as a call of that tool.
_tools := input.session.summary.tools

# The most recent tools/calls of this session, allowed or not, oldest first
# (at most sessions.history_limit calls of any kind): for sequence rules and
# argument drift, never for "ever in this session" questions.
tool_calls := [entry |
	some entry in input.session.history
	entry.action == "tools/call"
]

# called(tool_id) holds if a tools/call of tool_id was allowed earlier in
# this session, however long ago. The arguments are not compared.
called(tool_id) if _tools[tool_id].allowed > 0

# call_count(tool_id) is the number of allowed earlier calls of tool_id in
# this session.
call_count(tool_id) := _tools[tool_id].allowed

call_count(tool_id) := 0 if not _tools[tool_id]

# refused_count(tool_id) is the number of earlier calls of tool_id in this
# session that were denied.
refused_count(tool_id) := _tools[tool_id].denied

refused_count(tool_id) := 0 if not _tools[tool_id]

# last_call_ns(tool_id) is when tool_id was last decided in this session
# (Unix ns, allowed or not); undefined if it never was. Compare it with
# input.request.time_ns.
last_call_ns(tool_id) := _tools[tool_id].last_ns

# complete holds while every decided call of this session is in the
# summary. Once it holds sessions.summary_limit targets, calls of new ones
# are only counted (counters.untracked): call_count and refused_count of
# such a target are then too low, and a rule that limits with them should
# deny unless complete.
complete if input.session.counters.untracked == 0
