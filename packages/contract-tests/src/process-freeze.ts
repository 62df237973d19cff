import { readdir, readFile } from 'node:fs/promises';

/** States of /proc/<pid>/task/<tid>/stat that mean a thread runs no code until SIGCONT. */
const STOPPED = new Set(['T', 't']);

/** The state letter of every thread of `pid` (Linux /proc); empty when the process is gone. */
async function threadStates(pid: number): Promise<string[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const states = await Promise.all(
    tasks.map(async (tid) => {
      const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => '');
      // "pid (comm) S …": the command may hold spaces and parentheses, the state follows the last ')'.
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    }),
  );
  return states.filter((state) => state !== '');
}

/**
 * Freezes the process `pid` with SIGSTOP and resolves only once every one of its threads is
 * stopped. `kill` returns as soon as the signal is queued: one thread takes it and stops the
 * others, and on a loaded machine the rest of a multi-threaded broker (a Go or Java process) can
 * still answer a request for some milliseconds. A case that freezes a broker and then sends must
 * not be answered by it.
 * @throws Error when the threads are not all stopped within `timeoutMs` (default 5 000).
 */
export async function freezeProcess(pid: number, timeoutMs = 5_000): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await threadStates(pid);
    if (states.length > 0 && states.every((state) => STOPPED.has(state))) return;
    if (states.length === 0) throw new Error(`process ${pid} is gone: nothing to freeze`);
    if (Date.now() > deadline) {
      throw new Error(
        `process ${pid} not stopped within ${timeoutMs} ms (threads: ${states.join('')})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Lets a process frozen by {@link freezeProcess} run on (SIGCONT). */
export async function thawProcess(pid: number): Promise<void> {
  process.kill(pid, 'SIGCONT');
}
