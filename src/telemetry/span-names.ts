// The names of the gateway's spans and of the attributes it sets, in one place. The MCP
// semantic conventions (status "development") name the SERVER and CLIENT spans and most
// attributes; the gateway's own steps (authentication, policy, session store) have no
// convention and carry the `mcpgate.` prefix. Guardrail spans follow a proposal upstream
// (`gen_ai.guardrail`, then what is inspected), so when it settles only this file changes.

/** `{mcp.method.name} {target}`: the target is the tool or prompt name when there is one. */
export function operationSpanName(method: string, target: string | undefined): string {
  return target === undefined ? method : `${method} ${target}`;
}

export const SPAN = {
  authenticate: 'mcpgate.authenticate',
  sessionLoad: 'mcpgate.session_store.load',
  sessionRecord: 'mcpgate.session_store.record',
  sessionCreate: 'mcpgate.session_store.create',
  policyEvaluate: 'mcpgate.policy.evaluate',
  policyVisible: 'mcpgate.policy.visible',
  /** Proposed upstream (gen_ai.guardrail); the inspection of a call's arguments and result. */
  guardrailArguments: 'gen_ai.guardrail arguments',
  guardrailResult: 'gen_ai.guardrail result',
} as const;

export const ATTR = {
  methodName: 'mcp.method.name',
  sessionId: 'mcp.session.id',
  protocolVersion: 'mcp.protocol.version',
  resourceUri: 'mcp.resource.uri',
  toolName: 'gen_ai.tool.name',
  promptName: 'gen_ai.prompt.name',
  operationName: 'gen_ai.operation.name',
  requestId: 'jsonrpc.request.id',
  rpcStatusCode: 'rpc.response.status_code',
  errorType: 'error.type',
  networkTransport: 'network.transport',
  serverAddress: 'server.address',
  upstream: 'mcpgate.upstream',
  decision: 'mcpgate.decision',
  decisionId: 'mcpgate.decision_id',
  denialCode: 'mcpgate.denial_code',
  policyRevision: 'mcpgate.policy.revision',
} as const;

/** gen_ai.operation.name of a tools/call. */
export const EXECUTE_TOOL = 'execute_tool';
/** error.type of a tool result with isError: true (the conventions' value). */
export const TOOL_ERROR = 'tool_error';
