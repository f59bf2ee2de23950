/**
 * `dvisor gofer` (internal): the file server of one container. It opens
 * what it serves, confines itself (an empty root in its own mount
 * namespace, a seccomp filter), then answers the Sentry's requests on the
 * sockets it inherited until the Sentry closes them.
 *
 *     dvisor gofer --empty-root DIR --serve PATH:ro:FD [--serve PATH:rw:FD ...]
 *
 * @module
 */
import { CONTAINER_TAG_FLAG } from "./sandbox_reaper.ts";
import { basename, dirname } from "@std/path";
import { denySyscalls, enterEmptyRoot } from "../platform/confine.ts";
import { denoCacheDir, sealFilesUnder } from "../platform/deno_cache_unsafe.ts";
import { FileCalls } from "../platform/files.ts";
import { O } from "../platform/fd.ts";
import { HostBackend } from "../gofer/host_backend.ts";
import { GoferServer, serveAll } from "../gofer/server.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import type { Command } from "./main.ts";

const FLAGS: FlagSpec[] = [
  CONTAINER_TAG_FLAG,
  {
    name: "serve",
    type: "list",
    help: "PATH:ro|rw:FD, a directory to serve on an inherited socket",
  },
  {
    name: "empty-root",
    type: "string",
    help: "an existing directory to mount the gofer's empty root on",
  },
];

/** What a gofer must never do once serving. */
const DENIED = [
  "execve",
  "execveat",
  "ptrace",
  "process_vm_readv",
  "process_vm_writev",
  "mount",
  "umount2",
  "pivot_root",
  "chroot",
  "setns",
  "unshare",
  "kexec_load",
  "init_module",
  "finit_module",
  "bpf",
  "perf_event_open",
  "keyctl",
  "add_key",
  "request_key",
  "connect",
  "bind",
  "listen",
] as const;

/**
 * Where a served path lives: a directory is served as itself; anything else
 * (a file bind mount, symlinks followed as mount(2) does) as one name in
 * its real parent directory.
 */
function servedRoot(path: string): { dir: string; fileName?: string } {
  let real: string;
  try {
    real = Deno.realPathSync(path);
  } catch {
    return { dir: path }; // openBeneath reports the error
  }
  if (Deno.statSync(real).isDirectory) return { dir: real };
  return { dir: dirname(real), fileName: basename(real) };
}

/** The `gofer` command. */
export const goferCommand: Command = {
  flags: FLAGS,
  run(args, { logger }) {
    const parsed = parseFlags(args, FLAGS);
    const serves = (parsed.flags.serve as string[] | undefined) ?? [];
    if (serves.length === 0) throw new UsageError("dvisor gofer needs --serve PATH:ro|rw:FD");
    const calls = new FileCalls();
    const pairs = serves.map((spec) => {
      const m = /^(.*):(ro|rw):(\d+)$/.exec(spec);
      if (!m) throw new UsageError(`Invalid --serve ${spec}: use PATH:ro|rw:FD`);
      const { dir, fileName } = servedRoot(m[1]!);
      const root = calls.openBeneath(-100, dir, 0o10000000 /* O_PATH */ | O.DIRECTORY, 0, 0);
      const server = new GoferServer(
        new HostBackend(root, { readOnly: m[2] === "ro", ...(fileName ? { fileName } : {}) }),
      );
      server.onBug = (msg) => logger.error(msg);
      server.onRefused = (msg) => logger.debug(`${m[1]}: ${msg}`);
      logger.debug(
        `serving ${m[1]}${fileName ? ` (the file ${fileName} in ${dir})` : ""} ` +
          `${m[2] === "ro" ? "read-only" : "read-write"} on descriptor ${m[3]}`,
      );
      return { fd: Number(m[3]), server };
    });
    const empty = parsed.flags["empty-root"] as string | undefined;
    // From here on its records go to the debug log only (--log is a host path).
    logger.leaveHost();
    // Deno's cache databases, which the CLI trusts, stay open: read-only from here.
    sealFilesUnder(denoCacheDir());
    if (empty) enterEmptyRoot(empty);
    denySyscalls(DENIED);
    logger.debug("confined: serving until the sandbox closes its sockets");
    serveAll(pairs);
    logger.debug("every socket closed: exiting");
    return 0;
  },
};
