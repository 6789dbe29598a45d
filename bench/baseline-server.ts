/**
 * The webhook benchmark's baseline: an Express process that takes the same POST with the same
 * raw-body parser and answers 200 without verifying or queueing anything. Prints {"port": n}.
 */
import { once } from 'node:events';
import express from 'express';

const app = express();
app.disable('x-powered-by');
app.post('/webhooks/stripe', express.raw({ type: 'application/json', limit: '256kb' }), (_req, res) => {
  res.json({ received: true });
});
const server = app.listen(0, '127.0.0.1');
await once(server, 'listening');
const addr = server.address();
process.stdout.write(`${JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 })}\n`);
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
