import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { BrokerRequirement, ShimEnvironment } from '@proxystream/protocols/kit';
import { brokerAddress } from '@proxystream/protocols/kit';

const run = promisify(execFile);

/** The nearest directory at or above `from` that holds `scripts/brokers.sh`. */
export function repositoryRoot(from: string): string {
  for (let directory = from; ; directory = dirname(directory)) {
    if (existsSync(join(directory, 'scripts', 'brokers.sh'))) return directory;
    if (dirname(directory) === directory) {
      throw new Error(`no scripts/brokers.sh at or above ${from}: restart the broker another way`);
    }
  }
}

/** What identifies one run of a broker: it changes when the broker really restarted. */
async function brokerIdentity(
  broker: BrokerRequirement,
  env: ShimEnvironment,
  root: string,
): Promise<string | undefined> {
  if (broker.name === 'redis') {
    const { port } = new URL(brokerAddress(broker, env));
    const { stdout } = await run('redis-cli', [
      '-h',
      '127.0.0.1',
      '-p',
      port || '6379',
      'info',
      'server',
    ]);
    return /run_id:(\w+)/.exec(stdout)?.[1];
  }
  if (broker.name === 'nats') {
    const varz = (await (await fetch('http://127.0.0.1:8222/varz')).json()) as {
      server_id?: string;
    };
    return varz.server_id;
  }
  return readFile(join(root, '.cache', broker.name, 'run', `${broker.name}.pid`), 'utf8').catch(
    () => undefined,
  );
}

/**
 * The environment of `scripts/brokers.sh restart`: it refuses a broker given by its URL variable,
 * so a local Redis named by `REDIS_URL` (a private instance on another port, started with
 * `REDIS_PORT=<port> bash scripts/brokers.sh start redis`) is passed as `REDIS_PORT` instead.
 */
function brokersEnv(broker: BrokerRequirement, env: ShimEnvironment): ShimEnvironment {
  const given = env[broker.variable];
  if (broker.name !== 'redis' || given === undefined || given === '') return env;
  const url = new URL(given);
  if (!['127.0.0.1', 'localhost'].includes(url.hostname)) return env;
  const { [broker.variable]: _given, ...rest } = env;
  return { ...rest, REDIS_PORT: url.port || '6379' };
}

/**
 * Restarts the local broker a descriptor needs, keeping its data (`bash scripts/brokers.sh
 * restart <name>` in the repository holding the current directory), and fails when the broker
 * that answers afterwards is still the same run: a restart that did not happen would make a
 * fault test pass without a fault.
 *
 * @example
 * ```ts
 * faultSuite(descriptors, { stream, restartBroker: (broker) => restartLocalBroker(broker) });
 * ```
 */
export async function restartLocalBroker(
  broker: BrokerRequirement,
  env: ShimEnvironment = process.env,
): Promise<void> {
  const root = repositoryRoot(process.cwd());
  const before = await brokerIdentity(broker, env, root);
  await run('bash', ['scripts/brokers.sh', 'restart', broker.name], {
    cwd: root,
    timeout: 120_000,
    env: brokersEnv(broker, env) as NodeJS.ProcessEnv,
  });
  const after = await brokerIdentity(broker, env, root);
  if (before === undefined || before === after) {
    throw new Error(
      `bash scripts/brokers.sh restart ${broker.name} did not restart the broker (same run before and after: ${before}); ` +
        'was it started by scripts/brokers.sh?',
    );
  }
}
