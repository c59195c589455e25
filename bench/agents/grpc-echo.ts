/**
 * Bench agent: a bare grpc-js server, the standard health service and nothing
 * of Rota, on a free port of 127.0.0.1. Prints the port on stdout and exits
 * when its stdin closes (the bench has gone). The latency scenario times calls
 * to it: what one gRPC round trip between two processes costs on this machine,
 * the floor under each of a Rota job's hops.
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';

const server = new grpc.Server();
new HealthImplementation({ '': 'SERVING' }).addToServer(server);
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  process.stdout.write(`${port}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
