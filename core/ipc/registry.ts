/**
 * What SysV shared memory, semaphores and message queues have in common:
 * keys, ids, owners and modes (`struct ipc64_perm`), the permission check
 * (`ipcperms`), the `*get` rules (IPC_PRIVATE, IPC_CREAT, IPC_EXCL) and the
 * owner-only commands (IPC_SET, IPC_RMID).
 *
 * An id is `seq * 32768 + index`, as Linux: a slot's next object gets a
 * new sequence number, so a stale id does not find it.
 *
 * @module
 */
import { LinuxError } from "../errors.ts";

/** Flags of the `*get` calls and commands shared by the three kinds. */
export const IPC = {
  PRIVATE: 0,
  CREAT: 0o1000,
  EXCL: 0o2000,
  NOWAIT: 0o4000,
  RMID: 0,
  SET: 1,
  STAT: 2,
  INFO: 3,
} as const;

/** CAP_IPC_OWNER: bypasses an object's permission bits. */
const CAP_IPC_OWNER = 15;
/** CAP_SYS_ADMIN: IPC_SET and IPC_RMID on anyone's objects. */
const CAP_SYS_ADMIN = 21;
/** Slots per kind (Linux's IPCMNI); the id's low part. */
const IPCMNI = 32768;

/** Who asks (a process's credentials). */
export interface IpcCreds {
  euid: number;
  egid: number;
  groups: number[];
  capable(cap: number): boolean;
}

/** An object's key, owners and mode. */
export class IpcObject {
  /** Its id (set when registered). */
  id = -1;
  /** The key it was made with; IPC_PRIVATE after IPC_RMID. */
  key: number;
  uid: number;
  gid: number;
  /** Creator. */
  readonly cuid: number;
  readonly cgid: number;
  /** Permission bits (and the kind's own flags above them). */
  mode: number;
  /** Last change (IPC_SET, creation), seconds. */
  ctime = nowSeconds();
  /** Gone from its registry (IPC_RMID): waiters see EIDRM. */
  removed = false;

  /**
   * Makes an object owned by its creator.
   *
   * @param key Its key.
   * @param mode The low 9 bits of the flags it was made with.
   * @param creds The creator.
   */
  constructor(key: number, mode: number, creds: IpcCreds) {
    this.key = key;
    this.uid = this.cuid = creds.euid;
    this.gid = this.cgid = creds.egid;
    this.mode = mode & 0o777;
  }

  /** The sequence number (the id's high part). */
  get seq(): number {
    return Math.floor(this.id / IPCMNI);
  }

  /**
   * Checks access as Linux's ipcperms: the owner's, group's or others'
   * bits, unless CAP_IPC_OWNER.
   *
   * @param creds Who asks.
   * @param want 4 read, 2 write (or a mode's bits, e.g. a get call's flags).
   * @throws {LinuxError} EACCES.
   */
  check(creds: IpcCreds, want: number): void {
    let granted = this.mode;
    if (creds.euid === this.cuid || creds.euid === this.uid) granted >>= 6;
    else if (inGroup(creds, this.cgid) || inGroup(creds, this.gid)) granted >>= 3;
    const requested = (want | (want >> 3) | (want >> 6)) & 7;
    if ((requested & ~granted & 7) && !creds.capable(CAP_IPC_OWNER)) {
      throw new LinuxError("EACCES");
    }
  }

  /**
   * Checks that the caller may change or remove the object: its owner, its
   * creator, or CAP_SYS_ADMIN.
   *
   * @param creds Who asks.
   * @throws {LinuxError} EPERM.
   */
  checkOwner(creds: IpcCreds): void {
    if (creds.euid !== this.uid && creds.euid !== this.cuid && !creds.capable(CAP_SYS_ADMIN)) {
      throw new LinuxError("EPERM");
    }
  }

  /**
   * Applies IPC_SET's owner and mode.
   *
   * @param perm The fields read from the caller's buffer.
   */
  set(perm: { uid: number; gid: number; mode: number }): void {
    this.uid = perm.uid;
    this.gid = perm.gid;
    this.mode = (this.mode & ~0o777) | (perm.mode & 0o777);
    this.ctime = nowSeconds();
  }

  /** @returns `struct ipc64_perm` (48 bytes). */
  encodePerm(): Uint8Array {
    const b = new Uint8Array(48);
    const v = new DataView(b.buffer);
    v.setInt32(0, this.key, true);
    v.setUint32(4, this.uid, true);
    v.setUint32(8, this.gid, true);
    v.setUint32(12, this.cuid, true);
    v.setUint32(16, this.cgid, true);
    v.setUint32(20, this.mode, true);
    v.setUint16(24, this.seq & 0xffff, true);
    return b;
  }
}

function inGroup(creds: IpcCreds, gid: number): boolean {
  return creds.egid === gid || creds.groups.includes(gid);
}

