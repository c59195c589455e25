/**
 * The Rota clients of the tree under test: the snapshot named by ROTA_BENCH_ROOT
 * (bench/run.ts --rev exports one), else this repository's clients/.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import type * as Clients from '../../clients/index.js';

/**
 * The clients, with the OpenTelemetry SDK started first when the run traces
 * (`--tracing` sets the OTEL_* variables), so the Producer's spans put their
 * context into the jobs and the Worker's spans join it.
 */
export async function loadClients(): Promise<typeof Clients> {
  if (process.env.OTEL_TRACES_EXPORTER) {
    const { startTracing } = await import('../../src/telemetry/sdk.js');
    await startTracing();
  }
  const root = process.env.ROTA_BENCH_ROOT;
  if (root === undefined || root === '') return import('../../clients/index.js');
  return (await import(pathToFileURL(join(root, 'clients', 'index.ts')).href)) as typeof Clients;
}
