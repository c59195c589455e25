/**
 * Loads the wire contract `proto/rota/v1/rota.proto` once, with the one
 * proto-loader option set used everywhere (server, clients, tests, and the
 * `npm run proto` type generator), and returns it typed by the generated stubs.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

import type { ProtoGrpcType } from '../generated/rota.js';

/** Must match the flags of `npm run proto` (package.json). */
export const PROTO_LOADER_OPTIONS: Readonly<protoLoader.Options> = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

const PROTO_FILE = join('rota', 'v1', 'rota.proto');

let cachedDefinition: protoLoader.PackageDefinition | undefined;
let cached: ProtoGrpcType | undefined;

/**
 * The folder holding `rota/v1/rota.proto`: the repository's `proto/`, found by
 * walking up from this module, so it resolves both from `src/grpc/` (tsx,
 * vitest) and from `dist/src/grpc/` (the built package).
 */
export function protoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, PROTO_FILE))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(
        `proto/${PROTO_FILE} not found above ${fileURLToPath(import.meta.url)}; ` +
          'ship the proto/ folder next to src/ (or dist/)',
      );
    }
    dir = parent;
  }
}

/** The raw package definition (for reflection or health services), loaded once. */
export function loadRotaPackageDefinition(): protoLoader.PackageDefinition {
  cachedDefinition ??= protoLoader.loadSync(join(protoRoot(), PROTO_FILE), PROTO_LOADER_OPTIONS);
  return cachedDefinition;
}

/** The typed `rota.v1` package (service constructors and message types), loaded once. */
export function loadRotaProto(): ProtoGrpcType {
  cached ??= grpc.loadPackageDefinition(loadRotaPackageDefinition()) as unknown as ProtoGrpcType;
  return cached;
}
