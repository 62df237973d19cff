import { createHash } from 'node:crypto';
import type { DirectStreamAPI } from '@nats-io/jetstream';
import type { ObjectInfo } from '@nats-io/obj';

/** Why {@link readChunks} could not return an object's bytes (turned into a `StoreError`). */
export class ObjectReadError extends Error {
  override readonly name = 'ObjectReadError';
}

/**
 * Reads the chunks of an object with direct gets, one stream message at a time, instead of the
 * client's `get` (which makes an ephemeral push consumer per object: on a cluster with a peer
 * down, the meta leader may place it on the missing peer, and the get then times out). A
 * direct get is answered by any live replica of the bucket's stream. The bytes are checked
 * against the object's size and SHA-256 digest.
 */
export async function readChunks(
  direct: DirectStreamAPI,
  bucket: string,
  info: ObjectInfo,
): Promise<Uint8Array> {
  const data = new Uint8Array(info.size);
  if (info.size === 0) return data;
  const subject = `$O.${bucket}.C.${info.nuid}`;
  const hash = createHash('sha256');
  let offset = 0;
  let seq = 0;
  for (let chunk = 0; chunk < info.chunks; chunk++) {
    const message = await direct.getMessage(`OBJ_${bucket}`, {
      next_by_subj: subject,
      seq: seq + 1,
    });
    if (message === null) throw new ObjectReadError(`chunk ${chunk} of ${info.chunks} is missing`);
    const bytes = message.data;
    if (offset + bytes.byteLength > data.byteLength) {
      throw new ObjectReadError(`the chunks hold more than the object's ${info.size} bytes`);
    }
    data.set(bytes, offset);
    hash.update(bytes);
    offset += bytes.byteLength;
    seq = message.seq;
  }
  if (offset !== info.size) {
    throw new ObjectReadError(`read ${offset} of the object's ${info.size} bytes`);
  }
  const expected = info.digest.replace(/^SHA-256=/i, '');
  if (!hash.digest().equals(Buffer.from(expected, 'base64'))) {
    throw new ObjectReadError('the object is corrupt: its digest does not match');
  }
  return data;
}
