/**
 * The values of a spec's linux.sysctl, checked against the namespaces that
 * hold them (a scratch IPC and network namespace of the Sentry's), so that
 * a bad value fails `create` rather than the sandbox.
 *
 * @module
 */
import { IpcNamespace } from "../ipc/namespace.ts";
import { NetNamespace } from "../net/namespace.ts";
import { SpecError } from "./oci_spec.ts";

/**
 * Checks sysctl values as the sandbox will set them.
 *
 * Preconditions: the keys passed parseSpec (dotted, namespaced).
 *
 * @param sysctl The spec's `sysctl` (dotted keys), in the spec's order.
 * @throws {SpecError} For a value out of range, or a key no namespace has.
 *
 * @example
 * ```ts
 * import { checkSysctls } from "./oci_sysctl.ts";
 * checkSysctls({ "kernel.msgmax": "16384", "net.ipv4.ip_default_ttl": "32" });
 * try {
 *   checkSysctls({ "net.ipv4.ip_default_ttl": "0" });
 *   throw new Error("accepted");
 * } catch (e) {
 *   if (!(e instanceof Error) || !e.message.includes("give a number")) throw e;
 * }
 * ```
 */
export function checkSysctls(sysctl: Record<string, string>): void {
  // Scratch namespaces take them in the order the sandbox will
  // (ip_local_port_range's check depends on ip_unprivileged_port_start).
  const known = { ...new IpcNamespace().sysctls(), ...new NetNamespace().sysctls() };
  for (const [key, value] of Object.entries(sysctl)) {
    const setting = known[key];
    if (setting) {
      try {
        setting.write(value);
      } catch {
        throw new SpecError(
          `config.json: linux.sysctl ${key} cannot be ${
            JSON.stringify(value)
          }: give a number in its range`,
        );
      }
    } else if (key.startsWith("fs.mqueue.") || /^kernel\.(msg|sem|shm[^_])/.test(key)) {
      throw new SpecError(`config.json: there is no sysctl ${key}: remove it from linux.sysctl`);
    }
  }
}
