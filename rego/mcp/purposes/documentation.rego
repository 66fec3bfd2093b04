# METADATA
# title: Purpose documentation, the Rego part
# description: |
#   The profile rego/profiles/documentation/data.yaml says which tools a
#   documentation session may call. This package extends it with what a
#   result may show: documentation is written for many readers, so personal
#   data (e-mail addresses, phone numbers, card numbers, IBANs, national ids)
#   in what a call brings back is redacted before the agent sees it, and so
#   are secrets.
# scope: package
# schemas:
#   - input: schema.input
package mcp.purposes.documentation

import data.mcp.lib.findings

extends := "documentation"

# The finding types redacted from results.
redacted_types := {"pii", "secret"}

redact contains id if {
	findings.is_result_action
	some t in redacted_types
	some id in findings.result_ids_of_type(t)
}
