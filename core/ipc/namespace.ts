/**
 * An IPC namespace: the SysV shared memory segments, semaphore sets and
 * message queues the sandbox's processes share (a pod's containers share
 * one, as Kubernetes pods share their IPC namespace).
 *
 * @module
 */
import { MsgTable } from "./msg.ts";
import { SemTable } from "./sem.ts";
import { ShmTable } from "./shm.ts";

/**
 * The objects, and what process lifetimes do to them.
 *
 * @example
 * ```ts
 * import { IpcNamespace } from "./namespace.ts";
 * const ns = new IpcNamespace();
 * ns.exited({}, 1);
 * ```
 */
export class IpcNamespace {
  readonly shm = new ShmTable();
  readonly sem = new SemTable();
  readonly msg = new MsgTable();

  /**
   * A fork: the child shares the parent's attached segments (its SEM_UNDO
   * list starts empty, as without CLONE_SYSVSEM).
   *
   * @param parent The parent process.
   * @param child The child process.
   */
  forked(parent: object, child: object): void {
    this.shm.forked(parent, child);
  }

  /**
   * An execve: the old address space and its attachments are gone.
   *
   * @param proc The process.
   * @param pid Its pid.
   */
  execed(proc: object, pid: number): void {
    this.shm.detachAll(proc, pid);
  }

  /**
   * A process ended: attachments dropped, semaphore adjustments applied.
   *
   * @param proc The process.
   * @param pid Its pid.
   */
  exited(proc: object, pid: number): void {
    this.shm.detachAll(proc, pid);
    this.sem.exited(proc, pid);
  }
}
