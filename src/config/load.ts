// Loads, validates and resolves the configuration file. Every problem is reported at once,
// each with the path of the offending key, so a wrong file never half-starts a gateway.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, type RawConfig, type RawValueSource } from './schema.js';
import { resolveIssuer, type IssuerConfig } from './auth.js';
import { isUserCredential, resolveCredential, type CredentialConfig } from './credentials.js';
import { resolveAudit, resolvePolicy, type AuditConfig, type PolicyConfig } from './policy.js';
import { resolveGuardrails, type GuardrailsConfig } from './guardrails.js';
import { resolveSessions, type SessionsConfig } from './sessions.js';
import { resolveAlerts, type AlertsConfig } from './alerts.js';
import { resolveApprovals, type ApprovalsConfig } from './approvals.js';
import { resolveConsole, type ConsoleConfig } from './console.js';
import { resolveToolTrust, type ToolTrustConfig } from './tool-trust-schema.js';
import { resolveTelemetry, type TelemetryConfig } from './telemetry.js';
import { parseSecretRef, SecretError, type ValueSource } from './secrets.js';
import { McpgateError } from '../util/errors.js';

/** The default prefix is the upstream's name and this (names contain no `_`). */
export const DEFAULT_PREFIX_SEPARATOR = '__';

export class ConfigError extends McpgateError {
  static override readonly code = 'ERR_CONFIG_INVALID';
}

/**
 * Where the answer to an upstream's roots/list comes from: the configured root URIs (none
 * by default), or the session's client.
 */
export type UpstreamRoots = { from: 'config'; uris: string[] } | { from: 'client' };

/** What every upstream has, whatever its transport. */
interface UpstreamCommon {
  name: string;
  /** Put in front of its tool and prompt names (`<name>__` unless configured; may be ""). */
  prefix: string;
  isolation: 'shared' | 'per-session';
  timeoutMs: number;
  restart: { initialDelayMs: number; maxDelayMs: number };
  /** MCP ping on the shared connection every intervalMs (0: never); no answer within timeoutMs: not ready. */
  healthCheck: { intervalMs: number; timeoutMs: number };
  credential: CredentialConfig;
  roots: UpstreamRoots;
}

export interface StdioUpstreamConfig extends UpstreamCommon {
  transport: 'stdio';
  command: string;
  args: string[];
  cwd: string | undefined;
  env: Record<string, ValueSource>;
}

export interface HttpUpstreamConfig extends UpstreamCommon {
  /** Streamable HTTP, or the legacy HTTP+SSE transport (MCP 2024-11-05). */
  transport: 'http' | 'sse';
  url: string;
  headers: Record<string, ValueSource>;
}

export type UpstreamConfig = StdioUpstreamConfig | HttpUpstreamConfig;

export type { IssuerConfig } from './auth.js';

export interface GatewayConfig {
  /** Directory of the config file; relative paths in it are resolved against this. */
  baseDir: string;
  gateway: {
    id: string;
    host: string;
    port: number;
    publicUrl: string | undefined;
    allowedOrigins: string[];
    /** Host header values /mcp accepts besides the public URL and the listen address. */
    allowedHosts: string[];
    maxBodyBytes: number;
    maxJsonDepth: number;
    /** Node's HTTP server timeouts, ms: headers, the whole request, idle keep-alive. */
    headerTimeoutMs: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
    drainTimeoutMs: number;
  };
  sessions: SessionsConfig;
  /** How require_approval is carried out (docs/approvals.md). */
  approvals: ApprovalsConfig;
  /** Where the policy's alerts go besides the log (docs/continuous-verification.md). */
  alerts: AlertsConfig;
  /** The operator console at /console (docs/console.md). */
  console: ConsoleConfig;
  auth: {
    issuers: IssuerConfig[];
    clockToleranceS: number;
    maxTokenLifetimeS: number;
    requiredScopes: string[];
    scopesSupported: string[];
  };
  policy: PolicyConfig;
  audit: AuditConfig;
  telemetry: TelemetryConfig;
  guardrails: GuardrailsConfig;
  logging: { level: 'error' | 'warn' | 'info' | 'debug' };
  /** Catalog reads and checks: refresh, bounds, the registry (docs/tool-trust.md). */
  toolTrust: ToolTrustConfig;
  upstreams: UpstreamConfig[];
}

export function loadConfigFile(path: string): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(err as Error).message}`);
  }
  return parseConfig(raw, dirname(resolve(path)), path);
}

export function parseConfig(raw: unknown, baseDir: string, source = 'config'): GatewayConfig {
  const parsed = configSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new ConfigError(`${source} is invalid:\n${formatIssues(parsed.error.issues)}`);
  }
  const problems: string[] = [];
  const config = resolveConfig(parsed.data, baseDir, problems);
  if (problems.length > 0) {
    throw new ConfigError(`${source} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  return config;
}

/** Flattens zod issues; a bad record key carries its real message in nested issues. */
function flattenIssues(
  issues: z.core.$ZodIssue[],
  prefix: PropertyKey[] = [],
): Array<{ path: string; message: string }> {
  return issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_key' && issue.issues.length > 0) {
      return flattenIssues(issue.issues, path);
    }
    return [
      { path: path.length ? path.map(String).join('.') : '(top level)', message: issue.message },
    ];
  });
}

function formatIssues(issues: z.core.$ZodIssue[]): string {
  return flattenIssues(issues)
    .map((issue) => `  - ${issue.path}: ${issue.message}`)
    .join('\n');
}

