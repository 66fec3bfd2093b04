// QUICKSTART / DEVELOPMENT ONLY: `mcpgate dev-idp` runs a real OpenID Provider
// (oidc-provider) shaped like Okta, Entra ID or a generic RFC 9068 issuer, and
// `mcpgate dev-token` mints user tokens from it through its real token endpoint. The
// gateway verifies these tokens exactly as it verifies production IdP tokens.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCommand, UsageError, type CommandSpec } from '../../src/util/command-spec.js';
import { unreachableText } from '../../src/util/unreachable.js';
import {
  DEV_IDP_PROFILES,
  requestUserToken,
  startDevIdp,
  type DevIdpProfile,
  type DevUser,
} from './index.js';

/**
 * Who may sign in to the gateway's console at this IdP, and with which groups and roles
 * (any other login signs in with none). Any password is accepted: development only.
 */
export const DEV_CONSOLE_USERS: Record<string, DevUser> = {
  alice: { groups: ['engineering'] },
  olive: { groups: ['oncall'] },
  carol: { roles: ['mcpgate.approver', 'mcpgate.admin'] },
};

/** What `dev-idp` leaves for `dev-token`: where to ask, and the dev grant's secret. */
interface DevIdpState {
  issuer: string;
  profile: DevIdpProfile;
  token_endpoint: string;
  audience: string;
  minter_secret: string;
}

export const DEFAULT_STATE_DIR = 'examples/quickstart/.state';

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const STATE_DIR_OPTION = {
  type: 'string',
  value: 'DIR',
  default: DEFAULT_STATE_DIR,
  help: "where dev-idp keeps its signing keys and tells dev-token where to ask (dev-idp.json, the dev grant's secret)",
} as const;

export const DEV_IDP_SPEC = {
  name: 'dev-idp',
  summary: 'DEVELOPMENT ONLY: run a real OpenID Provider that mints tokens for the gateway',
  options: {
    port: { type: 'string', value: 'PORT', default: '8081', help: 'the port to listen on' },
    host: { type: 'string', value: 'HOST', default: '127.0.0.1', help: 'the address to listen on' },
    profile: {
      type: 'string',
      value: 'NAME',
      default: 'okta',
      help: `the issuer to imitate: ${DEV_IDP_PROFILES.join(', ')}`,
    },
    audience: {
      type: 'string',
      value: 'URL',
      default: 'http://127.0.0.1:8080/mcp',
      help: "the tokens' audience: the gateway's MCP endpoint",
    },
    'state-dir': STATE_DIR_OPTION,
  },
  details: [
    'An oidc-provider shaped like the chosen IdP (discovery, JWKS, token endpoint), for the quickstart and local development: it issues tokens to anyone who asks through dev-token. Never point a production gateway at it.',
    'It also signs people in to the gateway console (client mcpgate-console, redirect <audience origin>/console/callback) with any login and any password: carol has the roles mcpgate.approver and mcpgate.admin, alice the group engineering, olive the group oncall.',
  ],
  example: ['mcpgate dev-idp --port 8081 --profile okta --audience http://127.0.0.1:8080/mcp'],
} as const satisfies CommandSpec;

export const DEV_TOKEN_SPEC = {
  name: 'dev-token',
  summary: 'DEVELOPMENT ONLY: mint a user access token from the running dev-idp',
  options: {
    user: { type: 'string', value: 'NAME', required: true, help: "the user (the token's subject)" },
    groups: { type: 'string', value: 'a,b', help: "the user's groups, comma-separated" },
    roles: {
      type: 'string',
      value: 'a,b',
      help: "the user's roles, comma-separated (mcpgate.admin may use `mcpgate sessions`)",
    },
    scopes: {
      type: 'string',
      value: 'a,b',
      default: 'mcp:tools',
      help: "the token's scopes, comma-separated",
    },
    'client-id': {
      type: 'string',
      value: 'ID',
      defaultText: 'mcpgate-dev-client',
      help: 'the client the token is issued to',
    },
    ttl: { type: 'string', value: 'SECONDS', default: '3600', help: 'lifetime, 1 to 86400' },
    'state-dir': STATE_DIR_OPTION,
  },
  details: ['Prints the token on stdout, nothing else, so it can be captured in a variable.'],
  example: ['TOKEN=$(mcpgate dev-token --user alice --groups engineering)'],
} as const satisfies CommandSpec;

