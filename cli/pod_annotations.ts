/**
 * The CRI annotations that put a container into another container's
 * sandbox (containerd's and CRI-O's names).
 *
 * @module
 */
import { UsageError } from "./flags.ts";

/**
 * The sandbox a container joins, from its annotations.
 *
 * @param annotations The spec's annotations.
 * @returns The id of the container whose sandbox it joins, or null for a
 *   container that gets a sandbox of its own (no annotation, or the pod's
 *   `sandbox` container).
 * @throws {UsageError} For a pod container that names no sandbox.
 *
 * @example
 * ```ts
 * import { podSandbox } from "./pod_annotations.ts";
 * const a = { "io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.sandbox-id": "p" };
 * if (podSandbox(a) !== "p" || podSandbox({}) !== null) throw new Error();
 * ```
 */
export function podSandbox(annotations: Record<string, string>): string | null {
  const type = annotations["io.kubernetes.cri.container-type"] ??
    annotations["io.kubernetes.cri-o.ContainerType"];
  if (type !== "container") return null;
  const sandbox = annotations["io.kubernetes.cri.sandbox-id"] ??
    annotations["io.kubernetes.cri-o.SandboxID"];
  if (!sandbox) {
    throw new UsageError(
      "A pod container needs io.kubernetes.cri.sandbox-id: name the pod's sandbox container",
    );
  }
  return sandbox;
}
