// `npm test`: lint, typecheck, then every test against the real services, stopping at the first
// failing step. Extra arguments go to `node --test` (`npm test -- test/foo.test.ts` runs one
// file; a flag needs the `--flag=value` form).
//
// Services: TEST_* variables already in the environment are used as they are. When any is
// missing, the services in .services.env are used if they answer; otherwise this starts them
// (scripts/services.ts up) and stops them again at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, globSync } from 'node:fs';
import path from 'node:path';
import { envFromProcess, readEnvFile, TEST_VARS, type TestEnv } from './lib/env-file.ts';
import { unreachable } from './lib/health.ts';

const root = path.resolve(import.meta.dirname, '..');
const envFile = path.join(root, '.services.env');
const servicesScript = path.join(root, 'scripts', 'services.ts');
const TEST_TIMEOUT_MS = 10 * 60_000;

let current: ChildProcess | undefined;
let startedServices = false;

const say = (line: string) => console.log(`\ntest: ${line}`);

function step(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const started = Date.now();
  say(`${name}: ${[command === process.execPath ? 'node' : command, ...args].join(' ')}`);
  return new Promise((resolve) => {
    current = spawn(command, args, { cwd: root, env, stdio: 'inherit' });
    current.on('error', (error) => { console.error(`test: ${name} could not start: ${error.message}`); resolve(127); });
    current.on('close', (code, signal) => {
      current = undefined;
      const status = code ?? (signal === null ? 1 : 128);
      say(`${name} ${status === 0 ? 'passed' : `FAILED (exit ${code ?? signal})`} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      resolve(status);
    });
  });
}

async function stopServicesIfStarted(): Promise<void> {
  if (!startedServices) return;
  startedServices = false;
  await step('services:down', process.execPath, [servicesScript, 'down']);
}

async function servicesEnv(): Promise<TestEnv | undefined> {
  const fromProcess = envFromProcess();
  if (fromProcess !== undefined) {
    say('using the TEST_* services from the environment');
    return fromProcess;
  }
  // Variables that are set win over the file (e.g. a TEST_DATABASE_URL of your own).
  const overrides = Object.fromEntries(TEST_VARS.filter((name) => process.env[name]).map((name) => [name, process.env[name]]));
  const fromFile = readEnvFile(envFile);
  if (fromFile !== undefined) {
    const down = await unreachable(fromFile);
    if (down.length === 0) {
      say('using the running services from .services.env');
      return { ...fromFile, ...overrides };
    }
    say(`services in .services.env do not all answer (${down.join('; ')}); starting them`);
  }
  startedServices = true;
  if (await step('services:up', process.execPath, [servicesScript, 'up']) !== 0) return undefined;
  const started = readEnvFile(envFile);
  if (started === undefined) console.error(`test: ${envFile} is missing or incomplete after services:up`);
  return started === undefined ? undefined : { ...started, ...overrides };
}

function testArguments(extra: string[]): string[] {
  const namesFiles = extra.some((arg) => !arg.startsWith('-') && (existsSync(path.resolve(root, arg)) || /[*?[]/.test(arg)));
  const files = namesFiles ? [] : [
    ...globSync('test/**/*.test.ts', { cwd: root }),
    ...globSync('src/**/*.spec.ts', { cwd: root }),
  ].sort();
  return ['--test', '--test-concurrency=2', `--test-timeout=${TEST_TIMEOUT_MS}`, '--test-reporter=spec', ...extra, ...files];
}

async function main(): Promise<number> {
  const env = await servicesEnv();
  if (env === undefined) return 1;
  const steps: Array<[string, string, string[], NodeJS.ProcessEnv?]> = [
    ['lint', 'npm', ['run', '--silent', 'lint']],
    ['typecheck', 'npm', ['run', '--silent', 'typecheck']],
    ['node --test', process.execPath, testArguments(process.argv.slice(2)), { ...process.env, ...env }],
  ];
  for (const [name, command, args, stepEnv] of steps) {
    const code = await step(name, command, args, stepEnv);
    if (code !== 0) return code;
  }
  return 0;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    current?.kill(signal);
    void stopServicesIfStarted().finally(() => process.exit(130));
  });
}

const started = Date.now();
let code: number;
try {
  code = await main();
} catch (error) {
  console.error(`test: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  code = 1;
}
await stopServicesIfStarted();
say(`${code === 0 ? 'all steps passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exitCode = code;
