// mcpgate's public API: what the benchmark, embedders and tools import as `mcpgate` (the
// package's only export). Everything else under dist/ is internal and may move.
export { startGateway, type RunningGateway } from './gateway.js';
export { loadConfigFile, parseConfig, ConfigError, type GatewayConfig } from '../config/load.js';
export { createLogger, silentLogger, type Logger } from '../util/logger.js';
export { GATEWAY_VERSION } from '../util/version.js';
export {
  PolicyEngine,
  PolicyEvalError,
  DECISION_ENTRYPOINT,
  VISIBLE_ENTRYPOINT,
  type MemoryLimits,
} from '../policy/engine.js';
export { readBundleFile, parseBundle, DEFAULT_MAX_BUNDLE_BYTES } from '../policy/bundle/read.js';
export {
  decide,
  decideVisible,
  serialiseFor,
  type DecisionEvaluation,
  type VisibleEvaluation,
} from '../policy/decide.js';
export type { Decision, Obligations } from '../policy/decision.js';
export {
  buildInput,
  buildAdminInput,
  hypotheticalSession,
  policyInputJson,
  type PolicyInput,
  type PolicyAction,
  type InputTarget,
  type RequestFacts,
} from '../policy/input.js';
export { MemoryStore } from '../sessions/memory-store.js';
export { ARGS_DIGEST_HEX, type HistoryEntry } from '../sessions/session.js';
export type { LoadedSession, SessionRecord, SessionStore } from '../sessions/store.js';
// The guardrails' parts, for the benchmark (bench/lib/guardrails-worker.mjs).
export { ArgumentSchemas } from '../pipeline/stages/validate-arguments.js';
export { Walker, DEFAULT_WALK_LIMITS } from '../inspect/walk.js';
export { builtInDetectors } from '../inspect/detectors.js';
// Tool trust, for the benchmark (bench/lib/trust-worker.mjs).
export { Catalog, type ItemTrust, type ServerCatalog } from '../upstreams/catalog.js';
export { assessLists } from '../upstreams/trust/assess.js';
export { fingerprint } from '../upstreams/trust/fingerprint.js';
export { NO_PINS, parsePins, type Pins } from '../upstreams/trust/pins.js';
export { TrustFactCache } from '../policy/trust-facts.js';
// Continuous verification, for the benchmark (bench/lib/continuous-worker.mjs).
export { behaviourOf, parseBaselines, NO_BASELINES } from '../policy/behaviour.js';
export { sketchOf, resultTexts, argumentProvenance } from '../inspect/provenance.js';
export { minuteOf } from '../sessions/store.js';
