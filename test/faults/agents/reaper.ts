/**
 * Watches the process that started a Cluster (ROTA_PARENT_PID) and, once it is
 * gone without cleaning up (SIGKILLed), SIGKILLs the cluster's redis-server,
 * found by its command line (`redis-server 127.0.0.1:<REAPER_REDIS_PORT>`), so
 * it survives restarts. Brokers and workers end themselves (exit-with-parent.ts);
 * a redis-server cannot load that preload, hence this process.
 */
import { readFileSync, readdirSync } from 'node:fs';

const parent = Number(process.env.ROTA_PARENT_PID ?? 0);
const port = process.env.REAPER_REDIS_PORT ?? '';

function redisPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmdline[0]?.startsWith('redis-server') && cmdline[0].endsWith(`:${port}`)) {
        pids.push(Number(entry));
      }
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

if (parent > 0 && port !== '') {
  setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch {
      for (const pid of redisPids()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      process.exit(0);
    }
  }, 250);
}