export async function devIdpCommand(args: string[]): Promise<number> {
  const { values } = parseCommand(DEV_IDP_SPEC, args);
  const profile = values.profile as DevIdpProfile;
  if (!DEV_IDP_PROFILES.includes(profile)) {
    throw new UsageError(
      DEV_IDP_SPEC.name,
      `--profile must be one of ${DEV_IDP_PROFILES.join(', ')}`,
    );
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(DEV_IDP_SPEC.name, '--port must be a whole number from 0 to 65535');
  }
  const stateDir = values['state-dir'];
  mkdirSync(stateDir, { recursive: true });
  const statePath = join(stateDir, 'dev-idp.json');
  let minterSecret: string | undefined;
  try {
    minterSecret = (JSON.parse(readFileSync(statePath, 'utf8')) as DevIdpState).minter_secret;
  } catch {
    minterSecret = undefined;
  }
  const idp = await startDevIdp({
    host: values.host,
    port,
    issuers: [{ profile }],
    audience: values.audience,
    keyFile: join(stateDir, 'dev-idp-keys.json'),
    ...(minterSecret ? { minterSecret } : {}),
    console: {
      redirectUris: [new URL('/console/callback', values.audience).href],
      users: DEV_CONSOLE_USERS,
    },
  });
  const issuer = idp.issuer(profile);
  const state: DevIdpState = {
    issuer: issuer.issuer,
    profile,
    token_endpoint: issuer.tokenEndpoint,
    audience: values.audience,
    minter_secret: idp.minterSecret,
  };
  writeFileSync(statePath, JSON.stringify(state, null, 2), { mode: 0o600 });
  chmodSync(statePath, 0o600);
  console.error(
    JSON.stringify({
      level: 'info',
      message: 'dev IdP listening (development only)',
      issuer: issuer.issuer,
      profile,
    }),
  );
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void idp.stop().then(() => process.exit(0));
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stop);
  return new Promise<number>(() => undefined);
}

export async function devTokenCommand(args: string[]): Promise<number> {
  const { values } = parseCommand(DEV_TOKEN_SPEC, args);
  if (values.user === undefined) return 2; // parseCommand refused it
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0 || ttl > 86_400) {
    throw new UsageError(
      DEV_TOKEN_SPEC.name,
      '--ttl must be a whole number of seconds between 1 and 86400',
    );
  }
  const statePath = join(values['state-dir'], 'dev-idp.json');
  let state: DevIdpState;
  try {
    state = JSON.parse(readFileSync(statePath, 'utf8')) as DevIdpState;
  } catch {
    console.error(
      `no dev IdP state at ${statePath}: start it first (\`mcpgate dev-idp\`, or \`npm run quickstart\`)`,
    );
    return 2;
  }
  let token: string;
  try {
    token = await requestUserToken(state.token_endpoint, state.minter_secret, {
      user: values.user,
      groups: list(values.groups),
      roles: list(values.roles),
      scopes: list(values.scopes),
      ttlSeconds: ttl,
      audience: state.audience,
      ...(values['client-id'] ? { clientId: values['client-id'] } : {}),
    });
  } catch (err) {
    if (!(err instanceof TypeError)) throw err; // the IdP's refusal says why itself
    console.error(
      `${unreachableText('the dev IdP', state.token_endpoint, err)} (start it with \`npm run quickstart\` or \`mcpgate dev-idp\`)`,
    );
    return 1;
  }
  console.log(token);
  return 0;
}
