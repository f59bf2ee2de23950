/**
 * procfs's network files: /proc/net (what /proc/PID/net shows: the
 * sandbox's sockets, its loopback and counters, in Linux's formats) and the
 * /proc/sys/net settings. With the sandbox's own network both come from
 * the Sentry's state (core/net/namespace.ts); with the host's network
 * (`--network host`) they are the host network namespace's own files,
 * read by the Sentry, and the settings cannot be changed from inside.
 *
 * @module
 */
import type { Kernel } from "../kernel/kernel.ts";

/** A setting as /proc/sys shows it: its text, and a write when it may be changed. */
export interface NetSysctl {
  read: () => string;
  write?: (text: string) => void;
}

/**
 * The net.* settings /proc/sys/net shows, by dotted key: the sandbox's own
 * network's, or the host's read-only.
 *
 * @param k The kernel.
 * @returns The settings.
 *
 * @example
 * ```ts ignore
 * for (const [key, ctl] of Object.entries(netSysctls(k))) place(key, ctl);
 * ```
 */
export function netSysctls(k: Kernel): Record<string, NetSysctl> {
  const own = k.net.sysctls();
  if (k.network !== "host") return own;
  const out: Record<string, NetSysctl> = {};
  for (const key of Object.keys(own)) {
    const path = `/proc/sys/${key.replaceAll(".", "/")}`;
    out[key] = { read: () => hostFile(path).replace(/\n$/, "") };
  }
  return out;
}

/** A host file's text, or "" when it cannot be read. */
function hostFile(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}
