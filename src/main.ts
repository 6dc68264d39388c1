#!/usr/bin/env node
// The `etl` command line: parses the command and global options, loads the configuration, runs
// the command, maps errors to one sentence and exit codes (0 done, 1 failed, 2 bad configuration).
// First import: starts OpenTelemetry before any other module is evaluated.
import './telemetry/start.ts';
import { shutdownTelemetry } from './telemetry/tracing.ts';
import { parseArgs } from 'node:util';
import { ConfigError, loadSettings, type Settings } from './config/load.ts';
import { createLogger, type Logger } from './telemetry/logger.ts';
import { EXIT, type CommandContext } from './commands/context.ts';
import { runCommand, runHelp } from './commands/run.ts';
import { RunView } from './commands/run-view.ts';
import { statusCommand, statusHelp } from './commands/status.ts';
import { checkCommand, checkHelp } from './commands/check.ts';
import { migrateCommand, migrateHelp } from './commands/migrate.ts';
import { demoCommand, demoHelp } from './commands/demo.ts';
import { rejectsCommand, rejectsHelp } from './commands/rejects.ts';
import { retryCommand, retryHelp } from './commands/retry.ts';
import { planCommand, planHelp } from './commands/plan.ts';
import { reloadCommand, reloadHelp } from './commands/reload.ts';
import { whyCommand, whyHelp } from './commands/why.ts';
import { SourceMismatchError } from './load/source-root.ts';
import { errorMessage } from './pipeline/errors.ts';
import { SourceError } from './sources/source.ts';
import { DatabaseUnavailableError } from './load/database.ts';
import { SchemaMismatchError } from './load/migrate.ts';
import { UsageError } from './commands/args.ts';
import { stateDirLayout } from './state-dir.ts';
import { readFileSync } from 'node:fs';

const COMMANDS: Record<string, { run: (context: CommandContext) => Promise<number>; help: string; summary: string }> = {
  run: { run: runCommand, help: runHelp, summary: 'load new and changed exports into Postgres (--only, --since, --until)' },
  plan: { run: planCommand, help: planHelp, summary: 'what the next run would load, retry, skip and mark gone, and why (--json)' },
  reload: { run: reloadCommand, help: reloadHelp, summary: 'load objects again now: a PREFIX, --only GLOB or --all' },
  status: { run: statusCommand, help: statusHelp, summary: 'files per status, rows per table, last run (--json)' },
  check: { run: checkCommand, help: checkHelp, summary: 'check configuration, database and source (--json)' },
  migrate: { run: migrateCommand, help: migrateHelp, summary: 'create or update the tables' },
  demo: { run: demoCommand, help: demoHelp, summary: 'load sample exports into an embedded Postgres' },
  rejects: { run: rejectsCommand, help: rejectsHelp, summary: 'list quarantined rows (--object, --reason, --json)' },
  retry: { run: retryCommand, help: retryHelp, summary: 'load a failed object again on the next run' },
  why: { run: whyCommand, help: whyHelp, summary: 'where a row came from (object, version, line, run) and why it won: TABLE KEY... (--json)' },
};

/** Global options that override a configuration key (convict's `arg` names in config/schema.ts). */
const CONFIG_OPTIONS = ['source', 'database-url', 'state-dir', 'log-level'] as const;

const GLOBAL_OPTIONS = `Options (every command):
  --config PATH         JSON config file (or ETL_CONFIG); the old settings.json keys work
  --source URL          s3://bucket/prefix/, file:///dir or a folder (ETL_SOURCE)
  --database-url URL    postgresql:// URL (DATABASE_URL)
  --state-dir DIR       temporary files, run summaries, failed-files log (ETL_STATE_DIR)
  --log-level LEVEL     fatal, error, warn, info, debug, trace, silent (LOG_LEVEL)
  -h, --help            this help
  -V, --version         the version (without a command)`;

