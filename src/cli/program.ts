// Commander wiring: every command parses its flags into an options object and hands it,
// with the control client and the output seam, to the function in commands/ that does the
// work. Nothing else happens here.
import { Command, Option } from "commander";
import { VERSION } from "../shared/version.js";
import type { ControlClient } from "./client.js";
import { runCompleteNames, runCompletion } from "./commands/completion.js";
import { runTop } from "./commands/top.js";
import { runDaemonCommand } from "./commands/daemon.js";
import { runGet, runList, runStatus, runTargets } from "./commands/inspect.js";
import { runKill, runRestart, runShutdown, runStop } from "./commands/lifecycle.js";
import { applyFlags, applyOptions, runApply } from "./commands/apply.js";
import { diffFlags, diffOptions, runDiff } from "./commands/diff.js";
import { runLogs } from "./commands/logs.js";
import { runScrape } from "./commands/scrape.js";
import { duration, runStart } from "./commands/start.js";
import type { IO } from "./output.js";
import { readTokenFile } from "../shared/token.js";
import { usageError } from "./errors.js";

export interface GlobalOptions {
  addr: string;
  tokenFile?: string;
  json: boolean;
  timeout: string;
  debug: boolean;
  color: boolean;
}

export interface ProgramDeps {
  client(addr: string, token: string | undefined): ControlClient;
  io(globals: GlobalOptions): IO;
  cwd(): string;
  /** Lets tests replace the daemon; the real one runs until SIGTERM. */
  runDaemon?: typeof runDaemonCommand;
  /** Where commander writes help and usage errors; default process.stdout/stderr. */
  writeOut?(text: string): void;
  writeErr?(text: string): void;
}

export const DEFAULT_ADDR = "127.0.0.1:50051";

/** --token-file wins over PLUGPROM_TOKEN; neither means no token. */
function tokenOf(g: GlobalOptions): string | undefined {
  if (g.tokenFile !== undefined) {
    try {
      return readTokenFile(g.tokenFile, "--token-file");
    } catch (err) {
      throw usageError((err as Error).message);
    }
  }
  return process.env.PLUGPROM_TOKEN || undefined;
}

