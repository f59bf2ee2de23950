/**
 * `dvisor install` and `dvisor uninstall`: make dvisor a runtime of Docker
 * (daemon.json's `runtimes`), of containerd (a CRI runtime through the runc
 * v2 shim) and show what Kubernetes and podman need, as `runsc install` does.
 *
 * @module
 */
import { type ConfigFile, readConfigFile, writeConfigFile } from "./config_file.ts";
import {
  addContainerdRuntime,
  containerdConfigVersion,
  containerdStanza,
  removeContainerdRuntime,
  runcStanza,
} from "./containerd_config.ts";
import { addDockerRuntime, removeDockerRuntime } from "./docker_config.ts";
import { flagHelp, type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import { GLOBAL_FLAGS } from "./global_flags.ts";
import type { Command } from "./main.ts";
import { writeOut } from "./output.ts";
import { selfExecutable } from "./self.ts";

const DOCKER_CONFIG = "/etc/docker/daemon.json";

const COMMON_FLAGS: FlagSpec[] = [
  {
    name: "config-file",
    type: "string",
    help: `the file to change (default ${DOCKER_CONFIG}; with --containerd, a config.toml)`,
  },
  { name: "runtime", type: "string", help: "the runtime's name in the client (default dvisor)" },
  {
    name: "containerd",
    type: "bool",
    help: "containerd: print the config.toml stanza, or write it into --config-file",
  },
  { name: "dry-run", type: "bool", help: "print the file that would be written; write nothing" },
  { name: "help", aliases: ["h"], type: "bool", help: "show this help" },
];

const INSTALL_FLAGS: FlagSpec[] = [
  ...COMMON_FLAGS,
  {
    name: "show",
    type: "bool",
    help: "print the Kubernetes RuntimeClass (YAML) and the podman command line",
  },
];

const INSTALL_HELP = `Usage: dvisor install [flags] [-- dvisor flags]

Adds dvisor as runtime NAME (--runtime, default dvisor):
   (default)      to Docker's daemon.json: runtimes.NAME = {path, runtimeArgs}; the
                  dvisor flags after -- become runtimeArgs (dvisor install -- --platform=ptrace)
   --containerd   to containerd: prints the CRI runtime stanza (runc v2 shim, BinaryName =
                  dvisor) for the installed containerd; with --config-file, writes it there
   --show         prints the Kubernetes RuntimeClass (handler NAME) and podman's command line
Existing content is kept; installing twice gives the same file.

Flags:
`;

const UNINSTALL_HELP = `Usage: dvisor uninstall [flags]

Removes runtime NAME (--runtime, default dvisor) from Docker's daemon.json, or with
--containerd from the containerd config.toml given by --config-file; the rest is kept.

Flags:
`;

/** The command line: flags, the runtime's name, and dvisor flags after `--`. */
function parseInstallArgs(args: string[], specs: FlagSpec[]) {
  const dash = args.indexOf("--");
  const parsed = parseFlags(dash < 0 ? args : args.slice(0, dash), specs);
  if (parsed.args.length) {
    throw new UsageError(
      `Unexpected argument ${parsed.args[0]}: dvisor flags for the runtime go after --`,
    );
  }
  const runtimeArgs = dash < 0 ? [] : args.slice(dash + 1);
  const stray = parseFlags(runtimeArgs, GLOBAL_FLAGS).args[0];
  if (stray !== undefined) {
    throw new UsageError(`Runtime argument ${stray} is not a dvisor flag: pass flags only`);
  }
  const name = (parsed.flags.runtime as string | undefined) ?? "dvisor";
  if (!/^[A-Za-z0-9_-]+$/.test(name)) {
    throw new UsageError(`Runtime name ${JSON.stringify(name)}: use letters, digits, - and _`);
  }
  const flags = parsed.flags;
  return { flags, name, runtimeArgs, configFile: flags["config-file"] as string | undefined };
}

/** containerd's config version for a stanza printed alone: 3 for an installed containerd 2.x. */
async function installedContainerdConfigVersion(): Promise<2 | 3> {
  try {
    const out = await new Deno.Command("containerd", { args: ["--version"], stderr: "null" })
      .output();
    const major = / v?(\d+)\.\d+/.exec(new TextDecoder().decode(out.stdout))?.[1];
    return Number(major) >= 2 ? 3 : 2;
  } catch {
    return 2;
  }
}

/** The Kubernetes RuntimeClass and podman's command line, as YAML with comments. */
function showText(name: string, binary: string): string {
  return [
    `# Kubernetes: the containerd runtime "${name}" (dvisor install --containerd) as a`,
    `# RuntimeClass; apply it (kubectl apply -f -) and set runtimeClassName: ${name} in a pod.`,
    "apiVersion: node.k8s.io/v1",
    "kind: RuntimeClass",
    "metadata:",
    `  name: ${name}`,
    `handler: ${name}`,
    "# podman: give it dvisor's path.",
    `#   podman --runtime ${binary} run --rm IMAGE COMMAND`,
    "",
  ].join("\n");
}

/**
 * Writes the new text (or, with --dry-run, prints it) and says what was done.
 *
 * @returns 0.
 */
async function apply(
  file: ConfigFile,
  text: string | undefined,
  dryRun: boolean,
  done: string,
  nothing: string,
): Promise<number> {
  if (dryRun) {
    await writeOut(text ?? file.text ?? "");
  } else if (text === undefined || text === file.text) {
    await writeOut(`${nothing}\n`);
  } else {
    await writeConfigFile(file, text);
    await writeOut(`${done}\n`);
  }
  return 0;
}

/** The `install` command. */
export const installCommand: Command = {
  flags: INSTALL_FLAGS,
  async run(args) {
    const { flags, name, runtimeArgs, configFile } = parseInstallArgs(args, INSTALL_FLAGS);
    if (flags.help) {
      await writeOut(`${INSTALL_HELP}${flagHelp(INSTALL_FLAGS)}\n`);
      return 0;
    }
    const binary = selfExecutable();
    if (flags.show) {
      if (flags.containerd || configFile !== undefined) {
        throw new UsageError("--show only prints: give it without --containerd or --config-file");
      }
      await writeOut(showText(name, binary));
      return 0;
    }
    if (flags.containerd) {
      if (runtimeArgs.length) {
        throw new UsageError(
          "containerd's runc shim passes no flags to dvisor: install without arguments after --",
        );
      }
      if (configFile === undefined) {
        const version = await installedContainerdConfigVersion();
        const runc = runcStanza(version).replace(/^/gm, "# ").trimEnd();
        await writeOut(
          "# Uncomment runc's table if config.toml has none: containerd drops its default\n" +
            `# runtime once a config names any runtime.\n${runc}\n` +
            containerdStanza(name, binary, version),
        );
        return 0;
      }
      const file = await readConfigFile(configFile);
      const text = addContainerdRuntime(file.text, configFile, name, binary);
      const version = containerdConfigVersion(text);
      return await apply(
        file,
        text,
        flags["dry-run"] === true,
        `Added runtime ${name} to ${configFile} (config version ${version}): restart containerd`,
        `Runtime ${name} is already in ${configFile}`,
      );
    }
    const path = configFile ?? DOCKER_CONFIG;
    const file = await readConfigFile(path);
    const runtime = { path: binary, ...(runtimeArgs.length ? { runtimeArgs } : {}) };
    return await apply(
      file,
      addDockerRuntime(file.text, path, name, runtime),
      flags["dry-run"] === true,
      `Added runtime ${name} to ${path}: restart dockerd, then docker run --runtime=${name}`,
      `Runtime ${name} is already in ${path}`,
    );
  },
};

/** The `uninstall` command. */
export const uninstallCommand: Command = {
  flags: COMMON_FLAGS,
  async run(args) {
    const { flags, name, runtimeArgs, configFile } = parseInstallArgs(args, COMMON_FLAGS);
    if (flags.help) {
      await writeOut(`${UNINSTALL_HELP}${flagHelp(COMMON_FLAGS)}\n`);
      return 0;
    }
    if (runtimeArgs.length) throw new UsageError("uninstall takes no arguments after --");
    if (flags.containerd && configFile === undefined) {
      throw new UsageError("uninstall --containerd needs --config-file: the config.toml to change");
    }
    const path = configFile ?? DOCKER_CONFIG;
    const file = await readConfigFile(path);
    const text = flags.containerd
      ? file.text === undefined ? undefined : removeContainerdRuntime(file.text, name)
      : removeDockerRuntime(file.text, path, name);
    return await apply(
      file,
      text,
      flags["dry-run"] === true,
      `Removed runtime ${name} from ${path}: restart ${
        flags.containerd ? "containerd" : "dockerd"
      }`,
      `No runtime ${name} in ${path}: nothing to remove`,
    );
  },
};
