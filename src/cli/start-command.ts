// `mcpgate start`: runs the gateway until a signal stops it.
import { loadConfigFile } from '../config/load.js';
import { createLogger } from '../util/logger.js';
import { assertSupportedRuntime } from '../util/runtime.js';
import { parseCommand, type CommandSpec } from '../util/command-spec.js';

export const START_SPEC = {
  name: 'start',
  summary: 'run the gateway',
  options: {
    config: {
      type: 'string',
      value: 'FILE',
      default: 'mcpgate.yaml',
      help: 'the configuration file; paths in it are relative to it (every key: docs/configuration.md)',
    },
    explain: {
      type: 'boolean',
      default: false,
      help: 'print the request chains this configuration runs, in order, and exit (nothing is started)',
    },
  },
  details: [
    'Refuses to run on a Node.js older than package.json engines.node (the supported LTS line); from a checkout, `npm start -- --config FILE` uses the pinned one in .tools/node.',
    'Logs JSON lines on stderr and runs until SIGTERM, SIGINT or SIGHUP, then stops cleanly: it closes the listener and the sessions it holds, stops the upstream servers it started and writes what is left of the decision log.',
  ],
  example: ['mcpgate start --config examples/quickstart/mcpgate.yaml'],
} as const satisfies CommandSpec;

export async function startCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand(START_SPEC, argv);
  // First, before the configuration is read: nothing else matters on the wrong runtime.
  if (!values.explain) assertSupportedRuntime();
  const config = loadConfigFile(values.config);
  const logger = createLogger(config.logging.level);
  // Loaded here, not at the top: the gateway's modules take about half a second to load,
  // which every other command (and every --help) would pay for nothing.
  const { explainGateway, startGateway } = await import('../main/gateway.js');
  if (values.explain) {
    console.log(explainGateway(config, logger));
    return 0;
  }
  const gateway = await startGateway(config, logger);
  // The first of these signals stops the gateway cleanly; later ones (a terminal's SIGHUP
  // with the SIGTERM of a script stopping it) do not start a second stop.
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    gateway.close().then(
      () => process.exit(0),
      (err: unknown) => {
        // Decision-log lines not written (spooled, or on stderr): said on stderr, exit 1.
        const message = err instanceof Error ? err.message : String(err);
        logger.error('shutdown incomplete', { error: message });
        console.error(`mcpgate: ${message}`);
        process.exit(1);
      },
    );
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stop);
  return new Promise<number>(() => undefined);
}
