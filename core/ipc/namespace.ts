/**
 * An IPC namespace: the SysV shared memory segments, semaphore sets and
 * message queues, and the POSIX message queues, the sandbox's processes
 * share (a pod's containers share
 * one, as Kubernetes pods share their IPC namespace).
 *
 * @module
 */
import { LinuxError } from "../errors.ts";
import { intSysctl as num, type Sysctl, sysctlIntegers } from "../kernel/sysctl.ts";
import { MqueueFs } from "./mqueue.ts";
import { MsgTable } from "./msg.ts";
import { SemTable } from "./sem.ts";
import { ShmTable } from "./shm.ts";

/** A namespaced setting (/proc/sys, linux.sysctl): its text, and a write that changes it. */
export type IpcSysctl = Sysctl;

const INT_MAX = 0x7fffffffn;
const ULONG_MAX = 0xffffffffffffffffn;
/** Slots per kind: the most objects any *mni may allow. */
const IPCMNI = 32768n;

/**
 * The objects, and what process lifetimes do to them.
 *
 * @example
 * ```ts
 * import { IpcNamespace } from "./namespace.ts";
 * const ns = new IpcNamespace();
 * ns.sysctls()["kernel.msgmnb"]!.write("65536");
 * if (ns.msg.limits.mnb !== 65536) throw new Error();
 * ns.exited({}, 1);
 * ```
 */
export class IpcNamespace {
  readonly shm = new ShmTable();
  readonly sem = new SemTable();
  readonly msg = new MsgTable();
  /** POSIX message queues (what an mqueue mount shows). */
  readonly mqueue = new MqueueFs();

  /**
   * The namespace's sysctls, by dotted key, as /proc/sys shows them.
   *
   * @returns kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.*.
   */
  sysctls(): Record<string, IpcSysctl> {
    const shm = this.shm.limits, msg = this.msg.limits, sem = this.sem.limits;
    const mq = this.mqueue.limits;
    return {
      "kernel.shmmax": num(() => shm.max, (v) => (shm.max = v), 0n, ULONG_MAX),
      "kernel.shmall": num(() => shm.all, (v) => (shm.all = v), 0n, ULONG_MAX),
      "kernel.shmmni": num(() => shm.mni, (v) => (shm.mni = Number(v)), 0n, IPCMNI),
      "kernel.msgmax": num(() => msg.max, (v) => (msg.max = Number(v)), 0n, INT_MAX),
      "kernel.msgmnb": num(() => msg.mnb, (v) => (msg.mnb = Number(v)), 0n, INT_MAX),
      "kernel.msgmni": num(() => msg.mni, (v) => (msg.mni = Number(v)), 0n, IPCMNI),
      "kernel.sem": {
        read: () => [sem.msl, sem.mns, sem.opm, sem.mni].join("\t"),
        write: (t: string) => {
          const [msl, mns, opm, mni] = sysctlIntegers(
            t,
            [sem.msl, sem.mns, sem.opm, sem.mni],
            0n,
            INT_MAX,
          );
          if (mni! > Number(IPCMNI)) throw new LinuxError("EINVAL");
          Object.assign(sem, { msl, mns, opm, mni });
        },
      },
      "fs.mqueue.msg_max": num(() => mq.msgMax, (v) => (mq.msgMax = Number(v)), 1n, 65536n),
      "fs.mqueue.msgsize_max": num(
        () => mq.msgsizeMax,
        (v) => (mq.msgsizeMax = Number(v)),
        128n,
        16n << 20n,
      ),
      "fs.mqueue.queues_max": num(
        () => mq.queuesMax,
        (v) => (mq.queuesMax = Number(v)),
        0n,
        INT_MAX,
      ),
      "fs.mqueue.msg_default": num(
        () => mq.msgDefault,
        (v) => (mq.msgDefault = Number(v)),
        1n,
        65536n,
      ),
      "fs.mqueue.msgsize_default": num(
        () => mq.msgsizeDefault,
        (v) => (mq.msgsizeDefault = Number(v)),
        128n,
        16n << 20n,
      ),
    };
  }

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
