// QUICKSTART ONLY: `mcpgate dev-token` mints an access token from the development issuer
// configured in auth.dev_issuer, for the gateway at gateway.public_url (or host:port).
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/load.js';
import { devIssuerUrl, loadOrCreateDevKey, mintDevToken } from '../identity/dev-issuer.js';

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export async function devTokenCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', default: 'mcpgate.yaml' },
      user: { type: 'string' },
      groups: { type: 'string' },
      roles: { type: 'string' },
      scopes: { type: 'string', default: 'mcp' },
      'client-id': { type: 'string', default: 'mcpgate-quickstart-agent' },
      ttl: { type: 'string', default: '3600' },
    },
  });
  if (!values.user) {
    console.error('dev-token needs --user NAME');
    return 2;
  }
  const config = loadConfigFile(values.config);
  if (!config.auth.devIssuer) {
    console.error(
      'this config has no auth.dev_issuer enabled; dev tokens are for the quickstart only',
    );
    return 2;
  }
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0 || ttl > 86_400) {
    console.error('--ttl must be a whole number of seconds between 1 and 86400');
    return 2;
  }
  if (!config.gateway.publicUrl && config.gateway.port === 0) {
    console.error(
      'dev-token needs gateway.port (not 0) or gateway.public_url to know the token audience',
    );
    return 2;
  }
  const host = config.gateway.host.includes(':') ? `[${config.gateway.host}]` : config.gateway.host;
  const baseUrl = config.gateway.publicUrl ?? `http://${host}:${config.gateway.port}`;
  const key = await loadOrCreateDevKey(config.auth.devIssuer.keyFile);
  const token = await mintDevToken(key, devIssuerUrl(baseUrl), {
    user: values.user,
    groups: list(values.groups),
    roles: list(values.roles),
    scopes: list(values.scopes),
    clientId: values['client-id'],
    ttlSeconds: ttl,
    audience: `${baseUrl}/mcp`,
  });
  console.log(token);
  return 0;
}
