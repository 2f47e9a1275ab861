import type { ChildProcess } from 'node:child_process';

/**
 * A forked bench process driven over IPC, and a way to await its next reply of a given type. Replies
 * `onReply` takes (progress reports) are not awaited.
 */
export class IpcChild<Command, Reply extends { type: string }> {
  private readonly waiters = new Map<string, Array<(reply: Reply) => void>>();
  exited = false;

  constructor(
    readonly child: ChildProcess,
    onReply: (reply: Reply) => boolean = () => false,
  ) {
    child.on('message', (reply: Reply) => {
      if (onReply(reply)) return;
      this.waiters.get(reply.type)?.shift()?.(reply);
    });
    child.once('exit', () => {
      this.exited = true;
    });
  }

  send(command: Command): void {
    this.child.send(command as object);
  }

  next<T extends Reply['type']>(type: T, timeoutMs: number): Promise<Extract<Reply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`process ${this.child.pid}: no ${type} within ${timeoutMs} ms`)), timeoutMs);
      const list = this.waiters.get(type) ?? [];
      list.push((reply) => {
        clearTimeout(timer);
        resolve(reply as Extract<Reply, { type: T }>);
      });
      this.waiters.set(type, list);
    });
  }
}
