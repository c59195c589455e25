/**
 * `--rev <ref>`: a read-only export of one commit (`git archive | tar -x`) into
 * a temporary folder, with this repository's node_modules linked in, so the
 * broker and the clients under test stay fixed while the working tree changes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

import { REPO_ROOT } from './rota-broker.js';

export interface Snapshot {
  /** Absolute, with a trailing slash. */
  readonly root: string;
  readonly commit: string;
  remove(): void;
}

export async function exportCommit(ref: string): Promise<Snapshot> {
  const commit = execFileSync('git', ['rev-parse', '--verify', `${ref}^{commit}`], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  }).trim();
  const dir = mkdtempSync(join(os.tmpdir(), 'rota-bench-tree-'));
  await new Promise<void>((resolve, reject) => {
    const archive = spawn('git', ['archive', '--format=tar', commit], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const tar = spawn('tar', ['-x', '-C', dir], { stdio: ['pipe', 'inherit', 'inherit'] });
    archive.stdout.pipe(tar.stdin);
    let failed = false;
    const fail = (what: string) => (code: number | null) => {
      if (code !== 0 && !failed) {
        failed = true;
        reject(new Error(`${what} exited with ${code} exporting ${ref}`));
      }
    };
    archive.once('exit', fail('git archive'));
    tar.once('exit', (code) => {
      fail('tar')(code);
      if (!failed) resolve();
    });
  });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return {
    root: `${dir}/`,
    commit,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface CompiledTree {
  /** The compiled broker entry point. */
  readonly cli: string;
  /** Folder to run it from. */
  readonly dir: string;
  remove(): void;
}

/**
 * `--compiled`: the tree's src/ and clients/ built with its own
 * tsconfig.build.json into a temporary folder (never into the tree), with the
 * Lua scripts copied beside the store and proto/ and node_modules linked in, so
 * the broker runs on plain node as `npm run build` output would, without
 * tsx's loader in its CPU and memory figures. Type errors in a tree that is
 * being edited do not stop the build (tsc still emits).
 */
export async function compileTree(root: string): Promise<CompiledTree> {
  const out = mkdtempSync(join(os.tmpdir(), 'rota-bench-build-'));
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(
      process.execPath,
      [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', out, '--noEmitOnError', 'false'],
      { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    child.once('exit', resolve);
  });
  const cli = join(out, 'src', 'cli.js');
  if (!existsSync(cli)) throw new Error(`tsc (exit ${code}) did not produce ${cli}`);
  cpSync(join(root, 'src', 'store', 'lua'), join(out, 'src', 'store', 'lua'), { recursive: true });
  symlinkSync(join(root, 'proto'), join(out, 'proto'), 'dir');
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(out, 'node_modules'), 'dir');
  return { cli, dir: out, remove: () => rmSync(out, { recursive: true, force: true }) };
}
