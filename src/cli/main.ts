// mcpgate command line. Run `mcpgate help` for the list of commands.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfigFile, ConfigError } from '../config/load.js';
import { startGateway } from '../main/gateway.js';
import { createLogger } from '../util/logger.js';
import { PACKAGE_ROOT } from '../util/paths.js';
import { GATEWAY_VERSION } from '../util/version.js';
import { AUDIT_USAGE, auditCommand } from './audit-command.js';
import { evalCommand } from './eval-command.js';
import { policyBuild, policyCheck, policyTest } from './policy-commands.js';
import { replayCommand } from './replay-command.js';
import { sessionsCommand } from './sessions-command.js';

const HELP = `mcpgate ${GATEWAY_VERSION} — zero-trust gateway for the Model Context Protocol

Usage:
  mcpgate start [--config mcpgate.yaml]        run the gateway
  mcpgate policy build [--rego rego] [--out wasm/bundle.tar.gz] [--revision R]
                                               compile rego/ to a wasm OPA bundle
  mcpgate policy test [--rego rego]            opa test + every case through wasm in Node
  mcpgate policy check [--rego rego]           opa fmt + opa check --strict with the input schema
  mcpgate policy replay --log decisions.jsonl --bundle candidate.tar.gz [--json] [--fail-on-change]
                                               re-evaluate logged decisions with a candidate policy
  mcpgate eval --input input.json [--bundle wasm/bundle.tar.gz] [--entrypoint mcp/authz/decision]
  mcpgate eval --tool server.tool [--args JSON] [--user U] [--groups a,b] [--roles r] [--purpose P]
               [--annotations JSON] [--history FILE] [--bundle ...]
                                               dry run: the decision for one (hypothetical) call
  mcpgate sessions list|show ID|kill ID [--url http://127.0.0.1:8080] [--token T | $MCPGATE_ADMIN_TOKEN]
                                               operate a running gateway's sessions (admin role)
${AUDIT_USAGE}
  mcpgate dev-idp [--port 8081] [--host 127.0.0.1] [--profile okta|okta-org|entra-v2|entra-v1|oidc]
                  [--audience URL] [--state-dir examples/quickstart/.state]
                                               DEVELOPMENT ONLY: run a real OpenID Provider
  mcpgate dev-token --user NAME [--groups a,b] [--roles r] [--scopes s] [--client-id c]
                    [--ttl 3600] [--state-dir examples/quickstart/.state]
                                               DEVELOPMENT ONLY: mint a user token from dev-idp
`;

/** The development IdP's commands, from dev/ in a checkout (not shipped in the package or image). */
interface DevCommands {
  devIdpCommand(argv: string[]): Promise<number>;
  devTokenCommand(argv: string[]): Promise<number>;
}

async function devCommands(): Promise<DevCommands> {
  const module = pathToFileURL(join(PACKAGE_ROOT, 'dist/dev/idp/cli.js')).href;
  try {
    return (await import(module)) as DevCommands;
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new Error(
      'dev-idp and dev-token are development commands: run them from a checkout of mcpgate after `npm run build` (the installed package and the container image do not include the development IdP)',
      { cause: err },
    );
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, sub] = argv;
  switch (command) {
    case 'start': {
      const { values } = parseArgs({
        args: argv.slice(1),
        options: { config: { type: 'string', default: 'mcpgate.yaml' } },
      });
      const config = loadConfigFile(values.config);
      const logger = createLogger(config.logging.level);
      const gateway = await startGateway(config, logger);
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) {
          logger.warn('already shutting down', { signal });
          return;
        }
        stopping = true;
        logger.info('shutting down', { signal });
        gateway.close().then(
          () => process.exit(0),
          (err: unknown) => {
            // Lines not written (spooled, or on stderr): said on stderr, and a non-zero exit.
            const message = err instanceof Error ? err.message : String(err);
            logger.error('shutdown incomplete', { error: message });
            console.error(`mcpgate: ${message}`);
            process.exit(1);
          },
        );
      };
      // Not once(): a second signal must not kill the process while it drains and flushes.
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      return new Promise<number>(() => undefined);
    }
    case 'policy': {
      if (sub === 'replay') return replayCommand(argv.slice(2));
      const { values } = parseArgs({
        args: argv.slice(2),
        options: {
          rego: { type: 'string', default: 'rego' },
          out: { type: 'string', default: 'wasm/bundle.tar.gz' },
          revision: { type: 'string' },
        },
      });
      if (sub === 'build') return policyBuild(values.rego, values.out, values.revision);
      if (sub === 'test') return policyTest(values.rego);
      if (sub === 'check') return policyCheck(values.rego);
      console.error(`unknown policy command "${sub ?? ''}"\n\n${HELP}`);
      return 2;
    }
    case 'eval':
      return evalCommand(argv.slice(1));
    case 'sessions':
      return sessionsCommand(argv.slice(1));
    case 'audit':
      return auditCommand(argv.slice(1));
    case 'dev-idp':
      return (await devCommands()).devIdpCommand(argv.slice(1));
    case 'dev-token':
      return (await devCommands()).devTokenCommand(argv.slice(1));
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(HELP);
      return 0;
    case 'version':
    case '--version':
      console.log(GATEWAY_VERSION);
      return 0;
    default:
      console.error(`unknown command "${command}"\n\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const message = err instanceof ConfigError || err instanceof Error ? err.message : String(err);
    console.error(`mcpgate: ${message}`);
    process.exit(1);
  },
);
