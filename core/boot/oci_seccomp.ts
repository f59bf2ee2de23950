/**
 * The container's own seccomp profile (`linux.seccomp` of the OCI spec),
 * enforced by the Sentry on the application's system calls: it is parsed
 * into a table by system call number, and {@linkcode seccompDecision}
 * gives what happens to one call. As with several matching filters in
 * Linux, the most restrictive matching action wins (kill, trap, errno,
 * trace, log, allow). Names of other architectures (`_llseek`, `chown32`)
 * are skipped, as runc skips them on x86-64.
 *
 * @module
 */
import { SYS } from "../../platform/sysno.ts";

/** What a matching rule does. */
export type SeccompAction =
  | { kind: "allow" }
  | { kind: "log" }
  | { kind: "errno"; errno: number }
  | { kind: "trace"; errno: number }
  | { kind: "trap" }
  | { kind: "kill_thread" }
  | { kind: "kill_process" };

/** An argument condition (libseccomp's `scmp_arg_cmp`). */
export interface SeccompCondition {
  index: number;
  op: "ne" | "lt" | "le" | "eq" | "ge" | "gt" | "masked_eq";
  value: bigint;
  valueTwo: bigint;
}

/** A parsed profile: serializable (it travels in the sandbox's config). */
export interface SeccompProfile {
  defaultAction: SeccompAction;
  /** Rules by system call number, in profile order. */
  rules: Record<number, Array<{ conditions: SeccompCondition[]; action: SeccompAction }>>;
}

const EPERM = 1;
const ENOSYS = 38;

const RANK: Record<SeccompAction["kind"], number> = {
  kill_process: 7,
  kill_thread: 6,
  trap: 5,
  errno: 4,
  trace: 3,
  log: 2,
  allow: 1,
};

const OPS: Record<string, SeccompCondition["op"]> = {
  SCMP_CMP_NE: "ne",
  SCMP_CMP_LT: "lt",
  SCMP_CMP_LE: "le",
  SCMP_CMP_EQ: "eq",
  SCMP_CMP_GE: "ge",
  SCMP_CMP_GT: "gt",
  SCMP_CMP_MASKED_EQ: "masked_eq",
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function u64(v: unknown, what: string): bigint {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new Error(`${what} must be a non-negative integer`);
  }
  return BigInt(v) & 0xffffffffffffffffn;
}

function parseAction(name: unknown, errnoRet: unknown, defaultErrnoRet: unknown, what: string) {
  const errno = (fallback: number) => {
    const v = errnoRet ?? defaultErrnoRet;
    if (v === undefined) return fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 4095) {
      throw new Error(`${what}: errnoRet must be an integer from 0 to 4095`);
    }
    return v;
  };
  switch (name) {
    case "SCMP_ACT_ALLOW":
      return { kind: "allow" } as const;
    case "SCMP_ACT_LOG":
      return { kind: "log" } as const;
    case "SCMP_ACT_ERRNO":
      return { kind: "errno", errno: errno(EPERM) } as const;
    case "SCMP_ACT_TRACE":
      // No tracer is ever attached: as Linux without one, ENOSYS.
      return { kind: "trace", errno: ENOSYS } as const;
    case "SCMP_ACT_TRAP":
      return { kind: "trap" } as const;
    case "SCMP_ACT_KILL":
    case "SCMP_ACT_KILL_THREAD":
      return { kind: "kill_thread" } as const;
    case "SCMP_ACT_KILL_PROCESS":
      return { kind: "kill_process" } as const;
    case "SCMP_ACT_NOTIFY":
      throw new Error(`${what}: SCMP_ACT_NOTIFY (a seccomp agent) is not supported`);
  }
  throw new Error(`${what}: unknown action ${name}`);
}

