import { brokerContract } from '@proxystream/contract-tests';
import { InProcessBroker } from '@proxystream/stream';

const broker = new InProcessBroker({ capacity: 256, maxMessageSize: 1024 * 1024 });

brokerContract({
  name: 'in-process broker',
  capabilities: broker.capabilities,
  createPublisher: async () => broker.publisher(),
  createSubscriber: (topic, options) => broker.subscriber(topic, options),
  invalidTopics: ['bad\ntopic'],
  inactivityTimeoutMs: 5_000,
  backpressureBound: 1_000,
});