function resolveConfig(raw: RawConfig, baseDir: string, problems: string[]): GatewayConfig {
  const valueSources = (
    record: Record<string, RawValueSource>,
    where: string,
  ): Record<string, ValueSource> => {
    const out: Record<string, ValueSource> = {};
    for (const [key, value] of Object.entries(record)) {
      if (typeof value !== 'string') {
        out[key] = { kind: 'literal', value: value.literal };
        continue;
      }
      try {
        out[key] = parseSecretRef(value, `${where}.${key}`, baseDir);
      } catch (err) {
        if (!(err instanceof SecretError)) throw err;
        problems.push(err.message);
      }
    }
    return out;
  };

  const upstreams: UpstreamConfig[] = Object.entries(raw.upstreams).map(([name, u]) => {
    const credential = resolveCredential(u.credential, `upstreams.${name}.credential`, baseDir);
    if (isUserCredential(credential)) {
      if (u.transport === 'stdio') {
        problems.push(
          `upstreams.${name}.credential: ${credential.type} is for http and sse upstreams (stdio children take static-secret)`,
        );
      }
      if (u.isolation !== 'per-session') {
        problems.push(
          `upstreams.${name}.isolation: the ${credential.type} credential is per user, so the upstream needs isolation: per-session`,
        );
      }
    }
    if (
      credential.type === 'static-secret' &&
      u.transport === 'stdio' &&
      credential.envVar === undefined
    ) {
      problems.push(
        `upstreams.${name}.credential.env_var: a stdio child gets its static secret in an environment variable; name it`,
      );
    }
    const common = {
      name,
      prefix: u.prefix ?? `${name}${DEFAULT_PREFIX_SEPARATOR}`,
      credential,
      isolation: u.isolation,
      roots:
        u.roots === 'client'
          ? { from: 'client' as const }
          : { from: 'config' as const, uris: u.roots ?? [] },
      timeoutMs: Math.round(u.timeout_s * 1000),
      restart: { initialDelayMs: u.restart.initial_delay_ms, maxDelayMs: u.restart.max_delay_ms },
      healthCheck: {
        intervalMs: Math.round(u.health_check.interval_s * 1000),
        timeoutMs: Math.round(u.health_check.timeout_s * 1000),
      },
    };
    if (u.transport === 'stdio') {
      return {
        ...common,
        transport: 'stdio',
        // A relative command path (./x, ../x, dir/x) is relative to the config file;
        // a bare name (node, npx) is looked up on PATH.
        command: u.command.includes('/') ? resolve(baseDir, u.command) : u.command,
        args: u.args,
        cwd: u.cwd === undefined ? undefined : resolve(baseDir, u.cwd),
        env: valueSources(u.env, `upstreams.${name}.env`),
      };
    }
    return {
      ...common,
      transport: u.transport,
      url: u.url,
      headers: valueSources(u.headers, `upstreams.${name}.headers`),
    };
  });

  const issuers = raw.auth.issuers.map((i, n) => resolveIssuer(i, baseDir, `auth.issuers.${n}`));
  const issuerNames = new Set<string>();
  for (const i of issuers) {
    if (issuerNames.has(i.label)) problems.push(`auth.issuers: issuer ${i.label} is listed twice`);
    issuerNames.add(i.label);
  }
  if (raw.auth.issuers.length === 0) {
    problems.push(
      'auth.issuers: configure at least one token issuer (every request is authenticated)',
    );
  }

  return {
    baseDir,
    gateway: {
      id: raw.gateway.id,
      host: raw.gateway.host,
      port: raw.gateway.port,
      publicUrl: raw.gateway.public_url?.replace(/\/+$/, ''),
      allowedOrigins: raw.gateway.allowed_origins,
      allowedHosts: raw.gateway.allowed_hosts,
      maxBodyBytes: raw.gateway.max_body_bytes,
      maxJsonDepth: raw.gateway.max_json_depth,
      headerTimeoutMs: Math.round(raw.gateway.header_timeout_s * 1000),
      requestTimeoutMs: Math.round(raw.gateway.request_timeout_s * 1000),
      keepAliveTimeoutMs: Math.round(raw.gateway.keep_alive_timeout_s * 1000),
      drainTimeoutMs: Math.round(raw.gateway.drain_timeout_s * 1000),
    },
    sessions: resolveSessions(raw.sessions, baseDir),
    approvals: resolveApprovals(raw.approvals, baseDir, problems),
    alerts: resolveAlerts(raw.alerts, baseDir, problems),
    console: resolveConsole(raw.console, baseDir, problems),
    auth: {
      issuers,
      clockToleranceS: raw.auth.clock_tolerance_s,
      maxTokenLifetimeS: raw.auth.max_token_lifetime_s,
      requiredScopes: raw.auth.required_scopes,
      scopesSupported: raw.auth.scopes_supported ?? raw.auth.required_scopes,
    },
    policy: resolvePolicy(raw.policy, baseDir),
    audit: resolveAudit(raw.audit, baseDir),
    telemetry: resolveTelemetry(raw.telemetry, baseDir),
    guardrails: atLeastIntakeDepth(
      resolveGuardrails(raw.guardrails, baseDir, problems),
      raw.gateway.max_json_depth,
    ),
    logging: raw.logging,
    toolTrust: resolveToolTrust(raw.tool_trust),
    upstreams,
  };
}

/**
 * Arguments the intake accepted (gateway.max_json_depth) must be inspectable: the walk's
 * depth limit is raised to the intake's when it is lower, instead of refusing such calls.
 */
function atLeastIntakeDepth(guardrails: GuardrailsConfig, maxJsonDepth: number): GuardrailsConfig {
  if (guardrails.inspection.maxDepth >= maxJsonDepth) return guardrails;
  return { ...guardrails, inspection: { ...guardrails.inspection, maxDepth: maxJsonDepth } };
}