const USAGE = `Usage: etl <command> [options]

Loads Toshiba service-request exports (CSV in S3 or a folder) into PostgreSQL, exactly once.

Commands:
${Object.entries(COMMANDS)
  .map(([name, command]) => `  ${name.padEnd(9)} ${command.summary}`)
  .join('\n')}

${GLOBAL_OPTIONS}

Exit codes: 0 done (quarantined rows are not a failure), 1 the run could not go on (database or
source unreachable, connection lost, a signal), 2 bad configuration, 3 objects failed (in this run
or still failed from an earlier one).`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      source: { type: 'string' },
      'database-url': { type: 'string' },
      'state-dir': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
      version: { type: 'boolean', short: 'V', default: false },
    },
    allowPositionals: true,
    strict: false,
  });
  const [name] = positionals;
  if (values.version && !name) {
    process.stdout.write(`etl ${packageVersion()}\n`);
    return EXIT.ok;
  }
  const command = name ? COMMANDS[name] : undefined;
  if (!name || (values.help && !command)) {
    process.stdout.write(USAGE + '\n');
    return name || values.help ? EXIT.ok : EXIT.config;
  }
  if (!command) {
    process.stderr.write(`etl: unknown command "${name}". Commands: ${Object.keys(COMMANDS).join(', ')}.\n`);
    return EXIT.config;
  }
  if (values.help) {
    process.stdout.write(`${command.help}\n\n${GLOBAL_OPTIONS}\n`);
    return EXIT.ok;
  }
  // Global options are taken out; what is left belongs to the command.
  const commandArgs = stripGlobalOptions(argv);
  commandArgs.splice(commandArgs.indexOf(name), 1);
  const convictArgs: string[] = [];
  for (const key of CONFIG_OPTIONS) {
    const value = values[key];
    if (typeof value === 'string') convictArgs.push(`--${key}`, value);
  }
  let settings: Settings;
  try {
    settings = loadSettings({ configFile: typeof values.config === 'string' ? values.config : undefined, args: convictArgs });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`etl: ${error.message}\n`);
      return EXIT.config;
    }
    throw error;
  }
  // `etl run` for a person at a terminal: a live view instead of log lines (commands/run-view.ts).
  // `--quiet`: the JSON lines, even on a terminal.
  const loads = name === 'run' || name === 'reload';
  const quiet = loads && commandArgs.includes('--quiet');
  const view = loads && settings.logFormat === 'auto' && process.stderr.isTTY === true && !quiet ? new RunView() : undefined;
  const format = quiet ? 'json' : settings.logFormat;
  const logger = createLogger({ level: settings.logLevel, format, logFiles: settings.logFiles ? { dir: stateDirLayout.logs(settings.stateDir) } : undefined, terminal: view });
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) {
      logger.warn(`second ${signal}: exiting now`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    logger.warn(`${signal} received: rolling back the file in flight, writing the summary, releasing the lock`);
    stop.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const context: CommandContext = { settings, logger, signal: stop.signal, args: commandArgs, print: (text) => process.stdout.write(text + '\n'), view };
  try {
    const code = await command.run(context);
    return stop.signal.aborted ? EXIT.failed : code;
  } catch (error) {
    return reportFatal(error, logger);
  }
}

function reportFatal(error: unknown, logger: Logger): number {
  if (error instanceof UsageError || error instanceof ConfigError || error instanceof SchemaMismatchError || error instanceof SourceMismatchError) {
    logger.error(error.message);
    return EXIT.config;
  }
  if (error instanceof DatabaseUnavailableError || error instanceof SourceError) {
    logger.error(error.message);
    return EXIT.failed;
  }
  // Anything else is unexpected: one line for people, the stack only at debug level.
  logger.error({ err: error }, errorMessage(error));
  return EXIT.failed;
}

/** The version in package.json (next to src/ and dist/ alike, and in the image). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function stripGlobalOptions(argv: string[]): string[] {
  const withValue = ['config', ...CONFIG_OPTIONS].map((name) => `--${name}`);
  const out: string[] = [];
  for (let at = 0; at < argv.length; at++) {
    const arg = argv[at]!;
    if (withValue.includes(arg)) {
      at++;
      continue;
    }
    if (withValue.some((option) => arg.startsWith(`${option}=`))) continue;
    out.push(arg);
  }
  return out;
}

const code = await main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`etl: ${errorMessage(error)}\n`);
  return EXIT.failed;
});
await shutdownTelemetry();
// stdout to a pipe is written asynchronously: let a long answer (etl rejects --json) drain first.
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
process.exit(code);
