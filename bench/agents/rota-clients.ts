/**
 * The Rota clients of the tree under test: the snapshot named by ROTA_BENCH_ROOT
 * (bench/run.ts --rev exports one), else this repository's clients/.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import type * as Clients from '../../clients/index.js';

export async function loadClients(): Promise<typeof Clients> {
  const root = process.env.ROTA_BENCH_ROOT;
  if (root === undefined || root === '') return import('../../clients/index.js');
  return (await import(pathToFileURL(join(root, 'clients', 'index.ts')).href)) as typeof Clients;
}
