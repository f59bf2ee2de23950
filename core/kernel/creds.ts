/**
 * Credentials: user and group ids, supplementary groups and capability
 * sets, with the rules Linux applies when ids change.
 *
 * @module
 */
import type { FsCreds } from "../vfs/inode.ts";

/** All capabilities dvisor knows (0..40). */
export const ALL_CAPS = (1n << 41n) - 1n;

/** A task's credentials. */
export class Credentials implements FsCreds {
  uid = 0;
  euid = 0;
  suid = 0;
  fsuid = 0;
  gid = 0;
  egid = 0;
  sgid = 0;
  fsgid = 0;
  groups: number[] = [];
  effective = ALL_CAPS;
  permitted = ALL_CAPS;
  inheritable = 0n;
  bounding = ALL_CAPS;
  ambient = 0n;
  /** PR_SET_KEEPCAPS. */
  keepCaps = false;

  /**
   * Whether the effective set holds a capability.
   *
   * @param cap The capability number.
   * @returns True if so.
   */
  capable(cap: number): boolean {
    return ((this.effective >> BigInt(cap)) & 1n) === 1n;
  }

  /** @returns An independent copy. */
  clone(): Credentials {
    const c = new Credentials();
    Object.assign(c, this);
    c.groups = [...this.groups];
    return c;
  }

  /**
   * Applies the capability rules of a uid change (setuid family), as
   * `cap_emulate_setxuid`: leaving uid 0 clears the permitted and effective
   * sets unless keepCaps; the effective set follows euid 0 <-> nonzero.
   *
   * @param old The ids before the change.
   */
  afterUidChange(old: { uid: number; euid: number; suid: number }): void {
    const wasRoot = old.uid === 0 || old.euid === 0 || old.suid === 0;
    const nowRoot = this.uid === 0 || this.euid === 0 || this.suid === 0;
    if (wasRoot && !nowRoot) {
      if (!this.keepCaps) this.permitted = 0n;
      this.effective = 0n;
      this.ambient = 0n;
    }
    if (old.euid === 0 && this.euid !== 0) this.effective = 0n;
    if (old.euid !== 0 && this.euid === 0) this.effective = this.permitted;
    this.fsuid = this.euid;
  }

  /**
   * The credentials after execve of a program without set-id bits: the
   * permitted set becomes (inheritable & bounding) | ambient for a non-root
   * caller, everything in the bounding set for root.
   */
  afterExec(): void {
    this.keepCaps = false;
    if (this.euid === 0 || this.uid === 0) {
      this.permitted = (this.bounding) | this.ambient;
      this.effective = this.euid === 0 ? this.permitted : this.ambient;
    } else {
      this.permitted = this.ambient;
      this.effective = this.ambient;
    }
    this.suid = this.euid;
    this.sgid = this.egid;
    this.fsuid = this.euid;
    this.fsgid = this.egid;
  }
}
