import Fastify from 'fastify';

// The ceiling for request handling: a bare Fastify JSON route, no logging, same machine.
const app = Fastify({ logger: false });
app.get('/', async () => ({ hello: 'world' }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
// A clean exit, so that `node --cpu-prof` writes its profile.
process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
process.send?.('ready');
