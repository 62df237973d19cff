import { debuglog } from 'node:util';
import { type logCreator, logLevel } from 'kafkajs';

const debug = debuglog('proxystream-kafka');
const levelNames: Record<number, string> = {
  [logLevel.ERROR]: 'ERROR',
  [logLevel.WARN]: 'WARN',
  [logLevel.INFO]: 'INFO',
  [logLevel.DEBUG]: 'DEBUG',
};

/**
 * A kafkajs log creator that writes nothing unless `NODE_DEBUG=proxystream-kafka` is set.
 * kafkajs logs retriable conditions (rebalances, coordinator moves, a leader not yet elected) at
 * ERROR level; the shim turns the ones that matter into typed errors instead.
 */
export const quietLogCreator: logCreator = () => (entry) => {
  if (!debug.enabled || entry.level > logLevel.INFO) return;
  const { message, ...rest } = entry.log;
  debug('%s [%s] %s %j', levelNames[entry.level] ?? entry.level, entry.namespace, message, rest);
};