export function buildProgram(deps: ProgramDeps): Command {
  const program = new Command("plugprom")
    .description("Supervise go-plugin plugins and make each one observable by Prometheus through one daemon.")
    .version(VERSION, "-V, --version", "print the CLI version")
    .addOption(new Option("--addr <addr>", "daemon control address: host:port or unix:/path").env("PLUGPROM_ADDR").default(DEFAULT_ADDR))
    .option("--json", "machine-readable JSON output", false)
    .option("--timeout <duration>", "deadline for each call to the daemon (0: none; logs -f has none)", "60s")
    .option("--debug", "print stack traces on errors", false)
    .option("--no-color", "no colours (also off when NO_COLOR is set or stdout is not a terminal)")
    .option("--token-file <file>", "control token for a daemon started with --control-token-file (or PLUGPROM_TOKEN)")
    .exitOverride()
    .configureOutput(outputFor("plugprom", deps));

  /** Runs a client command with the shared seams built from the global flags. */
  const client =
    <O>(run: (o: O, client: ControlClient, io: IO, call: { timeoutMs?: number }) => Promise<void>, options: (cmd: Command, ...args: string[]) => O) =>
    async (...actionArgs: unknown[]) => {
      const cmd = actionArgs[actionArgs.length - 1] as Command;
      const globals = cmd.optsWithGlobals() as GlobalOptions;
      const positional = actionArgs.slice(0, -2) as string[];
      await run(options(cmd, ...positional), deps.client(globals.addr, tokenOf(globals)), deps.io(globals), deadline(globals));
    };
  /** --timeout as call options; 0 means no deadline (connect would fail a 0 ms deadline at once). */
  const deadline = (globals: GlobalOptions): { timeoutMs?: number } => {
    const timeoutMs = duration("--timeout", globals.timeout);
    return timeoutMs > 0 ? { timeoutMs } : {};
  };
  const globalsOf = (cmd: Command) => cmd.optsWithGlobals() as GlobalOptions & Record<string, unknown>;
  const collect = (value: string, previous: string[]) => [...previous, value];

  program
    .command("daemon")
    .description("run the daemon in the foreground: control API, HTTP SD, metrics proxy")
    .addOption(new Option("--grpc-addr <addr>", "control API address (host:port or unix:/path)").env("PLUGPROM_GRPC_ADDR").default("127.0.0.1:50051"))
    .addOption(new Option("--http-addr <addr>", "HTTP address for SD, proxy and /metrics").env("PLUGPROM_HTTP_ADDR").default("0.0.0.0:2112"))
    .addOption(new Option("--advertise-addr <host:port>", "address Prometheus uses to reach the HTTP server").env("PLUGPROM_ADVERTISE_ADDR"))
    .addOption(new Option("--state-dir <dir>", "state directory (default: $XDG_STATE_HOME/plugprom)").env("PLUGPROM_STATE_DIR"))
    .option("--config <file.json>", "plugin catalog")
    .option("--apply <file>", "plugins file to converge to after start-up and on every SIGHUP")
    .option("--log-level <level>", "debug, info, warn or error", "info")
    .option("--log-format <format>", "text or json", "text")
    .option("--scrape-timeout <duration>", "proxy timeout without X-Prometheus-Scrape-Timeout-Seconds", "10s")
    .option("--stop-grace <duration>", "default grace between Shutdown, SIGTERM and SIGKILL", "5s")
    .option("--start-timeout <duration>", "default time for a plugin's handshake and first health check", "30s")
    .option("--plugin-port-range <min-max>", "PLUGIN_MIN_PORT-PLUGIN_MAX_PORT for plugins listening on TCP", "10000-25000")
    .option("--health-interval <duration>", "how often running plugins are health-checked", "10s")
    .option("--gzip <when>", "compress scrapes: auto (not for scrapers on this host or bodies under 1 KiB), always or never", "auto")
    .option("--no-gzip", "the same as --gzip never")
    .option("--keep-plugins", "leave plugins running on SIGTERM/SIGINT, for a later daemon to reattach", false)
    .option("--backoff-initial <duration>", "first restart backoff; doubles per failure", "200ms")
    .option("--backoff-max <duration>", "restart backoff cap", "30s")
    .option("--control-token-file <file>", "require this bearer token on every control RPC")
    .option("--scrape-token-file <file>", "require this bearer token for SD, the proxy and /metrics")
    .option("--tls-cert-file <file>", "serve the HTTP side over TLS with this certificate (reloaded on SIGHUP)")
    .option("--tls-key-file <file>", "the TLS certificate's private key")
    .option("--max-scrape-bytes <size>", "cut scrapes larger than this", "64MiB")
    .option("--max-concurrent-scrapes <n>", "scrapes of one plugin in flight at once; more get 429", "8")
    .option("--max-federate-bytes <size>", "all plugins' expositions held for one /federate answer", "64MiB")
    .option("--file-sd <path>", "also write the SD target groups to this file_sd JSON file on every change")
    .action(async (_opts: unknown, cmd: Command) => {
      const o = cmd.opts();
      await (deps.runDaemon ?? runDaemonCommand)({
        grpcAddr: o.grpcAddr,
        httpAddr: o.httpAddr,
        advertiseAddr: o.advertiseAddr,
        stateDir: o.stateDir,
        config: o.config,
        apply: o.apply as string | undefined,
        logLevel: o.logLevel,
        logFormat: o.logFormat,
        scrapeTimeout: o.scrapeTimeout,
        stopGrace: o.stopGrace,
        startTimeout: o.startTimeout,
        pluginPortRange: o.pluginPortRange,
        healthInterval: o.healthInterval,
        gzip: o.gzip as string | false,
        keepPlugins: o.keepPlugins as boolean,
        backoffInitial: o.backoffInitial as string,
        backoffMax: o.backoffMax as string,
        controlTokenFile: o.controlTokenFile as string | undefined,
        scrapeTokenFile: o.scrapeTokenFile as string | undefined,
        tlsCertFile: o.tlsCertFile as string | undefined,
        tlsKeyFile: o.tlsKeyFile as string | undefined,
        maxScrapeBytes: o.maxScrapeBytes as string,
        maxConcurrentScrapes: o.maxConcurrentScrapes as string,
        maxFederateBytes: o.maxFederateBytes as string,
        fileSd: o.fileSd as string | undefined,
      });
    });

  program
    .command("start")
    .description("launch a plugin instance; returns once it is RUNNING")
    .argument("<name>", "instance name")
    .argument("[command...]", "command and arguments, after --")
    .option("--plugin <entry|path>", "catalog entry or executable path")
    .option("--label <k=v>", "target label (repeatable)", collect, [])
    .option("--env <K=V>", "environment variable for the plugin (repeatable)", collect, [])
    .option("--magic-cookie <K=V>", "go-plugin magic cookie (default PLUGPROM_PLUGIN=plugprom)")
    .option("--protocol-version <n>", "app protocol version offered (repeatable, default 1)", collect, [])
    .option("--metrics-transport <unix|tcp>", "where the plugin serves its metrics (default unix)")
    .option("--start-timeout <duration>", "handshake and health deadline (default: the daemon's)")
    .option("--no-auto-mtls", "no go-plugin AutoMTLS for this instance")
    .option("--sha256 <hex>", "refuse to run the executable unless its SHA-256 matches")
    .option("--restart <policy>", "always, on-failure (default) or never")
    .option("--inherit-env", "give the plugin the daemon's whole environment, not the minimal one", false)
    .option("--no-metrics", "the plugin serves no metrics; its target serves its process_* metrics from /proc")
    .option("--scrape-interval <duration>", "this target's Prometheus scrape interval (__scrape_interval__)")
    .option("--scrape-timeout <duration>", "this target's Prometheus scrape timeout (__scrape_timeout__)")
    .action(
      client(runStart, (cmd, name, ...rest) => {
        const o = globalsOf(cmd);
        const command = (cmd.args.length > 1 ? cmd.args.slice(1) : rest.flat()) as string[];
        return {
          name,
          command,
          plugin: o.plugin as string | undefined,
          label: o.label as string[],
          env: o.env as string[],
          magicCookie: o.magicCookie as string | undefined,
          protocolVersion: o.protocolVersion as string[],
          metricsTransport: o.metricsTransport as string | undefined,
          startTimeout: cmd.opts().startTimeout as string | undefined,
          autoMtls: o.autoMtls as boolean,
          sha256: o.sha256 as string | undefined,
          restart: cmd.opts().restart as string | undefined,
          inheritEnv: cmd.opts().inheritEnv as boolean,
          noMetrics: cmd.opts().metrics === false,
          scrapeInterval: cmd.opts().scrapeInterval as string | undefined,
          scrapeTimeout: cmd.opts().scrapeTimeout as string | undefined,
          cwd: deps.cwd(),
          json: o.json,
        };
      }),
    );

  const lifecycle = (name: string, description: string, run: typeof runStop, withGrace: boolean) => {
    const c = program.command(name).description(description).argument("<name>", "instance name");
    if (withGrace) c.option("--grace <duration>", "time between Shutdown, SIGTERM and SIGKILL (default: the daemon's)");
    c.action(client(run, (cmd, n) => ({ name: n, grace: cmd.opts().grace as string | undefined, json: globalsOf(cmd).json })));
  };
  lifecycle("stop", "stop an instance gracefully and forget it", runStop, true);
  lifecycle("kill", "SIGKILL an instance's process group now and forget it", runKill, false);
  lifecycle("restart", "stop an instance gracefully and start it again", runRestart, true);

  applyFlags(program.command("apply").description("converge the daemon to a plugins file"), { withDryRun: true }).action(
    client(runApply, (cmd) => applyOptions(cmd, deps.cwd(), globalsOf(cmd).json)),
  );
  diffFlags(program.command("diff").description("show what apply would change; exit 1 when something would")).action(
    client(runDiff, (cmd) => diffOptions(cmd, deps.cwd(), globalsOf(cmd).json)),
  );

  program
    .command("list")
    .alias("ls")
    .description("list plugin instances")
    .action(client(runList, (cmd) => ({ json: globalsOf(cmd).json })));
  program
    .command("get")
    .description("show one plugin instance")
    .argument("<name>", "instance name")
    .action(client(runGet, (cmd, name) => ({ name, json: globalsOf(cmd).json })));
  program
    .command("targets")
    .description("print the Prometheus HTTP SD document exactly as the daemon serves it")
    .action(client(runTargets, () => ({})));
  program
    .command("scrape")
    .description("print an instance's metrics as the proxy returns them")
    .argument("<name>", "instance name")
    .option("--accept <media-type>", "Accept header sent to the plugin")
    .option("--openmetrics", "ask for OpenMetrics 1.0.0", false)
    .action(client(runScrape, (cmd, name) => ({ name, accept: cmd.opts().accept as string | undefined, openmetrics: cmd.opts().openmetrics as boolean })));
  program
    .command("status")
    .description("show the daemon's version, addresses and instance counts")
    .action(client(runStatus, (cmd) => ({ json: globalsOf(cmd).json })));
  program
    .command("logs")
    .description("print an instance's recent output lines")
    .argument("<name>", "instance name")
    .option("-n, --lines <n>", "how many lines (default 50)")
    .option("-f, --follow", "keep printing new lines", false)
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const globals = globalsOf(cmd);
      const o = cmd.opts();
      const follow = o.follow as boolean;
      const call = deadline(globals);
      // A followed log has no end, so no deadline (deadline() still validated the flag).
      if (follow) delete call.timeoutMs;
      await runLogs({ name, lines: o.lines as string | undefined, follow, json: globals.json }, deps.client(globals.addr, tokenOf(globals)), deps.io(globals), call);
    });
  program
    .command("shutdown")
    .description("stop the daemon (and its plugins, unless --keep-plugins)")
    .option("--keep-plugins", "leave plugins running for the next daemon to reattach", false)
    .action(client(runShutdown, (cmd) => ({ keepPlugins: cmd.opts().keepPlugins as boolean, json: globalsOf(cmd).json })));
  program
    .command("top")
    .description("a live view of every plugin: state, CPU, memory, restarts, last scrape (q quits)")
    .option("--interval <duration>", "refresh interval", "1s")
    .action(
      client(runTop, (cmd) => ({
        intervalMs: duration("--interval", cmd.opts().interval as string),
        tty: process.stdout.isTTY && process.stdin.isTTY ? { input: process.stdin, columns: () => process.stdout.columns } : undefined,
      })),
    );
  program
    .command("completion")
    .description("print a shell completion script (bash, zsh or fish)")
    .argument("<shell>", "bash, zsh or fish")
    .action(async (shell: string, _o: unknown, cmd: Command) => runCompletion({ shell }, deps.io(globalsOf(cmd))));
  program.command("__complete-names", { hidden: true }).action(client(runCompleteNames, () => ({})));
  program
    .command("version")
    .description("print the CLI version")
    .action(async (_o: unknown, cmd: Command) => {
      const globals = globalsOf(cmd);
      await deps.io(globals).out(globals.json ? `${JSON.stringify({ version: VERSION })}\n` : `plugprom ${VERSION}\n`);
    });
  // Subcommands took a copy of the output settings when they were made; give each its own
  // so a usage error points at that command's help.
  for (const sub of program.commands) sub.configureOutput(outputFor(`plugprom ${sub.name()}`, deps));
  return program;
}

/** Usage errors are one line on stderr, like every other error of the CLI. */
function outputFor(command: string, deps: ProgramDeps) {
  return {
    ...(deps.writeOut ? { writeOut: deps.writeOut } : {}),
    ...(deps.writeErr ? { writeErr: deps.writeErr } : {}),
    outputError: (str: string, write: (s: string) => void) =>
      write(`plugprom: ${str.replace(/^error: /, "").trimEnd().replace(/\s*\n\s*/g, " ")} (see "${command} --help")\n`),
  };
}
