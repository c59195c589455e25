/** Worker agent journals (JSON lines, see agents/worker-agent.ts), read back. */
import { readFileSync } from 'node:fs';

export interface JournalRecord {
  readonly ev:
    | 'ready'
    | 'connected'
    | 'disconnected'
    | 'start'
    | 'end'
    | 'fail'
    | 'aborted'
    | 'error'
    | 'fatal';
  readonly t: number;
  readonly agent: string;
  readonly pid: number;
  readonly job?: string;
  readonly tenant?: string;
  readonly attempt?: number;
  readonly reason?: string;
  readonly message?: string;
  readonly name?: string;
  readonly reattached?: string[];
  readonly refused?: string[];
}

/** Records that end a run: at one time, they go before the starts (see readJournals). */
const ENDS = new Set<JournalRecord['ev']>(['end', 'fail', 'aborted']);

/**
 * Every record of the given journals, in time order; at one time, the ends of
 * runs before the starts, as the slot an end frees may be a start's (journals
 * of whole ms had such ties). A torn last line (SIGKILL mid-write) is skipped.
 */
export function readJournals(files: readonly string[]): JournalRecord[] {
  const records: JournalRecord[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // not written yet
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        records.push(JSON.parse(line) as JournalRecord);
      } catch {
        // torn write
      }
    }
  }
  return records.sort((a, b) => a.t - b.t || Number(ENDS.has(b.ev)) - Number(ENDS.has(a.ev)));
}

/** Count of 'start' records. */
export function startCount(records: readonly JournalRecord[]): number {
  let n = 0;
  for (const r of records) if (r.ev === 'start') n++;
  return n;
}

/** Each job's handler starts, and how a start finished, from the journal. */
export interface Attempts {
  readonly starts: ReadonlyMap<string, readonly JournalRecord[]>;
  /** The end, fail or aborted record of the same job, agent and attempt after it, if any. */
  readonly endOf: (start: JournalRecord) => JournalRecord | undefined;
}

export function attemptsOf(records: readonly JournalRecord[]): Attempts {
  const starts = new Map<string, JournalRecord[]>();
  const ends = new Map<string, JournalRecord[]>();
  for (const r of records) {
    if (r.job === undefined) continue;
    const into =
      r.ev === 'start'
        ? starts
        : r.ev === 'end' || r.ev === 'fail' || r.ev === 'aborted'
          ? ends
          : undefined;
    if (!into) continue;
    const list = into.get(r.job);
    if (list) list.push(r);
    else into.set(r.job, [r]);
  }
  return {
    starts,
    endOf: (start) =>
      ends
        .get(start.job!)
        ?.find((e) => e.agent === start.agent && e.attempt === start.attempt && e.t >= start.t),
  };
}

/** Leases the agents' reconnects re-attached, and those refused (Welcome), over all 'connected' records. */
export function reattachments(records: readonly JournalRecord[]): {
  reattached: number;
  refused: number;
} {
  let reattached = 0;
  let refused = 0;
  for (const r of records) {
    reattached += r.reattached?.length ?? 0;
    refused += r.refused?.length ?? 0;
  }
  return { reattached, refused };
}
