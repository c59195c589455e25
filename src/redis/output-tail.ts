/**
 * The last few KB of a redis-server's output (its stdout/stderr and its log
 * file), quoted in the error of a start that failed. Apart from
 * server-process.ts, which only feeds it: reading back a log file that earlier
 * runs share, from where this run began, is a job of its own.
 */
import { open, stat } from 'node:fs/promises';

const OUTPUT_TAIL_CHARS = 4_000;

/** The last few KB of the child's output: its stdout/stderr, plus its log file when it has one. */
export class OutputTail {
  #text = '';
  #logOffset = 0;

  constructor(private readonly logFile: string | undefined) {}

  /** Remember where this run's lines start in a log file shared with earlier runs. */
  async markStart(): Promise<void> {
    if (this.logFile === undefined) return;
    this.#logOffset = await fileSize(this.logFile);
  }

  append(text: string): void {
    this.#text = (this.#text + text).slice(-OUTPUT_TAIL_CHARS);
  }

  async tail(): Promise<string> {
    let text = this.#text;
    if (this.logFile !== undefined) text += await readFrom(this.logFile, this.#logOffset);
    return text.slice(-OUTPUT_TAIL_CHARS).trimEnd();
  }
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0; // not written yet
  }
}

async function readFrom(file: string, offset: number): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      const size = (await handle.stat()).size;
      const start = Math.max(offset, size - OUTPUT_TAIL_CHARS);
      const buffer = Buffer.alloc(Math.max(0, size - start));
      await handle.read(buffer, 0, buffer.length, start);
      return buffer.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}
