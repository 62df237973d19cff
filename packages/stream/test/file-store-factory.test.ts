import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type StoreConfig, StoreError, StoreNotAllowedError } from '@proxystream/protocols';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore, FileStoreFactory } from '../src/file-store.js';

let root: string;
let allowed: string;
let outside: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'proxystream-file-store-factory-'));
  allowed = join(root, 'allowed');
  outside = join(root, 'outside');
  await mkdir(join(allowed, 'inside'), { recursive: true });
  await mkdir(outside, { recursive: true });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const config = (directory: string): StoreConfig => ({ kind: 'file', name: 'n', directory });

/** The refusal for `directory`, with the path (which the sender chose) taken out of the message. */
async function refusal(factory: FileStoreFactory, directory: string) {
  const error = await factory.open(config(directory)).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error, directory).toBeInstanceOf(StoreNotAllowedError);
  const refused = error as StoreNotAllowedError;
  return {
    name: refused.name,
    code: refused.code,
    message: refused.message.replaceAll(directory, '<directory>'),
    cause: refused.cause,
  };
}

describe('FileStoreFactory outside its roots', () => {
  it('refuses a missing and an existing directory outside the roots alike, so a sender cannot probe which paths exist', async () => {
    const factory = new FileStoreFactory({ allowedRoots: [allowed] });
    const existing = await refusal(factory, outside);
    const missing = await refusal(factory, join(root, 'no-such-directory'));
    const missingDeep = await refusal(factory, '/no/such/directory/anywhere');
    expect(missing).toEqual(existing);
    expect(missingDeep).toEqual(existing);
    expect(existing.cause).toBeUndefined();
    expect(existing.message).not.toMatch(/ENOENT|exist|not found|cannot be opened/i);
  });

  it('refuses a missing directory reached through ".." out of a root like an existing one', async () => {
    const factory = new FileStoreFactory({ allowedRoots: [allowed] });
    const existing = await refusal(factory, join(allowed, '..', 'outside'));
    const missing = await refusal(factory, join(allowed, '..', 'no-such-directory'));
    expect(missing).toEqual(existing);
  });

  it('still refuses a symbolic link inside a root that leads outside it', async () => {
    const link = join(allowed, 'escape');
    await symlink(outside, link);
    const factory = new FileStoreFactory({ allowedRoots: [allowed] });
    await expect(factory.open(config(link))).rejects.toBeInstanceOf(StoreNotAllowedError);
    // Lexically `allowed/outside`; the kernel follows the link first and lands on `outside`.
    await expect(factory.open(config(`${link}/../outside`))).rejects.toBeInstanceOf(
      StoreNotAllowedError,
    );
  });

  it('opens a directory under a root, also through a symbolic link that stays inside it', async () => {
    const link = join(allowed, 'alias');
    await symlink(join(allowed, 'inside'), link);
    const factory = new FileStoreFactory({ allowedRoots: [allowed] });
    const store = await factory.open(config(join(allowed, 'inside')));
    expect(store).toBeInstanceOf(FileStore);
    await expect(factory.open(config(link))).resolves.toBeInstanceOf(FileStore);
  });

  it('opens a directory named through the real path of a root that is itself a symbolic link', async () => {
    const linkedRoot = join(root, 'linked-root');
    await symlink(allowed, linkedRoot);
    const factory = new FileStoreFactory({ allowedRoots: [linkedRoot] });
    await expect(factory.open(config(join(allowed, 'inside')))).resolves.toBeInstanceOf(FileStore);
    await expect(factory.open(config(join(linkedRoot, 'inside')))).resolves.toBeInstanceOf(
      FileStore,
    );
    await expect(factory.open(config(outside))).rejects.toBeInstanceOf(StoreNotAllowedError);
  });

  it('reports a missing directory inside a root as a store failure, not a refusal', async () => {
    const factory = new FileStoreFactory({ allowedRoots: [allowed] });
    const error = await factory.open(config(join(allowed, 'missing'))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).not.toBeInstanceOf(StoreNotAllowedError);
  });
});
