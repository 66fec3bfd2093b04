# METADATA
# title: Session history queries
# description: |
#   Questions about this session's earlier decisions. input.session.history
#   holds them oldest first, each {action, target, args_digest, allowed, at},
#   where target is a tool or prompt id (server.name) or a resource id
#   (server:uri). The gateway bounds the history, so a very old call may have
#   dropped out of it: rules built on these queries then fail closed.
# scope: package
# schemas:
#   - input: schema.input
package mcp.lib.history

# Every earlier tools/call of this session, allowed or not, oldest first.
tool_calls := [entry |
	some entry in input.session.history
	entry.action == "tools/call"
]

# called(tool_id) holds if an earlier tools/call of tool_id in this session
# was allowed. The arguments are not compared (only their digest is kept).
called(tool_id) if {
	some entry in tool_calls
	entry.target == tool_id
	entry.allowed == true
}

# call_count(tool_id) is the number of allowed earlier calls of tool_id.
call_count(tool_id) := count([entry |
	some entry in tool_calls
	entry.target == tool_id
	entry.allowed == true
])

# refused_count(tool_id) is the number of earlier calls of tool_id that were
# denied.
refused_count(tool_id) := count([entry |
	some entry in tool_calls
	entry.target == tool_id
	entry.allowed == false
])