/** Seconds since the epoch, as the *_time fields count. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * Decodes the owner and mode IPC_SET reads (the start of every `*id64_ds`).
 *
 * @param b At least the 48 bytes of `struct ipc64_perm`.
 * @returns uid, gid and mode.
 *
 * @example
 * ```ts
 * import { decodePerm } from "./registry.ts";
 * const b = new Uint8Array(48);
 * new DataView(b.buffer).setUint32(20, 0o640, true);
 * if (decodePerm(b).mode !== 0o640) throw new Error();
 * ```
 */
export function decodePerm(b: Uint8Array): { uid: number; gid: number; mode: number } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { uid: v.getUint32(4, true), gid: v.getUint32(8, true), mode: v.getUint32(20, true) };
}

/**
 * The objects of one kind in an IPC namespace.
 *
 * @example
 * ```ts
 * import { IpcObject, IpcRegistry, IPC } from "./registry.ts";
 * const root = { euid: 0, egid: 0, groups: [], capable: () => true };
 * const r = new IpcRegistry<IpcObject>(() => 4);
 * const a = r.get(42, IPC.CREAT | 0o600, root, (key, mode) => new IpcObject(key, mode, root));
 * if (r.get(42, 0, root, () => { throw new Error(); }) !== a) throw new Error();
 * if (r.byId(a.id) !== a) throw new Error();
 * ```
 */
export class IpcRegistry<T extends IpcObject> {
  readonly #slots: (T | undefined)[] = [];
  readonly #byKey = new Map<number, T>();
  #seq = 0;
  /** The most objects at once (SHMMNI, SEMMNI, MSGMNI: a sysctl, read when one is made). */
  readonly max: () => number;

  /**
   * Makes an empty registry.
   *
   * @param max The most objects at once.
   */
  constructor(max: () => number) {
    this.max = max;
  }

  /**
   * A `*get` call: finds the object with a key, or makes one.
   *
   * @param key The key (IPC_PRIVATE always makes a new object).
   * @param flags IPC_CREAT, IPC_EXCL and the permission bits.
   * @param creds Who asks.
   * @param make Makes the new object (and checks the kind's own arguments).
   * @param fits Checks an existing object against the call's arguments.
   * @returns The object.
   * @throws {LinuxError} ENOENT, EEXIST, EACCES, ENOSPC, or what `make`/`fits` throw.
   */
  get(
    key: number,
    flags: number,
    creds: IpcCreds,
    make: (key: number, mode: number) => T,
    fits: (obj: T) => void = () => {},
  ): T {
    const found = key === IPC.PRIVATE ? undefined : this.#byKey.get(key);
    if (found) {
      if ((flags & IPC.CREAT) && (flags & IPC.EXCL)) throw new LinuxError("EEXIST");
      found.check(creds, flags & 0o777);
      fits(found);
      return found;
    }
    if (key !== IPC.PRIVATE && !(flags & IPC.CREAT)) throw new LinuxError("ENOENT");
    const index = this.#freeSlot();
    const obj = make(key, flags & 0o777);
    obj.id = this.#seq * IPCMNI + index;
    this.#seq = (this.#seq + 1) % 65536;
    this.#slots[index] = obj;
    if (key !== IPC.PRIVATE) this.#byKey.set(key, obj);
    return obj;
  }

  #freeSlot(): number {
    let used = 0;
    for (let i = 0; i < this.#slots.length; i++) {
      if (!this.#slots[i]) return i;
      used++;
    }
    if (used >= this.max()) throw new LinuxError("ENOSPC");
    return this.#slots.length;
  }

  /**
   * The object with an id.
   *
   * @param id The id.
   * @returns It.
   * @throws {LinuxError} EINVAL when no object has it.
   */
  byId(id: number): T {
    const obj = id >= 0 ? this.#slots[id % IPCMNI] : undefined;
    if (!obj || obj.id !== id) throw new LinuxError("EINVAL");
    return obj;
  }

  /**
   * The object in a slot (the *_STAT commands take an index).
   *
   * @param index The slot.
   * @returns It.
   * @throws {LinuxError} EINVAL when the slot is empty.
   */
  byIndex(index: number): T {
    const obj = index >= 0 && index < IPCMNI ? this.#slots[index] : undefined;
    if (!obj) throw new LinuxError("EINVAL");
    return obj;
  }

  /**
   * Takes the key away (IPC_RMID while still in use): later `*get` calls
   * make a new object, the id still works.
   *
   * @param obj The object.
   */
  forgetKey(obj: T): void {
    if (this.#byKey.get(obj.key) === obj) this.#byKey.delete(obj.key);
    obj.key = IPC.PRIVATE;
  }

  /**
   * Removes an object: its id and key are free again.
   *
   * @param obj The object.
   */
  remove(obj: T): void {
    this.forgetKey(obj);
    const index = obj.id % IPCMNI;
    if (this.#slots[index] === obj) this.#slots[index] = undefined;
    while (this.#slots.length && !this.#slots[this.#slots.length - 1]) this.#slots.pop();
    obj.removed = true;
  }

  /** The highest slot in use, or -1 (what IPC_INFO returns; 0 when empty, as Linux). */
  get highestIndex(): number {
    return this.#slots.length - 1;
  }

  /** @returns The objects, in slot order. */
  all(): T[] {
    return this.#slots.filter((o): o is T => o !== undefined);
  }
}