/**
 * Parses `linux.seccomp`.
 *
 * @param raw The object.
 * @returns The profile.
 * @throws {Error} For an invalid profile (the message names the field).
 *
 * @example
 * ```ts
 * import { parseSeccomp, seccompDecision } from "./oci_seccomp.ts";
 * const p = parseSeccomp({
 *   defaultAction: "SCMP_ACT_ALLOW",
 *   syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO", errnoRet: 13 }],
 * });
 * const d = seccompDecision(p, 83, [0n, 0n, 0n, 0n, 0n, 0n]);
 * if (d.kind !== "errno" || d.errno !== 13) throw new Error();
 * ```
 */
export function parseSeccomp(raw: unknown): SeccompProfile {
  if (!isObject(raw)) throw new Error("linux.seccomp must be an object");
  const defaultAction = parseAction(
    raw.defaultAction,
    raw.defaultErrnoRet,
    undefined,
    "linux.seccomp.defaultAction",
  );
  const rules: SeccompProfile["rules"] = {};
  const list = raw.syscalls === undefined ? [] : raw.syscalls;
  if (!Array.isArray(list)) throw new Error("linux.seccomp.syscalls must be an array");
  list.forEach((s: unknown, i) => {
    const what = `linux.seccomp.syscalls[${i}]`;
    if (!isObject(s) || !Array.isArray(s.names)) throw new Error(`${what} needs names`);
    const action = parseAction(s.action, s.errnoRet, raw.defaultErrnoRet, what);
    const conditions = (Array.isArray(s.args) ? s.args : []).map((a: unknown, j: number) => {
      const w = `${what}.args[${j}]`;
      if (!isObject(a)) throw new Error(`${w} must be an object`);
      const op = OPS[String(a.op)];
      if (!op) throw new Error(`${w}: unknown op ${a.op}`);
      const index = Number(a.index);
      if (!Number.isInteger(index) || index < 0 || index > 5) {
        throw new Error(`${w}: index must be 0 to 5`);
      }
      return {
        index,
        op,
        value: u64(a.value ?? 0, `${w}.value`),
        valueTwo: u64(a.valueTwo ?? 0, `${w}.valueTwo`),
      };
    });
    for (const name of s.names) {
      const nr = (SYS as Record<string, number>)[String(name)];
      if (nr === undefined) continue; // another architecture's name
      (rules[nr] ??= []).push({ conditions, action });
    }
  });
  return { defaultAction, rules };
}

function holds(c: SeccompCondition, args: readonly bigint[]): boolean {
  const a = (args[c.index] ?? 0n) & 0xffffffffffffffffn;
  switch (c.op) {
    case "ne":
      return a !== c.value;
    case "lt":
      return a < c.value;
    case "le":
      return a <= c.value;
    case "eq":
      return a === c.value;
    case "ge":
      return a >= c.value;
    case "gt":
      return a > c.value;
    case "masked_eq":
      return (a & c.value) === c.valueTwo;
  }
}

/**
 * What the profile does with one system call.
 *
 * @param p The profile.
 * @param nr The system call number.
 * @param args Its six arguments.
 * @returns The action.
 */
export function seccompDecision(
  p: SeccompProfile,
  nr: number,
  args: readonly bigint[],
): SeccompAction {
  let best: SeccompAction | null = null;
  for (const r of p.rules[nr] ?? []) {
    if (!r.conditions.every((c) => holds(c, args))) continue;
    if (!best || RANK[r.action.kind] > RANK[best.kind]) best = r.action;
  }
  return best ?? p.defaultAction;
}

/**
 * The system calls the profile lets through unconditionally: only these may
 * still run natively in the stub (the self-only class); the others are
 * brought to the Sentry, which applies the profile.
 *
 * @param p The profile.
 * @param nrs Candidate system call numbers.
 * @returns Those always allowed.
 */
export function alwaysAllowed(p: SeccompProfile, nrs: readonly number[]): number[] {
  return nrs.filter((nr) => {
    const rules = p.rules[nr] ?? [];
    const unconditional = rules.some((r) => r.conditions.length === 0 && r.action.kind === "allow");
    const allAllow = rules.every((r) => r.action.kind === "allow" || r.action.kind === "log");
    return allAllow && (unconditional || p.defaultAction.kind === "allow");
  });
}
