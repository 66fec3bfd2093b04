// QUICKSTART / DEVELOPMENT ONLY: `mcpgate dev-idp` runs a real OpenID Provider
// (oidc-provider) shaped like Okta, Entra ID or a generic RFC 9068 issuer, and
// `mcpgate dev-token` mints user tokens from it through its real token endpoint. The
// gateway verifies these tokens exactly as it verifies production IdP tokens.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEV_IDP_PROFILES, requestUserToken, startDevIdp, type DevIdpProfile } from './index.js';

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

export async function devIdpCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string', default: '8081' },
      host: { type: 'string', default: '127.0.0.1' },
      profile: { type: 'string', default: 'okta' },
      audience: { type: 'string', default: 'http://127.0.0.1:8080/mcp' },
      'state-dir': { type: 'string', default: DEFAULT_STATE_DIR },
    },
  });
  const profile = values.profile as DevIdpProfile;
  if (!DEV_IDP_PROFILES.includes(profile)) {
    console.error(`--profile must be one of ${DEV_IDP_PROFILES.join(', ')}`);
    return 2;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error('--port must be a whole number from 0 to 65535');
    return 2;
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
  const stop = () => void idp.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return new Promise<number>(() => undefined);
}

export async function devTokenCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'state-dir': { type: 'string', default: DEFAULT_STATE_DIR },
      user: { type: 'string' },
      groups: { type: 'string' },
      roles: { type: 'string' },
      scopes: { type: 'string', default: 'mcp:tools' },
      'client-id': { type: 'string' },
      ttl: { type: 'string', default: '3600' },
    },
  });
  if (!values.user) {
    console.error('dev-token needs --user NAME');
    return 2;
  }
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0 || ttl > 86_400) {
    console.error('--ttl must be a whole number of seconds between 1 and 86400');
    return 2;
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
  const token = await requestUserToken(state.token_endpoint, state.minter_secret, {
    user: values.user,
    groups: list(values.groups),
    roles: list(values.roles),
    scopes: list(values.scopes),
    ttlSeconds: ttl,
    audience: state.audience,
    ...(values['client-id'] ? { clientId: values['client-id'] } : {}),
  });
  console.log(token);
  return 0;
}
