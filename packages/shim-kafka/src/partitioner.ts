import { type ICustomPartitioner, Partitioners } from 'kafkajs';

/**
 * The publisher's partitioner: a message with a key (or an explicit partition) goes where
 * kafkajs's default partitioner puts it; a message without one goes to one partition per topic,
 * chosen at random when this publisher first sends to the topic and kept from then on. A
 * stream's per-producer sequence numbers therefore stay in order on a topic of several
 * partitions (no false gaps), while different publishers spread over the partitions.
 * If the topic gains partitions, keyless messages may move once to another partition.
 */
export const stickyPartitioner: ICustomPartitioner = () => {
  const byKey = Partitioners.DefaultPartitioner();
  const chosen = new Map<string, number>();
  return (args) => {
    const { topic, partitionMetadata, message } = args;
    if (message.key !== undefined && message.key !== null) return byKey(args);
    const count = partitionMetadata.length;
    let pick = chosen.get(topic);
    if (pick === undefined) {
      pick = Math.floor(Math.random() * 0x7fffffff);
      chosen.set(topic, pick);
    }
    const available = partitionMetadata
      .map((partition) => partition.partitionId)
      .sort((a, b) => a - b);
    return available[pick % count] ?? 0;
  };
};
