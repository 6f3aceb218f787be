// Where one process's output goes: its stdout and stderr files, followed into the instance's
// ring and the daemon's log (hclog lines keep their level; at most so many a second, see
// output-relog.ts), the first stdout line kept apart as the handshake; and, for go-plugin
// >= 1.4 plugins, what they send over GRPCStdio.
import { isUnimplemented, type PluginClient } from "../../goplugin/host.js";
import type { Logger } from "../log.js";
import { LogFollower, type SkipReason } from "./log-follower.js";
import { OutputRelogger } from "./output-relog.js";
import { LineSplitter, type OutputRing, type OutputStream } from "./plugin-output.js";

export class OutputCapture {
  private followers: LogFollower[] = [];
  private stdio: { cancel(): void } | undefined;
  private readonly relog: OutputRelogger;

  /** `onSkipped`: output bytes the daemon did not read (counted in its metrics). */
  constructor(
    private readonly files: Readonly<Record<OutputStream, string>>,
    private readonly ring: OutputRing,
    private readonly log: Logger,
    private readonly onSkipped?: (stream: OutputStream, bytes: number) => void,
  ) {
    this.relog = new OutputRelogger(log, {}, (stream, text) => ring.push({ time: new Date(), stream, text }));
  }

  /**
   * Follows both files. A fresh process's files are read from the start and the first
   * non-empty stdout line is the handshake; an adopted one's from their current end.
   */
  async follow(fromEnd: boolean): Promise<{ handshake: Promise<string> }> {
    await this.drain();
    let resolveHandshake!: (line: string) => void;
    const handshake = new Promise<string>((r) => (resolveHandshake = r));
    const follow = (stream: OutputStream) => ({
      fromEnd,
      onSkipped: (bytes: number, why: SkipReason) => {
        this.relog.skippedBytes(stream, bytes, why);
        this.onSkipped?.(stream, bytes);
      },
    });
    const stdout = new LogFollower(this.files.stdout, (text) => this.record("stdout", text), {
      ...follow("stdout"),
      // Kept until read, whatever the plugin writes after it (see LogFollower's head).
      head: (text) => {
        if (text.trim() === "") return false;
        resolveHandshake(text);
        return true;
      },
    });
    const stderr = new LogFollower(this.files.stderr, (text) => this.record("stderr", text), follow("stderr"));
    this.followers = [stdout, stderr];
    const opened = await Promise.allSettled(this.followers.map((f) => f.start()));
    const failed = opened.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      await this.drain(); // the one that did open is closed, not left to the GC
      throw failed.reason;
    }
    // Wrapped: an async function returning a bare promise would wait for it.
    return { handshake };
  }

  /** Stops following the files, after reading what is left: then the ring has everything. */
  async drain(): Promise<void> {
    const followers = this.followers;
    this.followers = [];
    await Promise.all(followers.map((f) => f.stop()));
    this.relog.summarize();
  }

  /**
   * Reads GRPCStdio until it ends or cancelStdio(). Older plugins (and ours) answer
   * UNIMPLEMENTED or send nothing; their files are all there is.
   */
  consumeStdio(client: PluginClient): void {
    const stream = client.streamStdio();
    this.stdio = stream;
    const channel = (name: OutputStream) => ({ lines: new LineSplitter((line) => this.record(name, line)), utf8: new TextDecoder("utf-8") });
    const channels = { stdout: channel("stdout"), stderr: channel("stderr") };
    void (async () => {
      try {
        for await (const chunk of stream) {
          const c = channels[chunk.channel];
          c.lines.push(c.utf8.decode(chunk.data, { stream: true }));
        }
      } catch (err) {
        if (isUnimplemented(err)) this.log.debug("plugin does not serve GRPCStdio; reading its output files only");
      } finally {
        for (const c of Object.values(channels)) c.lines.end();
        if (this.stdio === stream) this.stdio = undefined;
      }
    })();
  }

  cancelStdio(): void {
    this.stdio?.cancel();
    this.stdio = undefined;
  }

  private record(stream: OutputStream, text: string): void {
    this.ring.push({ time: new Date(), stream, text });
    this.relog.line(stream, text);
  }
}
