# METADATA
# title: Purpose incident-response, the Rego part
# description: |
#   The profile rego/profiles/incident-response/data.yaml says what an
#   on-call session may do. This package adds the hard stop: a destructive
#   tool (mcp.lib.approval: annotated destructiveHint: true, or listed as
#   destructive) runs only once a second person approves that exact call.
# scope: package
# schemas:
#   - input: schema.input
package mcp.purposes.incident_response

import data.mcp.lib.approval
import data.mcp.profiles

extends := "incident-response"

# A destructive call the profile allows waits for a second person (a refused
# one carries no obligation).
require_approval contains approval.obligation if {
	profiles.entry.allowed == true
	count(profiles.deny) == 0
}
