# METADATA
# title: Text helpers
# description: Formatting for reason strings shown to users and written to logs.
# scope: package
# schemas:
#   - input: schema.input
package mcp.lib.text

# Longest client-supplied value quoted verbatim in a reason.
max_quoted := 120

# quote(s) renders a client-supplied string for a reason: in double quotes,
# cut to max_quoted characters, with the characters that would break a log
# line or hide a path trick spelled out.
quote(s) := concat("", ["\"", _escape(_clip(s)), "\""])

_clip(s) := s if count(s) <= max_quoted

_clip(s) := concat("", [substring(s, 0, max_quoted), "..."]) if count(s) > max_quoted

_escape(s) := replace(replace(replace(replace(replace(replace(s, `\`, `\\`), "\"", `\"`), "\u0000", `\0`), "\n", `\n`), "\r", `\r`), "\t", `\t`)

# show(s) names a purpose or other gateway-supplied word, making an empty
# one visible.
show(s) := s if s != ""

show("") := "(empty)"
