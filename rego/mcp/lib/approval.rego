# METADATA
# title: Human approval of destructive tools
# description: |
#   Which tool calls need a person's approval before they run (the
#   require_approval obligation), and the obligation the shipped purposes
#   attach. A tool is destructive when its server annotates it
#   destructiveHint: true, or when it is listed in destructive_tools: policy
#   data for servers whose annotations are missing or untrusted (annotations
#   can only tighten, so a tool annotated non-destructive but listed here
#   still needs approval).
# scope: package
# schemas:
#   - input: schema.input
package mcp.lib.approval

# --- Configuration: what a security team edits ------------------------------

# Tool ids (server.name) that always need approval, whatever their server says.
destructive_tools := {
	"filesystem.write_file",
	"filesystem.edit_file",
	"filesystem.move_file",
	"filesystem.create_directory",
	"github.merge_pull_request",
}

# Who may approve: any one role or group admits (compared exactly with
# identity.roles and identity.groups). The requester never may (self: false):
# four eyes.
approvers := {"roles": ["mcpgate.approver"], "groups": []}

# Seconds a call waits for its approval (the gateway caps it at
# approvals.max_timeout_s).
timeout_s := 600

# --- Rules ------------------------------------------------------------------

# The called tool is destructive.
default destructive := false

destructive if input.tool.id in destructive_tools

destructive if input.tool.annotations.destructiveHint == true

# The obligation for a destructive tools/call, with the reason the approver
# and the caller read.
obligation := {
	"reason": concat("", [input.tool.id, " ", _why, "; a second person must approve this call"]),
	"approvers": approvers,
	"self": false,
	"timeout_s": timeout_s,
} if {
	input.action == "tools/call"
	destructive
}

_why := "is listed as destructive" if {
	input.tool.id in destructive_tools
} else := "is annotated destructiveHint: true"

# A catalog item (tools/list) is destructive by the same rule.
destructive_item(item) if item.id in destructive_tools

destructive_item(item) if item.annotations.destructiveHint == true
